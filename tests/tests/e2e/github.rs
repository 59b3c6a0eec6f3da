//! GitHub end to end: RFC 8288 link-header pagination, `x-ratelimit-*` with epoch-second resets,
//! primary and secondary rate limits (403/429) told apart from plain 403s.

use std::collections::HashSet;

use patchbay_tests::mocks::GitHubMock;
use patchbay_tests::{Host, assert_matches_unified_schema, walk_pages};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn link_header_pagination_through_proxy() {
    let (host, mock, _server, acct) = Host::with_vendor::<GitHubMock>().await.into_parts();
    mock.seed(75);
    let (records, pages) = walk_pages(
        &host,
        &format!("/proxy/issues?integrated_account_id={acct}&limit=20&state=all"),
    )
    .await;
    assert_eq!((records.len(), pages), (75, 4));
    let numbers: HashSet<u64> = records.iter().map(|r| r["number"].as_u64().unwrap()).collect();
    assert_eq!(numbers.len(), 75);
    let requests = mock.requests();
    assert!(requests.iter().all(|r| r.path == "/repos/octo/hello/issues"));
    assert!(
        requests.iter().all(|r| r.query_param("state") == Some("all")),
        "pass-through survives the link URLs"
    );
    assert_eq!(requests[3].query_param("page"), Some("4"));
}

#[tokio::test]
async fn unified_tickets() {
    let (host, mock, _server, acct) = Host::with_vendor::<GitHubMock>().await.into_parts();
    mock.seed(30);
    let (records, _) = walk_pages(
        &host,
        &format!("/unified/ticketing/tickets?integrated_account_id={acct}&status=all&limit=50"),
    )
    .await;
    assert_eq!(records.len(), 30);
    for r in &records {
        assert_matches_unified_schema("ticketing.tickets", r);
        assert_eq!(r["id"], r["remote_data"]["number"].to_string());
        let pr = r["remote_data"].get("pull_request").is_some();
        assert_eq!(r["type"], if pr { "pull_request" } else { "issue" });
    }
    assert!(records.iter().any(|r| r["status"] == "closed"));
    assert_eq!(
        mock.requests()[0].query_param("state"),
        Some("all"),
        "status maps to GitHub's state"
    );

    let one = host
        .get(&format!(
            "/unified/ticketing/tickets/7?integrated_account_id={acct}"
        ))
        .await;
    assert_eq!(one.body["result"]["id"], "7");

    let created = host
        .send(
            Method::POST,
            &format!("/unified/ticketing/tickets?integrated_account_id={acct}"),
            &host.admin,
            Some(json!({"title": "Broken", "labels": ["bug"]})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["result"]["labels"], json!(["bug"]));
    let invalid = host
        .send(
            Method::POST,
            &format!("/proxy/issues?integrated_account_id={acct}"),
            &host.admin,
            Some(json!({"body": "no title"})),
        )
        .await;
    let e = invalid.error(400, "remote_invalid_request");
    assert_eq!(e["remote_status"], 422);
}

#[tokio::test]
async fn primary_and_secondary_limits_are_rate_limited_plain_403_is_not() {
    let (host, mock, _server, acct) = Host::with_vendor::<GitHubMock>().await.into_parts();
    mock.seed(3);
    let list = format!("/proxy/issues?integrated_account_id={acct}");

    let ok = host.get(&list).await;
    assert_eq!(ok.header("ratelimit-limit"), Some("5000"));
    let reset: u64 = ok.header("ratelimit-reset").unwrap().parse().unwrap();
    assert!(
        (3500..=3600).contains(&reset),
        "epoch seconds became delta seconds: {reset}"
    );

    mock.fail_next(403, 1);
    let primary = host.get(&list).await;
    primary.error(429, "rate_limited");
    assert_eq!(primary.header("ratelimit-remaining"), Some("0"));
    let retry: u64 = primary.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (3500..=3600).contains(&retry),
        "without Retry-After, wait for the reset: {retry}"
    );

    mock.secondary_limit_next(1, 60);
    let secondary = host.get(&list).await;
    secondary.error(429, "rate_limited");
    assert_eq!(secondary.header("retry-after"), Some("60"));

    mock.fail_next(429, 1);
    host.get(&list).await.error(429, "rate_limited");

    mock.forbid_next(1);
    let forbidden = host.get(&list).await;
    let e = forbidden.error(403, "remote_forbidden");
    assert_eq!(e["message"], "Resource not accessible by integration");
    assert!(forbidden.header("retry-after").is_none());
}
