//! The host API contract independent of any vendor: authentication, tenant isolation, the
//! normalized error body, cursors, account states, credentials at rest, broken manifests.

use patchbay::accounts::{AccountEvent, AccountStatus, Transition};
use patchbay_tests::mocks::{HubSpotMock, MockServer};
use patchbay_tests::{
    Host, HostOptions, Vendor, bundled_connector_names, copy_connectors, scratch_dir, urlencode,
};
use reqwest::Method;
use serde_json::json;

const TOKEN: &str = <HubSpotMock as Vendor>::TOKEN;

#[tokio::test]
async fn health_is_open_everything_else_needs_a_token() {
    let host = Host::start().await;
    for path in ["/healthz", "/readyz"] {
        let r = host.http.get(format!("{}{path}", host.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let ready = host.get("/readyz").await;
    assert_eq!(ready.body["connectors"], bundled_connector_names().len());
    for path in [
        "/connectors",
        "/integrated-accounts",
        "/proxy/contacts?integrated_account_id=x",
        "/unified/crm/contacts",
    ] {
        let r = host.http.get(format!("{}{path}", host.url)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthenticated");
        assert_eq!(body["error"]["remote"], false);
    }
    host.send(Method::GET, "/connectors", "pbt_not-a-real-token", None)
        .await
        .error(401, "unauthenticated");
}

#[tokio::test]
async fn connectors_and_unified_models_are_listed() {
    let host = Host::start().await;
    let list = host.get("/connectors").await;
    let names: Vec<&str> = list.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, bundled_connector_names());
    assert_eq!(list.body["load_errors"], json!([]));
    let hubspot = host.get("/connectors/hubspot").await;
    assert_eq!(hubspot.body["version"], "1.0.0");
    assert_eq!(
        hubspot.body["resources"]["contacts"],
        json!(["create", "delete", "get", "list", "update"])
    );
    assert!(
        hubspot.body["unified"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["model"] == "crm" && u["resource"] == "contacts")
    );
    host.get("/connectors/nope").await.error(404, "not_found");
    // OAuth apps: the connector is checked before the body is read.
    host.admin_send(Method::PUT, "/connectors/nope/oauth-app", None)
        .await
        .error(404, "not_found");
    let not_oauth = host
        .admin_send(
            Method::PUT,
            "/connectors/twilio/oauth-app",
            Some(json!({"client_id": "x"})),
        )
        .await;
    let e = not_oauth.error(400, "invalid_request");
    assert!(
        e["message"].as_str().unwrap().contains("does not use OAuth2"),
        "{e}"
    );
    let models = host.get("/unified-models").await;
    let schemas = std::fs::read_dir(patchbay_tests::bundled_connectors().join("unified"))
        .unwrap()
        .count();
    assert_eq!(models.body["result_count"], schemas);
    let schema = host.get("/unified-models/crm/contacts").await;
    assert_eq!(schema.body["title"], "crm.contacts");
}

#[tokio::test]
async fn tenants_see_only_their_accounts() {
    let host = Host::start().await;
    let mock = HubSpotMock::new(TOKEN);
    let server = MockServer::spawn(mock.router()).await;
    mock.seed(2);
    let a = host.tenant_token("tenant-a").await;
    let b = host.tenant_token("tenant-b").await;

    let created = host
        .send(
            Method::POST,
            "/integrated-accounts",
            &a,
            Some(json!({"connector": "hubspot", "credentials": {"access_token": TOKEN}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["tenant_id"], "tenant-a");
    // No base_url override for tenant tokens: this account points at the real HubSpot, which
    // this machine cannot reach, so it settles in an error state; tenancy is what is tested.
    assert!(created.body["status"].is_string());
    assert!(created.body.get("credentials").is_none());
    let id = created.body["id"].as_str().unwrap().to_owned();

    host.send(Method::GET, &format!("/integrated-accounts/{id}"), &b, None)
        .await
        .error(404, "not_found");
    host.send(Method::DELETE, &format!("/integrated-accounts/{id}"), &b, None)
        .await
        .error(404, "not_found");
    host.send(
        Method::GET,
        &format!("/proxy/contacts?integrated_account_id={id}"),
        &b,
        None,
    )
    .await
    .error(404, "not_found");
    let b_list = host.send(Method::GET, "/integrated-accounts", &b, None).await;
    assert_eq!(b_list.body["result_count"], 0);
    let b_sneaky = host
        .send(Method::GET, "/integrated-accounts?tenant_id=tenant-a", &b, None)
        .await;
    assert_eq!(b_sneaky.body["result_count"], 0);
    let a_list = host.send(Method::GET, "/integrated-accounts", &a, None).await;
    assert_eq!(a_list.body["result"][0]["id"], id.as_str());

    let foreign = json!({"connector": "hubspot", "tenant_id": "tenant-a", "credentials": {}});
    host.send(Method::POST, "/integrated-accounts", &b, Some(foreign))
        .await
        .error(403, "forbidden");
    let override_url =
        json!({"connector": "hubspot", "credentials": {"access_token": "x"}, "base_url": server.base_url()});
    host.send(Method::POST, "/integrated-accounts", &a, Some(override_url))
        .await
        .error(403, "forbidden");

    // The admin sees everything and filters.
    let admin_acct = host
        .account(
            "hubspot",
            "tenant-b",
            json!({"access_token": TOKEN}),
            json!({}),
            &server.base_url(),
        )
        .await;
    let filtered = host
        .get("/integrated-accounts?tenant_id=tenant-b&connector=hubspot&status=active")
        .await;
    assert_eq!(filtered.body["result_count"], 1);
    assert_eq!(filtered.body["result"][0]["id"], admin_acct.as_str());
    host.get("/integrated-accounts?status=bogus")
        .await
        .error(400, "invalid_request");

    let ok = host
        .send(
            Method::GET,
            &format!("/proxy/contacts?integrated_account_id={admin_acct}"),
            &b,
            None,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        host.send(Method::DELETE, &format!("/integrated-accounts/{id}"), &a, None)
            .await
            .status,
        204
    );
    host.send(Method::GET, &format!("/integrated-accounts/{id}"), &a, None)
        .await
        .error(404, "not_found");
}

#[tokio::test]
async fn bad_requests_get_normalized_4xx() {
    let (host, mock, _server, acct) = Host::with_vendor::<HubSpotMock>().await.into_parts();
    let admin = host.admin.clone();

    host.get("/no/such/route").await.error(404, "not_found");
    host.get("/proxy/contacts").await.error(400, "invalid_request");
    host.get(&format!("/proxy/contacts?integrated_account_id={acct}&limit=0"))
        .await
        .error(400, "invalid_request");
    host.get(&format!("/proxy/contacts?integrated_account_id={acct}&limit=abc"))
        .await
        .error(400, "invalid_request");
    // Once the account's connector is known, every answer says which version served it.
    let unknown = host
        .get(&format!("/proxy/tickets?integrated_account_id={acct}"))
        .await;
    unknown.error(404, "not_found");
    assert_eq!(
        unknown.header("patchbay-connector-version"),
        Some("hubspot@1.0.0#1")
    );
    host.get(&format!(
        "/unified/ticketing/tickets?integrated_account_id={acct}"
    ))
    .await
    .error(404, "not_found");
    host.get("/proxy/contacts?integrated_account_id=acct_missing")
        .await
        .error(404, "not_found");

    let raw = host
        .req(Method::POST, "/integrated-accounts", &admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
    host.send(
        Method::POST,
        "/integrated-accounts",
        &admin,
        Some(json!({"connector": "nope", "tenant_id": "t", "credentials": {}})),
    )
    .await
    .error(400, "invalid_request");
    host.send(
        Method::POST,
        "/integrated-accounts",
        &admin,
        Some(json!({"connector": "hubspot", "tenant_id": "t", "credentials": {}, "base_url": "ftp://x"})),
    )
    .await
    .error(400, "invalid_request");
    // Pipedrive's base URL needs `context.company_domain`.
    host.send(
        Method::POST,
        "/integrated-accounts",
        &admin,
        Some(json!({"connector": "pipedrive", "tenant_id": "t", "credentials": {"api_token": "x"}})),
    )
    .await
    .error(400, "invalid_request");

    let huge = "x".repeat(2 * 1024 * 1024);
    let r = host
        .req(
            Method::POST,
            &format!("/proxy/contacts?integrated_account_id={acct}"),
            &admin,
        )
        .header("content-type", "application/json")
        .body(format!("{{\"a\":\"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert!(mock.requests().is_empty(), "nothing reached the vendor");
}

#[tokio::test]
async fn cursors_are_opaque_and_tamper_evident() {
    let (host, mock, server, a1) = Host::with_vendor::<HubSpotMock>().await.into_parts();
    mock.seed(30);
    let a2 = host
        .account(
            "hubspot",
            "t1",
            HubSpotMock::credentials(),
            json!({}),
            &server.base_url(),
        )
        .await;
    mock.clear_requests();
    let first = host
        .get(&format!("/proxy/contacts?integrated_account_id={a1}&limit=10"))
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();

    let next = host
        .get(&format!(
            "/proxy/contacts?integrated_account_id={a1}&limit=10&next_cursor={}",
            urlencode(&cursor)
        ))
        .await;
    assert_eq!(next.status, 200);
    assert_ne!(next.body["result"][0]["id"], first.body["result"][0]["id"]);

    let mut forged = cursor.clone().into_bytes();
    forged[5] = if forged[5] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    host.get(&format!(
        "/proxy/contacts?integrated_account_id={a1}&next_cursor={}",
        urlencode(&forged)
    ))
    .await
    .error(400, "invalid_request");
    host.get(&format!(
        "/proxy/contacts?integrated_account_id={a2}&next_cursor={}",
        urlencode(&cursor)
    ))
    .await
    .error(400, "invalid_request");
    host.get(&format!(
        "/proxy/companies?integrated_account_id={a1}&next_cursor={}",
        urlencode(&cursor)
    ))
    .await
    .error(400, "invalid_request");
    host.get(&format!(
        "/unified/crm/contacts?integrated_account_id={a1}&next_cursor={}",
        urlencode(&cursor)
    ))
    .await
    .error(400, "invalid_request");
    host.get(&format!(
        "/proxy/contacts?integrated_account_id={a1}&next_cursor=garbage"
    ))
    .await
    .error(400, "invalid_request");
    assert_eq!(
        mock.requests().len(),
        2,
        "rejected cursors never reach the vendor"
    );
}

#[tokio::test]
async fn inactive_accounts_get_409() {
    let (host, mock, _server, acct) = Host::with_vendor::<HubSpotMock>().await.into_parts();
    // Walk the account through every non-active state by legal transitions.
    let steps = [
        (AccountStatus::NeedsReauth, AccountEvent::NeedsReauth),
        (AccountStatus::Connecting, AccountEvent::Updated),
        (AccountStatus::ValidationError, AccountEvent::ValidationError),
        (AccountStatus::PostInstallError, AccountEvent::PostInstallError),
    ];
    for (status, event) in steps {
        let row = host.app.store.account(&acct).await.unwrap().unwrap();
        host.app
            .store
            .transition(&Transition::new(&row, status, event, "test"))
            .await
            .unwrap();
        let e = host
            .get(&format!("/proxy/contacts?integrated_account_id={acct}"))
            .await;
        let body = e.error(409, "account_not_active");
        assert!(body["message"].as_str().unwrap().contains(status.as_str()));
    }
    assert!(
        mock.requests().is_empty(),
        "calls on inactive accounts never reach the vendor"
    );
}

#[tokio::test]
async fn credentials_are_encrypted_at_rest() {
    let host = Host::start().await;
    let acct = host
        .account(
            "hubspot",
            "t1",
            json!({"access_token": TOKEN}),
            json!({"portal": "visible-context"}),
            "http://127.0.0.1:9",
        )
        .await;
    let shown = host.get(&format!("/integrated-accounts/{acct}")).await;
    assert!(!shown.body.to_string().contains(TOKEN));
    // On PostgreSQL, its dump is what is scanned.
    patchbay_test_support::database::dump_into(&host.app.config().database_url, &host.dir);
    let mut found_context = false;
    for entry in std::fs::read_dir(&host.dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(path).unwrap();
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "credential stored in clear"
        );
        found_context |= bytes.windows(15).any(|w| w == b"visible-context");
    }
    assert!(
        found_context,
        "the scan did read the database (context is stored in clear)"
    );
}

#[tokio::test]
async fn a_broken_manifest_is_reported_and_skipped() {
    let dir = scratch_dir("connectors");
    copy_connectors(&dir);
    std::fs::write(
        dir.join("broken.json"),
        r#"{"name": "broken", "version": "1", "base_url": "https://x.example", "auth": {"type": "bearer"},
            "resources": {"things": {"methods": {"list": {"method": "GET", "path": "/things", "records": ".items[", "pagination": {"type": "cursor", "cursor": "{{", "param": "c"}}}}}}"#,
    )
    .unwrap();
    std::fs::write(dir.join("garbled.json"), "{ not json").unwrap();
    let host = Host::start_with(HostOptions {
        connectors: Some(dir.clone()),
        ..Default::default()
    })
    .await;
    let list = host.get("/connectors").await;
    assert_eq!(
        list.body["result_count"],
        bundled_connector_names().len(),
        "the good connectors still load"
    );
    let errors = list.body["load_errors"].as_array().unwrap();
    let broken = errors
        .iter()
        .find(|e| e["file"].as_str().unwrap().ends_with("broken.json"))
        .unwrap();
    let paths: Vec<&str> = broken["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"$.resources.things.methods.list.records"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"$.resources.things.methods.list.pagination.cursor"),
        "every problem at once: {paths:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e["file"].as_str().unwrap().ends_with("garbled.json"))
    );
    assert_eq!(host.get("/readyz").await.status, 200);
    let _ = std::fs::remove_dir_all(dir);
}

/// API tokens expire and are revoked: a revoked token is refused by the host that revoked it at
/// once and by another host on the same database within its change watcher's bound (1 s here;
/// the token cache's 2 s TTL at most); an expired one is refused everywhere.
#[tokio::test]
async fn revoked_and_expired_tokens_are_refused_on_every_host() {
    let db = patchbay_test_support::database::fresh_database(&scratch_dir("tokens"));
    let options = || HostOptions {
        database_url: Some(db.clone()),
        ..Default::default()
    };
    let (a, b) = (
        Host::start_with(options()).await,
        Host::start_with(options()).await,
    );
    let store = &a.app.store;
    let (token, record) = store
        .create_token_with(false, Some("t1"), None, None)
        .await
        .unwrap();
    for host in [&a, &b] {
        let r = host.send(Method::GET, "/integrated-accounts", &token, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let listed = store.tokens().await.unwrap();
    assert!(listed.contains(&record), "{listed:?}");
    assert!(store.revoke_token(&record.id).await.unwrap());
    assert!(!store.revoke_token(&record.id).await.unwrap(), "revoked once");
    a.send(Method::GET, "/integrated-accounts", &token, None)
        .await
        .error(401, "unauthenticated");
    let revoked = std::time::Instant::now();
    loop {
        let r = b.send(Method::GET, "/integrated-accounts", &token, None).await;
        if r.status == 401 {
            break;
        }
        assert!(
            revoked.elapsed() < std::time::Duration::from_secs(1),
            "host B still accepts the revoked token"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Expiry: a token past its time is refused, cached or not.
    let soon = patchbay::clock::now_ms() + 1500;
    let (short, _) = store
        .create_token_with(true, None, Some(soon), None)
        .await
        .unwrap();
    assert_eq!(b.send(Method::GET, "/connectors", &short, None).await.status, 200);
    let left = (soon - patchbay::clock::now_ms()).max(0) as u64 + 100;
    tokio::time::sleep(std::time::Duration::from_millis(left)).await;
    for host in [&a, &b] {
        host.send(Method::GET, "/connectors", &short, None)
            .await
            .error(401, "unauthenticated");
    }
}

/// An account deleted through one host stops being callable through another host on the same
/// database within 1 s, though that host had it cached from a call just before.
#[tokio::test]
async fn an_account_deleted_on_one_host_is_gone_on_the_others() {
    let db = patchbay_test_support::database::fresh_database(&scratch_dir("delete-across"));
    let options = || HostOptions {
        database_url: Some(db.clone()),
        ..Default::default()
    };
    let a = Host::start_with(options()).await;
    let (mock, _server, acct) = a.add_vendor::<HubSpotMock>("hubspot").await;
    mock.seed(2);
    let b = Host::start_with(options()).await;
    let call = format!("/proxy/contacts?integrated_account_id={acct}");
    assert_eq!(
        b.get(&call).await.status,
        200,
        "host B serves the account (and caches it)"
    );
    assert_eq!(a.delete_account(&acct).await.status, 204);
    let deleted = std::time::Instant::now();
    loop {
        let r = b.get(&call).await;
        if r.status == 404 {
            r.error(404, "not_found");
            break;
        }
        assert!(
            deleted.elapsed() < std::time::Duration::from_secs(1),
            "host B still calls through the deleted account: {}",
            r.status
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A metrics token (`patchbay token create --metrics`) reads `GET /metrics` and nothing else.
#[tokio::test]
async fn a_metrics_token_reads_metrics_and_nothing_else() {
    let host = Host::start().await;
    let token = host.metrics_token().await;
    let r = host.req(Method::GET, "/metrics", &token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("patchbay_"), "the exposition");
    for (method, path) in [
        (Method::GET, "/integrated-accounts"),
        (Method::GET, "/connectors"),
        (Method::GET, "/ops/summary"),
        (Method::POST, "/integrated-accounts"),
        (Method::GET, "/webhook-endpoints"),
        (Method::PUT, "/connectors/hubspot/oauth-app"),
    ] {
        host.send(method.clone(), path, &token, Some(json!({})))
            .await
            .error(403, "forbidden");
    }
}

/// A manifest expression that never ends (jq's `repeat`, unbounded recursion) is stopped by the
/// engine's step budget: the call answers `mapping_error` naming the budget, and the worker is
/// free for the next call.
#[tokio::test]
async fn a_looping_manifest_expression_answers_mapping_error() {
    let host = Host::start().await;
    let vendor = MockServer::spawn(axum::Router::new().route(
        "/items",
        axum::routing::get(|| async { axum::Json(json!({"items": [{"id": 1}]})) }),
    ))
    .await;
    let list =
        |records: &str| json!({"methods": {"list": {"method": "GET", "path": "/items", "records": records}}});
    let manifest = json!({
        "name": "loops", "version": "1.0.0", "base_url": "https://api.example.com", "auth": {"type": "none"},
        "resources": {"fine": list(".items"), "spins": list("[.items[] | repeat(.)]"), "recurses": list("def f: f; f")}
    });
    let r = host.put_connector("loops", manifest).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let account = host
        .account("loops", "t1", json!({}), json!({}), &vendor.base_url())
        .await;
    for resource in ["spins", "recurses"] {
        let r = host
            .get(&format!("/proxy/{resource}?integrated_account_id={account}"))
            .await;
        let e = r.error(502, "mapping_error");
        assert!(
            e["message"].as_str().unwrap().contains("exceeded its budget"),
            "{resource}: {e}"
        );
        // The worker is free: the next call is served.
        let r = host
            .get(&format!("/proxy/fine?integrated_account_id={account}"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["result"], json!([{"id": 1}]));
    }
    host.stop().await;
}
