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
    #[error("unsupported database URL {0:?}: this host stores in SQLite (sqlite://path)")]
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
