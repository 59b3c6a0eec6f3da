//! Why a storage operation failed, whatever the backend.

use crate::accounts::state_machine::IllegalTransition;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL names no backend this host has.
    #[error("unsupported database URL {0:?}: use sqlite://path or postgres://user@host/db")]
    UnsupportedUrl(String),
    /// A stored value is corrupt.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The transition is not in the state machine's table.
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    /// The account changed status meanwhile (another request or host won).
    #[error("account {id} is no longer {expected}")]
    Conflict {
        /// Account.
        id: String,
        /// The status the change was based on.
        expected: &'static str,
    },
}

impl StoreError {
    /// Whether the database could not be reached (down, restarting, out of connections) rather
    /// than refusing the operation: the operation may succeed when retried.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Db(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                // SQLSTATE class 08 (connection exception), 57P01..57P03 (the server is shutting
                // down or starting), 53300 (too many connections).
                sqlx::Error::Database(d) => d
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "53300"),
                _ => false,
            },
            _ => false,
        }
    }
}
