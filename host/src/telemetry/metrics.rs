//! Every metric the host keeps, with its meaning, and the in-process values. Names follow
//! Prometheus conventions (`patchbay_` prefix, base units, `_total` for counters), so an exporter
//! can publish [`Metrics`] as they are.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Manifests read and validated (files and uploads).
    ConnectorLoads,
    /// Connector revisions made live.
    ConnectorActivations,
    /// Manifests or components refused as invalid.
    ConnectorRefusals,
    /// Rollbacks to an earlier revision.
    ConnectorRollbacks,
    /// Inbound webhooks stored and acknowledged.
    WebhooksAccepted,
    /// Inbound webhooks refused for their signature.
    WebhooksInvalidSignature,
    /// Inbound webhooks refused for their size.
    WebhooksTooLarge,
    /// Inbound webhooks whose events had all been processed before.
    WebhooksDuplicate,
    /// Inbound webhooks with an event that matched no account.
    WebhooksUnmatched,
    /// Inbound webhooks whose mapping failed.
    WebhooksFailed,
    /// Delivery attempts answered 2xx.
    DeliveriesSucceeded,
    /// Delivery attempts that failed.
    DeliveriesFailed,
}

impl Counter {
    /// Every counter.
    pub const ALL: [Counter; 12] = [
        Counter::ConnectorLoads,
        Counter::ConnectorActivations,
        Counter::ConnectorRefusals,
        Counter::ConnectorRollbacks,
        Counter::WebhooksAccepted,
        Counter::WebhooksInvalidSignature,
        Counter::WebhooksTooLarge,
        Counter::WebhooksDuplicate,
        Counter::WebhooksUnmatched,
        Counter::WebhooksFailed,
        Counter::DeliveriesSucceeded,
        Counter::DeliveriesFailed,
    ];

    /// The metric name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ConnectorLoads => "patchbay_connector_loads_total",
            Self::ConnectorActivations => "patchbay_connector_activations_total",
            Self::ConnectorRefusals => "patchbay_connector_refusals_total",
            Self::ConnectorRollbacks => "patchbay_connector_rollbacks_total",
            Self::WebhooksAccepted => "patchbay_webhooks_accepted_total",
            Self::WebhooksInvalidSignature => "patchbay_webhooks_invalid_signature_total",
            Self::WebhooksTooLarge => "patchbay_webhooks_too_large_total",
            Self::WebhooksDuplicate => "patchbay_webhooks_duplicate_total",
            Self::WebhooksUnmatched => "patchbay_webhooks_unmatched_total",
            Self::WebhooksFailed => "patchbay_webhooks_failed_total",
            Self::DeliveriesSucceeded => "patchbay_webhook_delivery_successes_total",
            Self::DeliveriesFailed => "patchbay_webhook_delivery_failures_total",
        }
    }

    /// What it counts.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::ConnectorLoads => "Connector manifests read and validated, from files and uploads.",
            Self::ConnectorActivations => "Connector revisions made live.",
            Self::ConnectorRefusals => {
                "Connector manifests or components refused as invalid (the previous version stays live)."
            }
            Self::ConnectorRollbacks => "Rollbacks of a connector to an earlier revision.",
            Self::WebhooksAccepted => "Inbound webhooks verified, stored and answered 200.",
            Self::WebhooksInvalidSignature => "Inbound webhooks refused with 401 invalid_signature.",
            Self::WebhooksTooLarge => "Inbound webhooks refused with 413.",
            Self::WebhooksDuplicate => "Inbound webhooks whose every event had been processed before.",
            Self::WebhooksUnmatched => "Inbound webhooks with an event that matched no account.",
            Self::WebhooksFailed => "Inbound webhooks whose mapping failed (kept as failed).",
            Self::DeliveriesSucceeded => "Outbound delivery attempts answered 2xx.",
            Self::DeliveriesFailed => "Outbound delivery attempts that failed.",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The values of every metric of this process.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: [AtomicU64; Counter::ALL.len()],
}

impl Metrics {
    /// Adds one to a counter.
    pub fn incr(&self, counter: Counter) {
        self.counters[counter.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// A counter's value.
    pub fn get(&self, counter: Counter) -> u64 {
        self.counters[counter.index()].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_and_counted() {
        let m = Metrics::default();
        for (i, c) in Counter::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
            assert!(c.name().starts_with("patchbay_") && c.name().ends_with("_total"));
            assert!(!c.meaning().is_empty());
        }
        m.incr(Counter::ConnectorLoads);
        m.incr(Counter::ConnectorLoads);
        assert_eq!(m.get(Counter::ConnectorLoads), 2);
        assert_eq!(m.get(Counter::ConnectorRollbacks), 0);
    }
}
