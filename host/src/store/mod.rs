//! Persistence: API tokens and integrated accounts, through sqlx (SQLite in WAL mode by default).
//!
//! Queries use `$n` placeholders and portable types so the same SQL can run on PostgreSQL.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

use crate::cache::TtlCache;

mod connectors;
mod lifecycle;
mod tokens;

pub use connectors::{ConnectorVersion, NewVersion};
pub use lifecycle::{TokenTimes, Transition};
pub use tokens::{OAuthStateRow, TokenUpdate};

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value is corrupt.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The transition is not in the state machine's table.
    #[error(transparent)]
    Illegal(#[from] crate::lifecycle::IllegalTransition),
    /// The account changed status meanwhile (another request or host won).
    #[error("account {id} is no longer {expected}")]
    Conflict {
        /// Account.
        id: String,
        /// The status the change was based on.
        expected: &'static str,
    },
}

/// Who is calling: the identity behind an API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token id (not the token).
    pub token_id: String,
    /// Admin tokens manage everything.
    pub admin: bool,
    /// A tenant token sees only this tenant's accounts.
    pub tenant_id: Option<String>,
}

impl Principal {
    /// Whether this principal may see an account of `tenant_id`.
    pub fn can_see(&self, tenant_id: &str) -> bool {
        self.admin || self.tenant_id.as_deref() == Some(tenant_id)
    }
}

/// States of an integrated account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Credentials stored, post-install and validation running.
    Connecting,
    /// Usable.
    Active,
    /// The vendor rejects the credentials; the end user must reconnect.
    NeedsReauth,
    /// A validation request failed.
    ValidationError,
    /// A post-install step failed.
    PostInstallError,
}

impl AccountStatus {
    /// Name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Active => "active",
            Self::NeedsReauth => "needs_reauth",
            Self::ValidationError => "validation_error",
            Self::PostInstallError => "post_install_error",
        }
    }
}

impl FromStr for AccountStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "connecting" => Self::Connecting,
            "active" => Self::Active,
            "needs_reauth" => Self::NeedsReauth,
            "validation_error" => Self::ValidationError,
            "post_install_error" => Self::PostInstallError,
            other => return Err(format!("unknown account status {other:?}")),
        })
    }
}

/// A stored integrated account (credentials still sealed).
#[derive(Debug, Clone)]
pub struct AccountRow {
    /// Id.
    pub id: String,
    /// Connector name.
    pub connector: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Lifecycle state.
    pub status: AccountStatus,
    /// Sealed credentials JSON.
    pub credentials: Vec<u8>,
    /// Non-secret context.
    pub context: Value,
    /// Base URL override.
    pub base_url: Option<String>,
    /// Creation time, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub updated_at: i64,
    /// Last failure: `{"step", "message", "at"}` (null when healthy).
    pub status_detail: Option<Value>,
    /// OAuth: when the access token was obtained, epoch ms.
    pub token_obtained_at: Option<i64>,
    /// OAuth: when the access token expires, epoch ms.
    pub token_expires_at: Option<i64>,
    /// OAuth: when the scheduler refreshes next, epoch ms.
    pub next_refresh_at: Option<i64>,
    /// OAuth: consecutive transient refresh failures.
    pub refresh_failures: i64,
    /// OAuth: first of the current run of transient refresh failures, epoch ms.
    pub refresh_failing_since: Option<i64>,
}

impl AccountRow {
    /// A new account (status `connecting`) with sealed credentials.
    pub fn new(
        id: String,
        connector: String,
        tenant_id: String,
        credentials: Vec<u8>,
        context: Value,
        base_url: Option<String>,
    ) -> Self {
        let now = now_ms();
        Self {
            id,
            connector,
            tenant_id,
            status: AccountStatus::Connecting,
            credentials,
            context,
            base_url,
            created_at: now,
            updated_at: now,
            status_detail: None,
            token_obtained_at: None,
            token_expires_at: None,
            next_refresh_at: None,
            refresh_failures: 0,
            refresh_failing_since: None,
        }
    }
}

/// Filters of the account list.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    /// Only this status.
    pub status: Option<AccountStatus>,
    /// Only this connector.
    pub connector: Option<String>,
    /// Only this tenant.
    pub tenant_id: Option<String>,
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: SqlitePool,
    principals: Arc<TtlCache<String, Principal>>,
    pub(crate) accounts: Arc<TtlCache<String, AccountRow>>,
}

