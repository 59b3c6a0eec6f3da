//! OAuth routes: app settings per connector, starting an authorization-code flow, and the
//! provider's redirect back (`GET /oauth/callback`, authenticated by its single-use `state`).

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use crate::accounts::Principal;
use crate::http::auth::Admin;
use crate::http::body::{json_body, query_pairs};
use crate::http::context::RequestId;
use crate::http::error::ApiError;
use crate::http::openapi::schemas;
use crate::oauth::{Callback, OAuthApp, OAuthFlows};

/// `PUT /connectors/{name}/oauth-app` (admin): client id/secret, scopes, endpoint overrides.
#[utoipa::path(put, path = "/connectors/{name}/oauth-app", tag = "oauth", security(("bearer" = ["admin"])), params(("name" = String, Path, description = "Connector name")),
    request_body = crate::oauth::OAuthApp,
    responses((status = 200, description = "The settings, without the secret", body = schemas::OAuthAppView)))]
pub async fn put_app(
    State(flows): State<Arc<OAuthFlows>>,
    _: Admin,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    flows.check_oauth(&name)?;
    let app: OAuthApp = json_body(&body)?;
    flows.set_app(&name, &app).await?;
    Ok(Json(app.public_view()))
}

/// `GET /connectors/{name}/oauth-app` (admin): the settings, without the secret.
#[utoipa::path(get, path = "/connectors/{name}/oauth-app", tag = "oauth", security(("bearer" = ["admin"])), params(("name" = String, Path, description = "Connector name")),
    responses((status = 200, description = "The settings, without the secret", body = schemas::OAuthAppView)))]
pub async fn get_app(
    State(flows): State<Arc<OAuthFlows>>,
    _: Admin,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = flows
        .app(&name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no OAuth app for {name:?}")))?;
    Ok(Json(app.public_view()))
}

/// `POST /connect/{connector}`: starts an authorization-code flow; answers `{"authorize_url"}`.
#[utoipa::path(post, path = "/connect/{connector}", tag = "oauth", security(("bearer" = [])),
    params(("connector" = String, Path, description = "Connector name")),
    request_body = crate::oauth::StartConnect,
    responses((status = 200, description = "Send the browser there", body = schemas::AuthorizeUrl)))]
pub async fn connect(
    State(flows): State<Arc<OAuthFlows>>,
    Extension(principal): Extension<Principal>,
    Path(connector): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let authorize_url = flows.start(&principal, &connector, json_body(&body)?).await?;
    Ok(Json(json!({ "authorize_url": authorize_url })))
}

fn redirect_with(base: &str, params: &[(&str, &str)]) -> Response {
    let mut url = url::Url::parse(base).expect("validated when the flow started");
    url.query_pairs_mut().extend_pairs(params);
    Redirect::to(url.as_str()).into_response()
}

/// `GET /oauth/callback?code=&state=` (or `?error=&state=`): finishes the flow and sends the
/// browser back to the product's `redirect_uri` with `integrated_account_id` and `status`, or
/// with `error` and `error_description`.
#[utoipa::path(get, path = "/oauth/callback", tag = "oauth",
    params(
        ("state" = String, Query, description = "The flow's single-use state"),
        ("code" = Option<String>, Query, description = "The provider's authorization code"),
        ("error" = Option<String>, Query, description = "The provider's error"),
        ("error_description" = Option<String>, Query, description = "The provider's error text"),
    ),
    responses((status = 303, description = "Back to the product's `redirect_uri` with `integrated_account_id` and `status`, or `error` and `error_description`",
        headers(("location" = String, description = "The product's redirect_uri")))))]
pub async fn callback(
    State(flows): State<Arc<OAuthFlows>>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    Ok(match flows.callback(&query_pairs(raw.as_deref())).await? {
        Callback::Connected {
            redirect_uri,
            account,
        } => redirect_with(
            &redirect_uri,
            &[
                ("integrated_account_id", &account.id),
                ("status", account.status.as_str()),
            ],
        ),
        Callback::Denied {
            redirect_uri,
            error,
            description,
        } => redirect_with(
            &redirect_uri,
            &[("error", &error), ("error_description", &description)],
        ),
        Callback::Failed { redirect_uri, error } => {
            let e = ApiError::from(error);
            // The browser leaves with the code; the cause of an internal failure stays here.
            e.log_internal(&request_id);
            redirect_with(
                &redirect_uri,
                &[("error", e.code.as_str()), ("error_description", &e.message)],
            )
        }
    })
}
