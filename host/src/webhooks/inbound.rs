//! The acknowledgement path of an inbound webhook: find the live connector, answer an unsigned
//! handshake, find the secret (the account's, else the connector's), verify the signature,
//! answer a signed handshake, then store the raw request and wait for its commit. Nothing here
//! maps the body or searches accounts: that is the processor's work, after the 200.

use std::sync::Arc;

use tokio::sync::Notify;

use patchbay_engine::Headers;
use patchbay_engine::webhook::{HandshakeAnswer, Rejection, WebhookRequest};

use super::error::WebhookError;
use super::intake::Intake;
use super::model::{InboundFilter, InboundRow, NewInbound};
use crate::accounts::Principal;
use crate::clock::now_ms;
use crate::config::PublicUrl;
use crate::connectors::Registry;
use crate::secrets::Secrets;
use crate::secrets::aad;
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::telemetry::emit;
use crate::telemetry::events::{WEBHOOK_REJECTED, WEBHOOK_TOO_LARGE};
use crate::telemetry::metrics::WebhookOutcome;

/// An inbound request as the edge received it.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// `POST`, `GET`, …
    pub method: String,
    /// Path and query, as requested.
    pub path_and_query: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// What to answer.
#[derive(Debug, Clone)]
pub enum Ack {
    /// A URL-verification handshake's own answer.
    Handshake(HandshakeAnswer),
    /// Stored (committed): 200.
    Accepted {
        /// The inbound webhook's id.
        id: String,
    },
}

/// The ingress service.
#[derive(Debug)]
pub struct Inbound {
    store: Store,
    registry: Arc<Registry>,
    secrets: Secrets,
    intake: Intake,
    metrics: Arc<Metrics>,
    max_body_bytes: usize,
    public_url: PublicUrl,
    stored: Arc<Notify>,
}

