//! Reading request bodies and query strings, with a normalized 400 on failure.

use axum::body::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;

/// Parses a JSON request body.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::invalid("a JSON request body is required"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
}

/// A request body: JSON when present, `None` when empty.
pub fn optional_body(bytes: &Bytes) -> Result<Option<Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(None)
    } else {
        json_body(bytes).map(Some)
    }
}

/// A required JSON body.
pub fn required_body(bytes: &Bytes) -> Result<Option<Value>, ApiError> {
    optional_body(bytes)?
        .map(Some)
        .ok_or_else(|| ApiError::invalid("a JSON request body is required"))
}

/// Query pairs of a raw query string.
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}
