//! The token endpoint client: each provider's endpoints and quirks come from the manifest, the
//! client id and secret from the operator's app. Builds the authorization URL (PKCE S256) and
//! makes token requests (code exchange, refresh, client credentials) through the `oauth2` crate,
//! with failures classified as permanent, transient or setup.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, ExtraTokenFields,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use patchbay_engine::manifest::{OAuth2, OAuth2ClientAuth};
use patchbay_engine::template::Template;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The fields of a token answer beyond the standard ones (Salesforce's `instance_url`,
/// Pipedrive's `api_domain`), kept for the manifest's `token_context`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraFields {
    #[serde(flatten)]
    fields: Map<String, Value>,
}

impl ExtraTokenFields for ExtraFields {}

type TokenAnswer = StandardTokenResponse<ExtraFields, BasicTokenType>;

/// The `oauth2` client with a token endpoint, reading [`ExtraFields`].
type Client<HasAuth = oauth2::EndpointNotSet, HasToken = oauth2::EndpointSet> = oauth2::Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    HasAuth,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    HasToken,
>;

use super::apps::OAuthApp;

/// Tokens from a token endpoint.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// Access token.
    pub access_token: String,
    /// Refresh token, if the provider sent one.
    pub refresh_token: Option<String>,
    /// Lifetime in seconds (the provider's, else the manifest's default).
    pub expires_in: Option<u64>,
    /// Granted scopes.
    pub scope: Option<String>,
    /// The answer's other fields (`instance_url`, `api_domain`, …).
    pub extra: Map<String, Value>,
}

/// Why a token request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The grant is dead (`invalid_grant`, 400/401): only the end user can fix it.
    #[error("token endpoint refused: {0}")]
    Permanent(String),
    /// Worth retrying later (5xx, timeout, network).
    #[error("token endpoint unavailable: {0}")]
    Transient(String),
    /// The connector or app is not set up for this.
    #[error("{0}")]
    Setup(String),
}

impl TokenSet {
    /// Writes the tokens into an account's credentials (a refresh token or scope the answer does
    /// not carry keeps its stored value).
    pub fn write_into(&self, credentials: &mut Value) {
        credentials["access_token"] = json!(self.access_token);
        if let Some(rt) = &self.refresh_token {
            credentials["refresh_token"] = json!(rt);
        }
        if let Some(scope) = &self.scope {
            credentials["scope"] = json!(scope);
        }
    }
}

impl TokenSet {
    /// Merges the context the method reads from token answers (`token_context`) into an
    /// account's context; returns the new context when it changed.
    pub fn context_update(
        &self,
        method: &patchbay_engine::auth::CompiledAuthMethod,
        context: &Value,
    ) -> Option<Value> {
        let found = method.token_context(&Value::Object(self.extra.clone()));
        let mut merged = context.clone();
        let map = merged.as_object_mut()?;
        let mut changed = false;
        for (k, v) in found {
            if map.get(&k) != Some(&v) {
                map.insert(k, v);
                changed = true;
            }
        }
        changed.then_some(merged)
    }
}

impl TokenError {
    /// What the endpoint (or the host) said, without the classification.
    pub fn message(&self) -> &str {
        match self {
            Self::Permanent(m) | Self::Transient(m) | Self::Setup(m) => m,
        }
    }
}

/// Token endpoint client for one connector and app.
pub struct OAuthClient<'a> {
    provider: &'a OAuth2,
    app: &'a OAuthApp,
    http: &'a reqwest::Client,
    /// `{"context": …}`: the account context the provider's URL templates use.
    scope: Value,
}

impl<'a> OAuthClient<'a> {
    /// A client for a provider (the manifest's settings) and an app, over `http` (which must not
    /// follow redirects).
    pub fn new(provider: &'a OAuth2, app: &'a OAuthApp, http: &'a reqwest::Client) -> Self {
        Self {
            provider,
            app,
            http,
            scope: json!({"context": {}}),
        }
    }

