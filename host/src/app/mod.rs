//! The composition root: builds every service from the configuration, hands each only the
//! handles it uses, starts the background tasks (token refresh scheduler, connector directory
//! watcher, webhook workers, the watcher of other hosts' changes) and serves the router until shutdown. Nothing imports this module but the binary,
//! the library's re-exports and tests.

pub mod cases;
mod changes;
mod per_core;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::accounts::{Accounts, Installer};
use crate::calls::Calls;
use crate::config::{Config, PublicUrl};
use crate::connectors::{Registry, watch};
use crate::http::{HttpState, metrics_router, router};
use crate::monitoring::Monitoring;
use crate::monitoring::drift::Drift;
use crate::oauth::redirects::RedirectAllowList;
use crate::oauth::{OAuthApps, OAuthFlows, Refresher, scheduler};
use crate::sandbox::Sandbox;
use crate::secrets::{Secrets, load_master_key};
use crate::store::Store;
use crate::telemetry::events::{
    APP_LISTEN, APP_STOPPED, MONITORING_METRICS_LISTEN, OAUTH_REDIRECTS_UNRESTRICTED,
    UPSTREAM_PRIVATE_TARGETS, WEBHOOK_PRIVATE_TARGETS,
};
use crate::telemetry::{Metrics, emit};
use crate::upstream::Upstream;
use crate::webhooks::delivery::{self, Deliverer};
use crate::webhooks::processor::{self, Processor};
use crate::webhooks::{Endpoints, Inbound, Intake};

/// A host's services, built and wired.
#[derive(Debug)]
pub struct App {
    /// The database.
    pub store: Store,
    /// Credential sealing.
    pub secrets: Secrets,
    /// Live connectors (and their sandbox).
    pub registry: Arc<Registry>,
    /// Token refresh.
    pub refresher: Arc<Refresher>,
    /// What the routes call.
    pub http: HttpState,
    /// The host's metrics.
    pub metrics: Arc<Metrics>,
    /// Inbound webhook processing.
    pub processor: Arc<Processor>,
    /// Outbound webhook delivery.
    pub deliverer: Arc<Deliverer>,
    /// Where others reach this host (OAuth callback, signed webhook URLs).
    pub public_url: PublicUrl,
    /// Where the tokenless metrics listener is bound, once it is.
    pub metrics_addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// The change log's end before the registry loaded.
    changes_seen: i64,
    config: Config,
}

impl App {
    /// Opens the database, loads the master key and the connectors, and wires the services.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let store = Store::connect_with(&config.database_url, &config.database).await?;
        // Hosts sharing a database must share the key that seals what it stores.
        if store.is_shared()
            && config.secret_key.is_none()
            && config.key_file.is_none()
            && std::env::var_os("PATCHBAY_SECRET_KEY").is_none()
        {
            anyhow::bail!(
                "a PostgreSQL database is shared by hosts: set PATCHBAY_SECRET_KEY (the same key on every \
                 host) or --secret-key-file"
            );
        }
        let secrets = Secrets::new(load_master_key(config.secret_key, config.key_file.as_deref())?);
        crate::secrets::rotate::check_key(&store, &secrets).await?;
        let metrics = Arc::new(Metrics::new(config.monitoring.tenant_limit));
        let drift = Arc::new(Drift::new(store.clone(), config.monitoring.drift_sample_interval));
        let sandbox = Sandbox::new(config.sandbox.clone())?;
        // Changes other hosts log from here on are applied after the registry loads.
        let changes_seen = store.last_change().await?;
        let registry =
            Arc::new(Registry::open(&config.connectors_dir, store.clone(), sandbox, metrics.clone()).await);
        let upstream = Upstream::new(
            config.upstream_timeout,
            config.max_upstream_body_bytes,
            config.allow_private_vendor_targets,
        );
        // Token endpoints: never follow a redirect with a client secret or a code.
        let oauth_http = reqwest::Client::builder()
            .timeout(config.upstream_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let public_url = PublicUrl::new(config.public_url.as_deref());
        let apps = OAuthApps::new(store.clone(), secrets.clone());
        let refresher = Arc::new(Refresher::new(
            store.clone(),
            registry.clone(),
            secrets.clone(),
            apps.clone(),
            oauth_http.clone(),
            config.refresh.clone(),
            config.upstream_timeout,
            metrics.clone(),
        ));
        let installer = Installer::new(
            store.clone(),
            registry.clone(),
            upstream.clone(),
            refresher.clone(),
            secrets.clone(),
        );
        let accounts = Arc::new(Accounts::new(
            store.clone(),
            registry.clone(),
            installer.clone(),
            refresher.clone(),
            apps.clone(),
            secrets.clone(),
            oauth_http.clone(),
            config.stuck_connecting_after,
        ));
        let flows = Arc::new(OAuthFlows::new(
            store.clone(),
            registry.clone(),
            apps,
            secrets.clone(),
            installer,
            oauth_http,
            config.oauth_state_ttl,
            public_url.clone(),
            RedirectAllowList::parse(&config.oauth_redirect_allow)
                .map_err(|e| anyhow::anyhow!("--oauth-redirect-allow: {e}"))?,
        ));
        let calls = Arc::new(Calls::new(
            store.clone(),
            registry.clone(),
            upstream,
            refresher.clone(),
            secrets.clone(),
            metrics.clone(),
            drift.clone(),
        ));
        let webhooks = &config.webhooks;
        let stored = Arc::new(tokio::sync::Notify::new());
        let events_written = Arc::new(tokio::sync::Notify::new());
        let inbound = Arc::new(Inbound::new(
            store.clone(),
            registry.clone(),
            secrets.clone(),
            Intake::start(store.clone(), stored.clone()),
            stored.clone(),
            metrics.clone(),
            webhooks.max_body_bytes,
            public_url.clone(),
        ));
        let processor = Arc::new(Processor::new(
            store.clone(),
            registry.clone(),
            metrics.clone(),
            stored,
            events_written.clone(),
            webhooks.lease,
            webhooks.tick,
        ));
        let endpoints = Arc::new(Endpoints::new(
            store.clone(),
            secrets.clone(),
            webhooks.allow_private_targets,
            events_written.clone(),
        ));
        let deliverer = Arc::new(Deliverer::new(
            store.clone(),
            endpoints.clone(),
            webhooks.clone(),
            metrics.clone(),
            events_written,
        )?);
        let monitoring = Arc::new(Monitoring::new(
            store.clone(),
            registry.clone(),
            metrics.clone(),
            drift,
        ));
        let http = HttpState {
            store: store.clone(),
            monitoring,
            metrics: metrics.clone(),
            registry: registry.clone(),
            accounts,
            flows,
            calls,
            inbound,
            endpoints,
        };
        Ok(Self {
            store,
            secrets,
            registry,
            refresher,
            http,
            metrics,
            processor,
            deliverer,
            public_url,
            metrics_addr: std::sync::OnceLock::new(),
            changes_seen,
            config: config.clone(),
        })
    }

