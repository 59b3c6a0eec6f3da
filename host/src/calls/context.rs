//! One call in progress: the account it is for (visible to the caller, active, its token fresh),
//! its decrypted credentials and live connector; sending with the vendor-401 policy; cursors;
//! reading the answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use patchbay_engine::{Account, Call, HttpResponse, Payload, RateLimitInfo, RemoteErrorCode};
use serde_json::{Map, Value};

use super::answer::{Answer, CallFor};
use super::error::{CallFailure, CallsError, RemoteAnswer};
use super::query::CallQuery;
use super::service::Calls;
use crate::accounts::detail::{Phase, StatusDetail};
use crate::accounts::lookup::visible_account;
use crate::accounts::model::{AccountRow, AccountStatus};
use crate::accounts::principal::Principal;
use crate::accounts::state_machine::{AccountEvent, Transition};
use crate::clock::now_ms;
use crate::connectors::{Classification, LiveConnector};
use crate::oauth::refresh::{Reason, RefreshClass};
use crate::oauth::times::fresh_enough;
use crate::telemetry::emit;
use crate::telemetry::events::{
    CALL_NEEDS_REAUTH_FAILED, CALL_REMOTE_ERROR, CALL_USING_CURRENT_TOKEN, MONITORING_DRIFT_FAILED,
};
use crate::upstream::SendError;
use patchbay_engine::cursor::Resume;

/// The audit actor of changes a call makes (a 401 moving an account to `needs_reauth`).
const ACTOR: &str = "proxy";

/// What to do after a vendor refused the account's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After401 {
    /// The token was refreshed: send the call again.
    Retry,
    /// The credentials are dead: the account moves to `needs_reauth`, the caller gets the 401.
    NeedsReauth,
    /// The 401 is answered as it is.
    Answer,
}

/// A resolved call.
pub struct CallContext {
    /// The account.
    pub account: AccountRow,
    /// Its decrypted credentials.
    pub credentials: Value,
    /// Its connector.
    pub connector: Arc<LiveConnector>,
    /// The caller's query without reserved parameters (the first page's, once resumed).
    pub query: Vec<(String, String)>,
    /// `limit` (the first page's, once resumed).
    pub limit: Option<u64>,
    /// `next_cursor`.
    pub cursor: Option<String>,
    /// Whether records keep the vendor's original in `remote_data`.
    pub remote_data: bool,
}

impl CallContext {
    /// Resolves the account `query` names for `principal`: it must be visible, its connector
    /// loaded, the account active and its token fresh (refreshed here when it expires soon).
    /// A failure once the account is known names its connector and tenant (for the metrics).
    pub async fn resolve(
        calls: &Calls,
        principal: &Principal,
        query: CallQuery,
    ) -> Result<Self, CallFailure> {
        let mut account = visible_account(&calls.store, principal, &query.account_id, true)
            .await
            .map_err(CallsError::from)?;
        let call_for = CallFor {
            connector: account.connector.clone(),
            tenant: account.tenant_id.clone(),
        };
        let fail = |error: CallsError| CallFailure {
            error,
            served_by: None,
            call_for: Some(call_for.clone()),
        };
        let connector = calls
            .registry
            .get(&account.connector)
            .ok_or_else(|| fail(CallsError::ConnectorNotLoaded(account.connector.clone())))?;
        if account.status != AccountStatus::Active {
            return Err(fail(CallsError::NotActive(account.status)));
        }
        if !fresh_enough(calls.refresher.config(), &account, now_ms()) {
            account = refresh_before_call(calls, account).await.map_err(fail)?;
        }
        let credentials = calls
            .secrets
            .open_credentials(&account.id, &account.credentials)
            .map_err(|e| fail(e.into()))?;
        Ok(Self {
            account,
            credentials,
            connector,
            query: query.rest,
            limit: query.limit,
            cursor: query.cursor,
            remote_data: !query.no_remote_data,
        })
    }

