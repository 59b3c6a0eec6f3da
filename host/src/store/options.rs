//! How a host connects to a server database.

use std::time::Duration;

/// Connection settings of a server database (PostgreSQL); SQLite sizes its own pools.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// A statement running longer than this is cancelled by the server.
    pub statement_timeout: Duration,
    /// How long a request waits for a free connection before it fails (`database_unavailable`).
    pub acquire_timeout: Duration,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            statement_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}
