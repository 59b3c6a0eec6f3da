//! The inbound queue's workers: lease stored requests from the database (so a request whose
//! worker died is taken again when its lease expires, by any host), map them through the
//! connector, find each event's account, and write the result: every vendor event id claimed
//! once, its unified event in the outbox, in one transaction.

use std::sync::Arc;
use std::time::Duration;

use patchbay_engine::Headers;
use patchbay_engine::webhook::WebhookRequest;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, watch};

use super::model::{InboundRow, InboundStatus, OutboxEvent, Processed};
use crate::clock::now_ms;
use crate::connectors::Registry;
use crate::store::{Store, StoreError};
use crate::telemetry::events::{WEBHOOK_FAILED, WEBHOOK_UNMATCHED, WEBHOOK_WORKER_ERROR};
use crate::telemetry::metrics::WebhookOutcome;
use crate::telemetry::{Metrics, emit};

/// Requests one worker leases at a time.
const CLAIM: i64 = 32;
/// How long a worker lets work accumulate after a short batch: every claim and every result is a
/// write transaction, and those queue with the acknowledgements' commits.
pub const BATCH_WINDOW: Duration = Duration::from_millis(20);

/// The processing side of inbound webhooks.
#[derive(Debug)]
pub struct Processor {
    store: Store,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    /// Notified after each intake commit.
    pub stored: Arc<Notify>,
    /// Notified after outbox events are written (the delivery side waits on it).
    pub events_written: Arc<Notify>,
    lease: Duration,
    tick: Duration,
}

impl Processor {
    /// A processor over these handles.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
        stored: Arc<Notify>,
        events_written: Arc<Notify>,
        lease: Duration,
        tick: Duration,
    ) -> Self {
        Self {
            store,
            registry,
            metrics,
            stored,
            events_written,
            lease,
            tick,
        }
    }

    /// Processes leased requests until none is pending; returns how many it processed.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut done = 0;
        loop {
            let now = now_ms();
            let rows = self
                .store
                .claim_inbound(now, now + self.lease.as_millis() as i64, CLAIM)
                .await?;
            if rows.is_empty() {
                return Ok(done);
            }
            // Mapped one by one, written in one transaction.
            let mut results = Vec::with_capacity(rows.len());
            for row in rows {
                let processed = self.map(&row).await;
                results.push((row, processed));
            }
            let statuses = self.store.finish_inbound(&results, now_ms()).await?;
            for ((row, processed), status) in results.iter().zip(statuses) {
                self.count(row, processed, status);
            }
            done += results.len();
            self.events_written.notify_waiters();
            if results.len() < CLAIM as usize {
                // A short batch: let more arrive rather than pay a transaction for a few rows.
                tokio::time::sleep(BATCH_WINDOW).await;
            }
        }
    }

    fn count(&self, row: &InboundRow, result: &Processed, status: InboundStatus) {
        let (id, connector) = (&row.request.id, &row.request.connector);
        match status {
            InboundStatus::Unmatched => {
                self.metrics.webhook(connector, WebhookOutcome::Unmatched);
                emit!(WARN, WEBHOOK_UNMATCHED, connector = %connector, inbound = %id);
            }
            InboundStatus::Failed => {
                self.metrics.webhook(connector, WebhookOutcome::Failed);
                emit!(WARN, WEBHOOK_FAILED, connector = %connector, inbound = %id, error = ?result.error);
            }
            InboundStatus::Duplicate => self.metrics.webhook(connector, WebhookOutcome::Duplicate),
            _ => {}
        }
        if status != InboundStatus::Duplicate {
            let now = now_ms();
            for at in &result.occurred_at {
                // A vendor clock ahead of ours is no negative lag.
                let lag = Duration::from_millis((now - at).max(0) as u64);
                self.metrics.ingestion_lag(connector, lag);
            }
        }
    }

    async fn map(&self, row: &InboundRow) -> Processed {
        let r = &row.request;
        let failed = |error: String| Processed {
            status: InboundStatus::Failed,
            account_id: None,
            tenant_id: None,
            error: Some(error),
            vendor_event_ids: Vec::new(),
            event_types: Vec::new(),
            events: Vec::new(),
            occurred_at: Vec::new(),
        };
        let Some(live) = self.registry.get(&r.connector) else {
            return failed(format!("connector {} is not live", r.connector));
        };
        let headers = Headers::new(r.headers.clone());
        let req = WebhookRequest {
            method: &r.method,
            url: &r.url,
            headers: &headers,
            body: &r.body,
        };
        let events = match live.dispatch().webhook_events(&req).await {
            Ok(events) => events,
            Err(e) => return failed(e.to_string()),
        };
        let context_field = live.connector.webhooks().and_then(|w| w.account_context_field());
        let mut out = Processed {
            status: InboundStatus::Processed,
            account_id: r.account_id.clone(),
            tenant_id: r.tenant_id.clone(),
            error: None,
            vendor_event_ids: Vec::new(),
            event_types: Vec::new(),
            events: Vec::new(),
            occurred_at: Vec::new(),
        };
        let body_hash = hex::encode(Sha256::digest(&r.body));
        for (i, event) in events.into_iter().enumerate() {
            // Without a vendor id, an identical body is the same event (a retried delivery).
            let vendor_id = event
                .id
                .clone()
                .unwrap_or_else(|| format!("sha256:{body_hash}:{i}"));
            out.vendor_event_ids.push(vendor_id.clone());
            out.occurred_at.extend(event.time_ms);
            let account = match (&r.account_id, &event.account_key, context_field) {
                (Some(id), _, _) => Some((id.clone(), r.tenant_id.clone())),
                (None, Some(key), Some(field)) => {
                    match self.store.account_by_context(&r.connector, field, key).await {
                        Ok(found) => found.map(|(id, tenant)| (id, Some(tenant))),
                        Err(e) => return failed(format!("finding the account: {e}")),
                    }
                }
                _ => None,
            };
            let Some((account_id, tenant_id)) = account else {
                out.status = InboundStatus::Unmatched;
                continue;
            };
            if out.account_id.is_none() {
                out.account_id = Some(account_id.clone());
                out.tenant_id = tenant_id.clone();
            }
            let unified = event.unified.map(|u| {
                out.event_types.push(u.event_type.clone());
                OutboxEvent {
                    id: event_id(&r.id, r.received_at, i),
                    event_type: u.event_type,
                    account_id: Some(account_id.clone()),
                    tenant_id: tenant_id.clone(),
                    endpoint_id: None,
                    data: json!({
                        "integrated_account_id": account_id,
                        "connector": r.connector,
                        "tenant_id": tenant_id,
                        "vendor_event_id": event.id,
                        "inbound_webhook_id": r.id,
                        "occurred_at": event.time_ms,
                        "record": u.data,
                    }),
                    created_at: now_ms(),
                }
            });
            out.events.push((vendor_id, unified));
        }
        out
    }
}

