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
    /// A narrower scope than `admin` and `tenant_id` say ([`Principal::METRICS`]); `None`: none.
    pub scope: Option<String>,
}

impl Principal {
    /// The scope of a token that may only read `GET /metrics` (a Prometheus scraper's).
    pub const METRICS: &str = "metrics";

    /// Whether this token may only read metrics.
    pub fn metrics_only(&self) -> bool {
        self.scope.as_deref() == Some(Self::METRICS)
    }

    /// Whether this principal may see an account of `tenant_id`.
    pub fn can_see(&self, tenant_id: &str) -> bool {
        self.admin || self.tenant_id.as_deref() == Some(tenant_id)
    }

    /// The audit actor of this principal's changes.
    pub fn actor(&self) -> String {
        format!("api:{}", self.token_id)
    }
}
