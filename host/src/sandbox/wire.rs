//! Conversions between the engine's types and the component contract's (host side). JSON
//! documents cross as text; the engine's page state travels as JSON, opaque to the host.

use patchbay_engine::{
    Account, Call, HttpMethod, HttpRequest, HttpResponse, PageState, Payload, RateLimitInfo, RemoteErrorCode,
    RemoteFailure,
};
use serde_json::Value;

use super::guest::bindings::patchbay::connector::types as wit;

/// The non-secret part of an account: credentials never enter a component.
pub fn account(account: &Account<'_>) -> wit::Account {
    wit::Account {
        context: account.context.to_string(),
        base_url: account.base_url.map(str::to_owned),
    }
}

/// A call.
pub fn call(call: &Call) -> wit::Call {
    wit::Call {
        resource: call.resource.clone(),
        method: call.method.clone(),
        id: call.id.clone(),
        limit: call.limit,
        query: call
            .query
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect(),
        passthrough: call.passthrough.clone(),
        body: call.body.as_ref().map(Value::to_string),
        page: call
            .page
            .as_ref()
            .map(|p| serde_json::to_string(p).expect("page state serializes")),
    }
}

/// An answer.
pub fn response(response: &HttpResponse) -> wit::HttpResponse {
    wit::HttpResponse {
        status: response.status,
        headers: response.headers.pairs().to_vec(),
        body: response.body.clone(),
        url: response.url.clone(),
    }
}

/// Guest output that does not have the contract's shape (the component's bug).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(String);

impl Malformed {
    fn new(message: String) -> Self {
        Self(message)
    }
}

/// A request a component built.
pub fn request(request: wit::HttpRequest) -> Result<HttpRequest, Malformed> {
    let method: HttpMethod = serde_json::from_value(Value::String(request.method.to_ascii_uppercase()))
        .map_err(|_| Malformed::new(format!("unsupported HTTP method {:?}", request.method)))?;
    let body = request
        .body
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| Malformed::new(format!("request body is not JSON: {e}")))?;
    Ok(HttpRequest {
        method,
        url: request.url,
        headers: request.headers,
        body,
    })
}

/// A classification, with the answer it classifies (for the failure's status and body).
pub fn classification(
    c: wit::Classification,
    response: &HttpResponse,
) -> Result<(RateLimitInfo, Option<RemoteFailure>), Malformed> {
    let rl = c.rate_limit;
    let rate_limit = RateLimitInfo {
        limit: rl.limit,
        remaining: rl.remaining,
        reset: rl.reset,
        retry_after: rl.retry_after,
    };
    let failure = match c.failure {
        None => None,
        Some(f) => {
            let code: RemoteErrorCode = serde_json::from_value(Value::String(f.code.clone()))
                .map_err(|_| Malformed::new(format!("unknown error code {:?}", f.code)))?;
            let body = serde_json::from_slice(&response.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&response.body).into_owned()));
            Some(RemoteFailure {
                code,
                message: f.message,
                status: response.status,
                body: Some(body),
            })
        }
    };
    Ok((rate_limit, failure))
}

/// What a successful answer carries.
pub fn payload(payload: wit::Payload) -> Result<Payload, Malformed> {
    match payload {
        wit::Payload::List(page) => {
            let records: Vec<Value> = serde_json::from_str(&page.records)
                .map_err(|e| Malformed::new(format!("records are not a JSON array: {e}")))?;
            let next: Option<PageState> = page
                .next
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| Malformed::new(format!("next page state is not valid: {e}")))?;
            Ok(Payload::List { records, next })
        }
        wit::Payload::Single(record) => serde_json::from_str(&record)
            .map(Payload::Single)
            .map_err(|e| Malformed::new(format!("record is not JSON: {e}"))),
    }
}
