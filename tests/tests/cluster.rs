//! The cluster webhook test: three `patchbay` hosts on one PostgreSQL database
//! (`scripts/cluster.sh`: the system's PostgreSQL, nginx in front), signed inbound events sent
//! round-robin to the three while one host is `kill -9`'d and restarted, then PostgreSQL itself
//! restarted under the same traffic. Every event acknowledged is processed once and delivered
//! once (one `webhook-id` per vendor event), across hosts; what was refused meanwhile (the dead
//! host's connections, 503 `database_unavailable` while PostgreSQL restarts) is sent again, as a
//! vendor retries, until acknowledged; the hosts recover from the database restart by
//! themselves. The run prints its figures.
//!
//! A binary of its own (like `race`): it links only the fixtures; the hosts are processes.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use patchbay_test_support::cluster::Cluster;
use patchbay_test_support::receiver::Receiver;
use patchbay_test_support::scratch_dir;
use patchbay_test_support::signing::standard_webhooks_request;
use serde_json::{Value, json};

const EVENTS: usize = 1500;
const HOSTS: usize = 3;
const VENDOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The `patchbay` binary cargo built next to this test.
fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("patchbay")
}

/// What sending one event got.
enum Sent {
    Acked,
    /// 503 `database_unavailable`.
    Unavailable,
    /// No answer (the host is down), or another status.
    Refused,
}

async fn send(http: &reqwest::Client, url: &str, i: usize) -> Sent {
    let id = format!("evt_{i:05}");
    let body =
        json!({"type": "order.paid", "timestamp": "2026-12-01T00:00:00Z", "data": {"order": i}}).to_string();
    match standard_webhooks_request(http, url, VENDOR_SECRET, &id, body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        Ok(r) if r.status() == 200 => Sent::Acked,
        Ok(r) if r.status() == 503 => {
            let body: Value = r.json().await.unwrap_or_default();
            assert_eq!(body["error"]["code"], "database_unavailable", "{body}");
            Sent::Unavailable
        }
        _ => Sent::Refused,
    }
}

async fn admin(
    http: &reqwest::Client,
    token: &str,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> Value {
    let r = http
        .request(method, url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_events_across_three_hosts_are_processed_and_delivered_once_through_a_kill_and_a_database_restart()
 {
    let cluster = Arc::new(Cluster::start(
        &scratch_dir("cluster"),
        &binary(),
        HOSTS,
        "--allow-private-delivery-targets --delivery-retry-schedule 0ms,100ms,200ms,500ms,1s,1s,1s,1s",
    ));
    let token = cluster.env("ADMIN_TOKEN").to_owned();
    let http = reqwest::Client::new();
    let lb = cluster.env("LB_URL").to_owned();

    let product = Receiver::start().await;
    let created = admin(
        &http,
        &token,
        reqwest::Method::POST,
        format!("{lb}/webhook-endpoints"),
        json!({"url": product.url, "events": ["webhook.*"]}),
    )
    .await;
    product.set_secret(created["secret"].as_str().unwrap());
    let account = admin(&http, &token, reqwest::Method::POST, format!("{lb}/integrated-accounts"),
        json!({"connector": "standard-webhooks", "tenant_id": "t1",
            "credentials": {"api_key": "k", "webhook_secret": VENDOR_SECRET}, "context": {"host": "vendor.example"}})).await;
    let acct = account["id"].as_str().unwrap().to_owned();
    let ingress: Arc<Vec<String>> = Arc::new(
        (1..=HOSTS)
            .map(|i| {
                format!(
                    "{}/webhooks/standard-webhooks/{acct}",
                    cluster.env(&format!("HOST_URL_{i}"))
                )
            })
            .collect(),
    );

    // 16 senders over the events, round-robin across the hosts.
    let acked: Arc<Mutex<HashSet<usize>>> = Arc::default();
    let (unavailable, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let next = Arc::new(Mutex::new(0usize));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (http, ingress, acked, next) = (http.clone(), ingress.clone(), acked.clone(), next.clone());
        let (unavailable, refused) = (unavailable.clone(), refused.clone());
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
                match send(&http, &ingress[i % HOSTS], i).await {
                    Sent::Acked => {
                        acked.lock().unwrap().insert(i);
                    }
                    Sent::Unavailable => {
                        unavailable.fetch_add(1, Ordering::Relaxed);
                    }
                    Sent::Refused => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let wait_acked = |n: usize| {
        let acked = acked.clone();
        async move {
            let started = Instant::now();
            while acked.lock().unwrap().len() < n {
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "acknowledgements stalled"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    wait_acked(EVENTS / 4).await;
    let at_kill = acked.lock().unwrap().len();
    cluster.kill(3);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.start_host(3))
        .await
        .unwrap();
    wait_acked(EVENTS / 2).await;
    let at_db_restart = acked.lock().unwrap().len();
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.restart_db()).await.unwrap();
    for s in senders {
        s.await.unwrap();
    }
    let first_pass = acked.lock().unwrap().len();

    // The vendor retries what was refused, on every host in turn, until acknowledged: every host
    // recovered from the database restart by itself.
    let mut acked_by_host = [0usize; HOSTS];
    let started = Instant::now();
    let mut round = 0;
    loop {
        let missing: Vec<usize> = (0..EVENTS)
            .filter(|i| !acked.lock().unwrap().contains(i))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} events never acknowledged",
            missing.len()
        );
        for (k, i) in missing.into_iter().enumerate() {
            let host = (k + round) % HOSTS;
            if let Sent::Acked = send(&http, &ingress[host], i).await {
                acked.lock().unwrap().insert(i);
                acked_by_host[host] += 1;
            }
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And a vendor's re-send of 100 acknowledged events, after all of it, to every host.
    for i in 0..100 {
        assert!(
            matches!(send(&http, &ingress[i % HOSTS], i).await, Sent::Acked),
            "evt_{i} re-sent"
        );
    }

    // Every vendor event delivered, each under exactly one webhook-id.
    let delivered = Receiver::ids_by_vendor_event;
    let started = Instant::now();
    while delivered(&product).len() < EVENTS {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} of {EVENTS} delivered",
            delivered(&product).len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let by_vendor = delivered(&product);
    let twice: Vec<_> = by_vendor.iter().filter(|(_, ids)| ids.len() > 1).collect();
    let receptions = product.deliveries().iter().filter(|d| d.answered == 200).count();
    println!(
        "cluster: {HOSTS} hosts on PostgreSQL, {EVENTS} events round-robin; host 3 kill -9'd at {at_kill} acknowledged \
         and restarted, PostgreSQL restarted at {at_db_restart}: {first_pass} acknowledged in the first pass, {} refused \
         (dead host), {} answered 503 database_unavailable, the rest acknowledged on retry ({acked_by_host:?} per host); \
         {} vendor events delivered, {} under more than one webhook-id, {} receptions ({} repeats of a webhook-id)",
        refused.load(Ordering::Relaxed),
        unavailable.load(Ordering::Relaxed),
        by_vendor.len(),
        twice.len(),
        receptions,
        receptions - product.delivered_ids().len(),
    );
    assert!(
        twice.is_empty(),
        "a vendor event became two unified events: {twice:?}"
    );
    assert_eq!(by_vendor.len(), EVENTS);
    assert_eq!(product.delivered_ids().len(), EVENTS, "one webhook-id per event");
}
