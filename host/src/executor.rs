//! The only place that talks to vendors: sends what the engine built, reads the answer under
//! time and size limits, and hands it back to the engine.

use std::time::{Duration, Instant};

use futures::StreamExt;
use patchbay_engine::{Account, Call, CallError, Headers, HttpMethod, HttpResponse, RemoteErrorCode};
use tracing::Instrument;

use crate::error::ApiError;
use crate::registry::LiveConnector;

/// Vendor HTTP client.
#[derive(Debug, Clone)]
pub struct Executor {
    http: reqwest::Client,
    max_body: usize,
}

impl Executor {
    /// A client with a per-call deadline and an answer size cap.
    pub fn new(timeout: Duration, max_body: usize) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("patchbay/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("HTTP client builds");
        Self { http, max_body }
    }

    /// Sends one vendor call and returns the vendor's answer as is (the engine interprets it).
    pub async fn send(
        &self,
        connector: &LiveConnector,
        account: &Account<'_>,
        call: &Call,
    ) -> Result<HttpResponse, ApiError> {
        let request = connector.request(account, call).await?;
        let url = reqwest::Url::parse(&request.url)
            .map_err(|e| ApiError::remote_code(RemoteErrorCode::ConnectorError, e.to_string()))?;
        // Query strings may carry credentials (API keys): only the path is logged.
        let span = tracing::info_span!(
            "patchbay.proxy.call",
            connector = connector.name(),
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
            let mut builder = self.http.request(method, url);
            for (k, v) in &request.headers {
                builder = builder.header(k, v);
            }
            if let Some(body) = &request.body {
                builder = builder.body(serde_json::to_vec(body).expect("JSON serializes"));
            }
            let response = builder.send().await.map_err(send_error)?;
            let status = response.status().as_u16();
            let headers = Headers::new(
                response
                    .headers()
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_owned(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
            );
            let body = self.read_body(response).await?;
            let span = tracing::Span::current();
            span.record("http.status", status);
            span.record("elapsed_ms", started.elapsed().as_millis() as u64);
            tracing::info!("vendor answered");
            Ok(HttpResponse {
                status,
                headers,
                body,
                url: Some(request.url.clone()),
            })
        }
        .instrument(span)
        .await
    }

    async fn read_body(&self, response: reqwest::Response) -> Result<Vec<u8>, ApiError> {
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(send_error)?;
            if body.len() + chunk.len() > self.max_body {
                return Err(ApiError::remote_code(
                    RemoteErrorCode::MappingError,
                    format!("vendor answer exceeds {} bytes", self.max_body),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn send_error(e: reqwest::Error) -> ApiError {
    if e.is_timeout() {
        ApiError::remote_code(RemoteErrorCode::RemoteTimeout, "vendor did not answer in time")
    } else {
        // reqwest's message names the URL, which may carry an API key: keep only the kind.
        let kind = if e.is_connect() {
            "cannot connect to vendor"
        } else {
            "vendor connection failed"
        };
        ApiError::remote_code(RemoteErrorCode::RemoteUnreachable, kind)
    }
}

/// Maps request-building failures onto the taxonomy.
pub fn call_error(e: CallError) -> ApiError {
    match e {
        CallError::UnknownResource(_) | CallError::UnknownMethod { .. } => ApiError::not_found(e.to_string()),
        CallError::Missing(_) => ApiError::invalid(e.to_string()),
        CallError::BadUrl(_) => ApiError::remote_code(RemoteErrorCode::ConnectorError, e.to_string()),
    }
}
