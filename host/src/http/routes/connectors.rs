//! `/connectors` and `/unified-models`: what this host serves, and hot reload through the API.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::connectors::{LiveConnector, Registry};
use crate::http::auth::Admin;
use crate::http::body::json_body;
use crate::http::error::ApiError;
use crate::http::openapi::schemas;
use crate::sandbox::package;
use crate::telemetry::Counter;

/// Largest connector upload (a component with its manifest).
pub const MAX_UPLOAD_BYTES: usize = 32 << 20;

fn describe(c: &LiveConnector) -> Value {
    let m = &c.connector.manifest;
    let resources: serde_json::Map<String, Value> = m
        .resources
        .iter()
        .map(|(name, r)| (name.clone(), json!(r.methods.keys().collect::<Vec<_>>())))
        .collect();
    let unified: Vec<Value> = c
        .connector
        .unified_resources()
        .map(|(model, resource, methods)| json!({"model": model, "resource": resource, "methods": methods}))
        .collect();
    json!({
        "name": m.name,
        "version": m.version,
        "revision": c.revision,
        "display_name": m.display_name,
        "auth": c.connector.account_auth(None).spec.kind.kind(),
        "auth_methods": auth_methods(c),
        "resources": resources,
        "unified": unified,
        "component": c.component.as_ref().map(|comp| json!({
            "sha256": comp.hash,
            "hooks": c.connector.hooks(),
        })),
    })
}

/// Every auth method with what connecting needs: `connect` says how (`browser`: `POST
/// /connect/{name}`; `api`: `POST /integrated-accounts`), `schema` what to send.
fn auth_methods(c: &LiveConnector) -> Vec<Value> {
    let engine = &c.connector;
    engine
        .auth_methods()
        .iter()
        .map(|m| {
            let mut v = json!({
                "name": m.name(),
                "type": m.spec.kind.kind(),
                "label": m.spec.label,
                "doc": m.spec.doc,
                "connect": if m.spec.is_authorization_code() { "browser" } else { "api" },
                "default": std::ptr::eq(m, engine.account_auth(None)),
                "schema": engine.auth_schema(m),
            });
            if let Some(o) = m.oauth2() {
                v["oauth2"] = json!({
                    "grant": o.grant,
                    "authorize_url": o.authorize_url,
                    "token_url": o.token_url,
                    "scopes": o.scopes,
                    "scope_separator": o.scope_separator,
                    "pkce": o.pkce,
                    "refresh_token_rotates": o.refresh_token_rotates,
                    "token_context": o.token_context.keys().collect::<Vec<_>>(),
                });
            }
            v
        })
        .collect()
}

/// `GET /connectors`: live connectors, the files that failed to load, and activity counts.
#[utoipa::path(get, path = "/connectors", tag = "connectors", security(("bearer" = [])),
    responses((status = 200, description = "Live connectors, load errors and activity counts", body = schemas::ConnectorList)))]
pub async fn list(State(registry): State<Arc<Registry>>) -> Json<Value> {
    let snap = registry.snapshot();
    let result: Vec<Value> = snap.connectors.values().map(|c| describe(c)).collect();
    let metrics = registry.metrics();
    let stats = json!({
        "loads": metrics.get(Counter::ConnectorLoads),
        "activations": metrics.get(Counter::ConnectorActivations),
        "refusals": metrics.get(Counter::ConnectorRefusals),
        "rollbacks": metrics.get(Counter::ConnectorRollbacks),
    });
    Json(json!({"result_count": result.len(), "result": result, "load_errors": snap.errors, "stats": stats}))
}

/// `GET /connectors/{name}`.
#[utoipa::path(get, path = "/connectors/{name}", tag = "connectors", security(("bearer" = [])), params(("name" = String, Path, description = "Connector name")),
    responses((status = 200, description = "The live connector", body = schemas::Connector)))]
pub async fn get(
    State(registry): State<Arc<Registry>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = registry
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("no connector {name:?}")))?;
    Ok(Json(describe(&c)))
}

/// `PUT /connectors/{name}` (admin): a new version, validated completely, then live for the next
/// call. The body is a manifest (`application/json`); a component that embeds its manifest
/// (`application/wasm`, from `patchbay connector build`); or `{"manifest": {..}, "component":
/// "<base64 of the .wasm>"}` for a component with a separate manifest.
#[utoipa::path(put, path = "/connectors/{name}", tag = "connectors", security(("bearer" = ["admin"])), params(("name" = String, Path, description = "Connector name")),
    request_body(description = "A manifest; a component embedding its manifest; or `{\"manifest\", \"component\": base64}`", content(
        (Object = "application/json"),
        (Vec<u8> = "application/wasm"),
    )),
    responses(
        (status = 200, description = "Validated and live for the next call", body = schemas::Connector),
        (status = 413, description = "Larger than 32 MiB", body = schemas::ErrorBody),
    ))]
