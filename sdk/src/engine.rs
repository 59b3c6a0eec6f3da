//! Conversions between the WIT types and the declarative engine's, and [`ManifestHooks`]: every
//! hook served by the engine from a manifest, which is what `patchbay connector build` compiles
//! into a component.

use patchbay_engine::{
    Account, Call, Connector, Headers, HttpRequest, HttpResponse, PageState, Payload, RateLimitInfo,
    RemoteFailure,
};
use serde_json::{Map, Value};

use crate::types;
use crate::{HookError, parse_json, to_json};

/// The engine's view of a call.
pub fn call(call: &types::Call) -> Result<Call, HookError> {
    Ok(Call {
        resource: call.resource.clone(),
        method: call.method.clone(),
        id: call.id.clone(),
        limit: call.limit,
        query: call
            .query
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
        passthrough: call.passthrough.clone(),
        body: call
            .body
            .as_deref()
            .map(|b| parse_json("call.body", b))
            .transpose()?,
        page: page_state(call)?,
    })
}

/// The page state a call continues from.
pub fn page_state(call: &types::Call) -> Result<Option<PageState>, HookError> {
    call.page
        .as_deref()
        .map(|p| parse_json("call.page", p))
        .transpose()
}

/// The engine's view of an answer.
pub fn response(response: types::HttpResponse) -> HttpResponse {
    HttpResponse {
        status: response.status,
        headers: Headers::new(response.headers),
        body: response.body,
        url: response.url,
    }
}

/// A request for the host.
pub fn request(request: HttpRequest) -> types::HttpRequest {
    types::HttpRequest {
        method: request.method.as_str().to_owned(),
        url: request.url,
        headers: request.headers,
        body: request.body.as_ref().map(to_json),
    }
}

/// A payload for the host.
pub fn payload(payload: Payload) -> types::Payload {
    match payload {
        Payload::List { records, next } => types::Payload::List(types::Page {
            records: to_json(&records),
            next: next.as_ref().map(to_json),
        }),
        Payload::Single(record) => types::Payload::Single(to_json(&record)),
    }
}

/// A rate-limit state for the host.
pub fn rate_limit(info: RateLimitInfo) -> types::RateLimit {
    types::RateLimit {
        limit: info.limit,
        remaining: info.remaining,
        reset: info.reset,
        retry_after: info.retry_after,
    }
}

/// A failure for the host.
pub fn failure(failure: RemoteFailure) -> types::Failure {
    types::Failure {
        code: failure.code.as_str().to_owned(),
        message: failure.message,
    }
}

/// Every hook served by the declarative engine from one compiled manifest.
pub struct ManifestHooks {
    connector: Connector,
}

impl ManifestHooks {
    /// Compiles a manifest; every problem is reported, with its JSON path.
    pub fn new(manifest: &str) -> Result<Self, String> {
        Connector::from_json(manifest)
            .map(|connector| Self { connector })
            .map_err(|problems| {
                problems
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
    }

    /// The compiled connector.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// `build-request`: the request without credentials.
    pub fn build_request(
        &self,
        account: types::Account,
        c: types::Call,
    ) -> Result<types::HttpRequest, HookError> {
        let context: Value = parse_json("account.context", &account.context)?;
        let no_credentials = Value::Object(Map::new());
        let account = Account {
            credentials: &no_credentials,
            context: &context,
            base_url: account.base_url.as_deref(),
            auth_method: None,
        };
        let built = self
            .connector
            .build_unsigned(&account, &call(&c)?)
            .map_err(|e| HookError::Invalid(e.to_string()))?;
        Ok(request(built))
    }

    /// `classify`: rate-limit state and failure.
    pub fn classify(&self, response_in: types::HttpResponse, now_ms: i64) -> types::Classification {
        let response = response(response_in);
        types::Classification {
            rate_limit: rate_limit(self.connector.rate_limit(&response.headers, now_ms)),
            failure: self.connector.failure(&response).map(failure),
        }
    }

    /// `read-page`: records and next page, or the record. A mapping failure is a
    /// [`HookError::Mapping`].
    pub fn read_page(
        &self,
        c: types::Call,
        response_in: types::HttpResponse,
    ) -> Result<types::Payload, HookError> {
        let page = page_state(&c)?;
        self.connector
            .read_page(&c.resource, &c.method, page.as_ref(), response(response_in))
            .map(payload)
            .map_err(|f| HookError::Mapping(f.message))
    }

    /// `map-records`: a page of vendor records to unified records.
    pub fn map_records(
        &self,
        model: &str,
        resource: &str,
        method: &str,
        records: &str,
    ) -> Result<String, HookError> {
        let u = self
            .connector
            .unified(model, resource, method)
            .ok_or_else(|| HookError::Invalid(format!("no unified mapping {model}/{resource}.{method}")))?;
        let records: Vec<Value> = parse_json("records", records)?;
        let mapped = records
            .iter()
            .map(|r| u.map_record(r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(HookError::Mapping)?;
        Ok(to_json(&mapped))
    }

    /// `map-back`: a unified write body to the vendor's.
    pub fn map_back(
        &self,
        model: &str,
        resource: &str,
        method: &str,
        body: &str,
    ) -> Result<String, HookError> {
        let u = self
            .connector
            .unified(model, resource, method)
            .ok_or_else(|| HookError::Invalid(format!("no unified mapping {model}/{resource}.{method}")))?;
        let body: Value = parse_json("body", body)?;
        u.map_request_body(&body)
            .map(|b| to_json(&b))
            .map_err(HookError::Invalid)
    }
}
