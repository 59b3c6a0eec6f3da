//! Which implementation serves each step of a call: the connector's Wasm component when its
//! manifest declares the hook, the native declarative engine otherwise. [`Dispatch::server`] is
//! the one table; every step below is one `match` on it, and callers see the engine's types
//! either way.

use patchbay_engine::manifest::Hook;
use patchbay_engine::webhook::{InboundEvent, Rejection, UnifiedEvent, WebhookRequest};
use patchbay_engine::{
    Account, Call, CallError, CompiledUnified, Connector, HttpRequest, HttpResponse, Outcome, RateLimitInfo,
    RemoteFailure,
};
use serde_json::Value;

use super::live::LiveConnector;
use crate::clock::now_ms;
use crate::sandbox::{HookFailure, LoadedComponent};

/// Why a step could not be served.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The engine could not build the request (unknown resource or method, missing value, bad
    /// URL).
    #[error(transparent)]
    Call(#[from] CallError),
    /// The component failed the hook.
    #[error(transparent)]
    Hook(#[from] HookFailure),
    /// A component built a request for another origin than the vendor's.
    #[error("{served_by} build_request: URL {url:?} leaves the vendor's origin {origin}")]
    LeavesOrigin {
        /// `name@version#revision`.
        served_by: String,
        /// The URL it built.
        url: String,
        /// The vendor's origin.
        origin: String,
    },
    /// The engine's unified mapping failed on a vendor record.
    #[error("{0}")]
    Mapping(String),
}

/// What an answer says before its records are read: the rate-limit state and, for a failure,
/// the normalized failure.
#[derive(Debug, Clone)]
pub struct Classification {
    /// Normalized rate-limit state.
    pub rate_limit: RateLimitInfo,
    /// The failure, when the answer is one.
    pub failure: Option<RemoteFailure>,
}

/// Who serves one hook.
enum Server<'a> {
    /// The connector's component.
    Component(&'a LoadedComponent),
    /// The declarative engine.
    Engine(&'a Connector),
}

impl LiveConnector {
    /// Each step of a call, served by the component or the engine.
    pub fn dispatch(&self) -> Dispatch<'_> {
        Dispatch::new(self)
    }
}

/// The steps of a call for one live connector.
#[derive(Clone, Copy)]
pub struct Dispatch<'a> {
    live: &'a LiveConnector,
}

impl<'a> Dispatch<'a> {
    /// Dispatch for a live connector.
    pub fn new(live: &'a LiveConnector) -> Self {
        Self { live }
    }

    /// The table: the component serves the hooks its manifest declares, the engine the rest.
    fn server(&self, hook: Hook) -> Server<'a> {
        match self.live.component.as_deref() {
            Some(component) if self.live.connector.has_hook(hook) => Server::Component(component),
            _ => Server::Engine(&self.live.connector),
        }
    }

    /// Whether the component serves `hook`.
    pub fn in_component(&self, hook: Hook) -> bool {
        matches!(self.server(hook), Server::Component(_))
    }

    /// Whether reading an answer involves the component (the engine's raw list path then does not
    /// apply).
    pub fn reads_in_component(&self) -> bool {
        [Hook::Classify, Hook::ReadPage, Hook::MapRecords]
            .into_iter()
            .any(|h| self.in_component(h))
    }

    /// Whether the component maps unified write bodies (the engine's `request_body` mapping is
    /// then skipped).
    pub fn maps_back(&self) -> bool {
        self.in_component(Hook::MapBack)
    }

    /// The vendor request for a call, credentials included. A component builds it without
    /// credentials; they are added only when its URL stays on the vendor's origin.
    pub async fn request(&self, account: &Account<'_>, call: &Call) -> Result<HttpRequest, DispatchError> {
        let engine = &self.live.connector;
        match self.server(Hook::BuildRequest) {
            Server::Engine(e) => Ok(e.build_request(account, call)?),
            Server::Component(c) => {
                let mut request = c.build_request(account, call).await?;
                let base = engine.base_url(account)?;
                let same_origin = url::Url::parse(&request.url).is_ok_and(|u| u.origin() == base.origin());
                if !same_origin {
                    return Err(DispatchError::LeavesOrigin {
                        served_by: self.live.served_by(),
                        url: request.url,
                        origin: base.origin().ascii_serialization(),
                    });
                }
                engine.authorize(&mut request, account)?;
                Ok(request)
            }
        }
    }

    /// The rate-limit state and failure of an answer.
    pub async fn classify(
        &self,
        call: &Call,
        response: &HttpResponse,
    ) -> Result<Classification, DispatchError> {
        let now = now_ms();
        let (rate_limit, failure) = match self.server(Hook::Classify) {
            Server::Component(c) => c.classify(call, response, now).await?,
            Server::Engine(e) => (e.rate_limit(&response.headers, now), e.failure(response)),
        };
        Ok(Classification { rate_limit, failure })
    }

    /// Everything a classified answer says: the payload, or the failure.
    pub async fn read(
        &self,
        call: &Call,
        response: HttpResponse,
        Classification { rate_limit, failure }: Classification,
    ) -> Result<Outcome, DispatchError> {
        let result = match failure {
            Some(failure) => Err(failure),
            None => match self.server(Hook::ReadPage) {
                Server::Component(c) => Ok(c.read_page(call, &response).await?),
                Server::Engine(e) => e.read_page(&call.resource, &call.method, call.page.as_ref(), response),
            },
        };
        Ok(Outcome { rate_limit, result })
    }

    /// Classifies and reads an answer.
    pub async fn outcome(&self, call: &Call, response: HttpResponse) -> Result<Outcome, DispatchError> {
        let classification = self.classify(call, &response).await?;
        self.read(call, response, classification).await
    }

    /// Maps a page of vendor records to `model` records (one crossing per page in a component).
    pub async fn map_records(
        &self,
        (model, resource, method): (&str, &str, &str),
        unified: &CompiledUnified,
        records: &[Value],
    ) -> Result<Vec<Value>, DispatchError> {
        match self.server(Hook::MapRecords) {
            Server::Component(c) => Ok(c.map_records(model, resource, method, records).await?),
            Server::Engine(_) => records
                .iter()
                .map(|r| unified.map_record(r).map_err(DispatchError::Mapping))
                .collect(),
        }
    }

    /// Maps a unified write body to the vendor's, when the component does that (`None`: the
    /// engine's `request_body` mapping applies when the call is built).
    pub async fn map_back(
        &self,
        (model, resource, method): (&str, &str, &str),
        body: &Value,
    ) -> Option<Result<Value, DispatchError>> {
        match self.server(Hook::MapBack) {
            Server::Component(c) => Some(
                c.map_back(model, resource, method, body)
                    .await
                    .map_err(DispatchError::from),
            ),
            Server::Engine(_) => None,
        }
    }
}

