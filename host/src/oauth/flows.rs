//! The OAuth operations of the API: a connector's app, starting an authorization-code flow
//! (PKCE S256, a single-use expiring `state`), and finishing it when the provider sends the
//! browser back, which creates or reconnects the account.

use std::sync::Arc;
use std::time::Duration;

use patchbay_engine::manifest::OAuth2;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::apps::{AppError, OAuthApp, OAuthApps};
use super::client::{OAuthClient, TokenError};
use super::redirects::RedirectAllowList;
use super::times::issued;
use crate::accounts::error::AccountsError;
use crate::accounts::install::Installer;
use crate::accounts::lookup::{reload, visible_account};
use crate::accounts::model::{AccountRow, AccountStatus};
use crate::accounts::principal::Principal;
use crate::accounts::state_machine::{AccountEvent, Transition};
use crate::clock::now_ms;
use crate::config::PublicUrl;
use crate::connectors::{LiveConnector, Registry};
use crate::secrets::aad;
use crate::secrets::{Secrets, SecretsError};
use crate::store::{OAuthStateRow, Store, StoreError};
use crate::telemetry::emit;
use crate::telemetry::events::{OAUTH_APP_SET, OAUTH_DENIED};

/// The audit actor of changes made by the callback.
const ACTOR: &str = "oauth";
/// Why an OAuth operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// No such connector.
    #[error("no connector {0:?}")]
    NoConnector(String),
    /// The connector's accounts do not use OAuth2.
    #[error("connector {0:?} does not use OAuth2")]
    NotOAuth(String),
    /// The request is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The caller's token may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The app is missing or does not open.
    #[error(transparent)]
    App(#[from] AppError),
    /// The authorization URL cannot be built from the settings.
    #[error("{}", .0.message())]
    Authorize(TokenError),
    /// The provider would not exchange the code.
    #[error(transparent)]
    Exchange(TokenError),
    /// Connecting the account failed.
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sealed value does not open.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// `POST /connect/{connector}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartConnect {
    /// Tenant of the new account (default: the token's).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Where the browser goes at the end (on the host's `--oauth-redirect-allow` list).
    #[schema(format = "uri", pattern = "^https?://[^/?#]+")]
    pub redirect_uri: String,
    /// The account to reconnect, if any.
    #[serde(default)]
    pub integrated_account_id: Option<String>,
    /// The auth method (default: the connector's first authorization-code OAuth2 method).
    #[serde(default)]
    pub auth_method: Option<String>,
    /// Account context the provider's URLs or the vendor's base URL need (`subdomain`).
    #[serde(default)]
    pub context: serde_json::Map<String, serde_json::Value>,
}

/// How a callback ends: the browser goes back to the product's `redirect_uri` with the result.
#[derive(Debug)]
pub enum Callback {
    /// The account is connected (in the state its steps reached).
    Connected {
        /// The product's redirect.
        redirect_uri: String,
        /// The account.
        account: Box<AccountRow>,
    },
    /// The end user or the provider refused.
    Denied {
        /// The product's redirect.
        redirect_uri: String,
        /// The provider's `error`.
        error: String,
        /// The provider's `error_description`.
        description: String,
    },
    /// The flow failed after the provider's answer.
    Failed {
        /// The product's redirect.
        redirect_uri: String,
        /// Why.
        error: FlowError,
    },
}

/// OAuth apps and authorization flows.
#[derive(Debug)]
pub struct OAuthFlows {
    store: Store,
    registry: Arc<Registry>,
    apps: OAuthApps,
    secrets: Secrets,
    installer: Installer,
    http: reqwest::Client,
    state_ttl: Duration,
    public_url: PublicUrl,
    redirects: RedirectAllowList,
}

