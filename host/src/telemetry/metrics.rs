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
}

impl Counter {
    /// Every counter.
    pub const ALL: [Counter; 4] = [
        Counter::ConnectorLoads,
        Counter::ConnectorActivations,
        Counter::ConnectorRefusals,
        Counter::ConnectorRollbacks,
    ];

    /// The metric name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ConnectorLoads => "patchbay_connector_loads_total",
            Self::ConnectorActivations => "patchbay_connector_activations_total",
            Self::ConnectorRefusals => "patchbay_connector_refusals_total",
            Self::ConnectorRollbacks => "patchbay_connector_rollbacks_total",
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
