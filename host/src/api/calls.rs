//! What proxy and unified calls share: resolving the account, reading reserved query parameters,
//! running a vendor call, and writing the answer with rate-limit headers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use patchbay_engine::{
    Account, Call, CompiledUnified, HttpResponse, Outcome, PageState, Payload, RateLimitInfo,
};
use serde_json::{Map, Value};

use super::accounts::visible_account;
use super::{json_body, query_pairs};
use crate::cursor::Resume;
use crate::error::{ApiError, set_headers};
use crate::lifecycle::AccountEvent;
use crate::refresh::{Reason, RefreshError, fresh_enough, oauth_settings};
use crate::registry::LiveConnector;
use crate::server::AppState;
use crate::store::Transition;
use crate::store::{AccountRow, AccountStatus, Principal, now_ms};
use patchbay_engine::RemoteErrorCode;
use serde_json::json;

/// Largest page size a caller may ask for.
pub const MAX_LIMIT: u64 = 1000;

/// A resolved call context.
pub struct Ctx {
    /// The account.
    pub account: AccountRow,
    /// Its decrypted credentials.
    pub credentials: Value,
    /// Its connector.
    pub connector: Arc<LiveConnector>,
    /// Caller's query without reserved parameters.
    pub query: Vec<(String, String)>,
    /// `limit`.
    pub limit: Option<u64>,
    /// `next_cursor`.
    pub cursor: Option<String>,
    /// `remote_data=false` was asked.
    pub no_remote_data: bool,
}

impl Ctx {
    /// Resolves the account named by `integrated_account_id` for `principal`.
    pub async fn resolve(
        state: &AppState,
        principal: &Principal,
        raw_query: Option<&str>,
    ) -> Result<Self, ApiError> {
        let mut account_id = None;
        let mut limit = None;
        let mut cursor = None;
        let mut no_remote_data = false;
        let mut query = Vec::new();
        for (k, v) in query_pairs(raw_query) {
            match k.as_str() {
                "integrated_account_id" => account_id = Some(v),
                "limit" => {
                    let n: u64 = v
                        .parse()
                        .map_err(|_| ApiError::invalid("limit must be a positive integer"))?;
                    if n == 0 || n > MAX_LIMIT {
                        return Err(ApiError::invalid(format!(
                            "limit must be between 1 and {MAX_LIMIT}"
                        )));
                    }
                    limit = Some(n);
                }
                "next_cursor" => cursor = Some(v).filter(|c| !c.is_empty()),
                "remote_data" => no_remote_data = v == "false",
                _ => query.push((k, v)),
            }
        }
        let account_id = account_id.ok_or_else(|| ApiError::invalid("integrated_account_id is required"))?;
        let mut account = visible_account(state, principal, &account_id, true).await?;
        let connector = state.registry.get(&account.connector).ok_or_else(|| {
            ApiError::remote_code(
                patchbay_engine::RemoteErrorCode::ConnectorError,
                format!("connector {:?} is not loaded", account.connector),
            )
        })?;
        if account.status != AccountStatus::Active {
            return Err(ApiError::new(
                patchbay_engine::ErrorCode::AccountNotActive,
                format!("integrated account is {}, not active", account.status.as_str()),
            ));
        }
        if !fresh_enough(&state.config.refresh, &account, now_ms()) {
            account = refresh_before_call(state, account).await?;
        }
        let credentials = state.open_credentials(&account)?;
        Ok(Self {
            account,
            credentials,
            connector,
            query,
            limit,
            cursor,
            no_remote_data,
        })
    }

