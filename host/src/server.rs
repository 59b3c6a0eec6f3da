//! The HTTP server: shared state, the router, and the `run(listener, shutdown)` entry point.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::handler::Handler;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::api::{accounts, connectors, oauth, proxy, unified};
use crate::config::Config;
use crate::crypto::{Secrets, load_or_create_key};
use crate::cursor::Cursors;
use crate::error::{ApiError, request_context};
use crate::executor::Executor;
use crate::oauth::OAuthApp;
use crate::refresh::{Refresher, run_scheduler};
use crate::registry::Registry;
use crate::sandbox::Sandbox;
use crate::store::{AccountRow, Store};
use std::sync::OnceLock;

/// State shared by every request.
#[derive(Debug)]
pub struct AppState {
    /// Database.
    pub store: Store,
    /// Live connectors.
    pub registry: Arc<Registry>,
    /// Vendor HTTP client.
    pub executor: Executor,
    /// Credential encryption.
    pub secrets: Secrets,
    /// Cursor signing.
    pub cursors: Cursors,
    /// Configuration the host started with.
    pub config: Config,
    /// Token refresh coordination.
    pub refresher: Refresher,
    /// HTTP client for token endpoints (no redirects).
    pub oauth_http: reqwest::Client,
    /// This host's public base URL, once known.
    public_url: OnceLock<String>,
}

impl std::fmt::Debug for Cursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cursors(..)")
    }
}

impl AppState {
    /// Opens the database, loads the key and the connectors.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let store = Store::connect(&config.database_url).await?;
        let key = match config.secret_key {
            Some(k) => k,
            None => load_or_create_key(&config.database_url)?,
        };
        let secrets = Secrets::new(key);
        let cursors = Cursors::new(*secrets.cursor_key());
        let sandbox = Sandbox::new(config.sandbox.clone())?;
        let registry = Arc::new(Registry::open(&config.connectors_dir, store.clone(), sandbox).await);
        let executor = Executor::new(config.upstream_timeout, config.max_upstream_body_bytes);
        let oauth_http = reqwest::Client::builder()
            .timeout(config.upstream_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let public_url = OnceLock::new();
        if let Some(url) = &config.public_url {
            let _ = public_url.set(url.trim_end_matches('/').to_owned());
        }
        Ok(Self {
            store,
            registry,
            executor,
            secrets,
            cursors,
            config: config.clone(),
            refresher: Refresher::new(),
            oauth_http,
            public_url,
        })
    }

    /// The host's public base URL (for the OAuth callback).
    pub fn public_url(&self) -> &str {
        self.public_url
            .get()
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1:8080")
    }

    /// Decrypts an account's credentials.
    pub fn open_credentials(&self, account: &AccountRow) -> Result<Value, ApiError> {
        let plain = self
            .secrets
            .open(&account.credentials, account.id.as_bytes())
            .map_err(ApiError::internal)?;
        serde_json::from_slice(&plain).map_err(ApiError::internal)
    }

    /// Encrypts credentials for an account.
    pub fn seal_credentials(&self, account_id: &str, credentials: &Value) -> Vec<u8> {
        self.secrets
            .seal(credentials.to_string().as_bytes(), account_id.as_bytes())
    }

    /// A connector's OAuth app settings.
    pub async fn oauth_app(&self, connector: &str) -> Result<Option<OAuthApp>, ApiError> {
        let Some(sealed) = self
            .store
            .oauth_app(connector)
            .await
            .map_err(ApiError::internal)?
        else {
            return Ok(None);
        };
        let plain = self
            .secrets
            .open(&sealed, format!("oauth-app:{connector}").as_bytes())
            .map_err(ApiError::internal)?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(ApiError::internal)
    }

