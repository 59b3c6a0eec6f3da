//! Pipedrive end to end: offset pagination from `additional_data.pagination`, `api_token` query
//! auth, `x-ratelimit-*` with a delta-seconds reset.

use std::collections::HashSet;

use patchbay_tests::mocks::PipedriveMock;
use patchbay_tests::{Host, Vendor, assert_matches_unified_schema, walk_pages};
use serde_json::json;

const TOKEN: &str = <PipedriveMock as Vendor>::TOKEN;

#[tokio::test]
async fn offset_pagination_and_query_auth() {
    let (host, mock, _server, acct) = Host::with_vendor::<PipedriveMock>().await.into_parts();
    mock.seed(250);
    let (records, pages) = walk_pages(
        &host,
        &format!("/proxy/persons?integrated_account_id={acct}&limit=100"),
    )
    .await;
    assert_eq!((records.len(), pages), (250, 3));
    let ids: HashSet<u64> = records.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 250);
    let starts: Vec<Option<String>> = mock
        .requests()
        .iter()
        .map(|r| r.query_param("start").map(str::to_owned))
        .collect();
    assert_eq!(starts, vec![None, Some("100".into()), Some("200".into())]);
    assert!(
        mock.requests()
            .iter()
            .all(|r| r.query_param("api_token") == Some(TOKEN))
    );

    let reply = host
        .get(&format!("/proxy/persons?integrated_account_id={acct}&limit=1"))
        .await;
    assert_eq!(reply.header("ratelimit-limit"), Some("40"));
    assert_eq!(reply.header("ratelimit-reset"), Some("2"));
}

#[tokio::test]
async fn unified_contacts_from_persons() {
    let (host, mock, _server, acct) = Host::with_vendor::<PipedriveMock>().await.into_parts();
    mock.seed(8);
    let reply = host
        .get(&format!("/unified/crm/contacts?integrated_account_id={acct}"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let records = reply.body["result"].as_array().unwrap();
    assert_eq!(records.len(), 8);
    for r in records {
        assert_matches_unified_schema("crm.contacts", r);
        assert_eq!(r["id"], r["remote_data"]["id"].to_string());
        let primary = r["remote_data"]["email"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["primary"] == true)
            .unwrap();
        assert_eq!(r["email"], primary["value"]);
        assert!(r["created_at"].as_str().unwrap().ends_with('Z'));
    }
    let body = json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"});
    let created = host
        .send(
            reqwest::Method::POST,
            &format!("/unified/crm/contacts?integrated_account_id={acct}"),
            &host.admin,
            Some(body),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["result"]["email"], "grace@example.com");
    let sent = mock.requests().last().unwrap().body.clone().unwrap();
    assert_eq!(sent["name"], "Grace Hopper");
}

#[tokio::test]
async fn vendor_errors_map_to_the_taxonomy() {
    let (host, mock, server, acct) = Host::with_vendor::<PipedriveMock>().await.into_parts();
    mock.seed(2);
    let missing = host
        .get(&format!("/proxy/persons/4242?integrated_account_id={acct}"))
        .await;
    let e = missing.error(404, "remote_not_found");
    assert_eq!(e["message"], "Person not found");

    mock.fail_next(429, 1);
    let limited = host
        .get(&format!("/proxy/persons?integrated_account_id={acct}"))
        .await;
    limited.error(429, "rate_limited");
    assert_eq!(limited.header("retry-after"), Some("2"));
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));

    let base = format!("{}/api/v1", server.base_url());
    let bad = host
        .account(
            "pipedrive",
            "t1",
            json!({"api_token": "nope"}),
            json!({"company_domain": "acme"}),
            &base,
        )
        .await;
    // PUT reaches `update` (Pipedrive has no separate `replace`); DELETE reaches `delete`; a POST
    // to an unknown custom method is a 404 that never reaches the vendor.
    let put = host
        .send(
            reqwest::Method::PUT,
            &format!("/proxy/persons/1?integrated_account_id={acct}"),
            &host.admin,
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["result"]["name"], "Renamed");
    let last = mock.requests().last().cloned().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("PUT", "/api/v1/persons/1")
    );
    let del = host
        .send(
            reqwest::Method::DELETE,
            &format!("/proxy/persons/2?integrated_account_id={acct}"),
            &host.admin,
            None,
        )
        .await;
    assert_eq!(del.status, 200, "{}", del.body);
    let seen = mock.requests().len();
    host.send(
        reqwest::Method::POST,
        &format!("/proxy/persons/merge?integrated_account_id={acct}"),
        &host.admin,
        Some(json!({})),
    )
    .await
    .error(404, "not_found");
    assert_eq!(mock.requests().len(), seen);

    // A wrong API token fails validation, with Pipedrive's own message on the account.
    let shown = host.get(&format!("/integrated-accounts/{bad}")).await;
    assert_eq!(shown.body["status"], "validation_error", "{}", shown.body);
    assert_eq!(shown.body["status_detail"]["step"], "list_persons");
    assert!(
        shown.body["status_detail"]["message"]
            .as_str()
            .unwrap()
            .contains("unauthorized access")
    );

    // A valid account whose key is revoked later: the data call answers 401 and the account
    // moves to needs_reauth (an API key has no refresh path).
    mock.fail_next(401, 1);
    let denied = host
        .get(&format!("/proxy/persons?integrated_account_id={acct}"))
        .await;
    let e = denied.error(401, "remote_unauthorized");
    assert_eq!(e["message"], "unauthorized access");
    let shown = host.get(&format!("/integrated-accounts/{acct}")).await;
    assert_eq!(shown.body["status"], "needs_reauth");

    // New credentials reconnect it: :updated, validation, then :reactivated.
    let patched = host
        .send(
            reqwest::Method::PATCH,
            &format!("/integrated-accounts/{acct}"),
            &host.admin,
            Some(json!({"credentials": {"api_token": TOKEN}})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["status"], "active");
    let events = host.get(&format!("/integrated-accounts/{acct}/events")).await;
    let names: Vec<&str> = events.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "integrated_account:created",
            "integrated_account:active",
            "integrated_account:needs_reauth",
            "integrated_account:updated",
            "integrated_account:reactivated"
        ]
    );

    let no_name = host
        .send(
            reqwest::Method::POST,
            &format!("/proxy/persons?integrated_account_id={acct}"),
            &host.admin,
            Some(json!({"email": "x@y.z"})),
        )
        .await;
    no_name.error(400, "remote_invalid_request");
}
