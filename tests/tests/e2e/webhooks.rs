//! Webhooks in and out through real HTTP on loopback: a HubSpot batch signed per v3 comes in,
//! is stored before its 200, processed once per vendor event id, and delivered signed (Standard
//! Webhooks, cross-checked with the reference `standardwebhooks` package) to a product receiver;
//! forged, stale, unsigned, unknown and oversized requests; unmatched events and their retry;
//! per-account secrets; tenants; the SSRF guard; retries, `Retry-After`, `410 Gone`, disabling,
//! re-enabling and replays; a receiver that is down and comes back.

use std::time::Duration;

use patchbay::Config;
use patchbay::config::parse_schedule;
use patchbay_tests::mocks::HubSpotMock;
use patchbay_tests::receiver::Receiver;
use patchbay_tests::signing::{hubspot_v3, now_ms};
use patchbay_tests::{Host, HostOptions, Reply};
use reqwest::Method;
use serde_json::{Value, json};

const HS_SECRET: &str = "hs-client-secret-7f3a";
const WAIT: Duration = Duration::from_secs(15);

fn fast(c: &mut Config) {
    c.webhooks.allow_private_targets = true;
    c.webhooks.retry_schedule =
        parse_schedule("0ms,100ms,200ms,300ms,400ms,500ms,500ms,500ms,500ms,500ms").unwrap();
    c.webhooks.tick = Duration::from_millis(50);
}

fn fast_options() -> HostOptions {
    HostOptions {
        tweak: Some(fast),
        ..Default::default()
    }
}

/// Creates an endpoint for `receiver` with `token`; sets the receiver's secret; returns the id
/// and the secret.
async fn endpoint(host: &Host, token: &str, receiver: &Receiver, extra: Value) -> (String, String) {
    let mut body = json!({"url": receiver.url});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = host
        .send(Method::POST, "/webhook-endpoints", token, Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &secret[6..]).unwrap();
    assert!(raw.len() >= 24);
    receiver.set_secret(secret);
    (r.body["id"].as_str().unwrap().to_owned(), secret.to_owned())
}

fn hubspot_batch(portal: i64, first_event_id: i64) -> Vec<u8> {
    json!([
        {"eventId": first_event_id, "subscriptionId": 1, "portalId": portal, "appId": 54321,
         "occurredAt": now_ms() - 1500, "subscriptionType": "contact.creation", "attemptNumber": 0,
         "objectId": 123, "changeSource": "CRM", "changeFlag": "NEW"},
        {"eventId": first_event_id + 1, "subscriptionId": 2, "portalId": portal, "appId": 54321,
         "occurredAt": now_ms() - 1000, "subscriptionType": "contact.propertyChange", "attemptNumber": 0,
         "objectId": 123, "propertyName": "email", "propertyValue": "new@example.com", "changeSource": "CRM"}
    ])
    .to_string()
    .into_bytes()
}

/// POSTs a HubSpot-signed body to `path` (`/webhooks/hubspot…`), signed at `ts` with `secret`.
async fn post_hubspot(host: &Host, path: &str, body: &[u8], secret: Option<&str>, ts: i64) -> Reply {
    let url = format!("{}{path}", host.url);
    let mut r = host
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header("x-hubspot-request-timestamp", ts.to_string())
        .body(body.to_vec());
    if let Some(secret) = secret {
        r = r.header(
            "x-hubspot-signature-v3",
            hubspot_v3(secret, "POST", &url, body, ts),
        );
    }
    Reply::from(r.send().await.unwrap()).await
}

