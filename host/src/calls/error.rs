//! Why a proxied or unified call did not produce an answer.

use patchbay_engine::{CallError, RateLimitInfo, RemoteFailure, UnifiedError};

use crate::accounts::AccountStatus;
use crate::accounts::error::AccountsError;
use crate::connectors::DispatchError;
use crate::oauth::RefreshError;
use crate::secrets::SecretsError;
use crate::store::StoreError;
use crate::upstream::{SendError, UpstreamError};
use patchbay_engine::cursor::CursorError;

/// Call failures.
#[derive(Debug, thiserror::Error)]
pub enum CallsError {
    /// The request is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The account cannot be used by this caller.
    #[error(transparent)]
    Account(#[from] AccountsError),
    /// The account's connector is not loaded.
    #[error("connector {0:?} is not loaded")]
    ConnectorNotLoaded(String),
    /// The account is not `active`.
    #[error("integrated account is {}, not active", .0.as_str())]
    NotActive(AccountStatus),
    /// The token expired and the refresh before the call showed the grant is dead.
    #[error("integrated account is needs_reauth, not active: {0}")]
    ReauthNeeded(RefreshError),
    /// The token expired and could not be refreshed (the token endpoint failed).
    #[error("the access token expired and could not be refreshed: {0}")]
    TokenExpired(RefreshError),
    /// A forged or foreign `next_cursor`.
    #[error(transparent)]
    Cursor(#[from] CursorError),
    /// No such method of the connector.
    #[error(transparent)]
    Call(#[from] CallError),
    /// No such unified model or method, or an unmappable body.
    #[error(transparent)]
    Unified(#[from] UnifiedError),
    /// The connector (component or engine) failed a step.
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    /// No usable vendor answer.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// A unified mapping yielded something other than an object.
    #[error("unified mapping did not yield an object")]
    NotAnObject,
    /// The vendor answered with an error (boxed: it carries the vendor's body).
    #[error("{}", .0.failure.message)]
    Remote(Box<RemoteAnswer>),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The credentials do not open.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// A vendor's error answer, normalized.
#[derive(Debug)]
pub struct RemoteAnswer {
    /// The normalized failure.
    pub failure: RemoteFailure,
    /// The vendor's rate-limit state.
    pub rate_limit: RateLimitInfo,
}

impl From<SendError> for CallsError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Dispatch(e) => Self::Dispatch(e),
            SendError::Upstream(e) => Self::Upstream(e),
        }
    }
}

/// A failed call, and which connector version it reached (answers carry
/// `patchbay-connector-version` once the connector is known).
#[derive(Debug)]
pub struct CallFailure {
    /// Why.
    pub error: CallsError,
    /// `name@version#revision`, once the connector was resolved.
    pub served_by: Option<String>,
    /// Who it was for, once the account was resolved.
    pub call_for: Option<super::answer::CallFor>,
}

impl<E: Into<CallsError>> From<E> for CallFailure {
    fn from(e: E) -> Self {
        Self {
            error: e.into(),
            served_by: None,
            call_for: None,
        }
    }
}
