//! No secret leaks (a test binary of its own, so that its log subscriber is the process's): a
//! workload that uses every kind of secret the host holds — API tokens
//! (admin, tenant, metrics, an unknown one), vendor credentials in a header (HubSpot) and in the
//! query string (Pipedrive), rejected credentials, an OAuth app's client secret, OAuth codes,
//! access and refresh tokens through a connect and a rotation, webhook secrets (app-level and
//! per-account), a bad signature, and an endpoint's `whsec_` secret through signed deliveries —
//! runs with every log at DEBUG captured as JSON lines; then the logs, every error body (status
//! 400 and up, headers included) and `GET /metrics` are searched for each secret.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use patchbay_tests::mocks::{HubSpotMock, MockServer, OAuthProviderMock, PipedriveMock};
use patchbay_tests::receiver::Receiver;
use patchbay_tests::signing::{hubspot_v3, now_ms};
use patchbay_tests::{
    Host, HostOptions, Reply, Vendor, copy_connectors, run_authorization, scratch_dir, write_acme_connector,
};
use reqwest::Method;
use serde_json::{Value, json};

const CLIENT_SECRET: &str = "scan-client-secret-5d1e9b";
const APP_WEBHOOK_SECRET: &str = "scan-app-webhook-secret-0c4f";
const ACCOUNT_WEBHOOK_SECRET: &str = "scan-account-webhook-secret-77aa";
const WRONG_HUBSPOT_TOKEN: &str = "pat-na1-99999999-8888-7777-6666-scanwrongtok";
const WRONG_PIPEDRIVE_TOKEN: &str = "ffffffffffffffffffffffffffffffffscanwrong";
const WAIT: Duration = Duration::from_secs(15);

/// Where the captured log lines go.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every answer of status 400 or more, as text (status, headers and body).
#[derive(Default)]
struct ErrorBodies(Mutex<Vec<String>>);

impl ErrorBodies {
    fn keep(&self, what: &str, r: &Reply) {
        if r.status >= 400 {
            let text = format!("{what}: {} {:?} {}", r.status, r.headers, r.body);
            self.0.lock().unwrap().push(text);
        }
    }
}