async fn inbound(host: &Host, token: &str, query: &str) -> Vec<Value> {
    let r = host
        .send(Method::GET, &format!("/inbound-webhooks{query}"), token, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

/// Waits until no inbound webhook is pending; returns them all (newest first).
async fn settled(host: &Host) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let rows = inbound(host, &host.admin, "").await;
        if rows.iter().all(|r| r["status"] != "pending") {
            return rows;
        }
        assert!(started.elapsed() < WAIT, "still pending: {rows:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn set_app_secret(host: &Host, connector: &str, secret: &str) {
    let r = host
        .admin_send(
            Method::PUT,
            &format!("/connectors/{connector}/webhook-secret"),
            Some(json!({ "secret": secret })),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
}

#[tokio::test]
async fn a_signed_batch_is_stored_processed_once_and_delivered_signed() {
    let (host, _mock, _server, account) = Host::with_vendor_options::<HubSpotMock>(fast_options())
        .await
        .into_parts();
    let product = Receiver::start().await;
    let (_, secret) = endpoint(&host, &host.admin, &product, json!({"events": ["crm.*"]})).await;
    // Another tenant's endpoint receives none of t1's events.
    let other = Receiver::start().await;
    let t2 = host.tenant_token("t2").await;
    endpoint(&host, &t2, &other, json!({})).await;
    set_app_secret(&host, "hubspot", HS_SECRET).await;

    let body = hubspot_batch(62515, 9001);
    let ok = post_hubspot(&host, "/webhooks/hubspot", &body, Some(HS_SECRET), now_ms()).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["status"], "accepted");
    let got = product.wait_until(WAIT, |d| d.len() >= 2).await;
    let types: Vec<&str> = got.iter().map(|d| d.body["type"].as_str().unwrap()).collect();
    assert_eq!(types.len(), 2, "{types:?}");
    assert!(
        types.contains(&"crm.contact.created") && types.contains(&"crm.contact.updated"),
        "{types:?}"
    );
    for d in &got {
        assert!(d.valid, "signature of {:?} verifies", d.id);
        assert_eq!(d.body["data"]["integrated_account_id"], account.as_str());
        assert_eq!(d.body["data"]["tenant_id"], "t1");
        assert_eq!(d.body["data"]["connector"], "hubspot");
        assert_eq!(d.body["data"]["record"]["id"], "123", "{}", d.body);
        assert!(d.body["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    assert_ne!(got[0].id, got[1].id);
    cross_check_with_standardwebhooks(&got[0], &secret);

    // The vendor retries the same batch (new timestamp and signature, same event ids): 200, and
    // recorded as a duplicate; nothing new downstream.
    let again = post_hubspot(&host, "/webhooks/hubspot", &body, Some(HS_SECRET), now_ms()).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let rows = settled(&host).await;
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["duplicate", "processed"], "{rows:?}");
    assert_eq!(rows[1]["vendor_event_ids"], json!(["9001", "9002"]));
    assert_eq!(
        rows[1]["event_types"],
        json!(["crm.contact.created", "crm.contact.updated"])
    );
    assert_eq!(rows[1]["integrated_account_id"], account.as_str());

    // Forged, stale (both ways), unsigned: 401 invalid_signature, nothing stored.
    post_hubspot(&host, "/webhooks/hubspot", &body, Some("wrong"), now_ms())
        .await
        .error(401, "invalid_signature");
    post_hubspot(
        &host,
        "/webhooks/hubspot",
        &body,
        Some(HS_SECRET),
        now_ms() - 400_000,
    )
    .await
    .error(401, "invalid_signature");
    post_hubspot(
        &host,
        "/webhooks/hubspot",
        &body,
        Some(HS_SECRET),
        now_ms() + 400_000,
    )
    .await
    .error(401, "invalid_signature");
    let unsigned = post_hubspot(&host, "/webhooks/hubspot", &body, None, now_ms()).await;
    assert!(
        unsigned.error(401, "invalid_signature")["message"]
            .as_str()
            .unwrap()
            .contains("missing")
    );
    // Unknown connector or account: 404; too large: 413.
    post_hubspot(&host, "/webhooks/nope", &body, Some(HS_SECRET), now_ms())
        .await
        .error(404, "not_found");
    post_hubspot(
        &host,
        "/webhooks/hubspot/no-such-account",
        &body,
        Some(HS_SECRET),
        now_ms(),
    )
    .await
    .error(404, "not_found");
    let huge = vec![b' '; 1024 * 1024 + 1];
    post_hubspot(&host, "/webhooks/hubspot", &huge, Some(HS_SECRET), now_ms())
        .await
        .error(413, "payload_too_large");
    assert_eq!(settled(&host).await.len(), 2, "refused requests are not stored");

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        product.deliveries().len(),
        2,
        "exactly one unified event per vendor event"
    );
    assert!(
        other.deliveries().is_empty(),
        "t2's endpoint got t1's events: {:?}",
        other.deliveries()
    );
    // Tenants see their own accounts' inbound webhooks only.
    let t1 = host.tenant_token("t1").await;
    assert_eq!(inbound(&host, &t1, "?connector=hubspot").await.len(), 2);
    assert_eq!(inbound(&host, &t2, "").await.len(), 0);
    assert_eq!(inbound(&host, &host.admin, "?status=duplicate").await.len(), 1);
    host.get("/inbound-webhooks?status=bogus")
        .await
        .error(400, "invalid_request");

    // The secret is never shown.
    let shown = host.get("/connectors/hubspot").await;
    assert!(!shown.body.to_string().contains(HS_SECRET));
}

/// Verifies one delivery with the reference `standardwebhooks` Python package.
fn cross_check_with_standardwebhooks(d: &patchbay_tests::receiver::Delivery, secret: &str) {
    let script = patchbay_tests::bundled_connectors().join("../tests/webhook-vectors/verify_outbound.py");
    let input = json!({"secret": secret, "headers": {"webhook-id": d.id, "webhook-timestamp": d.timestamp,
        "webhook-signature": d.signature}, "body": d.raw});
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "standardwebhooks refused the delivery: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