    /// The account context that the provider's URLs use (`{{context.subdomain}}`).
    pub fn with_context(mut self, context: &Value) -> Self {
        self.scope = json!({ "context": context });
        self
    }

    /// Renders a provider URL template with the account's context.
    fn render(&self, what: &str, raw: &str) -> Result<String, TokenError> {
        Template::parse(raw)
            .ok()
            .and_then(|t| t.render_url(&self.scope))
            .ok_or_else(|| {
                TokenError::Setup(format!("{what} {raw:?} needs account context it was not given"))
            })
    }

    fn token_url(&self) -> Result<TokenUrl, TokenError> {
        let raw = self
            .app
            .token_url
            .clone()
            .unwrap_or_else(|| self.provider.token_url.clone());
        let raw = self.render("token URL", &raw)?;
        TokenUrl::new(raw).map_err(|e| TokenError::Setup(format!("token URL: {e}")))
    }

    fn scopes(&self) -> Vec<Scope> {
        let scopes = self
            .app
            .scopes
            .clone()
            .unwrap_or_else(|| self.provider.scopes.clone());
        if scopes.is_empty() {
            return Vec::new();
        }
        let sep = self
            .app
            .scope_separator
            .as_deref()
            .unwrap_or(&self.provider.scope_separator);
        // One pre-joined scope: some providers want `,` between scopes, the crate writes spaces.
        vec![Scope::new(scopes.join(sep))]
    }

