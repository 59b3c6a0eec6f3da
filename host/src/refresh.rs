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

use patchbay_engine::manifest::{Auth, OAuth2Grant};
use rand::Rng;
use serde_json::{Value, json};

use crate::config::RefreshConfig;
use crate::lifecycle::AccountEvent;
use crate::oauth::{OAuthClient, TokenError, TokenSet};
use crate::server::AppState;
use crate::store::{AccountRow, AccountStatus, TokenUpdate, Transition, now_ms};

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
#[derive(Debug, Clone, thiserror::Error)]
pub enum RefreshError {
    /// The account has no way to refresh (not OAuth, or no refresh token).
    #[error("no refresh path: {0}")]
    NoRefreshPath(String),
    /// The OAuth app or provider settings are wrong (operator's fix; accounts are left alone).
    #[error("OAuth setup: {0}")]
    Setup(String),
    /// The grant is dead; the account is now `needs_reauth`.
    #[error("{0}")]
    Permanent(String),
    /// The token endpoint failed; retried later.
    #[error("{0}")]
    Transient(String),
    /// The host failed.
    #[error("{0}")]
    Internal(String),
}

/// When a token obtained at `obtained` and expiring at `expires` should be refreshed: at a random
/// point 60–180 s before expiry, or for short lifetimes between 50% and 75% of the lifetime.
pub fn schedule(obtained: i64, expires: i64) -> i64 {
    let lifetime = (expires - obtained).max(0);
    let mut rng = rand::thread_rng();
    if lifetime >= 240_000 {
        expires - rng.gen_range(60_000..=180_000)
    } else {
        obtained + lifetime / 2 + rng.gen_range(0..=lifetime / 4)
    }
}

/// The refresh-ahead buffer for a token: 30 s, or a quarter of a shorter lifetime.
pub fn buffer_ms(config: &RefreshConfig, obtained: Option<i64>, expires: i64) -> i64 {
    let buffer = config.buffer.as_millis() as i64;
    match obtained {
        Some(o) => buffer.min((expires - o) / 4),
        None => buffer,
    }
}

/// When a token of lifetime `expires_in` seconds obtained at `now` expires (bounded: a provider's
/// absurd lifetime must not overflow).
pub fn expires_at(now: i64, expires_in: u64) -> i64 {
    const TEN_YEARS_S: u64 = 10 * 365 * 86_400;
    now.saturating_add(expires_in.min(TEN_YEARS_S) as i64 * 1000)
}

/// Whether an account's token is still good for `buffer`.
pub fn fresh_enough(config: &RefreshConfig, a: &AccountRow, now: i64) -> bool {
    match a.token_expires_at {
        None => true,
        Some(exp) => exp - now > buffer_ms(config, a.token_obtained_at, exp),
    }
}

/// Whether the connector's accounts hold OAuth tokens.
pub fn oauth_settings(state: &AppState, connector: &str) -> Option<patchbay_engine::manifest::OAuth2> {
    match &state.registry.get(connector)?.manifest.auth {
        Auth::Oauth2(o) => Some(o.clone()),
        _ => None,
    }
}

/// Refresh coordination of one host process.
#[derive(Debug)]
pub struct Refresher {
    /// Lease owner name of this process.
    pub owner: String,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Default for Refresher {
    fn default() -> Self {
        Self::new()
    }
}

impl Refresher {
    /// A refresher with a unique owner name.
    pub fn new() -> Self {
        Self {
            owner: format!("host-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            locks: Mutex::default(),
        }
    }

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.len() > 10_000 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(id.to_owned()).or_default().clone()
    }

