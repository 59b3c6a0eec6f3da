//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers; connectors
//! loaded). Both are open: load balancers call them without a token.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use patchbay_engine::ErrorCode;
use serde_json::{Value, json};

use crate::connectors::Registry;
use crate::http::error::ApiError;
use crate::http::openapi::schemas;
use crate::store::Store;

/// `GET /healthz`.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process answers", body = schemas::Health)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "The database answers and connectors are loaded", body = schemas::Ready)))]
pub async fn readyz(
    State(store): State<Store>,
    State(registry): State<Arc<Registry>>,
) -> Result<Json<Value>, ApiError> {
    if !store.ping().await {
        return Err(ApiError::new(
            ErrorCode::DatabaseUnavailable,
            "database unavailable",
        ));
    }
    let snap = registry.snapshot();
    Ok(Json(
        json!({"status": "ready", "connectors": snap.connectors.len(), "load_errors": snap.errors.len()}),
    ))
}