    /// Continues from `next_cursor`, if given: the query and limit become the first page's, so a
    /// cursor alone continues the same list.
    pub fn resume(&mut self, state: &AppState, scope: &str) -> Result<Option<PageState>, ApiError> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        let resume = state.cursors.decode(cursor, &self.account.id, scope)?;
        self.query = resume.query;
        self.limit = resume.limit;
        Ok(Some(resume.page))
    }

    /// The `next_cursor` of a page.
    pub fn next_cursor(&self, state: &AppState, scope: &str, next: Option<PageState>) -> Option<String> {
        next.map(|page| {
            let resume = Resume {
                page,
                query: self.query.clone(),
                limit: self.limit,
            };
            state.cursors.encode(&self.account.id, scope, &resume)
        })
    }

    /// The engine's view of the account.
    pub fn engine_account(&self) -> Account<'_> {
        Account {
            credentials: &self.credentials,
            context: &self.account.context,
            base_url: self.account.base_url.as_deref(),
        }
    }

    /// The caller's query as a JSON object (`{{query.*}}`).
    pub fn query_object(&self) -> Map<String, Value> {
        self.query
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect()
    }

    /// `patchbay-connector-version`: what served the call.
    pub fn version_header(&self) -> (&'static str, String) {
        ("patchbay-connector-version", self.connector.served_by())
    }

    /// Sends a vendor call, handling a vendor 401: an OAuth account is refreshed once and the call
    /// retried; if that fails, or the account cannot refresh, it moves to `needs_reauth`.
    pub async fn call(&mut self, state: &AppState, call: &Call) -> Result<HttpResponse, ApiError> {
        let response = self.send(state, call).await?;
        if self.connector.failure_code(call, &response).await? != Some(RemoteErrorCode::RemoteUnauthorized) {
            return Ok(response);
        }
        let now = now_ms();
        if let Some(expires) = self.account.token_expires_at.filter(|e| *e > now) {
            // The database believed this token valid: record how early it died.
            let _ = state
                .store
                .record_drift(&self.account.id, &self.account.connector, expires - now)
                .await;
        }
        if oauth_settings(state, &self.account.connector).is_some() {
            let seen = self.account.token_obtained_at;
            match state
                .refresher
                .refresh(state, &self.account.id, Reason::Rejected(seen), "proxy")
                .await
            {
                Ok(account) if account.status == AccountStatus::Active => {
                    self.credentials = state.open_credentials(&account)?;
                    self.account = account;
                    let again = self.send(state, call).await?;
                    if self.connector.failure_code(call, &again).await?
                        != Some(RemoteErrorCode::RemoteUnauthorized)
                    {
                        return Ok(again);
                    }
                    self.needs_reauth(state, call, &again).await;
                    return Ok(again);
                }
                // No refresh path: the rejected credentials are all there is.
                Err(RefreshError::NoRefreshPath(_)) => {}
                // A dead grant already moved the account; a failing token endpoint or a broken
                // OAuth app is no reason to bother the end user: answer the 401 as it is.
                _ => return Ok(response),
            }
        }
        self.needs_reauth(state, call, &response).await;
        Ok(response)
    }

    async fn needs_reauth(&self, state: &AppState, call: &Call, response: &HttpResponse) {
        let Ok(Some(current)) = state.store.account(&self.account.id).await else {
            return;
        };
        if current.status != AccountStatus::Active {
            return;
        }
        let mut t = Transition::new(
            &current,
            AccountStatus::NeedsReauth,
            AccountEvent::NeedsReauth,
            "proxy",
        );
        t.detail = Some(json!({
            "phase": "call",
            "step": format!("{}.{}", call.resource, call.method),
            "message": format!("vendor answered {} to the account's credentials", response.status),
            "at": now_ms(),
        }));
        if let Err(e) = state.store.transition(&t).await {
            tracing::warn!(account = %self.account.id, error = %e, "patchbay.accounts.needs_reauth_failed");
        }
    }

    /// Sends a vendor call.
    pub async fn send(&self, state: &AppState, call: &Call) -> Result<HttpResponse, ApiError> {
        state
            .executor
            .send(&self.connector, &self.engine_account(), call)
            .await
            .map_err(|mut e| {
                e.headers.push(self.version_header());
                e
            })
    }

    /// Interprets an answer on the engine's general path.
    pub async fn outcome(
        &self,
        call: &Call,
        response: HttpResponse,
    ) -> Result<(Payload, RateLimitInfo), ApiError> {
        let Outcome { rate_limit, result } =
            self.connector.interpret(call, response).await.map_err(|mut e| {
                e.headers.push(self.version_header());
                e
            })?;
        match result {
            Ok(payload) => Ok((payload, rate_limit)),
            Err(failure) => {
                tracing::info!(
                    account = %self.account.id,
                    code = failure.code.as_str(),
                    remote_status = failure.status,
                    "patchbay.proxy.remote_error"
                );
                let mut e = ApiError::remote(failure, rate_limit);
                e.headers.push(self.version_header());
                Err(e)
            }
        }
    }

    /// Answers a list page straight from the vendor's bytes when the engine's raw path applies
    /// (see `patchbay_engine::rawpath`); `None`: use [`Ctx::outcome`].
    pub fn raw_list(
        &self,
        state: &AppState,
        scope: &str,
        call: &Call,
        response: &HttpResponse,
        unified: Option<(&CompiledUnified, bool)>,
    ) -> Option<Response> {
        if self.connector.reads_in_component() {
            return None;
        }
        let page = self.connector.interpret_list_raw(
            &call.resource,
            &call.method,
            call.page.as_ref(),
            response,
            unified,
        )?;
        let rate_limit = self.connector.rate_limit(&response.headers, now_ms());
        let next_cursor = self.next_cursor(state, scope, page.next);
        let mut body = Vec::with_capacity(page.records_json.len() + 256);
        body.extend_from_slice(format!("{{\"result_count\":{},\"next_cursor\":", page.count).as_bytes());
        serde_json::to_writer(&mut body, &next_cursor).expect("writing to a Vec");
        body.extend_from_slice(b",\"result\":");
        body.extend_from_slice(&page.records_json);
        body.push(b'}');
        Some(self.respond_bytes(StatusCode::OK, body, &rate_limit))
    }

    /// A JSON answer with rate-limit and version headers.
    pub fn respond(&self, status: StatusCode, body: Value, rate_limit: &RateLimitInfo) -> Response {
        self.respond_bytes(
            status,
            serde_json::to_vec(&body).expect("JSON serializes"),
            rate_limit,
        )
    }

    fn respond_bytes(&self, status: StatusCode, body: Vec<u8>, rate_limit: &RateLimitInfo) -> Response {
        let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        let mut headers = rate_limit.headers(false);
        headers.push(self.version_header());
        set_headers(response.headers_mut(), headers);
        response
    }
}

