//! The facade's webhook operations (inbound queue, secrets, endpoints, deliveries), delegated to
//! the backend.

use super::{Backend, Store, StoreError};
use crate::webhooks::model::{
    AttemptRow, DueDelivery, EndpointRow, InboundFilter, InboundRow, InboundStatus, NewInbound, OutboxEvent,
    Processed, RecordedAttempt,
};

impl Store {
    /// Stores inbound requests in one transaction.
    pub async fn insert_inbound(&self, batch: &[NewInbound]) -> Result<(), StoreError> {
        on_backend!(self, b => b.insert_inbound(batch).await)
    }

    /// Leases pending inbound requests until `until`.
    pub async fn claim_inbound(
        &self,
        now: i64,
        until: i64,
        limit: i64,
    ) -> Result<Vec<InboundRow>, StoreError> {
        on_backend!(self, b => b.claim_inbound(now, until, limit).await)
    }

    /// Writes processing results (event-id claims, outbox events, statuses) in one transaction.
    pub async fn finish_inbound(
        &self,
        results: &[(InboundRow, Processed)],
        now: i64,
    ) -> Result<Vec<InboundStatus>, StoreError> {
        on_backend!(self, b => b.finish_inbound(results, now).await)
    }

    /// Inbound requests, newest first.
    pub async fn list_inbound(&self, f: &InboundFilter) -> Result<Vec<InboundRow>, StoreError> {
        on_backend!(self, b => b.list_inbound(f).await)
    }

    /// One inbound request.
    pub async fn inbound(&self, id: &str) -> Result<Option<InboundRow>, StoreError> {
        on_backend!(self, b => b.inbound(id).await)
    }

    /// Requeues a failed or unmatched inbound request.
    pub async fn requeue_inbound(&self, id: &str) -> Result<bool, StoreError> {
        on_backend!(self, b => b.requeue_inbound(id).await)
    }

    /// The account of `connector` whose `context.<field>` is `value`: (id, tenant).
    pub async fn account_by_context(
        &self,
        connector: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        on_backend!(self, b => b.account_by_context(connector, field, value).await)
    }

    /// Sets a connector's app-level webhook secret (sealed).
    pub async fn put_webhook_secret(
        &self,
        connector: &str,
        sealed: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.put_webhook_secret(connector, sealed, now).await)?;
        self.webhook_secrets.remove(&connector.to_owned());
        Ok(())
    }

    /// A connector's app-level webhook secret (sealed), possibly as read up to the cache TTL ago
    /// (the acknowledgement path).
    pub async fn webhook_secret(&self, connector: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(hit) = self.webhook_secrets.get(&connector.to_owned()) {
            return Ok(hit);
        }
        let sealed = on_backend!(self, b => b.webhook_secret(connector).await)?;
        self.webhook_secrets.insert(connector.to_owned(), sealed.clone());
        Ok(sealed)
    }

    /// Creates an endpoint.
    pub async fn insert_endpoint(&self, e: &EndpointRow) -> Result<(), StoreError> {
        on_backend!(self, b => b.insert_endpoint(e).await)
    }

    /// Updates an endpoint.
    pub async fn update_endpoint(&self, e: &EndpointRow) -> Result<(), StoreError> {
        on_backend!(self, b => b.update_endpoint(e).await)
    }

    /// One endpoint.
    pub async fn endpoint(&self, id: &str) -> Result<Option<EndpointRow>, StoreError> {
        on_backend!(self, b => b.endpoint(id).await)
    }

    /// Endpoints (of one tenant, if given).
    pub async fn endpoints(&self, tenant: Option<&str>) -> Result<Vec<EndpointRow>, StoreError> {
        on_backend!(self, b => b.endpoints(tenant).await)
    }

    /// Deletes an endpoint and its pending deliveries.
    pub async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError> {
        on_backend!(self, b => b.delete_endpoint(id).await)
    }

    /// Appends an event to the outbox.
    pub async fn insert_event(&self, e: &OutboxEvent) -> Result<(), StoreError> {
        on_backend!(self, b => b.insert_event(e).await)
    }

    /// Outbox events not fanned out yet.
    pub async fn unfanned_events(&self, limit: i64) -> Result<Vec<OutboxEvent>, StoreError> {
        on_backend!(self, b => b.unfanned_events(limit).await)
    }

    /// Outbox events since `since` (epoch ms).
    pub async fn events_since(&self, since: i64, limit: i64) -> Result<Vec<OutboxEvent>, StoreError> {
        on_backend!(self, b => b.events_since(since, limit).await)
    }

    /// Creates events' deliveries and marks them fanned out, once, in one transaction.
    pub async fn fan_out(&self, events: &[(OutboxEvent, Vec<String>)], due: i64) -> Result<(), StoreError> {
        on_backend!(self, b => b.fan_out(events, due).await)
    }

    /// Creates deliveries of past events to one endpoint.
    pub async fn add_deliveries(
        &self,
        endpoint: &str,
        events: &[OutboxEvent],
        now: i64,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.add_deliveries(endpoint, events, now).await)
    }

    /// Leases up to `limit` due deliveries of one endpoint.
    pub async fn claim_deliveries(
        &self,
        endpoint: &str,
        now: i64,
        until: i64,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        on_backend!(self, b => b.claim_deliveries(endpoint, now, until, limit).await)
    }

    /// Records delivery attempts and their outcomes in one transaction.
    pub async fn record_attempts(&self, attempts: &[RecordedAttempt]) -> Result<(), StoreError> {
        on_backend!(self, b => b.record_attempts(attempts).await)
    }

    /// An endpoint's attempts, newest first.
    pub async fn attempts(&self, endpoint: &str, limit: i64) -> Result<Vec<AttemptRow>, StoreError> {
        on_backend!(self, b => b.attempts(endpoint, limit).await)
    }

    /// Deliveries per status.
    pub async fn delivery_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        on_backend!(self, b => b.delivery_counts().await)
    }
}
