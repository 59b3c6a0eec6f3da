//! Which implementation serves each step of a call: the connector's Wasm component when its
//! manifest declares the hook, the native declarative engine otherwise. Callers see one API and
//! the engine's types either way.

use patchbay_engine::manifest::Hook;
use patchbay_engine::{Account, Call, CompiledUnified, HttpRequest, HttpResponse, Outcome, RemoteErrorCode};
use serde_json::Value;

use crate::error::ApiError;
use crate::executor::call_error;
use crate::registry::LiveConnector;
use crate::sandbox::{HookFailure, LoadedComponent};
use crate::store::now_ms;

/// A hook failure as an API answer: the caller's input → 400; bad vendor data → `mapping_error`;
/// a crashed or inconsistent component → `connector_error`, naming connector, version and hook.
pub fn hook_error(e: HookFailure) -> ApiError {
    let message = e.to_string();
    let (mut err, hook, reason, stderr) = match &e {
        HookFailure::Invalid { hook, .. } => (ApiError::invalid(message), *hook, None, None),
        HookFailure::Mapping { hook, .. } => (
            ApiError::remote_code(RemoteErrorCode::MappingError, message),
            *hook,
            None,
            None,
        ),
        HookFailure::Unsupported { hook, .. } => (
            ApiError::remote_code(RemoteErrorCode::ConnectorError, message),
            *hook,
            None,
            None,
        ),
        HookFailure::Crashed {
            hook, reason, stderr, ..
        } => (
            ApiError::remote_code(RemoteErrorCode::ConnectorError, message),
            *hook,
            Some(reason.clone()),
            Some(stderr.clone()).filter(|s| !s.is_empty()),
        ),
    };
    let label = match &e {
        HookFailure::Invalid { label, .. }
        | HookFailure::Mapping { label, .. }
        | HookFailure::Unsupported { label, .. }
        | HookFailure::Crashed { label, .. } => label.to_string(),
    };
    err.details = Some(serde_json::json!({
        "connector": label,
        "hook": hook,
        "reason": reason,
        "guest_stderr": stderr,
    }));
    err
}

impl LiveConnector {
    /// The component, when it serves `hook`.
    pub fn component_for(&self, hook: Hook) -> Option<&LoadedComponent> {
        self.component
            .as_deref()
            .filter(|_| self.connector.has_hook(hook))
    }

    /// Whether any step of reading an answer runs in the component (the raw fast path then
    /// does not apply).
    pub fn reads_in_component(&self) -> bool {
        [Hook::Classify, Hook::ReadPage, Hook::MapRecords]
            .into_iter()
            .any(|h| self.component_for(h).is_some())
    }

    /// The vendor request for a call, credentials included.
    pub async fn request(&self, account: &Account<'_>, call: &Call) -> Result<HttpRequest, ApiError> {
        let Some(component) = self.component_for(Hook::BuildRequest) else {
            return self.connector.build_request(account, call).map_err(call_error);
        };
        let mut request = component.build_request(account, call).await.map_err(hook_error)?;
        // Credentials go only to the vendor's own origin, whatever a component builds.
        let base = self.connector.base_url(account).map_err(call_error)?;
        let same_origin = url::Url::parse(&request.url).is_ok_and(|u| u.origin() == base.origin());
        if !same_origin {
            return Err(ApiError::remote_code(
                RemoteErrorCode::ConnectorError,
                format!(
                    "{} build_request: URL {:?} leaves the vendor's origin {}",
                    self.served_by(),
                    request.url,
                    base.origin().ascii_serialization()
                ),
            ));
        }
        self.connector
            .authorize(&mut request, account)
            .map_err(call_error)?;
        Ok(request)
    }

    /// Everything an answer says: rate-limit state, and the payload or the normalized failure.
    pub async fn interpret(&self, call: &Call, response: HttpResponse) -> Result<Outcome, ApiError> {
        let now = now_ms();
        let (rate_limit, failure) = match self.component_for(Hook::Classify) {
            Some(c) => c.classify(call, &response, now).await.map_err(hook_error)?,
            None => (
                self.connector.rate_limit(&response.headers, now),
                self.connector.failure(&response),
            ),
        };
        if let Some(failure) = failure {
            return Ok(Outcome {
                rate_limit,
                result: Err(failure),
            });
        }
        let result = match self.component_for(Hook::ReadPage) {
            Some(c) => Ok(c.read_page(call, &response).await.map_err(hook_error)?),
            None => self
                .connector
                .read_page(&call.resource, &call.method, call.page.as_ref(), response),
        };
        Ok(Outcome { rate_limit, result })
    }

    /// The failure code of an answer (`None`: a success).
    pub async fn failure_code(
        &self,
        call: &Call,
        response: &HttpResponse,
    ) -> Result<Option<RemoteErrorCode>, ApiError> {
        match self.component_for(Hook::Classify) {
            Some(c) => Ok(c
                .classify(call, response, now_ms())
                .await
                .map_err(hook_error)?
                .1
                .map(|f| f.code)),
            None => Ok(self.connector.failure_code(response)),
        }
    }

    /// Maps a page of vendor records to `model` records (one crossing per page in a component).
    pub async fn map_records(
        &self,
        (model, resource, method): (&str, &str, &str),
        u: &CompiledUnified,
        records: &[Value],
    ) -> Result<Vec<Value>, ApiError> {
        match self.component_for(Hook::MapRecords) {
            Some(c) => c
                .map_records(model, resource, method, records)
                .await
                .map_err(hook_error),
            None => records
                .iter()
                .map(|r| {
                    u.map_record(r)
                        .map_err(|e| ApiError::remote_code(RemoteErrorCode::MappingError, e))
                })
                .collect(),
        }
    }

    /// Maps a unified write body to the vendor's, when the component does that (`None`: the
    /// engine's `request_body` mapping applies).
    pub async fn map_back(
        &self,
        (model, resource, method): (&str, &str, &str),
        body: &Value,
    ) -> Option<Result<Value, ApiError>> {
        let c = self.component_for(Hook::MapBack)?;
        Some(
            c.map_back(model, resource, method, body)
                .await
                .map_err(hook_error),
        )
    }
}
