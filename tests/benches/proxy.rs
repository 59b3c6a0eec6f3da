//! Proxy overhead: the same vendor call made directly to the HubSpot mock and through a
//! Patchbay host on loopback, in the same run (latency p50/p99, requests/s, ratios), and the
//! end-to-end time to list 10,000 HubSpot contacts through the unified API.
//!
//! Run: `cargo bench -p patchbay-tests --bench proxy`. Results go to docs/BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use patchbay_tests::mocks::{HubSpotMock, MockServer};
use patchbay_tests::{Host, activation_times, urlencode};
use serde_json::{Value, json};

const TOKEN: &str = "bench-token";
const SEQUENTIAL: usize = 3000;
const CONCURRENCY: usize = 16;
const WINDOW: Duration = Duration::from_secs(5);

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

async fn timed(req: reqwest::RequestBuilder) -> Duration {
    let started = Instant::now();
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    started.elapsed()
}

async fn throughput(client: reqwest::Client, url: Arc<String>, auth: Arc<String>) -> f64 {
    let deadline = Instant::now() + WINDOW;
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, auth) = (client.clone(), url.clone(), auth.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    timed(client.get(url.as_str()).header("authorization", auth.as_str())).await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        total += w.await.unwrap();
    }
    total as f64 / WINDOW.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let host = Host::start().await;
    let mock = HubSpotMock::new(TOKEN);
    mock.seed(10_000);
    let server = MockServer::spawn(mock.router()).await;
    let acct = host
        .account(
            "hubspot",
            "bench",
            json!({"access_token": TOKEN}),
            json!({}),
            &server.base_url(),
        )
        .await;
    let client = reqwest::Client::new();
    let direct_url = format!("{}/crm/v3/objects/contacts/101", server.base_url());
    let proxy_url = format!("{}/proxy/contacts/101?integrated_account_id={acct}", host.url);
    let direct_auth = format!("Bearer {TOKEN}");
    let proxy_auth = format!("Bearer {}", host.admin);

    for _ in 0..300 {
        timed(client.get(&direct_url).header("authorization", &direct_auth)).await;
        timed(client.get(&proxy_url).header("authorization", &proxy_auth)).await;
    }
    // Interleaved, so both paths see the same machine conditions.
    let (mut direct, mut proxied) = (Vec::with_capacity(SEQUENTIAL), Vec::with_capacity(SEQUENTIAL));
    for _ in 0..SEQUENTIAL {
        direct.push(timed(client.get(&direct_url).header("authorization", &direct_auth)).await);
        proxied.push(timed(client.get(&proxy_url).header("authorization", &proxy_auth)).await);
    }
    direct.sort();
    proxied.sort();
    let direct_rps = throughput(
        client.clone(),
        Arc::new(direct_url.clone()),
        Arc::new(direct_auth.clone()),
    )
    .await;
    let proxy_rps = throughput(
        client.clone(),
        Arc::new(proxy_url.clone()),
        Arc::new(proxy_auth.clone()),
    )
    .await;

    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "GET one HubSpot contact, {SEQUENTIAL} sequential calls each (interleaved), then {CONCURRENCY} concurrent for {WINDOW:?}:"
    );
    println!(
        "  {:<10} {:>10} {:>10} {:>12}",
        "path", "p50 µs", "p99 µs", "requests/s"
    );
    println!(
        "  {:<10} {:>10.0} {:>10.0} {:>12.0}",
        "direct",
        us(pct(&direct, 0.5)),
        us(pct(&direct, 0.99)),
        direct_rps
    );
    println!(
        "  {:<10} {:>10.0} {:>10.0} {:>12.0}",
        "patchbay",
        us(pct(&proxied, 0.5)),
        us(pct(&proxied, 0.99)),
        proxy_rps
    );
    println!(
        "  ratio      p50 {:.2}x   p99 {:.2}x   throughput {:.2}x",
        us(pct(&proxied, 0.5)) / us(pct(&direct, 0.5)),
        us(pct(&proxied, 0.99)) / us(pct(&direct, 0.99)),
        proxy_rps / direct_rps
    );

    // The floor of any proxy: one more loopback HTTP hop, measured on the host's cheapest route.
    let health_url = format!("{}/healthz", host.url);
    let mut hop = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        hop.push(timed(client.get(&health_url)).await);
    }
    hop.sort();
    println!(
        "  one extra loopback hop (GET /healthz on the host): p50 {:.0} µs",
        us(pct(&hop, 0.5))
    );

    // With a vendor that takes 20 ms, as real vendors do (usually more).
    mock.set_delay(Duration::from_millis(20));
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        direct.push(timed(client.get(&direct_url).header("authorization", &direct_auth)).await);
        proxied.push(timed(client.get(&proxy_url).header("authorization", &proxy_auth)).await);
    }
    direct.sort();
    proxied.sort();
    println!(
        "Same call, vendor answering in 20 ms, 200 sequential calls each: direct p50 {:.0} µs, patchbay p50 {:.0} µs, ratio {:.3}x",
        us(pct(&direct, 0.5)),
        us(pct(&proxied, 0.5)),
        us(pct(&proxied, 0.5)) / us(pct(&direct, 0.5))
    );
    mock.set_delay(Duration::ZERO);

    let started = Instant::now();
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!(
            "{}/unified/crm/contacts?integrated_account_id={acct}&limit=100",
            host.url
        );
        if let Some(c) = &cursor {
            url.push_str(&format!("&next_cursor={}", urlencode(c)));
        }
        let page: Value = client
            .get(&url)
            .header("authorization", &proxy_auth)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        count += page["result"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let t = started.elapsed();
    assert_eq!(count, 10_000);
    println!(
        "Unified crm/contacts list through the host, 10,000 records in 100 pages: {:.2} s ({:.0} records/s end to end, mock vendor included)",
        t.as_secs_f64(),
        count as f64 / t.as_secs_f64()
    );

    // Activation: from `PUT /connectors/hubspot` to the first call served by the new version.
    let text = std::fs::read_to_string(patchbay_tests::bundled_connectors().join("hubspot.json")).unwrap();
    let manifest: Value = serde_json::from_str(&text).unwrap();
    let activation = activation_times(
        30,
        |i| {
            let mut m = manifest.clone();
            m["version"] = json!(format!("2.0.{i}"));
            client
                .put(format!("{}/connectors/hubspot", host.url))
                .header("authorization", &proxy_auth)
                .json(&m)
        },
        || client.get(&proxy_url).header("authorization", &proxy_auth),
        |i| format!("hubspot@2.0.{i}#"),
    )
    .await;
    println!(
        "Activation, PUT /connectors/hubspot to the first call served by the new version (30 times): p50 {:.1} ms, max {:.1} ms",
        activation[15].as_secs_f64() * 1e3,
        activation[29].as_secs_f64() * 1e3
    );
    host.stop().await;
}
