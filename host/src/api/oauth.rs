//! OAuth routes: app settings per connector, starting an authorization-code flow, and the
//! provider's redirect back (`GET /oauth/callback`, authenticated by its single-use `state`).

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use patchbay_engine::manifest::{Auth, OAuth2, OAuth2Grant};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::accounts::visible_account;
use super::{json_body, query_pairs};
use crate::connect::{install, reload};
use crate::error::ApiError;
use crate::lifecycle::AccountEvent;
use crate::oauth::{OAuthApp, OAuthClient, TokenSet};
use crate::refresh::{expires_at, schedule};
use crate::server::AppState;
use crate::store::{AccountRow, AccountStatus, OAuthStateRow, Principal, TokenTimes, Transition, now_ms};

fn oauth_provider(state: &AppState, connector: &str) -> Result<OAuth2, ApiError> {
    let c = state
        .registry
        .get(connector)
        .ok_or_else(|| ApiError::not_found(format!("no connector {connector:?}")))?;
    match &c.manifest.auth {
        Auth::Oauth2(o) => Ok(o.clone()),
        _ => Err(ApiError::invalid(format!(
            "connector {connector:?} does not use OAuth2"
        ))),
    }
}

/// `PUT /connectors/{name}/oauth-app` (admin): client id/secret, scopes, endpoint overrides.
pub async fn put_app(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    if !principal.admin {
        return Err(ApiError::forbidden("only admin tokens manage OAuth apps"));
    }
    oauth_provider(&state, &name)?;
    let app: OAuthApp = json_body(&body)?;
    for url in [&app.authorize_url, &app.token_url].into_iter().flatten() {
        let ok = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !ok {
            return Err(ApiError::invalid(format!("{url:?} is not an http(s) URL")));
        }
    }
    let sealed = state.secrets.seal(
        &serde_json::to_vec(&app).expect("serializes"),
        format!("oauth-app:{name}").as_bytes(),
    );
    state
        .store
        .put_oauth_app(&name, &sealed)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(connector = %name, "patchbay.oauth.app_set");
    Ok(Json(app.public_view()))
}

