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
use crate::telemetry::Metrics;

/// `/unified/{model}/{resource}`: `GET` lists, `POST` creates.
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