async fn send(
    host: &Host,
    errors: &ErrorBodies,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Reply {
    let r = host.send(method.clone(), path, token, body).await;
    errors.keep(&format!("{method} {path}"), &r);
    r
}

/// `at_…`, `rt_…` and `ac_…` (codes): every token-like word in what the OAuth provider received.
fn oauth_secrets(provider: &OAuthProviderMock) -> Vec<String> {
    let mut found = Vec::new();
    for r in provider.requests() {
        let text = format!("{:?} {:?} {:?}", r.headers, r.query, r.body);
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
            if (word.starts_with("at_") || word.starts_with("rt_") || word.starts_with("ac_"))
                && word.len() > 10
            {
                found.push(word.to_owned());
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[tokio::test]
async fn no_secret_reaches_logs_error_bodies_or_metrics() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        // Spans too, with their fields, when they close.
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .finish();
    // The process's only subscriber (this binary has this one test): every thread's events, and
    // through the `log` bridge the records of crates that use `log` (reqwest).
    tracing::subscriber::set_global_default(subscriber).expect("the first subscriber");
    tracing_log::LogTracer::init().expect("the first logger");
    let errors = ErrorBodies::default();

    let provider = OAuthProviderMock::new("patchbay", CLIENT_SECRET);
    let provider_server = MockServer::spawn(provider.router()).await;
    let dir = scratch_dir("secret-scan");
    copy_connectors(&dir);
    write_acme_connector(&dir, &provider_server.base_url(), None);
    let host = Host::start_with(HostOptions::on_loopback(dir)).await;
    let admin = host.admin.clone();
    let tenant = host.tenant_token("t1").await;
    let metrics_token = host.metrics_token().await;

    // API tokens: refused ones too.
    for token in [
        "pbt_0000000000000000000000000000000000000000000000000000000000000000",
        &metrics_token,
    ] {
        send(&host, &errors, Method::GET, "/integrated-accounts", token, None).await;
    }
    send(&host, &errors, Method::GET, "/ops/summary", &tenant, None).await;

    // OAuth: an app, a connect, a forced refresh (the provider rotates refresh tokens), calls.
    host.put_oauth_app(
        "acme",
        json!({"client_id": "patchbay", "client_secret": CLIENT_SECRET}),
    )
    .await;
    let started = send(
        &host,
        &errors,
        Method::POST,
        "/connect/acme",
        &tenant,
        Some(json!({"redirect_uri": "https://product.example/connected"})),
    )
    .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let back = run_authorization(started.body["authorize_url"].as_str().unwrap()).await;
    let acme = back
        .iter()
        .find(|(k, _)| k == "integrated_account_id")
        .map(|(_, v)| v.clone())
        .expect("connected");
    // Two refreshes: the second sends the refresh token the first rotated in.
    for _ in 0..2 {
        let path = format!("/integrated-accounts/{acme}/refresh");
        let r = send(&host, &errors, Method::POST, &path, &admin, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = send(
        &host,
        &errors,
        Method::GET,
        &format!("/proxy/items?integrated_account_id={acme}"),
        &tenant,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A used code is refused at the callback.
    send(
        &host,
        &errors,
        Method::GET,
        "/oauth/callback?state=stale-state&code=ac_scanstalecode0000",
        &tenant,
        None,
    )
    .await;

    // Vendor credentials: a header token, a query-string key, and rejected ones of each.
    let (_hubspot, _hubspot_server, hubspot) = host.add_vendor::<HubSpotMock>("hubspot").await;
    let (_pipedrive, pipedrive_server, pipedrive) = host.add_vendor::<PipedriveMock>("pipedrive").await;
    let hubspot_url = _hubspot_server.base_url();
    let wrong_hubspot = host
        .account(
            "hubspot",
            "t1",
            json!({"access_token": WRONG_HUBSPOT_TOKEN}),
            json!({}),
            &hubspot_url,
        )
        .await;
    let wrong_pipedrive = host
        .account(
            "pipedrive",
            "t1",
            json!({"api_token": WRONG_PIPEDRIVE_TOKEN}),
            PipedriveMock::context(),
            &PipedriveMock::base_url(&pipedrive_server),
        )
        .await;
    for path in [
        format!("/unified/crm/contacts?integrated_account_id={hubspot}"),
        format!("/proxy/contacts?integrated_account_id={hubspot}"),
        format!("/passthrough/{hubspot}/crm/v3/objects/contacts?limit=1"),
        format!("/unified/crm/contacts?integrated_account_id={pipedrive}"),
        format!("/passthrough/{pipedrive}/persons?limit=1"),
        format!("/unified/crm/contacts?integrated_account_id={wrong_hubspot}"),
        format!("/passthrough/{wrong_hubspot}/crm/v3/objects/contacts"),
        format!("/unified/crm/contacts?integrated_account_id={wrong_pipedrive}"),
        format!("/passthrough/{wrong_pipedrive}/persons"),
    ] {
        send(&host, &errors, Method::GET, &path, &tenant, None).await;
    }

    // Webhooks: both secrets, a good and a bad signature, and signed deliveries to an endpoint.
    let receiver = Receiver::start().await;
    let r = send(
        &host,
        &errors,
        Method::POST,
        "/webhook-endpoints",
        &tenant,
        Some(json!({"url": receiver.url})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let whsec = r.body["secret"].as_str().unwrap().to_owned();
    receiver.set_secret(&whsec);
    let endpoint = r.body["id"].as_str().unwrap().to_owned();
    let r = send(
        &host,
        &errors,
        Method::PUT,
        "/connectors/hubspot/webhook-secret",
        &admin,
        Some(json!({"secret": APP_WEBHOOK_SECRET})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = send(
        &host,
        &errors,
        Method::PATCH,
        &format!("/integrated-accounts/{hubspot}"),
        &tenant,
        Some(json!({"credentials": {"access_token": HubSpotMock::TOKEN, "webhook_secret": ACCOUNT_WEBHOOK_SECRET}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let batch =
        json!([{"eventId": 4242, "subscriptionId": 1, "portalId": 62515, "appId": 1, "occurredAt": now_ms(),
        "subscriptionType": "contact.creation", "attemptNumber": 0, "objectId": 101, "changeSource": "CRM"}])
        .to_string();
    for (path, secret) in [
        ("/webhooks/hubspot".to_owned(), APP_WEBHOOK_SECRET),
        (format!("/webhooks/hubspot/{hubspot}"), ACCOUNT_WEBHOOK_SECRET),
        (format!("/webhooks/hubspot/{hubspot}"), APP_WEBHOOK_SECRET), // the wrong one here
    ] {
        let url = format!("{}{path}", host.url);
        let ts = now_ms();
        let r = host
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("x-hubspot-request-timestamp", ts.to_string())
            .header(
                "x-hubspot-signature-v3",
                hubspot_v3(secret, "POST", &url, batch.as_bytes(), ts),
            )
            .body(batch.clone())
            .send()
            .await
            .unwrap();
        errors.keep(&format!("POST {path}"), &Reply::from(r).await);
    }
    send(
        &host,
        &errors,
        Method::POST,
        &format!("/webhook-endpoints/{endpoint}/test"),
        &tenant,
        None,
    )
    .await;
    let got = receiver.wait_until(WAIT, |d| d.len() >= 2).await;
    assert!(
        got.iter().all(|d| d.valid),
        "deliveries are signed with the endpoint's secret"
    );

    // Metrics, read by both tokens that may.
    let mut metrics = String::new();
    for token in [&admin, &metrics_token] {
        let r = host.req(Method::GET, "/metrics", token).send().await.unwrap();
        assert_eq!(r.status(), 200);
        metrics.push_str(&r.text().await.unwrap());
    }

    let mut secrets: Vec<(String, String)> = vec![
        ("admin token".into(), admin.clone()),
        ("tenant token".into(), tenant.clone()),
        ("metrics token".into(), metrics_token.clone()),
        ("OAuth client secret".into(), CLIENT_SECRET.into()),
        ("HubSpot token".into(), HubSpotMock::TOKEN.into()),
        ("wrong HubSpot token".into(), WRONG_HUBSPOT_TOKEN.into()),
        ("Pipedrive API token".into(), PipedriveMock::TOKEN.into()),
        ("wrong Pipedrive API token".into(), WRONG_PIPEDRIVE_TOKEN.into()),
        ("app webhook secret".into(), APP_WEBHOOK_SECRET.into()),
        ("account webhook secret".into(), ACCOUNT_WEBHOOK_SECRET.into()),
        ("endpoint secret".into(), whsec.clone()),
        (
            "endpoint secret key".into(),
            whsec.trim_start_matches("whsec_").to_owned(),
        ),
    ];
    let oauth = oauth_secrets(&provider);
    assert!(
        oauth.iter().filter(|s| s.starts_with("rt_")).count() >= 2,
        "a connect and a rotation: {oauth:?}"
    );
    secrets.extend(oauth.into_iter().map(|s| ("OAuth code or token".into(), s)));

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let errors = errors.0.into_inner().unwrap().join("\n");
    // The host's own DEBUG events and spans were captured (not only the dependencies').
    for expected in [
        "patchbay.upstream.answered",
        "\"name\":\"patchbay.upstream.call\"",
        "\"level\":\"DEBUG\"",
    ] {
        assert!(
            logs.contains(expected),
            "{expected} is not in the captured logs: {logs}"
        );
    }
    assert!(
        errors.lines().count() >= 8,
        "the workload produced few errors: {errors}"
    );
    let mut leaks = Vec::new();
    for (what, secret) in &secrets {
        for (place, text) in [("logs", &logs), ("error bodies", &errors), ("/metrics", &metrics)] {
            if let Some(at) = text.find(secret.as_str()) {
                let line = text[..at].rsplit('\n').next().unwrap_or_default();
                leaks.push(format!(
                    "{what} in {place}: …{}",
                    &line[line.len().saturating_sub(200)..]
                ));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    eprintln!(
        "secret scan: {} secrets, {} log lines at DEBUG, {} error bodies, {} bytes of /metrics: none found",
        secrets.len(),
        logs.lines().count(),
        errors.lines().count(),
        metrics.len()
    );
}
