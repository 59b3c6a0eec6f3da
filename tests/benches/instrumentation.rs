//! The cost of the per-call instrumentation on its own: what the proxy path adds to every vendor
//! call since the metrics and drift work (issue 10) — the upstream counter and histogram, the
//! request and tenant counters (with the tenant top-N guard), and the drift tracker's
//! should-sample check — timed in a tight loop on one thread, so it can be set against a proxy
//! call's p50 from the proxy bench without that bench's run-to-run noise.
//!
//! Run: `cargo bench -p patchbay-tests --bench instrumentation`. Results go to docs/BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use patchbay::monitoring::drift::Drift;
use patchbay::store::Store;
use patchbay::telemetry::metrics::Metrics;

const CALLS: u32 = 1_000_000;
const ROUNDS: usize = 7;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let metrics = Metrics::new(100);
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let drift = Drift::new(store, Duration::from_secs(1));
    // 50 tenants and 3 resources, so label lookups hit populated families as in production.
    let tenants: Vec<String> = (0..50).map(|i| format!("tenant-{i}")).collect();
    let resources = ["contacts", "companies", "deals"];
    let mut per_call = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for i in 0..CALLS as usize {
            let resource = resources[i % resources.len()];
            let tenant = &tenants[i % tenants.len()];
            metrics.upstream("hubspot", resource, "get", "ok", Duration::from_micros(180));
            metrics.request("proxy", resource, "hubspot", tenant, "ok");
            black_box(drift.should_sample(black_box("hubspot"), black_box(resource)));
        }
        per_call.push(started.elapsed() / CALLS);
    }
    per_call.sort();
    println!(
        "instrumentation per proxied call ({CALLS} calls x {ROUNDS} rounds, one thread): median {:?}, min {:?}, max {:?}",
        per_call[ROUNDS / 2],
        per_call[0],
        per_call[ROUNDS - 1]
    );
}
