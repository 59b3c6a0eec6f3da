//! Reading request bodies and query strings, with a normalized 400 on failure.

use axum::body::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;

/// Parses a JSON object request body (the host's own request types). Anything else is refused:
/// serde would otherwise read a struct from a JSON array, field by field.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(ApiError::invalid("a JSON request body is required")),
        Some(b'{') => parse(bytes),
        Some(_) => Err(ApiError::invalid("the request body must be a JSON object")),
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
}

/// A request body: JSON when present, `None` when empty.
pub fn optional_body(bytes: &Bytes) -> Result<Option<Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(None)
    } else {
        // A vendor's body may be any JSON (an array for a batch call).
        parse(bytes).map(Some)
    }
}

/// A required JSON object body (a unified record, or the fields to change).
pub fn required_body(bytes: &Bytes) -> Result<Option<Value>, ApiError> {
    json_body(bytes).map(Some)
}

/// Query pairs of a raw query string.
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Two {
        a: Option<u8>,
        b: Option<u8>,
    }

    #[test]
    fn host_bodies_are_objects_and_vendor_bodies_any_json() {
        assert!(json_body::<Two>(b" {\"a\": 1}").is_ok());
        // serde reads a struct from an array by position: the host refuses it.
        let e = json_body::<Two>(b"[null, null]").unwrap_err();
        assert_eq!(e.message, "the request body must be a JSON object");
        assert_eq!(
            json_body::<Two>(b"  ").unwrap_err().message,
            "a JSON request body is required"
        );
        let batch = optional_body(&Bytes::from_static(b"[1, 2]")).unwrap();
        assert_eq!(batch, Some(serde_json::json!([1, 2])));
        assert_eq!(optional_body(&Bytes::from_static(b" ")).unwrap(), None);
        assert!(required_body(&Bytes::from_static(b"null")).is_err());
    }
}
