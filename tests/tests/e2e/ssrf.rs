//! The SSRF guard of vendor calls: a URL a manifest template or a component builds reaches only
//! public addresses (literal ones checked before sending, names after DNS resolution), so an
//! account's context cannot aim the host at loopback, a private network or a cloud metadata
//! service. The origin of an admin's `base_url` override and `--allow-private-vendor-targets`
//! lift it; a tenant can set neither.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::routing::get;
use patchbay_tests::mocks::MockServer;
use patchbay_tests::{Host, HostOptions, Reply, component};
use reqwest::Method;
use serde_json::{Value, json};

/// A vendor on loopback that counts the requests it gets.
async fn counting_vendor() -> (MockServer, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let seen = hits.clone();
    let router = axum::Router::new().route(
        "/items",
        get(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            async { axum::Json(json!([{"id": 1}])) }
        }),
    );
    (MockServer::spawn(router).await, hits)
}

/// A connector whose API root is the account's `context.site`, as multi-instance vendors'
/// manifests have it (Salesforce's `instance_url`, a Zendesk subdomain).
fn site_manifest() -> Value {
    json!({
        "name": "site", "version": "1.0.0", "base_url": "{{context.site}}", "auth": {"type": "none"},
        "resources": {"items": {"methods": {"list": {"method": "GET", "path": "/items", "records": "."}}}}
    })
}

/// A tenant's account of `site` aimed at `site`.
async fn tenant_account(host: &Host, token: &str, site: &str) -> String {
    let body = json!({"connector": "site", "tenant_id": "t1", "credentials": {}, "context": {"site": site}});
    let r = host
        .send(Method::POST, "/integrated-accounts", token, Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

fn items_path(account: &str) -> String {
    format!("/proxy/items?integrated_account_id={account}")
}

/// `GET /proxy/items` through `account`, as a tenant.
async fn items(host: &Host, tenant: &str, account: &str) -> Reply {
    host.send(Method::GET, &items_path(account), tenant, None).await
}

#[tokio::test]
async fn templated_urls_cannot_reach_private_addresses() {
    let host = Host::start().await;
    assert_eq!(host.put_connector("site", site_manifest()).await.status, 200);
    let (vendor, hits) = counting_vendor().await;
    let port = vendor.base_url().rsplit(':').next().unwrap().to_owned();
    let tenant = host.tenant_token("t1").await;

    let cases = [
        (
            format!("http://127.0.0.1:{port}"),
            "the non-public address 127.0.0.1",
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{port}"),
            "the non-public address ::ffff:",
        ),
        // A name is checked after resolution, when the request is sent.
        (
            format!("http://localhost:{port}"),
            "request to localhost was refused: it points to the non-public address",
        ),
        (
            "http://169.254.169.254/latest/meta-data".into(),
            "the non-public address 169.254.169.254",
        ),
        ("http://10.0.0.1".into(), "the non-public address 10.0.0.1"),
        (
            "http://[fd00:ec2::254]".into(),
            "the non-public address fd00:ec2::254",
        ),
    ];
    for (site, what) in &cases {
        let id = tenant_account(&host, &tenant, site).await;
        for path in [items_path(&id), format!("/passthrough/{id}/items")] {
            let r = host.send(Method::GET, &path, &tenant, None).await;
            let e = r.error(500, "connector_error");
            let message = e["message"].as_str().unwrap();
            assert!(
                message.contains("was refused") && message.contains(what),
                "{site} {path}: {e}"
            );
        }
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a refused call reached the vendor"
    );

    // A tenant cannot lift the guard with an override of its own…
    let body = json!({"connector": "site", "tenant_id": "t1", "credentials": {}, "context": {"site": "https://x.example"}, "base_url": vendor.base_url()});
    let r = host
        .send(Method::POST, "/integrated-accounts", &tenant, Some(body.clone()))
        .await;
    r.error(403, "forbidden");
    // …an admin's override is trusted for its own origin.
    let r = host.create_account(body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap();
    let r = items(&host, &tenant, id).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["result"], json!([{"id": 1}]));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    host.stop().await;
}

#[tokio::test]
async fn the_host_flag_allows_private_vendors() {
    let host = Host::start_with(HostOptions {
        private_vendors: true,
        ..Default::default()
    })
    .await;
    assert_eq!(host.put_connector("site", site_manifest()).await.status, 200);
    let (vendor, hits) = counting_vendor().await;
    let tenant = host.tenant_token("t1").await;
    let id = tenant_account(&host, &tenant, &vendor.base_url()).await;
    let r = items(&host, &tenant, &id).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    host.stop().await;
}

/// A component's request stays on the connector's origin (the host checks that before adding
/// credentials); that origin is guarded like a template's.
#[tokio::test]
async fn component_built_requests_are_guarded_too() {
    let host = Host::start().await;
    let manifest = json!({
        "name": "hostile", "version": "1.0.0", "base_url": "http://127.0.0.1:9", "auth": {"type": "none"},
        "component": {"hooks": ["build_request"]},
        "resources": {"items": {"methods": {"list": {"method": "GET", "path": "/items", "records": "."}}}}
    });
    let wasm = std::fs::read(component("patchbay_hostile_component")).unwrap();
    use base64::Engine as _;
    let upload =
        json!({"manifest": manifest, "component": base64::engine::general_purpose::STANDARD.encode(wasm)});
    let put = host.put_connector("hostile", upload).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let tenant = host.tenant_token("t1").await;
    let body = json!({"connector": "hostile", "tenant_id": "t1", "credentials": {}});
    let r = host
        .send(Method::POST, "/integrated-accounts", &tenant, Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap();
    let r = items(&host, &tenant, id).await;
    let e = r.error(500, "connector_error");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("the non-public address 127.0.0.1"),
        "{e}"
    );

    let (vendor, hits) = counting_vendor().await;
    let id = host
        .account("hostile", "t1", json!({}), json!({}), &vendor.base_url())
        .await;
    let r = items(&host, &tenant, &id).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    host.stop().await;
}
