//! Who is calling: the identity behind an API token, and what it may see.

/// The identity behind an API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token id (not the token).
    pub token_id: String,
    /// Admin tokens manage everything.
    pub admin: bool,
    /// A tenant token sees only this tenant's accounts.
    pub tenant_id: Option<String>,
    /// When the token stops working (epoch ms; `None`: never).
    pub expires_at: Option<i64>,
}

impl Principal {
    /// Whether this principal may see an account of `tenant_id`.
    pub fn can_see(&self, tenant_id: &str) -> bool {
        self.admin || self.tenant_id.as_deref() == Some(tenant_id)
    }

    /// The audit actor of this principal's changes.
    pub fn actor(&self) -> String {
        format!("api:{}", self.token_id)
    }
}
