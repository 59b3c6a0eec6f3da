//! `/passthrough/{integrated_account_id}/{vendor path}`: the caller's own vendor request, for
//! vendor SDKs pointed at the host. Every method; the answer is the vendor's, streamed.

use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodFilter;

use crate::accounts::Principal;
use crate::calls::passthrough::end_to_end;
use crate::calls::{Calls, Forwarded, PassthroughRequest};
use crate::http::context::VendorAnswer;
use crate::http::error::{ApiError, set_headers};
use crate::telemetry::Metrics;

/// The methods forwarded: those of REST APIs (`TRACE`, `CONNECT` and extension methods answer
/// 405 `method_not_allowed` here instead of reaching the vendor).
pub const METHODS: MethodFilter = MethodFilter::GET
    .or(MethodFilter::HEAD)
    .or(MethodFilter::POST)
    .or(MethodFilter::PUT)
    .or(MethodFilter::PATCH)
    .or(MethodFilter::DELETE)
    .or(MethodFilter::OPTIONS);

/// The metrics' `model` label of passthrough calls (they name no resource).
const MODEL: &str = "passthrough";

/// Any method on `/passthrough/{account}` or `/passthrough/{account}/{*path}`.
#[utoipa::path(method(get, post, put, patch, delete, head, options), path = "/passthrough/{account}/{path}", tag = "passthrough", security(("bearer" = [])),
    params(("account" = String, Path, description = "The integrated account's id"),
        ("path" = String, Path, description = "The vendor path, after the connector's base URL (it may hold `/`)")),
    request_body(content = Option<Vec<u8>>, content_type = "*/*", description = "Passed to the vendor as it is"),
    responses((status = "2XX", description = "The vendor's answer, streamed as it is (also its 4xx and 5xx, marked by the absence of the normalized body)", content_type = "*/*")))]
pub async fn forward(
    State(calls): State<Arc<Calls>>,
    State(metrics): State<Arc<Metrics>>,
    Extension(p): Extension<Principal>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // The path as received, still percent-encoded: `%2F` in a GitLab project id stays one segment.
    let rest = uri.path().strip_prefix("/passthrough/").unwrap_or_default();
    let (account, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = PassthroughRequest {
        account_id: account.to_owned(),
        method,
        path: path.to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
    };
    match calls.passthrough(&p, request).await {
        Ok(forwarded) => {
            let f = &forwarded.call_for;
            metrics.request("passthrough", MODEL, &f.connector, &f.tenant, forwarded.code);
            Ok(forwarded.into_response())
        }
        Err(failure) => {
            let (connector, tenant) = failure
                .call_for
                .as_ref()
                .map_or(("unknown".into(), "unknown".into()), |f| {
                    (f.connector.clone(), f.tenant.clone())
                });
            let e = ApiError::from(failure);
            metrics.request("passthrough", MODEL, &connector, &tenant, e.code().as_str());
            Err(e)
        }
    }
}

impl IntoResponse for Forwarded {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut headers = end_to_end(self.response.headers());
        let throttled = status == StatusCode::TOO_MANY_REQUESTS;
        let mut extra = self.rate_limit.headers(throttled);
        extra.push(("patchbay-connector-version", self.served_by));
        set_headers(&mut headers, extra);
        let mut response = Response::new(Body::from_stream(self.response.bytes_stream()));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response.extensions_mut().insert(VendorAnswer);
        response
    }
}