    /// The configuration the host started with.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// Serves on `listener` until `shutdown` completes, then drains in-flight requests.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = Arc::new(App::open(&config).await?);
    serve(listener, app, shutdown).await
}

/// Serves an already-opened app: starts the refresh scheduler, the webhook workers and the
/// directory watcher, serves until `shutdown`, then stops them.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    emit!(INFO, APP_LISTEN, %addr);
    app.public_url.set_default(&format!("http://{addr}"));
    if app.config.webhooks.allow_private_targets {
        emit!(WARN, WEBHOOK_PRIVATE_TARGETS);
    }
    if app.config.allow_private_vendor_targets {
        emit!(WARN, UPSTREAM_PRIVATE_TARGETS);
    }
    if app.config.oauth_redirect_allow.is_empty() {
        emit!(WARN, OAUTH_REDIRECTS_UNRESTRICTED);
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(scheduler::run(
        app.refresher.clone(),
        app.store.clone(),
        stop_rx.clone(),
    ));
    let mut workers: Vec<_> = (0..app.config.webhooks.workers.max(1))
        .map(|i| tokio::spawn(processor::run(app.processor.clone(), i, stop_rx.clone())))
        .collect();
    workers.push(tokio::spawn(delivery::run(
        app.deliverer.clone(),
        app.config.webhooks.tick,
        stop_rx.clone(),
    )));
    if let Some(addr) = app.config.monitoring.metrics_listen {
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let _ = app.metrics_addr.set(bound);
        emit!(WARN, MONITORING_METRICS_LISTEN, addr = %bound);
        let mut stop = stop_rx.clone();
        let router = metrics_router(app.http.monitoring.clone());
        workers.push(tokio::spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(stopped)
                .await;
        }));
    }
    workers.push(tokio::spawn(changes::run(
        app.store.clone(),
        app.registry.clone(),
        app.changes_seen,
        stop_rx.clone(),
    )));
    let watcher = watch::spawn(app.registry.clone(), stop_rx);
    let router = router(app.http.clone(), app.config.max_body_bytes);
    match app.config.http_threads {
        0 => per_core::on_this_runtime(listener, router, shutdown).await?,
        n => per_core::serve(listener, router, n, shutdown).await?,
    }
    let _ = stop_tx.send(true);
    let _ = scheduler.await;
    for w in workers {
        let _ = w.await;
    }
    drop(watcher);
    emit!(INFO, APP_STOPPED);
    Ok(())
}