/// `GET /connectors/{name}/oauth-app` (admin): the settings, without the secret.
pub async fn get_app(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !principal.admin {
        return Err(ApiError::forbidden("only admin tokens manage OAuth apps"));
    }
    let app = state
        .oauth_app(&name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no OAuth app for {name:?}")))?;
    Ok(Json(app.public_view()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectRequest {
    #[serde(default)]
    tenant_id: Option<String>,
    redirect_uri: String,
    #[serde(default)]
    integrated_account_id: Option<String>,
}

fn hash_state(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

/// `POST /connect/{connector}`: starts an authorization-code flow; answers `{"authorize_url"}`.
pub async fn connect(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(connector): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: ConnectRequest = json_body(&body)?;
    let provider = oauth_provider(&state, &connector)?;
    if provider.grant != OAuth2Grant::AuthorizationCode {
        return Err(ApiError::invalid(
            "this connector uses client credentials: POST /integrated-accounts",
        ));
    }
    let ok_redirect =
        url::Url::parse(&req.redirect_uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !ok_redirect {
        return Err(ApiError::invalid("redirect_uri must be an absolute http(s) URL"));
    }
    let tenant_id = match (&req.integrated_account_id, req.tenant_id, &principal.tenant_id) {
        (Some(id), _, _) => {
            let account = visible_account(&state, &principal, id, false).await?;
            if account.connector != connector {
                return Err(ApiError::invalid(
                    "integrated_account_id belongs to another connector",
                ));
            }
            account.tenant_id
        }
        (None, Some(t), _) if !principal.can_see(&t) => {
            return Err(ApiError::forbidden(
                "a tenant token can only connect accounts of its own tenant",
            ));
        }
        (None, Some(t), _) => t,
        (None, None, Some(own)) => own.clone(),
        (None, None, None) => return Err(ApiError::invalid("tenant_id is required")),
    };
    let app = state.oauth_app(&connector).await?.ok_or_else(|| {
        ApiError::invalid(format!(
            "connector {connector:?} has no OAuth app: PUT /connectors/{connector}/oauth-app first"
        ))
    })?;
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let csrf = hex::encode(raw);
    let client = OAuthClient {
        provider: &provider,
        app: &app,
        http: &state.oauth_http,
    };
    let callback = format!("{}/oauth/callback", state.public_url());
    let (authorize_url, verifier) = client
        .authorize_url(&callback, &csrf)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let row = OAuthStateRow {
        state_hash: hash_state(&csrf),
        connector: connector.clone(),
        tenant_id,
        redirect_uri: req.redirect_uri,
        account_id: req.integrated_account_id,
        sealed_verifier: state.secrets.seal(verifier.as_bytes(), b"oauth-state"),
        expires_at: now_ms() + state.config.oauth_state_ttl.as_millis() as i64,
    };
    state
        .store
        .insert_oauth_state(&row)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "authorize_url": authorize_url })))
}

fn redirect_with(base: &str, params: &[(&str, &str)]) -> Response {
    let mut url = url::Url::parse(base).expect("validated when the flow started");
    url.query_pairs_mut().extend_pairs(params);
    Redirect::to(url.as_str()).into_response()
}

/// `GET /oauth/callback?code=&state=` (or `?error=&state=`): finishes the flow and sends the
/// browser back to the product's `redirect_uri` with `integrated_account_id` and `status`.
pub async fn callback(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = query_pairs(raw.as_deref());
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let csrf = get("state").ok_or_else(|| ApiError::invalid("missing state"))?;
    let pending = state
        .store
        .take_oauth_state(&hash_state(&csrf))
        .await
        .map_err(ApiError::internal)?
        .filter(|p| p.expires_at >= now_ms())
        .ok_or_else(|| ApiError::invalid("unknown, used or expired state"))?;
    if let Some(error) = get("error") {
        let description = get("error_description").unwrap_or_default();
        tracing::info!(connector = %pending.connector, %error, "patchbay.oauth.denied");
        return Ok(redirect_with(
            &pending.redirect_uri,
            &[("error", &error), ("error_description", &description)],
        ));
    }
    let code = get("code").ok_or_else(|| ApiError::invalid("missing code"))?;
    match finish(&state, &pending, &code).await {
        Ok(account) => Ok(redirect_with(
            &pending.redirect_uri,
            &[
                ("integrated_account_id", &account.id),
                ("status", account.status.as_str()),
            ],
        )),
        Err(e) => Ok(redirect_with(
            &pending.redirect_uri,
            &[("error", e.code.as_str()), ("error_description", &e.message)],
        )),
    }
}

async fn finish(state: &AppState, pending: &OAuthStateRow, code: &str) -> Result<AccountRow, ApiError> {
    let provider = oauth_provider(state, &pending.connector)?;
    let app = state
        .oauth_app(&pending.connector)
        .await?
        .ok_or_else(|| ApiError::invalid("the OAuth app was removed"))?;
    let verifier = state
        .secrets
        .open(&pending.sealed_verifier, b"oauth-state")
        .map_err(ApiError::internal)?;
    let verifier = String::from_utf8(verifier).map_err(ApiError::internal)?;
    let client = OAuthClient {
        provider: &provider,
        app: &app,
        http: &state.oauth_http,
    };
    let callback = format!("{}/oauth/callback", state.public_url());
    let tokens = client
        .exchange_code(code, &verifier, &callback)
        .await
        .map_err(|e| {
            ApiError::remote_code(
                patchbay_engine::RemoteErrorCode::RemoteUnauthorized,
                e.to_string(),
            )
        })?;
    let actor = "oauth";
    match &pending.account_id {
        None => {
            let id = format!("acct_{}", uuid::Uuid::new_v4().simple());
            let (credentials, times) = token_credentials(&tokens, json!({}));
            let mut row = AccountRow::new(
                id.clone(),
                pending.connector.clone(),
                pending.tenant_id.clone(),
                state.seal_credentials(&id, &credentials),
                json!({}),
                None,
            );
            (row.token_obtained_at, row.token_expires_at, row.next_refresh_at) = times;
            state
                .store
                .create_account(&row, actor)
                .await
                .map_err(ApiError::internal)?;
            install(state, reload(state, &id).await?, actor, false).await
        }
        Some(id) => {
            let account = reload(state, id).await?;
            if account.status == AccountStatus::Connecting {
                return Err(ApiError::invalid("the account is connecting; try again"));
            }
            let reactivating = account.status == AccountStatus::NeedsReauth;
            let (credentials, times) = token_credentials(&tokens, state.open_credentials(&account)?);
            let mut t = Transition::new(&account, AccountStatus::Connecting, AccountEvent::Updated, actor);
            t.credentials = Some(state.seal_credentials(id, &credentials));
            t.tokens = Some(times);
            state.store.transition(&t).await.map_err(ApiError::store)?;
            install(state, reload(state, id).await?, actor, reactivating).await
        }
    }
}

/// Credentials holding `tokens` (over `base`), and their (obtained, expires, next refresh) times.
fn token_credentials(tokens: &TokenSet, mut base: Value) -> (Value, TokenTimes) {
    base["access_token"] = json!(tokens.access_token);
    if let Some(rt) = &tokens.refresh_token {
        base["refresh_token"] = json!(rt);
    }
    if let Some(scope) = &tokens.scope {
        base["scope"] = json!(scope);
    }
    let now = now_ms();
    let expires = tokens.expires_in.map(|s| expires_at(now, s));
    // Without a refresh token there is nothing to schedule (the end user reconnects at expiry).
    let next = expires
        .filter(|_| tokens.refresh_token.is_some())
        .map(|e| schedule(now, e));
    (base, (Some(now), expires, next))
}
