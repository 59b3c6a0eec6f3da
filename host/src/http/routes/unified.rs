//! `/unified/{model}/{resource}[/{id}]`: vendor data in the unified shape.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::Method;

use super::{call_query, counted};
use crate::accounts::Principal;
use crate::calls::{Answer, Calls, UnifiedCall};
use crate::http::body::required_body;
use crate::http::error::ApiError;
use crate::http::openapi::schemas;
use crate::telemetry::Metrics;

/// `/unified/{model}/{resource}`: `GET` lists, `POST` creates.
#[utoipa::path(method(get, post), path = "/unified/{model}/{resource}", tag = "unified", security(("bearer" = [])),
    params(("model" = String, Path, description = "e.g. `crm`"), ("resource" = String, Path, description = "e.g. `contacts`"),
        schemas::CallParams),
    request_body(content = Option<Object>, description = "`POST`: the record to create, in the unified shape"),
    responses(
        (status = 200, description = "`GET`: a page, records in the unified shape", body = schemas::Page),
        (status = 201, description = "`POST`: the created record", body = schemas::Record),
    ))]
pub async fn collection(
    State(calls): State<Arc<Calls>>,
    State(metrics): State<Arc<Metrics>>,
    Extension(p): Extension<Principal>,
    method: Method,
    Path((model, resource)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Answer, ApiError> {
    let (name, body) = match method {
        Method::POST => ("create", required_body(&body)?),
        _ => ("list", None),
    };
    let request = UnifiedCall {
        model: &model,
        resource: &resource,
        method: name,
        id: None,
        body,
    };
    let result = calls.unified(&p, call_query(raw.as_deref())?, request).await;
    counted(&metrics, "unified", &format!("{model}/{resource}"), result)
}

/// `/unified/{model}/{resource}/{id}`: `GET` reads, `PATCH` updates, `DELETE` deletes.
#[utoipa::path(method(get, patch, delete), path = "/unified/{model}/{resource}/{id}", tag = "unified", security(("bearer" = [])),
    params(("model" = String, Path, description = "e.g. `crm`"), ("resource" = String, Path, description = "e.g. `contacts`"),
        ("id" = String, Path, description = "The vendor's record id"),
        schemas::CallParams),
    request_body(content = Option<Object>, description = "`PATCH`: the fields to change, in the unified shape"),
    responses(
        (status = 200, description = "The record, in the unified shape (null after `DELETE`)", body = schemas::Record),
    ))]
pub async fn item(
    State(calls): State<Arc<Calls>>,
    State(metrics): State<Arc<Metrics>>,
    Extension(p): Extension<Principal>,
    method: Method,
    Path((model, resource, id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Answer, ApiError> {
    let (name, body) = match method {
        Method::PATCH => ("update", required_body(&body)?),
        Method::DELETE => ("delete", None),
        _ => ("get", None),
    };
    let request = UnifiedCall {
        model: &model,
        resource: &resource,
        method: name,
        id: Some(id),
        body,
    };
    let result = calls.unified(&p, call_query(raw.as_deref())?, request).await;
    counted(&metrics, "unified", &format!("{model}/{resource}"), result)
}
