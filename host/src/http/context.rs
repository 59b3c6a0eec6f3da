//! The middleware every request passes through: assigns a request id, writes the normalized
//! error body (also for axum's own rejections, which it rewrites), and logs an internal error's
//! cause once, with the request id.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use patchbay_engine::ErrorCode;

use super::error::ApiError;

/// Request id, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Marks a response as the vendor's own (passthrough): its error statuses and bodies are the
/// vendor's, passed through unchanged rather than normalized.
#[derive(Debug, Clone, Copy)]
pub struct VendorAnswer;

/// Assigns a request id, writes error bodies, and normalizes framework rejections.
pub async fn request_context(mut req: Request, next: Next) -> Response {
    let id = next_request_id();
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(req).await;
    let error = match response.extensions_mut().remove::<ApiError>() {
        Some(e) => Some(e),
        None if response.extensions().get::<VendorAnswer>().is_some() => None,
        None if response.status().is_client_error() || response.status().is_server_error() => {
            Some(rejection_error(response.status()))
        }
        None => None,
    };
    if let Some(error) = error {
        error.log_internal(&id);
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

/// `req_` and 32 hex digits: a random prefix drawn once per process, then a counter. Unique
/// across the host's requests without a `getrandom` system call per request (a UUID v4 each was
/// 1 % of the proxy's cycles); request ids correlate log lines, they are not secrets.
fn next_request_id() -> String {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: LazyLock<u64> = LazyLock::new(rand::random);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "req_{:016x}{:016x}",
        *PREFIX,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// An error for a framework-produced answer (unknown route, wrong method, body limit, …).
fn rejection_error(status: StatusCode) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::not_found("no such route"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            ErrorCode::MethodNotAllowed,
            "method not allowed on this route (the Allow header lists its methods)",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(ErrorCode::PayloadTooLarge, "request body too large"),
        StatusCode::UNAUTHORIZED => ApiError::new(ErrorCode::Unauthenticated, "missing or invalid API token"),
        s if s.is_client_error() => ApiError::invalid(format!("invalid request ({s})")),
        _ => ApiError::new(ErrorCode::Internal, "internal error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct_and_keep_their_shape() {
        let (a, b) = (next_request_id(), next_request_id());
        assert_ne!(a, b);
        for id in [&a, &b] {
            let hex = id.strip_prefix("req_").expect("req_ prefix");
            assert_eq!(hex.len(), 32, "{id}");
            assert!(hex.bytes().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
        assert_eq!(a[..20], b[..20], "one prefix per process");
    }
}
