//! The normalized error body every non-2xx answer carries, and the one place that decides which
//! status and code each failure of the layers below becomes: a `From` conversion per error type.
//! Internal failures keep their cause (and where it arose) for the log line that
//! [`super::context`] writes once, with the request id; callers only ever see `internal error`.

use std::panic::Location;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use patchbay_engine::{CallError, ErrorCode, RateLimitInfo, RemoteErrorCode, RemoteFailure, UnifiedError};
use serde_json::{Value, json};

use crate::accounts::AccountsError;
use crate::calls::{CallFailure, CallsError, CursorError};
use crate::connectors::{ChangeError, DispatchError};
use crate::oauth::{AppError, FlowError, RefreshClass, RefreshError};
use crate::sandbox::HookFailure;
use crate::secrets::SecretsError;
use crate::store::StoreError;
use crate::telemetry::emit;
use crate::telemetry::events::HTTP_INTERNAL;
use crate::upstream::UpstreamError;

/// An error answer of the host (boxed: it travels in every handler's `Result`).
#[derive(Debug, Clone)]
pub struct ApiError(Box<ErrorDetail>);

/// The cause of an internal error: logged, never shown.
#[derive(Debug, Clone)]
pub struct Internal {
    /// What failed.
    pub cause: String,
    /// Where the error was turned into an answer.
    pub at: &'static Location<'static>,
}

/// What an [`ApiError`] says.
#[derive(Debug, Clone)]
pub struct ErrorDetail {
    /// Normalized code.
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// Vendor's status, for remote errors.
    pub remote_status: Option<u16>,
    /// Vendor's body, for remote errors.
    pub remote_body: Option<Value>,
    /// Vendor's rate-limit state, passed through as IETF headers.
    pub rate_limit: Option<RateLimitInfo>,
    /// Extra headers (e.g. `patchbay-connector-version`).
    pub headers: Vec<(&'static str, String)>,
    /// Structured details (e.g. every problem of a refused manifest).
    pub details: Option<Value>,
    /// For `internal`: the cause, for the log.
    pub internal: Option<Internal>,
}

impl std::ops::Deref for ApiError {
    type Target = ErrorDetail;
    fn deref(&self) -> &ErrorDetail {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorDetail {
        &mut self.0
    }
}

impl ApiError {
    /// A host-side error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(Box::new(ErrorDetail {
            code,
            message: message.into(),
            remote_status: None,
            remote_body: None,
            rate_limit: None,
            headers: Vec::new(),
            details: None,
            internal: None,
        }))
    }

    /// The normalized code.
    pub fn code(&self) -> ErrorCode {
        self.0.code
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// 500 `internal`: the cause is kept for the log line of the request, not shown.
    #[track_caller]
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(ErrorCode::Internal, "internal error");
        e.internal = Some(Internal {
            cause: cause.to_string(),
            at: Location::caller(),
        });
        e
    }

    /// A vendor-side failure.
    pub fn remote(failure: RemoteFailure, rate_limit: RateLimitInfo) -> Self {
        let mut e = Self::new(ErrorCode::Remote(failure.code), failure.message);
        e.remote_status = (failure.status != 0).then_some(failure.status);
        e.remote_body = failure.body;
        e.rate_limit = Some(rate_limit);
        e
    }

    /// A vendor-side failure with no vendor answer (timeouts, connection errors, connector bugs).
    pub fn remote_code(code: RemoteErrorCode, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Remote(code), message)
    }

    /// Logs the cause of an internal error, once, with the request it failed.
    pub fn log_internal(&self, request_id: &str) {
        if let Some(Internal { cause, at }) = &self.internal {
            emit!(ERROR, HTTP_INTERNAL, request_id = %request_id, error = %cause, at = %at);
        }
    }

    /// The normalized body.
    pub fn body(&self, request_id: &str) -> Value {
        let mut error = json!({
            "code": self.code.as_str(),
            "message": self.message,
            "request_id": request_id,
            "remote": self.code.is_remote(),
        });
        if let Some(s) = self.remote_status {
            error["remote_status"] = json!(s);
        }
        if let Some(b) = &self.remote_body {
            error["remote_body"] = b.clone();
        }
        if let Some(d) = &self.details {
            error["details"] = d.clone();
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        let throttled = self.code == ErrorCode::Remote(RemoteErrorCode::RateLimited);
        if let Some(rl) = &self.rate_limit {
            set_headers(response.headers_mut(), rl.headers(throttled));
        }
        set_headers(response.headers_mut(), self.headers.clone());
        // The body is written by `request_context`, which knows the request id.
        response.extensions_mut().insert(self);
        response
    }
}

