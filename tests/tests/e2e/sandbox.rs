//! The Wasm sandbox under attack: components that loop forever, allocate without end, recurse
//! without end, panic, or import the network. Each hostile call gets a `connector_error` naming
//! the connector, version and hook within its budget, while well-behaved traffic (a declarative
//! connector and the same component's good resource) keeps succeeding; a component outside the
//! allow-list never loads and the previous version stays live.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::routing::get;
use base64::Engine as _;
use patchbay_tests::mocks::{HubSpotMock, MockServer};
use patchbay_tests::{Host, HostOptions, Reply, component};
use serde_json::{Value, json};

const BUDGET: Duration = Duration::from_millis(100);

fn hostile_manifest(version: &str) -> Value {
    // The smoke call at load uses the first resource (`alive`): it must behave.
    let get = json!({"methods": {"get": {"method": "GET", "path": "/x"}}});
    json!({
        "name": "hostile", "version": version, "base_url": "http://127.0.0.1:9", "auth": {"type": "none"},
        "component": {"hooks": ["build_request"]},
        "resources": {"alive": {"methods": {"list": {"method": "GET", "path": "/alive", "records": "."}}},
            "spin": get, "bomb": get, "recurse": get, "panic": get}
    })
}

/// A vendor stand-in for the hostile connector's well-behaved resource.
async fn alive_server() -> MockServer {
    MockServer::spawn(axum::Router::new().route("/alive", get(|| async { axum::Json(json!([{"id": 1}])) })))
        .await
}

/// `PUT /connectors/hostile` with a manifest and a built guest component.
async fn put_hostile(host: &Host, manifest: &Value, guest: &str) -> Reply {
    host.put_connector("hostile", upload(manifest, &component(guest)))
        .await
}