/// The id of the `i`th unified event of inbound request `inbound`: derived, not drawn, so that
/// processing redone after a power loss undid its commit (see `relaxed_write_tx` in the SQLite
/// store) gives the event the id, and so the `webhook-id`, it may already have been delivered
/// with. A UUIDv7 of the request's receive time, so events stay in time order.
fn event_id(inbound: &str, received_at_ms: i64, i: usize) -> String {
    let digest = Sha256::digest(format!("{inbound}/{i}"));
    let mut bits = [0u8; 10];
    bits.copy_from_slice(&digest[..10]);
    uuid::Builder::from_unix_timestamp_millis(received_at_ms.max(0) as u64, &bits)
        .into_uuid()
        .to_string()
}

/// One worker: drains the queue, then waits for a commit or the tick (work stored by another
/// host, expired leases).
pub async fn run(processor: Arc<Processor>, worker: usize, mut stop: watch::Receiver<bool>) {
    loop {
        let stored = processor.stored.notified();
        tokio::pin!(stored);
        stored.as_mut().enable();
        if let Err(e) = processor.drain().await {
            emit!(ERROR, WEBHOOK_WORKER_ERROR, worker = %format!("inbound-{worker}"), error = %e);
        }
        tokio::select! {
            _ = &mut stored => {}
            _ = tokio::time::sleep(processor.tick) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::event_id;

    #[test]
    fn event_ids_are_derived_from_the_request_and_ordered_by_its_receive_time() {
        let a = event_id("0190-a", 1_764_547_200_000, 0);
        assert_eq!(a, event_id("0190-a", 1_764_547_200_000, 0), "redone, same id");
        assert_ne!(a, event_id("0190-a", 1_764_547_200_000, 1));
        assert_ne!(a, event_id("0190-b", 1_764_547_200_000, 0));
        let id = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(id.get_version_num(), 7);
        assert!(
            a < event_id("0190-0", 1_764_547_200_001, 0),
            "a later request sorts after"
        );
    }
}
