//! The `webhooks` section of a manifest, as written: the signature scheme, URL-verification
//! handshakes, where a request's events, ids, times and accounts are, and the mapping of each
//! event to unified events. Compiled by [`super::CompiledWebhooks::compile`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a vendor's inbound webhooks are verified, split, identified and mapped.
///
/// Per-event expressions (`id`, `time`, `account.key`, `map[].when`, `map[].data`) are jq over
/// `{"event": <one event>, "headers": {<lower-case name>: value}, "query": {…}}`; `events` is jq over
/// the parsed body (JSON, or an object of the form fields of a form-encoded body).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSpec {
    /// How a request proves it comes from the vendor.
    pub signature: SignatureSpec,
    /// URL-verification handshakes the vendor performs (answered before any event processing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handshakes: Vec<HandshakeSpec>,
    /// jq giving the events of one request as an array (HubSpot batches: `.`); default: the body is one event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<String>,
    /// jq giving the vendor's event id (deduplication), e.g. `.headers["x-github-delivery"]` or `.event.id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When the vendor says the event happened (for ingestion lag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeSpec>,
    /// How the app-level URL (`/webhooks/{connector}`) finds the account of an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountSpec>,
    /// Rules mapping an event to a unified event; the first whose `when` holds applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub map: Vec<EventRule>,
}

/// Signature schemes, selected by `type`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SignatureSpec {
    /// An HMAC of a signed string built from the request.
    Hmac {
        /// Hash function.
        algorithm: HmacAlgorithm,
        /// How the MAC is written in the header.
        encoding: MacEncoding,
        /// Header that carries the signature.
        header: String,
        /// The header's shape.
        #[serde(default)]
        format: SignatureFormat,
        /// The signed string: literal text with `{body}`, `{timestamp}`, `{method}`, `{url}`,
        /// `{form_sorted}` (form fields sorted by name, each name then value: Twilio) and
        /// `{header.<name>}` placeholders; default `{body}`.
        #[serde(default = "default_signed")]
        signed: String,
        /// The signed timestamp, checked against the clock both ways.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp: Option<TimestampSpec>,
        /// How the configured secret becomes the HMAC key.
        #[serde(default)]
        secret: SecretEncoding,
    },
}

fn default_signed() -> String {
    "{body}".into()
}

/// HMAC hash functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HmacAlgorithm {
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA1 (GitHub legacy, Intercom, Twilio).
    Sha1,
}

/// Encodings of a MAC in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MacEncoding {
    /// Hexadecimal (either case).
    Hex,
    /// Standard base64 (padding optional).
    Base64,
}

/// How the configured secret becomes the key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretEncoding {
    /// The secret's bytes as they are (Stripe's `whsec_…` string included).
    #[default]
    Raw,
    /// The secret is base64; the key is the decoded bytes.
    Base64,
    /// `whsec_` + base64 (Standard Webhooks); the key is the decoded bytes.
    Whsec,
}

/// Shapes of a signature header, selected by `type`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SignatureFormat {
    /// The whole value is the MAC.
    #[default]
    Plain,
    /// A fixed prefix, then the MAC (`sha256=…`, `v0=…`).
    Prefixed {
        /// The prefix.
        prefix: String,
    },
    /// `key=value` pairs (`t=…,v1=…,v1=…`); every pair named `signature_key` is a candidate.
    KeyValue {
        /// Name of the signature pairs (`v1`).
        signature_key: String,
        /// Name of the timestamp pair (`t`), if the timestamp is in this header.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp_key: Option<String>,
        /// Between pairs; default `,`.
        #[serde(default = "default_comma")]
        separator: String,
    },
    /// Several space-separated signatures, each with a version prefix (`v1,<b64> v1,<b64>`);
    /// entries with another prefix are ignored.
    SpaceSeparated {
        /// The prefix of entries to check (`v1,`).
        prefix: String,
    },
}

fn default_comma() -> String {
    ",".into()
}

/// Where the signed timestamp is, its unit and the tolerance.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimestampSpec {
    /// Header carrying it (`X-Slack-Request-Timestamp`); or `from_signature`, or `body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Taken from the signature header's `timestamp_key` pair (Stripe `t=`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_signature: bool,
    /// jq over the parsed body (Linear `.webhookTimestamp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Unit of the value.
    pub unit: TimeUnit,
    /// Largest difference from the host clock, either way; default 300.
    #[serde(default = "default_tolerance")]
    pub tolerance_seconds: u64,
}

fn default_tolerance() -> u64 {
    300
}

/// Units of a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// Unix seconds.
    Seconds,
    /// Unix milliseconds.
    Milliseconds,
    /// RFC 3339 / ISO 8601 text.
    Rfc3339,
}

/// Where an event's time is.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeSpec {
    /// jq over `{event, headers, query}`.
    pub path: String,
    /// Unit of the value.
    pub unit: TimeUnit,
}

/// How an app-level webhook finds its account: the account whose `context.<context>` equals `key`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// jq over `{event, headers, query}` (HubSpot `.event.portalId`).
    pub key: String,
    /// Name of the account context field to match (`portal_id`).
    #[schemars(regex(pattern = r"^[A-Za-z0-9_]+$"))]
    pub context: String,
}

/// One mapping rule.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRule {
    /// jq over `{event, headers, query}`; the rule applies when it is true (always, if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// The unified event type, `<model>.<object>.<action>` (`crm.contact.updated`).
    #[serde(rename = "type")]
    pub event_type: String,
    /// jq over `{event, headers, query}` giving the event's data (the unified record, or `{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// URL-verification handshakes, selected by `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum HandshakeSpec {
    /// Slack Events API: a signed POST `{"type": "url_verification", "challenge"}`; answer the challenge.
    SlackUrlVerification,
    /// Zoom: a signed POST `{"event": "endpoint.url_validation", "payload": {"plainToken"}}`;
    /// answer `{plainToken, encryptedToken: hex HMAC-SHA256(secret, plainToken)}`.
    ZoomUrlValidation,
    /// Microsoft Graph: `?validationToken=…` (unsigned); answer the token as text/plain.
    GraphValidationToken,
    /// Dropbox: `GET ?challenge=…` (unsigned); echo it as text/plain.
    DropboxChallenge,
}
