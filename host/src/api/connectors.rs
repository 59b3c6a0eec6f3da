//! `/connectors` and `/unified-models`: what this host serves.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use patchbay_engine::Connector;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::server::AppState;

fn describe(c: &Connector) -> Value {
    let m = &c.manifest;
    let resources: serde_json::Map<String, Value> = m
        .resources
        .iter()
        .map(|(name, r)| (name.clone(), json!(r.methods.keys().collect::<Vec<_>>())))
        .collect();
    let unified: Vec<Value> = c
        .unified_resources()
        .map(|(model, resource, methods)| json!({"model": model, "resource": resource, "methods": methods}))
        .collect();
    json!({
        "name": m.name,
        "version": m.version,
        "display_name": m.display_name,
        "auth": serde_json::to_value(&m.auth).ok().and_then(|a| a.get("type").cloned()),
        "resources": resources,
        "unified": unified,
    })
}

/// `GET /connectors`: live connectors and the files that failed to load.
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let snap = state.registry.snapshot();
    let result: Vec<Value> = snap.connectors.values().map(|c| describe(c)).collect();
    Json(json!({"result_count": result.len(), "result": result, "load_errors": snap.errors}))
}

/// `GET /connectors/{name}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = state
        .registry
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("no connector {name:?}")))?;
    Ok(Json(describe(&c)))
}

/// `GET /unified-models`: every published unified model schema.
pub async fn models(State(state): State<Arc<AppState>>) -> Json<Value> {
    let snap = state.registry.snapshot();
    let result: Vec<Value> = snap
        .unified_schemas
        .iter()
        .map(|((model, resource), schema)| json!({"model": model, "resource": resource, "schema": schema}))
        .collect();
    Json(json!({"result_count": result.len(), "result": result}))
}

/// `GET /unified-models/{model}/{resource}`: one JSON Schema.
pub async fn model(
    State(state): State<Arc<AppState>>,
    Path((model, resource)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let snap = state.registry.snapshot();
    snap.unified_schemas
        .get(&(model.clone(), resource.clone()))
        .map(|s| Json(s.clone()))
        .ok_or_else(|| ApiError::not_found(format!("no unified model {model}/{resource}")))
}
