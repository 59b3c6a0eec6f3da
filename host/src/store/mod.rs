//! Persistence: one [`Store`] facade over a closed set of backends, chosen by the database URL
//! at startup: SQLite (embedded, the default) or PostgreSQL (several hosts). Their queries are
//! written once (`sql`) and expanded for each backend's driver; a third backend is a new
//! [`Backend`] variant, and the compiler lists every method it lacks.
//!
//! The facade owns what is the same for every backend: the state machine's check before a
//! status change, API-token hashing, and the short-lived caches of the per-request lookups
//! (tokens, accounts), which it invalidates on every write it makes. Backends only read and write.
//! Nothing above this module names a backend's types.

mod cache;
mod error;
mod options;
mod postgres;
mod records;
mod sql;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::accounts::detail::StatusDetail;
use crate::accounts::model::{AccountFilter, AccountRow, AccountStatus};
use crate::accounts::principal::Principal;
use crate::accounts::state_machine::{AccountEvent, Transition, check};
use crate::clock::now_ms;
use crate::telemetry::emit;
use crate::telemetry::events::ACCOUNT_TRANSITION;
use cache::TtlCache;
use postgres::PgStore;
use sqlite::SqliteStore;

pub use error::StoreError;
pub use options::DatabaseOptions;
pub use records::{
    AccountEventRecord, Change, ConnectorVersion, NewVersion, OAuthStateRow, QueueDepths, Reseal, Sealed,
    TokenRecord, TokenUpdate,
};

/// How long looked-up tokens and accounts are reused without asking the database.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(2);

/// The storage backends (closed: one `match` per operation).
#[derive(Debug, Clone)]
enum Backend {
    /// Embedded SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL, for several hosts on one database.
    Postgres(PgStore),
}

/// Runs `$e` with `$b` bound to the backend.
macro_rules! on_backend {
    ($self:ident, $b:ident => $e:expr) => {
        match &$self.backend {
            Backend::Sqlite($b) => $e,
            Backend::Postgres($b) => $e,
        }
    };
}

