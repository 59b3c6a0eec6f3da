//! The handlers, one module per resource of the host API. Each parses the request, calls one
//! service and writes its answer; what a failure answers is decided by `From` conversions into
//! [`crate::http::error::ApiError`].

pub mod accounts;
pub mod connectors;
pub mod endpoints;
pub mod health;
pub mod oauth;
pub mod proxy;
pub mod unified;
pub mod webhooks;

use crate::calls::CallQuery;
use crate::http::body::query_pairs;
use crate::http::error::ApiError;

/// The query of a proxy or unified call.
fn call_query(raw: Option<&str>) -> Result<CallQuery, ApiError> {
    Ok(CallQuery::parse(query_pairs(raw))?)
}
