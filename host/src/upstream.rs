//! The only place that talks to vendors: sends the request the connector built (through its
//! dispatch table), reads the answer under time and size limits, and hands it back as it is.
//!
//! A manifest template or a component may build any URL, so a request is sent only to a public
//! address ([`crate::ssrf`], checked after DNS resolution), unless the host allows private
//! targets (`--allow-private-vendor-targets`) or the request goes to the origin of the account's
//! `base_url` override, which only an admin can set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use thread_local::ThreadLocal;

use patchbay_engine::{Account, Call, Headers, HttpMethod, HttpRequest, HttpResponse, RemoteErrorCode};
use tracing::Instrument;

use crate::connectors::{DispatchError, LiveConnector};
use crate::ssrf;
use crate::telemetry::events::{UPSTREAM_ANSWERED, UPSTREAM_CALL, UPSTREAM_FORWARD};
use crate::telemetry::{emit, span};

/// Why a vendor gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No answer within the deadline.
    #[error("vendor did not answer in time")]
    Timeout,
    /// No connection.
    #[error("cannot connect to vendor")]
    Connect,
    /// The connection failed during the exchange.
    #[error("vendor connection failed")]
    Connection,
    /// The answer is larger than the host reads.
    #[error("vendor answer exceeds {0} bytes")]
    TooLarge(usize),
    /// The connector built a URL that cannot be requested.
    #[error("{0}")]
    BadUrl(String),
    /// The URL leads to an address vendor calls may not reach.
    #[error(
        "the connector's request to {host} was refused: it points to {what}; vendor calls reach only public addresses unless the account's base_url override names that origin or the host runs with --allow-private-vendor-targets"
    )]
    NonPublic {
        /// The URL's host.
        host: String,
        /// What the address is.
        what: String,
    },
}

impl UpstreamError {
    /// The normalized code of the failure.
    pub fn code(&self) -> RemoteErrorCode {
        match self {
            Self::Timeout => RemoteErrorCode::RemoteTimeout,
            Self::Connect | Self::Connection => RemoteErrorCode::RemoteUnreachable,
            Self::TooLarge(_) => RemoteErrorCode::MappingError,
            Self::BadUrl(_) | Self::NonPublic { .. } => RemoteErrorCode::ConnectorError,
        }
    }
}

/// Why a call did not reach the vendor or came back without an answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Building the request failed.
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    /// Sending it failed.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

/// Vendor HTTP client.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Each thread's own clients: a connection is driven by a task on the thread that opened
    /// it, so a call served on one thread (`--http-threads`) never uses another's connection.
    clients: Arc<ThreadLocal<Clients>>,
    timeout: Duration,
    allow_private: bool,
    max_body: usize,
}

#[derive(Debug)]
struct Clients {
    /// Resolves names through the SSRF guard.
    public: reqwest::Client,
    /// Reaches any address: for trusted origins, or every origin when the host allows it.
    any: reqwest::Client,
}

impl Clients {
    fn new(timeout: Duration) -> Self {
        let client = |guarded: bool| {
            let builder = reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(10)))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("patchbay/", env!("CARGO_PKG_VERSION")));
            let builder = if guarded {
                builder.dns_resolver(Arc::new(ssrf::GuardedResolver))
            } else {
                builder
            };
            builder.build().expect("HTTP client builds")
        };
        Self {
            public: client(true),
            any: client(false),
        }
    }
}

impl Upstream {
    /// A client with a per-call deadline and an answer size cap; `allow_private` lets calls reach
    /// non-public addresses from any origin.
    pub fn new(timeout: Duration, max_body: usize, allow_private: bool) -> Self {
        Self {
            clients: Arc::new(ThreadLocal::new()),
            timeout,
            allow_private,
            max_body,
        }
    }

    /// The client a URL is sent with: the unguarded one for the host flag or the account's
    /// `base_url` override's own origin, else the guarded one, once a literal address passed.
    fn client_for(
        &self,
        url: &reqwest::Url,
        base_url: Option<&str>,
    ) -> Result<&reqwest::Client, UpstreamError> {
        let clients = self.clients.get_or(|| Clients::new(self.timeout));
        let trusted = base_url.is_some_and(|base| same_origin(base, url));
        if self.allow_private || trusted {
            return Ok(&clients.any);
        }
        ssrf::check_literal(url).map_err(|what| UpstreamError::NonPublic {
            host: url.host_str().unwrap_or_default().to_owned(),
            what,
        })?;
        Ok(&clients.public)
    }

    /// Builds one vendor call (component or engine) and sends it; returns the vendor's answer as
    /// it is (the connector interprets it).
    pub async fn call(
        &self,
        connector: &LiveConnector,
        account: &Account<'_>,
        call: &Call,
    ) -> Result<HttpResponse, SendError> {
        let request = connector.dispatch().request(account, call).await?;
        Ok(self
            .send(connector.name(), account.base_url, call, request)
            .await?)
    }