// After the macro: textual scope makes `on_backend!` visible there.
mod monitoring;
mod webhooks;

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    principals: Arc<TtlCache<String, Principal>>,
    accounts: Arc<TtlCache<String, AccountRow>>,
    /// Connectors' sealed app-level webhook secrets (`None`: none set).
    webhook_secrets: Arc<TtlCache<String, Option<Vec<u8>>>>,
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Connects to the database `url` names (creating a SQLite file if needed) and applies that
    /// backend's migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, &DatabaseOptions::default()).await
    }

    /// [`Store::connect`] with a server database's connection settings.
    pub async fn connect_with(url: &str, options: &DatabaseOptions) -> Result<Self, StoreError> {
        let backend = if PgStore::accepts(url) {
            Backend::Postgres(PgStore::connect(url, options).await?)
        } else if SqliteStore::accepts(url) {
            Backend::Sqlite(SqliteStore::connect(url).await?)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        Ok(Self {
            backend,
            principals: Arc::new(TtlCache::new(DEFAULT_CACHE_TTL, 10_000)),
            accounts: Arc::new(TtlCache::new(DEFAULT_CACHE_TTL, 100_000)),
            webhook_secrets: Arc::new(TtlCache::new(DEFAULT_CACHE_TTL, 10_000)),
        })
    }

    /// Whether the database is a server that several hosts may share (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        on_backend!(self, b => b.ping().await)
    }

    // API tokens.

    /// Creates an API token that never expires and returns it (only its hash is stored).
    pub async fn create_token(&self, admin: bool, tenant_id: Option<&str>) -> Result<String, StoreError> {
        Ok(self.create_token_with(admin, tenant_id, None, None).await?.0)
    }

    /// Creates an API token, expiring at `expires_at` (epoch ms) and narrowed to `scope` if
    /// given: the token, and its record.
    pub async fn create_token_with(
        &self,
        admin: bool,
        tenant_id: Option<&str>,
        expires_at: Option<i64>,
        scope: Option<&str>,
    ) -> Result<(String, TokenRecord), StoreError> {
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = format!("pbt_{}", hex::encode(raw));
        let record = TokenRecord {
            id: uuid::Uuid::new_v4().to_string(),
            admin,
            tenant_id: tenant_id.map(str::to_owned),
            created_at: now_ms(),
            expires_at,
            scope: scope.map(str::to_owned),
        };
        on_backend!(self, b => b.insert_token(&record, &hash_token(&token)).await)?;
        Ok((token, record))
    }

    /// The principal of a token, if it exists and has not expired.
    pub async fn principal(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        let hash = hash_token(token);
        // Only known tokens are cached: random guesses must not fill memory.
        let principal = match self.principals.get(&hash) {
            Some(hit) => Some(hit),
            None => {
                let found = on_backend!(self, b => b.principal(&hash).await)?;
                if let Some(p) = &found {
                    self.principals.insert(hash, p.clone());
                }
                found
            }
        };
        Ok(principal.filter(|p| p.expires_at.is_none_or(|at| at > now_ms())))
    }

    /// Every API token, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        on_backend!(self, b => b.tokens().await)
    }

    /// Revokes an API token: refused by this host at once, by every other host when it applies
    /// the change (its change watcher's notification or poll; at most the cache TTL). False when
    /// there was no such token.
    pub async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let hash = on_backend!(self, b => b.revoke_token(id).await)?;
        if let Some(h) = &hash {
            self.principals.remove(h);
        }
        Ok(hash.is_some())
    }

    /// Drops a revoked token from this host's cache (another host revoked it).
    pub fn forget_token(&self, token_hash: &str) {
        self.principals.remove(&token_hash.to_owned());
    }

    // Integrated accounts.

    /// One account, read from the database.
    pub async fn account(&self, id: &str) -> Result<Option<AccountRow>, StoreError> {
        let account = on_backend!(self, b => b.account(id).await)?;
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
    pub async fn accounts(&self, filter: &AccountFilter) -> Result<Vec<AccountRow>, StoreError> {
        on_backend!(self, b => b.accounts(filter).await)
    }

    /// Inserts a new account in `connecting`, with its `created` event.
    pub async fn create_account(&self, account: &AccountRow, actor: &str) -> Result<(), StoreError> {
        check(None, AccountStatus::Connecting, AccountEvent::Created)?;
        on_backend!(self, b => b.create_account(account, actor).await)
    }

    /// Applies a transition, with its audit entry and outbox event, in one transaction; fails if
    /// the table forbids it ([`StoreError::Illegal`]) or the account's status changed since
    /// `t.account` was read ([`StoreError::Conflict`]).
    pub async fn transition(&self, t: &Transition<'_>) -> Result<(), StoreError> {
        check(Some(t.account.status), t.to, t.event)?;
        let done = on_backend!(self, b => b.transition(t).await);
        self.accounts.remove(&t.account.id);
        done?;
        emit!(
            INFO,
            ACCOUNT_TRANSITION,
            account = %t.account.id,
            from = t.account.status.as_str(),
            to = t.to.as_str(),
            event = t.event.as_str(),
            actor = t.actor
        );
        Ok(())
    }

    /// Replaces an account's `status_detail` without a transition (a retry failing the same way).
    pub async fn set_detail(&self, id: &str, detail: &StatusDetail) -> Result<(), StoreError> {
        let done = on_backend!(self, b => b.set_detail(id, detail).await);
        self.accounts.remove(&id.to_owned());
        done
    }

    /// Deletes an account, with its `deleted` event; false when it did not exist.
    pub async fn delete_account(&self, account: &AccountRow, actor: &str) -> Result<bool, StoreError> {
        self.accounts.remove(&account.id);
        let done = on_backend!(self, b => b.delete_account(account, actor).await);
        self.accounts.remove(&account.id);
        done
    }

    /// The audit log of an account, oldest first.
    pub async fn events(&self, account_id: &str) -> Result<Vec<AccountEventRecord>, StoreError> {
        on_backend!(self, b => b.events(account_id).await)
    }

    /// Undelivered outbox events, oldest first (the webhook delivery work consumes these).
    pub async fn outbox_pending(&self, limit: i64) -> Result<Vec<serde_json::Value>, StoreError> {
        on_backend!(self, b => b.outbox_pending(limit).await)
    }

    // OAuth tokens and refresh.

    /// Takes the refresh lease of an account for `ttl_ms` unless another owner holds a live one.
    pub async fn try_lease(&self, id: &str, owner: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        on_backend!(self, b => b.try_lease(id, owner, ttl_ms).await)
    }

    /// Releases the lease, if `owner` holds it (never someone else's).
    pub async fn release_lease(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        on_backend!(self, b => b.release_lease(id, owner).await)
    }

    /// Stores refreshed tokens (rotated refresh token included) and releases the lease, in one
    /// statement; false when `owner` no longer holds the lease (nothing is written then).
    pub async fn store_tokens(
        &self,
        id: &str,
        owner: &str,
        update: &TokenUpdate,
    ) -> Result<bool, StoreError> {
        let done = on_backend!(self, b => b.store_tokens(id, owner, update).await);
        self.accounts.remove(&id.to_owned());
        done
    }

    /// Records a transient refresh failure and when to try again; releases the lease.
    pub async fn refresh_failed(
        &self,
        id: &str,
        owner: &str,
        failing_since: i64,
        next_refresh_at: i64,
        detail: &StatusDetail,
    ) -> Result<(), StoreError> {
        let done =
            on_backend!(self, b => b.refresh_failed(id, owner, failing_since, next_refresh_at, detail).await);
        self.accounts.remove(&id.to_owned());
        done
    }

    /// Stops scheduled refreshes of an account (it has no refresh path).
    pub async fn clear_refresh_schedule(&self, id: &str) -> Result<(), StoreError> {
        let done = on_backend!(self, b => b.clear_refresh_schedule(id).await);
        self.accounts.remove(&id.to_owned());
        done
    }

    /// Active OAuth accounts whose scheduled refresh time has come.
    pub async fn due_for_refresh(&self, now: i64, limit: i64) -> Result<Vec<String>, StoreError> {
        on_backend!(self, b => b.due_for_refresh(now, limit).await)
    }

    /// Records that a token the database believed valid was rejected (`drift_ms` = expires_at - now).
    pub async fn record_drift(&self, id: &str, connector: &str, drift_ms: i64) -> Result<(), StoreError> {
        on_backend!(self, b => b.record_drift(id, connector, drift_ms).await)
    }

    /// Recorded drifts of an account, oldest first.
    pub async fn drifts(&self, id: &str) -> Result<Vec<i64>, StoreError> {
        on_backend!(self, b => b.drifts(id).await)
    }

    // OAuth apps and pending authorizations.

    /// Stores a connector's sealed OAuth app settings.
    pub async fn put_oauth_app(&self, connector: &str, sealed: &[u8]) -> Result<(), StoreError> {
        on_backend!(self, b => b.put_oauth_app(connector, sealed).await)
    }

    /// A connector's sealed OAuth app settings.
    pub async fn oauth_app(&self, connector: &str) -> Result<Option<Vec<u8>>, StoreError> {
        on_backend!(self, b => b.oauth_app(connector).await)
    }

    /// Records a pending authorization.
    pub async fn insert_oauth_state(&self, state: &OAuthStateRow) -> Result<(), StoreError> {
        on_backend!(self, b => b.insert_oauth_state(state).await)
    }

    /// Takes a pending authorization: it is deleted, so a `state` works once. Expired ones are
    /// returned too (the caller refuses them) and swept.
    pub async fn take_oauth_state(&self, state_hash: &str) -> Result<Option<OAuthStateRow>, StoreError> {
        on_backend!(self, b => b.take_oauth_state(state_hash).await)
    }

    // Sealed values as a whole.

    /// The sealed key check, if one was stored.
    pub async fn key_check(&self) -> Result<Option<Vec<u8>>, StoreError> {
        on_backend!(self, b => b.key_check().await)
    }

    /// Stores the key check unless one exists.
    pub async fn init_key_check(&self, sealed: &[u8]) -> Result<(), StoreError> {
        on_backend!(self, b => b.init_key_check(sealed).await)
    }

    /// Replaces every sealed value with `reseal(kind, row id, sealed)` in one transaction (all
    /// or none); the count re-sealed, or `reseal`'s first error (nothing changed then).
    pub async fn reseal_all<E>(&self, reseal: &Reseal<'_, E>) -> Result<Result<usize, E>, StoreError> {
        let done = on_backend!(self, b => b.reseal_all(reseal).await);
        self.accounts.clear();
        self.webhook_secrets.clear();
        done
    }

    // Changes other hosts made.

    /// The newest change's id (0: none yet).
    pub async fn last_change(&self) -> Result<i64, StoreError> {
        on_backend!(self, b => b.last_change().await)
    }

    /// Changes after `after`, oldest first.
    pub async fn changes_since(&self, after: i64, limit: i64) -> Result<Vec<Change>, StoreError> {
        on_backend!(self, b => b.changes_since(after, limit).await)
    }

    /// Forgets changes recorded before `before` (epoch ms).
    pub async fn prune_changes(&self, before: i64) -> Result<(), StoreError> {
        on_backend!(self, b => b.prune_changes(before).await)
    }

    /// Drops this host's cached copy of an account (another host changed it).
    pub fn forget_account(&self, id: &str) {
        self.accounts.remove(&id.to_owned());
    }

    /// Waits until another host may have logged a change: a PostgreSQL notification or `poll`,
    /// whichever comes first (SQLite: `poll`).
    pub async fn change_signal(&self, poll: Duration) {
        match &self.backend {
            Backend::Postgres(b) => b.change_signal(poll).await,
            Backend::Sqlite(_) => tokio::time::sleep(poll).await,
        }
    }

    // Connector revisions.

    /// Stores a new revision (unless the same content is already stored) and makes the revision
    /// with this content active when it is new, when `activate_existing`, or when the connector
    /// has no active revision. Returns it, and whether it was created.
    pub async fn store_connector_version(
        &self,
        new: NewVersion<'_>,
        activate_existing: bool,
    ) -> Result<(ConnectorVersion, bool), StoreError> {
        on_backend!(self, b => b.store_connector_version(new, activate_existing).await)
    }

    /// Makes a stored revision active.
    pub async fn activate_connector(
        &self,
        name: &str,
        revision: i64,
    ) -> Result<Option<ConnectorVersion>, StoreError> {
        on_backend!(self, b => b.activate_connector(name, revision).await)
    }

    /// The active revision of every connector, with its component's bytes.
    pub async fn active_connectors(&self) -> Result<Vec<ConnectorVersion>, StoreError> {
        on_backend!(self, b => b.active_connectors().await)
    }

    /// Every revision of a connector, newest first, and the active revision.
    pub async fn connector_versions(
        &self,
        name: &str,
    ) -> Result<(Vec<ConnectorVersion>, Option<i64>), StoreError> {
        on_backend!(self, b => b.connector_versions(name).await)
    }
}
