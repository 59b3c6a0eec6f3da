//! Outbound endpoints as the API sees them: create (with a generated `whsec_` secret, shown
//! once), list, read, change, delete, a test event, the attempts log, and replays. A tenant token
//! manages only its tenant's endpoints; an admin endpoint without a tenant receives every event.

use std::sync::Arc;

use base64::Engine as _;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::ENDPOINT_TEST_EVENT;
use super::error::WebhookError;
use super::model::{AttemptRow, EndpointRow, OutboxEvent};
use crate::accounts::Principal;
use crate::clock::{now_ms, rfc3339};
use crate::secrets::Secrets;
use crate::secrets::aad;
use crate::ssrf;
use crate::store::Store;

/// The body of `POST /webhook-endpoints`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpointRequest {
    /// Where events are POSTed.
    #[schema(format = "uri", pattern = "^https?://[^/?#]+")]
    pub url: String,
    /// Event filters; absent: every event.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// The tenant whose events it receives (tenant tokens: their own, implied).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// The body of `PATCH /webhook-endpoints/{id}`: each field given is set (`null` clears
/// `events` and `description`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    #[serde(default)]
    #[schema(format = "uri", pattern = "^https?://[^/?#]+")]
    url: Option<String>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    events: Option<Option<Vec<String>>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    #[serde(default)]
    enabled: Option<bool>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// An endpoint's public view (never its secret).
#[derive(Debug, Clone)]
pub struct EndpointView(pub Value);

impl From<&EndpointRow> for EndpointView {
    fn from(e: &EndpointRow) -> Self {
        Self(json!({
            "id": e.id,
            "url": e.url,
            "events": e.events,
            "tenant_id": e.tenant_id,
            "description": e.description,
            "enabled": e.enabled,
            "disabled_reason": e.disabled_reason,
            "failing_since": e.failing_since.and_then(rfc3339),
            "created_at": rfc3339(e.created_at),
            "updated_at": rfc3339(e.updated_at),
        }))
    }
}

/// The endpoints service.
#[derive(Debug)]
pub struct Endpoints {
    store: Store,
    secrets: Secrets,
    allow_private: bool,
    events_written: Arc<Notify>,
}

fn check_filters(filters: &Option<Vec<String>>) -> Result<(), WebhookError> {
    for f in filters.iter().flatten() {
        let body = f.strip_suffix('*').unwrap_or(f);
        if f.is_empty() || body.contains('*') || f.chars().any(char::is_whitespace) {
            return Err(WebhookError::Invalid(format!(
                "event filter {f:?}: use an event type, or a prefix ending in `*` (crm.*, integrated_account:*)"
            )));
        }
    }
    Ok(())
}

impl Endpoints {
    /// The service over these handles.
    pub fn new(store: Store, secrets: Secrets, allow_private: bool, events_written: Arc<Notify>) -> Self {
        Self {
            store,
            secrets,
            allow_private,
            events_written,
        }
    }

    /// The signing secret of an endpoint (`whsec_…`).
    pub fn secret(&self, e: &EndpointRow) -> Result<String, WebhookError> {
        let bytes = self
            .secrets
            .open(&e.sealed_secret, &aad::endpoint_secret(&e.id))?;
        String::from_utf8(bytes)
            .map_err(|_| WebhookError::Invalid("stored endpoint secret is not text".into()))
    }

    async fn check_target(&self, url: &str) -> Result<(), WebhookError> {
        let parsed = ssrf::check_url(url, self.allow_private).map_err(WebhookError::Invalid)?;
        ssrf::check_resolved(&parsed, self.allow_private)
            .await
            .map_err(WebhookError::Invalid)
    }

    /// Creates an endpoint: its view and its secret (shown this once).
    pub async fn create(&self, who: &Principal, body: Value) -> Result<(EndpointView, String), WebhookError> {
        let req: NewEndpointRequest =
            serde_json::from_value(body).map_err(|e| WebhookError::Invalid(format!("invalid body: {e}")))?;
        let tenant_id = match (who.admin, &who.tenant_id, req.tenant_id) {
            (true, _, t) => t,
            (false, Some(mine), None) => Some(mine.clone()),
            (false, Some(mine), Some(t)) if &t == mine => Some(t),
            _ => {
                return Err(WebhookError::Forbidden(
                    "a tenant token manages only its own tenant's endpoints".into(),
                ));
            }
        };
        check_filters(&req.events)?;
        self.check_target(&req.url).await?;
        let id = format!("ep_{}", uuid::Uuid::now_v7().simple());
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(raw));
        let now = now_ms();
        let row = EndpointRow {
            sealed_secret: self.secrets.seal(secret.as_bytes(), &aad::endpoint_secret(&id)),
            id,
            tenant_id,
            url: req.url,
            events: req.events,
            description: req.description,
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_endpoint(&row).await?;
        Ok((EndpointView::from(&row), secret))
    }

