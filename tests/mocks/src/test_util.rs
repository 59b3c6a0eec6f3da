//! Drives a mock router in-process (no socket) for the crate's unit tests.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request};
use serde_json::Value;
use tower::ServiceExt;

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request; `uri` may be absolute (`http://host/path?q`) or a path, in which case
/// `Host: mock.test` is sent.
pub async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let (host, path) = match uri.strip_prefix("http://") {
        Some(rest) => match rest.find('/') {
            Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
            None => (rest.to_owned(), "/".to_owned()),
        },
        None => ("mock.test".to_owned(), uri.to_owned()),
    };
    let mut req = Request::builder().method(method).uri(path).header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .expect("valid request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("mock bodies are JSON")
    };
    Reply {
        status,
        headers,
        body,
    }
}
