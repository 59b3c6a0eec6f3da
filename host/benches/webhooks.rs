//! Webhook ingestion and delivery on the embedded SQLite default, through real HTTP on loopback:
//! acknowledgement latency (p50/p99/max) at a fixed 1,000 events/s, sustained acknowledgements
//! with 64 concurrent senders, how long processing and delivery take to catch up, and delivery
//! throughput alone (a replay to a local receiver).
//!
//! The host is the release `patchbay serve`, a process of its own as deployed; the sender and the
//! product receiver share this process (and the machine's cores) with each other, not with it.
//!
//! Run: `cargo bench -p patchbay --bench webhooks`. Results go to docs/BENCHMARKS.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::path::Path;

use patchbay_test_support::process::{HostProcess, admin, admin_token, free_port};
use patchbay_test_support::receiver::Receiver;
use patchbay_test_support::scratch_dir;
use patchbay_test_support::signing::standard_webhooks_request;
use reqwest::Method;
use serde_json::json;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const RATE: u64 = 1000;
const PACED: Duration = Duration::from_secs(5);
const CONCURRENCY: usize = 64;
const SUSTAINED: Duration = Duration::from_secs(5);

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// A signed request for event `i`.
fn event(client: &reqwest::Client, url: &str, i: usize) -> reqwest::RequestBuilder {
    let id = format!("evt_{i}");
    let body =
        json!({"type": "order.paid", "timestamp": "2026-12-01T00:00:00Z", "data": {"order": i}}).to_string();
    standard_webhooks_request(client, url, SECRET, &id, body)
}

async fn ack(req: reqwest::RequestBuilder) -> Duration {
    let started = Instant::now();
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    started.elapsed()
}

async fn pending(http: &reqwest::Client, token: &str, host: &str) -> usize {
    let url = format!("{host}/inbound-webhooks?status=pending&limit=1000");
    let r = admin(http, token, Method::GET, url, None).await;
    r["data"].as_array().unwrap().len()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bin = Path::new(env!("CARGO_BIN_EXE_patchbay"));
    let dir = scratch_dir("webhooks-bench");
    let db = format!("sqlite://{}", dir.join("p.db").display());
    let token = admin_token(bin, &db);
    let host = HostProcess::start(
        bin,
        &db,
        free_port(),
        &dir.join("host.log"),
        &[
            "--allow-private-delivery-targets",
            "--delivery-retry-schedule",
            "0ms,100ms,1s",
        ],
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    host.wait_healthy(&client).await;
    let product = Receiver::start().await;
    let created = admin(
        &client,
        &token,
        Method::POST,
        format!("{}/webhook-endpoints", host.url),
        Some(json!({"url": product.url})),
    )
    .await;
    let endpoint = created["id"].as_str().unwrap().to_owned();
    product.set_secret(created["secret"].as_str().unwrap());
    let account = admin(
        &client,
        &token,
        Method::POST,
        format!("{}/integrated-accounts", host.url),
        Some(json!({"connector": "standard-webhooks", "tenant_id": "bench",
            "credentials": {"api_key": "k", "webhook_secret": SECRET}, "context": {"host": "vendor.example"}})),
    )
    .await;
    let account = account["id"].as_str().unwrap();
    let url = Arc::new(format!("{}/webhooks/standard-webhooks/{account}", host.url));
    let next = Arc::new(AtomicUsize::new(0));
    for _ in 0..200 {
        ack(event(&client, &url, next.fetch_add(1, Ordering::Relaxed))).await;
    }

    // 1. Paced: one event every millisecond, each on its own task (open loop).
    let mut tasks = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let paced_start = Instant::now();
    while paced_start.elapsed() < PACED {
        tick.tick().await;
        let req = event(&client, &url, next.fetch_add(1, Ordering::Relaxed));
        tasks.push(tokio::spawn(ack(req)));
    }
    let mut paced = Vec::with_capacity(tasks.len());
    for t in tasks {
        paced.push(t.await.unwrap());
    }
    let offered = paced.len() as f64 / paced_start.elapsed().as_secs_f64();
    paced.sort();

    // 2. Sustained: 64 senders, closed loop.
    let deadline = Instant::now() + SUSTAINED;
    let sustained_start = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, next) = (client.clone(), url.clone(), next.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    lat.push(ack(event(&client, &url, next.fetch_add(1, Ordering::Relaxed))).await);
                }
                lat
            })
        })
        .collect();
    let mut sustained = Vec::new();
    for w in workers {
        sustained.extend(w.await.unwrap());
    }
    let sustained_secs = sustained_start.elapsed().as_secs_f64();
    sustained.sort();
    let total = next.load(Ordering::Relaxed);

    // 3. Catching up: processing (queue empty) and delivery (every event at the receiver).
    while pending(&client, &token, &host.url).await > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let processed_after = sustained_start.elapsed().as_secs_f64();
    product
        .wait_until(Duration::from_secs(600), |d| d.len() >= total)
        .await;
    let delivered_after = sustained_start.elapsed().as_secs_f64();

    // 4. Delivery alone: replay every event to the endpoint.
    let before = product.deliveries().len();
    let replay_start = Instant::now();
    let r = admin(
        &client,
        &token,
        Method::POST,
        format!("{}/webhook-endpoints/{endpoint}/replay", host.url),
        Some(json!({"since": "2000-01-01T00:00:00Z"})),
    )
    .await;
    let replayed = r["replayed"].as_u64().unwrap() as usize;
    product
        .wait_until(Duration::from_secs(600), |d| d.len() >= before + replayed)
        .await;
    let replay_secs = replay_start.elapsed().as_secs_f64();
    let invalid = product.deliveries().iter().filter(|d| !d.valid).count();

    println!("## webhooks bench ({} events in all)", total);
    println!(
        "paced {:.0} events/s offered for {:?}: ack p50 {:?}, p99 {:?}, max {:?} ({} events)",
        offered,
        PACED,
        pct(&paced, 0.50),
        pct(&paced, 0.99),
        paced.last().unwrap(),
        paced.len()
    );
    println!(
        "sustained, {CONCURRENCY} senders: {:.0} acks/s; ack p50 {:?}, p99 {:?} ({} events)",
        sustained.len() as f64 / sustained_secs,
        pct(&sustained, 0.50),
        pct(&sustained, 0.99),
        sustained.len()
    );
    println!(
        "after the sustained phase began: every event processed at {processed_after:.1} s, delivered at {delivered_after:.1} s"
    );
    println!(
        "delivery alone (replay of {replayed} events to one local endpoint): {:.0} deliveries/s; invalid signatures {invalid}",
        replayed as f64 / replay_secs
    );
    drop(host);
    let _ = std::fs::remove_dir_all(&dir);
}