    /// The endpoints this token manages.
    pub async fn list(&self, who: &Principal) -> Result<Vec<EndpointView>, WebhookError> {
        let tenant = if who.admin { None } else { who.tenant_id.as_deref() };
        if !who.admin && tenant.is_none() {
            return Ok(Vec::new());
        }
        Ok(self
            .store
            .endpoints(tenant)
            .await?
            .iter()
            .map(EndpointView::from)
            .collect())
    }

    /// One endpoint this token manages (404 otherwise: existence is not revealed).
    pub async fn get(&self, who: &Principal, id: &str) -> Result<EndpointRow, WebhookError> {
        self.store
            .endpoint(id)
            .await?
            .filter(|e| who.admin || (e.tenant_id.is_some() && e.tenant_id == who.tenant_id))
            .ok_or_else(|| WebhookError::NotFound(format!("no webhook endpoint {id:?}")))
    }

    /// Changes url, filters, description or enabled; re-enabling resumes pending deliveries.
    pub async fn update(&self, who: &Principal, id: &str, body: Value) -> Result<EndpointView, WebhookError> {
        let mut e = self.get(who, id).await?;
        let patch: EndpointPatch =
            serde_json::from_value(body).map_err(|e| WebhookError::Invalid(format!("invalid body: {e}")))?;
        if let Some(url) = patch.url {
            self.check_target(&url).await?;
            e.url = url;
        }
        if let Some(events) = patch.events {
            check_filters(&events)?;
            e.events = events;
        }
        if let Some(d) = patch.description {
            e.description = d;
        }
        let resumed = patch.enabled == Some(true) && !e.enabled;
        if let Some(enabled) = patch.enabled {
            e.enabled = enabled;
        }
        e.updated_at = now_ms();
        self.store.update_endpoint(&e).await?;
        if resumed {
            self.events_written.notify_waiters();
        }
        let e = self.get(who, id).await?;
        Ok(EndpointView::from(&e))
    }

    /// Deletes an endpoint and its pending deliveries.
    pub async fn delete(&self, who: &Principal, id: &str) -> Result<(), WebhookError> {
        self.get(who, id).await?;
        self.store.delete_endpoint(id).await?;
        Ok(())
    }

    /// Sends a `webhook_endpoint:test` event to this endpoint only; returns the event id.
    pub async fn test(&self, who: &Principal, id: &str) -> Result<String, WebhookError> {
        let e = self.get(who, id).await?;
        let event = OutboxEvent {
            id: uuid::Uuid::now_v7().to_string(),
            event_type: ENDPOINT_TEST_EVENT.into(),
            account_id: None,
            tenant_id: e.tenant_id.clone(),
            endpoint_id: Some(e.id.clone()),
            data: json!({"endpoint_id": e.id, "message": "a test event from Patchbay"}),
            created_at: now_ms(),
        };
        self.store.insert_event(&event).await?;
        self.events_written.notify_waiters();
        Ok(event.id)
    }

    /// Every attempt to this endpoint, newest first.
    pub async fn attempts(
        &self,
        who: &Principal,
        id: &str,
        limit: i64,
    ) -> Result<Vec<AttemptRow>, WebhookError> {
        self.get(who, id).await?;
        Ok(self.store.attempts(id, limit).await?)
    }

    /// Re-sends every matching event since `since` (epoch ms); returns how many.
    pub async fn replay(&self, who: &Principal, id: &str, since: i64) -> Result<usize, WebhookError> {
        const MAX: i64 = 100_000;
        let e = self.get(who, id).await?;
        let events: Vec<OutboxEvent> = self
            .store
            .events_since(since, MAX)
            .await?
            .into_iter()
            .filter(|ev| match ev.endpoint_id.as_deref() {
                Some(target) => target == e.id,
                None => e.wants(&ev.event_type, ev.tenant_id.as_deref()),
            })
            .collect();
        self.store.add_deliveries(&e.id, &events, now_ms()).await?;
        self.events_written.notify_waiters();
        Ok(events.len())
    }
}
