//! The monitoring playbook through the API: `GET /metrics` (admin token, or the private
//! tokenless listener), each metric category driven by real calls, webhooks and transitions and
//! read back from the exposition, gauges that survive deletes and restarts, schema drift from a
//! vendor that changes a field's type mid-test, alert rules and dashboard queries that name
//! metrics which exist, and the ops page in headless Chromium.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use patchbay::Config;
use patchbay_tests::mocks::HubSpotMock;
use patchbay_tests::receiver::Receiver;
use patchbay_tests::signing::standard_webhooks_request;
use patchbay_tests::{Host, HostOptions, Vendor, sample, scratch_dir};
use reqwest::Method;
use serde_json::{Value, json};

const WH_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STATUSES: [&str; 5] = [
    "connecting",
    "active",
    "needs_reauth",
    "validation_error",
    "post_install_error",
];

fn tweak(c: &mut Config) {
    c.webhooks.allow_private_targets = true;
    c.webhooks.tick = Duration::from_millis(50);
    c.monitoring.drift_sample_interval = Duration::ZERO;
}

fn options(db: &str) -> HostOptions {
    HostOptions {
        database_url: Some(db.to_owned()),
        tweak: Some(tweak),
        ..Default::default()
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Polls the exposition until `ok` holds (the webhook workers and the drift sampler run on
/// their own tasks).
async fn metrics_until(host: &Host, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = host.metrics().await;
        if ok(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A product receiver with an admin endpoint for every event; the creation's answer.
async fn product_endpoint(host: &Host) -> (Receiver, patchbay_tests::Reply) {
    let product = Receiver::start().await;
    let created = host
        .admin_send(
            Method::POST,
            "/webhook-endpoints",
            Some(json!({"url": product.url})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    product.set_secret(created.body["secret"].as_str().unwrap());
    (product, created)
}

fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(text, name, labels).unwrap_or_else(|| panic!("no sample {name}{labels:?} in\n{text}"))
}

fn accounts(text: &str, connector: &str, status: &str) -> f64 {
    value(
        text,
        "patchbay_integrated_accounts",
        &[("connector", connector), ("status", status)],
    )
}

#[tokio::test]
async fn metrics_need_an_admin_token_or_the_private_listener() {
    let host = Host::start_with(HostOptions {
        tweak: Some(|c| c.monitoring.metrics_listen = Some("127.0.0.1:0".parse().unwrap())),
        ..Default::default()
    })
    .await;
    let anonymous = host
        .http
        .get(format!("{}/metrics", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let tenant = host.tenant_token("t1").await;
    let r = host.req(Method::GET, "/metrics", &tenant).send().await.unwrap();
    assert_eq!(r.status(), 403, "a tenant token reads no host-wide metrics");
    let r = host
        .req(Method::GET, "/metrics", &host.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        r.headers()
    );
    let text = r.text().await.unwrap();
    assert!(text.trim_end().ends_with("# EOF"), "{text}");

    let addr = host
        .app
        .metrics_addr
        .get()
        .expect("the metrics listener is bound");
    let open = reqwest::get(format!("http://{addr}/metrics")).await.unwrap();
    assert_eq!(open.status(), 200, "no token on the private listener");
    let open_text = open.text().await.unwrap();
    assert!(open_text.contains("# TYPE patchbay_integrated_accounts gauge"));
    let other = reqwest::get(format!("http://{addr}/integrated-accounts"))
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "the private listener serves /metrics only");
}

#[tokio::test]
async fn every_category_moves_through_the_api_and_gauges_survive_a_restart() {
    let db = patchbay_test_support::database::fresh_database(&scratch_dir("metrics-db"));
    let (host, mock, _server, acct) = Host::with_vendor_options::<HubSpotMock>(options(&db))
        .await
        .into_parts();
    mock.seed(3);
    let (product, _) = product_endpoint(&host).await;

    // 1. Auth health: every status of every live connector, zeros included.
    let text = host.metrics().await;
    assert_eq!(accounts(&text, "hubspot", "active"), 1.0);
    for status in STATUSES.iter().filter(|s| **s != "active") {
        assert_eq!(accounts(&text, "hubspot", status), 0.0, "{status}");
    }
    for status in STATUSES {
        assert_eq!(accounts(&text, "github", status), 0.0, "{status}");
    }
    let other = host
        .account(
            "hubspot",
            "t2",
            HubSpotMock::credentials(),
            json!({}),
            &HubSpotMock::base_url(&_server),
        )
        .await;
    assert_eq!(accounts(&host.metrics().await, "hubspot", "active"), 2.0);
    assert_eq!(host.delete_account(&other).await.status, 204);
    assert_eq!(
        accounts(&host.metrics().await, "hubspot", "active"),
        1.0,
        "deletes are seen"
    );

    // 5. Normalized errors, per endpoint and on the unified side; 6. per tenant.
    let list = format!("/proxy/contacts?integrated_account_id={acct}");
    for _ in 0..2 {
        assert_eq!(host.get(&list).await.status, 200);
    }
    let unified = host
        .get(&format!("/unified/crm/contacts?integrated_account_id={acct}"))
        .await;
    assert_eq!(unified.status, 200, "{}", unified.body);
    mock.fail_next(429, 1);
    host.get(&list).await.error(429, "rate_limited");
    let text = host.metrics().await;
    let upstream = |code: &str| {
        value(
            &text,
            "patchbay_upstream_requests_total",
            &[
                ("connector", "hubspot"),
                ("resource", "contacts"),
                ("method", "list"),
                ("code", code),
            ],
        )
    };
    assert_eq!(upstream("ok"), 3.0, "two proxied lists and one unified list");
    assert_eq!(upstream("rate_limited"), 1.0);
    assert_eq!(
        value(&text, "patchbay_rate_limited_total", &[("connector", "hubspot")]),
        1.0
    );
    let requests = |api: &str, model: &str, code: &str| {
        value(
            &text,
            "patchbay_requests_total",
            &[
                ("api", api),
                ("model", model),
                ("connector", "hubspot"),
                ("code", code),
            ],
        )
    };
    assert_eq!(requests("proxy", "contacts", "ok"), 2.0);
    assert_eq!(requests("proxy", "contacts", "rate_limited"), 1.0);
    assert_eq!(requests("unified", "crm/contacts", "ok"), 1.0);
    let tenant = |outcome: &str| {
        value(
            &text,
            "patchbay_tenant_requests_total",
            &[("tenant", "t1"), ("connector", "hubspot"), ("outcome", outcome)],
        )
    };
    assert_eq!((tenant("success"), tenant("failure")), (3.0, 1.0));
    assert_eq!(
        value(
            &text,
            "patchbay_upstream_request_duration_seconds_count",
            &[("connector", "hubspot")]
        ),
        4.0
    );

    // The vendor revokes the key: the account moves, the gauge follows, later calls fail early.
    mock.fail_next(401, 1);
    host.get(&list).await.error(401, "remote_unauthorized");
    host.get(&list).await.error(409, "account_not_active");
    let text = host.metrics().await;
    assert_eq!(accounts(&text, "hubspot", "active"), 0.0);
    assert_eq!(accounts(&text, "hubspot", "needs_reauth"), 1.0);
    assert_eq!(
        value(
            &text,
            "patchbay_requests_total",
            &[
                ("api", "proxy"),
                ("model", "contacts"),
                ("connector", "hubspot"),
                ("code", "account_not_active")
            ],
        ),
        1.0
    );

    // 3. Webhook ingestion: accepted, duplicate, forged; the lag of the processed event.
    let wh = host
        .account(
            "standard-webhooks",
            "t1",
            json!({"api_key": "k", "webhook_secret": WH_SECRET}),
            json!({"host": "vendor.example"}),
            "https://vendor.example",
        )
        .await;
    let url = format!("{}/webhooks/standard-webhooks/{wh}", host.url);
    let occurred = chrono::Utc::now() - chrono::Duration::seconds(2);
    let body =
        json!({"type": "order.paid", "timestamp": occurred.to_rfc3339(), "data": {"order": 1}}).to_string();
    for _ in 0..2 {
        let r = standard_webhooks_request(&host.http, &url, WH_SECRET, "evt_1", body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let forged = standard_webhooks_request(
        &host.http,
        &url,
        "whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==",
        "evt_2",
        body.clone(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(forged.status(), 401);
    let wh_sample = |text: &str, outcome: &str| {
        sample(
            text,
            "patchbay_webhooks_received_total",
            &[("connector", "standard-webhooks"), ("outcome", outcome)],
        )
    };
    let text = metrics_until(&host, "the duplicate to be processed", |t| {
        wh_sample(t, "duplicate") == Some(1.0)
    })
    .await;
    assert_eq!(wh_sample(&text, "accepted"), Some(2.0));
    assert_eq!(wh_sample(&text, "invalid_signature"), Some(1.0));
    let lag_count = value(
        &text,
        "patchbay_webhook_ingestion_lag_seconds_count",
        &[("connector", "standard-webhooks")],
    );
    assert_eq!(lag_count, 1.0, "one processed event (the duplicate is not lag)");
    let lag_sum = value(
        &text,
        "patchbay_webhook_ingestion_lag_seconds_sum",
        &[("connector", "standard-webhooks")],
    );
    assert!((1.5..60.0).contains(&lag_sum), "the event was 2 s old: {lag_sum}");
    assert_eq!(
        value(
            &text,
            "patchbay_webhook_ingestion_lag_seconds_bucket",
            &[("connector", "standard-webhooks"), ("le", "1.0")]
        ),
        0.0
    );

    // 4. Outbound delivery: the mapped event and the needs_reauth transition reach the product.
    let delivered = |text: &str, event_type: &str| {
        sample(
            text,
            "patchbay_webhook_deliveries_total",
            &[("event_type", event_type), ("outcome", "success")],
        )
    };
    let text = metrics_until(&host, "both deliveries", |t| {
        delivered(t, "webhook.event.received") == Some(1.0)
            && delivered(t, "integrated_account:needs_reauth") == Some(1.0)
    })
    .await;
    assert_eq!(product.of_type("integrated_account:needs_reauth").len(), 1);
    let attempts = value(&text, "patchbay_webhook_delivery_duration_seconds_count", &[]);
    let successes: f64 = text
        .lines()
        .filter(|l| l.starts_with("patchbay_webhook_deliveries_total{"))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum();
    assert_eq!(attempts, successes, "one duration per attempt");
    assert_eq!(
        value(&text, "patchbay_webhook_endpoints", &[("state", "enabled")]),
        1.0
    );
    assert_eq!(
        value(&text, "patchbay_webhook_endpoints", &[("state", "disabled")]),
        0.0
    );
    metrics_until(&host, "empty queues", |t| {
        ["inbound", "outbox", "deliveries"]
            .iter()
            .all(|q| sample(t, "patchbay_queue_depth", &[("queue", q)]) == Some(0.0))
    })
    .await;

    // Restart on the same database: the gauges are read from it, the counters start over.
    host.stop().await;
    let host = Host::start_with(options(&db)).await;
    let text = host.metrics().await;
    assert_eq!(accounts(&text, "hubspot", "needs_reauth"), 1.0);
    assert_eq!(accounts(&text, "hubspot", "active"), 0.0);
    assert_eq!(accounts(&text, "standard-webhooks", "active"), 1.0);
    assert_eq!(
        value(&text, "patchbay_webhook_endpoints", &[("state", "enabled")]),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "patchbay_requests_total",
            &[
                ("api", "proxy"),
                ("model", "contacts"),
                ("connector", "hubspot"),
                ("code", "ok")
            ]
        ),
        None
    );
}

async fn drift_report(host: &Host) -> Value {
    let r = host.get("/connectors/hubspot/drift").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// Polls the drift report of `contacts` until `ok` holds.
async fn contacts_drift_until(host: &Host, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let report = drift_report(host).await;
        if let Some(c) = report["result"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "contacts")
            && ok(c)
        {
            return c.clone();
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {report}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

#[tokio::test]
async fn a_vendor_changing_a_field_type_shows_as_drift_until_accepted() {
    let db = patchbay_test_support::database::fresh_database(&scratch_dir("drift-db"));
    let (host, mock, _server, acct) = Host::with_vendor_options::<HubSpotMock>(options(&db))
        .await
        .into_parts();
    mock.seed(4);
    let list = format!("/proxy/contacts?integrated_account_id={acct}&limit=3");
    let tenant = host.tenant_token("t1").await;
    let r = host
        .req(Method::GET, "/connectors/hubspot/drift", &tenant)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "drift is admin-only");
    assert_eq!(host.get("/connectors/nope/drift").await.status, 404);

    // The baseline: the first three sampled answers.
    for i in 1..=3 {
        assert_eq!(host.get(&list).await.status, 200);
        contacts_drift_until(&host, "a baseline sample", |c| c["baseline_samples"] == i).await;
    }
    assert_eq!(host.get(&list).await.status, 200);
    let steady = contacts_drift_until(&host, "a compared sample", |c| c["samples"] == 1).await;
    assert_eq!(steady["fields"], json!([]), "{steady}");
    assert_eq!(steady["baseline_records"], 9);
    assert_eq!(steady["baseline_source"], "samples");

    // The vendor ships ids as numbers: a type change on `id`, nothing else.
    mock.ship_numeric_ids(true);
    assert_eq!(host.get(&list).await.status, 200, "drift never breaks a call");
    let drifted = contacts_drift_until(&host, "the type change", |c| {
        c["fields"].as_array().is_some_and(|f| !f.is_empty())
    })
    .await;
    let fields = drifted["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 1, "{drifted}");
    assert_eq!(fields[0]["path"], "id");
    assert_eq!(fields[0]["kind"], "type_changed");
    assert_eq!(fields[0]["expected"], json!(["string"]));
    assert_eq!(fields[0]["observed"], json!(["number"]));
    assert_eq!(fields[0]["example"], "101");
    let text = host.metrics().await;
    let drift = |text: &str, kind: &str| {
        value(
            text,
            "patchbay_schema_drift_fields",
            &[("connector", "hubspot"), ("resource", "contacts"), ("kind", kind)],
        )
    };
    assert_eq!(
        (
            drift(&text, "type_changed"),
            drift(&text, "added"),
            drift(&text, "missing")
        ),
        (1.0, 0.0, 0.0)
    );
    let summary = host.get("/ops/summary").await;
    assert_eq!(summary.body["drift"][0]["path"], "id", "{}", summary.body);

    // Accepted: the new shape is the baseline, persisted across a restart.
    let accepted = host
        .admin_send(Method::POST, "/connectors/hubspot/drift/accept", None)
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert_eq!(accepted.body["accepted_resources"], 1);
    assert_eq!(drift(&host.metrics().await, "type_changed"), 0.0);
    assert_eq!(host.get(&list).await.status, 200);
    let after = contacts_drift_until(&host, "a sample after accepting", |c| c["samples"] == 1).await;
    assert_eq!(after["fields"], json!([]), "{after}");

    host.stop().await;
    let host = Host::start_with(options(&db)).await;
    assert_eq!(host.get(&list).await.status, 200);
    let restarted = contacts_drift_until(&host, "a sample after the restart", |c| c["samples"] == 1).await;
    assert_eq!(
        restarted["baseline_samples"], 3,
        "the baseline was read back, not learned again"
    );
    assert_eq!(restarted["baseline_source"], "accepted");
    assert_eq!(restarted["fields"], json!([]), "{restarted}");
}

#[tokio::test]
async fn a_declared_response_schema_is_the_drift_baseline_from_the_first_sample() {
    // HubSpot's contact object as its CRM v3 reference documents it: `id` a string, the
    // requested `properties` (any keys) and the timestamps; `archived` a boolean.
    let dir = scratch_dir("drift-declared");
    patchbay_tests::copy_connectors(&dir);
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("hubspot.json")).unwrap()).unwrap();
    manifest["resources"]["contacts"]["response_schema"] = json!({
        "type": "object",
        "required": ["id", "properties", "createdAt", "updatedAt", "archived"],
        "properties": {
            "id": {"type": "string"},
            "properties": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
            "createdAt": {"type": "string"},
            "updatedAt": {"type": "string"},
            "archived": {"type": "boolean"},
            "archivedAt": {"type": "string"}
        }
    });
    patchbay_tests::write_connector(&dir, &manifest);
    let (host, mock, _server, acct) = Host::with_vendor_options::<HubSpotMock>(HostOptions {
        connectors: Some(dir.clone()),
        tweak: Some(tweak),
        ..Default::default()
    })
    .await
    .into_parts();
    mock.seed(4);
    let list = format!("/proxy/contacts?integrated_account_id={acct}&limit=3");

    // The first sample is already a comparison, and the documented shape matches the vendor.
    assert_eq!(host.get(&list).await.status, 200);
    let first = contacts_drift_until(&host, "the first compared sample", |c| c["samples"] == 1).await;
    assert_eq!(first["baseline_source"], "response_schema", "{first}");
    assert_eq!(first["fields"], json!([]), "{first}");

    // Numeric ids break the declared type at once (no learning phase to absorb them).
    mock.ship_numeric_ids(true);
    assert_eq!(host.get(&list).await.status, 200);
    let drifted = contacts_drift_until(&host, "the type change", |c| {
        c["fields"].as_array().is_some_and(|f| !f.is_empty())
    })
    .await;
    assert_eq!(drifted["fields"].as_array().unwrap().len(), 1, "{drifted}");
    assert_eq!(drifted["fields"][0]["path"], "id");
    assert_eq!(drifted["fields"][0]["kind"], "type_changed");
    assert_eq!(drifted["fields"][0]["expected"], json!(["string"]));

    // A broken schema is refused with its JSON path, and the previous version stays live.
    manifest["version"] = json!("9.9.9");
    manifest["resources"]["contacts"]["response_schema"]["properties"]["id"]["type"] = json!("text");
    let refused = host.put_connector("hubspot", manifest).await;
    let e = refused.error(400, "invalid_request");
    assert_eq!(
        e["details"]["problems"][0]["path"], "$.resources.contacts.response_schema.properties.id.type",
        "{e}"
    );
    assert_eq!(host.get(&list).await.status, 200);
}

/// Metric names in a file: `patchbay_…` tokens that are not recording-rule names (`a:b`).
fn names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("patchbay_") {
        let start = i + at;
        let before_ok = start == 0
            || !(bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b':');
        let mut end = start;
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase() || bytes[end].is_ascii_digit() || bytes[end] == b'_')
        {
            end += 1;
        }
        if before_ok && bytes.get(end) != Some(&b':') {
            out.insert(text[start..end].to_owned());
        }
        i = end;
    }
    out
}

/// Every series name a fresh host's exposition can have.
fn exposed(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        if parts.next() == Some("#") && parts.next() == Some("TYPE") {
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            match kind {
                "counter" => {
                    out.insert(format!("{name}_total"));
                }
                "histogram" => {
                    out.insert(name.to_owned());
                    for suffix in ["bucket", "sum", "count"] {
                        out.insert(format!("{name}_{suffix}"));
                    }
                }
                _ => {
                    out.insert(name.to_owned());
                }
            }
        }
    }
    out
}

/// GitHub's anchor of a Markdown heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[tokio::test]
async fn alert_rules_and_the_dashboard_name_metrics_that_exist() {
    // Labelled series exist once something happened: one of each kind of thing.
    let (host, mock, _server, acct) = Host::with_vendor_options::<HubSpotMock>(HostOptions {
        tweak: Some(tweak),
        ..Default::default()
    })
    .await
    .into_parts();
    mock.seed(1);
    let (_product, created) = product_endpoint(&host).await;
    assert_eq!(
        host.get(&format!("/proxy/contacts?integrated_account_id={acct}"))
            .await
            .status,
        200
    );
    let id = created.body["id"].as_str().unwrap();
    let test = host
        .admin_send(Method::POST, &format!("/webhook-endpoints/{id}/test"), None)
        .await;
    assert!(test.status < 300, "{}", test.body);
    let text = metrics_until(&host, "the test delivery and a drift sample", |t| {
        t.contains("patchbay_webhook_deliveries_total{") && t.contains("patchbay_schema_drift_fields{")
    })
    .await;
    let exposed = exposed(&text);
    assert!(exposed.contains("patchbay_integrated_accounts"), "{exposed:?}");
    let rules = std::fs::read_to_string(repo().join("deploy/prometheus/alerts.yml")).unwrap();
    let dashboard = std::fs::read_to_string(repo().join("deploy/grafana/patchbay.json")).unwrap();
    let parsed: Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| p.len() >= 7));
    for (file, text) in [("alerts.yml", &rules), ("patchbay.json", &dashboard)] {
        let used = names_in(text);
        assert!(used.len() >= 8, "{file} uses {used:?}");
        let missing: Vec<_> = used.difference(&exposed).collect();
        assert!(
            missing.is_empty(),
            "{file} names metrics /metrics does not have: {missing:?}"
        );
    }
    // Every alert's runbook link lands on a section of the runbook.
    let runbook = std::fs::read_to_string(repo().join("docs/RUNBOOK.md")).unwrap();
    let anchors: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## ").or_else(|| l.strip_prefix("### ")))
        .map(anchor)
        .collect();
    let links: Vec<&str> = rules
        .lines()
        .filter_map(|l| {
            l.split_once("RUNBOOK.md#")
                .map(|(_, a)| a.trim().trim_matches('"').trim_matches('\''))
        })
        .collect();
    let alerts = rules.matches("- alert:").count();
    assert!(alerts >= 8, "{alerts} alerts");
    assert_eq!(links.len(), alerts, "every alert has a runbook_url");
    for a in links {
        assert!(anchors.contains(a), "no runbook section #{a} (have {anchors:?})");
    }
}

/// Chromium from `PATCHBAY_CHROMIUM`, else Debian's.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATCHBAY_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "{} is missing: install Debian's chromium (.ci/run does)",
        path.display()
    );
    path
}

/// Runs headless Chromium (on tokio's process driver: the host it reads runs on this runtime).
async fn headless(args: &[&str]) -> std::process::Output {
    let profile = scratch_dir("chromium-profile");
    let run = tokio::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args([
            "--virtual-time-budget=10000",
            "--run-all-compositor-stages-before-draw",
        ])
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("chromium finishes")
        .expect("chromium runs")
}

/// The text of the element carrying `data-metric="key"` in a dumped DOM.
fn shown(dom: &str, key: &str) -> Option<String> {
    let at = dom.find(&format!("data-metric=\"{key}\""))?;
    let rest = &dom[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')?;
    Some(rest[start..start + end].to_owned())
}

#[tokio::test]
async fn the_ops_page_in_headless_chromium_shows_what_the_api_says() {
    let (host, mock, server, acct) = Host::with_vendor_options::<HubSpotMock>(HostOptions {
        tweak: Some(tweak),
        ..Default::default()
    })
    .await
    .into_parts();
    mock.seed(2);
    let second = host
        .account(
            "hubspot",
            "t2",
            HubSpotMock::credentials(),
            json!({}),
            &HubSpotMock::base_url(&server),
        )
        .await;
    let list = format!("/proxy/contacts?integrated_account_id={acct}");
    assert_eq!(host.get(&list).await.status, 200);
    mock.fail_next(500, 1);
    assert_eq!(host.get(&list).await.status, 502);
    mock.fail_next(401, 1);
    host.get(&format!("/proxy/contacts?integrated_account_id={second}"))
        .await
        .error(401, "remote_unauthorized");

    let page = host
        .http
        .get(format!("{}/dashboard", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external assets"
    );

    let url = format!("{}/dashboard#token={}", host.url, host.admin);
    let out = headless(&["--dump-dom", &url]).await;
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the page loaded its data: {}\n{dom}",
        String::from_utf8_lossy(&out.stderr)
    );

    let summary = host.get("/ops/summary").await.body;
    let hubspot = summary["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["connector"] == "hubspot")
        .unwrap();
    for status in STATUSES {
        let n = host
            .get(&format!("/integrated-accounts?connector=hubspot&status={status}"))
            .await
            .body["result_count"]
            .as_u64()
            .unwrap();
        assert_eq!(hubspot["by_status"][status], n as f64, "{status}");
        assert_eq!(
            shown(&dom, &format!("accounts.hubspot.{status}")),
            Some(n.to_string()),
            "{status}"
        );
    }
    assert_eq!(shown(&dom, "accounts.hubspot.active").as_deref(), Some("1"));
    assert_eq!(shown(&dom, "accounts.hubspot.needs_reauth").as_deref(), Some("1"));
    let errors = summary["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["connector"] == "hubspot")
        .unwrap();
    assert_eq!(
        (errors["requests"].as_f64(), errors["errors"].as_f64()),
        (Some(3.0), Some(2.0))
    );
    assert_eq!(shown(&dom, "errors.hubspot.requests").as_deref(), Some("3"));
    assert_eq!(shown(&dom, "errors.hubspot.errors").as_deref(), Some("2"));
    assert_eq!(shown(&dom, "errors.hubspot.rate").as_deref(), Some("66.67%"));
    assert_eq!(
        shown(&dom, "errors.hubspot.contacts.list.errors").as_deref(),
        Some("2")
    );
    assert!(
        dom.contains("needs_reauth") && dom.contains(&second),
        "the transition is listed"
    );

    // A screenshot for people (and CI artifacts).
    let shot_dir = repo().join("target/screenshots");
    std::fs::create_dir_all(&shot_dir).unwrap();
    let shot = shot_dir.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let out = headless(&[
        "--window-size=1400,1000",
        &format!("--screenshot={}", shot.display()),
        &url,
    ])
    .await;
    let png = std::fs::read(&shot)
        .unwrap_or_else(|_| panic!("no screenshot: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}
