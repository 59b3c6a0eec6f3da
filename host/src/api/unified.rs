//! `/unified/{model}/{resource}[/{id}]`: vendor data in the unified shape, through the connector's
//! unified mappings; each record keeps the vendor's original in `remote_data`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use patchbay_engine::manifest::Hook;
use patchbay_engine::{Call, Payload, RemoteErrorCode, UnifiedError};
use serde_json::{Value, json};

use super::calls::{Ctx, optional_body};
use crate::error::ApiError;
use crate::executor::call_error;
use crate::server::AppState;
use crate::store::Principal;

fn unified_error(e: UnifiedError) -> ApiError {
    match e {
        UnifiedError::NotImplemented { .. } | UnifiedError::MethodNotImplemented { .. } => {
            ApiError::not_found(e.to_string())
        }
        UnifiedError::BodyMapping(_) => ApiError::invalid(e.to_string()),
        UnifiedError::Call(c) => call_error(c),
    }
}

/// A mapped record, with the vendor's original in `remote_data`; the mapping must yield an object.
fn finish(mapped: Value, record: Value, remote_data: bool) -> Result<Value, ApiError> {
    let Value::Object(mut obj) = mapped else {
        return Err(ApiError::remote_code(
            RemoteErrorCode::MappingError,
            "unified mapping did not yield an object",
        ));
    };
    if remote_data {
        obj.insert("remote_data".into(), record);
    }
    Ok(Value::Object(obj))
}

async fn call_unified(
    state: &AppState,
    principal: &Principal,
    raw: Option<&str>,
    (model, resource): (&str, &str),
    method: &str,
    id: Option<String>,
    body: Option<Value>,
) -> Result<Response, ApiError> {
    let mut ctx = Ctx::resolve(state, principal, raw).await?;
    let scope = format!("unified:{model}/{resource}.{method}");
    let page = ctx.resume(state, &scope)?;
    let connector = ctx.connector.clone();
    let names = (model, resource, method);
    // A component that maps writes back gets the caller's body; the engine's mapping is skipped.
    let maps_back = connector.component_for(Hook::MapBack).is_some();
    let call = Call {
        id,
        limit: ctx.limit,
        query: ctx.query_object(),
        body: if maps_back { None } else { body.clone() },
        page,
        ..Default::default()
    };
    let (u, mut call) = connector
        .unified_call(model, resource, method, call)
        .map_err(unified_error)?;
    if let Some(body) = body.as_ref().filter(|_| maps_back)
        && let Some(mapped) = connector.map_back(names, body).await
    {
        call.body = Some(mapped?);
    }
    let remote_data = !ctx.no_remote_data;
    let response = ctx.call(state, &call).await?;
    if method == "list"
        && let Some(answer) = ctx.raw_list(state, &scope, &call, &response, Some((u, remote_data)))
    {
        return Ok(answer);
    }
    let (payload, rate_limit) = ctx.outcome(&call, response).await?;
    let status = if method == "create" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = match payload {
        Payload::List { records, next } => {
            let mapped = connector.map_records(names, u, &records).await?;
            let result = mapped
                .into_iter()
                .zip(records)
                .map(|(m, r)| finish(m, r, remote_data))
                .collect::<Result<Vec<_>, _>>()?;
            let next_cursor = ctx.next_cursor(state, &scope, next);
            json!({"result_count": result.len(), "next_cursor": next_cursor, "result": result})
        }
        Payload::Single(Value::Null) => json!({ "result": null }),
        Payload::Single(record) => {
            let mapped = connector
                .map_records(names, u, std::slice::from_ref(&record))
                .await?;
            let mapped = mapped.into_iter().next().unwrap_or(Value::Null);
            json!({ "result": finish(mapped, record, remote_data)? })
        }
    };
    Ok(ctx.respond(status, body, &rate_limit))
}

/// A required JSON body of a unified write.
fn required_body(body: &Bytes) -> Result<Option<Value>, ApiError> {
    optional_body(body)?
        .map(Some)
        .ok_or_else(|| ApiError::invalid("a JSON request body is required"))
}

/// `/unified/{model}/{resource}`: `GET` lists, `POST` creates.
pub async fn collection(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    method: Method,
    Path((model, resource)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (name, body) = match method {
        Method::POST => ("create", required_body(&body)?),
        _ => ("list", None),
    };
    call_unified(&state, &p, raw.as_deref(), (&model, &resource), name, None, body).await
}

/// `/unified/{model}/{resource}/{id}`: `GET` reads, `PATCH` updates, `DELETE` deletes.
pub async fn item(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    method: Method,
    Path((model, resource, id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (name, body) = match method {
        Method::PATCH => ("update", required_body(&body)?),
        Method::DELETE => ("delete", None),
        _ => ("get", None),
    };
    call_unified(
        &state,
        &p,
        raw.as_deref(),
        (&model, &resource),
        name,
        Some(id),
        body,
    )
    .await
}
