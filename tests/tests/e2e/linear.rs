//! Linear end to end through its Wasm component: GraphQL behind plain REST resources and the
//! unified `ticketing/tickets` model, cursor pagination through `pageInfo`, GraphQL errors in 200
//! and 400 bodies, and rate limits with epoch-millisecond resets.

use std::collections::HashSet;

use patchbay_tests::mocks::LinearMock;
use patchbay_tests::{Host, Vendor, assert_matches_unified_schema, walk_pages};
use reqwest::Method;
use serde_json::{Value, json};

const KEY: &str = <LinearMock as Vendor>::TOKEN;

fn graphql(body: &Option<Value>) -> Value {
    body.clone().expect("the component sent a JSON body")
}

#[tokio::test]
async fn issues_page_through_pageinfo_cursors() {
    let (host, mock, _server, acct) = Host::with_vendor::<LinearMock>().await.into_parts();
    mock.seed(120);
    let (records, pages) = walk_pages(
        &host,
        &format!("/proxy/issues?integrated_account_id={acct}&limit=50"),
    )
    .await;
    assert_eq!((records.len(), pages), (120, 3));
    let ids: HashSet<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 120, "no issue twice");

    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/graphql"));
        // The component never sees the key: the host adds it as the manifest's auth says.
        assert_eq!(r.header("authorization"), Some(KEY));
    }
    let first = graphql(&requests[0].body);
    assert!(
        first["query"]
            .as_str()
            .unwrap()
            .contains("issues(first: $first, after: $after)")
    );
    assert_eq!(first["variables"], json!({"first": 50, "after": null}));
    let second = graphql(&requests[1].body);
    assert!(
        second["variables"]["after"].is_string(),
        "the end cursor goes back as `after`"
    );

    let page = host
        .get(&format!("/proxy/issues?integrated_account_id={acct}&limit=10"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("patchbay-connector-version"), Some("linear@1.0.0#1"));
    assert!(
        page.header("ratelimit-limit").is_some(),
        "Linear's budgets become IETF headers"
    );
    let reset: u64 = page.header("ratelimit-reset").unwrap().parse().unwrap();
    assert!(
        (1..=3600).contains(&reset),
        "epoch-ms resets become delta seconds, got {reset}"
    );

    let teams = host
        .get(&format!("/proxy/teams?integrated_account_id={acct}"))
        .await;
    assert_eq!(teams.body["result_count"], 2, "{}", teams.body);
}

#[tokio::test]
async fn unified_tickets_read_and_write() {
    let (host, mock, _server, acct) = Host::with_vendor::<LinearMock>().await.into_parts();
    mock.seed(30);
    let (records, _) = walk_pages(
        &host,
        &format!("/unified/ticketing/tickets?integrated_account_id={acct}&limit=25"),
    )
    .await;
    assert_eq!(records.len(), 30);
    for r in &records {
        assert_matches_unified_schema("ticketing.tickets", r);
        assert_eq!(r["id"], r["remote_data"]["id"]);
        assert_eq!(r["title"], r["remote_data"]["title"]);
        assert_eq!(r["status"], r["remote_data"]["state"]["name"]);
    }
    assert!(
        records
            .iter()
            .any(|r| !r["labels"].as_array().unwrap().is_empty())
    );
    assert!(
        records
            .iter()
            .any(|r| !r["assignees"].as_array().unwrap().is_empty())
    );

    let id = records[3]["id"].as_str().unwrap();
    let one = host
        .get(&format!(
            "/unified/ticketing/tickets/{id}?integrated_account_id={acct}"
        ))
        .await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["result"]["id"], id);

    let team = records[0]["remote_data"]["team"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = host
        .send(
            Method::POST,
            &format!("/unified/ticketing/tickets?integrated_account_id={acct}"),
            &host.admin,
            Some(json!({"title": "Checkout fails on Safari", "description": "Steps…", "team_id": team})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["result"]["title"], "Checkout fails on Safari");
    let sent = graphql(&mock.requests().last().unwrap().body);
    assert!(
        sent["query"]
            .as_str()
            .unwrap()
            .starts_with("mutation IssueCreate")
    );
    assert_eq!(
        sent["variables"]["input"],
        json!({"title": "Checkout fails on Safari", "description": "Steps…", "teamId": team}),
        "map_back turns the unified body into Linear's input"
    );

    let new_id = created.body["result"]["id"].as_str().unwrap();
    let updated = host
        .send(
            Method::PATCH,
            &format!("/unified/ticketing/tickets/{new_id}?integrated_account_id={acct}"),
            &host.admin,
            Some(json!({"title": "Checkout fails on Safari 17"})),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["result"]["title"], "Checkout fails on Safari 17");

    let no_team = host
        .send(
            Method::POST,
            &format!("/unified/ticketing/tickets?integrated_account_id={acct}"),
            &host.admin,
            Some(json!({"title": "orphan"})),
        )
        .await;
    let e = no_team.error(400, "invalid_request");
    assert!(e["message"].as_str().unwrap().contains("team_id"), "{e}");
}

#[tokio::test]
async fn graphql_errors_are_classified() {
    let (host, mock, _server, acct) = Host::with_vendor::<LinearMock>().await.into_parts();
    mock.seed(3);

    // Entity not found comes in a 200 body.
    let missing = host
        .get(&format!("/proxy/issues/nope?integrated_account_id={acct}"))
        .await;
    let e = missing.error(404, "remote_not_found");
    assert_eq!(e["remote_status"], 200, "{e}");
    assert!(e["message"].as_str().unwrap().contains("Entity not found"), "{e}");

    // RATELIMITED (in a 400, and in a 200 body) passes through as a 429 with IETF headers.
    for status in [400, 200] {
        mock.ratelimit_status(status);
        mock.set_rate_limit(1500, 0);
        let limited = host
            .get(&format!("/proxy/issues?integrated_account_id={acct}"))
            .await;
        let e = limited.error(429, "rate_limited");
        assert_eq!(e["remote_status"], status, "{e}");
        assert_eq!(limited.header("ratelimit-remaining"), Some("0"));
        let retry: u64 = limited
            .header("retry-after")
            .expect("retry-after")
            .parse()
            .unwrap();
        assert!(retry >= 1, "{retry}");
    }
    mock.set_rate_limit(1500, 1500);
    assert_eq!(mock.requests().len(), 3, "a 429 is never retried by the host");

    // A rejected key: remote_unauthorized, and the account needs reauthorization.
    mock.fail_next(401, 1);
    let denied = host
        .get(&format!("/proxy/issues?integrated_account_id={acct}"))
        .await;
    denied.error(401, "remote_unauthorized");
    let account = host.get(&format!("/integrated-accounts/{acct}")).await;
    assert_eq!(account.body["status"], "needs_reauth", "{}", account.body);
}
