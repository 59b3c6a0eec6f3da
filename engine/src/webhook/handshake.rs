//! URL-verification handshakes: the vendor checks that the endpoint is ours before sending
//! events. Graph and Dropbox handshakes are unsigned and answered before the signature check;
//! Slack's and Zoom's are signed requests, answered after it.

use serde_json::{Value, json};

use super::compiled::CompiledWebhooks;
use super::request::WebhookRequest;
use super::signature::hmac_sha256;
use super::spec::HandshakeSpec;

/// What to answer a handshake with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeAnswer {
    /// `Content-Type` of the answer.
    pub content_type: &'static str,
    /// The answer body.
    pub body: Vec<u8>,
}

impl HandshakeAnswer {
    fn text(body: impl Into<Vec<u8>>) -> Self {
        Self {
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

impl CompiledWebhooks {
    /// An unsigned handshake (Graph `validationToken`, Dropbox `challenge`), answered without a secret.
    pub fn unsigned_handshake(&self, req: &WebhookRequest<'_>) -> Option<HandshakeAnswer> {
        let param = |name: &str| req.query().into_iter().find(|(k, _)| k == name).map(|(_, v)| v);
        self.handshakes.iter().find_map(|h| match h {
            HandshakeSpec::GraphValidationToken => param("validationToken").map(HandshakeAnswer::text),
            HandshakeSpec::DropboxChallenge if req.method.eq_ignore_ascii_case("GET") => {
                param("challenge").map(HandshakeAnswer::text)
            }
            _ => None,
        })
    }

    /// A signed handshake (Slack `url_verification`, Zoom `endpoint.url_validation`), answered
    /// once the signature is valid; `key` is the HMAC key of the secret.
    pub fn signed_handshake(&self, req: &WebhookRequest<'_>, key: &[u8]) -> Option<HandshakeAnswer> {
        if self.handshakes.is_empty() {
            return None;
        }
        let body: Value = serde_json::from_slice(req.body).ok()?;
        self.handshakes.iter().find_map(|h| match h {
            HandshakeSpec::SlackUrlVerification if body["type"] == "url_verification" => {
                body["challenge"].as_str().map(HandshakeAnswer::text)
            }
            HandshakeSpec::ZoomUrlValidation if body["event"] == "endpoint.url_validation" => {
                let plain = body["payload"]["plainToken"].as_str()?;
                let encrypted = hex::encode(hmac_sha256(key, plain.as_bytes()));
                Some(HandshakeAnswer {
                    content_type: "application/json",
                    body: json!({"plainToken": plain, "encryptedToken": encrypted})
                        .to_string()
                        .into_bytes(),
                })
            }
            _ => None,
        })
    }
}
