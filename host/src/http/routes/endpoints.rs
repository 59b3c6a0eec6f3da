//! `/webhook-endpoints`: where the product receives Patchbay's events.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::accounts::Principal;
use crate::clock::rfc3339;
use crate::http::body::{json_body, query_pairs};
use crate::http::error::ApiError;
use crate::http::openapi::schemas;
use crate::webhooks::Endpoints;
use crate::webhooks::model::AttemptRow;

/// `POST /webhook-endpoints`: 201 with the endpoint and its `secret` (shown only here).
#[utoipa::path(post, path = "/webhook-endpoints", tag = "endpoints", security(("bearer" = [])),
    request_body = crate::webhooks::NewEndpointRequest,
    responses((status = 201, description = "The endpoint and its signing secret (shown only here)", body = schemas::WebhookEndpointCreated)))]
pub async fn create(
    State(endpoints): State<Arc<Endpoints>>,
    Extension(who): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (view, secret) = endpoints.create(&who, json_body(&body)?).await?;
    let mut body = view.0;
    body["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /webhook-endpoints`.
#[utoipa::path(get, path = "/webhook-endpoints", tag = "endpoints", security(("bearer" = [])),
    responses((status = 200, description = "The token's endpoints", body = schemas::WebhookEndpointList)))]
pub async fn list(
    State(endpoints): State<Arc<Endpoints>>,
    Extension(who): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    let data: Vec<Value> = endpoints.list(&who).await?.into_iter().map(|v| v.0).collect();
    Ok(Json(json!({ "data": data })))
}

/// `GET /webhook-endpoints/{id}`.
#[utoipa::path(get, path = "/webhook-endpoints/{id}", tag = "endpoints", security(("bearer" = [])), params(("id" = String, Path, description = "The endpoint's id")),
    responses((status = 200, description = "The endpoint", body = schemas::WebhookEndpoint)))]
pub async fn get_one(
    State(endpoints): State<Arc<Endpoints>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let e = endpoints.get(&who, &id).await?;
    Ok(Json(crate::webhooks::EndpointView::from(&e).0))
}

/// `PATCH /webhook-endpoints/{id}`: url, events, description, enabled.
#[utoipa::path(patch, path = "/webhook-endpoints/{id}", tag = "endpoints", security(("bearer" = [])), params(("id" = String, Path, description = "The endpoint's id")),
    request_body = crate::webhooks::EndpointPatch,
    responses((status = 200, description = "The endpoint, changed", body = schemas::WebhookEndpoint)))]
pub async fn update(
    State(endpoints): State<Arc<Endpoints>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(endpoints.update(&who, &id, json_body(&body)?).await?.0))
}

/// `DELETE /webhook-endpoints/{id}`: 204.
#[utoipa::path(delete, path = "/webhook-endpoints/{id}", tag = "endpoints", security(("bearer" = [])), params(("id" = String, Path, description = "The endpoint's id")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(
    State(endpoints): State<Arc<Endpoints>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    endpoints.delete(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /webhook-endpoints/{id}/test`: 202 with the test event's id.
#[utoipa::path(post, path = "/webhook-endpoints/{id}/test", tag = "endpoints", security(("bearer" = [])), params(("id" = String, Path, description = "The endpoint's id")),
    responses((status = 202, description = "A test event is queued for it", body = schemas::TestEvent)))]
pub async fn test(
    State(endpoints): State<Arc<Endpoints>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let event = endpoints.test(&who, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"event_id": event}))).into_response())
}

fn attempt_view(a: &AttemptRow) -> Value {
    json!({
        "id": a.id,
        "delivery_id": a.delivery_id,
        "event_id": a.event_id,
        "event_type": a.event_type,
        "attempt": a.attempt,
        "status_code": a.status_code,
        "duration_ms": a.duration_ms,
        "response_excerpt": a.response_excerpt,
        "error": a.error,
        "at": rfc3339(a.at),
        "next_attempt_at": a.next_attempt_at.and_then(rfc3339),
    })
}

/// `GET /webhook-endpoints/{id}/deliveries?limit=`: every attempt, newest first.
#[utoipa::path(get, path = "/webhook-endpoints/{id}/deliveries", tag = "endpoints", security(("bearer" = [])),
    params(("id" = String, Path, description = "The endpoint's id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many (default 100)")),
    responses((status = 200, description = "Every attempt, newest first", body = schemas::DeliveryAttempts)))]
pub async fn deliveries(
    State(endpoints): State<Arc<Endpoints>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut limit = 100;
    for (k, v) in query_pairs(query.as_deref()) {
        match k.as_str() {
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| ApiError::invalid("limit must be 1 to 1000"))?
            }
            other => return Err(ApiError::invalid(format!("unknown query parameter {other:?}"))),
        }
    }
    let attempts = endpoints.attempts(&who, &id, limit).await?;
    Ok(Json(
        json!({"data": attempts.iter().map(attempt_view).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    /// RFC 3339.
    #[schema(format = DateTime)]
    since: String,
}

/// `POST /webhook-endpoints/{id}/replay` `{"since": RFC 3339}`: 202 with how many events.
#[utoipa::path(post, path = "/webhook-endpoints/{id}/replay", tag = "endpoints", security(("bearer" = [])), params(("id" = String, Path, description = "The endpoint's id")),
    request_body = ReplayBody,
    responses((status = 202, description = "Events since then are queued again", body = schemas::Replayed)))]
pub async fn replay(
    State(endpoints): State<Arc<Endpoints>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: ReplayBody = json_body(&body)?;
    let since = chrono::DateTime::parse_from_rfc3339(&body.since)
        .map_err(|e| ApiError::invalid(format!("`since` is not an RFC 3339 time: {e}")))?
        .timestamp_millis();
    let n = endpoints.replay(&who, &id, since).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"replayed": n}))).into_response())
}
