//! A compiled `webhooks` section: every expression and template compiled once, every problem
//! reported with its JSON path; verification and the secret's key.

use super::request::{Rejection, WebhookRequest};
use super::signature::{self, CompiledSignature, CompiledTimestamp, TimestampSource, secret_key};
use super::spec::{HandshakeSpec, SignatureFormat, SignatureSpec, TimeUnit, WebhooksSpec};
use crate::compile::Compiler;
use crate::expr::Expr;

/// A compiled `webhooks` section.
#[derive(Debug)]
pub struct CompiledWebhooks {
    /// How requests are verified.
    pub signature: CompiledSignature,
    pub(super) handshakes: Vec<HandshakeSpec>,
    pub(super) events: Option<Expr>,
    pub(super) id: Option<Expr>,
    pub(super) time: Option<(Expr, TimeUnit)>,
    pub(super) account: Option<(Expr, String)>,
    pub(super) rules: Vec<CompiledRule>,
}

#[derive(Debug)]
pub(super) struct CompiledRule {
    pub(super) when: Option<Expr>,
    pub(super) event_type: String,
    pub(super) data: Option<Expr>,
}

impl CompiledWebhooks {
    pub(crate) fn compile(cx: &mut Compiler, spec: &WebhooksSpec) -> Option<Self> {
        let base = "$.webhooks";
        let SignatureSpec::Hmac {
            algorithm,
            encoding,
            header,
            format,
            signed,
            timestamp,
            secret,
        } = &spec.signature;
        cx.header_name(&format!("{base}.signature.header"), header);
        let signed_pieces = signature::parse_signed(signed)
            .map_err(|e| cx.problem(format!("{base}.signature.signed"), e))
            .unwrap_or_default();
        let timestamp = timestamp.as_ref().and_then(|t| {
            let path = format!("{base}.signature.timestamp");
            let sources = [t.header.is_some(), t.from_signature, t.body.is_some()];
            if sources.iter().filter(|s| **s).count() != 1 {
                cx.problem(&path, "give exactly one of `header`, `from_signature`, `body`");
                return None;
            }
            let source = if let Some(h) = &t.header {
                cx.header_name(&format!("{path}.header"), h);
                TimestampSource::Header(h.clone())
            } else if t.from_signature {
                if !matches!(
                    format,
                    SignatureFormat::KeyValue {
                        timestamp_key: Some(_),
                        ..
                    }
                ) {
                    cx.problem(
                        format!("{path}.from_signature"),
                        "needs a key_value signature format with a `timestamp_key`",
                    );
                }
                TimestampSource::Signature
            } else {
                TimestampSource::Body(cx.expr(&format!("{path}.body"), t.body.as_deref().unwrap_or("."))?)
            };
            Some(CompiledTimestamp {
                source,
                unit: t.unit,
                tolerance_ms: i64::try_from(t.tolerance_seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
            })
        });
        let uses_timestamp = signed_pieces.contains(&signature::Piece::Timestamp);
        if uses_timestamp && timestamp.is_none() {
            cx.problem(
                format!("{base}.signature.signed"),
                "uses {timestamp}, but `signature.timestamp` says nothing of where it is",
            );
        }
        match format {
            SignatureFormat::Prefixed { prefix } | SignatureFormat::SpaceSeparated { prefix }
                if prefix.is_empty() =>
            {
                cx.problem(format!("{base}.signature.format.prefix"), "must not be empty");
            }
            SignatureFormat::KeyValue { signature_key, .. } if signature_key.is_empty() => {
                cx.problem(
                    format!("{base}.signature.format.signature_key"),
                    "must not be empty",
                );
            }
            _ => {}
        }
        for (i, h) in spec.handshakes.iter().enumerate() {
            if spec.handshakes[..i].contains(h) {
                cx.problem(format!("{base}.handshakes[{i}]"), "listed twice");
            }
        }
        let events = cx.opt_expr(&format!("{base}.events"), &spec.events);
        let id = cx.opt_expr(&format!("{base}.id"), &spec.id);
        let time = spec
            .time
            .as_ref()
            .and_then(|t| Some((cx.expr(&format!("{base}.time.path"), &t.path)?, t.unit)));
        let account = spec.account.as_ref().and_then(|a| {
            let valid =
                !a.context.is_empty() && a.context.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                cx.problem(
                    format!("{base}.account.context"),
                    "must be letters, digits or '_'",
                );
            }
            Some((
                cx.expr(&format!("{base}.account.key"), &a.key)?,
                a.context.clone(),
            ))
        });
        let rules = spec
            .map
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let path = format!("{base}.map[{i}]");
                let parts: Vec<&str> = r.event_type.split('.').collect();
                if parts.len() < 3 || parts.iter().any(|p| p.is_empty() || p.contains(['*', ' ', ':'])) {
                    cx.problem(
                        format!("{path}.type"),
                        "must be <model>.<object>.<action>, e.g. crm.contact.updated",
                    );
                }
                CompiledRule {
                    when: cx.opt_expr(&format!("{path}.when"), &r.when),
                    event_type: r.event_type.clone(),
                    data: cx.opt_expr(&format!("{path}.data"), &r.data),
                }
            })
            .collect();
        Some(Self {
            signature: CompiledSignature {
                algorithm: *algorithm,
                encoding: *encoding,
                header: header.clone(),
                format: format.clone(),
                signed: signed_pieces,
                timestamp,
                secret: *secret,
            },
            handshakes: spec.handshakes.clone(),
            events,
            id,
            time,
            account,
            rules,
        })
    }

    /// Checks a request's signature.
    pub fn verify(&self, req: &WebhookRequest<'_>, secret: &[u8], now_ms: i64) -> Result<(), Rejection> {
        self.signature.verify(req, secret, now_ms)
    }

    /// The HMAC key of a configured secret (as the manifest says the secret is encoded).
    pub fn key(&self, secret: &[u8]) -> Result<Vec<u8>, Rejection> {
        secret_key(self.signature.secret, secret)
    }

    /// Whether the signature covers a timestamp (checked against the clock).
    pub fn signature_has_timestamp(&self) -> bool {
        self.signature.timestamp.is_some()
    }

    /// Whether app-level requests carry the key of their account.
    pub fn routes_by_payload(&self) -> bool {
        self.account.is_some()
    }

    /// The account context field app-level events are matched on.
    pub fn account_context_field(&self) -> Option<&str> {
        self.account.as_ref().map(|(_, f)| f.as_str())
    }
}