/// Why an inbound webhook's events could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WebhookDispatchError {
    /// The connector has neither a `webhooks` section nor the component hook.
    #[error("connector {0} does not accept webhooks")]
    NotAccepted(String),
    /// The component failed the hook.
    #[error(transparent)]
    Hook(#[from] HookFailure),
    /// The engine or the component's answer could not map the request.
    #[error("{0}")]
    Mapping(String),
}

impl Dispatch<'_> {
    /// Whether the connector accepts webhooks (a `webhooks` section or a `verify_webhook` hook).
    pub fn accepts_webhooks(&self) -> bool {
        self.live.connector.webhooks().is_some() || self.in_component(Hook::VerifyWebhook)
    }

    /// Checks an inbound webhook's signature.
    pub async fn verify_webhook(
        &self,
        req: &WebhookRequest<'_>,
        secret: &[u8],
        now_ms: i64,
    ) -> Result<Result<(), Rejection>, WebhookDispatchError> {
        match (self.server(Hook::VerifyWebhook), self.live.connector.webhooks()) {
            (Server::Component(c), _) => {
                let ok = c
                    .verify_webhook(req.headers.pairs(), req.body, secret, now_ms)
                    .await?;
                Ok(if ok { Ok(()) } else { Err(Rejection::Mismatch) })
            }
            (Server::Engine(_), Some(w)) => Ok(w.verify(req, secret, now_ms)),
            (Server::Engine(e), None) => Err(WebhookDispatchError::NotAccepted(e.name().to_owned())),
        }
    }

    /// The events of a stored inbound request, mapped to unified events. A component answers a
    /// JSON array of `{"type", "data", "id"?, "time_ms"?, "account_key"?}`.
    pub async fn webhook_events(
        &self,
        req: &WebhookRequest<'_>,
    ) -> Result<Vec<InboundEvent>, WebhookDispatchError> {
        match (self.server(Hook::MapWebhook), self.live.connector.webhooks()) {
            (Server::Component(c), _) => {
                let items = c.map_webhook(req.headers.pairs(), req.body).await?;
                items.into_iter().map(component_event).collect()
            }
            (Server::Engine(_), Some(w)) => w.events(req).map_err(WebhookDispatchError::Mapping),
            (Server::Engine(e), None) => Err(WebhookDispatchError::NotAccepted(e.name().to_owned())),
        }
    }
}

fn component_event(item: Value) -> Result<InboundEvent, WebhookDispatchError> {
    let text = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let unified = match item.get("type").and_then(Value::as_str) {
        Some(t) => Some(UnifiedEvent {
            event_type: t.to_owned(),
            data: item.get("data").cloned().unwrap_or(Value::Null),
        }),
        None if item.get("data").is_some() => {
            return Err(WebhookDispatchError::Mapping(
                "map_webhook: an event with `data` needs a `type`".into(),
            ));
        }
        None => None,
    };
    Ok(InboundEvent {
        id: item.get("id").and_then(text),
        time_ms: item.get("time_ms").and_then(Value::as_i64),
        account_key: item.get("account_key").and_then(text),
        unified,
    })
}
