//! Account lifecycle and token refresh against the project's own OAuth provider mock, for what an
//! off-the-shelf server cannot do: rotating single-use refresh tokens with reuse detection,
//! missing `expires_in`, `invalid_grant`, 5xx and timeouts at the token endpoint, short lifetimes,
//! tokens that die before the database expects.

use std::sync::Arc;
use std::time::Duration;

use patchbay::config::RefreshConfig;
use patchbay_tests::mocks::{MockServer, OAuthProviderMock};
use patchbay_tests::{
    Host, HostOptions, copy_connectors, run_authorization, sample, scratch_dir, write_acme_connector,
};
use reqwest::Method;
use serde_json::{Value, json};

struct Setup {
    host: Host,
    provider: OAuthProviderMock,
    _server: MockServer,
}

/// A host with the `acme` OAuth connector pointing at a fresh provider mock.
async fn setup(default_expires_in: Option<u64>, refresh: RefreshConfig, upstream_timeout: Duration) -> Setup {
    acme_setup(
        "acme",
        default_expires_in,
        HostOptions {
            refresh,
            upstream_timeout,
            // The product's receiver listens on loopback.
            tweak: Some(|c| c.webhooks.allow_private_targets = true),
            ..Default::default()
        },
    )
    .await
}

/// A host with the `acme` OAuth connector and its app set, configured by `tweak`.
async fn acme_host(label: &str, tweak: fn(&mut patchbay::Config)) -> Setup {
    acme_setup(
        label,
        None,
        HostOptions {
            tweak: Some(tweak),
            ..Default::default()
        },
    )
    .await
}

/// The `acme` connector (its manifest's `default_expires_in`, if given) against a fresh provider
/// mock, on a host started with `options`, its OAuth app set.
async fn acme_setup(label: &str, default_expires_in: Option<u64>, options: HostOptions) -> Setup {
    let provider = OAuthProviderMock::new("patchbay", "provider-secret");
    let server = MockServer::spawn(provider.router()).await;
    let dir = scratch_dir(label);
    copy_connectors(&dir);
    write_acme_connector(&dir, &server.base_url(), default_expires_in);
    let host = Host::start_with(HostOptions {
        connectors: Some(dir),
        private_vendors: true,
        ..options
    })
    .await;
    host.put_oauth_app(
        "acme",
        json!({"client_id": "patchbay", "client_secret": "provider-secret"}),
    )
    .await;
    Setup {
        host,
        provider,
        _server: server,
    }
}

async fn default_setup() -> Setup {
    setup(None, RefreshConfig::default(), Duration::from_secs(10)).await
}

/// Runs the authorization-code flow; returns the product redirect's query.
async fn connect(host: &Host, account: Option<&str>) -> Vec<(String, String)> {
    let mut body = json!({"tenant_id": "t1", "redirect_uri": "https://product.example/connected"});
    if let Some(id) = account {
        body["integrated_account_id"] = json!(id);
    }
    let started = host
        .send(Method::POST, "/connect/acme", &host.admin.clone(), Some(body))
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    run_authorization(started.body["authorize_url"].as_str().unwrap()).await
}

fn param(q: &[(String, String)], k: &str) -> Option<String> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

async fn connect_active(host: &Host) -> String {
    let back = connect(host, None).await;
    assert_eq!(param(&back, "status").as_deref(), Some("active"), "{back:?}");
    param(&back, "integrated_account_id").unwrap()
}

#[tokio::test]
async fn connect_deny_and_reconnect_keep_one_account() {
    let s = default_setup().await;
    s.provider.deny_next_authorization();
    let denied = connect(&s.host, None).await;
    assert_eq!(
        param(&denied, "error").as_deref(),
        Some("access_denied"),
        "{denied:?}"
    );
    assert_eq!(
        s.host.get("/integrated-accounts?connector=acme").await.body["result_count"],
        0
    );

    let id = connect_active(&s.host).await;
    let a = s.host.account_view(&id).await;
    assert_eq!(
        a["context"]["workspace_id"], "ws_42",
        "post-install stored the workspace"
    );
    assert_eq!(
        s.host.events(&id).await,
        ["integrated_account:created", "integrated_account:active"]
    );

    let again = connect(&s.host, Some(&id)).await;
    assert_eq!(
        param(&again, "integrated_account_id").as_deref(),
        Some(id.as_str())
    );
    assert_eq!(param(&again, "status").as_deref(), Some("active"));
    assert_eq!(
        s.host.events(&id).await,
        [
            "integrated_account:created",
            "integrated_account:active",
            "integrated_account:updated",
            "integrated_account:active"
        ]
    );
    let outbox = s.host.app.store.outbox_pending(100).await.unwrap();
    assert_eq!(outbox.len(), 4, "every transition produced an outbox event");
    assert!(
        outbox
            .iter()
            .all(|e| e["integrated_account_id"] == id.as_str() && e["tenant_id"] == "t1")
    );
}