/// Sets headers, skipping values that are not valid header text.
pub fn set_headers(map: &mut axum::http::HeaderMap, headers: Vec<(&'static str, String)>) {
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            map.insert(k, v);
        }
    }
}

// One conversion per failure type of the layers below: each decides its status once.

impl From<StoreError> for ApiError {
    #[track_caller]
    fn from(e: StoreError) -> Self {
        match e {
            // A lost race on an account's status.
            StoreError::Conflict { id, expected } => Self::new(
                ErrorCode::AccountNotActive,
                format!(
                    "integrated account {id} changed meanwhile (it is no longer {expected}); read it again"
                ),
            ),
            // The database is down or unreachable: the request lost nothing and may be retried.
            e if e.is_unavailable() => {
                let mut api = Self::new(
                    ErrorCode::DatabaseUnavailable,
                    "the host's database is unavailable; retry later",
                );
                api.internal = Some(Internal {
                    cause: e.to_string(),
                    at: Location::caller(),
                });
                api
            }
            other => Self::internal(other),
        }
    }
}

impl From<SecretsError> for ApiError {
    #[track_caller]
    fn from(e: SecretsError) -> Self {
        Self::internal(e)
    }
}

impl From<CursorError> for ApiError {
    fn from(e: CursorError) -> Self {
        Self::invalid(e.to_string())
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::UnknownResource(_) | CallError::UnknownMethod { .. } => Self::not_found(e.to_string()),
            CallError::Missing(_) => Self::invalid(e.to_string()),
            CallError::BadUrl(_) => Self::remote_code(RemoteErrorCode::ConnectorError, e.to_string()),
        }
    }
}

impl From<UnifiedError> for ApiError {
    fn from(e: UnifiedError) -> Self {
        match e {
            UnifiedError::NotImplemented { .. } | UnifiedError::MethodNotImplemented { .. } => {
                Self::not_found(e.to_string())
            }
            UnifiedError::BodyMapping(_) => Self::invalid(e.to_string()),
            UnifiedError::Call(c) => Self::from(c),
        }
    }
}

/// A hook failure: the caller's input → 400; bad vendor data → `mapping_error`; a crashed or
/// inconsistent component → `connector_error`; the details name connector, version and hook.
impl From<HookFailure> for ApiError {
    fn from(e: HookFailure) -> Self {
        let message = e.to_string();
        let (mut err, label, hook, reason, stderr) = match &e {
            HookFailure::Invalid { label, hook, .. } => (Self::invalid(message), label, *hook, None, None),
            HookFailure::Mapping { label, hook, .. } => (
                Self::remote_code(RemoteErrorCode::MappingError, message),
                label,
                *hook,
                None,
                None,
            ),
            HookFailure::Unsupported { label, hook } => (
                Self::remote_code(RemoteErrorCode::ConnectorError, message),
                label,
                *hook,
                None,
                None,
            ),
            HookFailure::Crashed {
                label,
                hook,
                reason,
                stderr,
            } => (
                Self::remote_code(RemoteErrorCode::ConnectorError, message),
                label,
                *hook,
                Some(reason.clone()),
                Some(stderr.clone()).filter(|s| !s.is_empty()),
            ),
        };
        err.details = Some(json!({
            "connector": label.to_string(),
            "hook": hook,
            "reason": reason,
            "guest_stderr": stderr,
        }));
        err
    }
}

impl From<DispatchError> for ApiError {
    fn from(e: DispatchError) -> Self {
        match e {
            DispatchError::Call(e) => Self::from(e),
            DispatchError::Hook(e) => Self::from(e),
            DispatchError::LeavesOrigin { .. } => {
                Self::remote_code(RemoteErrorCode::ConnectorError, e.to_string())
            }
            DispatchError::Mapping(m) => Self::remote_code(RemoteErrorCode::MappingError, m),
        }
    }
}

impl From<UpstreamError> for ApiError {
    fn from(e: UpstreamError) -> Self {
        Self::remote_code(e.code(), e.to_string())
    }
}

