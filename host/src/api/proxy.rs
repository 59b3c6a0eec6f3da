//! `/proxy/{resource}[/{id}]`: vendor resources as they are, through the connector's methods.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use patchbay_engine::{Call, Payload};
use serde_json::json;

use super::calls::{Ctx, optional_body};
use crate::error::ApiError;
use crate::executor::call_error;
use crate::server::AppState;
use crate::store::Principal;

async fn call_method(
    state: &AppState,
    principal: &Principal,
    raw: Option<&str>,
    resource: &str,
    methods: &[&str],
    id: Option<String>,
    body: Option<serde_json::Value>,
) -> Result<Response, ApiError> {
    let mut ctx = Ctx::resolve(state, principal, raw).await?;
    // The first method the connector has, e.g. PUT prefers `replace` and falls back to `update`.
    let method = methods
        .iter()
        .copied()
        .find(|m| ctx.connector.method(resource, m).is_some())
        .unwrap_or(methods[0]);
    let is_list = ctx
        .connector
        .resolve(resource, method)
        .map_err(call_error)?
        .is_list();
    let scope = format!("proxy:{resource}.{method}");
    let page = ctx.resume(state, &scope)?;
    if page.is_some() && !is_list {
        return Err(ApiError::invalid("next_cursor only applies to list methods"));
    }
    let call = Call {
        resource: resource.to_owned(),
        method: method.to_owned(),
        id,
        limit: ctx.limit,
        query: ctx.query_object(),
        passthrough: ctx.query.clone(),
        body,
        page,
    };
    let response = ctx.call(state, &call).await?;
    if is_list && let Some(answer) = ctx.raw_list(state, &scope, &call, &response, None) {
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
            let next_cursor = ctx.next_cursor(state, &scope, next);
            json!({"result_count": records.len(), "next_cursor": next_cursor, "result": records})
        }
        Payload::Single(record) => json!({ "result": record }),
    };
    Ok(ctx.respond(status, body, &rate_limit))
}

/// `/proxy/{resource}`: `GET` calls `list`, `POST` calls `create`.
pub async fn collection(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    method: Method,
    Path(resource): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (methods, body): (&[&str], _) = match method {
        Method::POST => (&["create"], optional_body(&body)?),
        _ => (&["list"], None),
    };
    call_method(&state, &p, raw.as_deref(), &resource, methods, None, body).await
}

/// `/proxy/{resource}/{id}`: `GET` calls `get`, `PATCH` `update`, `PUT` `replace` (or `update`
/// when there is none), `DELETE` `delete`; `POST /proxy/{resource}/{method}` calls a custom
/// method (the body is passed through; `id` may be given as a query parameter).
pub async fn item(
    State(state): State<Arc<AppState>>,
    Extension(p): Extension<Principal>,
    method: Method,
    Path((resource, segment)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (methods, id, body): (&[&str], _, _) = match method {
        Method::PATCH => (&["update"], Some(segment.clone()), optional_body(&body)?),
        Method::PUT => (
            &["replace", "update"],
            Some(segment.clone()),
            optional_body(&body)?,
        ),
        Method::DELETE => (&["delete"], Some(segment.clone()), None),
        Method::POST => {
            let id = super::query_pairs(raw.as_deref())
                .into_iter()
                .find(|(k, _)| k == "id")
                .map(|(_, v)| v);
            let body = optional_body(&body)?;
            return call_method(
                &state,
                &p,
                raw.as_deref(),
                &resource,
                &[segment.as_str()],
                id,
                body,
            )
            .await;
        }
        _ => (&["get"], Some(segment.clone()), None),
    };
    call_method(&state, &p, raw.as_deref(), &resource, methods, id, body).await
}
