//! Wasm connector components: the cost of a hook call against the native engine, instantiation,
//! compilation and the compile cache, and activation of a new component version.
//!
//! Run: `cargo bench -p patchbay-tests --bench sandbox`. Results go to docs/BENCHMARKS.md.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use patchbay::connectors::validate_text;
use patchbay::sandbox::{LoadedComponent, Sandbox, SandboxConfig};
use patchbay_tests::mocks::{HubSpotMock, LinearMock, MockServer};
use patchbay_tests::{Host, activation_times, bundled_connectors, component};
use serde_json::{Value, json};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Median over `rounds` of the mean time of `n` calls of `f`, in µs.
async fn per_call<F, Fut>(rounds: usize, n: usize, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..n {
            f().await;
        }
        samples.push(started.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    median(samples)
}

/// A page of HubSpot contacts as the vendor sends them.
async fn hubspot_records(n: usize) -> Vec<Value> {
    let mock = HubSpotMock::new("t");
    mock.seed(n);
    let server = MockServer::spawn(mock.router()).await;
    let body: Value = reqwest::Client::new()
        .get(format!("{}/crm/v3/objects/contacts?limit=100", server.base_url()))
        .bearer_auth("t")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["results"].as_array().unwrap().clone()
}

fn compiled_hubspot() -> (Vec<u8>, String) {
    let text = std::fs::read_to_string(bundled_connectors().join("hubspot.json")).unwrap();
    let engine = std::fs::read(component("patchbay_manifest_component")).unwrap();
    let wasm = patchbay::sandbox::package::build(&engine, &text).unwrap();
    (wasm, text)
}

/// The manifest a component serves: embedded (a compiled manifest) or Linear's.
fn manifest_of(wasm: &[u8]) -> String {
    match patchbay::sandbox::package::embedded_manifest(wasm) {
        Some(m) => m.unwrap(),
        None => std::fs::read_to_string(bundled_connectors().join("linear.json")).unwrap(),
    }
}

async fn load(sandbox: &Arc<Sandbox>, wasm: &[u8]) -> LoadedComponent {
    sandbox.load(wasm, "bench@1", &manifest_of(wasm)).unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let records = hubspot_records(100).await;
    let (wasm, text) = compiled_hubspot();
    let native = validate_text(&text).unwrap();
    let u = native.unified("crm", "contacts", "list").unwrap();
    let names = ("crm", "contacts", "list");

    // Hook calls on a warm instance.
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let hooks = load(&sandbox, &wasm).await;
    hooks
        .map_records(names.0, names.1, names.2, &records)
        .await
        .unwrap();
    let empty = per_call(9, 2000, || async {
        hooks.map_records(names.0, names.1, names.2, &[]).await.unwrap();
    })
    .await;
    let one = per_call(9, 2000, || async {
        hooks
            .map_records(names.0, names.1, names.2, &records[..1])
            .await
            .unwrap();
    })
    .await;
    let page = per_call(9, 100, || async {
        hooks
            .map_records(names.0, names.1, names.2, &records)
            .await
            .unwrap();
    })
    .await;
    let native_page = per_call(9, 100, || async {
        for r in &records {
            std::hint::black_box(u.map_record(r).unwrap());
        }
    })
    .await;
    println!("Warm hook call, map_records of an empty page (boundary + instance checkout): {empty:.2} µs");
    println!("Warm hook call, map_records of 1 HubSpot contact: {one:.2} µs");
    println!(
        "map_records of a 100-contact page: component {page:.1} µs ({:.2} µs/record), native {native_page:.1} µs ({:.2} µs/record), overhead {:.2} µs/record",
        page / 100.0,
        native_page / 100.0,
        (page - native_page) / 100.0
    );

    let linear_wasm = std::fs::read(component("patchbay_linear")).unwrap();
    let linear = load(&sandbox, &linear_wasm).await;
    let issues = json!([{"id": "i1", "title": "t", "description": null, "state": {"name": "Todo"}, "assignee": null,
        "labels": {"nodes": [{"name": "Bug"}]}, "url": "https://linear.app/x", "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2024-01-01T00:00:00.000Z", "completedAt": null, "canceledAt": null}]);
    let issues = issues.as_array().unwrap().clone();
    let linear_one = per_call(9, 2000, || async {
        linear
            .map_records("ticketing", "tickets", "list", &issues)
            .await
            .unwrap();
    })
    .await;
    println!("Warm hook call, Linear map_records of 1 issue: {linear_one:.2} µs");

    // Instantiation: with no warm pool, every call instantiates a fresh store.
    let cold_sandbox = Sandbox::new(SandboxConfig {
        warm_instances: 0,
        ..SandboxConfig::default()
    })
    .unwrap();
    for (label, bytes) in [
        ("Linear component", &linear_wasm),
        ("compiled HubSpot manifest", &wasm),
    ] {
        let cold = load(&cold_sandbox, bytes).await;
        let warm = load(&sandbox, bytes).await;
        cold.map_records("x", "y", "z", &[]).await.ok();
        warm.map_records("x", "y", "z", &[]).await.ok();
        let fresh = per_call(9, 200, || async {
            cold.map_records("x", "y", "z", &[]).await.ok();
        })
        .await;
        let reused = per_call(9, 2000, || async {
            warm.map_records("x", "y", "z", &[]).await.ok();
        })
        .await;
        let instantiate = per_call(9, 200, || async {
            cold.prewarm(1).await.unwrap();
        })
        .await;
        println!(
            "{label}: instantiation {instantiate:.1} µs; a call on a fresh instance {fresh:.1} µs (instantiation + first call), on a warm one {reused:.2} µs"
        );
    }

    // Compilation, and loading from the on-disk cache (what a restart does).
    let cache = std::env::temp_dir().join(format!("patchbay-bench-cache-{}", std::process::id()));
    for (label, bytes) in [
        ("Linear component", &linear_wasm),
        ("compiled HubSpot manifest", &wasm),
    ] {
        let _ = std::fs::remove_dir_all(&cache);
        let cfg = SandboxConfig {
            cache_dir: Some(cache.clone()),
            ..SandboxConfig::default()
        };
        let started = Instant::now();
        Sandbox::new(cfg.clone())
            .unwrap()
            .load(bytes, "bench@1", &manifest_of(bytes))
            .unwrap();
        let compile = started.elapsed();
        let started = Instant::now();
        Sandbox::new(cfg)
            .unwrap()
            .load(bytes, "bench@1", &manifest_of(bytes))
            .unwrap();
        let cached = started.elapsed();
        println!(
            "{label} ({} KB): compile + validate {:.1} ms; from the on-disk cache {:.2} ms",
            bytes.len() / 1024,
            compile.as_secs_f64() * 1e3,
            cached.as_secs_f64() * 1e3
        );
    }
    let _ = std::fs::remove_dir_all(&cache);

    // Activation through the API: PUT a new version of the Linear connector (its component with a
    // new manifest version), then the first call served by it.
    let host = Host::start().await;
    let mock = LinearMock::new("k");
    mock.seed(10);
    let server = MockServer::spawn(mock.router()).await;
    let acct = host
        .account(
            "linear",
            "t1",
            json!({"api_key": "k"}),
            json!({}),
            &server.base_url(),
        )
        .await;
    let manifest_text = std::fs::read_to_string(bundled_connectors().join("linear.json")).unwrap();
    let mut manifest: Value = serde_json::from_str(&manifest_text).unwrap();
    manifest["component"].as_object_mut().unwrap().remove("path");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&linear_wasm);
    let client = reqwest::Client::new();
    let activation = activation_times(
        30,
        |i| {
            let mut m = manifest.clone();
            m["version"] = json!(format!("2.0.{i}"));
            client
                .put(format!("{}/connectors/linear", host.url))
                .bearer_auth(&host.admin)
                .json(&json!({"manifest": m, "component": b64}))
        },
        || {
            client
                .get(format!(
                    "{}/proxy/issues?integrated_account_id={acct}&limit=5",
                    host.url
                ))
                .bearer_auth(&host.admin)
        },
        |i| format!("linear@2.0.{i}#"),
    )
    .await;
    println!(
        "Activation of a component version, PUT /connectors/linear to the first call served by it (30 times): p50 {:.1} ms, max {:.1} ms",
        activation[15].as_secs_f64() * 1e3,
        activation[29].as_secs_f64() * 1e3
    );

    // Compiled manifests share the engine's compiled code: a new version is a new `init`.
    let text = std::fs::read_to_string(bundled_connectors().join("hubspot.json")).unwrap();
    let engine = std::fs::read(component("patchbay_manifest_component")).unwrap();
    let mut m: Value = serde_json::from_str(&text).unwrap();
    let mut compiled = Vec::new();
    for i in 0..5 {
        m["version"] = json!(format!("3.0.{i}"));
        let bytes = patchbay::sandbox::package::build(&engine, &m.to_string()).unwrap();
        let started = Instant::now();
        let r = client
            .put(format!("{}/connectors/hubspot", host.url))
            .bearer_auth(&host.admin)
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        compiled.push(started.elapsed());
    }
    compiled.sort();
    println!(
        "Activation of a compiled manifest (`PUT` of the .wasm, 5 versions): p50 {:.1} ms",
        compiled[2].as_secs_f64() * 1e3
    );
    host.stop().await;
}
