//! `/proxy/{resource}[/{id}]`: vendor resources as they are, through the connector's methods.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::Method;

use super::{call_query, counted};
use crate::accounts::Principal;
use crate::calls::{Answer, Calls, ProxyCall};
use crate::http::body::{optional_body, query_pairs};
use crate::http::error::ApiError;
use crate::http::openapi::schemas;
use crate::telemetry::Metrics;

/// `/proxy/{resource}`: `GET` calls `list`, `POST` calls `create`.
#[utoipa::path(method(get, post), path = "/proxy/{resource}", tag = "proxy", security(("bearer" = [])),
    params(("resource" = String, Path, description = "A resource of the account's connector"),
        schemas::CallParams),
    request_body(content = Option<Object>, description = "`POST`: the record to create, as the vendor takes it"),
    responses(
        (status = 200, description = "`GET`: a page of `list`", body = schemas::Page),
        (status = 201, description = "`POST`: the created record", body = schemas::Record),
    ))]
pub async fn collection(
    State(calls): State<Arc<Calls>>,
    State(metrics): State<Arc<Metrics>>,
    Extension(p): Extension<Principal>,
    method: Method,
    Path(resource): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Answer, ApiError> {
    let (methods, body): (&[&str], _) = match method {
        Method::POST => (&["create"], optional_body(&body)?),
        _ => (&["list"], None),
    };
    let request = ProxyCall {
        resource: &resource,
        methods,
        id: None,
        body,
    };
    let result = calls.proxy(&p, call_query(raw.as_deref())?, request).await;
    counted(&metrics, "proxy", &resource, result)
}

/// `/proxy/{resource}/{id}`: `GET` calls `get`, `PATCH` `update`, `PUT` `replace` (or `update`
/// when there is none), `DELETE` `delete`; `POST /proxy/{resource}/{method}` calls a custom
/// method (the body is passed through; `id` may be given as a query parameter).
#[utoipa::path(method(get, patch, put, delete, post), path = "/proxy/{resource}/{id}", tag = "proxy", security(("bearer" = [])),
    params(("resource" = String, Path, description = "A resource of the account's connector"),
        ("id" = String, Path, description = "The vendor's record id; with `POST`, a custom method's name"),
        schemas::CallParams),
    request_body(content = Option<Object>, description = "`PATCH`, `PUT`, `POST`: passed to the vendor"),
    responses(
        (status = 200, description = "The record (`GET`, `PATCH`, `PUT`; null after `DELETE`), a custom method's answer (`POST`)", body = schemas::Record),
        (status = 201, description = "A custom method that created something", body = schemas::Record),
    ))]
pub async fn item(
    State(calls): State<Arc<Calls>>,
    State(metrics): State<Arc<Metrics>>,
    Extension(p): Extension<Principal>,
    method: Method,
    Path((resource, segment)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Answer, ApiError> {
    let custom = [segment.as_str()];
    let (methods, id, body): (&[&str], _, _) = match method {
        Method::PATCH => (&["update"], Some(segment.clone()), optional_body(&body)?),
        Method::PUT => (
            &["replace", "update"],
            Some(segment.clone()),
            optional_body(&body)?,
        ),
        Method::DELETE => (&["delete"], Some(segment.clone()), None),
        Method::POST => {
            let id = query_pairs(raw.as_deref())
                .into_iter()
                .find(|(k, _)| k == "id")
                .map(|(_, v)| v);
            (&custom, id, optional_body(&body)?)
        }
        _ => (&["get"], Some(segment.clone()), None),
    };
    let request = ProxyCall {
        resource: &resource,
        methods,
        id,
        body,
    };
    let result = calls.proxy(&p, call_query(raw.as_deref())?, request).await;
    counted(&metrics, "proxy", &resource, result)
}
