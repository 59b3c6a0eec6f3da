//! `/integrated-accounts`: create, list, read and delete integrated accounts.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{json_body, query_pairs};
use crate::connect::{install, reload};
use crate::error::ApiError;
use crate::lifecycle::AccountEvent;
use crate::oauth::OAuthClient;
use crate::refresh::{Reason, RefreshError, expires_at, oauth_settings, schedule};
use crate::server::AppState;
use crate::store::{AccountFilter, AccountRow, AccountStatus, Principal, TokenUpdate, Transition, now_ms};
use patchbay_engine::RemoteErrorCode;
use patchbay_engine::manifest::{Auth, OAuth2Grant};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAccount {
    connector: String,
    #[serde(default)]
    tenant_id: Option<String>,
    credentials: Map<String, Value>,
    #[serde(default)]
    context: Map<String, Value>,
    #[serde(default)]
    base_url: Option<String>,
}

/// The public view of an account: never the credentials.
pub fn view(a: &AccountRow) -> Value {
    let time = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    };
    json!({
        "id": a.id,
        "connector": a.connector,
        "tenant_id": a.tenant_id,
        "status": a.status.as_str(),
        "context": a.context,
        "base_url": a.base_url,
        "status_detail": a.status_detail,
        "token_expires_at": a.token_expires_at.and_then(time),
        "created_at": time(a.created_at),
        "updated_at": time(a.updated_at),
    })
}

/// The audit actor of a token.
pub fn actor(principal: &Principal) -> String {
    format!("api:{}", principal.token_id)
}

/// `POST /integrated-accounts`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CreateAccount = json_body(&body)?;
    let tenant_id = match (&principal.tenant_id, req.tenant_id) {
        (_, Some(t)) if !principal.can_see(&t) => {
            return Err(ApiError::forbidden(
                "a tenant token can only create accounts of its own tenant",
            ));
        }
        (_, Some(t)) => t,
        (Some(own), None) => own.clone(),
        (None, None) => return Err(ApiError::invalid("tenant_id is required")),
    };
    if tenant_id.is_empty() || tenant_id.len() > 200 {
        return Err(ApiError::invalid("tenant_id must be 1 to 200 characters"));
    }
    let Some(connector) = state.registry.get(&req.connector) else {
        return Err(ApiError::invalid(format!(
            "unknown connector {:?}",
            req.connector
        )));
    };
    if let Some(base) = &req.base_url {
        if !principal.admin {
            return Err(ApiError::forbidden("only admin tokens may override base_url"));
        }
        let ok =
            url::Url::parse(base).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !ok {
            return Err(ApiError::invalid("base_url must be an absolute http(s) URL"));
        }
    }
    let id = format!("acct_{}", uuid::Uuid::new_v4().simple());
    let credentials = Value::Object(req.credentials);
    let context = Value::Object(req.context);
    // The account must be able to reach its vendor: the base URL's placeholders need context.
    connector
        .base_url(&patchbay_engine::Account {
            credentials: &credentials,
            context: &context,
            base_url: req.base_url.as_deref(),
        })
        .map_err(|e| ApiError::invalid(format!("account cannot reach the vendor: {e}")))?;
    let oauth = match &connector.manifest.auth {
        Auth::Oauth2(o) if o.grant == OAuth2Grant::AuthorizationCode => {
            return Err(ApiError::invalid(format!(
                "connector {:?} uses the OAuth2 authorization code flow: start it with POST /connect/{}",
                req.connector, req.connector
            )));
        }
        Auth::Oauth2(o) => Some(o.clone()),
        _ => None,
    };
    let sealed = state.seal_credentials(&id, &credentials);
    let row = AccountRow::new(id, req.connector, tenant_id, sealed, context, req.base_url);
    let actor = actor(&principal);
    state
        .store
        .create_account(&row, &actor)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(account = %row.id, connector = %row.connector, tenant = %row.tenant_id, "patchbay.accounts.create");
    let row = match oauth {
        // Client credentials: the first token is part of connecting.
        Some(provider) => match client_credentials_token(&state, &row, &provider, credentials).await {
            Ok(row) => install(&state, row, &actor, false).await?,
            Err(message) => fail_connect(&state, &row, "token", message, &actor).await?,
        },
        None => install(&state, row, &actor, false).await?,
    };
    Ok((StatusCode::CREATED, Json(view(&row))).into_response())
}

