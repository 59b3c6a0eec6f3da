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
use patchbay_tests::{Host, HostOptions, Reply, Vendor};
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
    let input = json!({"secret": secret, "headers": {"webhook-id": d.id, "webhook-timestamp": d.timestamp,
        "webhook-signature": d.signature}, "body": d.raw});
    patchbay_tests::run_python(
        "webhook-vectors/verify_outbound.py",
        &[],
        &input,
        "standardwebhooks refused the delivery",
    );
}

#[tokio::test]
async fn unmatched_events_are_kept_then_retried_once_the_account_exists() {
    let host = Host::start_with(fast_options()).await;
    let product = Receiver::start().await;
    endpoint(
        &host,
        &host.admin,
        &product,
        json!({"events": ["crm.contact.created"]}),
    )
    .await;
    set_app_secret(&host, "hubspot", HS_SECRET).await;
    let body = hubspot_batch(62515, 7001);
    let r = post_hubspot(&host, "/webhooks/hubspot", &body, Some(HS_SECRET), now_ms()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = settled(&host).await;
    assert_eq!(rows[0]["status"], "unmatched", "{rows:?}");
    let id = rows[0]["id"].as_str().unwrap().to_owned();
    // Retrying before any account exists leaves it unmatched; a processed one cannot be retried.
    let (_mock, _server, account) = host.add_vendor::<HubSpotMock>("hubspot").await;
    let retried = host
        .admin_send(Method::POST, &format!("/inbound-webhooks/{id}/retry"), None)
        .await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    let rows = settled(&host).await;
    assert_eq!(rows[0]["status"], "processed", "{rows:?}");
    assert_eq!(rows[0]["integrated_account_id"], account.as_str());
    let got = product.wait_until(WAIT, |d| !d.is_empty()).await;
    assert_eq!(got[0].body["type"], "crm.contact.created");
    assert_eq!(got[0].body["data"]["integrated_account_id"], account.as_str());
    host.admin_send(Method::POST, &format!("/inbound-webhooks/{id}/retry"), None)
        .await
        .error(400, "invalid_request");
    host.admin_send(Method::POST, "/inbound-webhooks/nope/retry", None)
        .await
        .error(404, "not_found");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        product.deliveries().len(),
        1,
        "the filter let only contact.creation through"
    );
}

