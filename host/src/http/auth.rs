//! API-token authentication: every protected route passes through [`require_token`], which puts
//! the caller's [`Principal`] in the request (a metrics token gets no further than `GET /metrics`);
//! [`Admin`] extracts it for operator-only routes, [`MetricsReader`] for `GET /metrics`.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use patchbay_engine::ErrorCode;

use super::error::ApiError;
use crate::accounts::Principal;
use crate::store::Store;

/// Resolves `Authorization: Bearer <token>` to a [`Principal`] extension.
pub async fn require_token(State(store): State<Store>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return ApiError::new(
            ErrorCode::Unauthenticated,
            "missing API token: send Authorization: Bearer <token>",
        )
        .into_response();
    };
    match store.principal(token).await {
        // A metrics token reads GET /metrics and nothing else, whatever a route would allow.
        Ok(Some(principal))
            if principal.metrics_only()
                && !(req.method() == axum::http::Method::GET && req.uri().path() == "/metrics") =>
        {
            ApiError::forbidden("a metrics token may only GET /metrics").into_response()
        }
        Ok(Some(principal)) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Ok(None) => ApiError::new(ErrorCode::Unauthenticated, "unknown API token").into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The caller of `GET /metrics`: an admin token or a metrics token (403 `forbidden` otherwise).
#[derive(Debug, Clone)]
pub struct MetricsReader;

impl<S: Send + Sync> FromRequestParts<S> for MetricsReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Principal>() {
            Some(p) if p.metrics_only() => Ok(Self),
            _ => Admin::from_request_parts(parts, state).await.map(|_| Self),
        }
    }
}

/// The caller, who must hold an admin token (403 `forbidden` otherwise).
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Principal>() {
            Some(p) if p.admin => Ok(Self(p.clone())),
            Some(_) => Err(ApiError::forbidden(format!(
                "only admin tokens may {} {}",
                parts.method,
                parts.uri.path()
            ))),
            // Only reachable on a route outside `require_token`: a host bug, not the caller's.
            None => Err(ApiError::internal("admin route without API-token authentication")),
        }
    }
}
