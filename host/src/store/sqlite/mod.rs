//! The SQLite backend (the embedded default): the pool in WAL mode, write transactions, and the
//! queries of each aggregate in a module of their own. Migrations: `host/migrations/sqlite`.

mod accounts;
mod api_tokens;
mod connector_versions;
mod deliveries;
mod inbound;
mod monitoring;
mod oauth;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::error::StoreError;
use crate::accounts::detail::StatusDetail;

/// A SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// This process's writers take turns here before `BEGIN IMMEDIATE`: SQLite's own busy handler
    /// waits by sleeping (up to 100 ms a time), which put hundreds of milliseconds on webhook
    /// acknowledgements queued behind the processing and delivery writers. Other processes
    /// sharing the file still wait in the busy handler.
    write_gate: Arc<tokio::sync::Mutex<()>>,
    /// Background writers queue here first, so at most one of them waits at the gate and the
    /// acknowledgement path ([`SqliteStore::priority_write_tx`]) is never behind a queue of them.
    lobby: Arc<tokio::sync::Mutex<()>>,
}

/// Holds this process's write turn until dropped (after the commit).
pub(super) type WriteGate = tokio::sync::OwnedMutexGuard<()>;

impl SqliteStore {
    /// Whether `url` names a SQLite database: `sqlite:…`, or anything without a scheme (a path,
    /// `:memory:`), as sqlx reads it.
    pub fn accepts(url: &str) -> bool {
        url.starts_with("sqlite:") || !url.contains("://")
    }

    /// Connects (creating the file if needed) and runs migrations.
    pub async fn connect(database_url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Every commit is on disk before it returns: an acknowledged webhook, a refreshed
            // token or a status change survives a power loss, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // An in-memory database exists per connection: keep exactly one.
        let max = if database_url.contains(":memory:") { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self {
            pool,
            write_gate: Arc::new(tokio::sync::Mutex::new(())),
            lobby: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// A write transaction: `BEGIN IMMEDIATE`, which takes the write lock up front (and so waits
    /// under `busy_timeout`); a deferred transaction that reads first fails with
    /// SQLITE_BUSY_SNAPSHOT when another process writes in between.
    async fn write_tx(&self) -> Result<(Transaction<'static, Sqlite>, WriteGate), StoreError> {
        let _in_line = self.lobby.lock().await;
        self.priority_write_tx().await
    }

    /// A write transaction that waits only for the writer holding the gate and the one next in
    /// line: the acknowledgement path's.
    async fn priority_write_tx(&self) -> Result<(Transaction<'static, Sqlite>, WriteGate), StoreError> {
        let gate = self.write_gate.clone().lock_owned().await;
        Ok((self.pool.begin_with("BEGIN IMMEDIATE").await?, gate))
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// A status detail as stored (JSON text).
fn detail_json(detail: &StatusDetail) -> String {
    serde_json::to_string(detail).expect("details serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commits_are_durable_in_wal_mode() {
        let dir = std::env::temp_dir().join(format!("patchbay-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("p.db").display()))
            .await
            .unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!((mode.as_str(), sync), ("wal", 2), "WAL with synchronous = FULL");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
