//! OAuth token refresh: before calls whose token is about to expire, on a schedule ahead of
//! expiry, after a vendor 401, and on an operator's request.
//!
//! One refresh per account at a time: callers in this process queue on a per-account mutex, and a
//! lease row in the database (owner + expiry, released only by its owner) keeps other host
//! processes out. Whoever gets both re-reads the account first, because someone may just have
//! refreshed it — so a rotating refresh token is never used twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use patchbay_engine::manifest::OAuth2Grant;
use serde_json::Value;

use super::apps::{AppError, OAuthApps};
use super::client::{OAuthClient, TokenError, TokenSet};
use super::times::{backoff_ms, fresh_enough, issued};
use crate::accounts::detail::{Phase, StatusDetail};
use crate::accounts::model::{AccountRow, AccountStatus};
use crate::accounts::state_machine::{AccountEvent, Transition};
use crate::clock::now_ms;
use crate::config::RefreshConfig;
use crate::connectors::Registry;
use crate::secrets::{Secrets, SecretsError};
use crate::store::{Store, StoreError, TokenUpdate};
use crate::telemetry::events::{
    OAUTH_APP_UNREADABLE, OAUTH_NEEDS_REAUTH, OAUTH_REFRESH_SETUP_ERROR, OAUTH_REFRESH_TRANSIENT_FAILURE,
    OAUTH_REFRESHED,
};
use crate::telemetry::metrics::RefreshTrigger;
use crate::telemetry::{Metrics, emit};

/// Why a refresh is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Before a call: refresh only if the token expires within the buffer.
    Expiring,
    /// The scheduler: refresh only if the scheduled time has come.
    Due,
    /// The operator: always.
    Force,
    /// A vendor 401 on a token obtained at this time (epoch ms): refresh unless someone already
    /// did since, or a failing token endpoint is backing off.
    Rejected(Option<i64>),
}

/// Why a refresh did not produce a usable token.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The connector's accounts hold no OAuth tokens.
    #[error("no refresh path: connector {0} does not use OAuth2")]
    NotOAuth(String),
    /// The provider issued no refresh token (authorization code without `offline` access).
    #[error("no refresh path: the provider issued no refresh token")]
    NoRefreshToken,
    /// There is no usable OAuth app (the operator's fix; the account is left alone).
    #[error("OAuth setup: {0}")]
    App(#[from] AppError),
    /// The provider refuses the app (`invalid_client`, …; the operator's fix).
    #[error("OAuth setup: {}", .0.message())]
    Setup(TokenError),
    /// The grant is dead; the account is now `needs_reauth`.
    #[error("{}", .0.message())]
    Grant(TokenError),
    /// The token endpoint kept failing for the whole failure window; the account is now
    /// `needs_reauth`.
    #[error("refresh failing for {seconds} s: {}", .last.message())]
    WindowClosed {
        /// How long it failed.
        seconds: i64,
        /// The last failure.
        last: TokenError,
    },
    /// The token endpoint failed; retried later.
    #[error("{}", .0.message())]
    Unavailable(TokenError),
    /// Another host process is refreshing and did not finish within the lease.
    #[error("another host holds the refresh lease")]
    LeaseBusy,
    /// The lease ended before the new tokens were stored (they were not).
    #[error("lost the refresh lease before storing tokens")]
    LostLease,
    /// The account does not exist (any more).
    #[error("no account {0}")]
    NoAccount(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The credentials do not open.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// What a refresh failure means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshClass {
    /// Nothing can refresh this account's token.
    NoRefreshPath,
    /// The OAuth app or provider settings are wrong.
    Setup,
    /// The grant is dead: the account is `needs_reauth`.
    Permanent,
    /// Worth another try later.
    Transient,
    /// The host failed.
    Internal,
}

impl RefreshError {
    /// What the failure means.
    pub fn class(&self) -> RefreshClass {
        match self {
            Self::NotOAuth(_) | Self::NoRefreshToken => RefreshClass::NoRefreshPath,
            Self::App(_) | Self::Setup(_) => RefreshClass::Setup,
            Self::Grant(_) | Self::WindowClosed { .. } => RefreshClass::Permanent,
            Self::Unavailable(_) | Self::LeaseBusy => RefreshClass::Transient,
            Self::LostLease | Self::NoAccount(_) | Self::Store(_) | Self::Secrets(_) => {
                RefreshClass::Internal
            }
        }
    }
}

impl RefreshError {
    /// The `outcome` label of `patchbay_token_refreshes_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Grant(_) => "invalid_grant",
            Self::WindowClosed { .. } => "failure_window_closed",
            Self::Unavailable(_) => "transient_error",
            Self::App(_) | Self::Setup(_) => "setup_error",
            Self::NotOAuth(_) | Self::NoRefreshToken => "no_refresh_path",
            Self::LeaseBusy => "lease_busy",
            Self::LostLease | Self::NoAccount(_) | Self::Store(_) | Self::Secrets(_) => "internal_error",
        }
    }
}