#[tokio::test]
async fn a_per_account_secret_takes_precedence_and_is_never_shown() {
    let (host, _mock, _server, account) = Host::with_vendor_options::<HubSpotMock>(fast_options())
        .await
        .into_parts();
    set_app_secret(&host, "hubspot", HS_SECRET).await;
    let patched = host
        .patch_account(
            &account,
            json!({"credentials": {"access_token": <HubSpotMock as Vendor>::TOKEN, "webhook_secret": "per-account-secret"}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert!(!patched.body.to_string().contains("per-account-secret"));
    let path = format!("/webhooks/hubspot/{account}");
    let body = hubspot_batch(62515, 5001);
    post_hubspot(&host, &path, &body, Some(HS_SECRET), now_ms())
        .await
        .error(401, "invalid_signature");
    let ok = post_hubspot(&host, &path, &body, Some("per-account-secret"), now_ms()).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let rows = settled(&host).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "processed");
    assert_eq!(rows[0]["integrated_account_id"], account.as_str());
    assert!(
        !host
            .account_view(&account)
            .await
            .to_string()
            .contains("per-account-secret")
    );
}

#[tokio::test]
async fn slack_url_verification_is_answered_after_its_signature() {
    let host = Host::start_with(fast_options()).await;
    set_app_secret(&host, "slack", "8f742231b10e8888abcd99yyyzzz85a5").await;
    let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let ts = (now_ms() / 1000).to_string();
    let sign = |secret: &str| {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("v0:{ts}:").as_bytes());
        mac.update(body);
        format!("v0={}", hex::encode(mac.finalize().into_bytes()))
    };
    let send = |sig: String| {
        host.http
            .post(format!("{}/webhooks/slack", host.url))
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", &ts)
            .header("x-slack-signature", sig)
            .body(body.to_vec())
            .send()
    };
    let r = send(sign("8f742231b10e8888abcd99yyyzzz85a5")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(
        r.text().await.unwrap(),
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    let forged = Reply::from(send(sign("not-it")).await.unwrap()).await;
    forged.error(401, "invalid_signature");
    assert!(settled(&host).await.is_empty(), "handshakes are not stored");
}

#[tokio::test]
async fn the_ssrf_guard_refuses_private_targets_by_default() {
    let host = Host::start().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://[::1]:9/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "https://localhost/hook",
        "ftp://example.com/hook",
    ] {
        let r = host
            .admin_send(Method::POST, "/webhook-endpoints", Some(json!({"url": url})))
            .await;
        let e = r.error(400, "invalid_request");
        assert!(!e["message"].as_str().unwrap().is_empty(), "{url}");
    }
    let r = host
        .admin_send(
            Method::POST,
            "/webhook-endpoints",
            Some(json!({"url": "https://hooks.example.com/x", "events": ["crm.**"]})),
        )
        .await;
    r.error(400, "invalid_request");
    // A tenant token cannot create another tenant's endpoint.
    let t1 = host.tenant_token("t1").await;
    host.send(
        Method::POST,
        "/webhook-endpoints",
        &t1,
        Some(json!({"url": "https://hooks.example.com/x", "tenant_id": "t2"})),
    )
    .await
    .error(403, "forbidden");
}

#[tokio::test]
async fn a_receiver_that_is_down_then_up_gets_every_event_once() {
    let host = Host::start_with(fast_options()).await;
    let addr = Receiver::unused_addr().await;
    let url = format!("http://{addr}/hook");
    let r = host
        .admin_send(Method::POST, "/webhook-endpoints", Some(json!({"url": url})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (id, secret) = (
        r.body["id"].as_str().unwrap().to_owned(),
        r.body["secret"].as_str().unwrap().to_owned(),
    );
    let mut sent = std::collections::HashSet::new();
    for _ in 0..20 {
        let t = host
            .admin_send(Method::POST, &format!("/webhook-endpoints/{id}/test"), None)
            .await;
        assert_eq!(t.status, 202, "{}", t.body);
        sent.insert(t.body["event_id"].as_str().unwrap().to_owned());
    }
    // Attempts fail while nothing listens.
    let started = std::time::Instant::now();
    loop {
        let log = host.get(&format!("/webhook-endpoints/{id}/deliveries")).await;
        let failed = log.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["error"].is_string())
            .count();
        if failed >= 40 {
            break;
        }
        assert!(started.elapsed() < WAIT, "{}", log.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let product = Receiver::start_on(addr).await;
    product.set_secret(&secret);
    let got = product.wait_until(WAIT, |d| d.len() >= 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_now = product.deliveries();
    assert_eq!(
        got_now.len(),
        20,
        "every event once, none twice ({} then {})",
        got.len(),
        got_now.len()
    );
    assert_eq!(product.delivered_ids(), sent);
    assert!(
        got_now
            .iter()
            .all(|d| d.valid && d.body["type"] == "webhook_endpoint:test")
    );
    let log = host
        .get(&format!("/webhook-endpoints/{id}/deliveries?limit=1000"))
        .await;
    let attempts = log.body["data"].as_array().unwrap();
    let first_failure = attempts.iter().find(|a| a["error"].is_string()).unwrap();
    assert!(first_failure["status_code"].is_null());
    assert!(first_failure["next_attempt_at"].is_string(), "{first_failure}");
    assert!(
        attempts
            .iter()
            .any(|a| a["status_code"] == 200 && a["attempt"].as_i64().unwrap() > 1)
    );
}

#[tokio::test]
async fn retry_after_is_honoured_gone_disables_and_re_enabling_resumes() {
    let host = Host::start_with(fast_options()).await;
    let product = Receiver::start().await;
    let (id, _) = endpoint(
        &host,
        &host.admin,
        &product,
        json!({"description": "product", "events": ["webhook_endpoint:test"]}),
    )
    .await;
    let ops = Receiver::start().await;
    endpoint(
        &host,
        &host.admin,
        &ops,
        json!({"events": ["webhook_endpoint:disabled"]}),
    )
    .await;

    // 429 with Retry-After: 1 — the next attempt waits a second, not the schedule's 100 ms.
    product.answer_next(&[(429, Some("1"))]);
    host.admin_send(Method::POST, &format!("/webhook-endpoints/{id}/test"), None)
        .await;
    let got = product.wait_until(WAIT, |d| d.len() >= 2).await;
    assert_eq!(got[0].answered, 429);
    assert_eq!(got[0].id, got[1].id, "the webhook-id is stable across retries");
    let t0: i64 = got[0].timestamp.parse().unwrap();
    let t1: i64 = got[1].timestamp.parse().unwrap();
    assert!(t1 - t0 >= 1, "retried after {} s", t1 - t0);

    // 410 Gone: disabled at once, recorded as webhook_endpoint:disabled, delivered to ops.
    product.answer_next(&[(410, None)]);
    host.admin_send(Method::POST, &format!("/webhook-endpoints/{id}/test"), None)
        .await;
    let disabled = ops.wait_until(WAIT, |d| !d.is_empty()).await;
    assert_eq!(disabled[0].body["type"], "webhook_endpoint:disabled");
    assert_eq!(disabled[0].body["data"]["endpoint_id"], id.as_str());
    let shown = host.get(&format!("/webhook-endpoints/{id}")).await;
    assert_eq!(shown.body["enabled"], false, "{}", shown.body);
    assert!(shown.body["disabled_reason"].as_str().unwrap().contains("410"));
    let before = product.deliveries().len();
    host.admin_send(Method::POST, &format!("/webhook-endpoints/{id}/test"), None)
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        product.deliveries().len(),
        before,
        "a disabled endpoint receives nothing"
    );

    // Re-enabling resumes what is pending: the 410'd event and the one sent while disabled.
    let enabled = host
        .admin_send(
            Method::PATCH,
            &format!("/webhook-endpoints/{id}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(enabled.body["enabled"], true, "{}", enabled.body);
    assert!(enabled.body["disabled_reason"].is_null());
    let got = product
        .wait_until(WAIT, |d| d.iter().filter(|x| x.answered == 200).count() >= 3)
        .await;
    assert_eq!(product.delivered_ids().len(), 3, "{got:?}");

    // Replay re-sends every matching event since then, with the same webhook-ids.
    let since = chrono_rfc3339(now_ms() - 3_600_000);
    let replayed = host
        .admin_send(
            Method::POST,
            &format!("/webhook-endpoints/{id}/replay"),
            Some(json!({"since": since})),
        )
        .await;
    assert_eq!(replayed.status, 202, "{}", replayed.body);
    assert_eq!(replayed.body["replayed"], 3);
    product
        .wait_until(WAIT, |d| d.iter().filter(|x| x.answered == 200).count() >= 6)
        .await;
    assert_eq!(product.delivered_ids().len(), 3, "replays keep the webhook-id");

    // The listing, and deletion.
    let list = host.get("/webhook-endpoints").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 2);
    assert!(
        !list.body.to_string().contains("whsec_"),
        "secrets are shown only at creation"
    );
    let gone = host
        .admin_send(Method::DELETE, &format!("/webhook-endpoints/{id}"), None)
        .await;
    assert_eq!(gone.status, 204);
    host.get(&format!("/webhook-endpoints/{id}"))
        .await
        .error(404, "not_found");
}

fn chrono_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339()
}

#[tokio::test]
async fn an_endpoint_failing_for_the_whole_window_is_disabled() {
    let host = Host::start_with(HostOptions {
        tweak: Some(|c| {
            fast(c);
            c.webhooks.disable_after = Duration::from_millis(600);
        }),
        ..Default::default()
    })
    .await;
    let product = Receiver::start().await;
    let (id, _) = endpoint(&host, &host.admin, &product, json!({})).await;
    product.answer_next(&[(500, None); 50]);
    host.admin_send(Method::POST, &format!("/webhook-endpoints/{id}/test"), None)
        .await;
    let started = std::time::Instant::now();
    loop {
        let shown = host.get(&format!("/webhook-endpoints/{id}")).await;
        if shown.body["enabled"] == false {
            assert!(
                shown.body["disabled_reason"].as_str().unwrap().contains("failed"),
                "{}",
                shown.body
            );
            assert!(shown.body["failing_since"].is_string());
            break;
        }
        assert!(started.elapsed() < WAIT, "{}", shown.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answered: Vec<u16> = product.deliveries().iter().map(|d| d.answered).collect();
    assert!(
        answered.len() >= 2 && answered.iter().all(|s| *s == 500),
        "{answered:?}"
    );
}

#[tokio::test]
async fn a_slow_endpoint_does_not_delay_the_others() {
    let host = Host::start_with(fast_options()).await;
    let slow = Receiver::start().await;
    slow.set_delay(Some(Duration::from_secs(3)));
    let fast = Receiver::start().await;
    let (slow_id, _) = endpoint(&host, &host.admin, &slow, json!({})).await;
    let (fast_id, _) = endpoint(&host, &host.admin, &fast, json!({})).await;
    for _ in 0..20 {
        for id in [&slow_id, &fast_id] {
            host.admin_send(Method::POST, &format!("/webhook-endpoints/{id}/test"), None)
                .await;
        }
    }
    let started = std::time::Instant::now();
    fast.wait_until(Duration::from_secs(2), |d| d.len() >= 20).await;
    println!("20 deliveries to the fast endpoint in {:?}", started.elapsed());
    assert!(
        slow.deliveries().len() < 20,
        "the slow endpoint is still working through its share"
    );
}

#[tokio::test]
async fn a_body_that_does_not_map_is_kept_as_failed_and_can_be_retried() {
    let host = Host::start_with(fast_options()).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let account = host
        .account(
            "standard-webhooks",
            "t1",
            json!({"api_key": "k", "webhook_secret": secret}),
            json!({"host": "vendor.example"}),
            "https://vendor.example",
        )
        .await;
    let body = b"this is not JSON";
    let ts = now_ms() / 1000;
    let r = host
        .http
        .post(format!("{}/webhooks/standard-webhooks/{account}", host.url))
        .header("webhook-id", "msg_1")
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            patchbay_tests::signing::standard_webhooks(secret, "msg_1", ts, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "a verified request is acknowledged before it is mapped"
    );
    let rows = settled(&host).await;
    assert_eq!(rows[0]["status"], "failed", "{rows:?}");
    assert!(
        rows[0]["error"].as_str().unwrap().contains("not JSON"),
        "{rows:?}"
    );
    let id = rows[0]["id"].as_str().unwrap();
    let t1 = host.tenant_token("t1").await;
    let retried = host
        .send(Method::POST, &format!("/inbound-webhooks/{id}/retry"), &t1, None)
        .await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    let rows = settled(&host).await;
    assert_eq!(rows[0]["status"], "failed");
    assert_eq!(rows[0]["attempts"], 2);
    let t2 = host.tenant_token("t2").await;
    host.send(Method::POST, &format!("/inbound-webhooks/{id}/retry"), &t2, None)
        .await
        .error(404, "not_found");
}
