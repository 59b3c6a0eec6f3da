//! Why an account operation was refused or failed.

use crate::oauth::refresh::RefreshError;
use crate::secrets::SecretsError;
use crate::store::StoreError;

/// Account operation failures.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// The request is wrong (the caller's fix).
    #[error("{0}")]
    Invalid(String),
    /// The account's state does not allow this (409 `account_not_active`, like a call on an
    /// account that is not `active`).
    #[error("{0}")]
    State(String),
    /// The caller's token may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such account, or not one the caller may see.
    #[error("no integrated account {0:?}")]
    NotFound(String),
    /// The request names a connector this host does not have.
    #[error("unknown connector {0:?}")]
    UnknownConnector(String),
    /// The account's connector is not loaded (any more).
    #[error("connector {0:?} is not loaded")]
    ConnectorNotLoaded(String),
    /// An operator's token refresh failed.
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    /// The database failed (or the account changed meanwhile: [`StoreError::Conflict`]).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The credentials do not open.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}
