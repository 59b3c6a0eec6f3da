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
use crate::error::ApiError;
use crate::server::AppState;
use crate::store::{AccountFilter, AccountRow, AccountStatus, Principal, now_ms};

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
        "created_at": time(a.created_at),
        "updated_at": time(a.updated_at),
    })
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
    let sealed = state
        .secrets
        .seal(credentials.to_string().as_bytes(), id.as_bytes());
    let now = now_ms();
    let row = AccountRow {
        id,
        connector: req.connector,
        tenant_id,
        status: AccountStatus::Active,
        credentials: sealed,
        context,
        base_url: req.base_url,
        created_at: now,
        updated_at: now,
    };
    state
        .store
        .insert_account(&row)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(account = %row.id, connector = %row.connector, tenant = %row.tenant_id, "patchbay.accounts.create");
    Ok((StatusCode::CREATED, Json(view(&row))).into_response())
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
    visible_account(&state, &principal, &id, false).await?;
    state
        .store
        .delete_account(&id)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(account = %id, "patchbay.accounts.delete");
    Ok(StatusCode::NO_CONTENT)
}
