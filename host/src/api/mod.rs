//! HTTP handlers, one module per resource of the host API.

pub mod accounts;
pub mod calls;
pub mod connectors;
pub mod oauth;
pub mod proxy;
pub mod unified;

use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parses a JSON request body with a normalized 400 on failure.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::invalid("a JSON request body is required"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
}

/// Query pairs of a raw query string.
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}
