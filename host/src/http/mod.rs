//! The axum edge: the router, the request-id and token middleware, the normalized error body
//! with its `From` conversions, extractors (the caller's principal, an admin), and the routes.
//! Handlers receive only the service they use (through [`HttpState`]'s `FromRef`).

pub mod auth;
pub mod body;
pub mod context;
pub mod error;
pub mod openapi;
pub mod respond;
pub mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::handler::Handler;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, on, post};

use crate::accounts::Accounts;
use crate::calls::Calls;
use crate::connectors::Registry;
use crate::monitoring::Monitoring;
use crate::oauth::OAuthFlows;
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::webhooks::{Endpoints, Inbound};
use error::ApiError;
use routes::{
    accounts, connectors, endpoints, health, monitoring, oauth, passthrough, proxy, unified, webhooks,
};

/// The services the routes call.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// API tokens (authentication) and the database's health.
    pub store: Store,
    /// Live connectors.
    pub registry: Arc<Registry>,
    /// Integrated accounts.
    pub accounts: Arc<Accounts>,
    /// OAuth apps and flows.
    pub flows: Arc<OAuthFlows>,
    /// Proxied and unified calls.
    pub calls: Arc<Calls>,
    /// Inbound webhooks.
    pub inbound: Arc<Inbound>,
    /// Outbound webhook endpoints.
    pub endpoints: Arc<Endpoints>,
    /// Metrics, drift and the ops page.
    pub monitoring: Arc<Monitoring>,
    /// The metrics (calls are counted at the edge, where their normalized code is known).
    pub metrics: Arc<Metrics>,
}

macro_rules! from_ref {
    ($($field:ident: $ty:ty),* $(,)?) => {$(
        impl FromRef<HttpState> for $ty {
            fn from_ref(state: &HttpState) -> Self {
                state.$field.clone()
            }
        }
    )*};
}

from_ref! {
    store: Store,
    registry: Arc<Registry>,
    accounts: Arc<Accounts>,
    flows: Arc<OAuthFlows>,
    calls: Arc<Calls>,
    inbound: Arc<Inbound>,
    endpoints: Arc<Endpoints>,
    monitoring: Arc<Monitoring>,
    metrics: Arc<Metrics>,
}

/// The host's routes.
pub fn router(state: HttpState, max_body_bytes: usize) -> Router {
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
        .route("/connectors/{name}/drift", get(monitoring::drift))
        .route("/connectors/{name}/drift/accept", post(monitoring::accept_drift))
        .route("/metrics", get(monitoring::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/ops/summary", get(monitoring::summary))
        .route("/connectors/{name}/rollback", post(connectors::rollback))
        .route(
            "/connectors/{name}/webhook-secret",
            axum::routing::put(webhooks::put_secret),
        )
        .route("/inbound-webhooks", get(webhooks::list))
        .route("/inbound-webhooks/{id}/retry", post(webhooks::retry))
        .route("/webhook-endpoints", get(endpoints::list).post(endpoints::create))
        .route(
            "/webhook-endpoints/{id}",
            get(endpoints::get_one)
                .patch(endpoints::update)
                .delete(endpoints::delete),
        )
        .route("/webhook-endpoints/{id}/test", post(endpoints::test))
        .route("/webhook-endpoints/{id}/deliveries", get(endpoints::deliveries))
        .route("/webhook-endpoints/{id}/replay", post(endpoints::replay))
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
            "/passthrough/{account}",
            on(passthrough::METHODS, passthrough::forward),
        )
        .route(
            "/passthrough/{account}/{*path}",
            on(passthrough::METHODS, passthrough::forward),
        )
        .route(
            "/unified/{model}/{resource}",
            get(unified::collection).post(unified::collection),
        )
        .route(
            "/unified/{model}/{resource}/{id}",
            get(unified::item).patch(unified::item).delete(unified::item),
        )
        .route_layer(from_fn_with_state(state.store.clone(), auth::require_token));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        // The ops page's shell holds no data: it reads /ops/summary with the admin token it asks for.
        .route("/dashboard", get(monitoring::dashboard))
        // The provider's redirect: its single-use `state` is the credential.
        .route("/oauth/callback", get(oauth::callback))
        // Vendor webhooks: the signature is the credential; the body limit is the webhook one.
        .route(
            "/webhooks/{connector}",
            post(webhooks::app_level)
                .get(webhooks::app_level)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/webhooks/{connector}/{account}",
            post(webhooks::per_account)
                .get(webhooks::per_account)
                .layer(DefaultBodyLimit::disable()),
        )
        .merge(protected)
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(from_fn(context::request_context))
        .with_state(state)
}

/// The tokenless metrics listener's routes (`--metrics-listen`): `GET /metrics` only.
pub fn metrics_router(monitoring: Arc<Monitoring>) -> Router {
    Router::new()
        .route("/metrics", get(monitoring::metrics_open))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(monitoring)
}
