//! The shapes of the host's JSON answers, for the API description. The handlers build their
//! answers with `json!`; these types say what those answers hold, and the schemathesis run in CI
//! checks every answer it provokes against them.

// Described, never built: the answers are `json!` values.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

/// The query parameters of a proxied or unified call (`limit` and `next_cursor` are kept only
/// on list methods when the document is finished).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallParams {
    /// The account to call as
    pub integrated_account_id: String,
    /// Page size (list methods)
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// A page's `next_cursor` (list methods)
    pub next_cursor: Option<String>,
    /// `false`: leave the vendor's record out (unified)
    pub remote_data: Option<bool>,
}

/// The normalized error body every non-2xx answer of the host carries.
#[derive(ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What failed.
#[derive(ToSchema)]
pub struct ErrorDetail {
    /// The normalized code; its HTTP status is fixed (docs/ERRORS.md).
    #[schema(value_type = ErrorCode)]
    pub code: String,
    /// Human-readable, for logs and people; match on `code`.
    pub message: String,
    /// The request's id, also in the `x-request-id` header.
    pub request_id: String,
    /// Whether the failure is on the vendor's side.
    pub remote: bool,
    /// The vendor's HTTP status, for remote failures.
    #[schema(minimum = 100, maximum = 599)]
    pub remote_status: Option<u16>,
    /// The vendor's body, for remote failures.
    pub remote_body: Option<Value>,
    /// Structured details, e.g. every problem of a refused manifest.
    pub details: Option<Value>,
}

/// A normalized error code: the document lists them (`ErrorCode::ALL` of the engine).
#[derive(ToSchema)]
pub struct ErrorCode(String);

/// `{"status": "ok"}`.
#[derive(ToSchema)]
pub struct Health {
    pub status: String,
}

/// Readiness: the database answers and the connectors are loaded.
#[derive(ToSchema)]
pub struct Ready {
    pub status: String,
    /// Live connectors.
    pub connectors: u64,
    /// Manifest files that failed to load.
    pub load_errors: u64,
}

/// An integrated account (never its credentials).
#[derive(ToSchema)]
pub struct Account {
    pub id: String,
    pub connector: String,
    pub tenant_id: String,
    #[schema(value_type = AccountStatus)]
    pub status: String,
    /// Non-secret context (e.g. `subdomain`, `instance_url`).
    pub context: Map<String, Value>,
    /// Base URL override, when the account has one.
    pub base_url: Option<String>,
    /// The manifest auth method the account uses.
    pub auth_method: String,
    /// Why the account is not `active` (the failure, normalized).
    pub status_detail: Option<Value>,
    /// When the OAuth access token expires (RFC 3339).
    pub token_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The integrated-account state machine.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum AccountStatus {
    Connecting,
    Active,
    NeedsReauth,
    ValidationError,
    PostInstallError,
}

/// Accounts visible to the token.
#[derive(ToSchema)]
pub struct AccountList {
    pub result_count: u64,
    pub result: Vec<Account>,
}

/// An account's audit log, oldest first.
#[derive(ToSchema)]
pub struct AccountEvents {
    pub result_count: u64,
    pub result: Vec<crate::store::AccountEventRecord>,
}

/// A live connector.
#[derive(ToSchema)]
pub struct Connector {
    pub name: String,
    /// The manifest's `version`.
    pub version: String,
    /// The stored revision that is live.
    pub revision: i64,
    pub display_name: Option<String>,
    /// The default auth method's type.
    pub auth: String,
    /// Every auth method and what connecting with it needs.
    pub auth_methods: Vec<AuthMethod>,
    /// Resource name → its method names.
    pub resources: BTreeMap<String, Vec<String>>,
    /// Unified models served.
    pub unified: Vec<UnifiedResource>,
    /// The connector's Wasm component, if it has one.
    pub component: Option<Component>,
}

/// An auth method of a connector.
#[derive(ToSchema)]
pub struct AuthMethod {
    pub name: String,
    #[schema(rename = "type")]
    pub kind: String,
    pub label: Option<String>,
    pub doc: Option<String>,
    /// `browser`: `POST /connect/{name}`; `api`: `POST /integrated-accounts`.
    pub connect: String,
    /// The method used when an account names none.
    pub default: bool,
    /// JSON Schema of the credentials and context to send.
    pub schema: Value,
    /// The OAuth 2.0 settings, for OAuth methods.
    pub oauth2: Option<Map<String, Value>>,
}

/// A unified model a connector serves.
#[derive(ToSchema)]
pub struct UnifiedResource {
    pub model: String,
    pub resource: String,
    pub methods: Vec<String>,
}

/// A connector's component.
#[derive(ToSchema)]
pub struct Component {
    pub sha256: String,
    /// The hooks it implements.
    pub hooks: Vec<String>,
}

/// Live connectors, the files that failed to load, and activity counts.
#[derive(ToSchema)]
pub struct ConnectorList {
    pub result_count: u64,
    pub result: Vec<Connector>,
    /// Manifest files that failed to load, with the file and JSON path of each problem.
    pub load_errors: Vec<Value>,
    /// Loads, activations, refusals, rollbacks since start.
    pub stats: BTreeMap<String, u64>,
}

/// A stored revision of a connector.
#[derive(ToSchema)]
pub struct ConnectorVersion {
    pub name: String,
    pub revision: i64,
    pub version: String,
    /// SHA-256 of the manifest text.
    pub content_hash: String,
    /// `file:<path>` or `api:<token id>`.
    pub source: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub component_hash: Option<String>,
    /// Whether it is the live one.
    pub active: bool,
}

/// Every stored revision, newest first.
#[derive(ToSchema)]
pub struct ConnectorVersions {
    pub result_count: u64,
    pub active_revision: Option<i64>,
    pub result: Vec<ConnectorVersion>,
}

/// A connector's OAuth app, without its secret.
#[derive(ToSchema)]
pub struct OAuthAppView {
    pub client_id: String,
    pub client_secret_set: bool,
    pub scopes: Option<Vec<String>>,
    pub scope_separator: Option<String>,
    pub extra_token_params: Option<BTreeMap<String, String>>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
}

/// Where to send the browser.
#[derive(ToSchema)]
pub struct AuthorizeUrl {
    pub authorize_url: String,
}

/// An inbound vendor webhook (its headers and body stay in the database).
#[derive(ToSchema)]
pub struct InboundWebhook {
    pub id: String,
    pub connector: String,
    pub integrated_account_id: Option<String>,
    pub tenant_id: Option<String>,
    pub vendor_event_ids: Vec<String>,
    /// The first of `vendor_event_ids`.
    pub vendor_event_id: Option<String>,
    pub received_at: String,
    pub processed_at: Option<String>,
    #[schema(value_type = InboundStatus)]
    pub status: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub event_types: Vec<String>,
}

/// What became of an inbound webhook.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum InboundStatus {
    Pending,
    Processed,
    Duplicate,
    Unmatched,
    Failed,
}

