//! The handlers, one module per resource of the host API. Each parses the request, calls one
//! service and writes its answer; what a failure answers is decided by `From` conversions into
//! [`crate::http::error::ApiError`].

pub mod accounts;
pub mod connectors;
pub mod endpoints;
pub mod health;
pub mod monitoring;
pub mod oauth;
pub mod passthrough;
pub mod proxy;
pub mod unified;
pub mod webhooks;

use crate::calls::answer::CallFor;
use crate::calls::{Answer, CallFailure, CallQuery};
use crate::http::body::query_pairs;
use crate::http::error::ApiError;
use crate::telemetry::Metrics;

/// Counts a proxied or unified call under its normalized code (`ok` or the error's), with the
/// account's connector and tenant once known (`unknown` before), then answers it.
fn counted(
    metrics: &Metrics,
    api: &'static str,
    model: &str,
    result: Result<Answer, CallFailure>,
) -> Result<Answer, ApiError> {
    let unknown = CallFor {
        connector: "unknown".into(),
        tenant: "unknown".into(),
    };
    match result {
        Ok(answer) => {
            let f = answer.call_for.as_ref().unwrap_or(&unknown);
            metrics.request(api, model, &f.connector, &f.tenant, "ok");
            Ok(answer)
        }
        Err(failure) => {
            let f = failure.call_for.clone().unwrap_or(unknown);
            let e = ApiError::from(failure);
            metrics.request(api, model, &f.connector, &f.tenant, e.code().as_str());
            Err(e)
        }
    }
}

/// The query of a proxy or unified call.
fn call_query(raw: Option<&str>) -> Result<CallQuery, ApiError> {
    Ok(CallQuery::parse(query_pairs(raw))?)
}