/// Refreshes a token that expires within the buffer before a call.
async fn refresh_before_call(state: &AppState, account: AccountRow) -> Result<AccountRow, ApiError> {
    match state
        .refresher
        .refresh(state, &account.id, Reason::Expiring, "proxy")
        .await
    {
        Ok(fresh) if fresh.status == AccountStatus::Active => Ok(fresh),
        Ok(fresh) => Err(ApiError::new(
            patchbay_engine::ErrorCode::AccountNotActive,
            format!("integrated account is {}, not active", fresh.status.as_str()),
        )),
        Err(RefreshError::Permanent(message)) => Err(ApiError::new(
            patchbay_engine::ErrorCode::AccountNotActive,
            format!("integrated account is needs_reauth, not active: {message}"),
        )),
        // Cannot refresh: the token is used while it lasts (the vendor decides).
        Err(RefreshError::NoRefreshPath(_)) | Err(RefreshError::Setup(_)) => Ok(account),
        Err(e) if account.token_expires_at.is_some_and(|exp| exp > now_ms()) => {
            tracing::warn!(account = %account.id, error = %e, "patchbay.refresh.using_current_token");
            Ok(account)
        }
        Err(e) => Err(ApiError::remote_code(
            RemoteErrorCode::RemoteUnreachable,
            format!("the access token expired and could not be refreshed: {e}"),
        )),
    }
}

/// A request body: JSON when present, `None` when empty.
pub fn optional_body(bytes: &Bytes) -> Result<Option<Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(None)
    } else {
        json_body(bytes).map(Some)
    }
}