    /// A failure of this call, with the connector version that served it.
    pub fn failure(&self, error: CallsError) -> CallFailure {
        CallFailure {
            error,
            served_by: Some(self.served_by()),
            call_for: Some(self.call_for()),
        }
    }

    /// Who the call is for (the metrics' labels).
    pub fn call_for(&self) -> CallFor {
        CallFor {
            connector: self.account.connector.clone(),
            tenant: self.account.tenant_id.clone(),
        }
    }

    /// `patchbay-connector-version`: what serves the call.
    pub fn served_by(&self) -> String {
        self.connector.served_by()
    }

    /// Continues from `next_cursor`, if given: the query and limit become the first page's, so a
    /// cursor alone continues the same list.
    pub fn resume(
        &mut self,
        calls: &Calls,
        scope: &str,
    ) -> Result<Option<patchbay_engine::PageState>, CallsError> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        let resume = calls.cursors.decode(cursor, &self.account.id, scope)?;
        self.query = resume.query;
        self.limit = resume.limit;
        Ok(Some(resume.page))
    }

    /// The `next_cursor` of a page.
    pub fn next_cursor(
        &self,
        calls: &Calls,
        scope: &str,
        next: Option<patchbay_engine::PageState>,
    ) -> Option<String> {
        next.map(|page| {
            let resume = Resume {
                page,
                query: self.query.clone(),
                limit: self.limit,
            };
            calls.cursors.encode(&self.account.id, scope, &resume)
        })
    }

    /// The engine's view of the account.
    pub fn engine_account(&self) -> Account<'_> {
        Account {
            credentials: &self.credentials,
            context: &self.account.context,
            base_url: self.account.base_url.as_deref(),
            auth_method: self.account.auth_method.as_deref(),
        }
    }

    /// The caller's query as a JSON object (`{{query.*}}`).
    pub fn query_object(&self) -> Map<String, Value> {
        self.query
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect()
    }

    /// Sends a vendor call and classifies the answer, handling a vendor 401 (see
    /// [`CallContext::after_unauthorized`]).
    pub async fn send(
        &mut self,
        calls: &Calls,
        call: &Call,
    ) -> Result<(HttpResponse, Classification), CallsError> {
        let (response, classification) = self.send_once(calls, call).await?;
        if !unauthorized(&classification) {
            return Ok((response, classification));
        }
        let what = format!("{}.{}", call.resource, call.method);
        match self.after_unauthorized(calls).await? {
            After401::Retry => {
                let (again, classified) = self.send_once(calls, call).await?;
                if unauthorized(&classified) {
                    self.needs_reauth(calls, &what, again.status).await;
                }
                Ok((again, classified))
            }
            After401::NeedsReauth => {
                self.needs_reauth(calls, &what, response.status).await;
                Ok((response, classification))
            }
            After401::Answer => Ok((response, classification)),
        }
    }

    /// What follows a vendor 401: an OAuth account is refreshed once and the call is to be
    /// retried (if the retry is refused too, [`CallContext::needs_reauth`]); an account that
    /// cannot refresh moves to `needs_reauth`; a failing token endpoint or a broken OAuth app
    /// is no reason to bother the end user, so the 401 is answered as it is.
    pub async fn after_unauthorized(&mut self, calls: &Calls) -> Result<After401, CallsError> {
        let now = now_ms();
        if let Some(expires) = self.account.token_expires_at.filter(|e| *e > now) {
            // The database believed this token valid: record how early it died.
            calls.metrics.token_drift(
                &self.account.connector,
                Duration::from_millis((expires - now) as u64),
            );
            let _ = calls
                .store
                .record_drift(&self.account.id, &self.account.connector, expires - now)
                .await;
        }
        if self
            .connector
            .account_oauth2(self.account.auth_method.as_deref())
            .is_none()
        {
            return Ok(After401::NeedsReauth);
        }
        let seen = self.account.token_obtained_at;
        match calls
            .refresher
            .refresh(&self.account.id, Reason::Rejected(seen), ACTOR)
            .await
        {
            Ok(account) if account.status == AccountStatus::Active => {
                self.credentials = calls
                    .secrets
                    .open_credentials(&account.id, &account.credentials)?;
                self.account = account;
                Ok(After401::Retry)
            }
            // No refresh path: the rejected credentials are all there is.
            Err(e) if e.class() == RefreshClass::NoRefreshPath => Ok(After401::NeedsReauth),
            // A dead grant already moved the account.
            _ => Ok(After401::Answer),
        }
    }

    /// One vendor call, counted by its normalized code; a successful answer may be sampled
    /// for schema drift.
    async fn send_once(
        &self,
        calls: &Calls,
        call: &Call,
    ) -> Result<(HttpResponse, Classification), CallsError> {
        let started = Instant::now();
        let count = |code: &'static str| {
            let connector = &self.account.connector;
            calls
                .metrics
                .upstream(connector, &call.resource, &call.method, code, started.elapsed());
        };
        let response = match calls
            .upstream
            .call(&self.connector, &self.engine_account(), call)
            .await
        {
            Ok(r) => r,
            Err(SendError::Upstream(e)) => {
                count(e.code().as_str());
                return Err(CallsError::Upstream(e));
            }
            Err(e) => return Err(e.into()),
        };
        let classification = self.connector.dispatch().classify(call, &response).await?;
        count(classification.failure.as_ref().map_or("ok", |f| f.code.as_str()));
        if classification.failure.is_none() {
            self.sample_drift(calls, call, &response);
        }
        Ok((response, classification))
    }

    /// Hands a copy of a successful answer to the drift tracker when its resource is due for a
    /// sample (at most one per resource per interval; the reading happens off this task).
    fn sample_drift(&self, calls: &Calls, call: &Call, response: &HttpResponse) {
        let connector = &self.account.connector;
        let dispatch = self.connector.dispatch();
        let reads_records = matches!(call.method.as_str(), "list" | "get");
        if !reads_records
            || dispatch.reads_in_component()
            || !calls.drift.should_sample(connector, &call.resource)
        {
            return;
        }
        let (live, drift, call, response) = (
            self.connector.clone(),
            calls.drift.clone(),
            call.clone(),
            response.clone(),
        );
        tokio::spawn(async move {
            let records = match live
                .connector
                .read_page(&call.resource, &call.method, None, response)
            {
                Ok(Payload::List { records, .. }) => records,
                Ok(Payload::Single(Value::Null)) | Err(_) => return,
                Ok(Payload::Single(record)) => vec![record],
            };
            let connector = live.connector.name();
            let declared = live.connector.declared_shape(&call.resource);
            if let Err(e) = drift.observe(connector, &call.resource, declared, &records).await {
                emit!(WARN, MONITORING_DRIFT_FAILED, connector = %connector, resource = %call.resource, error = %e);
            }
        });
    }

    /// Moves the account to `needs_reauth` after the vendor refused its credentials to `what`.
    pub async fn needs_reauth(&self, calls: &Calls, what: &str, status: u16) {
        let Ok(Some(current)) = calls.store.account(&self.account.id).await else {
            return;
        };
        if current.status != AccountStatus::Active {
            return;
        }
        let t = Transition::new(
            &current,
            AccountStatus::NeedsReauth,
            AccountEvent::NeedsReauth,
            ACTOR,
        )
        .with_detail(StatusDetail::new(
            Phase::Call,
            what.to_owned(),
            format!("vendor answered {status} to the account's credentials"),
        ));
        if let Err(e) = calls.store.transition(&t).await {
            emit!(WARN, CALL_NEEDS_REAUTH_FAILED, account = %self.account.id, error = %e);
        }
    }

    /// Reads a classified answer on the engine's general path: the payload, or the vendor's
    /// failure.
    pub async fn read(
        &self,
        call: &Call,
        response: HttpResponse,
        classification: Classification,
    ) -> Result<(Payload, RateLimitInfo), CallsError> {
        let outcome = self
            .connector
            .dispatch()
            .read(call, response, classification)
            .await?;
        match outcome.result {
            Ok(payload) => Ok((payload, outcome.rate_limit)),
            Err(failure) => {
                emit!(
                    INFO,
                    CALL_REMOTE_ERROR,
                    account = %self.account.id,
                    code = failure.code.as_str(),
                    remote_status = failure.status
                );
                Err(CallsError::Remote(Box::new(RemoteAnswer {
                    failure,
                    rate_limit: outcome.rate_limit,
                })))
            }
        }
    }

    /// Answers a list page straight from the vendor's bytes when the engine's raw path applies
    /// (see `patchbay_engine::rawpath`); `None`: use [`CallContext::read`].
    pub fn raw_list(
        &self,
        calls: &Calls,
        scope: &str,
        call: &Call,
        response: &HttpResponse,
        classification: &Classification,
        unified: Option<(&patchbay_engine::CompiledUnified, bool)>,
    ) -> Option<Answer> {
        if classification.failure.is_some() || self.connector.dispatch().reads_in_component() {
            return None;
        }
        let page = self.connector.connector.interpret_list_raw(
            &call.resource,
            &call.method,
            call.page.as_ref(),
            response,
            unified,
        )?;
        let next_cursor = self.next_cursor(calls, scope, page.next);
        Some(
            Answer::page(
                page.count,
                next_cursor.as_deref(),
                &page.records_json,
                classification.rate_limit.clone(),
                self.served_by(),
            )
            .for_call(self.call_for()),
        )
    }

    /// Answers a single record straight from the vendor's bytes when the engine's raw path
    /// applies (`Connector::interpret_single_raw`); `None`: use [`CallContext::read`].
    pub fn raw_single(
        &self,
        status: u16,
        call: &Call,
        response: &HttpResponse,
        classification: &Classification,
    ) -> Option<Answer> {
        if classification.failure.is_some() || self.connector.dispatch().reads_in_component() {
            return None;
        }
        let record = self
            .connector
            .connector
            .interpret_single_raw(&call.resource, &call.method, response)?;
        Some(
            Answer::record(
                status,
                record,
                classification.rate_limit.clone(),
                self.served_by(),
            )
            .for_call(self.call_for()),
        )
    }

    /// A JSON answer.
    pub fn answer(&self, status: u16, body: &Value, rate_limit: RateLimitInfo) -> Answer {
        Answer::json(status, body, rate_limit, self.served_by()).for_call(self.call_for())
    }
}

fn unauthorized(c: &Classification) -> bool {
    c.failure
        .as_ref()
        .is_some_and(|f| f.code == RemoteErrorCode::RemoteUnauthorized)
}

/// Refreshes a token that expires within the buffer before a call.
async fn refresh_before_call(calls: &Calls, account: AccountRow) -> Result<AccountRow, CallsError> {
    match calls
        .refresher
        .refresh(&account.id, Reason::Expiring, ACTOR)
        .await
    {
        Ok(fresh) if fresh.status == AccountStatus::Active => Ok(fresh),
        Ok(fresh) => Err(CallsError::NotActive(fresh.status)),
        Err(e) => match e.class() {
            RefreshClass::Permanent => Err(CallsError::ReauthNeeded(e)),
            // Cannot refresh: the token is used while it lasts (the vendor decides).
            RefreshClass::NoRefreshPath | RefreshClass::Setup => Ok(account),
            _ if account.token_expires_at.is_some_and(|exp| exp > now_ms()) => {
                emit!(WARN, CALL_USING_CURRENT_TOKEN, account = %account.id, error = %e);
                Ok(account)
            }
            _ => Err(CallsError::TokenExpired(e)),
        },
    }
}