/// Gets a client-credentials token for a new account and stores it (status stays `connecting`).
async fn client_credentials_token(
    state: &AppState,
    row: &AccountRow,
    provider: &patchbay_engine::manifest::OAuth2,
    mut credentials: Value,
) -> Result<AccountRow, String> {
    let app = state
        .oauth_app_for(&row.connector, &credentials)
        .await
        .map_err(|e| e.message.clone())?;
    let client = OAuthClient {
        provider,
        app: &app,
        http: &state.oauth_http,
    };
    let tokens = client.client_credentials().await.map_err(|e| e.to_string())?;
    credentials["access_token"] = json!(tokens.access_token);
    let now = now_ms();
    let expires = tokens.expires_in.map(|s| expires_at(now, s));
    let update = TokenUpdate {
        credentials: state.seal_credentials(&row.id, &credentials),
        obtained_at: now,
        expires_at: expires,
        next_refresh_at: expires.map(|e| schedule(now, e)),
    };
    let owner = &state.refresher.owner;
    state
        .store
        .try_lease(&row.id, owner, 30_000)
        .await
        .map_err(|e| e.to_string())?;
    state
        .store
        .store_tokens(&row.id, owner, &update)
        .await
        .map_err(|e| e.to_string())?;
    reload(state, &row.id).await.map_err(|e| e.message.clone())
}

