//! Every metric the host exports at `GET /metrics`, with its meaning, and the in-process values.
//! The names are a contract (`docs/MONITORING.md`): alert rules, the Grafana dashboard and
//! operators' queries depend on them. Counters and histograms live here; the gauges that must
//! survive restarts and deletes (accounts by status, endpoints by state, queue depths) are read
//! from the database at scrape time and set through [`Metrics::set_snapshot`].

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter as PromCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::tenants::TenantGuard;

/// The unlabelled counters of connector loading (also reported by `GET /connectors`).
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

    /// The metric name, without the `_total` the exposition adds.
    fn name(self) -> &'static str {
        match self {
            Self::ConnectorLoads => "patchbay_connector_loads",
            Self::ConnectorActivations => "patchbay_connector_activations",
            Self::ConnectorRefusals => "patchbay_connector_refusals",
            Self::ConnectorRollbacks => "patchbay_connector_rollbacks",
        }
    }

    /// What it counts.
    fn meaning(self) -> &'static str {
        match self {
            Self::ConnectorLoads => "Connector manifests read and validated, from files and uploads.",
            Self::ConnectorActivations => "Connector revisions made live.",
            Self::ConnectorRefusals => {
                "Connector manifests or components refused as invalid (the previous version stays live)."
            }
            Self::ConnectorRollbacks => "Rollbacks of a connector to an earlier revision.",
        }
    }
}

/// What became of an inbound webhook (`patchbay_webhooks_received_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Verified, stored and answered 200.
    Accepted,
    /// Every event had been processed before.
    Duplicate,
    /// Refused with 401.
    InvalidSignature,
    /// An event matched no account.
    Unmatched,
    /// Refused with 413.
    TooLarge,
    /// Its mapping failed.
    Failed,
}

impl WebhookOutcome {
    /// Every outcome.
    pub const ALL: [WebhookOutcome; 6] = [
        Self::Accepted,
        Self::Duplicate,
        Self::InvalidSignature,
        Self::Unmatched,
        Self::TooLarge,
        Self::Failed,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::InvalidSignature => "invalid_signature",
            Self::Unmatched => "unmatched",
            Self::TooLarge => "too_large",
            Self::Failed => "failed",
        }
    }
}

/// Why a token refresh ran (`patchbay_token_refreshes_total{trigger}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshTrigger {
    /// Before a call, the token expiring soon.
    PreCall,
    /// The refresh scheduler.
    Scheduled,
    /// A vendor 401.
    On401,
    /// An operator's `POST /integrated-accounts/{id}/refresh`.
    Manual,
}

impl RefreshTrigger {
    /// Every trigger.
    pub const ALL: [RefreshTrigger; 4] = [Self::PreCall, Self::Scheduled, Self::On401, Self::Manual];

