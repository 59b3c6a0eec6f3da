//! The SQLite backend (the embedded default): the pool in WAL mode, write transactions, and the
//! queries of each aggregate in a module of their own. Migrations: `host/migrations/sqlite`.

mod checkpoint;
mod turns;

mod accounts {
    crate::store::sql::accounts::accounts_queries!(SqliteStore, sqlx::Sqlite);
}
mod changes {
    crate::store::sql::changes::changes_queries!(SqliteStore, sqlx::Sqlite);
}
mod api_tokens {
    crate::store::sql::api_tokens::api_tokens_queries!(SqliteStore, sqlx::Sqlite);
}
mod connector_versions {
    crate::store::sql::connector_versions::connector_versions_queries!(SqliteStore, sqlx::Sqlite);
}
mod deliveries {
    crate::store::sql::deliveries::deliveries_queries!(SqliteStore, sqlx::Sqlite);
}
mod inbound {
    crate::store::sql::inbound::inbound_queries!(SqliteStore, sqlx::Sqlite);
}
mod secrets {
    crate::store::sql::secrets::secrets_queries!(SqliteStore, sqlx::Sqlite);
}
mod monitoring {
    crate::store::sql::monitoring::monitoring_queries!(SqliteStore, sqlx::Sqlite);
}
mod oauth {
    crate::store::sql::oauth::oauth_queries!(SqliteStore, sqlx::Sqlite);
}

/// How SQLite spells what the dialects spell differently (see `store::sql`).
mod dialect {
    use sqlx::{Sqlite, Transaction};

    use crate::store::error::StoreError;

    /// Claims need no row locks: `BEGIN IMMEDIATE` holds the database's write lock.
    pub const SKIP_LOCKED: &str = "";

    /// The elements of the JSON array bound at `param`, as rows `j` (`j.value` each).
    pub fn json_rows(param: &str) -> String {
        format!("json_each({param}) AS j")
    }

    /// Field `name` of the row `j` as text.
    pub fn json_text(name: &str) -> String {
        format!("json_extract(j.value, '$.{name}')")
    }

    /// Field `name` of the row `j` as an integer.
    pub fn json_int(name: &str) -> String {
        json_text(name)
    }

    /// The strings of the JSON array bound at `param`, as a subquery's rows.
    pub fn json_strings(param: &str) -> String {
        format!("SELECT value FROM json_each({param})")
    }

    /// The account context's top-level field named by the text bound at `param`, as text.
    pub fn context_field(param: &str) -> String {
        format!("CAST(json_extract(context, '$.' || {param}) AS TEXT)")
    }

    /// Change-log ids commit in order already: one writer at a time.
    pub async fn order_changes(_tx: &mut Transaction<'_, Sqlite>) -> Result<(), StoreError> {
        Ok(())
    }

    /// Other hosts poll the change log: nothing to notify.
    pub async fn notify_changes(_tx: &mut Transaction<'_, Sqlite>) -> Result<(), StoreError> {
        Ok(())
    }

    /// Serializes revision writers of one connector: the write transaction already does.
    pub async fn lock_connector(_tx: &mut Transaction<'_, Sqlite>, _name: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::error::StoreError;
use turns::{Turn, Turns};

/// A SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Connections whose commits do not wait for an fsync (`synchronous = NORMAL`), for the
    /// webhook workers' bookkeeping only (see [`SqliteStore::relaxed_write_tx`]). The same pool
    /// as `pool` for an in-memory database.
    relaxed: SqlitePool,
    /// The acknowledgement path's own connection, so its `BEGIN` never waits for the pool.
    /// `pool` again for an in-memory database.
    urgent: SqlitePool,
    turns: Arc<Turns>,
    /// The checkpointer runs while a clone of the store exists.
    _alive: Arc<()>,
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
            // Every commit is on disk before it returns: an acknowledged webhook, a refreshed
            // token or a status change survives a power loss, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            // The checkpointer task copies the WAL back, not the commits (see `checkpoint`).
            .pragma("wal_autocheckpoint", "0")
            .foreign_keys(true);
        // An in-memory database exists per connection: keep exactly one.
        let memory = database_url.contains(":memory:");
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 8 })
            .connect_with(options.clone())
            .await?;
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        // A host of the previous release may start on a database a newer one migrated (a
        // rolling upgrade, a rollback): migrations only add, so the schema still serves it.
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        let (relaxed, urgent) = if memory {
            (pool.clone(), pool.clone())
        } else {
            let urgent = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .connect_with(options.clone())
                .await?;
            let relaxed = SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(options.clone().synchronous(SqliteSynchronous::Normal))
                .await?;
            (relaxed, urgent)
        };
        let alive = Arc::new(());
        let turns = Arc::new(Turns::default());
        let file = (!memory).then(|| options.get_filename().to_owned());
        tokio::spawn(checkpoint::run(
            pool.clone(),
            file,
            turns.clone(),
            Arc::downgrade(&alive),
        ));
        Ok(Self {
            pool,
            relaxed,
            urgent,
            turns,
            _alive: alive,
        })
    }

    /// A write transaction: `BEGIN IMMEDIATE`, which takes the write lock up front (and so waits
    /// under `busy_timeout`); a deferred transaction that reads first fails with
    /// SQLITE_BUSY_SNAPSHOT when another process writes in between.
    async fn write_tx(&self) -> Result<(Transaction<'static, Sqlite>, Turn), StoreError> {
        let turn = self.turns.ordinary().await;
        Ok((self.pool.begin_with("BEGIN IMMEDIATE").await?, turn))
    }

    /// The acknowledgement path's write transaction: it waits only for the transaction under
    /// way, never for writers queued before it.
    async fn urgent_write_tx(&self) -> Result<(Transaction<'static, Sqlite>, Turn), StoreError> {
        let turn = self.turns.urgent().await;
        Ok((self.urgent.begin_with("BEGIN IMMEDIATE").await?, turn))
    }

    /// A write transaction whose commit is not flushed to disk before it returns; the next
    /// flushed commit (every acknowledgement's) or checkpoint flushes it with everything before
    /// it, because the WAL is written in order. A process crash loses nothing of it; a power
    /// loss may undo the last few: only for work that is redone the same way when undone
    /// (processing leases and results with their id claims, fan-out, delivery leases and
    /// attempts, whose events keep their `webhook-id`).
    async fn relaxed_write_tx(&self) -> Result<(Transaction<'static, Sqlite>, Turn), StoreError> {
        let turn = self.turns.ordinary().await;
        Ok((self.relaxed.begin_with("BEGIN IMMEDIATE").await?, turn))
    }

    /// The acknowledgement path's turn, for a statement that commits by itself.
    async fn urgent_turn(&self) -> Turn {
        self.turns.urgent().await
    }

    /// The acknowledgement path's pool.
    fn urgent_pool(&self) -> &SqlitePool {
        &self.urgent
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
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
