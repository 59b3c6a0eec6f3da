//! Vendor webhook ingress (`/webhooks/{connector}[/{account}]`, unauthenticated: the signature
//! is the credential), the app-level secret, and the inbound log (`/inbound-webhooks`).

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::accounts::Principal;
use crate::clock::rfc3339;
use crate::http::auth::Admin;
use crate::http::body::{json_body, query_pairs};
use crate::http::error::ApiError;
use crate::http::openapi::schemas;
use crate::webhooks::model::{InboundFilter, InboundRow, InboundStatus};
use crate::webhooks::{Ack, Inbound, RawRequest, WebhookError};

/// `POST|GET /webhooks/{connector}`: an app-level URL.
#[utoipa::path(method(post, get), path = "/webhooks/{connector}", tag = "webhooks",
    params(("connector" = String, Path, description = "Connector name")),
    request_body(content = Vec<u8>, content_type = "*/*", description = "The vendor's payload, as signed"),
    responses(
        (status = 200, description = "Accepted (`{\"id\", \"status\": \"accepted\"}`), or a vendor handshake's answer (`text/plain`, `application/json`)", content(
            (schemas::WebhookAck = "application/json"),
            (String = "text/plain"),
        )),
        (status = 401, description = "`invalid_signature`: missing, wrong or stale", body = schemas::ErrorBody),
        (status = 413, description = "Larger than the webhook body limit", body = schemas::ErrorBody),
    ))]
pub async fn app_level(
    State(inbound): State<Arc<Inbound>>,
    Path(connector): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    receive(&inbound, &connector, None, req).await
}

/// `POST|GET /webhooks/{connector}/{account}`: a per-account URL.
#[utoipa::path(method(post, get), path = "/webhooks/{connector}/{account}", tag = "webhooks",
    params(("connector" = String, Path, description = "Connector name"), ("account" = String, Path, description = "The integrated account's id")),
    request_body(content = Vec<u8>, content_type = "*/*", description = "The vendor's payload, as signed"),
    responses(
        (status = 200, description = "Accepted (`{\"id\", \"status\": \"accepted\"}`), or a vendor handshake's answer (`text/plain`, `application/json`)", content(
            (schemas::WebhookAck = "application/json"),
            (String = "text/plain"),
        )),
        (status = 401, description = "`invalid_signature`: missing, wrong or stale", body = schemas::ErrorBody),
        (status = 413, description = "Larger than the webhook body limit", body = schemas::ErrorBody),
    ))]
pub async fn per_account(
    State(inbound): State<Arc<Inbound>>,
    Path((connector, account)): Path<(String, String)>,
    req: Request,
) -> Result<Response, ApiError> {
    receive(&inbound, &connector, Some(&account), req).await
}

async fn receive(
    inbound: &Inbound,
    connector: &str,
    account: Option<&str>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, inbound.max_body_bytes())
        .await
        .map_err(|_| inbound.too_large(connector))?;
    let raw = RawRequest {
        method: parts.method.as_str().to_owned(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    match inbound.receive(connector, account, raw).await? {
        Ack::Handshake(answer) => {
            let mut response = Response::new(Body::from(answer.body));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(answer.content_type),
            );
            response
                .headers_mut()
                .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            Ok(response)
        }
        Ack::Accepted { id } => Ok(Json(json!({"id": id, "status": "accepted"})).into_response()),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SecretBody {
    secret: String,
}

/// `PUT /connectors/{name}/webhook-secret` (admin): 204; the secret is never returned.
#[utoipa::path(put, path = "/connectors/{name}/webhook-secret", tag = "webhooks", security(("bearer" = ["admin"])), params(("name" = String, Path, description = "Connector name")),
    request_body = SecretBody,
    responses((status = 204, description = "Stored sealed; never returned")))]
