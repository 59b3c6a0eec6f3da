//! What each sealed value is bound to (its associated data), in one place: the modules that seal
//! and open a kind of secret use these, and so does key rotation, which re-seals every kind.

/// An account's credentials: the account id.
pub fn credentials(account_id: &str) -> Vec<u8> {
    account_id.as_bytes().to_vec()
}

/// A connector's OAuth app settings.
pub fn oauth_app(connector: &str) -> Vec<u8> {
    format!("oauth-app:{connector}").into_bytes()
}

/// A pending authorization's PKCE verifier.
pub const OAUTH_STATE: &[u8] = b"oauth-state";

/// A connector's app-level inbound webhook secret.
pub fn webhook_secret(connector: &str) -> Vec<u8> {
    format!("webhook-secret:{connector}").into_bytes()
}

/// An outbound endpoint's signing secret.
pub fn endpoint_secret(endpoint: &str) -> Vec<u8> {
    format!("webhook-endpoint:{endpoint}").into_bytes()
}

/// The database's key check (a known value sealed under the master key).
pub const KEY_CHECK: &[u8] = b"patchbay-key-check";
