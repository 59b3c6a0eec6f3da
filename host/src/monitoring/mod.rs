//! Monitoring as the operator sees it: the scrape (`GET /metrics`: the in-process counters and
//! histograms of [`Metrics`] plus the gauges read from the database), schema drift of vendor
//! records, and the ops page's summary (`GET /dashboard`, `GET /ops/summary`), built from the
//! same exposition Prometheus reads.

pub mod drift;
pub mod exposition;
pub mod summary;

use std::sync::Arc;

use crate::accounts::model::AccountStatus;
use crate::connectors::Registry;
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;
use crate::telemetry::metrics::Snapshot;
use drift::Drift;

/// The monitoring service.
#[derive(Debug)]
pub struct Monitoring {
    store: Store,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    drift: Arc<Drift>,
}

impl Monitoring {
    /// Monitoring over these handles.
    pub fn new(store: Store, registry: Arc<Registry>, metrics: Arc<Metrics>, drift: Arc<Drift>) -> Self {
        Self {
            store,
            registry,
            metrics,
            drift,
        }
    }

    /// Schema drift.
    pub fn drift(&self) -> &Arc<Drift> {
        &self.drift
    }

    /// Whether `name` is a live connector.
    pub fn is_live(&self, name: &str) -> bool {
        self.registry.get(name).is_some()
    }

    /// The exposition: every metric, the database's gauges read now. Every status of every
    /// live connector is present, zeros included, and so is any connector that still has
    /// accounts after its manifest went away.
    pub async fn scrape(&self) -> Result<String, StoreError> {
        let counts = self.store.count_accounts().await?;
        let live = self.registry.snapshot();
        for (name, c) in &live.connectors {
            self.metrics
                .touch_connector(name, c.dispatch().accepts_webhooks(), c.oauth2().is_some());
        }
        let mut connectors: Vec<String> = live.connectors.keys().cloned().collect();
        for (c, _, _) in &counts {
            if !connectors.contains(c) {
                connectors.push(c.clone());
            }
        }
        let mut accounts = Vec::with_capacity(connectors.len() * AccountStatus::ALL.len());
        for c in &connectors {
            for status in AccountStatus::ALL {
                let n = counts
                    .iter()
                    .find(|(cc, s, _)| cc == c && s == status.as_str())
                    .map_or(0, |(_, _, n)| *n);
                accounts.push((c.clone(), status.as_str(), n));
            }
        }
        let depths = self.store.queue_depths().await?;
        let snapshot = Snapshot {
            accounts,
            endpoints: self.store.count_endpoints().await?,
            queues: vec![
                ("inbound", depths.inbound),
                ("outbox", depths.outbox),
                ("deliveries", depths.deliveries),
            ],
            drift: self.drift.counts(),
        };
        Ok(self.metrics.render(&snapshot))
    }
}
