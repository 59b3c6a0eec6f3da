//! Passthrough calls: the caller's own vendor request (any method, path, query, headers, body)
//! under the account's API root, with the account's credentials instead of the caller's, and the
//! vendor's answer handed back unread so the edge can stream it. The account is resolved, its
//! token refreshed and a vendor 401 handled exactly as for proxied calls.

use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use patchbay_engine::{HttpResponse, PassthroughError, RateLimitInfo, RemoteErrorCode};

use super::answer::CallFor;
use super::context::{After401, CallContext};
use super::error::{CallFailure, CallsError};
use super::query::CallQuery;
use super::service::Calls;
use crate::accounts::principal::Principal;
use crate::clock::now_ms;

/// A caller's request, as received.
#[derive(Debug)]
pub struct PassthroughRequest {
    /// The account whose credentials the request goes out with.
    pub account_id: String,
    /// Any HTTP method.
    pub method: Method,
    /// The vendor path, percent-encoded as received (empty or starting with `/`).
    pub path: String,
    /// The raw query.
    pub query: Option<String>,
    /// The caller's headers.
    pub headers: HeaderMap,
    /// The body (buffered: a refused token is refreshed and the request sent again).
    pub body: Bytes,
}

/// The vendor's answer, unread.
#[derive(Debug)]
pub struct Forwarded {
    /// Status, headers and the body stream.
    pub response: reqwest::Response,
    /// The vendor's rate-limit state, read from its headers by the connector's dialect.
    pub rate_limit: RateLimitInfo,
    /// `name@version#revision`.
    pub served_by: String,
    /// Who it was for.
    pub call_for: CallFor,
    /// The normalized code of the answer by its status and headers (`ok` below 400).
    pub code: &'static str,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded either way.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// `headers` without hop-by-hop ones (the fixed list, `upgrade`, and those `Connection` names).
pub fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let hop =
            HOP_BY_HOP.contains(name) || name == header::UPGRADE || named.iter().any(|n| n == name.as_str());
        if !hop {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

impl Calls {
    /// Forwards `request` for `principal`.
    pub async fn passthrough(
        &self,
        principal: &Principal,
        request: PassthroughRequest,
    ) -> Result<Forwarded, CallFailure> {
        let query = CallQuery {
            account_id: request.account_id.clone(),
            ..CallQuery::default()
        };
        let mut ctx = CallContext::resolve(self, principal, query).await?;
        let forwarded = self.forward(&mut ctx, &request).await;
        forwarded.map_err(|error| ctx.failure(error))
    }

    async fn forward(
        &self,
        ctx: &mut CallContext,
        request: &PassthroughRequest,
    ) -> Result<Forwarded, CallsError> {
        let first = self.forward_once(ctx, request).await?;
        if first.code != RemoteErrorCode::RemoteUnauthorized.as_str() {
            return Ok(first);
        }
        let what = format!("passthrough {}", request.method);
        match ctx.after_unauthorized(self).await? {
            After401::Retry => {
                let again = self.forward_once(ctx, request).await?;
                if again.code == RemoteErrorCode::RemoteUnauthorized.as_str() {
                    ctx.needs_reauth(self, &what, again.response.status().as_u16())
                        .await;
                }
                Ok(again)
            }
            After401::NeedsReauth => {
                ctx.needs_reauth(self, &what, first.response.status().as_u16())
                    .await;
                Ok(first)
            }
            After401::Answer => Ok(first),
        }
    }

    async fn forward_once(
        &self,
        ctx: &CallContext,
        request: &PassthroughRequest,
    ) -> Result<Forwarded, CallsError> {
        let engine = &ctx.connector.connector;
        let account = ctx.engine_account();
        let url = engine
            .passthrough_url(&account, &request.path, request.query.as_deref())
            .map_err(|e| match e {
                PassthroughError::Escapes(_) => CallsError::Invalid(e.to_string()),
                PassthroughError::Root(e) => CallsError::Call(e),
            })?;
        let (url, credentials) = engine.passthrough_credentials(&account, url)?;
        let mut headers = end_to_end(&request.headers);
        // The caller's token is Patchbay's; the host and length are the new request's own.
        for name in [header::AUTHORIZATION, header::HOST, header::CONTENT_LENGTH] {
            headers.remove(name);
        }
        for (name, value) in credentials {
            let name = HeaderName::try_from(name.as_str()).map_err(|_| {
                CallsError::Invalid(format!("connector auth header {name:?} is not a header name"))
            })?;
            let value = HeaderValue::try_from(value)
                .map_err(|_| CallsError::Invalid("account credentials are not a header value".into()))?;
            headers.insert(name, value);
        }
        let connector = &ctx.account.connector;
        let started = Instant::now();
        let sent = self
            .upstream
            .forward(
                connector,
                account.base_url,
                request.method.clone(),
                &url,
                headers,
                request.body.clone(),
            )
            .await;
        let method = request.method.as_str();
        let response = sent.inspect_err(|e| {
            let code = e.code().as_str();
            self.metrics
                .upstream(connector, "passthrough", method, code, started.elapsed());
        })?;
        // Classified by status and headers only: the body is the caller's to stream.
        let head = HttpResponse {
            status: response.status().as_u16(),
            headers: crate::upstream::engine_headers(response.headers()),
            body: Vec::new(),
            url: None,
        };
        let code = match head.status {
            ..400 => "ok",
            status => engine.failure(&head).map_or(
                if status >= 500 {
                    RemoteErrorCode::RemoteServerError.as_str()
                } else {
                    RemoteErrorCode::RemoteInvalidRequest.as_str()
                },
                |f| f.code.as_str(),
            ),
        };
        self.metrics
            .upstream(connector, "passthrough", method, code, started.elapsed());
        Ok(Forwarded {
            rate_limit: engine.rate_limit(&head.headers, now_ms()),
            response,
            served_by: ctx.served_by(),
            call_for: ctx.call_for(),
            code,
        })
    }
}