/// A connect that failed before post-install (no token): `validation_error` with the reason.
async fn fail_connect(
    state: &AppState,
    row: &AccountRow,
    step: &str,
    message: String,
    actor: &str,
) -> Result<AccountRow, ApiError> {
    let mut t = Transition::new(
        row,
        AccountStatus::ValidationError,
        AccountEvent::ValidationError,
        actor,
    );
    t.detail = Some(json!({"phase": "validation", "step": step, "message": message, "at": now_ms()}));
    state.store.transition(&t).await.map_err(ApiError::store)?;
    reload(state, &row.id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateAccount {
    #[serde(default)]
    credentials: Option<Map<String, Value>>,
    #[serde(default)]
    context: Option<Map<String, Value>>,
}

/// `PATCH /integrated-accounts/{id}`: new credentials (key-based accounts) and/or context; the
/// account reconnects (`:updated`, then post-install and validation again).
pub async fn update(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: UpdateAccount = json_body(&body)?;
    let account = visible_account(&state, &principal, &id, false).await?;
    let connector = state
        .registry
        .get(&account.connector)
        .ok_or_else(|| ApiError::invalid("connector not loaded"))?;
    if matches!(&connector.manifest.auth, Auth::Oauth2(o) if o.grant == OAuth2Grant::AuthorizationCode)
        && req.credentials.is_some()
    {
        return Err(ApiError::invalid(format!(
            "reconnect OAuth accounts with POST /connect/{} and integrated_account_id",
            account.connector
        )));
    }
    if account.status == AccountStatus::Connecting {
        return Err(ApiError::invalid(
            "the account is connecting; try again when it has settled",
        ));
    }
    let actor = actor(&principal);
    let reactivating = account.status == AccountStatus::NeedsReauth;
    let mut t = Transition::new(&account, AccountStatus::Connecting, AccountEvent::Updated, &actor);
    t.credentials = req
        .credentials
        .as_ref()
        .map(|c| state.seal_credentials(&account.id, &Value::Object(c.clone())));
    t.context = req.context.map(|c| {
        let mut merged = account.context.clone();
        if let Value::Object(m) = &mut merged {
            m.extend(c);
        }
        merged
    });
    let new_credentials = req.credentials.is_some();
    state.store.transition(&t).await.map_err(ApiError::store)?;
    let account = reload(&state, &id).await?;
    // Client credentials: new client credentials need a token of their own before the steps run.
    let account = match &connector.manifest.auth {
        Auth::Oauth2(o) if o.grant == OAuth2Grant::ClientCredentials && new_credentials => {
            let credentials = state.open_credentials(&account)?;
            match client_credentials_token(&state, &account, o, credentials).await {
                Ok(account) => account,
                Err(message) => {
                    let account = fail_connect(&state, &account, "token", message, &actor).await?;
                    return Ok(Json(view(&account)).into_response());
                }
            }
        }
        _ => account,
    };
    let account = install(&state, account, &actor, reactivating).await?;
    Ok(Json(view(&account)).into_response())
}

/// `POST /integrated-accounts/{id}/retry`: re-runs post-install and validation of an account in
/// `post_install_error` or `validation_error` (or stuck in `connecting`).
pub async fn retry(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let account = visible_account(&state, &principal, &id, false).await?;
    // A `connecting` account that has not moved for a while was left behind by a host that
    // stopped mid-install: it may be retried too.
    let stuck_after = state.config.stuck_connecting_after.as_millis() as i64;
    let stuck = account.status == AccountStatus::Connecting && now_ms() - account.updated_at > stuck_after;
    if !(stuck
        || matches!(
            account.status,
            AccountStatus::ValidationError | AccountStatus::PostInstallError
        ))
    {
        return Err(ApiError::invalid(format!(
            "only accounts in validation_error or post_install_error (or connecting for over {} s) can be retried (this one is {})",
            stuck_after / 1000,
            account.status.as_str()
        )));
    }
    let account = install(&state, account, &actor(&principal), false).await?;
    Ok(Json(view(&account)))
}

/// `POST /integrated-accounts/{id}/refresh` (admin): refreshes the OAuth token now.
pub async fn refresh(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !principal.admin {
        return Err(ApiError::forbidden("only admin tokens may force a refresh"));
    }
    let account = visible_account(&state, &principal, &id, false).await?;
    if oauth_settings(&state, &account.connector).is_none() {
        return Err(ApiError::invalid("this account does not use OAuth2 tokens"));
    }
    match state
        .refresher
        .refresh(&state, &id, Reason::Force, &actor(&principal))
        .await
    {
        Ok(account) => Ok(Json(view(&account))),
        Err(RefreshError::NoRefreshPath(m)) | Err(RefreshError::Setup(m)) => Err(ApiError::invalid(m)),
        Err(RefreshError::Permanent(m)) => Err(ApiError::remote_code(RemoteErrorCode::RemoteUnauthorized, m)),
        Err(RefreshError::Transient(m)) => Err(ApiError::remote_code(RemoteErrorCode::RemoteUnreachable, m)),
        Err(RefreshError::Internal(m)) => Err(ApiError::internal(m)),
    }
}

/// `GET /integrated-accounts/{id}/events`: the audit log of status transitions.
pub async fn events(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    visible_account(&state, &principal, &id, false).await?;
    let events = state.store.events(&id).await.map_err(ApiError::internal)?;
    Ok(Json(json!({"result_count": events.len(), "result": events})))
}

/// `GET /integrated-accounts?status=&connector=&tenant_id=`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut filter = AccountFilter::default();
    for (k, v) in query_pairs(raw.as_deref()) {
        match k.as_str() {
            "status" => filter.status = Some(v.parse::<AccountStatus>().map_err(ApiError::invalid)?),
            "connector" => filter.connector = Some(v),
            "tenant_id" => filter.tenant_id = Some(v),
            other => {
                return Err(ApiError::invalid(format!("unknown query parameter {other:?}")));
            }
        }
    }
    if !principal.admin {
        match (&filter.tenant_id, &principal.tenant_id) {
            (Some(asked), Some(own)) if asked != own => {
                return Ok(Json(json!({"result": [], "result_count": 0})));
            }
            (_, own) => filter.tenant_id = Some(own.clone().unwrap_or_default()),
        }
    }
    let rows = state.store.accounts(&filter).await.map_err(ApiError::internal)?;
    let result: Vec<Value> = rows.iter().map(view).collect();
    Ok(Json(json!({"result_count": result.len(), "result": result})))
}

/// Loads an account visible to `principal` (404 otherwise, so existence does not leak).
/// `cached` allows a copy up to the store's cache TTL old (the hot path of vendor calls).
pub async fn visible_account(
    state: &AppState,
    principal: &Principal,
    id: &str,
    cached: bool,
) -> Result<AccountRow, ApiError> {
    let found = if cached {
        state.store.account_cached(id).await
    } else {
        state.store.account(id).await
    };
    match found.map_err(ApiError::internal)? {
        Some(a) if principal.can_see(&a.tenant_id) => Ok(a),
        _ => Err(ApiError::not_found(format!("no integrated account {id:?}"))),
    }
}

/// `GET /integrated-accounts/{id}`.
pub async fn get_one(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(
        &visible_account(&state, &principal, &id, false).await?,
    )))
}

/// `DELETE /integrated-accounts/{id}`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let account = visible_account(&state, &principal, &id, false).await?;
    state
        .store
        .delete_account(&account, &actor(&principal))
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(account = %id, "patchbay.accounts.delete");
    Ok(StatusCode::NO_CONTENT)
}
