//! Monitoring routes: `GET /metrics` (admin; also served without a token on the private
//! `--metrics-listen` listener), schema drift per connector, the ops page and its data.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use crate::http::auth::{Admin, MetricsReader};
use crate::http::error::ApiError;
use crate::http::openapi::schemas;
use crate::monitoring::Monitoring;

/// The exposition's media type (what `prometheus-client` writes).
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics` (admin).
#[utoipa::path(get, path = "/metrics", tag = "monitoring", security(("bearer" = ["metrics"])),
    responses((status = 200, description = "The OpenMetrics exposition", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String)))]
pub async fn metrics(State(m): State<Arc<Monitoring>>, _: MetricsReader) -> Result<Response, ApiError> {
    exposition(&m).await
}

/// `GET /metrics` on the metrics listener (no token: bind it to a private interface).
pub async fn metrics_open(State(m): State<Arc<Monitoring>>) -> Result<Response, ApiError> {
    exposition(&m).await
}

async fn exposition(m: &Monitoring) -> Result<Response, ApiError> {
    let text = m.scrape().await?;
    Ok(([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response())
}

/// A 404 unless `name` is a live connector.
fn live_connector(m: &Monitoring, name: &str) -> Result<(), ApiError> {
    if m.is_live(name) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("no connector {name:?}")))
    }
}

/// `GET /connectors/{name}/drift` (admin): each sampled resource's baseline and drifted fields.
#[utoipa::path(get, path = "/connectors/{name}/drift", tag = "monitoring", security(("bearer" = ["admin"])), params(("name" = String, Path, description = "Connector name")),
    responses((status = 200, description = "Each sampled resource's baseline and drifted fields", body = schemas::DriftReport)))]
pub async fn drift(
    State(m): State<Arc<Monitoring>>,
    _: Admin,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    live_connector(&m, &name)?;
    let result = m.drift().report(&name);
    let drifted = result.iter().map(|r| r.fields.len()).sum::<usize>();
    Ok(Json(json!({
        "connector": name,
        "drifted_fields": drifted,
        "result_count": result.len(),
        "result": result,
    })))
}

/// `POST /connectors/{name}/drift/accept` (admin): what was observed becomes the baseline.
#[utoipa::path(post, path = "/connectors/{name}/drift/accept", tag = "monitoring", security(("bearer" = ["admin"])), params(("name" = String, Path, description = "Connector name")),
    responses((status = 200, description = "What was observed is the baseline now", body = schemas::DriftAccepted)))]
pub async fn accept_drift(
    State(m): State<Arc<Monitoring>>,
    _: Admin,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    live_connector(&m, &name)?;
    let accepted = m.drift().accept(&name).await?;
    Ok(Json(json!({"connector": name, "accepted_resources": accepted})))
}

/// `GET /ops/summary` (admin): the ops page's figures.
#[utoipa::path(get, path = "/ops/summary", tag = "monitoring", security(("bearer" = ["admin"])),
    responses((status = 200, description = "The ops page's figures", body = Object)))]
pub async fn summary(State(m): State<Arc<Monitoring>>, _: Admin) -> Result<Json<Value>, ApiError> {
    Ok(Json(m.summary().await?))
}

/// `GET /dashboard`: the ops page. The page holds no data: it asks for an admin token and reads
/// `/ops/summary` with it, so serving the page itself needs none.
#[utoipa::path(get, path = "/dashboard", tag = "monitoring",
    responses((status = 200, description = "The ops page (it asks for an admin token and reads /ops/summary)", content_type = "text/html", body = String)))]
pub async fn dashboard() -> Response {
    (
        [
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(include_str!("../../monitoring/dashboard.html")),
    )
        .into_response()
}