impl Inbound {
    /// The ingress over these handles; `public_url`, when known, is how vendors reach this host
    /// (signatures that sign the URL need it).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        secrets: Secrets,
        intake: Intake,
        stored: Arc<Notify>,
        metrics: Arc<Metrics>,
        max_body_bytes: usize,
        public_url: PublicUrl,
    ) -> Self {
        Self {
            store,
            registry,
            secrets,
            intake,
            metrics,
            max_body_bytes,
            public_url,
            stored,
        }
    }

    /// The body limit.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Counts and refuses a body over the limit.
    pub fn too_large(&self, connector: &str) -> WebhookError {
        self.metrics.webhook(connector, WebhookOutcome::TooLarge);
        emit!(WARN, WEBHOOK_TOO_LARGE, connector = %connector, limit = self.max_body_bytes);
        WebhookError::TooLarge(self.max_body_bytes)
    }

    /// Sets a connector's app-level secret.
    pub async fn set_secret(&self, connector: &str, secret: &str) -> Result<(), WebhookError> {
        let live = self
            .registry
            .get(connector)
            .ok_or_else(|| WebhookError::UnknownConnector(connector.to_owned()))?;
        if !live.dispatch().accepts_webhooks() {
            return Err(WebhookError::NotAccepted(connector.to_owned()));
        }
        if secret.is_empty() {
            return Err(WebhookError::Invalid("`secret` must not be empty".into()));
        }
        let sealed = self
            .secrets
            .seal(secret.as_bytes(), &aad::webhook_secret(connector));
        Ok(self
            .store
            .put_webhook_secret(connector, &sealed, now_ms())
            .await?)
    }

    /// Verifies and stores one request (or answers its handshake).
    pub async fn receive(
        &self,
        connector: &str,
        account_id: Option<&str>,
        raw: RawRequest,
    ) -> Result<Ack, WebhookError> {
        let live = self
            .registry
            .get(connector)
            .ok_or_else(|| WebhookError::UnknownConnector(connector.to_owned()))?;
        let dispatch = live.dispatch();
        if !dispatch.accepts_webhooks() {
            return Err(WebhookError::NotAccepted(connector.to_owned()));
        }
        let url = format!("{}{}", self.public_url.base(), raw.path_and_query);
        let headers = Headers::new(raw.headers.clone());
        let req = WebhookRequest {
            method: &raw.method,
            url: &url,
            headers: &headers,
            body: &raw.body,
        };
        let webhooks = live.connector.webhooks();
        if let Some(answer) = webhooks.and_then(|w| w.unsigned_handshake(&req)) {
            return Ok(Ack::Handshake(answer));
        }
        let (secret, tenant_id) = self.secret(connector, account_id).await?;
        let now = now_ms();
        let verdict = match &secret {
            Some(secret) => dispatch.verify_webhook(&req, secret, now).await?,
            None => Err(Rejection::NoSecret),
        };
        if let Err(reason) = verdict {
            self.metrics.webhook(connector, WebhookOutcome::InvalidSignature);
            emit!(WARN, WEBHOOK_REJECTED, connector = %connector, account = ?account_id, reason = %reason);
            return Err(WebhookError::InvalidSignature(reason));
        }
        if let (Some(w), Some(secret)) = (webhooks, &secret) {
            let key = w.key(secret).unwrap_or_default();
            if let Some(answer) = w.signed_handshake(&req, &key) {
                return Ok(Ack::Handshake(answer));
            }
        }
        let id = uuid::Uuid::now_v7().to_string();
        self.intake
            .store(NewInbound {
                id: id.clone(),
                connector: connector.to_owned(),
                account_id: account_id.map(str::to_owned),
                tenant_id,
                method: raw.method,
                url,
                headers: raw.headers,
                body: raw.body,
                received_at: now,
            })
            .await?;
        self.metrics.webhook(connector, WebhookOutcome::Accepted);
        Ok(Ack::Accepted { id })
    }

    /// The secret a request is checked with, and the account's tenant: a per-account URL uses the
    /// account's `credentials.webhook_secret`, else the connector's app-level secret. Both come
    /// from the store's short-lived caches: an acknowledgement waits on one database write only
    /// (a change made by this process is seen at once, one made by another host within the TTL).
    async fn secret(
        &self,
        connector: &str,
        account_id: Option<&str>,
    ) -> Result<(Option<Vec<u8>>, Option<String>), WebhookError> {
        let mut tenant = None;
        if let Some(id) = account_id {
            let account = self
                .store
                .account_cached(id)
                .await?
                .filter(|a| a.connector == connector)
                .ok_or_else(|| WebhookError::UnknownAccount(id.to_owned()))?;
            tenant = Some(account.tenant_id.clone());
            let credentials = self.secrets.open_credentials(&account.id, &account.credentials)?;
            if let Some(s) = credentials.get("webhook_secret").and_then(|s| s.as_str())
                && !s.is_empty()
            {
                return Ok((Some(s.as_bytes().to_vec()), tenant));
            }
        }
        let app = match self.store.webhook_secret(connector).await? {
            Some(sealed) => Some(self.secrets.open(&sealed, &aad::webhook_secret(connector))?),
            None => None,
        };
        Ok((app, tenant))
    }
}

impl Inbound {
    /// Inbound webhooks visible to this token, newest first (a tenant token: its accounts' only).
    pub async fn list(
        &self,
        who: &Principal,
        mut filter: InboundFilter,
    ) -> Result<Vec<InboundRow>, WebhookError> {
        if !who.admin {
            match &who.tenant_id {
                Some(t) => filter.tenant_id = Some(t.clone()),
                None => return Ok(Vec::new()),
            }
        }
        Ok(self.store.list_inbound(&filter).await?)
    }

    /// Puts a failed or unmatched inbound webhook back in the queue.
    pub async fn retry(&self, who: &Principal, id: &str) -> Result<InboundRow, WebhookError> {
        let row = self
            .store
            .inbound(id)
            .await?
            .filter(|r| who.admin || (r.request.tenant_id.is_some() && r.request.tenant_id == who.tenant_id))
            .ok_or_else(|| WebhookError::NotFound(format!("no inbound webhook {id:?}")))?;
        if !self.store.requeue_inbound(id).await? {
            return Err(WebhookError::Invalid(format!(
                "inbound webhook {id} is {}: only failed or unmatched ones are retried",
                row.status.as_str()
            )));
        }
        self.stored.notify_waiters();
        self.store
            .inbound(id)
            .await?
            .ok_or_else(|| WebhookError::NotFound(format!("no inbound webhook {id:?}")))
    }
}
