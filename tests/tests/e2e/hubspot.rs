//! HubSpot end to end: the real host against the HubSpot mock (cursor pagination, bearer auth,
//! `X-HubSpot-RateLimit-*` headers, error bodies), through the proxy and the unified API.

use std::collections::HashSet;
use std::time::Duration;

use patchbay_tests::mocks::HubSpotMock;
use patchbay_tests::{Host, HostOptions, Vendor, assert_matches_unified_schema, walk_pages};
use reqwest::Method;
use serde_json::json;

const TOKEN: &str = <HubSpotMock as Vendor>::TOKEN;

#[tokio::test]
async fn proxy_lists_every_page_once_with_normalized_rate_limits() {
    let (host, mock, _server, acct) = Host::with_vendor::<HubSpotMock>().await.into_parts();
    mock.seed(25);
    let (records, pages) = walk_pages(
        &host,
        &format!("/proxy/contacts?integrated_account_id={acct}&limit=10"),
    )
    .await;
    assert_eq!(pages, 3);
    assert_eq!(records.len(), 25);
    let ids: HashSet<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 25, "no record twice");

    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}")[..]))
    );
    assert!(requests.iter().all(|r| r.query_param("limit") == Some("10")));
    assert_eq!(requests[0].query_param("after"), None);
    assert!(
        requests[1].query_param("after").is_some(),
        "the vendor cursor is sent back"
    );

    mock.set_rate_limit(100, 60);
    let reply = host
        .get(&format!("/proxy/contacts?integrated_account_id={acct}&limit=5"))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("ratelimit-limit"), Some("100"));
    assert_eq!(reply.header("ratelimit-remaining"), Some("59"));
    assert_eq!(
        reply.header("ratelimit-reset"),
        Some("10"),
        "10000 ms window → 10 s"
    );
    assert_eq!(
        reply.header("patchbay-connector-version"),
        Some("hubspot@1.0.0#1")
    );
    assert!(reply.header("retry-after").is_none());
}

#[tokio::test]
async fn unified_contacts_and_companies_match_their_schemas() {
    let (host, mock, _server, acct) = Host::with_vendor::<HubSpotMock>().await.into_parts();
    mock.seed(12);
    let (records, pages) = walk_pages(
        &host,
        &format!("/unified/crm/contacts?integrated_account_id={acct}&limit=5"),
    )
    .await;
    assert_eq!((records.len(), pages), (12, 3));
    for r in &records {
        assert_matches_unified_schema("crm.contacts", r);
        assert_eq!(r["id"], r["remote_data"]["id"]);
        assert_eq!(r["email"], r["remote_data"]["properties"]["email"]);
        assert!(r["phone"].is_string(), "unified list asks HubSpot for phone: {r}");
    }
    let asked = mock.requests()[0].query_param("properties").unwrap().to_owned();
    assert!(asked.contains("phone") && asked.contains("company"), "{asked}");

    let lean = host
        .get(&format!(
            "/unified/crm/contacts?integrated_account_id={acct}&remote_data=false"
        ))
        .await;
    assert!(lean.body["result"][0].get("remote_data").is_none());

    let companies = host
        .get(&format!(
            "/unified/crm/companies?integrated_account_id={acct}&limit=100"
        ))
        .await;
    assert_eq!(companies.status, 200, "{}", companies.body);
    assert_eq!(companies.body["result_count"], 12);
    for c in companies.body["result"].as_array().unwrap() {
        assert_matches_unified_schema("crm.companies", c);
        assert!(c["name"].is_string());
    }
}

