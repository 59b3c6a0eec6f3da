//! HTTP as the engine sees it: the request it builds for the host to send, and the answer the
//! host hands back (status, headers with case-insensitive lookup, raw body).

use serde_json::Value;

use crate::manifest::HttpMethod;

/// An HTTP request for the host to send.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// HTTP method.
    pub method: HttpMethod,
    /// Absolute URL.
    pub url: String,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Option<Value>,
}

/// Response headers with case-insensitive lookup.
#[derive(Debug, Clone, Default)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// Wraps header pairs (names are lower-cased).
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        )
    }

    /// First value of a header.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header, in order (names lower-cased).
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Every value of a header.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// As a JSON object for expressions (repeated headers joined with `, `).
    pub fn to_json(&self) -> Value {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.0 {
            match map.get_mut(k) {
                Some(Value::String(s)) => {
                    s.push_str(", ");
                    s.push_str(v);
                }
                _ => {
                    map.insert(k.clone(), Value::String(v.clone()));
                }
            }
        }
        Value::Object(map)
    }
}

/// A vendor HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Headers,
    /// Raw body.
    pub body: Vec<u8>,
    /// The URL that was requested: relative next-page links resolve against it (RFC 3986 §5).
    pub url: Option<String>,
}