#[tokio::test]
async fn needs_reauth_reaches_the_product_as_a_signed_webhook() {
    let s = default_setup().await;
    let product = patchbay_tests::receiver::Receiver::start().await;
    let created = s
        .host
        .admin_send(
            Method::POST,
            "/webhook-endpoints",
            Some(json!({"url": product.url, "events": ["integrated_account:needs_reauth"]})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    product.set_secret(created.body["secret"].as_str().unwrap());
    let id = connect_active(&s.host).await;
    // The refresh tests' failing token endpoint: invalid_grant.
    s.provider.fail_token_next(400, 1);
    s.host.refresh(&id).await.error(401, "remote_unauthorized");
    let got = product
        .wait_until(Duration::from_secs(10), |d| !d.is_empty())
        .await;
    assert_eq!(got.len(), 1, "only the filtered event: {got:?}");
    let d = &got[0];
    assert!(d.valid, "Standard Webhooks signature verifies");
    assert_eq!(d.body["type"], "integrated_account:needs_reauth");
    assert_eq!(d.body["data"]["integrated_account_id"], id.as_str());
    assert_eq!(d.body["data"]["status"], "needs_reauth");
    assert_eq!(d.body["data"]["previous_status"], "active");
    assert_eq!(d.body["data"]["tenant_id"], "t1");
}

#[tokio::test]
async fn short_lived_rotating_tokens_are_refreshed_ahead_of_use() {
    let refresh = RefreshConfig {
        tick: Duration::from_millis(200),
        ..Default::default()
    };
    let s = setup(None, refresh, Duration::from_secs(10)).await;
    s.provider.set_lifetime(4);
    let id = connect_active(&s.host).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(12);
    let mut calls = 0;
    while std::time::Instant::now() < deadline {
        let r = s
            .host
            .get(&format!("/proxy/me/x?integrated_account_id={id}"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        calls += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let stats = s.provider.stats();
    assert!(stats.refreshes >= 3, "tokens were refreshed ({stats:?})");
    assert_eq!(stats.refresh_token_reuse, 0, "{stats:?}");
    assert_eq!(stats.expired_token_uses, 0, "{stats:?}");
    assert_eq!(s.host.account_view(&id).await["status"], "active");
    println!("{calls} calls over 12 s with 4 s tokens: {stats:?}");
}

#[tokio::test]
async fn missing_expires_in_uses_the_manifest_default() {
    let s = setup(Some(120), RefreshConfig::default(), Duration::from_secs(10)).await;
    s.provider.omit_expires_in(true);
    let id = connect_active(&s.host).await;
    let row = s.host.app.store.account(&id).await.unwrap().unwrap();
    let lifetime = row.token_expires_at.unwrap() - row.token_obtained_at.unwrap();
    assert_eq!(lifetime, 120_000);
}

#[tokio::test]
async fn invalid_grant_is_needs_reauth_at_once_and_reconnect_reactivates() {
    let s = default_setup().await;
    let id = connect_active(&s.host).await;
    s.provider.fail_token_next(400, 1);
    let forced = s.host.refresh(&id).await;
    forced.error(401, "remote_unauthorized");
    let a = s.host.account_view(&id).await;
    assert_eq!(a["status"], "needs_reauth");
    assert_eq!(a["status_detail"]["phase"], "refresh");
    assert!(
        a["status_detail"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid_grant")
    );
    s.host
        .get(&format!("/proxy/me/x?integrated_account_id={id}"))
        .await
        .error(409, "account_not_active");

    // needs_reauth -> active: the operator's refresh works again (the refresh token is intact).
    let forced = s.host.refresh(&id).await;
    assert_eq!(forced.status, 200, "{}", forced.body);
    assert_eq!(forced.body["status"], "active");
    assert_eq!(
        s.host.events(&id).await.last().unwrap(),
        "integrated_account:reactivated"
    );
    s.provider.fail_token_next(401, 1);
    s.host.refresh(&id).await.error(401, "remote_unauthorized");

    let back = connect(&s.host, Some(&id)).await;
    assert_eq!(param(&back, "status").as_deref(), Some("active"));
    let names = s.host.events(&id).await;
    assert_eq!(
        names[2..],
        [
            "integrated_account:needs_reauth",
            "integrated_account:reactivated",
            "integrated_account:needs_reauth",
            "integrated_account:updated",
            "integrated_account:reactivated"
        ]
    );
    assert_eq!(
        s.host
            .get(&format!("/proxy/me/x?integrated_account_id={id}"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn transient_failures_back_off_then_give_up_after_the_window() {
    let refresh = RefreshConfig {
        failure_window: Duration::from_secs(2),
        backoff_base: Duration::from_millis(200),
        tick: Duration::from_millis(100),
        ..Default::default()
    };
    let s = setup(None, refresh, Duration::from_secs(10)).await;
    let id = connect_active(&s.host).await;
    s.provider.fail_token_next(503, 1000);
    let before = s.provider.stats().token_requests;
    let forced = s.host.refresh(&id).await;
    forced.error(502, "remote_unreachable");
    let a = s.host.account_view(&id).await;
    assert_eq!(
        a["status"], "active",
        "a 5xx is not a reason to bother the end user"
    );
    assert_eq!(a["status_detail"]["transient"], true);
    // The scheduler retries on its backoff, not in a tight loop.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let during = s.provider.stats().token_requests - before;
    assert!(during <= 12, "no refresh storm: {during} token requests in 2.5 s");
    // Past the window, the next failure gives up.
    let _ = s.host.refresh(&id).await;
    assert_eq!(s.host.account_view(&id).await["status"], "needs_reauth");
}

#[tokio::test]
async fn token_endpoint_timeout_is_transient() {
    let s = setup(None, RefreshConfig::default(), Duration::from_millis(800)).await;
    let id = connect_active(&s.host).await;
    s.provider.set_token_delay(Duration::from_secs(3));
    let forced = s.host.refresh(&id).await;
    forced.error(502, "remote_unreachable");
    assert_eq!(s.host.account_view(&id).await["status"], "active");
}

#[tokio::test]
async fn a_401_refreshes_once_retries_and_records_drift() {
    // The provider says nothing of expiry; the manifest assumes an hour; tokens die after 2 s.
    let s = setup(Some(3600), RefreshConfig::default(), Duration::from_secs(10)).await;
    s.provider.omit_expires_in(true);
    s.provider.set_lifetime(2);
    let id = connect_active(&s.host).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = s
        .host
        .get(&format!("/proxy/me/x?integrated_account_id={id}"))
        .await;
    assert_eq!(r.status, 200, "refreshed once and retried: {}", r.body);
    assert_eq!(s.host.account_view(&id).await["status"], "active");
    let drifts = s.host.app.store.drifts(&id).await.unwrap();
    assert_eq!(drifts.len(), 1);
    assert!(drifts[0] > 3_500_000, "the token died ~an hour early: {drifts:?}");
    // The same facts in the exposition: one drift observation of about an hour, one refresh.
    let text = s.host.metrics().await;
    let acme = [("connector", "acme")];
    assert_eq!(
        sample(&text, "patchbay_token_expiry_drift_seconds_count", &acme),
        Some(1.0)
    );
    let bucket = |le: &str| {
        sample(
            &text,
            "patchbay_token_expiry_drift_seconds_bucket",
            &[("connector", "acme"), ("le", le)],
        )
    };
    assert_eq!(
        (bucket("1800.0"), bucket("3600.0")),
        (Some(0.0), Some(1.0)),
        "{text}"
    );
    let refreshes = |text: &str, trigger: &str, outcome: &str| {
        sample(
            text,
            "patchbay_token_refreshes_total",
            &[("connector", "acme"), ("trigger", trigger), ("outcome", outcome)],
        )
    };
    assert_eq!(refreshes(&text, "on_401", "ok"), Some(1.0));
    assert_eq!(s.host.refresh(&id).await.status, 200);
    assert_eq!(refreshes(&s.host.metrics().await, "manual", "ok"), Some(1.0));

    // Revoked for good: the refresh fails too, and the account needs the end user.
    s.provider.revoke_all();
    let r = s
        .host
        .get(&format!("/proxy/me/x?integrated_account_id={id}"))
        .await;
    r.error(401, "remote_unauthorized");
    assert_eq!(s.host.account_view(&id).await["status"], "needs_reauth");
    let text = s.host.metrics().await;
    assert_eq!(refreshes(&text, "on_401", "invalid_grant"), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "patchbay_integrated_accounts",
            &[("connector", "acme"), ("status", "needs_reauth")]
        ),
        Some(1.0)
    );
}

/// Every transition of the table on a key-based account, driven by the vendor's answers and the
/// API (create, retry, PATCH), plus a refused illegal one.
#[tokio::test]
async fn every_transition_of_the_table() {
    use patchbay::accounts::{AccountEvent, AccountStatus, TRANSITIONS, Transition};
    use patchbay::store::StoreError;
    use patchbay_tests::mocks::HubSpotMock;

    let mock = HubSpotMock::new("tok");
    let server = MockServer::spawn(mock.router()).await;
    let dir = scratch_dir("flaky");
    copy_connectors(&dir);
    patchbay_tests::write_connector(
        &dir,
        &json!({
            "name": "flaky", "version": "1.0.0", "base_url": server.base_url(),
            "auth": {"type": "api_key", "in": "header", "name": "Authorization", "value": "Bearer {{credentials.token}}"},
            "resources": {
                "account_info": {"methods": {"get": {"method": "GET", "path": "/account-info/v3/details"}}},
                "contacts": {"methods": {"get": {"method": "GET", "path": "/crm/v3/objects/contacts/{{id}}"}}}
            },
            "lifecycle": {
                "post_install_first": true,
                "post_install": [{"name": "portal", "resource": "account_info", "method": "get", "context": {"portal_id": ".portalId"}}],
                "validation": [{"name": "check_contact", "resource": "contacts", "method": "get", "id": "{{context.check_id}}"}]
            }
        }),
    );
    let host = Host::start_with(HostOptions {
        connectors: Some(dir),
        tweak: Some(|c| c.stuck_connecting_after = Duration::from_secs(1)),
        private_vendors: true,
        ..Default::default()
    })
    .await;
    mock.seed(5); // contacts 101..105
    let status = |b: &Value| b["status"].as_str().unwrap().to_owned();

    // (none) -> connecting -> post_install_error: the vendor fails the first step.
    mock.fail_next(500, 1);
    let body = json!({"connector": "flaky", "tenant_id": "t1", "credentials": {"token": "tok"}, "context": {"check_id": "999"}});
    let created = host.create_account(body).await;
    assert_eq!(status(&created.body), "post_install_error", "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    // post_install_error -> validation_error: post-install passes, contact 999 does not exist.
    let r = host.retry(&id).await;
    assert_eq!(status(&r.body), "validation_error", "{}", r.body);
    assert_eq!(r.body["status_detail"]["step"], "check_contact");
    assert_eq!(r.body["context"]["portal_id"], 62515);
    // validation_error -> post_install_error.
    mock.fail_next(503, 1);
    assert_eq!(status(&host.retry(&id).await.body), "post_install_error");
    // post_install_error -> active (retry with the vendor healthy and the contact present).
    mock.seed(900); // ids up to 1005
    assert_eq!(status(&host.retry(&id).await.body), "active");
    // An account left in `connecting` by a host that died mid-install can be retried once stale.
    let stuck_id = "acct_stuck0000000000000000000000000";
    let sealed = host
        .app
        .secrets
        .seal_credentials(stuck_id, &json!({"token": "tok"}));
    let stuck = patchbay::accounts::AccountRow::new(
        stuck_id.into(),
        "flaky".into(),
        "t1".into(),
        sealed,
        json!({"check_id": "101"}),
        None,
    );
    host.app.store.create_account(&stuck, "test").await.unwrap();
    host.retry(stuck_id).await.error(409, "account_not_active");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(status(&host.retry(stuck_id).await.body), "active");
    // Retrying an active account is refused.
    host.retry(&id).await.error(409, "account_not_active");
    // active -> connecting -> validation_error (PATCH context to a missing contact).
    let patch = |ctx: Value| json!({"context": ctx});
    let p = host.patch_account(&id, patch(json!({"check_id": "5000"}))).await;
    assert_eq!(status(&p.body), "validation_error", "{}", p.body);
    // validation_error -> active (retry after the contact appears).
    mock.seed(5000);
    assert_eq!(status(&host.retry(&id).await.body), "active");
    // active -> connecting -> post_install_error, then post_install_error -> connecting -> active.
    mock.fail_next(500, 1);
    let p = host.patch_account(&id, patch(json!({"check_id": "101"}))).await;
    assert_eq!(status(&p.body), "post_install_error");
    let p = host
        .patch_account(&id, json!({"credentials": {"token": "tok"}}))
        .await;
    assert_eq!(status(&p.body), "active");
    // validation_error -> connecting: break validation, then fix by PATCH.
    let p = host.patch_account(&id, patch(json!({"check_id": "99999"}))).await;
    assert_eq!(status(&p.body), "validation_error");
    let p = host.patch_account(&id, patch(json!({"check_id": "102"}))).await;
    assert_eq!(status(&p.body), "active");
    // active -> needs_reauth (a 401 on a data call; API keys cannot refresh) ->
    // connecting -> active, fired as :reactivated.
    mock.fail_next(401, 1);
    host.get(&format!("/proxy/contacts/101?integrated_account_id={id}"))
        .await
        .error(401, "remote_unauthorized");
    assert_eq!(
        status(&host.get(&format!("/integrated-accounts/{id}")).await.body),
        "needs_reauth"
    );
    let p = host
        .patch_account(&id, json!({"credentials": {"token": "tok"}}))
        .await;
    assert_eq!(status(&p.body), "active");

    // Illegal: active -> validation_error is not in the table; nothing is written.
    let row = host.app.store.account(&id).await.unwrap().unwrap();
    let before = host.events(&id).await.len();
    let illegal = Transition::new(
        &row,
        AccountStatus::ValidationError,
        AccountEvent::ValidationError,
        "test",
    );
    assert!(matches!(
        host.app.store.transition(&illegal).await,
        Err(StoreError::Illegal(_))
    ));
    // A stale read loses: the status changed since `row` was read.
    let stale = Transition::new(
        &row,
        AccountStatus::NeedsReauth,
        AccountEvent::NeedsReauth,
        "test",
    );
    host.app.store.transition(&stale).await.unwrap();
    let again = Transition::new(
        &row,
        AccountStatus::NeedsReauth,
        AccountEvent::NeedsReauth,
        "test",
    );
    assert!(matches!(
        host.app.store.transition(&again).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(host.events(&id).await.len(), before + 1);

    // Every transition of the table but the OAuth-only needs_reauth -> active appeared here.
    let log = host.get(&format!("/integrated-accounts/{id}/events")).await.body["result"]
        .as_array()
        .unwrap()
        .clone();
    let seen: std::collections::HashSet<(Option<String>, String, String)> = log
        .iter()
        .map(|e| {
            (
                e["from"].as_str().map(str::to_owned),
                e["to"].as_str().unwrap().to_owned(),
                e["event"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (from, to, event) in TRANSITIONS {
        let key = (
            from.map(|f| f.as_str().to_owned()),
            to.as_str().to_owned(),
            event.as_str().to_owned(),
        );
        if *from == Some(AccountStatus::NeedsReauth) && *to == AccountStatus::Active {
            continue; // exercised by invalid_grant_is_needs_reauth_at_once_and_reconnect_reactivates
        }
        assert!(
            seen.contains(&key),
            "transition {key:?} not exercised; log: {seen:?}"
        );
    }
    let deleted = host.delete_account(&id).await;
    assert_eq!(deleted.status, 204);
    let outbox = host.app.store.outbox_pending(1000).await.unwrap();
    assert_eq!(outbox.last().unwrap()["event"], "integrated_account:deleted");
}

#[tokio::test]
async fn authorization_state_is_tenant_bound_and_expires() {
    let Setup {
        host,
        provider,
        _server,
    } = acme_host("expiry", |c| c.oauth_state_ttl = Duration::from_millis(300)).await;

    // A tenant token connects only for its own tenant.
    let tenant = host.tenant_token("t1").await;
    let other = json!({"tenant_id": "t2", "redirect_uri": "https://product.example/done"});
    host.send(Method::POST, "/connect/acme", &tenant, Some(other))
        .await
        .error(403, "forbidden");
    let own = json!({"redirect_uri": "https://product.example/done"});
    let started = host.send(Method::POST, "/connect/acme", &tenant, Some(own)).await;
    assert_eq!(started.status, 200, "{}", started.body);
    // Managing OAuth apps is for admins.
    host.send(Method::GET, "/connectors/acme/oauth-app", &tenant, None)
        .await
        .error(403, "forbidden");

    // The user takes too long: the state has expired by the time the provider sends them back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let to_provider = http
        .get(started.body["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let callback = to_provider.headers()["location"].to_str().unwrap().to_owned();
    let r = http.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
    assert_eq!(
        host.get("/integrated-accounts?connector=acme").await.body["result_count"],
        0
    );
    assert_eq!(
        provider.stats().codes_exchanged,
        0,
        "an expired state never exchanges its code"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_401s_refreshes_once_and_outages_do_not_need_the_user() {
    let s = setup(Some(3600), RefreshConfig::default(), Duration::from_secs(10)).await;
    s.provider.omit_expires_in(true);
    s.provider.set_lifetime(1);
    let id = connect_active(&s.host).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = s.provider.stats().refreshes;
    let host = Arc::new(s.host);
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let (host, id) = (host.clone(), id.clone());
            tokio::spawn(async move {
                host.get(&format!("/proxy/me/x?integrated_account_id={id}"))
                    .await
                    .status
            })
        })
        .collect();
    for c in calls {
        assert_eq!(
            c.await.unwrap(),
            200,
            "each rejected call was retried with the new token"
        );
    }
    assert_eq!(
        s.provider.stats().refreshes - before,
        1,
        "eight 401s, one refresh"
    );

    // The token dies again while the token endpoint is down: the caller gets the 401, the
    // account stays active (the scheduler retries later).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.provider.fail_token_next(503, 1);
    host.get(&format!("/proxy/me/x?integrated_account_id={id}"))
        .await
        .error(401, "remote_unauthorized");
    assert_eq!(host.account_view(&id).await["status"], "active");

    // A wrong client secret is the operator's problem: no account is sent to the end user.
    let wrong = json!({"client_id": "patchbay", "client_secret": "rotated-at-the-vendor"});
    host.put_oauth_app("acme", wrong).await;
    tokio::time::sleep(Duration::from_millis(1200)).await; // past the 503 backoff
    let r = host.refresh(&id).await;
    r.error(400, "invalid_request");
    let a = host.account_view(&id).await;
    assert_eq!(a["status"], "active");
    assert_eq!(a["status_detail"]["step"], "oauth_app");
}

/// With `--oauth-redirect-allow`, the connect flow sends the browser back only under a listed
/// prefix (scheme, host, port and path by whole segments); anything else is refused up front.
#[tokio::test]
async fn redirect_uris_off_the_allow_list_are_refused() {
    let Setup { host, _server, .. } = acme_host("redirects", |c| {
        c.oauth_redirect_allow = vec!["https://product.example/oauth".into()]
    })
    .await;
    let admin = host.admin.clone();
    let start = |redirect: &'static str| {
        let (host, admin) = (&host, admin.clone());
        async move {
            let body = json!({"tenant_id": "t1", "redirect_uri": redirect});
            host.send(Method::POST, "/connect/acme", &admin, Some(body)).await
        }
    };
    let ok = start("https://product.example/oauth/done?from=settings").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let back = run_authorization(ok.body["authorize_url"].as_str().unwrap()).await;
    assert_eq!(param(&back, "status").as_deref(), Some("active"), "{back:?}");
    for refused in [
        "https://evil.example/oauth/done",
        "https://product.example/oauthx",
        "http://product.example/oauth/done",
        "https://product.example.evil.example/oauth",
    ] {
        let r = start(refused).await;
        let body = r.error(400, "invalid_request");
        assert!(
            body["message"].as_str().unwrap().contains("allow-list"),
            "{refused}: {body}"
        );
    }
}