    /// Refreshes an account's token if `reason` calls for it; returns the account as it is after.
    pub async fn refresh(
        &self,
        state: &AppState,
        id: &str,
        reason: Reason,
        actor: &str,
    ) -> Result<AccountRow, RefreshError> {
        let lock = self.lock_for(id);
        let _single_flight = lock.lock().await;
        let config = &state.config.refresh;
        let read = || async {
            state
                .store
                .account(id)
                .await
                .map_err(|e| RefreshError::Internal(e.to_string()))?
                .ok_or_else(|| RefreshError::Internal(format!("no account {id}")))
        };
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
        let account = read().await?;
        if !needed(&account) {
            return Ok(account);
        }
        // The lease: wait for another process's refresh rather than racing it.
        // The lease outlives the token request, so nobody else can use the refresh token meanwhile.
        let lease = config
            .lease
            .max(state.config.upstream_timeout + Duration::from_secs(10));
        let deadline = tokio::time::Instant::now() + lease;
        loop {
            match state
                .store
                .try_lease(id, &self.owner, lease.as_millis() as i64)
                .await
            {
                Ok(true) => break,
                Ok(false) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let now = read().await?;
                    if !needed(&now) {
                        return Ok(now);
                    }
                }
                Ok(false) => {
                    return Err(RefreshError::Transient(
                        "another host holds the refresh lease".into(),
                    ));
                }
                Err(e) => return Err(RefreshError::Internal(e.to_string())),
            }
        }
        let result = self.refresh_leased(state, actor, &needed, &read).await;
        if reason == Reason::Due && matches!(result, Err(RefreshError::NoRefreshPath(_))) {
            // Nothing the scheduler can do for this account: stop picking it up.
            let _ = state.store.clear_refresh_schedule(id).await;
        }
        // Normally released by the write that stored the outcome; this covers early returns.
        let _ = state.store.release_lease(id, &self.owner).await;
        result
    }

    async fn refresh_leased<F, Fut>(
        &self,
        state: &AppState,
        actor: &str,
        needed: &impl Fn(&AccountRow) -> bool,
        read: &F,
    ) -> Result<AccountRow, RefreshError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<AccountRow, RefreshError>>,
    {
        // Someone may have refreshed between our first read and the lease.
        let account = read().await?;
        if !needed(&account) {
            return Ok(account);
        }
        let provider = oauth_settings(state, &account.connector).ok_or_else(|| {
            RefreshError::NoRefreshPath(format!("connector {} does not use OAuth2", account.connector))
        })?;
        let credentials = state
            .open_credentials(&account)
            .map_err(|e| RefreshError::Internal(e.message.clone()))?;
        let app = state
            .oauth_app_for(&account.connector, &credentials)
            .await
            .map_err(|e| RefreshError::Setup(e.message.clone()))?;
        let client = OAuthClient {
            provider: &provider,
            app: &app,
            http: &state.oauth_http,
        };
        let refresh_token = credentials["refresh_token"].as_str().map(str::to_owned);
        let result = match (provider.grant, refresh_token) {
            (_, Some(rt)) => client.refresh(&rt).await,
            (OAuth2Grant::ClientCredentials, None) => client.client_credentials().await,
            (OAuth2Grant::AuthorizationCode, None) => {
                return Err(RefreshError::NoRefreshPath(
                    "the provider issued no refresh token".into(),
                ));
            }
        };
        match result {
            Ok(tokens) => {
                self.store_success(state, &account, credentials, tokens, actor)
                    .await
            }
            Err(TokenError::Permanent(message)) => {
                self.to_needs_reauth(state, &account, &message, actor).await?;
                Err(RefreshError::Permanent(message))
            }
            Err(TokenError::Setup(message)) => {
                // The app, not the grant, is wrong: back off and keep the account as it is.
                let now = now_ms();
                let backoff = backoff_ms(&state.config.refresh, account.refresh_failures);
                let detail = json!({"phase": "refresh", "step": "oauth_app", "message": message, "at": now, "transient": true});
                let since = account.refresh_failing_since.unwrap_or(now);
                state
                    .store
                    .refresh_failed(&account.id, &self.owner, since, now + backoff, &detail)
                    .await
                    .map_err(|e| RefreshError::Internal(e.to_string()))?;
                tracing::error!(account = %account.id, %message, "patchbay.refresh.setup_error");
                Err(RefreshError::Setup(message))
            }
            Err(TokenError::Transient(message)) => {
                let now = now_ms();
                let since = account.refresh_failing_since.unwrap_or(now);
                if now - since >= state.config.refresh.failure_window.as_millis() as i64 {
                    let message = format!("refresh failing for {} s: {message}", (now - since) / 1000);
                    self.to_needs_reauth(state, &account, &message, actor).await?;
                    return Err(RefreshError::Permanent(message));
                }
                let backoff = backoff_ms(&state.config.refresh, account.refresh_failures);
                let detail = json!({"phase": "refresh", "step": "token", "message": message, "at": now, "transient": true});
                state
                    .store
                    .refresh_failed(&account.id, &self.owner, since, now + backoff, &detail)
                    .await
                    .map_err(|e| RefreshError::Internal(e.to_string()))?;
                tracing::warn!(account = %account.id, %message, backoff_ms = backoff, "patchbay.refresh.transient_failure");
                Err(RefreshError::Transient(message))
            }
        }
    }

