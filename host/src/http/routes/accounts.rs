//! `/integrated-accounts`: create, list, read, reconnect, retry, refresh, audit log, delete.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::accounts::{AccountFilter, AccountRow, AccountStatus, Accounts, Principal};
use crate::clock::rfc3339;
use crate::http::auth::Admin;
use crate::http::body::{json_body, query_pairs};
use crate::http::error::ApiError;
use crate::http::openapi::schemas;

/// The public view of an account: never the credentials.
pub fn view(a: &AccountRow) -> Value {
    let time = rfc3339;
    json!({
        "id": a.id,
        "connector": a.connector,
        "tenant_id": a.tenant_id,
        "status": a.status.as_str(),
        "context": a.context,
        "base_url": a.base_url,
        "auth_method": a.auth_method,
        "status_detail": a.status_detail,
        "token_expires_at": a.token_expires_at.and_then(time),
        "created_at": time(a.created_at),
        "updated_at": time(a.updated_at),
    })
}

/// `POST /integrated-accounts`: 201 with the account in the state connecting reached.
#[utoipa::path(post, path = "/integrated-accounts", tag = "accounts", security(("bearer" = [])),
    request_body = crate::accounts::CreateAccount,
    responses((status = 201, description = "The account, in the state connecting reached", body = schemas::Account)))]
pub async fn create(
    State(accounts): State<Arc<Accounts>>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let account = accounts.create(&principal, json_body(&body)?).await?;
    Ok((StatusCode::CREATED, Json(view(&account))).into_response())
}

/// `PATCH /integrated-accounts/{id}`: new credentials and/or context; the account reconnects.
#[utoipa::path(patch, path = "/integrated-accounts/{id}", tag = "accounts", security(("bearer" = [])), params(("id" = String, Path, description = "The integrated account's id")),
    request_body = crate::accounts::UpdateAccount,
    responses((status = 200, description = "The account, reconnected", body = schemas::Account),
        (status = 409, description = "`account_not_active`: not in a state that allows it (the message names it)", body = schemas::ErrorBody)))]
pub async fn update(
    State(accounts): State<Arc<Accounts>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let account = accounts.update(&principal, &id, json_body(&body)?).await?;
    Ok(Json(view(&account)))
}

/// `POST /integrated-accounts/{id}/retry`.
#[utoipa::path(post, path = "/integrated-accounts/{id}/retry", tag = "accounts", security(("bearer" = [])), params(("id" = String, Path, description = "The integrated account's id")),
    responses((status = 200, description = "The account, after connecting again", body = schemas::Account),
        (status = 409, description = "`account_not_active`: not in a state that allows it (the message names it)", body = schemas::ErrorBody)))]
pub async fn retry(
    State(accounts): State<Arc<Accounts>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(&accounts.retry(&principal, &id).await?)))
}

/// `POST /integrated-accounts/{id}/refresh` (admin): refreshes the OAuth token now.
#[utoipa::path(post, path = "/integrated-accounts/{id}/refresh", tag = "accounts", security(("bearer" = ["admin"])), params(("id" = String, Path, description = "The integrated account's id")),
    responses((status = 200, description = "The account, with its new token's expiry", body = schemas::Account),
        (status = 409, description = "`account_not_active`: not in a state that allows it (the message names it)", body = schemas::ErrorBody)))]
pub async fn refresh(
    State(accounts): State<Arc<Accounts>>,
    Admin(principal): Admin,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(&accounts.refresh_now(&principal, &id).await?)))
}

/// `GET /integrated-accounts/{id}/events`: the audit log of status transitions.
#[utoipa::path(get, path = "/integrated-accounts/{id}/events", tag = "accounts", security(("bearer" = [])), params(("id" = String, Path, description = "The integrated account's id")),
    responses((status = 200, description = "Status transitions, oldest first", body = schemas::AccountEvents)))]
pub async fn events(
    State(accounts): State<Arc<Accounts>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let events = accounts.events(&principal, &id).await?;
    Ok(Json(json!({"result_count": events.len(), "result": events})))
}

/// `GET /integrated-accounts?status=&connector=&tenant_id=`.
#[utoipa::path(get, path = "/integrated-accounts", tag = "accounts", security(("bearer" = [])),
    params(
        ("status" = Option<schemas::AccountStatus>, Query, description = "Only accounts in this status"),
        ("connector" = Option<String>, Query, description = "Only this connector's accounts"),
        ("tenant_id" = Option<String>, Query, description = "Only this tenant's accounts (admin tokens)"),
    ),
    responses((status = 200, description = "Accounts visible to the token", body = schemas::AccountList)))]
pub async fn list(
    State(accounts): State<Arc<Accounts>>,
    Extension(principal): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut filter = AccountFilter::default();
    for (k, v) in query_pairs(raw.as_deref()) {
        match k.as_str() {
            "status" => {
                filter.status = Some(
                    v.parse::<AccountStatus>()
                        .map_err(|e| ApiError::invalid(e.to_string()))?,
                )
            }
            "connector" => filter.connector = Some(v),
            "tenant_id" => filter.tenant_id = Some(v),
            other => {
                return Err(ApiError::invalid(format!("unknown query parameter {other:?}")));
            }
        }
    }
    let result: Vec<Value> = accounts
        .list(&principal, filter)
        .await?
        .iter()
        .map(view)
        .collect();
    Ok(Json(json!({"result_count": result.len(), "result": result})))
}

/// `GET /integrated-accounts/{id}`.
#[utoipa::path(get, path = "/integrated-accounts/{id}", tag = "accounts", security(("bearer" = [])), params(("id" = String, Path, description = "The integrated account's id")),
    responses((status = 200, description = "The account", body = schemas::Account)))]
pub async fn get_one(
    State(accounts): State<Arc<Accounts>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(&accounts.get(&principal, &id).await?)))
}

/// `DELETE /integrated-accounts/{id}`.
#[utoipa::path(delete, path = "/integrated-accounts/{id}", tag = "accounts", security(("bearer" = [])), params(("id" = String, Path, description = "The integrated account's id")),
    responses((status = 204, description = "Deleted, with its credentials")))]
pub async fn delete(
    State(accounts): State<Arc<Accounts>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    accounts.delete(&principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
