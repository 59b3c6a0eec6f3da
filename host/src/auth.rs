//! API-token authentication: every protected route passes through [`require_token`].

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use patchbay_engine::ErrorCode;

use crate::error::ApiError;
use crate::server::AppState;

/// Resolves `Authorization: Bearer <token>` to a [`crate::store::Principal`] extension.
pub async fn require_token(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
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
    match state.store.principal(token).await {
        Ok(Some(principal)) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Ok(None) => ApiError::new(ErrorCode::Unauthenticated, "unknown API token").into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}