impl Reason {
    /// The `trigger` label of `patchbay_token_refreshes_total`.
    pub fn trigger(self) -> RefreshTrigger {
        match self {
            Self::Expiring => RefreshTrigger::PreCall,
            Self::Due => RefreshTrigger::Scheduled,
            Self::Force => RefreshTrigger::Manual,
            Self::Rejected(_) => RefreshTrigger::On401,
        }
    }
}

/// Token refresh of one host process.
#[derive(Debug)]
pub struct Refresher {
    store: Store,
    registry: Arc<Registry>,
    secrets: Secrets,
    apps: OAuthApps,
    http: reqwest::Client,
    config: RefreshConfig,
    /// How long one token request may take (the lease outlives it).
    request_timeout: Duration,
    /// Lease owner name of this process.
    owner: String,
    metrics: Arc<Metrics>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Refresher {
    /// A refresher with a unique lease owner name. `http` sends token requests (no redirects,
    /// `request_timeout`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        secrets: Secrets,
        apps: OAuthApps,
        http: reqwest::Client,
        config: RefreshConfig,
        request_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            registry,
            secrets,
            apps,
            http,
            config,
            request_timeout,
            owner: format!("host-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            metrics,
            locks: Mutex::default(),
        }
    }

    /// Lease owner name of this process.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The refresh settings.
    pub fn config(&self) -> &RefreshConfig {
        &self.config
    }

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.len() > 10_000 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(id.to_owned()).or_default().clone()
    }

    async fn read(&self, id: &str) -> Result<AccountRow, RefreshError> {
        self.store
            .account(id)
            .await?
            .ok_or_else(|| RefreshError::NoAccount(id.to_owned()))
    }

    /// Refreshes an account's token if `reason` calls for it; returns the account as it is after.
    pub async fn refresh(&self, id: &str, reason: Reason, actor: &str) -> Result<AccountRow, RefreshError> {
        let lock = self.lock_for(id);
        let _single_flight = lock.lock().await;
        let config = &self.config;
        // A failing token endpoint is left alone until its backoff ends (no refresh storm).
        let backing_off = |a: &AccountRow| {
            a.refresh_failing_since.is_some() && a.next_refresh_at.is_some_and(|t| t > now_ms())
        };
        let needed = |a: &AccountRow| match reason {
            Reason::Expiring => !fresh_enough(config, a, now_ms()) && !backing_off(a),
            Reason::Due => {
                a.status == AccountStatus::Active && a.next_refresh_at.is_some_and(|t| t <= now_ms())
            }
            Reason::Force => true,
            Reason::Rejected(seen) => {
                !backing_off(a) && a.token_obtained_at.is_none_or(|o| seen.is_none_or(|s| o <= s))
            }
        };
        let account = self.read(id).await?;
        if !needed(&account) {
            return Ok(account);
        }
        let result = self
            .refresh_needed(id, &account.connector, reason, actor, &needed)
            .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.outcome(),
        };
        self.metrics
            .refresh(&account.connector, reason.trigger(), outcome);
        result
    }

    /// Takes the lease (or waits for another process's refresh) and refreshes.
    async fn refresh_needed(
        &self,
        id: &str,
        connector: &str,
        reason: Reason,
        actor: &str,
        needed: &impl Fn(&AccountRow) -> bool,
    ) -> Result<AccountRow, RefreshError> {
        let config = &self.config;
        // The lease: wait for another process's refresh rather than racing it.
        // The lease outlives the token request, so nobody else can use the refresh token meanwhile.
        let lease = config.lease.max(self.request_timeout + Duration::from_secs(10));
        let deadline = tokio::time::Instant::now() + lease;
        let mut waited = false;
        loop {
            if self
                .store
                .try_lease(id, &self.owner, lease.as_millis() as i64)
                .await?
            {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RefreshError::LeaseBusy);
            }
            if !waited {
                waited = true;
                self.metrics.lease_wait(connector);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.read(id).await?;
            if !needed(&now) {
                return Ok(now);
            }
        }
        let result = self.refresh_leased(id, actor, needed).await;
        if reason == Reason::Due && matches!(result, Err(ref e) if e.class() == RefreshClass::NoRefreshPath) {
            // Nothing the scheduler can do for this account: stop picking it up.
            let _ = self.store.clear_refresh_schedule(id).await;
        }
        // Normally released by the write that stored the outcome; this covers early returns.
        let _ = self.store.release_lease(id, &self.owner).await;
        result
    }

    async fn refresh_leased(
        &self,
        id: &str,
        actor: &str,
        needed: &impl Fn(&AccountRow) -> bool,
    ) -> Result<AccountRow, RefreshError> {
        // Someone may have refreshed between our first read and the lease.
        let account = self.read(id).await?;
        if !needed(&account) {
            return Ok(account);
        }
        let live = self
            .registry
            .get(&account.connector)
            .filter(|c| c.account_oauth2(account.auth_method.as_deref()).is_some())
            .ok_or_else(|| RefreshError::NotOAuth(account.connector.clone()))?;
        let method = live.connector.account_auth(account.auth_method.as_deref());
        let provider = method.oauth2().expect("filtered on OAuth2");
        let credentials = self.secrets.open_credentials(&account.id, &account.credentials)?;
        let app = self
            .apps
            .for_account(&account.connector, &credentials)
            .await
            .inspect_err(|e| {
                if e.is_internal() {
                    emit!(ERROR, OAUTH_APP_UNREADABLE, account = %account.id, error = ?e);
                }
            })?;
        let client = OAuthClient::new(provider, &app, &self.http).with_context(&account.context);
        let refresh_token = credentials["refresh_token"].as_str().map(str::to_owned);
        let result = match (provider.grant, refresh_token) {
            (_, Some(rt)) => client.refresh(&rt).await,
            (OAuth2Grant::ClientCredentials, None) => client.client_credentials().await,
            (OAuth2Grant::AuthorizationCode, None) => return Err(RefreshError::NoRefreshToken),
        };
        match result {
            Ok(tokens) => {
                let context = tokens.context_update(method, &account.context);
                self.store_success(&account, credentials, tokens, context, actor)
                    .await
            }
            Err(e @ TokenError::Permanent(_)) => {
                self.to_needs_reauth(&account, e.message(), actor).await?;
                Err(RefreshError::Grant(e))
            }
            Err(e @ TokenError::Setup(_)) => {
                // The app, not the grant, is wrong: back off and keep the account as it is.
                self.failed(
                    &account,
                    StatusDetail::new(Phase::Refresh, "oauth_app", e.message()),
                )
                .await?;
                emit!(ERROR, OAUTH_REFRESH_SETUP_ERROR, account = %account.id, message = e.message());
                Err(RefreshError::Setup(e))
            }
            Err(e @ TokenError::Transient(_)) => {
                let now = now_ms();
                let since = account.refresh_failing_since.unwrap_or(now);
                if now - since >= self.config.failure_window.as_millis() as i64 {
                    let closed = RefreshError::WindowClosed {
                        seconds: (now - since) / 1000,
                        last: e,
                    };
                    self.to_needs_reauth(&account, &closed.to_string(), actor).await?;
                    return Err(closed);
                }
                let backoff = self
                    .failed(&account, StatusDetail::new(Phase::Refresh, "token", e.message()))
                    .await?;
                emit!(WARN, OAUTH_REFRESH_TRANSIENT_FAILURE, account = %account.id, message = e.message(), backoff_ms = backoff);
                Err(RefreshError::Unavailable(e))
            }
        }
    }

    /// Records a failure that is retried after a backoff; returns the backoff (ms).
    async fn failed(&self, account: &AccountRow, detail: StatusDetail) -> Result<i64, RefreshError> {
        let now = detail.at;
        let backoff = backoff_ms(&self.config, account.refresh_failures);
        let since = account.refresh_failing_since.unwrap_or(now);
        self.store
            .refresh_failed(
                &account.id,
                &self.owner,
                since,
                now + backoff,
                &detail.transient(),
            )
            .await?;
        Ok(backoff)
    }

    async fn store_success(
        &self,
        account: &AccountRow,
        mut credentials: Value,
        tokens: TokenSet,
        context: Option<Value>,
        actor: &str,
    ) -> Result<AccountRow, RefreshError> {
        let now = now_ms();
        tokens.write_into(&mut credentials);
        let times = issued(now, &tokens, true);
        let sealed = self.secrets.seal_credentials(&account.id, &credentials);
        if account.status == AccountStatus::NeedsReauth {
            let mut t = Transition::new(account, AccountStatus::Active, AccountEvent::Reactivated, actor);
            t.credentials = Some(sealed);
            t.tokens = Some(times);
            t.context = context;
            self.store.transition(&t).await?;
        } else {
            let update = TokenUpdate {
                credentials: sealed,
                obtained_at: now,
                expires_at: times.expires_at,
                next_refresh_at: times.next_refresh_at,
                context,
            };
            if !self.store.store_tokens(&account.id, &self.owner, &update).await? {
                return Err(RefreshError::LostLease);
            }
        }
        emit!(INFO, OAUTH_REFRESHED, account = %account.id, expires_in = ?times.expires_at.map(|e| (e - now) / 1000));
        self.read(&account.id).await
    }

    async fn to_needs_reauth(
        &self,
        account: &AccountRow,
        message: &str,
        actor: &str,
    ) -> Result<(), RefreshError> {
        emit!(WARN, OAUTH_NEEDS_REAUTH, account = %account.id, %message);
        if account.status != AccountStatus::Active {
            return Ok(());
        }
        let t = Transition::new(
            account,
            AccountStatus::NeedsReauth,
            AccountEvent::NeedsReauth,
            actor,
        )
        .with_detail(StatusDetail::new(Phase::Refresh, "token", message));
        Ok(self.store.transition(&t).await?)
    }
}
