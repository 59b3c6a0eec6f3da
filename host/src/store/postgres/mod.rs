//! The PostgreSQL backend, for several hosts on one database: a connection pool with a statement
//! timeout, plain transactions (row locks, `FOR UPDATE SKIP LOCKED` claims and compare-and-set
//! updates order the writers of every host), and the queries of `store::sql` expanded for it.
//! Migrations: `host/migrations/postgres` (taken under sqlx's advisory lock, so hosts starting
//! together apply them once).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::Notify;

use super::error::StoreError;
use super::options::DatabaseOptions;

mod accounts {
    crate::store::sql::accounts::accounts_queries!(PgStore, sqlx::Postgres);
}
mod changes {
    crate::store::sql::changes::changes_queries!(PgStore, sqlx::Postgres);
}
mod api_tokens {
    crate::store::sql::api_tokens::api_tokens_queries!(PgStore, sqlx::Postgres);
}
mod connector_versions {
    crate::store::sql::connector_versions::connector_versions_queries!(PgStore, sqlx::Postgres);
}
mod deliveries {
    crate::store::sql::deliveries::deliveries_queries!(PgStore, sqlx::Postgres);
}
mod inbound {
    crate::store::sql::inbound::inbound_queries!(PgStore, sqlx::Postgres);
}
mod secrets {
    crate::store::sql::secrets::secrets_queries!(PgStore, sqlx::Postgres);
}
mod monitoring {
    crate::store::sql::monitoring::monitoring_queries!(PgStore, sqlx::Postgres);
}
mod oauth {
    crate::store::sql::oauth::oauth_queries!(PgStore, sqlx::Postgres);
}

/// How PostgreSQL spells what the dialects spell differently (see `store::sql`).
mod dialect {
    use sqlx::{Postgres, Transaction};

    use crate::store::error::StoreError;

    /// A claim skips the rows another host's claim holds instead of waiting for them.
    pub const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";

    /// The elements of the JSON array bound (as text) at `param`, as rows `j` (`j.value` each).
    pub fn json_rows(param: &str) -> String {
        format!("jsonb_array_elements(CAST({param} AS jsonb)) AS j(value)")
    }

    /// Field `name` of the row `j` as text.
    pub fn json_text(name: &str) -> String {
        format!("(j.value ->> '{name}')")
    }

    /// Field `name` of the row `j` as an integer.
    pub fn json_int(name: &str) -> String {
        format!("CAST(j.value ->> '{name}' AS BIGINT)")
    }

    /// The strings of the JSON array bound at `param`, as a subquery's rows.
    pub fn json_strings(param: &str) -> String {
        format!("SELECT jsonb_array_elements_text(CAST({param} AS jsonb))")
    }

    /// The account context's top-level field named by the text bound at `param`, as text.
    pub fn context_field(param: &str) -> String {
        format!("(CAST(context AS jsonb) ->> CAST({param} AS TEXT))")
    }

    /// Makes change-log ids commit in the order they are taken: a sequence hands out ids as
    /// transactions insert, and a watcher that read id 11 committed before id 10 would never read
    /// 10. Held until commit; taken last in every transaction that logs a change (after its row
    /// locks), so it cannot deadlock with them.
    pub async fn order_changes(tx: &mut Transaction<'_, Postgres>) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('patchbay.change_log', 0))")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Wakes the other hosts' change watchers when the transaction commits.
    pub async fn notify_changes(tx: &mut Transaction<'_, Postgres>) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify('patchbay_changes', '')")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Serializes the revision writers of one connector across hosts until the transaction ends
    /// (revision numbers are read, then incremented).
    pub async fn lock_connector(tx: &mut Transaction<'_, Postgres>, name: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('patchbay.connector.' || $1, 0))")
            .bind(name)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// The channel change notifications go to.
const CHANNEL: &str = "patchbay_changes";

/// A PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Woken by the listener task when another host notified a change.
    changed: Arc<Notify>,
    /// The listener task runs while a clone of the store exists.
    _listener: Arc<AbortOnDrop>,
}

/// Stops a task when dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// No in-process write turns: PostgreSQL's locks order the writers of every host.
pub(super) struct Turn;

impl PgStore {
    /// Whether `url` names a PostgreSQL database.
    pub fn accepts(url: &str) -> bool {
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    /// Connects and runs migrations. TLS follows the URL's `sslmode` (`disable`, `prefer` (the
    /// default), `require`, `verify-ca`, `verify-full`, with `sslrootcert`).
    pub async fn connect(url: &str, options: &DatabaseOptions) -> Result<Self, StoreError> {
        let timeout = options.statement_timeout.as_millis().to_string();
        let connect = PgConnectOptions::from_str(url)?
            .application_name("patchbay")
            // A statement that runs away (a lock held by a stuck host) fails instead of holding
            // a pooled connection and the request behind it.
            .options([("statement_timeout", timeout.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            // A connection that broke while idle (a server restart) is found before it is used.
            .test_before_acquire(true)
            .connect_with(connect)
            .await?;
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        // A host of the previous release may start on a database a newer one migrated (a
        // rolling upgrade, a rollback): migrations only add, so the schema still serves it.
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        let changed = Arc::new(Notify::new());
        let listener = tokio::spawn(listen(pool.clone(), changed.clone()));
        Ok(Self {
            pool,
            changed,
            _listener: Arc::new(AbortOnDrop(listener)),
        })
    }

    /// Returns when a change was notified, or after `poll` (notifications sent while the listener
    /// was reconnecting are lost; the caller's poll of the change log finds those).
    pub async fn change_signal(&self, poll: Duration) {
        let _ = tokio::time::timeout(poll, self.changed.notified()).await;
    }

    /// A write transaction.
    async fn write_tx(&self) -> Result<(Transaction<'static, Postgres>, Turn), StoreError> {
        Ok((self.pool.begin().await?, Turn))
    }

    /// The acknowledgement path's write transaction: an ordinary one here.
    async fn urgent_write_tx(&self) -> Result<(Transaction<'static, Postgres>, Turn), StoreError> {
        self.write_tx().await
    }

    /// A write transaction whose commit does not wait for the server's WAL flush
    /// (`synchronous_commit = off`), for the same work as SQLite's relaxed writes: redone the same
    /// way when a server crash undoes it.
    async fn relaxed_write_tx(&self) -> Result<(Transaction<'static, Postgres>, Turn), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        Ok((tx, Turn))
    }

    /// The acknowledgement path's turn: none needed.
    async fn urgent_turn(&self) -> Turn {
        Turn
    }

    /// The acknowledgement path's pool: the one pool.
    fn urgent_pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// Listens for change notifications on a connection of its own (until aborted with the store),
/// reconnecting after a failure (a server restart).
async fn listen(pool: PgPool, changed: Arc<Notify>) {
    const RETRY: Duration = Duration::from_secs(1);
    loop {
        if let Ok(mut listener) = PgListener::connect_with(&pool).await
            && listener.listen(CHANNEL).await.is_ok()
        {
            // `Ok(None)`: the connection was lost and is open again; notifications sent meanwhile
            // are lost, so wake the watcher to poll the log. An error ends this connection.
            while listener.try_recv().await.is_ok() {
                changed.notify_one();
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}
