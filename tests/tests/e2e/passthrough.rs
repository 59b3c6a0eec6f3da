//! `/passthrough/{account}/{path}` through a real host: vendors' official SDKs (the `stripe` and
//! `hubspot-api-client` packages from PyPI) pointed at it against the Stripe and HubSpot
//! simulations, and the route's guarantees checked over raw HTTP: credentials replaced,
//! hop-by-hop headers dropped, `ratelimit-*` added, 429 passed through once, no way out of the
//! account's API root, tenants isolated, a refused credential moving the account.

use patchbay_tests::mocks::{HubSpotMock, MockServer, StripeMock};
use patchbay_tests::{Host, Reply};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const STRIPE_KEY: &str = "sk_test_51VendorSideKeyOnly";
const HUBSPOT_TOKEN: &str = "pat-na1-vendor-side-token";

/// Runs one phase of `tests/sdks/passthrough.py` and returns what the SDK saw.
fn sdk(phase: &str, input: &Value) -> Value {
    let what = format!("SDK phase {phase} failed");
    let out = patchbay_tests::run_python("sdks/passthrough.py", &[phase], input, &what);
    serde_json::from_str(&out).expect("the script prints JSON")
}

/// The SDK ran in a blocking child process: keep the runtime free for the host and mocks.
async fn sdk_async(phase: &'static str, input: Value) -> Value {
    tokio::task::spawn_blocking(move || sdk(phase, &input))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_work_through_the_passthrough_route() {
    let stripe = StripeMock::new(STRIPE_KEY);
    stripe.seed(3);
    let stripe_server = MockServer::spawn(stripe.router()).await;
    let hubspot = HubSpotMock::new(HUBSPOT_TOKEN);
    hubspot.seed(5);
    let hubspot_server = MockServer::spawn(hubspot.router()).await;
    let host = Host::start().await;
    let stripe_account = host
        .account(
            "stripe",
            "t1",
            json!({"secret_key": STRIPE_KEY}),
            json!({}),
            &format!("{}/v1", stripe_server.base_url()),
        )
        .await;
    let hubspot_account = host
        .account(
            "hubspot",
            "t1",
            json!({"access_token": HUBSPOT_TOKEN}),
            json!({}),
            &hubspot_server.base_url(),
        )
        .await;
    assert_eq!(host.status(&stripe_account).await, "active");
    assert_eq!(host.status(&hubspot_account).await, "active");
    let token = host.tenant_token("t1").await;
    let input = json!({"host": host.url, "token": token,
        "stripe_account": stripe_account, "hubspot_account": hubspot_account});
    stripe.clear_requests();
    hubspot.clear_requests();

    // Stripe: form-encoded create with an idempotency key (replayed), list pages, a 404.
    let seen = sdk_async("stripe", input.clone()).await;
    let created = seen["created"].as_str().unwrap();
    let listed: Vec<&str> = seen["listed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        listed.len(),
        4,
        "3 seeded + 1 created (the replay made none): {seen}"
    );
    assert_eq!(listed[0], created, "newest first");
    assert_eq!(
        seen["missing"],
        json!({"status": 404, "code": "resource_missing"})
    );
    let requests = stripe.requests();
    let posts: Vec<_> = requests.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 2, "{requests:?}");
    for post in &posts {
        assert_eq!(post.path, "/v1/customers");
        assert_eq!(post.header("idempotency-key"), Some("sdk-idem-1"));
        assert_eq!(
            post.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
    }
    assert!(
        posts[0]
            .body
            .as_ref()
            .and_then(Value::as_str)
            .is_some_and(|b| b.contains("metadata[plan]=pro") || b.contains("metadata%5Bplan%5D=pro")),
        "the form body arrives as the SDK wrote it: {:?}",
        posts[0].body
    );
    for r in &requests {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {STRIPE_KEY}").as_str()),
            "the account's key replaces the caller's"
        );
        assert!(r.header("stripe-version").is_some(), "the SDK's own headers pass");
        assert!(
            !r.headers.iter().any(|(_, v)| v.contains(&token)),
            "Patchbay's token never reaches the vendor: {r:?}"
        );
    }

    // A vendor 429 reaches the SDK as Stripe's own RateLimitError, sent once.
    stripe.clear_requests();
    stripe.fail_next(429, 1);
    let throttled = sdk_async("stripe-throttled", input.clone()).await;
    assert_eq!(throttled["status"], 429, "{throttled}");
    assert_eq!(throttled["code"], "rate_limit", "{throttled}");
    assert_eq!(stripe.requests().len(), 1, "a 429 is never retried");

    // HubSpot: cursor pages (get_all), create, get by id with properties, a 404.
    let seen = sdk_async("hubspot", input).await;
    assert_eq!(seen["listed"], 5, "{seen}");
    assert_eq!(seen["missing"], 404, "{seen}");
    let requests = hubspot.requests();
    // get_page, get_all (one page of 100), create, get_by_id, the missing one.
    let methods: Vec<&str> = requests.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["GET", "GET", "POST", "GET", "GET"], "{requests:?}");
    for r in &requests {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {HUBSPOT_TOKEN}").as_str())
        );
        assert!(r.path.starts_with("/crm/v3/objects/contacts"), "{}", r.path);
    }
    let _ = (stripe_server, hubspot_server);
}

