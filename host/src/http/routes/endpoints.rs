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
use crate::webhooks::Endpoints;
use crate::webhooks::model::AttemptRow;

/// `POST /webhook-endpoints`: 201 with the endpoint and its `secret` (shown only here).
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
pub async fn list(
    State(endpoints): State<Arc<Endpoints>>,
    Extension(who): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    let data: Vec<Value> = endpoints.list(&who).await?.into_iter().map(|v| v.0).collect();
    Ok(Json(json!({ "data": data })))
}

/// `GET /webhook-endpoints/{id}`.
pub async fn get_one(
    State(endpoints): State<Arc<Endpoints>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let e = endpoints.get(&who, &id).await?;
    Ok(Json(crate::webhooks::EndpointView::from(&e).0))
}

/// `PATCH /webhook-endpoints/{id}`: url, events, description, enabled.
pub async fn update(
    State(endpoints): State<Arc<Endpoints>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(endpoints.update(&who, &id, json_body(&body)?).await?.0))
}

/// `DELETE /webhook-endpoints/{id}`: 204.
pub async fn delete(
    State(endpoints): State<Arc<Endpoints>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    endpoints.delete(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /webhook-endpoints/{id}/test`: 202 with the test event's id.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    since: String,
}

/// `POST /webhook-endpoints/{id}/replay` `{"since": RFC 3339}`: 202 with how many events.
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