impl From<ChangeError> for ApiError {
    #[track_caller]
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::Invalid(problems) => {
                let mut err = Self::invalid(format!(
                    "manifest refused ({} problem{}); the previous version stays live",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                ));
                err.details = Some(json!({ "problems": problems }));
                err
            }
            ChangeError::NotFound(m) => Self::not_found(m),
            ChangeError::Store(e) => Self::from(e),
        }
    }
}

/// An operator's refresh (`POST .../refresh`).
impl From<RefreshError> for ApiError {
    #[track_caller]
    fn from(e: RefreshError) -> Self {
        match e.class() {
            RefreshClass::NoRefreshPath | RefreshClass::Setup => Self::invalid(e.to_string()),
            RefreshClass::Permanent => Self::remote_code(RemoteErrorCode::RemoteUnauthorized, e.to_string()),
            RefreshClass::Transient => Self::remote_code(RemoteErrorCode::RemoteUnreachable, e.to_string()),
            RefreshClass::Internal => Self::internal(e),
        }
    }
}

impl From<AppError> for ApiError {
    #[track_caller]
    fn from(e: AppError) -> Self {
        match e {
            AppError::Missing(_) => Self::invalid(e.to_string()),
            AppError::Store(e) => Self::from(e),
            AppError::Secrets(e) => Self::from(e),
        }
    }
}

impl From<AccountsError> for ApiError {
    #[track_caller]
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::Invalid(m) => Self::invalid(m),
            AccountsError::State(m) => Self::new(ErrorCode::AccountNotActive, m),
            AccountsError::Forbidden(m) => Self::forbidden(m),
            AccountsError::NotFound(_) => Self::not_found(e.to_string()),
            AccountsError::UnknownConnector(_) => Self::invalid(e.to_string()),
            AccountsError::ConnectorNotLoaded(_) => {
                Self::remote_code(RemoteErrorCode::ConnectorError, e.to_string())
            }
            AccountsError::Refresh(e) => Self::from(e),
            AccountsError::Store(e) => Self::from(e),
            AccountsError::Secrets(e) => Self::from(e),
        }
    }
}

impl From<FlowError> for ApiError {
    #[track_caller]
    fn from(e: FlowError) -> Self {
        match e {
            FlowError::NoConnector(_) => Self::not_found(e.to_string()),
            FlowError::NotOAuth(_) | FlowError::Authorize(_) => Self::invalid(e.to_string()),
            FlowError::Invalid(m) => Self::invalid(m),
            FlowError::Forbidden(m) => Self::forbidden(m),
            FlowError::Exchange(_) => Self::remote_code(RemoteErrorCode::RemoteUnauthorized, e.to_string()),
            FlowError::App(e) => Self::from(e),
            FlowError::Accounts(e) => Self::from(e),
            FlowError::Store(e) => Self::from(e),
            FlowError::Secrets(e) => Self::from(e),
        }
    }
}

impl From<CallsError> for ApiError {
    #[track_caller]
    fn from(e: CallsError) -> Self {
        match e {
            CallsError::Invalid(m) => Self::invalid(m),
            CallsError::Account(e) => Self::from(e),
            CallsError::ConnectorNotLoaded(_) => {
                Self::remote_code(RemoteErrorCode::ConnectorError, e.to_string())
            }
            CallsError::NotActive(_) | CallsError::ReauthNeeded(_) => {
                Self::new(ErrorCode::AccountNotActive, e.to_string())
            }
            CallsError::TokenExpired(_) => {
                Self::remote_code(RemoteErrorCode::RemoteUnreachable, e.to_string())
            }
            CallsError::Cursor(e) => Self::from(e),
            CallsError::Call(e) => Self::from(e),
            CallsError::Unified(e) => Self::from(e),
            CallsError::Dispatch(e) => Self::from(e),
            CallsError::Upstream(e) => Self::from(e),
            CallsError::NotAnObject => Self::remote_code(RemoteErrorCode::MappingError, e.to_string()),
            CallsError::Remote(answer) => Self::remote(answer.failure, answer.rate_limit),
            CallsError::Store(e) => Self::from(e),
            CallsError::Secrets(e) => Self::from(e),
        }
    }
}

impl From<CallFailure> for ApiError {
    #[track_caller]
    fn from(f: CallFailure) -> Self {
        let mut e = Self::from(f.error);
        if let Some(served_by) = f.served_by {
            e.headers.push(("patchbay-connector-version", served_by));
        }
        e
    }
}
