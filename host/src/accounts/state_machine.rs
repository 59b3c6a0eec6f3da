//! The integrated-account state machine: the one table of legal transitions, the events they
//! produce, and [`Transition`], a change request. Every status change goes through [`check`] and
//! is written, with its audit entry and outbox event, in one transaction by
//! [`crate::store::Store::transition`].

use serde::Serialize;
use serde_json::Value;

use super::detail::StatusDetail;
use super::model::AccountStatus::{self, *};
use super::model::{AccountRow, TokenTimes};

/// Lifecycle events (written to the outbox for delivery to the product).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AccountEvent {
    /// The account was created (status `connecting`).
    Created,
    /// The account became usable.
    Active,
    /// A validation request failed.
    ValidationError,
    /// A post-install step failed.
    PostInstallError,
    /// The vendor rejects the credentials and no refresh fixes it.
    NeedsReauth,
    /// Usable again after `needs_reauth`, without an operator.
    Reactivated,
    /// Credentials or settings were replaced (reconnect).
    Updated,
    /// The account was deleted.
    Deleted,
}

impl AccountEvent {
    /// The event's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "integrated_account:created",
            Self::Active => "integrated_account:active",
            Self::ValidationError => "integrated_account:validation_error",
            Self::PostInstallError => "integrated_account:post_install_error",
            Self::NeedsReauth => "integrated_account:needs_reauth",
            Self::Reactivated => "integrated_account:reactivated",
            Self::Updated => "integrated_account:updated",
            Self::Deleted => "integrated_account:deleted",
        }
    }
}

/// Every legal transition: (from, to, event). `None` as `from` is creation.
pub const TRANSITIONS: &[(Option<AccountStatus>, AccountStatus, AccountEvent)] = &[
    (None, Connecting, AccountEvent::Created),
    (Some(Connecting), Active, AccountEvent::Active),
    (Some(Connecting), Active, AccountEvent::Reactivated),
    (Some(Connecting), ValidationError, AccountEvent::ValidationError),
    (Some(Connecting), PostInstallError, AccountEvent::PostInstallError),
    // `retry` re-runs the steps from an error state without passing through `connecting`.
    (Some(ValidationError), Active, AccountEvent::Active),
    (
        Some(ValidationError),
        PostInstallError,
        AccountEvent::PostInstallError,
    ),
    (Some(PostInstallError), Active, AccountEvent::Active),
    (
        Some(PostInstallError),
        ValidationError,
        AccountEvent::ValidationError,
    ),
    (Some(Active), NeedsReauth, AccountEvent::NeedsReauth),
    // Reconnecting (new credentials) from any settled state.
    (Some(Active), Connecting, AccountEvent::Updated),
    (Some(ValidationError), Connecting, AccountEvent::Updated),
    (Some(PostInstallError), Connecting, AccountEvent::Updated),
    (Some(NeedsReauth), Connecting, AccountEvent::Updated),
    // A refresh that works again (operator lever or scheduler) brings the account back.
    (Some(NeedsReauth), Active, AccountEvent::Reactivated),
];

/// A transition the table does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal account transition {from} -> {to} ({event})")]
pub struct IllegalTransition {
    /// From.
    pub from: String,
    /// To.
    pub to: String,
    /// Event asked.
    pub event: &'static str,
}

/// Checks a transition against the table.
pub fn check(
    from: Option<AccountStatus>,
    to: AccountStatus,
    event: AccountEvent,
) -> Result<(), IllegalTransition> {
    if TRANSITIONS.contains(&(from, to, event)) {
        Ok(())
    } else {
        Err(IllegalTransition {
            from: from.map_or("(none)", AccountStatus::as_str).to_owned(),
            to: to.as_str().to_owned(),
            event: event.as_str(),
        })
    }
}

/// One status change and what changes with it.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    /// The account as the change was decided on (its status is the `from`).
    pub account: &'a AccountRow,
    /// New status.
    pub to: AccountStatus,
    /// Event produced.
    pub event: AccountEvent,
    /// New `status_detail` (`None` clears it).
    pub detail: Option<StatusDetail>,
    /// Who: `api:<token id>`, `scheduler`, `proxy`, `oauth`.
    pub actor: &'a str,
    /// New sealed credentials.
    pub credentials: Option<Vec<u8>>,
    /// New context.
    pub context: Option<Value>,
    /// New token times.
    pub tokens: Option<TokenTimes>,
}

impl<'a> Transition<'a> {
    /// A plain status change.
    pub fn new(account: &'a AccountRow, to: AccountStatus, event: AccountEvent, actor: &'a str) -> Self {
        Self {
            account,
            to,
            event,
            detail: None,
            actor,
            credentials: None,
            context: None,
            tokens: None,
        }
    }

    /// With the failure that caused it.
    pub fn with_detail(mut self, detail: StatusDetail) -> Self {
        self.detail = Some(detail);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [AccountStatus; 5] = [Connecting, Active, NeedsReauth, ValidationError, PostInstallError];
    const EVENTS: [AccountEvent; 7] = [
        AccountEvent::Created,
        AccountEvent::Active,
        AccountEvent::ValidationError,
        AccountEvent::PostInstallError,
        AccountEvent::NeedsReauth,
        AccountEvent::Reactivated,
        AccountEvent::Updated,
    ];

    #[test]
    fn only_the_table_is_legal() {
        let mut legal = 0;
        for from in std::iter::once(None).chain(ALL.map(Some)) {
            for to in ALL {
                for event in EVENTS {
                    let allowed = TRANSITIONS.contains(&(from, to, event));
                    assert_eq!(
                        check(from, to, event).is_ok(),
                        allowed,
                        "{from:?} -> {to:?} {event:?}"
                    );
                    legal += usize::from(allowed);
                }
            }
        }
        assert_eq!(legal, TRANSITIONS.len());
        // A few that must never happen.
        assert!(check(Some(Active), ValidationError, AccountEvent::ValidationError).is_err());
        assert!(check(Some(NeedsReauth), Active, AccountEvent::Active).is_err());
        assert!(check(Some(Connecting), Connecting, AccountEvent::Updated).is_err());
        assert!(check(None, Active, AccountEvent::Active).is_err());
    }
}
