//! The normalized error body every non-2xx answer carries, and the middleware that stamps request
//! ids on answers (including axum's own rejections, which it rewrites into the same body).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use patchbay_engine::{ErrorCode, RateLimitInfo, RemoteErrorCode, RemoteFailure};
use serde_json::{Value, json};

/// An error answer of the host (boxed: it travels in every handler's `Result`).
#[derive(Debug, Clone)]
pub struct ApiError(Box<ErrorDetail>);

/// What an [`ApiError`] says.
#[derive(Debug, Clone)]
pub struct ErrorDetail {
    /// Normalized code.
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// Vendor's status, for remote errors.
    pub remote_status: Option<u16>,
    /// Vendor's body, for remote errors.
    pub remote_body: Option<Value>,
    /// Vendor's rate-limit state, passed through as IETF headers.
    pub rate_limit: Option<RateLimitInfo>,
    /// Extra headers (e.g. `patchbay-connector-version`).
    pub headers: Vec<(&'static str, String)>,
    /// Structured details (e.g. every problem of a refused manifest).
    pub details: Option<Value>,
}

impl std::ops::Deref for ApiError {
    type Target = ErrorDetail;
    fn deref(&self) -> &ErrorDetail {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorDetail {
        &mut self.0
    }
}

impl ApiError {
    /// A host-side error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(Box::new(ErrorDetail {
            code,
            message: message.into(),
            remote_status: None,
            remote_body: None,
            rate_limit: None,
            headers: Vec::new(),
            details: None,
        }))
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// 500 `internal`; the cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "patchbay.http.internal");
        Self::new(ErrorCode::Internal, "internal error")
    }

    /// A storage failure: a lost race on an account's status is a 409, anything else a 500.
    pub fn store(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Conflict { id, expected } => Self::new(
                ErrorCode::AccountNotActive,
                format!(
                    "integrated account {id} changed meanwhile (it is no longer {expected}); read it again"
                ),
            ),
            other => Self::internal(other),
        }
    }

    /// A vendor-side failure.
    pub fn remote(failure: RemoteFailure, rate_limit: RateLimitInfo) -> Self {
        Self(Box::new(ErrorDetail {
            code: ErrorCode::Remote(failure.code),
            message: failure.message,
            remote_status: (failure.status != 0).then_some(failure.status),
            remote_body: failure.body,
            rate_limit: Some(rate_limit),
            headers: Vec::new(),
            details: None,
        }))
    }

    /// A vendor-side failure with no vendor answer (timeouts, connection errors, connector bugs).
    pub fn remote_code(code: RemoteErrorCode, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Remote(code), message)
    }

    fn body(&self, request_id: &str) -> Value {
        let mut error = json!({
            "code": self.code.as_str(),
            "message": self.message,
            "request_id": request_id,
            "remote": self.code.is_remote(),
        });
        if let Some(s) = self.remote_status {
            error["remote_status"] = json!(s);
        }
        if let Some(b) = &self.remote_body {
            error["remote_body"] = b.clone();
        }
        if let Some(d) = &self.details {
            error["details"] = d.clone();
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        let throttled = self.code == ErrorCode::Remote(RemoteErrorCode::RateLimited);
        if let Some(rl) = &self.rate_limit {
            set_headers(response.headers_mut(), rl.headers(throttled));
        }
        set_headers(response.headers_mut(), self.headers.clone());
        // The body is written by `request_context`, which knows the request id.
        response.extensions_mut().insert(self);
        response
    }
}

/// Sets headers, skipping values that are not valid header text.
pub fn set_headers(map: &mut axum::http::HeaderMap, headers: Vec<(&'static str, String)>) {
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            map.insert(k, v);
        }
    }
}

/// Request id, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Assigns a request id, writes error bodies, and normalizes framework rejections.
pub async fn request_context(mut req: Request, next: Next) -> Response {
    let id = format!("req_{}", uuid::Uuid::new_v4().simple());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(req).await;
    let error = match response.extensions_mut().remove::<ApiError>() {
        Some(e) => Some(e),
        None if response.status().is_client_error() || response.status().is_server_error() => {
            Some(rejection_error(response.status()))
        }
        None => None,
    };
    if let Some(error) = error {
        let (mut parts, _) = response.into_parts();
        parts.status = StatusCode::from_u16(error.code.status()).unwrap_or(parts.status);
        parts
            .headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        parts.headers.remove(header::CONTENT_LENGTH);
        response = Response::from_parts(parts, Body::from(error.body(&id).to_string()));
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// An error for a framework-produced answer (unknown route, wrong method, body limit, …).
fn rejection_error(status: StatusCode) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::not_found("no such route"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::not_found("method not allowed on this route"),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(ErrorCode::PayloadTooLarge, "request body too large"),
        StatusCode::UNAUTHORIZED => ApiError::new(ErrorCode::Unauthenticated, "missing or invalid API token"),
        s if s.is_client_error() => ApiError::invalid(format!("invalid request ({s})")),
        _ => ApiError::new(ErrorCode::Internal, "internal error"),
    }
}