    fn as_str(self) -> &'static str {
        match self {
            Self::PreCall => "pre_call",
            Self::Scheduled => "scheduled",
            Self::On401 => "on_401",
            Self::Manual => "manual",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectorLabel {
    connector: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabels {
    connector: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefreshLabels {
    connector: String,
    trigger: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReceivedLabels {
    connector: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event_type: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    connector: String,
    resource: String,
    method: String,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    api: &'static str,
    model: String,
    connector: String,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
    connector: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DriftLabels {
    connector: String,
    resource: String,
    kind: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

fn lag_histogram() -> Histogram {
    Histogram::new([
        0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
    ])
}

fn drift_histogram() -> Histogram {
    Histogram::new([
        1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0,
    ])
}

/// What the database says at scrape time.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Accounts per (connector, status); the caller includes every status of every live
    /// connector, zeros too.
    pub accounts: Vec<(String, &'static str, i64)>,
    /// Endpoints (enabled, disabled).
    pub endpoints: (i64, i64),
    /// Queue depths by queue name (`inbound`, `outbox`, `deliveries`).
    pub queues: Vec<(&'static str, i64)>,
    /// Drifted fields per (connector, resource, kind).
    pub drift: Vec<(String, String, &'static str, i64)>,
}

/// The values of every metric of this process.
pub struct Metrics {
    registry: Registry,
    counters: [PromCounter; Counter::ALL.len()],
    accounts: Family<AccountLabels, Gauge>,
    token_drift: Histograms<ConnectorLabel>,
    refreshes: Family<RefreshLabels, PromCounter>,
    lease_waits: Family<ConnectorLabel, PromCounter>,
    ingestion_lag: Histograms<ConnectorLabel>,
    received: Family<ReceivedLabels, PromCounter>,
    deliveries: Family<DeliveryLabels, PromCounter>,
    delivery_duration: Histogram,
    endpoints: Family<StateLabel, Gauge>,
    upstream: Family<UpstreamLabels, PromCounter>,
    upstream_duration: Histograms<ConnectorLabel>,
    requests: Family<RequestLabels, PromCounter>,
    tenant_requests: Family<TenantLabels, PromCounter>,
    rate_limited: Family<ConnectorLabel, PromCounter>,
    queues: Family<QueueLabel, Gauge>,
    drift: Family<DriftLabels, Gauge>,
    tenants: TenantGuard,
    /// Serializes scrapes: a snapshot is cleared and set as a whole.
    scrape: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(super::tenants::DEFAULT_TENANT_LIMIT)
    }
}

impl Metrics {
    /// The metrics of a host whose per-tenant series keep the labels of the `tenant_limit`
    /// busiest tenants (the rest are `other`).
    pub fn new(tenant_limit: usize) -> Self {
        let mut registry = Registry::default();
        let counters = Counter::ALL.map(|c| {
            let counter = PromCounter::default();
            registry.register(c.name(), c.meaning(), counter.clone());
            counter
        });
        let m = Self {
            counters,
            accounts: Family::default(),
            token_drift: Family::new_with_constructor(drift_histogram),
            refreshes: Family::default(),
            lease_waits: Family::default(),
            ingestion_lag: Family::new_with_constructor(lag_histogram),
            received: Family::default(),
            deliveries: Family::default(),
            delivery_duration: latency_histogram(),
            endpoints: Family::default(),
            upstream: Family::default(),
            upstream_duration: Family::new_with_constructor(latency_histogram),
            requests: Family::default(),
            tenant_requests: Family::default(),
            rate_limited: Family::default(),
            queues: Family::default(),
            drift: Family::default(),
            tenants: TenantGuard::new(tenant_limit),
            scrape: Mutex::new(()),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "patchbay_integrated_accounts",
            "Integrated accounts per connector and status (read from the database at scrape).",
            m.accounts.clone(),
        );
        r.register_with_unit(
            "patchbay_token_expiry_drift",
            "How long before its stored expires_at a token was found invalid (a vendor 401 on a token believed valid).",
            Unit::Seconds,
            m.token_drift.clone(),
        );
        r.register(
            "patchbay_token_refreshes",
            "Token refreshes by trigger (pre_call, scheduled, on_401, manual) and outcome.",
            m.refreshes.clone(),
        );
        r.register(
            "patchbay_refresh_lease_waits",
            "Times a refresh waited for another process's refresh lease.",
            m.lease_waits.clone(),
        );
        r.register_with_unit(
            "patchbay_webhook_ingestion_lag",
            "Vendor event time to processed, per inbound event.",
            Unit::Seconds,
            m.ingestion_lag.clone(),
        );
        r.register(
            "patchbay_webhooks_received",
            "Inbound webhooks by outcome (accepted at the 200; duplicate, unmatched and failed when processed).",
            m.received.clone(),
        );
        r.register(
            "patchbay_webhook_deliveries",
            "Outbound delivery attempts by event type and outcome (success, failure).",
            m.deliveries.clone(),
        );
        r.register_with_unit(
            "patchbay_webhook_delivery_duration",
            "Duration of one outbound delivery attempt.",
            Unit::Seconds,
            m.delivery_duration.clone(),
        );
        r.register(
            "patchbay_webhook_endpoints",
            "Product webhook endpoints by state (read from the database at scrape).",
            m.endpoints.clone(),
        );
        r.register(
            "patchbay_upstream_requests",
            "Vendor calls by connector, resource, method and normalized code (ok or the error code).",
            m.upstream.clone(),
        );
        r.register_with_unit(
            "patchbay_upstream_request_duration",
            "Duration of one vendor call.",
            Unit::Seconds,
            m.upstream_duration.clone(),
        );
        r.register(
            "patchbay_requests",
            "Calls to the host's proxy and unified APIs by model, connector and normalized code.",
            m.requests.clone(),
        );
        r.register(
            "patchbay_tenant_requests",
            "Calls per tenant (the busiest keep their label, the rest are `other`) and outcome.",
            m.tenant_requests.clone(),
        );
        r.register(
            "patchbay_rate_limited",
            "Vendor 429s passed through to the caller.",
            m.rate_limited.clone(),
        );
        r.register(
            "patchbay_queue_depth",
            "Rows waiting: inbound (webhooks to process), outbox (events to fan out), deliveries (attempts due or scheduled).",
            m.queues.clone(),
        );
        r.register(
            "patchbay_schema_drift_fields",
            "Fields of vendor records that differ from the resource's baseline, by kind (added, missing, type_changed).",
            m.drift.clone(),
        );
        Self { registry, ..m }
    }

    /// Adds one to a connector counter.
    pub fn incr(&self, counter: Counter) {
        self.counters[counter as usize].inc();
    }

    /// A connector counter's value.
    pub fn get(&self, counter: Counter) -> u64 {
        self.counters[counter as usize].get()
    }

    /// An inbound webhook's outcome.
    pub fn webhook(&self, connector: &str, outcome: WebhookOutcome) {
        self.received
            .get_or_create(&ReceivedLabels {
                connector: connector.to_owned(),
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// An inbound event processed `lag` after its vendor time.
    pub fn ingestion_lag(&self, connector: &str, lag: Duration) {
        self.ingestion_lag
            .get_or_create(&connector_label(connector))
            .observe(lag.as_secs_f64());
    }

    /// A delivery attempt.
    pub fn delivery(&self, event_type: &str, success: bool, took: Duration) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                event_type: event_type.to_owned(),
                outcome: if success { "success" } else { "failure" },
            })
            .inc();
        self.delivery_duration.observe(took.as_secs_f64());
    }

    /// A token refresh that ran to an outcome (`ok`, `transient_error`, …).
    pub fn refresh(&self, connector: &str, trigger: RefreshTrigger, outcome: &'static str) {
        self.refreshes
            .get_or_create(&RefreshLabels {
                connector: connector.to_owned(),
                trigger: trigger.as_str(),
                outcome,
            })
            .inc();
    }

    /// A refresh that found another process holding the lease.
    pub fn lease_wait(&self, connector: &str) {
        self.lease_waits.get_or_create(&connector_label(connector)).inc();
    }

    /// A vendor 401 on a token believed valid until `early` from now.
    pub fn token_drift(&self, connector: &str, early: Duration) {
        self.token_drift
            .get_or_create(&connector_label(connector))
            .observe(early.as_secs_f64());
    }

    /// A vendor call and its normalized code (`ok`, `rate_limited`, …).
    pub fn upstream(
        &self,
        connector: &str,
        resource: &str,
        method: &str,
        code: &'static str,
        took: Duration,
    ) {
        self.upstream
            .get_or_create(&UpstreamLabels {
                connector: connector.to_owned(),
                resource: resource.to_owned(),
                method: method.to_owned(),
                code,
            })
            .inc();
        self.upstream_duration
            .get_or_create(&connector_label(connector))
            .observe(took.as_secs_f64());
        if code == "rate_limited" {
            self.rate_limited.get_or_create(&connector_label(connector)).inc();
        }
    }

    /// A proxied (`api = "proxy"`) or unified call answered with `code`, for `tenant`.
    pub fn request(&self, api: &'static str, model: &str, connector: &str, tenant: &str, code: &'static str) {
        self.requests
            .get_or_create(&RequestLabels {
                api,
                model: model.to_owned(),
                connector: connector.to_owned(),
                code,
            })
            .inc();
        self.tenant_requests
            .get_or_create(&TenantLabels {
                tenant: self.tenants.label(tenant),
                connector: connector.to_owned(),
                outcome: if code == "ok" { "success" } else { "failure" },
            })
            .inc();
    }

    /// Creates a live connector's zero series, so that rates and alerts see a connector's
    /// first event and a connector that never saw one (`receives_webhooks`: its inbound series;
    /// `uses_oauth`: its token-drift histogram).
    pub fn touch_connector(&self, connector: &str, receives_webhooks: bool, uses_oauth: bool) {
        let _ = self.rate_limited.get_or_create(&connector_label(connector));
        if receives_webhooks {
            for outcome in WebhookOutcome::ALL {
                let _ = self.received.get_or_create(&ReceivedLabels {
                    connector: connector.to_owned(),
                    outcome: outcome.as_str(),
                });
            }
            let _ = self.ingestion_lag.get_or_create(&connector_label(connector));
        }
        if uses_oauth {
            let _ = self.token_drift.get_or_create(&connector_label(connector));
            for trigger in RefreshTrigger::ALL {
                let _ = self.refreshes.get_or_create(&RefreshLabels {
                    connector: connector.to_owned(),
                    trigger: trigger.as_str(),
                    outcome: "ok",
                });
            }
        }
    }

    /// The gauges read from the database, then the exposition (OpenMetrics text).
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        self.accounts.clear();
        for (connector, status, n) in &snapshot.accounts {
            self.accounts
                .get_or_create(&AccountLabels {
                    connector: connector.clone(),
                    status: (*status).to_owned(),
                })
                .set(*n);
        }
        self.endpoints
            .get_or_create(&StateLabel { state: "enabled" })
            .set(snapshot.endpoints.0);
        self.endpoints
            .get_or_create(&StateLabel { state: "disabled" })
            .set(snapshot.endpoints.1);
        for (queue, n) in &snapshot.queues {
            self.queues.get_or_create(&QueueLabel { queue }).set(*n);
        }
        self.drift.clear();
        for (connector, resource, kind, n) in &snapshot.drift {
            self.drift
                .get_or_create(&DriftLabels {
                    connector: connector.clone(),
                    resource: resource.clone(),
                    kind,
                })
                .set(*n);
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

fn connector_label(connector: &str) -> ConnectorLabel {
    ConnectorLabel {
        connector: connector.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
    }

    #[test]
    fn exposition_names_follow_the_contract() {
        let m = Metrics::new(2);
        m.incr(Counter::ConnectorLoads);
        m.incr(Counter::ConnectorLoads);
        m.webhook("stripe", WebhookOutcome::Accepted);
        m.upstream(
            "hubspot",
            "contacts",
            "list",
            "rate_limited",
            Duration::from_millis(3),
        );
        m.request("unified", "crm/contacts", "hubspot", "t1", "ok");
        m.ingestion_lag("stripe", Duration::from_secs(2));
        let text = m.render(&Snapshot {
            accounts: vec![
                ("hubspot".into(), "active", 3),
                ("hubspot".into(), "needs_reauth", 0),
            ],
            endpoints: (1, 2),
            queues: vec![("inbound", 7)],
            drift: vec![],
        });
        assert_eq!(sample(&text, "patchbay_connector_loads_total "), Some(2.0));
        assert_eq!(
            sample(
                &text,
                r#"patchbay_webhooks_received_total{connector="stripe",outcome="accepted"} "#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, r#"patchbay_rate_limited_total{connector="hubspot"} "#),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"patchbay_integrated_accounts{connector="hubspot",status="needs_reauth"} "#
            ),
            Some(0.0)
        );
        assert_eq!(
            sample(&text, r#"patchbay_webhook_endpoints{state="disabled"} "#),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, r#"patchbay_queue_depth{queue="inbound"} "#),
            Some(7.0)
        );
        assert_eq!(
            sample(
                &text,
                r#"patchbay_webhook_ingestion_lag_seconds_count{connector="stripe"} "#
            ),
            Some(1.0)
        );
        assert!(text.contains("# TYPE patchbay_upstream_request_duration_seconds histogram"));
        // A gauge read from the database forgets what the database no longer has.
        let text = m.render(&Snapshot::default());
        assert!(!text.contains(r#"connector="hubspot",status="active""#));
    }
}