    async fn store_success(
        &self,
        state: &AppState,
        account: &AccountRow,
        mut credentials: Value,
        tokens: TokenSet,
        actor: &str,
    ) -> Result<AccountRow, RefreshError> {
        let now = now_ms();
        credentials["access_token"] = json!(tokens.access_token);
        if let Some(rt) = tokens.refresh_token {
            credentials["refresh_token"] = json!(rt);
        }
        let expires = tokens.expires_in.map(|s| expires_at(now, s));
        let next = expires.map(|e| schedule(now, e));
        let sealed = state
            .secrets
            .seal(credentials.to_string().as_bytes(), account.id.as_bytes());
        if account.status == AccountStatus::NeedsReauth {
            let mut t = Transition::new(account, AccountStatus::Active, AccountEvent::Reactivated, actor);
            t.credentials = Some(sealed);
            t.tokens = Some((Some(now), expires, next));
            state
                .store
                .transition(&t)
                .await
                .map_err(|e| RefreshError::Internal(e.to_string()))?;
        } else {
            let update = TokenUpdate {
                credentials: sealed,
                obtained_at: now,
                expires_at: expires,
                next_refresh_at: next,
            };
            let stored = state
                .store
                .store_tokens(&account.id, &self.owner, &update)
                .await
                .map_err(|e| RefreshError::Internal(e.to_string()))?;
            if !stored {
                return Err(RefreshError::Internal(
                    "lost the refresh lease before storing tokens".into(),
                ));
            }
        }
        tracing::info!(account = %account.id, expires_in = ?expires.map(|e| (e - now) / 1000), "patchbay.refresh.refreshed");
        state
            .store
            .account(&account.id)
            .await
            .map_err(|e| RefreshError::Internal(e.to_string()))?
            .ok_or_else(|| RefreshError::Internal("account vanished".into()))
    }

    async fn to_needs_reauth(
        &self,
        state: &AppState,
        account: &AccountRow,
        message: &str,
        actor: &str,
    ) -> Result<(), RefreshError> {
        tracing::warn!(account = %account.id, %message, "patchbay.refresh.needs_reauth");
        if account.status != AccountStatus::Active {
            return Ok(());
        }
        let mut t = Transition::new(
            account,
            AccountStatus::NeedsReauth,
            AccountEvent::NeedsReauth,
            actor,
        );
        t.detail = Some(json!({"phase": "refresh", "step": "token", "message": message, "at": now_ms()}));
        state
            .store
            .transition(&t)
            .await
            .map_err(|e| RefreshError::Internal(e.to_string()))
    }
}

/// Exponential backoff with jitter for transient refresh failures.
pub fn backoff_ms(config: &RefreshConfig, failures: i64) -> i64 {
    let base = config.backoff_base.as_millis() as i64;
    let max = config.backoff_max.as_millis() as i64;
    let exp = base.saturating_mul(1i64 << failures.clamp(0, 20)).min(max);
    rand::thread_rng().gen_range(exp / 2..=exp.max(1))
}

/// The background scheduler: refreshes tokens whose scheduled time has come, a few at a time.
pub async fn run_scheduler(state: Arc<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let limit = Arc::new(tokio::sync::Semaphore::new(state.config.refresh.concurrency));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(state.config.refresh.tick) => {}
            _ = stop.changed() => return,
        }
        let due = match state.store.due_for_refresh(now_ms(), 100).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "patchbay.refresh.scheduler");
                continue;
            }
        };
        for id in due {
            let Ok(permit) = limit.clone().acquire_owned().await else {
                return;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(e) = state
                    .refresher
                    .refresh(&state, &id, Reason::Due, "scheduler")
                    .await
                {
                    tracing::debug!(account = %id, error = %e, "patchbay.refresh.scheduled_failed");
                }
            });
        }
    }
}