fn hash_state(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

impl OAuthFlows {
    /// The flows over these handles; `public_url`, when known, is where browsers reach this host.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        apps: OAuthApps,
        secrets: Secrets,
        installer: Installer,
        http: reqwest::Client,
        state_ttl: Duration,
        public_url: PublicUrl,
        redirects: RedirectAllowList,
    ) -> Self {
        Self {
            store,
            registry,
            apps,
            secrets,
            installer,
            http,
            state_ttl,
            public_url,
            redirects,
        }
    }

    fn callback_url(&self) -> String {
        format!("{}/oauth/callback", self.public_url.base())
    }

    /// The connector and its authorization-code method `named` (default: the first).
    fn method(
        &self,
        connector: &str,
        named: Option<&str>,
    ) -> Result<(Arc<LiveConnector>, String), FlowError> {
        let live = self
            .registry
            .get(connector)
            .ok_or_else(|| FlowError::NoConnector(connector.to_owned()))?;
        let name = match live.connector.connect_auth(named) {
            Some(m) => m.name().to_owned(),
            None if named.is_some() && live.oauth2().is_some() => {
                return Err(FlowError::Invalid(format!(
                    "connector {connector:?} has no authorization-code OAuth2 method {:?}",
                    named.unwrap_or_default()
                )));
            }
            None => return Err(FlowError::NotOAuth(connector.to_owned())),
        };
        Ok((live, name))
    }

    /// The provider settings of an OAuth connector's method.
    fn provider(&self, connector: &str, named: Option<&str>) -> Result<OAuth2, FlowError> {
        let (live, name) = self.method(connector, named)?;
        let provider = live
            .connector
            .auth_method(&name)
            .and_then(|m| m.oauth2())
            .cloned();
        provider.ok_or_else(|| FlowError::NotOAuth(connector.to_owned()))
    }

    /// Checks that `connector` exists and uses OAuth2 (before its app is read).
    pub fn check_oauth(&self, connector: &str) -> Result<(), FlowError> {
        let live = self
            .registry
            .get(connector)
            .ok_or_else(|| FlowError::NoConnector(connector.to_owned()))?;
        match live.oauth2() {
            Some(_) => Ok(()),
            None => Err(FlowError::NotOAuth(connector.to_owned())),
        }
    }

    /// Sets an OAuth connector's app.
    pub async fn set_app(&self, connector: &str, app: &OAuthApp) -> Result<(), FlowError> {
        self.check_oauth(connector)?;
        for url in [&app.authorize_url, &app.token_url].into_iter().flatten() {
            let ok = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                return Err(FlowError::Invalid(format!("{url:?} is not an http(s) URL")));
            }
        }
        self.apps.put(connector, app).await?;
        emit!(INFO, OAUTH_APP_SET, connector = %connector);
        Ok(())
    }

    /// A connector's app, if set.
    pub async fn app(&self, connector: &str) -> Result<Option<OAuthApp>, FlowError> {
        Ok(self.apps.get(connector).await?)
    }

    /// Starts an authorization-code flow; returns the provider's authorization URL.
    pub async fn start(
        &self,
        principal: &Principal,
        connector: &str,
        req: StartConnect,
    ) -> Result<String, FlowError> {
        let (live, method) = match self.method(connector, req.auth_method.as_deref()) {
            Err(FlowError::NotOAuth(_)) if self.check_oauth(connector).is_ok() => {
                return Err(FlowError::Invalid(
                    "this connector uses client credentials: POST /integrated-accounts".into(),
                ));
            }
            other => other?,
        };
        let provider = self.provider(connector, Some(&method))?;
        if !self.redirects.allows(&req.redirect_uri) {
            return Err(FlowError::Invalid(if self.redirects.is_empty() {
                "redirect_uri must be an absolute http(s) URL".into()
            } else {
                "redirect_uri is not on this host's allow-list (--oauth-redirect-allow)".into()
            }));
        }
        let mut context = serde_json::Value::Object(req.context);
        let tenant_id = match (&req.integrated_account_id, req.tenant_id, &principal.tenant_id) {
            (Some(id), _, _) => {
                let account = visible_account(&self.store, principal, id, false).await?;
                if account.connector != connector {
                    return Err(FlowError::Invalid(
                        "integrated_account_id belongs to another connector".into(),
                    ));
                }
                let current = live.connector.account_auth(account.auth_method.as_deref()).name();
                if current != method {
                    return Err(FlowError::Invalid(format!(
                        "the account uses auth method {current:?}, not {method:?}"
                    )));
                }
                let mut merged = account.context.clone();
                if let (Some(m), Some(new)) = (merged.as_object_mut(), context.as_object()) {
                    m.extend(new.clone());
                }
                context = merged;
                account.tenant_id
            }
            (None, Some(t), _) if !principal.can_see(&t) => {
                return Err(FlowError::Forbidden(
                    "a tenant token can only connect accounts of its own tenant".into(),
                ));
            }
            (None, Some(t), _) => t,
            (None, None, Some(own)) => own.clone(),
            (None, None, None) => return Err(FlowError::Invalid("tenant_id is required".into())),
        };
        let app = self.apps.required(connector).await?;
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let csrf = hex::encode(raw);
        let (authorize_url, verifier) = OAuthClient::new(&provider, &app, &self.http)
            .with_context(&context)
            .authorize_url(&self.callback_url(), &csrf)
            .map_err(FlowError::Authorize)?;
        let row = OAuthStateRow {
            state_hash: hash_state(&csrf),
            connector: connector.to_owned(),
            tenant_id,
            redirect_uri: req.redirect_uri,
            account_id: req.integrated_account_id,
            sealed_verifier: self.secrets.seal(verifier.as_bytes(), aad::OAUTH_STATE),
            expires_at: now_ms() + self.state_ttl.as_millis() as i64,
            auth_method: Some(method),
            context,
        };
        self.store.insert_oauth_state(&row).await?;
        Ok(authorize_url)
    }

    /// The provider's redirect (`code` and `state`, or `error` and `state`): an unknown, used or
    /// expired `state` is refused; anything after that ends at the product's `redirect_uri`.
    pub async fn callback(&self, params: &[(String, String)]) -> Result<Callback, FlowError> {
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let csrf = get("state").ok_or_else(|| FlowError::Invalid("missing state".into()))?;
        let pending = self
            .store
            .take_oauth_state(&hash_state(&csrf))
            .await?
            .filter(|p| p.expires_at >= now_ms())
            .ok_or_else(|| FlowError::Invalid("unknown, used or expired state".into()))?;
        if let Some(error) = get("error") {
            emit!(INFO, OAUTH_DENIED, connector = %pending.connector, %error);
            return Ok(Callback::Denied {
                redirect_uri: pending.redirect_uri,
                error,
                description: get("error_description").unwrap_or_default(),
            });
        }
        let code = get("code").ok_or_else(|| FlowError::Invalid("missing code".into()))?;
        Ok(match self.finish(&pending, &code).await {
            Ok(account) => Callback::Connected {
                redirect_uri: pending.redirect_uri,
                account: Box::new(account),
            },
            Err(error) => Callback::Failed {
                redirect_uri: pending.redirect_uri,
                error,
            },
        })
    }

    async fn finish(&self, pending: &OAuthStateRow, code: &str) -> Result<AccountRow, FlowError> {
        let (live, method) = self.method(&pending.connector, pending.auth_method.as_deref())?;
        let provider = self.provider(&pending.connector, Some(&method))?;
        let app = self
            .apps
            .get(&pending.connector)
            .await?
            .ok_or_else(|| FlowError::Invalid("the OAuth app was removed".into()))?;
        let verifier = self.secrets.open(&pending.sealed_verifier, aad::OAUTH_STATE)?;
        let verifier = String::from_utf8(verifier).map_err(|_| SecretsError::Decrypt)?;
        let tokens = OAuthClient::new(&provider, &app, &self.http)
            .with_context(&pending.context)
            .exchange_code(code, &verifier, &self.callback_url())
            .await
            .map_err(FlowError::Exchange)?;
        let compiled = live
            .connector
            .auth_method(&method)
            .ok_or_else(|| FlowError::NotOAuth(pending.connector.clone()))?;
        let context = tokens
            .context_update(compiled, &pending.context)
            .unwrap_or_else(|| pending.context.clone());
        // Without a refresh token there is nothing to schedule (the end user reconnects at expiry).
        let times = issued(now_ms(), &tokens, tokens.refresh_token.is_some());
        match &pending.account_id {
            None => {
                let id = AccountRow::new_id();
                let mut credentials = json!({});
                tokens.write_into(&mut credentials);
                let row = AccountRow::new(
                    id.clone(),
                    pending.connector.clone(),
                    pending.tenant_id.clone(),
                    self.secrets.seal_credentials(&id, &credentials),
                    context,
                    None,
                )
                .with_auth_method(Some(method))
                .with_tokens(times);
                self.store.create_account(&row, ACTOR).await?;
                let row = reload(&self.store, &id).await?;
                Ok(self.installer.install(row, ACTOR, false).await?)
            }
            Some(id) => {
                let account = reload(&self.store, id).await?;
                if account.status == AccountStatus::Connecting {
                    return Err(FlowError::Invalid("the account is connecting; try again".into()));
                }
                let reactivating = account.status == AccountStatus::NeedsReauth;
                let mut credentials = self.secrets.open_credentials(&account.id, &account.credentials)?;
                tokens.write_into(&mut credentials);
                let mut t =
                    Transition::new(&account, AccountStatus::Connecting, AccountEvent::Updated, ACTOR);
                t.credentials = Some(self.secrets.seal_credentials(id, &credentials));
                t.tokens = Some(times);
                t.context = Some(context);
                self.store.transition(&t).await?;
                let row = reload(&self.store, id).await?;
                Ok(self.installer.install(row, ACTOR, reactivating).await?)
            }
        }
    }
}