fn upload(manifest: &Value, wasm: &std::path::Path) -> Value {
    let bytes = std::fs::read(wasm).unwrap();
    json!({"manifest": manifest, "component": base64::engine::general_purpose::STANDARD.encode(bytes)})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_components_fail_alone_within_their_budgets() {
    let host = Arc::new(
        Host::start_with(HostOptions {
            tweak: Some(|c| c.sandbox.cpu_budget = BUDGET),
            ..Default::default()
        })
        .await,
    );
    let put = put_hostile(&host, &hostile_manifest("1.0.0"), "patchbay_hostile_component").await;
    assert_eq!(put.status, 200, "{}", put.body);

    let alive = alive_server().await;
    let hostile = host
        .account("hostile", "t1", json!({}), json!({}), &alive.base_url())
        .await;
    let (hubspot, _hubspot_server, crm) = host.add_vendor::<HubSpotMock>("hubspot").await;
    hubspot.seed(5);

    // Well-behaved traffic through the whole attack.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, bad) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (host, stop, ok, bad) = (host.clone(), stop.clone(), ok.clone(), bad.clone());
            let path = if w % 2 == 0 {
                format!("/proxy/alive?integrated_account_id={hostile}")
            } else {
                format!("/unified/crm/contacts?integrated_account_id={crm}")
            };
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = host.get(&path).await;
                    if r.status == 200 && r.body["result_count"].as_u64() > Some(0) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        eprintln!("good traffic failed: {} {}", r.status, r.body);
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    let cases = [
        ("spin", "exceeded its CPU budget of 100 ms", None),
        ("bomb", "exceeded its memory limit of 64 MiB", None),
        ("recurse", "overflowed its stack", None),
        (
            "panic",
            "panicked",
            Some("hostile component panicked on purpose in get"),
        ),
    ];
    for round in 0..2 {
        for (resource, reason, stderr) in cases {
            let started = Instant::now();
            let r = host
                .get(&format!("/proxy/{resource}/1?integrated_account_id={hostile}"))
                .await;
            let elapsed = started.elapsed();
            let e = r.error(500, "connector_error");
            assert_eq!(
                r.header("patchbay-connector-version"),
                Some("hostile@1.0.0#1"),
                "{e}"
            );
            let details = &e["details"];
            assert_eq!(details["connector"], "hostile@1.0.0", "{e}");
            assert_eq!(details["hook"], "build_request", "{e}");
            assert!(
                details["reason"].as_str().unwrap().contains(reason),
                "{resource}: {e}"
            );
            if let Some(text) = stderr {
                assert!(
                    details["guest_stderr"].as_str().unwrap_or("").contains(text),
                    "{e}"
                );
            }
            // Generous for a loaded 2-core CI machine; the point is "bounded", not "fast".
            assert!(
                elapsed < BUDGET * 20,
                "{resource} (round {round}) took {elapsed:?}"
            );
            println!(
                "sandbox: {resource} refused in {elapsed:?}: {}",
                details["reason"]
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let (ok, bad) = (ok.load(Ordering::Relaxed), bad.load(Ordering::Relaxed));
    println!("sandbox: good traffic during the attack: {ok} ok, {bad} failed");
    assert_eq!(bad, 0);
    assert!(ok >= 20, "good traffic ran during the attack ({ok})");
}

#[tokio::test]
async fn components_outside_the_contract_never_load() {
    let host = Host::start().await;
    let good = put_hostile(&host, &hostile_manifest("1.0.0"), "patchbay_hostile_component").await;
    assert_eq!(good.status, 200, "{}", good.body);

    let problems = |r: &Reply| -> Vec<(String, String)> {
        let e = r.error(400, "invalid_request");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("previous version stays live"),
            "{e}"
        );
        e["details"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["path"].as_str().unwrap().to_owned(),
                    p["message"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };

    // Imports the network: refused at load, by name.
    let r = put_hostile(
        &host,
        &hostile_manifest("2.0.0"),
        "patchbay_forbidden_import_component",
    )
    .await;
    let p = problems(&r);
    assert_eq!(p[0].0, "$.component", "{p:?}");
    assert!(p[0].1.contains("wasi:sockets/"), "{p:?}");

    // A core module, not a component.
    let core = json!({"manifest": hostile_manifest("2.0.1"), "component": base64::engine::general_purpose::STANDARD.encode(b"\0asm\x01\0\0\0")});
    let p = problems(&host.put_connector("hostile", core).await);
    assert!(p[0].1.contains("core module"), "{p:?}");

    // A component that exports nothing (the empty component): not the connector world.
    let empty = json!({"manifest": hostile_manifest("2.0.4"), "component": base64::engine::general_purpose::STANDARD.encode(b"\0asm\x0d\0\x01\0")});
    let p = problems(&host.put_connector("hostile", empty).await);
    assert!(
        p[0].1
            .contains("does not implement the patchbay:connector@1 world"),
        "{p:?}"
    );

    // A smoke call that crashes: the first resource is declared hostile.
    let mut crashing = hostile_manifest("2.0.2");
    crashing["resources"] = json!({"panic": {"methods": {"get": {"method": "GET", "path": "/x"}}}});
    let p = problems(&put_hostile(&host, &crashing, "patchbay_hostile_component").await);
    assert_eq!(p[0].0, "$.component.hooks", "{p:?}");
    assert!(
        p[0].1.contains("smoke call failed") && p[0].1.contains("panicked"),
        "{p:?}"
    );

    // A component whose `init` refuses the manifest.
    let mut rejected = hostile_manifest("2.0.5");
    rejected["display_name"] = json!("reject-init");
    let p = problems(&put_hostile(&host, &rejected, "patchbay_hostile_component").await);
    assert_eq!(p[0].0, "$.component.hooks", "{p:?}");
    assert!(p[0].1.contains("init") && p[0].1.contains("not for me"), "{p:?}");

    // A declared component without its bytes, and bytes without a declared component.
    let p = problems(&host.put_connector("hostile", hostile_manifest("2.0.3")).await);
    assert!(p[0].1.contains("none was given"), "{p:?}");

    let live = host.get("/connectors/hostile").await;
    assert_eq!(
        (live.body["version"].as_str(), live.body["revision"].as_i64()),
        (Some("1.0.0"), Some(1))
    );
    let stats = host.get("/connectors").await.body["stats"].clone();
    assert!(stats["refusals"].as_u64().unwrap() >= 5, "{stats}");
}

#[tokio::test]
async fn restarts_serve_the_stored_component_without_compiling_again() {
    let dir = patchbay_tests::scratch_dir("restart");
    let db = patchbay_test_support::database::fresh_database(&dir);
    let cache = dir.join("wasm-cache");
    let options = || HostOptions {
        database_url: Some(db.clone()),
        connectors: Some(dir.join("empty")),
        wasm_cache: Some(cache.clone()),
        ..Default::default()
    };
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let host = Host::start_with(options()).await;
    let put = put_hostile(&host, &hostile_manifest("1.0.7"), "patchbay_hostile_component").await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(host.app.registry.sandbox().compilations(), 1);
    let sha = put.body["component"]["sha256"].clone();
    host.stop().await;
    assert!(
        std::fs::read_dir(&cache).unwrap().any(|e| e
            .unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "cwasm"))
    );

    let again = Host::start_with(options()).await;
    let live = again.get("/connectors/hostile").await;
    assert_eq!(
        (live.body["version"].as_str(), &live.body["component"]["sha256"]),
        (Some("1.0.7"), &sha)
    );
    assert_eq!(
        again.app.registry.sandbox().compilations(),
        0,
        "the compiled artifact came from the disk cache"
    );
    let alive = alive_server().await;
    let acct = again
        .account("hostile", "t", json!({}), json!({}), &alive.base_url())
        .await;
    let r = again
        .get(&format!("/proxy/alive?integrated_account_id={acct}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
