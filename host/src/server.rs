//! The HTTP server: shared state, the router, and the `run(listener, shutdown)` entry point.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::api::{accounts, connectors, proxy, unified};
use crate::config::Config;
use crate::crypto::{Secrets, load_or_create_key};
use crate::cursor::Cursors;
use crate::error::{ApiError, request_context};
use crate::executor::Executor;
use crate::registry::Registry;
use crate::store::Store;

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
        let registry = Arc::new(Registry::load(&config.connectors_dir));
        let executor = Executor::new(config.upstream_timeout, config.max_upstream_body_bytes);
        Ok(Self {
            store,
            registry,
            executor,
            secrets,
            cursors,
        })
    }
}

/// The host's routes.
pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    let protected = Router::new()
        .route("/integrated-accounts", get(accounts::list).post(accounts::create))
        .route(
            "/integrated-accounts/{id}",
            get(accounts::get_one).delete(accounts::delete),
        )
        .route("/connectors", get(connectors::list))
        .route("/connectors/{name}", get(connectors::get))
        .route("/unified-models", get(connectors::models))
        .route("/unified-models/{model}/{resource}", get(connectors::model))
        .route("/proxy/{resource}", get(proxy::list).post(proxy::create))
        .route(
            "/proxy/{resource}/{id}",
            get(proxy::get)
                .patch(proxy::update)
                .put(proxy::replace)
                .delete(proxy::delete)
                .post(proxy::custom),
        )
        .route(
            "/unified/{model}/{resource}",
            get(unified::list).post(unified::create),
        )
        .route(
            "/unified/{model}/{resource}/{id}",
            get(unified::get).patch(unified::update).delete(unified::delete),
        )
        .route_layer(from_fn_with_state(state.clone(), crate::auth::require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
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
    serve(listener, state, config.max_body_bytes, shutdown).await
}

/// Serves an already-opened state.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    max_body_bytes: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "patchbay.server.listen");
    // Small JSON answers must not wait for Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(state, max_body_bytes))
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("patchbay.server.stopped");
    Ok(())
}