    /// Sends a built request for an account with the given `base_url` override.
    pub async fn send(
        &self,
        connector: &str,
        base_url: Option<&str>,
        call: &Call,
        request: HttpRequest,
    ) -> Result<HttpResponse, UpstreamError> {
        let url = reqwest::Url::parse(&request.url).map_err(|e| UpstreamError::BadUrl(e.to_string()))?;
        let http = self.client_for(&url, base_url)?;
        // Query strings may carry credentials (API keys): only the path is logged.
        let span = span!(
            INFO,
            UPSTREAM_CALL,
            connector = connector,
            resource = %call.resource,
            method = %call.method,
            http.method = request.method.as_str(),
            http.path = url.path(),
            http.status = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        async move {
            let started = Instant::now();
            let method = match request.method {
                HttpMethod::Get => reqwest::Method::GET,
                HttpMethod::Post => reqwest::Method::POST,
                HttpMethod::Put => reqwest::Method::PUT,
                HttpMethod::Patch => reqwest::Method::PATCH,
                HttpMethod::Delete => reqwest::Method::DELETE,
            };
            let mut builder = http.request(method, url);
            for (k, v) in &request.headers {
                builder = builder.header(k, v);
            }
            if let Some(body) = &request.body {
                builder = builder.body(serde_json::to_vec(body).expect("JSON serializes"));
            }
            let response = builder.send().await.map_err(send_error)?;
            let status = response.status().as_u16();
            let headers = engine_headers(response.headers());
            let body = self.read_body(response).await?;
            let span = tracing::Span::current();
            span.record("http.status", status);
            span.record("elapsed_ms", started.elapsed().as_millis() as u64);
            answered(status);
            Ok(HttpResponse {
                status,
                headers,
                body,
                url: Some(request.url),
            })
        }
        .instrument(span)
        .await
    }

    /// Sends a passthrough request as it is, for an account with the given `base_url` override,
    /// and hands back the vendor's answer unread, for the caller to stream (no size cap: the
    /// body is not held here).
    pub async fn forward(
        &self,
        connector: &str,
        base_url: Option<&str>,
        method: reqwest::Method,
        url: &str,
        headers: reqwest::header::HeaderMap,
        body: axum::body::Bytes,
    ) -> Result<reqwest::Response, UpstreamError> {
        let url = reqwest::Url::parse(url).map_err(|e| UpstreamError::BadUrl(e.to_string()))?;
        let http = self.client_for(&url, base_url)?;
        let span = span!(
            INFO,
            UPSTREAM_FORWARD,
            connector = connector,
            http.method = method.as_str(),
            http.path = url.path(),
            http.status = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        async move {
            let started = Instant::now();
            let mut builder = http.request(method, url).headers(headers);
            if !body.is_empty() {
                builder = builder.body(body);
            }
            let response = builder.send().await.map_err(send_error)?;
            let span = tracing::Span::current();
            span.record("http.status", response.status().as_u16());
            span.record("elapsed_ms", started.elapsed().as_millis() as u64);
            answered(response.status().as_u16());
            Ok(response)
        }
        .instrument(span)
        .await
    }

    async fn read_body(&self, response: reqwest::Response) -> Result<Vec<u8>, UpstreamError> {
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(send_error)?;
            if body.len() + chunk.len() > self.max_body {
                return Err(UpstreamError::TooLarge(self.max_body));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Logs a vendor's answer: its errors at INFO, the rest at DEBUG. A line per successful call at
/// the default level cost the proxy 15 % of its throughput (docs/BENCHMARKS.md, issue 12); the
/// request metrics count every call and its latency anyway.
fn answered(status: u16) {
    if status >= 400 {
        emit!(INFO, UPSTREAM_ANSWERED);
    } else {
        emit!(DEBUG, UPSTREAM_ANSWERED);
    }
}

/// Whether `url` is on the origin of the `base` URL text. The URLs the engine builds start with
/// their base, so when the base's scheme and authority are a prefix of the URL ending where its
/// authority ends, the origins are the same without parsing (a call's hot path); anything else
/// (`base:8080`, `base.evil.example`, `base@evil`, a base written unlike its normal form) is
/// compared parsed.
fn same_origin(base: &str, url: &reqwest::Url) -> bool {
    let origin_text = base.find("://").map(|scheme| {
        let authority = &base[scheme + 3..];
        let end = authority.find(['/', '?', '#']).unwrap_or(authority.len());
        &base[..scheme + 3 + end]
    });
    let prefix_rest = origin_text
        .filter(|o| !o.ends_with("://"))
        .and_then(|origin| url.as_str().strip_prefix(origin));
    if prefix_rest.is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#'])) {
        return true;
    }
    reqwest::Url::parse(base).is_ok_and(|b| b.origin() == url.origin())
}

/// A vendor answer's headers as the engine reads them (lossy for non-UTF-8 values).
pub(crate) fn engine_headers(headers: &reqwest::header::HeaderMap) -> Headers {
    Headers::new(
        headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    )
}

/// reqwest's message names the URL, which may carry an API key: keep only the kind.
fn send_error(e: reqwest::Error) -> UpstreamError {
    if let Some(refused) = ssrf::refusal(&e) {
        UpstreamError::NonPublic {
            host: refused.host().to_owned(),
            what: format!("the non-public address {}", refused.ip()),
        }
    } else if e.is_timeout() {
        UpstreamError::Timeout
    } else if e.is_connect() {
        UpstreamError::Connect
    } else {
        UpstreamError::Connection
    }
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn origins_compare_by_text_only_when_that_is_exact() {
        let same = |base: &str, url: &str| same_origin(base, &reqwest::Url::parse(url).unwrap());
        assert!(same(
            "http://127.0.0.1:9100",
            "http://127.0.0.1:9100/crm/v3/objects/contacts"
        ));
        assert!(same(
            "http://127.0.0.1:9100/api/v1",
            "http://127.0.0.1:9100/other?x=1"
        ));
        assert!(
            same("HTTP://Example.COM:80/api", "http://example.com/api/x"),
            "parsed"
        );
        for (base, url) in [
            ("http://127.0.0.1:80", "http://127.0.0.1:8080/x"),
            ("http://a.example", "http://a.example.evil.example/x"),
            ("http://a.example", "http://a.example@evil.example/x"),
            ("http://a.example", "https://a.example/x"),
            ("http://", "http://evil.example/"),
            ("http:", "http://evil.example/"),
            ("not a url", "http://evil.example/"),
        ] {
            assert!(!same(base, url), "{base} ~ {url}");
        }
    }
}
