//! Crash test of inbound webhooks: `kill -9` of the host process while 1,000 signed events
//! arrive from a concurrent sender, then a restart on the same database. Every event answered
//! 200 must be processed exactly once and delivered (the product receiver counts by
//! `webhook-id`); none lost, none duplicated. The sender then re-sends what was not acknowledged
//! (as a vendor retries) and a sample of what was (vendor retries of delivered events), and
//! everything is still exactly once.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use patchbay_test_support::process::{HostProcess, admin, admin_token, free_port};
use patchbay_test_support::receiver::Receiver;
use patchbay_test_support::scratch_dir;
use patchbay_test_support::signing::standard_webhooks_request;
use serde_json::json;

const EVENTS: usize = 1000;
const VENDOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_patchbay"))
}

/// Run `run` of the host on `db`, logging to `host-<run>.log`.
fn start(db: &str, port: u16, dir: &Path, run: usize) -> HostProcess {
    let log = dir.join(format!("host-{run}.log"));
    HostProcess::start(
        bin(),
        db,
        port,
        &log,
        &[
            "--allow-private-delivery-targets",
            "--delivery-retry-schedule",
            "0ms,100ms,200ms,500ms,1s,1s,1s,1s",
        ],
    )
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_ingestion_loses_nothing_and_duplicates_nothing() {
    let dir = scratch_dir("crash");
    let db = format!("sqlite://{}", dir.join("p.db").display());
    let token = admin_token(bin(), &db);
    let port = free_port();
    let http = reqwest::Client::new();
    let mut host = start(&db, port, &dir, 1);
    host.wait_healthy(&http).await;

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
    host.kill();
    for s in senders {
        s.await.unwrap();
    }
    let acked_before_restart: HashSet<usize> = acked.lock().unwrap().clone();
    println!(
        "killed with {} of {EVENTS} acknowledged",
        acked_before_restart.len()
    );

    host = start(&db, port, &dir, 2);
    host.wait_healthy(&http).await;
    // Everything acknowledged before the kill is delivered after the restart.
    let want: HashSet<String> = acked_before_restart
        .iter()
        .map(|i| format!("evt_{i:05}"))
        .collect();
    let delivered_vendor_ids = Receiver::ids_by_vendor_event;
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
    host.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
