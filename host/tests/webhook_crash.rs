//! Crash test of inbound webhooks: `kill -9` of the host process while 1,000 signed events
//! arrive from a concurrent sender, then a restart on the same database. Every event answered
//! 200 must be processed exactly once and delivered (the product receiver counts by
//! `webhook-id`); none lost, none duplicated. The sender then re-sends what was not acknowledged
//! (as a vendor retries) and a sample of what was (vendor retries of delivered events), and
//! everything is still exactly once.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use patchbay_test_support::receiver::Receiver;
use patchbay_test_support::scratch_dir;
use patchbay_test_support::signing::standard_webhooks_request;
use serde_json::{Value, json};

const EVENTS: usize = 1000;
const VENDOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct HostProcess {
    child: Child,
    url: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(db: &str, port: u16, dir: &Path) -> HostProcess {
    let log =
        std::fs::File::create(dir.join(format!("host-{}.log", Instant::now().elapsed().as_nanos()))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database",
            db,
        ])
        .arg("--connectors")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../connectors"))
        .args([
            "--allow-private-delivery-targets",
            "--delivery-retry-schedule",
            "0ms,100ms,200ms,500ms,1s,1s,1s,1s",
        ])
        .env("PATCHBAY_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    HostProcess {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn wait_healthy(http: &reqwest::Client, url: &str) {
    let started = Instant::now();
    while http.get(format!("{url}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the host did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends one signed event; true when answered 200.
async fn send(http: &reqwest::Client, url: &str, i: usize) -> bool {
    let id = format!("evt_{i:05}");
    let body =
        json!({"type": "order.paid", "timestamp": "2026-12-01T00:00:00Z", "data": {"order": i}}).to_string();
    let r = standard_webhooks_request(http, url, VENDOR_SECRET, &id, body)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    matches!(r, Ok(r) if r.status() == 200)
}

async fn admin(
    http: &reqwest::Client,
    token: &str,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> Value {
    let mut r = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_ingestion_loses_nothing_and_duplicates_nothing() {
    let dir = scratch_dir("crash");
    let db = format!("sqlite://{}", dir.join("p.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args(["token", "create", "--admin", "--database", &db])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let port = free_port();
    let http = reqwest::Client::new();
    let mut host = start(&db, port, &dir);
    wait_healthy(&http, &host.url).await;

    let product = Receiver::start().await;
    let created = admin(
        &http,
        &token,
        reqwest::Method::POST,
        format!("{}/webhook-endpoints", host.url),
        Some(json!({"url": product.url, "events": ["webhook.*"]})),
    )
    .await;
    product.set_secret(created["secret"].as_str().unwrap());
    let account = admin(&http, &token, reqwest::Method::POST, format!("{}/integrated-accounts", host.url),
        Some(json!({"connector": "standard-webhooks", "tenant_id": "t1",
            "credentials": {"api_key": "k", "webhook_secret": VENDOR_SECRET}, "context": {"host": "vendor.example"}}))).await;
    let ingress = format!(
        "{}/webhooks/standard-webhooks/{}",
        host.url,
        account["id"].as_str().unwrap()
    );

    // The sender: 16 concurrent streams over 1,000 events; the host is killed mid-way.
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let next = Arc::new(Mutex::new(0usize));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (http, ingress, acked, next) = (http.clone(), ingress.clone(), acked.clone(), next.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    if *n >= EVENTS {
                        return;
                    }
                    *n += 1;
                    *n - 1
                };
                if send(&http, &ingress, i).await {
                    acked.lock().unwrap().insert(i);
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < EVENTS / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    host.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    host.child.wait().unwrap();
    for s in senders {
        s.await.unwrap();
    }
    let acked_before_restart: HashSet<usize> = acked.lock().unwrap().clone();
    println!(
        "killed with {} of {EVENTS} acknowledged",
        acked_before_restart.len()
    );

    host = start(&db, port, &dir);
    wait_healthy(&http, &host.url).await;
    // Everything acknowledged before the kill is delivered after the restart.
    let want: HashSet<String> = acked_before_restart
        .iter()
        .map(|i| format!("evt_{i:05}"))
        .collect();
    let delivered_vendor_ids = |product: &Receiver| -> HashMap<String, HashSet<String>> {
        let mut by_vendor: HashMap<String, HashSet<String>> = HashMap::new();
        for d in product.deliveries().into_iter().filter(|d| d.answered == 200) {
            assert!(d.valid, "delivery signature");
            let v = d.body["data"]["vendor_event_id"].as_str().unwrap().to_owned();
            by_vendor.entry(v).or_default().insert(d.id);
        }
        by_vendor
    };
    let started = Instant::now();
    while !want
        .iter()
        .all(|w| delivered_vendor_ids(&product).contains_key(w))
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "acknowledged events were lost"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The vendor retries what was not acknowledged, and re-sends 100 that were.
    let retries: Vec<usize> = (0..EVENTS)
        .filter(|i| !acked_before_restart.contains(i))
        .chain(acked_before_restart.iter().copied().take(100))
        .collect();
    for chunk in retries.chunks(16) {
        let results = futures::future::join_all(chunk.iter().map(|i| send(&http, &ingress, *i))).await;
        for (i, ok) in chunk.iter().zip(results) {
            assert!(ok, "evt_{i} refused after the restart");
            acked.lock().unwrap().insert(*i);
        }
    }
    let started = Instant::now();
    loop {
        let by_vendor = delivered_vendor_ids(&product);
        if by_vendor.len() == EVENTS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} of {EVENTS} delivered",
            by_vendor.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let by_vendor = delivered_vendor_ids(&product);
    let duplicated: Vec<_> = by_vendor.iter().filter(|(_, ids)| ids.len() > 1).collect();
    let raw_receptions = product.deliveries().iter().filter(|d| d.answered == 200).count();
    let inbound = admin(
        &http,
        &token,
        reqwest::Method::GET,
        format!("{}/inbound-webhooks?limit=1000&status=duplicate", host.url),
        None,
    )
    .await;
    println!(
        "sent {EVENTS} (+{} vendor retries after the restart), acknowledged before the kill {}, processed {}, \
         delivered {} distinct webhook-ids, unified events duplicated {}, receptions {} (same webhook-id again: {}), \
         inbound recorded as duplicate {}",
        retries.len(),
        acked_before_restart.len(),
        by_vendor.len(),
        product.delivered_ids().len(),
        duplicated.len(),
        raw_receptions,
        raw_receptions - product.delivered_ids().len(),
        inbound["data"].as_array().unwrap().len(),
    );
    assert!(
        duplicated.is_empty(),
        "a vendor event became two unified events: {duplicated:?}"
    );
    assert_eq!(product.delivered_ids().len(), EVENTS);
    assert!(
        inbound["data"].as_array().unwrap().len() >= 100,
        "the re-sent acknowledged events are duplicates"
    );
    host.child.kill().unwrap();
    let _ = host.child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