    /// The authorization URL with PKCE (S256) and `state`; returns it with the PKCE verifier.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> Result<(String, String), TokenError> {
        let auth = self
            .app
            .authorize_url
            .clone()
            .or_else(|| self.provider.authorize_url.clone())
            .ok_or_else(|| TokenError::Setup("the connector has no authorize URL".into()))?;
        let auth = self.render("authorize URL", &auth)?;
        let client = Client::<oauth2::EndpointNotSet, oauth2::EndpointNotSet>::new(ClientId::new(
            self.app.client_id.clone(),
        ))
        .set_auth_uri(AuthUrl::new(auth).map_err(|e| TokenError::Setup(format!("authorize URL: {e}")))?)
        .set_redirect_uri(
            RedirectUrl::new(redirect_uri.to_owned())
                .map_err(|e| TokenError::Setup(format!("redirect URI: {e}")))?,
        );
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_owned();
        let mut req = client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(self.scopes());
        // Without PKCE the verifier is still kept, and the exchange does not send it.
        if self.provider.pkce {
            req = req.set_pkce_challenge(challenge);
        }
        for (k, v) in &self.provider.authorize_params {
            req = req.add_extra_param(k, v);
        }
        let (url, _) = req.url();
        Ok((url.to_string(), verifier.secret().clone()))
    }

    fn client(&self) -> Result<Client, TokenError> {
        let mut client = Client::<oauth2::EndpointNotSet, oauth2::EndpointNotSet>::new(ClientId::new(
            self.app.client_id.clone(),
        ))
        .set_token_uri(self.token_url()?)
        .set_auth_type(match self.provider.client_auth {
            OAuth2ClientAuth::Body => AuthType::RequestBody,
            OAuth2ClientAuth::Basic => AuthType::BasicAuth,
        });
        if let Some(secret) = &self.app.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.clone()));
        }
        Ok(client)
    }

    /// Exchanges an authorization code (with its PKCE verifier).
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenSet, TokenError> {
        let client = self.client()?.set_redirect_uri(
            RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| TokenError::Setup(e.to_string()))?,
        );
        let status = Arc::new(AtomicU16::new(0));
        let mut req = client.exchange_code(AuthorizationCode::new(code.to_owned()));
        if self.provider.pkce {
            req = req.set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()));
        }
        for (k, v) in &self.app.extra_token_params {
            req = req.add_extra_param(k.clone(), v.clone());
        }
        let http = recording(self.http, status.clone());
        let result = req.request_async(&http).await;
        self.finish(result, &status, None)
    }

    /// Refreshes; a response without a refresh token keeps `refresh_token`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, TokenError> {
        let client = self.client()?;
        let status = Arc::new(AtomicU16::new(0));
        let token = RefreshToken::new(refresh_token.to_owned());
        let mut req = client.exchange_refresh_token(&token);
        for (k, v) in &self.app.extra_token_params {
            req = req.add_extra_param(k.clone(), v.clone());
        }
        let http = recording(self.http, status.clone());
        let result = req.request_async(&http).await;
        self.finish(result, &status, Some(refresh_token))
    }

    /// Client credentials grant.
    pub async fn client_credentials(&self) -> Result<TokenSet, TokenError> {
        let client = self.client()?;
        let status = Arc::new(AtomicU16::new(0));
        let mut req = client.exchange_client_credentials().add_scopes(self.scopes());
        for (k, v) in &self.app.extra_token_params {
            req = req.add_extra_param(k.clone(), v.clone());
        }
        let http = recording(self.http, status.clone());
        let result = req.request_async(&http).await;
        self.finish(result, &status, None)
    }

    fn finish<E: std::error::Error + 'static>(
        &self,
        result: Result<TokenAnswer, RequestTokenError<E, BasicErrorResponse>>,
        status: &AtomicU16,
        old_refresh: Option<&str>,
    ) -> Result<TokenSet, TokenError> {
        let status = status.load(Ordering::Relaxed);
        match result {
            Ok(t) => Ok(TokenSet {
                access_token: t.access_token().secret().clone(),
                refresh_token: t
                    .refresh_token()
                    .map(|r| r.secret().clone())
                    .or(old_refresh.map(str::to_owned)),
                expires_in: t
                    .expires_in()
                    .map(|d| d.as_secs())
                    .or(self.provider.default_expires_in),
                scope: t
                    .scopes()
                    .map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" ")),
                extra: t.extra_fields().fields.clone(),
            }),
            Err(e) => {
                let message = match &e {
                    RequestTokenError::ServerResponse(r) => match r.error_description() {
                        Some(d) => format!("{}: {d}", r.error()),
                        None => r.error().to_string(),
                    },
                    RequestTokenError::Request(_) => "request failed (network or timeout)".to_owned(),
                    RequestTokenError::Parse(_, _) => format!("unreadable answer (HTTP {status})"),
                    RequestTokenError::Other(m) => m.clone(),
                };
                // The client itself refused is the operator's problem, not the grant's.
                if let RequestTokenError::ServerResponse(r) = &e
                    && matches!(
                        r.error(),
                        oauth2::basic::BasicErrorResponseType::InvalidClient
                            | oauth2::basic::BasicErrorResponseType::UnauthorizedClient
                    )
                {
                    return Err(TokenError::Setup(format!("HTTP {status}: {message}")));
                }
                // Statuses decide when there is one: 400/401 (and other 4xx) mean the grant is
                // refused; 5xx, 408 and 429 are worth another try later.
                Err(match status {
                    0 => TokenError::Transient(message),
                    408 | 429 | 500..=599 => TokenError::Transient(format!("HTTP {status}: {message}")),
                    400..=499 => TokenError::Permanent(format!("HTTP {status}: {message}")),
                    _ => TokenError::Transient(format!("HTTP {status}: {message}")),
                })
            }
        }
    }
}

type TokenHttpFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<oauth2::HttpResponse, oauth2::HttpClientError<reqwest::Error>>,
            > + Send,
    >,
>;

/// An `oauth2` HTTP client that remembers the answer's status (the crate does not expose it).
fn recording(
    http: &reqwest::Client,
    status: Arc<AtomicU16>,
) -> impl Fn(oauth2::HttpRequest) -> TokenHttpFuture {
    let http = http.clone();
    move |request: oauth2::HttpRequest| {
        let http = http.clone();
        let status = status.clone();
        Box::pin(async move {
            let response = oauth2::AsyncHttpClient::call(&http, request).await?;
            status.store(response.status().as_u16(), Ordering::Relaxed);
            Ok(response)
        })
    }
}