/// How long looked-up tokens and accounts are reused without asking the database.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(2);

/// Current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Connects (creating the SQLite file if needed) and runs migrations.
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
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self::with_pool(pool, DEFAULT_CACHE_TTL))
    }

    fn with_pool(pool: SqlitePool, ttl: Duration) -> Self {
        Self {
            pool,
            principals: Arc::new(TtlCache::new(ttl, 10_000)),
            accounts: Arc::new(TtlCache::new(ttl, 100_000)),
        }
    }

    /// The same database with another cache TTL (zero: always ask the database).
    pub fn with_cache_ttl(&self, ttl: Duration) -> Self {
        Self::with_pool(self.pool.clone(), ttl)
    }

    /// A write transaction. SQLite: `BEGIN IMMEDIATE`, which takes the write lock up front (and
    /// so waits under `busy_timeout`); a deferred transaction that reads first fails with
    /// SQLITE_BUSY_SNAPSHOT when another process writes in between.
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Creates an API token and returns it (only its hash is stored).
    pub async fn create_token(&self, admin: bool, tenant_id: Option<&str>) -> Result<String, StoreError> {
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = format!("pbt_{}", hex::encode(raw));
        sqlx::query("INSERT INTO api_tokens (id, token_hash, admin, tenant_id, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(hash_token(&token))
            .bind(admin)
            .bind(tenant_id)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(token)
    }

    /// The principal of a token, if it exists.
    pub async fn principal(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        let hash = hash_token(token);
        // Only known tokens are cached: random guesses must not fill memory.
        if let Some(hit) = self.principals.get(&hash) {
            return Ok(Some(hit));
        }
        let row = sqlx::query("SELECT id, admin, tenant_id FROM api_tokens WHERE token_hash = $1")
            .bind(&hash)
            .fetch_optional(&self.pool)
            .await?;
        let principal = row.map(|r| Principal {
            token_id: r.get("id"),
            admin: r.get("admin"),
            tenant_id: r.get("tenant_id"),
        });
        if let Some(p) = &principal {
            self.principals.insert(hash, p.clone());
        }
        Ok(principal)
    }

    /// One account.
    pub async fn account(&self, id: &str) -> Result<Option<AccountRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM integrated_accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let account = row.map(|r| account_from_row(&r)).transpose()?;
        match &account {
            Some(a) => self.accounts.insert(id.to_owned(), a.clone()),
            None => self.accounts.remove(&id.to_owned()),
        }
        Ok(account)
    }

    /// One account, possibly as read up to the cache TTL ago (the hot path of calls).
    pub async fn account_cached(&self, id: &str) -> Result<Option<AccountRow>, StoreError> {
        match self.accounts.get(&id.to_owned()) {
            Some(hit) => Ok(Some(hit)),
            None => self.account(id).await,
        }
    }

    /// Accounts matching a filter, oldest first.
    pub async fn accounts(&self, f: &AccountFilter) -> Result<Vec<AccountRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM integrated_accounts WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR connector = $2) \
             AND ($3 IS NULL OR tenant_id = $3) ORDER BY created_at, id",
        )
        .bind(f.status.map(AccountStatus::as_str))
        .bind(&f.connector)
        .bind(&f.tenant_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(account_from_row).collect()
    }
}

pub(crate) fn account_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<AccountRow, StoreError> {
    let status: String = r.get("status");
    let context: String = r.get("context");
    Ok(AccountRow {
        id: r.get("id"),
        connector: r.get("connector"),
        tenant_id: r.get("tenant_id"),
        status: status.parse().map_err(StoreError::Corrupt)?,
        credentials: r.get("credentials"),
        context: serde_json::from_str(&context).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        base_url: r.get("base_url"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        status_detail: r
            .get::<Option<String>, _>("status_detail")
            .map(|d| serde_json::from_str(&d).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()?,
        token_obtained_at: r.get("token_obtained_at"),
        token_expires_at: r.get("token_expires_at"),
        next_refresh_at: r.get("next_refresh_at"),
        refresh_failures: r.get("refresh_failures"),
        refresh_failing_since: r.get("refresh_failing_since"),
    })
}
