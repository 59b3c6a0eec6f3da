//! The SQLite backend (the embedded default): the pool in WAL mode, write transactions, and the
//! queries of each aggregate in a module of their own. Migrations: `host/migrations/sqlite`.

mod accounts;
mod api_tokens;
mod connector_versions;
mod deliveries;
mod inbound;
mod oauth;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::error::StoreError;
use crate::accounts::detail::StatusDetail;

/// A SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

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
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // An in-memory database exists per connection: keep exactly one.
        let max = if database_url.contains(":memory:") { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    /// A write transaction: `BEGIN IMMEDIATE`, which takes the write lock up front (and so waits
    /// under `busy_timeout`); a deferred transaction that reads first fails with
    /// SQLITE_BUSY_SNAPSHOT when another process writes in between.
    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
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