pub async fn put(
    State(registry): State<Arc<Registry>>,
    Admin(principal): Admin,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let wasm = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/wasm"));
    let (text, component) = if wasm {
        match package::embedded_manifest(&body) {
            Some(Ok(text)) => (text, Some(body.to_vec())),
            Some(Err(e)) => return Err(ApiError::invalid(e.to_string())),
            None => {
                return Err(ApiError::invalid(
                    "the component embeds no manifest: send {\"manifest\", \"component\"} as JSON, or build it with `patchbay connector build`",
                ));
            }
        }
    } else {
        let text =
            std::str::from_utf8(&body).map_err(|_| ApiError::invalid("the manifest must be UTF-8 JSON"))?;
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(o)) if o.contains_key("manifest") && !o.contains_key("name") => {
                let manifest = o["manifest"].to_string();
                let component = match o.get("component") {
                    Some(Value::String(b64)) => Some(
                        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64)
                            .map_err(|e| ApiError::invalid(format!("component is not base64: {e}")))?,
                    ),
                    None | Some(Value::Null) => None,
                    Some(_) => return Err(ApiError::invalid("component must be a base64 string")),
                };
                (manifest, component)
            }
            _ => (text.to_owned(), None),
        }
    };
    let live = registry
        .put(&name, &text, component.as_deref(), &principal.actor())
        .await?;
    Ok(Json(describe(&live)))
}

/// `GET /connectors/{name}/versions` (admin): every stored revision, newest first.
#[utoipa::path(get, path = "/connectors/{name}/versions", tag = "connectors", security(("bearer" = ["admin"])), params(("name" = String, Path, description = "Connector name")),
    responses((status = 200, description = "Every stored revision, newest first", body = schemas::ConnectorVersions)))]
pub async fn versions(
    State(registry): State<Arc<Registry>>,
    _: Admin,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (versions, active) = registry.versions(&name).await?;
    if versions.is_empty() {
        return Err(ApiError::not_found(format!("no connector {name:?}")));
    }
    let result: Vec<Value> = versions
        .iter()
        .map(|v| {
            let mut j = serde_json::to_value(v).expect("serializes");
            j["active"] = json!(Some(v.revision) == active);
            j
        })
        .collect();
    Ok(Json(
        json!({"result_count": result.len(), "active_revision": active, "result": result}),
    ))
}

#[derive(serde::Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RollbackRequest {
    #[serde(default)]
    revision: Option<i64>,
}

/// `POST /connectors/{name}/rollback` (admin): `{"revision"?}`, default the one before the live one.
#[utoipa::path(post, path = "/connectors/{name}/rollback", tag = "connectors", security(("bearer" = ["admin"])), params(("name" = String, Path, description = "Connector name")),
    request_body(content = RollbackRequest, description = "The revision to bring back (default: the one before the live one)"),
    responses((status = 200, description = "The connector, at the revision brought back", body = schemas::Connector)))]
pub async fn rollback(
    State(registry): State<Arc<Registry>>,
    _: Admin,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: RollbackRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackRequest::default()
    } else {
        json_body(&body)?
    };
    let live = registry.rollback(&name, req.revision).await?;
    Ok(Json(describe(&live)))
}

/// `GET /unified-models`: every published unified model schema.
#[utoipa::path(get, path = "/unified-models", tag = "unified", security(("bearer" = [])),
    responses((status = 200, description = "Every published unified model", body = schemas::UnifiedModels)))]
pub async fn models(State(registry): State<Arc<Registry>>) -> Json<Value> {
    let snap = registry.snapshot();
    let result: Vec<Value> = snap
        .unified_schemas
        .iter()
        .map(|((model, resource), schema)| json!({"model": model, "resource": resource, "schema": schema}))
        .collect();
    Json(json!({"result_count": result.len(), "result": result}))
}

/// `GET /unified-models/{model}/{resource}`: one JSON Schema.
#[utoipa::path(get, path = "/unified-models/{model}/{resource}", tag = "unified", security(("bearer" = [])),
    params(("model" = String, Path, description = "e.g. `crm`"), ("resource" = String, Path, description = "e.g. `contacts`")),
    responses((status = 200, description = "The model's JSON Schema (2020-12)", body = Object)))]
pub async fn model(
    State(registry): State<Arc<Registry>>,
    Path((model, resource)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let snap = registry.snapshot();
    snap.unified_schemas
        .get(&(model.clone(), resource.clone()))
        .map(|s| Json(s.clone()))
        .ok_or_else(|| ApiError::not_found(format!("no unified model {model}/{resource}")))
}