/// Sends `raw_target` as it is (clients normalize `..` and `%2e%2e` away before sending).
async fn raw_get(host: &Host, raw_target: &str, token: &str) -> (u16, String) {
    let addr = host.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {raw_target} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer)
}

#[tokio::test]
async fn passthrough_replaces_credentials_and_cannot_leave_the_accounts_api_root() {
    let hubspot = HubSpotMock::new(HUBSPOT_TOKEN);
    hubspot.seed(3);
    let server = MockServer::spawn(hubspot.router()).await;
    let host = Host::start().await;
    let id = host
        .account(
            "hubspot",
            "t1",
            json!({"access_token": HUBSPOT_TOKEN}),
            json!({}),
            &server.base_url(),
        )
        .await;
    let token = host.tenant_token("t1").await;
    hubspot.clear_requests();

    // The vendor's answer as it is, with the IETF rate-limit headers added.
    let r = host
        .req(
            Method::GET,
            &format!("/passthrough/{id}/crm/v3/objects/contacts?limit=2&properties=email"),
            &token,
        )
        .header("connection", "x-drop-me")
        .header("x-drop-me", "1")
        .header("x-keep-me", "1")
        .send()
        .await
        .unwrap();
    let reply = Reply::from(r).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["results"].as_array().unwrap().len(),
        2,
        "{}",
        reply.body
    );
    assert!(
        reply.body["paging"]["next"]["after"].is_string(),
        "HubSpot's own paging"
    );
    assert_eq!(reply.header("ratelimit-limit"), Some("100"));
    assert!(reply.header("ratelimit-remaining").is_some());
    assert!(
        reply.header("x-hubspot-ratelimit-max").is_some(),
        "vendor headers pass"
    );
    assert!(reply.header("patchbay-connector-version").is_some());
    let sent = hubspot.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/crm/v3/objects/contacts");
    assert_eq!(sent[0].query_param("properties"), Some("email"));
    assert_eq!(sent[0].header("x-keep-me"), Some("1"));
    assert_eq!(
        sent[0].header("x-drop-me"),
        None,
        "named by Connection: hop-by-hop"
    );
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("Bearer {HUBSPOT_TOKEN}").as_str())
    );

    // Out of the root: refused before anything is sent.
    hubspot.clear_requests();
    for target in [
        format!("/passthrough/{id}/crm/../../admin"),
        format!("/passthrough/{id}/crm/%2e%2e/%2E%2E/admin"),
        format!("/passthrough/{id}//evil.example/x"),
        format!("/passthrough/{id}/x%5c..%5cadmin"),
    ] {
        let (status, answer) = raw_get(&host, &target, &token).await;
        assert_eq!(status, 400, "{target}: {answer}");
        assert!(answer.contains("invalid_request"), "{answer}");
    }
    assert!(hubspot.requests().is_empty(), "nothing left the host");

    // Tenants: another tenant's token does not see the account; no token, no call.
    let other = host.tenant_token("t2").await;
    let path = format!("/passthrough/{id}/crm/v3/objects/contacts");
    host.send(Method::GET, &path, &other, None)
        .await
        .error(404, "not_found");
    let anonymous = Reply::from(host.http.get(format!("{}{path}", host.url)).send().await.unwrap()).await;
    anonymous.error(401, "unauthenticated");
    assert!(hubspot.requests().is_empty());

    // A vendor 429: passed through once, HubSpot's body, with the normalized headers.
    hubspot.fail_next(429, 1);
    let throttled = host.send(Method::GET, &path, &token, None).await;
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert_eq!(throttled.body["errorType"], "RATE_LIMIT", "{}", throttled.body);
    assert_eq!(throttled.header("ratelimit-remaining"), Some("0"));
    assert_eq!(hubspot.requests().len(), 1, "never retried");

    // Any method, the body as sent.
    let created = host
        .send(
            Method::POST,
            &path,
            &token,
            Some(json!({"properties": {"email": "new@example.com"}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["properties"]["email"], "new@example.com");

    // A refused credential: the 401 is the vendor's, and the account needs reauth.
    hubspot.fail_next(401, 1);
    let refused = host.send(Method::GET, &path, &token, None).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(host.status(&id).await, "needs_reauth");
    host.send(Method::GET, &path, &token, None)
        .await
        .error(409, "account_not_active");
    let _ = server;
}