    /// The OAuth app for an account: its own `client_id`/`client_secret` (client credentials
    /// accounts may bring their own) over the connector's app.
    pub async fn oauth_app_for(&self, connector: &str, credentials: &Value) -> Result<OAuthApp, ApiError> {
        let own = credentials["client_id"].as_str().map(|id| {
            (
                id.to_owned(),
                credentials["client_secret"].as_str().map(str::to_owned),
            )
        });
        match (self.oauth_app(connector).await?, own) {
            (Some(mut app), Some((id, secret))) => {
                app.client_id = id;
                app.client_secret = secret;
                Ok(app)
            }
            (Some(app), None) => Ok(app),
            (None, Some((client_id, client_secret))) => Ok(OAuthApp {
                client_id,
                client_secret,
                scopes: None,
                scope_separator: None,
                extra_token_params: Default::default(),
                authorize_url: None,
                token_url: None,
            }),
            (None, None) => Err(ApiError::invalid(format!(
                "connector {connector:?} has no OAuth app: PUT /connectors/{connector}/oauth-app first"
            ))),
        }
    }
}

/// The host's routes.
pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    let protected = Router::new()
        .route("/integrated-accounts", get(accounts::list).post(accounts::create))
        .route(
            "/integrated-accounts/{id}",
            get(accounts::get_one)
                .delete(accounts::delete)
                .patch(accounts::update),
        )
        .route("/integrated-accounts/{id}/retry", post(accounts::retry))
        .route("/integrated-accounts/{id}/refresh", post(accounts::refresh))
        .route("/integrated-accounts/{id}/events", get(accounts::events))
        .route(
            "/connectors/{name}/oauth-app",
            get(oauth::get_app).put(oauth::put_app),
        )
        .route("/connect/{connector}", post(oauth::connect))
        .route("/connectors", get(connectors::list))
        .route(
            "/connectors/{name}",
            // Components are larger than API bodies.
            get(connectors::get)
                .put(connectors::put.layer(DefaultBodyLimit::max(connectors::MAX_UPLOAD_BYTES))),
        )
        .route("/connectors/{name}/versions", get(connectors::versions))
        .route("/connectors/{name}/rollback", post(connectors::rollback))
        .route("/unified-models", get(connectors::models))
        .route("/unified-models/{model}/{resource}", get(connectors::model))
        .route(
            "/proxy/{resource}",
            get(proxy::collection).post(proxy::collection),
        )
        .route(
            "/proxy/{resource}/{id}",
            get(proxy::item)
                .patch(proxy::item)
                .put(proxy::item)
                .delete(proxy::item)
                .post(proxy::item),
        )
        .route(
            "/unified/{model}/{resource}",
            get(unified::collection).post(unified::collection),
        )
        .route(
            "/unified/{model}/{resource}/{id}",
            get(unified::item).patch(unified::item).delete(unified::item),
        )
        .route_layer(from_fn_with_state(state.clone(), crate::auth::require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        // The provider's redirect: its single-use `state` is the credential.
        .route("/oauth/callback", get(oauth::callback))
        .merge(protected)
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(from_fn(request_context))
        .with_state(state)
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    if !state.store.ping().await {
        return Err(ApiError::new(
            patchbay_engine::ErrorCode::Internal,
            "database unavailable",
        ));
    }
    let snap = state.registry.snapshot();
    Ok(Json(
        json!({"status": "ready", "connectors": snap.connectors.len(), "load_errors": snap.errors.len()}),
    ))
}

/// Serves on `listener` until `shutdown` completes, then drains in-flight requests.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = Arc::new(AppState::open(&config).await?);
    serve(listener, state, shutdown).await
}

/// Serves an already-opened state.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "patchbay.server.listen");
    let _ = state.public_url.set(format!("http://{addr}"));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(run_scheduler(state.clone(), stop_rx.clone()));
    let watcher = crate::watch::spawn(state.registry.clone(), stop_rx);
    let max_body_bytes = state.config.max_body_bytes;
    // Small JSON answers must not wait for Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(state, max_body_bytes))
        .with_graceful_shutdown(shutdown)
        .await?;
    let _ = stop_tx.send(true);
    let _ = scheduler.await;
    drop(watcher);
    tracing::info!("patchbay.server.stopped");
    Ok(())
}
