//! The webhook records: stored inbound requests and their statuses, outbound endpoints,
//! deliveries and attempts, and the events of the outbox as delivery sees them.

use serde::Serialize;
use serde_json::Value;

/// Where an inbound request is in its processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundStatus {
    /// Stored and acknowledged; not processed yet.
    Pending,
    /// Processed: its unified events are in the outbox.
    Processed,
    /// Every event in it had been processed before (a vendor retry).
    Duplicate,
    /// No account matched (app-level URL); kept for a retry.
    Unmatched,
    /// Mapping failed; kept with the error for a retry.
    Failed,
}

impl InboundStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processed => "processed",
            Self::Duplicate => "duplicate",
            Self::Unmatched => "unmatched",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "processed" => Self::Processed,
            "duplicate" => Self::Duplicate,
            "unmatched" => Self::Unmatched,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// A request to store before acknowledging it.
#[derive(Debug, Clone)]
pub struct NewInbound {
    /// UUIDv7.
    pub id: String,
    /// Connector name.
    pub connector: String,
    /// The account of a per-account URL.
    pub account_id: Option<String>,
    /// Its tenant.
    pub tenant_id: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Full URL as the vendor called it.
    pub url: String,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
    /// Epoch ms.
    pub received_at: i64,
}

/// A stored inbound request.
#[derive(Debug, Clone)]
pub struct InboundRow {
    /// The request as stored.
    pub request: NewInbound,
    /// Processing status.
    pub status: InboundStatus,
    /// Processing attempts so far.
    pub attempts: i64,
    /// When it was last processed (epoch ms).
    pub processed_at: Option<i64>,
    /// Why processing failed.
    pub error: Option<String>,
    /// Vendor event ids seen in it.
    pub vendor_event_ids: Vec<String>,
    /// Unified event types produced.
    pub event_types: Vec<String>,
}

/// Filters of `GET /inbound-webhooks`.
#[derive(Debug, Clone, Default)]
pub struct InboundFilter {
    /// Only this connector.
    pub connector: Option<String>,
    /// Only this account.
    pub account_id: Option<String>,
    /// Only this status.
    pub status: Option<InboundStatus>,
    /// Only this tenant's (tenant tokens).
    pub tenant_id: Option<String>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// The outcome of processing one inbound request.
#[derive(Debug, Clone)]
pub struct Processed {
    /// Final status.
    pub status: InboundStatus,
    /// The account and tenant the events were matched to (the first, for a batch).
    pub account_id: Option<String>,
    /// Its tenant.
    pub tenant_id: Option<String>,
    /// Error text for `failed`.
    pub error: Option<String>,
    /// Every vendor event id of the request.
    pub vendor_event_ids: Vec<String>,
    /// Unified event types produced (not counting duplicates).
    pub event_types: Vec<String>,
    /// Vendor event ids to claim, each with its unified event (`None`: no rule maps it). An id
    /// claimed before is a duplicate and its event is not written.
    pub events: Vec<(String, Option<OutboxEvent>)>,
    /// The vendor times of the events that have one (epoch ms), for the ingestion lag.
    pub occurred_at: Vec<i64>,
}

/// An event for the outbox.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    /// UUIDv7: the `webhook-id` of its deliveries.
    pub id: String,
    /// `integrated_account:needs_reauth`, `crm.contact.updated`, …
    pub event_type: String,
    /// The account it concerns.
    pub account_id: Option<String>,
    /// The tenant it belongs to (`None`: operators only).
    pub tenant_id: Option<String>,
    /// Only this endpoint (test events).
    pub endpoint_id: Option<String>,
    /// The `data` of the delivered payload.
    pub data: Value,
    /// Epoch ms.
    pub created_at: i64,
}

/// An outbound endpoint.
#[derive(Debug, Clone)]
pub struct EndpointRow {
    /// `ep_…`.
    pub id: String,
    /// `None`: an operator endpoint, receiving every tenant's events.
    pub tenant_id: Option<String>,
    /// Where events are POSTed.
    pub url: String,
    /// Event filters (`crm.*`, `integrated_account:needs_reauth`); `None`: every event.
    pub events: Option<Vec<String>>,
    /// Free text.
    pub description: Option<String>,
    /// The signing secret, sealed.
    pub sealed_secret: Vec<u8>,
    /// Whether events are delivered.
    pub enabled: bool,
    /// Why it was disabled, when the host disabled it.
    pub disabled_reason: Option<String>,
    /// First failure since the last success (epoch ms).
    pub failing_since: Option<i64>,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch ms.
    pub updated_at: i64,
}

impl EndpointRow {
    /// Whether this endpoint receives `event` (type filter and tenant).
    pub fn wants(&self, event_type: &str, tenant_id: Option<&str>) -> bool {
        let tenant_ok = match (&self.tenant_id, tenant_id) {
            (None, _) => true,
            (Some(mine), Some(theirs)) => mine == theirs,
            (Some(_), None) => false,
        };
        tenant_ok
            && self
                .events
                .as_ref()
                .is_none_or(|filters| filters.iter().any(|f| filter_matches(f, event_type)))
    }
}

/// `crm.*` matches `crm.contact.updated`; `integrated_account:*` every lifecycle event; `*` all.
pub fn filter_matches(filter: &str, event_type: &str) -> bool {
    match filter.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => filter == event_type,
    }
}

/// A delivery due for an attempt.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// Delivery id.
    pub id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The outbox event (its id is the `webhook-id`).
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// Its creation (epoch ms).
    pub created_at: i64,
    /// The event's `data`.
    pub data: Value,
    /// The event's time (epoch ms).
    pub event_created_at: i64,
}

/// One delivery attempt, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRow {
    /// UUIDv7.
    pub id: String,
    /// The delivery.
    pub delivery_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event id (`webhook-id`).
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    /// The endpoint's status, if it answered.
    pub status_code: Option<i64>,
    /// How long the attempt took.
    pub duration_ms: i64,
    /// The start of the answer body.
    pub response_excerpt: Option<String>,
    /// Why there was no answer.
    pub error: Option<String>,
    /// When (epoch ms).
    pub at: i64,
    /// When the next attempt is due (`None`: none).
    pub next_attempt_at: Option<i64>,
}

/// What an attempt decided for its delivery.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    /// 2xx: done.
    Succeeded,
    /// Try again at this time.
    Retry(i64),
    /// No attempts left.
    GaveUp,
    /// The endpoint is disabled (410 Gone, or failing too long); the delivery stays pending.
    DisableEndpoint(String),
}

/// An attempt to record, with what it decided and, when it disables its endpoint, the
/// `webhook_endpoint:disabled` event.
#[derive(Debug, Clone)]
pub struct RecordedAttempt {
    /// The attempt.
    pub attempt: AttemptRow,
    /// Its decision.
    pub outcome: AttemptOutcome,
    /// The event to write when the endpoint is disabled.
    pub disabled_event: Option<OutboxEvent>,
}