#[tokio::test]
async fn get_create_and_vendor_404() {
    let (host, mock, _server, acct) = Host::with_vendor::<HubSpotMock>().await.into_parts();
    // Post-install stored the portal id from the Account Information API.
    let account = host.get(&format!("/integrated-accounts/{acct}")).await;
    assert_eq!(account.body["status"], "active");
    assert_eq!(account.body["context"]["portal_id"], 62515);
    mock.seed(3);
    let one = host
        .get(&format!("/proxy/contacts/101?integrated_account_id={acct}"))
        .await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["result"]["id"], "101");

    let unified = host
        .get(&format!("/unified/crm/contacts/102?integrated_account_id={acct}"))
        .await;
    assert_eq!(unified.body["result"]["id"], "102");
    assert_matches_unified_schema("crm.contacts", &unified.body["result"]);

    let missing = host
        .get(&format!("/proxy/contacts/999999?integrated_account_id={acct}"))
        .await;
    let e = missing.error(404, "remote_not_found");
    assert_eq!(e["remote"], true);
    assert_eq!(e["remote_status"], 404);
    assert_eq!(e["remote_body"]["category"], "OBJECT_NOT_FOUND");

    let created = host
        .send(
            Method::POST,
            &format!("/proxy/contacts?integrated_account_id={acct}"),
            &host.admin,
            Some(json!({"properties": {"email": "new@example.com", "firstname": "New"}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["result"]["properties"]["email"], "new@example.com");

    let body = json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"});
    let created = host
        .send(
            Method::POST,
            &format!("/unified/crm/contacts?integrated_account_id={acct}"),
            &host.admin,
            Some(body),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["result"]["first_name"], "Ada");
    assert_matches_unified_schema("crm.contacts", &created.body["result"]);
    let sent = mock.requests().last().unwrap().body.clone().unwrap();
    assert_eq!(
        sent,
        json!({"properties": {"firstname": "Ada", "lastname": "Lovelace", "email": "ada@example.com"}})
    );
}

#[tokio::test]
async fn vendor_429_passes_through_at_once_without_retry() {
    let (host, mock, _server, acct) = Host::with_vendor::<HubSpotMock>().await.into_parts();
    mock.seed(3);
    mock.fail_next(429, 1);
    let reply = host
        .get(&format!("/proxy/contacts?integrated_account_id={acct}"))
        .await;
    let e = reply.error(429, "rate_limited");
    assert_eq!(e["remote_status"], 429);
    assert_eq!(e["remote_body"]["policyName"], "TEN_SECONDLY_ROLLING");
    assert!(e["message"].as_str().unwrap().contains("ten_secondly_rolling"));
    assert_eq!(reply.header("ratelimit-remaining"), Some("0"));
    assert_eq!(reply.header("ratelimit-reset"), Some("10"));
    assert_eq!(
        reply.header("retry-after"),
        Some("10"),
        "no Retry-After from HubSpot: the window length is the best bound"
    );
    assert_eq!(mock.requests().len(), 1, "the host never retries a 429");
}

#[tokio::test]
async fn vendor_auth_failure_server_error_and_timeout() {
    let (host, mock, server, _acct) = Host::with_vendor_options::<HubSpotMock>(HostOptions {
        upstream_timeout: Duration::from_millis(500),
        ..Default::default()
    })
    .await
    .into_parts();
    mock.seed(2);
    // A wrong token fails validation (which runs first), and the account says so.
    let bad = host
        .account(
            "hubspot",
            "t1",
            json!({"access_token": "wrong"}),
            json!({}),
            &server.base_url(),
        )
        .await;
    let shown = host.get(&format!("/integrated-accounts/{bad}")).await;
    assert_eq!(shown.body["status"], "validation_error", "{}", shown.body);
    assert_eq!(shown.body["status_detail"]["step"], "list_contacts");
    let message = shown.body["status_detail"]["message"].as_str().unwrap();
    assert!(
        message.contains("remote_unauthorized") && message.contains("401"),
        "{message}"
    );
    host.get(&format!("/proxy/contacts?integrated_account_id={bad}"))
        .await
        .error(409, "account_not_active");

    let acct = host
        .account(
            "hubspot",
            "t1",
            json!({"access_token": TOKEN}),
            json!({}),
            &server.base_url(),
        )
        .await;
    mock.fail_next(503, 1);
    host.get(&format!("/proxy/contacts?integrated_account_id={acct}"))
        .await
        .error(502, "remote_server_error");

    mock.set_delay(Duration::from_secs(3));
    let started = std::time::Instant::now();
    let reply = host
        .get(&format!("/proxy/contacts?integrated_account_id={acct}"))
        .await;
    reply.error(504, "remote_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the deadline cut the call short"
    );
}

#[tokio::test]
async fn unreachable_vendor() {
    let (host, _mock, server, acct) = Host::with_vendor::<HubSpotMock>().await.into_parts();
    // The vendor goes away after the account connected: nothing listens there any more.
    drop(server);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reply = host
        .get(&format!("/proxy/contacts?integrated_account_id={acct}"))
        .await;
    let e = reply.error(502, "remote_unreachable");
    assert_eq!(e["remote"], true);
    assert!(!e["message"].as_str().unwrap().contains(TOKEN));
}

/// `--http-threads`: the API served by two threads of its own (each its own runtime and vendor
/// connections) answers concurrent proxied and unified calls, and the host still stops cleanly.
#[tokio::test]
async fn a_host_serving_on_threads_of_its_own_answers_and_stops() {
    let options = HostOptions {
        tweak: Some(|c| c.http_threads = 2),
        ..Default::default()
    };
    let (host, mock, _server, acct) = Host::with_vendor_options::<HubSpotMock>(options)
        .await
        .into_parts();
    mock.seed(30);
    let paths: Vec<String> = (0..32)
        .map(|i| match i % 3 {
            0 => format!("/proxy/contacts?integrated_account_id={acct}&limit=10"),
            1 => format!("/unified/crm/contacts?integrated_account_id={acct}&limit=10"),
            _ => format!("/proxy/contacts/{}?integrated_account_id={acct}", 101 + i),
        })
        .collect();
    let replies = futures::future::join_all(paths.iter().map(|p| host.get(p))).await;
    for (path, reply) in paths.iter().zip(&replies) {
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        match reply.body["result"].as_array() {
            Some(records) => assert_eq!(records.len(), 10, "{path}"),
            None => assert!(reply.body["result"]["id"].is_string(), "{path}: {}", reply.body),
        }
    }
    assert_eq!(mock.requests().len(), 32, "every call reached the vendor once");
    let threads = api_threads();
    assert_eq!(
        threads,
        ["patchbay-http-0", "patchbay-http-1"],
        "served by threads of its own"
    );
    host.stop().await;
    assert!(api_threads().is_empty(), "the API threads end with the host");
}

/// The names of this process's API threads (`--http-threads`; Linux's `/proc`). Other tests'
/// hosts in this process serve on their caller's runtime, so any such thread is this test's.
fn api_threads() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .filter(|n| n.starts_with("patchbay-http-"))
        .collect();
    names.sort();
    names
}
