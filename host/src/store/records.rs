//! What the store reads and writes besides the domain's own types: connector revisions, token
//! updates, pending authorizations and audit entries.

use serde::Serialize;
use serde_json::Value;

/// One stored revision of a connector.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorVersion {
    /// Connector name.
    pub name: String,
    /// Revision number (1, 2, … per connector).
    pub revision: i64,
    /// The manifest's `version`.
    pub version: String,
    /// SHA-256 of the manifest text.
    pub content_hash: String,
    /// Where it came from: `file:<path>` or `api:<token id>`.
    pub source: String,
    /// When stored, epoch ms.
    pub created_at: i64,
    /// SHA-256 of the connector's Wasm component, when it has one.
    pub component_hash: Option<String>,
    /// The manifest text.
    #[serde(skip)]
    pub manifest: String,
    /// The component's bytes (read only for active revisions).
    #[serde(skip)]
    pub component: Option<Vec<u8>>,
}

/// A revision to store.
#[derive(Debug, Clone, Copy)]
pub struct NewVersion<'a> {
    /// Connector name.
    pub name: &'a str,
    /// The manifest's `version`.
    pub version: &'a str,
    /// SHA-256 of the manifest (and component).
    pub content_hash: &'a str,
    /// The manifest text.
    pub manifest: &'a str,
    /// The component's bytes.
    pub component: Option<&'a [u8]>,
    /// Where it came from.
    pub source: &'a str,
}

/// New tokens for an account (status unchanged).
#[derive(Debug, Clone)]
pub struct TokenUpdate {
    /// Sealed credentials holding the new tokens.
    pub credentials: Vec<u8>,
    /// When obtained, epoch ms.
    pub obtained_at: i64,
    /// When the access token expires, epoch ms.
    pub expires_at: Option<i64>,
    /// When the scheduler should refresh next, epoch ms.
    pub next_refresh_at: Option<i64>,
    /// New account context, when the token answer changed it (`token_context`).
    pub context: Option<serde_json::Value>,
}

/// A pending authorization-code flow.
#[derive(Debug, Clone)]
pub struct OAuthStateRow {
    /// SHA-256 of the `state` parameter.
    pub state_hash: String,
    /// Connector.
    pub connector: String,
    /// Tenant of the account to create.
    pub tenant_id: String,
    /// Where the browser goes at the end.
    pub redirect_uri: String,
    /// The account being reconnected, if any.
    pub account_id: Option<String>,
    /// Sealed PKCE verifier.
    pub sealed_verifier: Vec<u8>,
    /// Expiry, epoch ms.
    pub expires_at: i64,
    /// The auth method the flow connects.
    pub auth_method: Option<String>,
    /// Account context given at the start (a subdomain the provider's URLs need).
    pub context: serde_json::Value,
}

/// One entry of an account's audit log (its answer schema is this type's).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AccountEvent)]
pub struct AccountEventRecord {
    /// Entry id (UUIDv7: time-ordered).
    pub id: String,
    /// Status before (none at creation).
    pub from: Option<String>,
    /// Status after (`deleted` for a deletion).
    pub to: String,
    /// Event name (`integrated_account:*`).
    pub event: String,
    /// The failure that caused it, if any.
    pub reason: Option<Value>,
    /// Who.
    pub actor: String,
    /// When, epoch ms.
    pub at: i64,
}

/// Rows waiting in each queue (the `patchbay_queue_depth` gauge).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepths {
    /// Inbound webhooks pending processing.
    pub inbound: i64,
    /// Outbox events not yet fanned out to endpoints.
    pub outbox: i64,
    /// Deliveries pending (due or scheduled for a retry).
    pub deliveries: i64,
}

/// A change another host made that this one must apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its position in the change log.
    pub id: i64,
    /// What changed: [`Change::CONNECTOR`], [`Change::ACCOUNT`] or [`Change::TOKEN`].
    pub kind: String,
    /// The connector's name or the account's id.
    pub subject: String,
}

impl Change {
    /// A connector's active revision changed.
    pub const CONNECTOR: &str = "connector";
    /// An account changed (status, credentials) or was deleted.
    pub const ACCOUNT: &str = "account";
    /// An API token was revoked (the subject is its hash).
    pub const TOKEN: &str = "token";
}

/// An API token as stored (its secret never is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    /// Token id.
    pub id: String,
    /// Admin tokens manage everything.
    pub admin: bool,
    /// A tenant token's tenant.
    pub tenant_id: Option<String>,
    /// When created, epoch ms.
    pub created_at: i64,
    /// When it stops working, epoch ms (`None`: never).
    pub expires_at: Option<i64>,
    /// A narrower scope (`metrics`), if any.
    pub scope: Option<String>,
}

/// Re-seals one sealed value: (its kind, its row's id, the sealed bytes) to new sealed bytes.
pub type Reseal<'a, E> = dyn Fn(Sealed, &str, &[u8]) -> Result<Vec<u8>, E> + Sync + 'a;

/// The kinds of sealed values the database holds (key rotation re-seals every one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed {
    /// An account's credentials.
    Credentials,
    /// A connector's OAuth app settings.
    OAuthApp,
    /// A pending authorization's PKCE verifier.
    OAuthState,
    /// A connector's app-level inbound webhook secret.
    WebhookSecret,
    /// An outbound endpoint's signing secret.
    EndpointSecret,
    /// The key check.
    KeyCheck,
}

impl Sealed {
    /// Every kind.
    pub const ALL: [Sealed; 6] = [
        Self::Credentials,
        Self::OAuthApp,
        Self::OAuthState,
        Self::WebhookSecret,
        Self::EndpointSecret,
        Self::KeyCheck,
    ];

    /// Where it is stored: (table, id column, sealed column).
    pub fn location(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Credentials => ("integrated_accounts", "id", "credentials"),
            Self::OAuthApp => ("oauth_apps", "connector", "sealed"),
            Self::OAuthState => ("oauth_states", "state_hash", "sealed_verifier"),
            Self::WebhookSecret => ("webhook_secrets", "connector", "sealed"),
            Self::EndpointSecret => ("webhook_endpoints", "id", "sealed_secret"),
            Self::KeyCheck => ("key_check", "id", "sealed"),
        }
    }
}
