//! Why a webhook operation failed.

use patchbay_engine::webhook::Rejection;

use crate::connectors::WebhookDispatchError;
use crate::secrets::SecretsError;
use crate::store::StoreError;

/// Webhook failures (each becomes one status at the HTTP edge).
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No such connector is live.
    #[error("no connector named {0:?}")]
    UnknownConnector(String),
    /// The connector has no webhooks section (nor component hook).
    #[error("connector {0} does not accept webhooks")]
    NotAccepted(String),
    /// No such account of this connector.
    #[error("no integrated account {0:?} of this connector")]
    UnknownAccount(String),
    /// The signature is missing, wrong or stale.
    #[error("invalid signature: {0}")]
    InvalidSignature(Rejection),
    /// The body is over the limit.
    #[error("webhook body over the limit of {0} bytes")]
    TooLarge(usize),
    /// No such inbound webhook or endpoint (or not visible to this token).
    #[error("{0}")]
    NotFound(String),
    /// A malformed request.
    #[error("{0}")]
    Invalid(String),
    /// The token may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The component failed verifying.
    #[error(transparent)]
    Dispatch(WebhookDispatchError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sealed secret could not be opened.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// Storing the request failed (the database's error).
    #[error("storing the webhook failed: {0}")]
    Intake(String),
    /// Storing the request failed because the database was unreachable.
    #[error("storing the webhook failed, the database is unavailable: {0}")]
    Unavailable(String),
    /// The intake writer stopped (the host is shutting down).
    #[error("the webhook intake is shutting down")]
    IntakeClosed,
}

impl From<WebhookDispatchError> for WebhookError {
    fn from(e: WebhookDispatchError) -> Self {
        match e {
            WebhookDispatchError::NotAccepted(c) => Self::NotAccepted(c),
            other => Self::Dispatch(other),
        }
    }
}
