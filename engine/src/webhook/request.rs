//! A raw inbound request as the engine sees it, and why a signature is refused.

use crate::http::Headers;

/// A raw inbound request as the host received it.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// `POST`, `GET`, …
    pub method: &'a str,
    /// The full URL the vendor called (public scheme, host, path and query).
    pub url: &'a str,
    /// Request headers.
    pub headers: &'a Headers,
    /// The raw body.
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    /// The query parameters of the URL.
    pub fn query(&self) -> Vec<(String, String)> {
        let query = self.url.split_once('?').map_or("", |(_, q)| q);
        let query = query.split('#').next().unwrap_or("");
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }
}

/// Why a request's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No signature header.
    #[error("the signature header is missing")]
    MissingSignature,
    /// The header has no signature in the expected shape or encoding.
    #[error("the signature header is malformed")]
    MalformedSignature,
    /// No signature matches.
    #[error("no signature matches")]
    Mismatch,
    /// The signed timestamp is missing or unreadable.
    #[error("the signed timestamp is missing or unreadable")]
    MissingTimestamp,
    /// The signed timestamp is outside the tolerance (either way).
    #[error("the signed timestamp is {skew_ms} ms away from the host clock")]
    StaleTimestamp {
        /// Host clock minus the timestamp.
        skew_ms: i64,
    },
    /// The configured secret does not decode as its manifest says.
    #[error("the configured webhook secret does not decode")]
    BadSecret,
    /// No secret is configured for this connector or account.
    #[error("no webhook secret is configured")]
    NoSecret,
}
