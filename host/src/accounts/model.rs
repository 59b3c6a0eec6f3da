//! The integrated account as the host knows it: its status, its stored row (credentials still
//! sealed) and its token timing.

use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use super::detail::StatusDetail;
use crate::clock::now_ms;

/// States of an integrated account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Credentials stored, post-install and validation running.
    Connecting,
    /// Usable.
    Active,
    /// The vendor rejects the credentials; the end user must reconnect.
    NeedsReauth,
    /// A validation request failed.
    ValidationError,
    /// A post-install step failed.
    PostInstallError,
}

/// A status name that is not one of [`AccountStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown account status {0:?}")]
pub struct UnknownStatus(pub String);

impl AccountStatus {
    /// Every status.
    pub const ALL: [AccountStatus; 5] = [
        Self::Connecting,
        Self::Active,
        Self::NeedsReauth,
        Self::ValidationError,
        Self::PostInstallError,
    ];

    /// Name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Active => "active",
            Self::NeedsReauth => "needs_reauth",
            Self::ValidationError => "validation_error",
            Self::PostInstallError => "post_install_error",
        }
    }
}

impl FromStr for AccountStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, UnknownStatus> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// An OAuth token's times, epoch ms: when it was obtained, when it expires, and when the
/// scheduler refreshes it next (`None`: unknown, or nothing to schedule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenTimes {
    /// When the access token was obtained.
    pub obtained_at: Option<i64>,
    /// When it expires.
    pub expires_at: Option<i64>,
    /// When the scheduler refreshes it.
    pub next_refresh_at: Option<i64>,
}

/// A stored integrated account (credentials still sealed).
#[derive(Debug, Clone)]
pub struct AccountRow {
    /// Id.
    pub id: String,
    /// Connector name.
    pub connector: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Lifecycle state.
    pub status: AccountStatus,
    /// Sealed credentials JSON.
    pub credentials: Vec<u8>,
    /// Non-secret context.
    pub context: Value,
    /// Base URL override.
    pub base_url: Option<String>,
    /// The manifest auth method the account uses (`None`: the connector's default).
    pub auth_method: Option<String>,
    /// Creation time, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
    /// Last failure (none when healthy).
    pub status_detail: Option<StatusDetail>,
    /// OAuth: when the access token was obtained, epoch ms.
    pub token_obtained_at: Option<i64>,
    /// OAuth: when the access token expires, epoch ms.
    pub token_expires_at: Option<i64>,
    /// OAuth: when the scheduler refreshes next, epoch ms.
    pub next_refresh_at: Option<i64>,
    /// OAuth: consecutive transient refresh failures.
    pub refresh_failures: i64,
    /// OAuth: first of the current run of transient refresh failures, epoch ms.
    pub refresh_failing_since: Option<i64>,
}

impl AccountRow {
    /// A new account (status `connecting`) with sealed credentials.
    pub fn new(
        id: String,
        connector: String,
        tenant_id: String,
        credentials: Vec<u8>,
        context: Value,
        base_url: Option<String>,
    ) -> Self {
        let now = now_ms();
        Self {
            id,
            connector,
            tenant_id,
            status: AccountStatus::Connecting,
            credentials,
            context,
            base_url,
            auth_method: None,
            created_at: now,
            updated_at: now,
            status_detail: None,
            token_obtained_at: None,
            token_expires_at: None,
            next_refresh_at: None,
            refresh_failures: 0,
            refresh_failing_since: None,
        }
    }

    /// A new account id.
    pub fn new_id() -> String {
        format!("acct_{}", uuid::Uuid::new_v4().simple())
    }

    /// Names the auth method of a new account.
    pub fn with_auth_method(mut self, method: Option<String>) -> Self {
        self.auth_method = method;
        self
    }

    /// Sets the token times of a new account.
    pub fn with_tokens(mut self, t: TokenTimes) -> Self {
        self.token_obtained_at = t.obtained_at;
        self.token_expires_at = t.expires_at;
        self.next_refresh_at = t.next_refresh_at;
        self
    }
}

/// Filters of the account list.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    /// Only this status.
    pub status: Option<AccountStatus>,
    /// Only this connector.
    pub connector: Option<String>,
    /// Only this tenant.
    pub tenant_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in AccountStatus::ALL {
            assert_eq!(s.as_str().parse::<AccountStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(
            "bogus".parse::<AccountStatus>(),
            Err(UnknownStatus("bogus".into()))
        );
    }
}