pub async fn put_secret(
    State(inbound): State<Arc<Inbound>>,
    _: Admin,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let body: SecretBody = json_body(&body)?;
    inbound.set_secret(&name, &body.secret).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The public view of an inbound webhook (headers and body stay in the database).
pub fn view(r: &InboundRow) -> Value {
    json!({
        "id": r.request.id,
        "connector": r.request.connector,
        "integrated_account_id": r.request.account_id,
        "tenant_id": r.request.tenant_id,
        "vendor_event_ids": r.vendor_event_ids,
        "vendor_event_id": r.vendor_event_ids.first(),
        "received_at": rfc3339(r.request.received_at),
        "processed_at": r.processed_at.and_then(rfc3339),
        "status": r.status.as_str(),
        "attempts": r.attempts,
        "error": r.error,
        "event_types": r.event_types,
    })
}

/// `GET /inbound-webhooks?connector=&integrated_account_id=&status=&limit=`.
#[utoipa::path(get, path = "/inbound-webhooks", tag = "webhooks", security(("bearer" = [])),
    params(
        ("connector" = Option<String>, Query, description = "Only this connector's"),
        ("integrated_account_id" = Option<String>, Query, description = "Only this account's"),
        ("status" = Option<schemas::InboundStatus>, Query, description = "Only inbound webhooks in this status"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many (default 100)"),
    ),
    responses((status = 200, description = "Inbound webhooks visible to the token, newest first", body = schemas::InboundWebhookList)))]
pub async fn list(
    State(inbound): State<Arc<Inbound>>,
    Extension(who): Extension<Principal>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut filter = InboundFilter {
        limit: 100,
        ..InboundFilter::default()
    };
    for (k, v) in query_pairs(query.as_deref()) {
        match k.as_str() {
            "connector" => filter.connector = Some(v),
            "integrated_account_id" => filter.account_id = Some(v),
            "status" => {
                filter.status = Some(InboundStatus::parse(&v).ok_or_else(|| {
                    ApiError::invalid(format!(
                        "status {v:?}: use pending, processed, duplicate, unmatched or failed"
                    ))
                })?)
            }
            "limit" => {
                filter.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| ApiError::invalid("limit must be 1 to 1000"))?
            }
            other => return Err(ApiError::invalid(format!("unknown query parameter {other:?}"))),
        }
    }
    let rows = inbound.list(&who, filter).await?;
    Ok(Json(json!({"data": rows.iter().map(view).collect::<Vec<_>>()})))
}

/// `POST /inbound-webhooks/{id}/retry`: re-runs a failed or unmatched one.
#[utoipa::path(post, path = "/inbound-webhooks/{id}/retry", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "The inbound webhook's id")),
    responses((status = 200, description = "Queued again", body = schemas::InboundWebhook)))]
pub async fn retry(
    State(inbound): State<Arc<Inbound>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(&inbound.retry(&who, &id).await?)))
}

impl From<WebhookError> for ApiError {
    #[track_caller]
    fn from(e: WebhookError) -> Self {
        use patchbay_engine::ErrorCode;
        match e {
            WebhookError::UnknownConnector(_)
            | WebhookError::NotAccepted(_)
            | WebhookError::UnknownAccount(_)
            | WebhookError::NotFound(_) => ApiError::not_found(e.to_string()),
            WebhookError::InvalidSignature(_) => ApiError::new(ErrorCode::InvalidSignature, e.to_string()),
            WebhookError::TooLarge(_) => ApiError::new(ErrorCode::PayloadTooLarge, e.to_string()),
            WebhookError::Invalid(m) => ApiError::invalid(m),
            WebhookError::Forbidden(m) => ApiError::forbidden(m),
            WebhookError::Store(e) => e.into(),
            WebhookError::Unavailable(_) => ApiError::new(
                ErrorCode::DatabaseUnavailable,
                "the host's database is unavailable; retry later",
            ),
            WebhookError::Secrets(e) => e.into(),
            WebhookError::Dispatch(_) | WebhookError::Intake(_) | WebhookError::IntakeClosed => {
                ApiError::internal(e)
            }
        }
    }
}
