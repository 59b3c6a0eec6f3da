//! The ops page's figures (`GET /ops/summary`): accounts by state per connector and recent
//! transitions from the database; error rates, webhook lag and delivery success from the
//! exposition (counts since this process started); drift from the tracker.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Monitoring;
use super::exposition::{Sample, parse, quantile};
use crate::clock::rfc3339;
use crate::store::StoreError;

/// How many recent transitions the page lists.
const RECENT: i64 = 50;

fn sum(samples: &[Sample], name: &str, keep: impl Fn(&Sample) -> bool) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && keep(s))
        .map(|s| s.value)
        .sum()
}

fn ratio(part: f64, whole: f64) -> Value {
    if whole > 0.0 {
        json!(part / whole)
    } else {
        Value::Null
    }
}

impl Monitoring {
    /// The ops page's data.
    pub async fn summary(&self) -> Result<Value, StoreError> {
        let text = self.scrape().await?;
        let samples = parse(&text);

        let mut accounts: BTreeMap<&str, BTreeMap<&str, f64>> = BTreeMap::new();
        for s in samples
            .iter()
            .filter(|s| s.name == "patchbay_integrated_accounts")
        {
            accounts
                .entry(s.label("connector"))
                .or_default()
                .insert(s.label("status"), s.value);
        }
        let accounts: Vec<Value> = accounts
            .into_iter()
            .map(|(connector, by_status)| {
                let total: f64 = by_status.values().sum();
                json!({"connector": connector, "total": total, "by_status": by_status})
            })
            .collect();

        let transitions: Vec<Value> = self
            .store
            .recent_events(RECENT)
            .await?
            .into_iter()
            .map(|(account_id, connector, e)| {
                json!({
                    "at": rfc3339(e.at), "account_id": account_id, "connector": connector,
                    "from": e.from, "to": e.to, "event": e.event, "reason": e.reason, "actor": e.actor,
                })
            })
            .collect();

        // Errors per connector and per endpoint (resource.method).
        let mut endpoints: BTreeMap<(&str, &str, &str), (f64, f64)> = BTreeMap::new();
        for s in samples
            .iter()
            .filter(|s| s.name == "patchbay_upstream_requests_total")
        {
            let e = endpoints
                .entry((s.label("connector"), s.label("resource"), s.label("method")))
                .or_default();
            e.0 += s.value;
            if s.label("code") != "ok" {
                e.1 += s.value;
            }
        }
        let mut by_connector: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
        for ((c, _, _), (n, e)) in &endpoints {
            let t = by_connector.entry(c).or_default();
            t.0 += n;
            t.1 += e;
        }
        let errors: Vec<Value> = by_connector
            .iter()
            .map(|(c, (n, e))| {
                let per_endpoint: Vec<Value> = endpoints
                    .iter()
                    .filter(|((cc, _, _), _)| cc == c)
                    .map(|((_, r, m), (n, e))| {
                        json!({"endpoint": format!("{r}.{m}"), "requests": n, "errors": e, "error_rate": ratio(*e, *n)})
                    })
                    .collect();
                json!({"connector": c, "requests": n, "errors": e, "error_rate": ratio(*e, *n), "endpoints": per_endpoint})
            })
            .collect();

        let mut lag: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
        for s in samples
            .iter()
            .filter(|s| s.name == "patchbay_webhook_ingestion_lag_seconds_bucket")
        {
            let le = match s.label("le") {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or(f64::INFINITY),
            };
            lag.entry(s.label("connector")).or_default().push((le, s.value));
        }
        let received = |c: &str, outcome: &str| {
            sum(&samples, "patchbay_webhooks_received_total", |s| {
                s.label("connector") == c && s.label("outcome") == outcome
            })
        };
        let mut inbound_connectors: Vec<&str> = samples
            .iter()
            .filter(|s| s.name == "patchbay_webhooks_received_total")
            .map(|s| s.label("connector"))
            .chain(lag.keys().copied())
            .collect();
        inbound_connectors.sort();
        inbound_connectors.dedup();
        let webhooks: Vec<Value> = inbound_connectors
            .iter()
            .map(|c| {
                let buckets = lag.get(c).map(Vec::as_slice).unwrap_or(&[]);
                json!({
                    "connector": c,
                    "accepted": received(c, "accepted"),
                    "invalid_signature": received(c, "invalid_signature"),
                    "duplicate": received(c, "duplicate"),
                    "unmatched": received(c, "unmatched"),
                    "failed": received(c, "failed"),
                    "lag_p50_seconds": quantile(0.5, buckets),
                    "lag_p95_seconds": quantile(0.95, buckets),
                })
            })
            .collect();

        let ok = sum(&samples, "patchbay_webhook_deliveries_total", |s| {
            s.label("outcome") == "success"
        });
        let failed = sum(&samples, "patchbay_webhook_deliveries_total", |s| {
            s.label("outcome") == "failure"
        });
        let gauge = |name: &str, label: &str, value: &str| sum(&samples, name, |s| s.label(label) == value);
        let deliveries = json!({
            "success": ok,
            "failure": failed,
            "success_rate": ratio(ok, ok + failed),
            "endpoints_enabled": gauge("patchbay_webhook_endpoints", "state", "enabled"),
            "endpoints_disabled": gauge("patchbay_webhook_endpoints", "state", "disabled"),
            "outbox_depth": gauge("patchbay_queue_depth", "queue", "outbox"),
            "deliveries_pending": gauge("patchbay_queue_depth", "queue", "deliveries"),
            "inbound_pending": gauge("patchbay_queue_depth", "queue", "inbound"),
        });

        let mut drift = Vec::new();
        let mut names: Vec<String> = self.registry.snapshot().connectors.keys().cloned().collect();
        names.sort();
        for c in names {
            for r in self.drift.report(&c) {
                for f in r.fields {
                    drift.push(json!({
                        "connector": c, "resource": r.resource, "path": f.field.path,
                        "kind": f.field.kind, "expected": f.field.expected, "observed": f.field.observed,
                        "example": f.field.example, "last_seen": f.last_seen,
                    }));
                }
            }
        }

        Ok(json!({
            "generated_at": rfc3339(crate::clock::now_ms()),
            "accounts": accounts,
            "transitions": transitions,
            "errors": errors,
            "webhooks": webhooks,
            "deliveries": deliveries,
            "drift": drift,
        }))
    }
}
