//! The account operations of the API: create (key-based or client credentials), reconnect with
//! new credentials or context, retry, operator refresh, read, list, audit log, delete. Each
//! checks what the caller may do and leaves the account in a state of the state machine.

use std::sync::Arc;
use std::time::Duration;

use patchbay_engine::auth::CompiledAuthMethod;
use patchbay_engine::manifest::OAuth2Grant;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::AccountsError;
use super::install::Installer;
use super::lookup::{reload, visible_account};
use super::model::{AccountFilter, AccountRow, AccountStatus};
use super::principal::Principal;
use super::state_machine::{AccountEvent, Transition};
use crate::clock::now_ms;
use crate::connectors::Registry;
use crate::oauth::apps::{AppError, OAuthApps};
use crate::oauth::client::{OAuthClient, TokenError};
use crate::oauth::refresh::{Reason, Refresher};
use crate::oauth::times::issued;
use crate::secrets::Secrets;
use crate::store::{AccountEventRecord, Store, StoreError, TokenUpdate};
use crate::telemetry::emit;
use crate::telemetry::events::{ACCOUNT_CREATE, ACCOUNT_DELETE, OAUTH_APP_UNREADABLE};

/// `POST /integrated-accounts`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// Connector name.
    pub connector: String,
    /// Tenant (default: the token's).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Credentials (sealed at once).
    pub credentials: Map<String, Value>,
    /// Non-secret context.
    #[serde(default)]
    pub context: Map<String, Value>,
    /// Base URL override (admin tokens only).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The manifest auth method (default: the first that needs no browser).
    #[serde(default)]
    pub auth_method: Option<String>,
}

/// `PATCH /integrated-accounts/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccount {
    /// New credentials (key-based and client-credentials accounts).
    #[serde(default)]
    pub credentials: Option<Map<String, Value>>,
    /// Context entries to set.
    #[serde(default)]
    pub context: Option<Map<String, Value>>,
}

/// Why the first client-credentials token of an account could not be had.
#[derive(Debug, thiserror::Error)]
enum FirstTokenError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Accounts(#[from] AccountsError),
}

/// Integrated accounts.
#[derive(Debug)]
pub struct Accounts {
    store: Store,
    registry: Arc<Registry>,
    installer: Installer,
    refresher: Arc<Refresher>,
    apps: OAuthApps,
    secrets: Secrets,
    /// Token endpoint client (no redirects).
    oauth_http: reqwest::Client,
    /// An account `connecting` for longer than this may be retried.
    stuck_connecting_after: Duration,
}

