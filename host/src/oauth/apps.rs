//! OAuth apps: the client id and secret (and scope or endpoint overrides) an operator sets per
//! connector, stored sealed, and which app an account's token requests use.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::secrets::aad;
use crate::secrets::{Secrets, SecretsError};
use crate::store::{Store, StoreError};

/// A connector's OAuth app, set by an operator (`PUT /connectors/{name}/oauth-app`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthApp {
    /// Client id.
    pub client_id: String,
    /// Client secret (absent for public clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Scopes (default: the manifest's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Scope separator (default: the manifest's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_separator: Option<String>,
    /// Extra parameters of token requests (e.g. `audience`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_token_params: BTreeMap<String, String>,
    /// Override of the manifest's authorize URL (sandboxes, tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = "uri", pattern = "^https?://[^/?#]+")]
    pub authorize_url: Option<String>,
    /// Override of the manifest's token URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = "uri", pattern = "^https?://[^/?#]+")]
    pub token_url: Option<String>,
}

impl OAuthApp {
    /// The settings without the secret, for API answers.
    pub fn public_view(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("serializes");
        v.as_object_mut().expect("object").remove("client_secret");
        v["client_secret_set"] = json!(self.client_secret.is_some());
        v
    }
}

/// Why an account has no usable OAuth app.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Neither the connector nor the account has one.
    #[error("connector {0:?} has no OAuth app: PUT /connectors/{0}/oauth-app first")]
    Missing(String),
    /// The database failed (the cause is logged, not shown: this text reaches account details).
    #[error("internal error")]
    Store(#[from] StoreError),
    /// The stored app does not open.
    #[error("internal error")]
    Secrets(#[from] SecretsError),
}

impl AppError {
    /// Whether the host failed (rather than the app being missing); the caller logs the cause
    /// where no HTTP answer carries it to the edge.
    pub fn is_internal(&self) -> bool {
        !matches!(self, Self::Missing(_))
    }
}

/// The OAuth apps of every connector.
#[derive(Debug, Clone)]
pub struct OAuthApps {
    store: Store,
    secrets: Secrets,
}

impl OAuthApps {
    /// Apps kept in `store`, sealed with `secrets`.
    pub fn new(store: Store, secrets: Secrets) -> Self {
        Self { store, secrets }
    }

    /// Sets a connector's app.
    pub async fn put(&self, connector: &str, app: &OAuthApp) -> Result<(), StoreError> {
        let sealed = self.secrets.seal_json(app, &aad::oauth_app(connector));
        self.store.put_oauth_app(connector, &sealed).await
    }

    /// A connector's app, if set.
    pub async fn get(&self, connector: &str) -> Result<Option<OAuthApp>, AppError> {
        let Some(sealed) = self.store.oauth_app(connector).await? else {
            return Ok(None);
        };
        Ok(Some(self.secrets.open_json(&sealed, &aad::oauth_app(connector))?))
    }

    /// A connector's app, which must be set.
    pub async fn required(&self, connector: &str) -> Result<OAuthApp, AppError> {
        self.get(connector)
            .await?
            .ok_or_else(|| AppError::Missing(connector.to_owned()))
    }

    /// The app an account's token requests use: its own `client_id`/`client_secret` (client
    /// credentials accounts may bring their own) over the connector's app.
    pub async fn for_account(&self, connector: &str, credentials: &Value) -> Result<OAuthApp, AppError> {
        let own = credentials["client_id"].as_str().map(|id| {
            (
                id.to_owned(),
                credentials["client_secret"].as_str().map(str::to_owned),
            )
        });
        match (self.get(connector).await?, own) {
            (Some(mut app), Some((id, secret))) => {
                app.client_id = id;
                app.client_secret = secret;
                Ok(app)
            }
            (Some(app), None) => Ok(app),
            (None, Some((client_id, client_secret))) => Ok(OAuthApp {
                client_id,
                client_secret,
                scopes: None,
                scope_separator: None,
                extra_token_params: Default::default(),
                authorize_url: None,
                token_url: None,
            }),
            (None, None) => Err(AppError::Missing(connector.to_owned())),
        }
    }
}