/// Inbound webhooks visible to the token, newest first.
#[derive(ToSchema)]
pub struct InboundWebhookList {
    pub data: Vec<InboundWebhook>,
}

/// What a vendor's webhook POST gets back.
#[derive(ToSchema)]
pub struct WebhookAck {
    /// The inbound record's id.
    pub id: String,
    /// `accepted`.
    pub status: String,
}

/// Where the product receives Patchbay's events.
#[derive(serde::Serialize, ToSchema)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub tenant_id: Option<String>,
    /// Event filters; null: every event.
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why it was disabled, when the host disabled it.
    pub disabled_reason: Option<String>,
    /// Since when its deliveries fail (RFC 3339).
    pub failing_since: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A new endpoint, with its signing secret (shown only here).
#[derive(serde::Serialize, ToSchema)]
pub struct WebhookEndpointCreated {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_…` (Standard Webhooks).
    pub secret: String,
}

/// The token's endpoints.
#[derive(ToSchema)]
pub struct WebhookEndpointList {
    pub data: Vec<WebhookEndpoint>,
}

/// One delivery attempt.
#[derive(ToSchema)]
pub struct DeliveryAttempt {
    pub id: String,
    pub delivery_id: String,
    pub event_id: String,
    pub event_type: String,
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub duration_ms: Option<i64>,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub at: String,
    pub next_attempt_at: Option<String>,
}

/// Delivery attempts, newest first.
#[derive(ToSchema)]
pub struct DeliveryAttempts {
    pub data: Vec<DeliveryAttempt>,
}

/// A queued test event.
#[derive(ToSchema)]
pub struct TestEvent {
    pub event_id: String,
}

/// How many events a replay queued.
#[derive(ToSchema)]
pub struct Replayed {
    pub replayed: u64,
}

/// A connector's schema drift, per sampled resource.
#[derive(ToSchema)]
pub struct DriftReport {
    pub connector: String,
    pub drifted_fields: u64,
    pub result_count: u64,
    /// Per resource: its baseline and drifted fields.
    pub result: Vec<Map<String, Value>>,
}

/// What became the baseline.
#[derive(ToSchema)]
pub struct DriftAccepted {
    pub connector: String,
    pub accepted_resources: u64,
}

/// A published unified model.
#[derive(ToSchema)]
pub struct UnifiedModel {
    pub model: String,
    pub resource: String,
    /// Its JSON Schema (also under `components.schemas` of this document).
    pub schema: Value,
}

/// Every published unified model.
#[derive(ToSchema)]
pub struct UnifiedModels {
    pub result_count: u64,
    pub result: Vec<UnifiedModel>,
}

/// A page of a list method.
#[derive(ToSchema)]
pub struct Page {
    pub result_count: u64,
    /// Pass it back as `next_cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
    pub result: Vec<Value>,
}

/// One record (null when the vendor answered nothing, e.g. a delete).
#[derive(ToSchema)]
pub struct Record {
    pub result: Option<Value>,
}