impl Accounts {
    /// The account operations over these handles.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        installer: Installer,
        refresher: Arc<Refresher>,
        apps: OAuthApps,
        secrets: Secrets,
        oauth_http: reqwest::Client,
        stuck_connecting_after: Duration,
    ) -> Self {
        Self {
            store,
            registry,
            installer,
            refresher,
            apps,
            secrets,
            oauth_http,
            stuck_connecting_after,
        }
    }

    /// Creates an account and connects it (first token, post-install, validation); the account
    /// comes back in the state that reached.
    pub async fn create(
        &self,
        principal: &Principal,
        req: CreateAccount,
    ) -> Result<AccountRow, AccountsError> {
        let tenant_id = match (&principal.tenant_id, req.tenant_id) {
            (_, Some(t)) if !principal.can_see(&t) => {
                return Err(AccountsError::Forbidden(
                    "a tenant token can only create accounts of its own tenant".into(),
                ));
            }
            (_, Some(t)) => t,
            (Some(own), None) => own.clone(),
            (None, None) => return Err(AccountsError::Invalid("tenant_id is required".into())),
        };
        if tenant_id.is_empty() || tenant_id.len() > 200 {
            return Err(AccountsError::Invalid(
                "tenant_id must be 1 to 200 characters".into(),
            ));
        }
        let connector = self
            .registry
            .get(&req.connector)
            .ok_or_else(|| AccountsError::UnknownConnector(req.connector.clone()))?;
        if let Some(base) = &req.base_url {
            if !principal.admin {
                return Err(AccountsError::Forbidden(
                    "only admin tokens may override base_url".into(),
                ));
            }
            let ok = url::Url::parse(base)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(AccountsError::Invalid(
                    "base_url must be an absolute http(s) URL".into(),
                ));
            }
        }
        let engine = &connector.connector;
        let method = match &req.auth_method {
            Some(name) => engine.auth_method(name).ok_or_else(|| {
                let names: Vec<&str> = engine.auth_methods().iter().map(|m| m.name()).collect();
                AccountsError::Invalid(format!(
                    "connector {:?} has no auth method {name:?} (it has {})",
                    req.connector,
                    names.join(", ")
                ))
            })?,
            None => engine.account_auth(None),
        };
        // An admin may import tokens obtained elsewhere (a migration, a test); everyone else
        // connects browser methods through the provider.
        let imported = principal.admin && req.credentials.contains_key("access_token");
        if method.spec.is_authorization_code() && !imported {
            return Err(AccountsError::Invalid(format!(
                "auth method {:?} of connector {:?} uses the OAuth2 authorization code flow: start it with POST /connect/{}",
                method.name(),
                req.connector,
                req.connector
            )));
        }
        let id = AccountRow::new_id();
        let credentials = Value::Object(req.credentials);
        let context = Value::Object(req.context);
        // The account must be able to reach its vendor: the base URL's placeholders need context.
        engine
            .base_url(&patchbay_engine::Account {
                credentials: &credentials,
                context: &context,
                base_url: req.base_url.as_deref(),
                auth_method: Some(method.name()),
            })
            .map_err(|e| AccountsError::Invalid(format!("account cannot reach the vendor: {e}")))?;
        let client_credentials = method
            .oauth2()
            .is_some_and(|o| o.grant == OAuth2Grant::ClientCredentials);
        let sealed = self.secrets.seal_credentials(&id, &credentials);
        let row = AccountRow::new(
            id,
            req.connector.clone(),
            tenant_id,
            sealed,
            context,
            req.base_url,
        )
        .with_auth_method(Some(method.name().to_owned()));
        let actor = principal.actor();
        self.store.create_account(&row, &actor).await?;
        emit!(INFO, ACCOUNT_CREATE, account = %row.id, connector = %row.connector, tenant = %row.tenant_id);
        match client_credentials {
            // Client credentials: the first token is part of connecting.
            true => match self.first_token(&row, method, credentials).await {
                Ok(row) => self.installer.install(row, &actor, false).await,
                Err(e) => {
                    self.installer
                        .fail_connect(&row, "token", e.to_string(), &actor)
                        .await
                }
            },
            false => self.installer.install(row, &actor, false).await,
        }
    }

    /// Gets a client-credentials token for an account and stores it (status unchanged).
    async fn first_token(
        &self,
        row: &AccountRow,
        method: &CompiledAuthMethod,
        mut credentials: Value,
    ) -> Result<AccountRow, FirstTokenError> {
        let provider = method
            .oauth2()
            .ok_or_else(|| AccountsError::Invalid("the auth method is not OAuth2".into()))?;
        let app = self
            .apps
            .for_account(&row.connector, &credentials)
            .await
            .inspect_err(|e| {
                if e.is_internal() {
                    emit!(ERROR, OAUTH_APP_UNREADABLE, account = %row.id, error = ?e);
                }
            })?;
        let tokens = OAuthClient::new(provider, &app, &self.oauth_http)
            .with_context(&row.context)
            .client_credentials()
            .await?;
        tokens.write_into(&mut credentials);
        let now = now_ms();
        let times = issued(now, &tokens, true);
        let update = TokenUpdate {
            credentials: self.secrets.seal_credentials(&row.id, &credentials),
            obtained_at: now,
            expires_at: times.expires_at,
            next_refresh_at: times.next_refresh_at,
            context: tokens.context_update(method, &row.context),
        };
        let owner = self.refresher.owner();
        self.store.try_lease(&row.id, owner, 30_000).await?;
        self.store.store_tokens(&row.id, owner, &update).await?;
        Ok(reload(&self.store, &row.id).await?)
    }

    /// New credentials (key-based accounts) and/or context: the account reconnects (`:updated`,
    /// then post-install and validation again).
    pub async fn update(
        &self,
        principal: &Principal,
        id: &str,
        req: UpdateAccount,
    ) -> Result<AccountRow, AccountsError> {
        let account = visible_account(&self.store, principal, id, false).await?;
        // Reconnecting is the caller's request: without its connector it cannot be served.
        let connector = self.registry.get(&account.connector).ok_or_else(|| {
            AccountsError::Invalid(format!("connector {:?} is not loaded", account.connector))
        })?;
        let method = connector.connector.account_auth(account.auth_method.as_deref());
        let grant = method.oauth2().map(|o| o.grant);
        if grant == Some(OAuth2Grant::AuthorizationCode) && req.credentials.is_some() {
            return Err(AccountsError::Invalid(format!(
                "reconnect OAuth accounts with POST /connect/{} and integrated_account_id",
                account.connector
            )));
        }
        if account.status == AccountStatus::Connecting {
            return Err(AccountsError::State(
                "the account is connecting; try again when it has settled".into(),
            ));
        }
        let actor = principal.actor();
        let reactivating = account.status == AccountStatus::NeedsReauth;
        let mut t = Transition::new(&account, AccountStatus::Connecting, AccountEvent::Updated, &actor);
        t.credentials = req.credentials.as_ref().map(|c| {
            self.secrets
                .seal_credentials(&account.id, &Value::Object(c.clone()))
        });
        t.context = req.context.map(|c| {
            let mut merged = account.context.clone();
            if let Value::Object(m) = &mut merged {
                m.extend(c);
            }
            merged
        });
        let new_credentials = req.credentials.is_some();
        self.store.transition(&t).await?;
        let account = reload(&self.store, id).await?;
        // Client credentials: new client credentials need a token of their own before the steps run.
        let account = match grant {
            Some(OAuth2Grant::ClientCredentials) if new_credentials => {
                let credentials = self.secrets.open_credentials(&account.id, &account.credentials)?;
                match self.first_token(&account, method, credentials).await {
                    Ok(account) => account,
                    Err(e) => {
                        return self
                            .installer
                            .fail_connect(&account, "token", e.to_string(), &actor)
                            .await;
                    }
                }
            }
            _ => account,
        };
        self.installer.install(account, &actor, reactivating).await
    }

    /// Re-runs post-install and validation of an account in `post_install_error` or
    /// `validation_error` (or stuck in `connecting`).
    pub async fn retry(&self, principal: &Principal, id: &str) -> Result<AccountRow, AccountsError> {
        let account = visible_account(&self.store, principal, id, false).await?;
        // A `connecting` account that has not moved for a while was left behind by a host that
        // stopped mid-install: it may be retried too.
        let stuck_after = self.stuck_connecting_after.as_millis() as i64;
        let stuck =
            account.status == AccountStatus::Connecting && now_ms() - account.updated_at > stuck_after;
        if !(stuck
            || matches!(
                account.status,
                AccountStatus::ValidationError | AccountStatus::PostInstallError
            ))
        {
            return Err(AccountsError::State(format!(
                "only accounts in validation_error or post_install_error (or connecting for over {} s) can be retried (this one is {})",
                stuck_after / 1000,
                account.status.as_str()
            )));
        }
        self.installer.install(account, &principal.actor(), false).await
    }

    /// Refreshes an account's OAuth token now (the caller checked it is an operator).
    pub async fn refresh_now(&self, principal: &Principal, id: &str) -> Result<AccountRow, AccountsError> {
        let account = visible_account(&self.store, principal, id, false).await?;
        let oauth = self
            .registry
            .get(&account.connector)
            .is_some_and(|c| c.account_oauth2(account.auth_method.as_deref()).is_some());
        if !oauth {
            return Err(AccountsError::Invalid(
                "this account does not use OAuth2 tokens".into(),
            ));
        }
        Ok(self
            .refresher
            .refresh(id, Reason::Force, &principal.actor())
            .await?)
    }

    /// The audit log of an account's status transitions.
    pub async fn events(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<Vec<AccountEventRecord>, AccountsError> {
        visible_account(&self.store, principal, id, false).await?;
        Ok(self.store.events(id).await?)
    }

    /// Accounts matching `filter` that the caller may see.
    pub async fn list(
        &self,
        principal: &Principal,
        mut filter: AccountFilter,
    ) -> Result<Vec<AccountRow>, AccountsError> {
        if !principal.admin {
            match (&filter.tenant_id, &principal.tenant_id) {
                (Some(asked), Some(own)) if asked != own => return Ok(Vec::new()),
                (_, own) => filter.tenant_id = Some(own.clone().unwrap_or_default()),
            }
        }
        Ok(self.store.accounts(&filter).await?)
    }

    /// One account.
    pub async fn get(&self, principal: &Principal, id: &str) -> Result<AccountRow, AccountsError> {
        visible_account(&self.store, principal, id, false).await
    }

    /// Deletes an account.
    pub async fn delete(&self, principal: &Principal, id: &str) -> Result<(), AccountsError> {
        let account = visible_account(&self.store, principal, id, false).await?;
        self.store.delete_account(&account, &principal.actor()).await?;
        emit!(INFO, ACCOUNT_DELETE, account = %id);
        Ok(())
    }
}
