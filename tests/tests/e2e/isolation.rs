//! Tenant isolation and authorization over every route: each operation of the host's own
//! `GET /openapi.json` (so a new route joins the matrix, or the test names it) is called by six
//! callers — no token, an unknown token, a metrics token, tenant B, tenant A and an admin —
//! against tenant A's objects: its accounts, their events, an inbound webhook record, a webhook
//! endpoint and its deliveries, its cursors and OAuth connects.
//!
//! Expected, per cell:
//! - open routes (health, vendor webhook ingress, the OAuth callback, the dashboard page): the
//!   token changes nothing, every caller gets what the anonymous one gets;
//! - every other route: no token or an unknown one is 401 `unauthenticated`; a metrics token is
//!   403 `forbidden` everywhere but `GET /metrics`;
//! - admin routes: tenant tokens are 403; metrics routes: tenant tokens are 403, metrics and
//!   admin tokens read;
//! - tenant A's objects (in the path, or as `integrated_account_id`): tenant B gets the host's 404
//!   `not_found` (as if they did not exist), A and the admin get through authorization (any
//!   answer but 401, 403 or that 404: the vendor's answer, a 409 for a state, …);
//! - creates naming tenant A: B gets 403, A and the admin create;
//! - lists: B's never hold anything of A's; A's hold A's own.
//!
//! Beyond the cells: no reply to B contains an id or secret of A's; what B tried to change is
//! unchanged; B cannot use A's cursor with its own account; B's endpoint gets none of A's events.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::routing::any;
use patchbay_tests::mocks::{HubSpotMock, MockServer};
use patchbay_tests::receiver::Receiver;
use patchbay_tests::signing::{hubspot_v3, now_ms};
use patchbay_tests::{Host, HostOptions, Reply, Vendor, copy_connectors, scratch_dir, write_connector};
use reqwest::Method;
use serde_json::{Value, json};

const A: &str = "tenant-a";
const B: &str = "tenant-b";
const HS_SECRET: &str = "isolation-app-secret";
const WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Caller {
    Anonymous,
    UnknownToken,
    Metrics,
    TenantB,
    TenantA,
    Admin,
}

const CALLERS: [Caller; 6] = [
    Caller::Anonymous,
    Caller::UnknownToken,
    Caller::Metrics,
    Caller::TenantB,
    Caller::TenantA,
    Caller::Admin,
];

/// What an operation touches, which decides its cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Shared by every tenant (the catalogue, models, the document itself).
    Shared,
    /// A list scoped to the caller's tenant.
    TenantList,
    /// One of tenant A's objects.
    OfA,
    /// A create naming tenant A.
    CreateForA,
}

/// Who may call an operation, as the document says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Open,
    AnyToken,
    Admin,
    Metrics,
}

struct Fixture {
    host: Host,
    /// The live HubSpot manifest (the body of an admin's `PUT /connectors/hubspot`).
    manifest: Value,
    tokens: BTreeMap<Caller, Option<String>>,
    /// Tenant A's account per unified model (`crm`, `directory`, `ticketing`); HubSpot's is `crm`.
    accounts: BTreeMap<&'static str, String>,
    /// A's HubSpot account for unified `crm/deals`, which HubSpot's manifest does not map.
    deals_account: String,
    hubspot: String,
    endpoint: String,
    inbound: String,
    /// Everything of A's that must never reach B.
    secrets_of_a: Vec<String>,
    receiver_a: Receiver,
    receiver_b: Receiver,
    _servers: Vec<MockServer>,
}

impl Fixture {
    fn token(&self, caller: Caller) -> Option<&str> {
        self.tokens[&caller].as_deref()
    }

    async fn call(&self, caller: Caller, method: &Method, path: &str, body: Option<&Value>) -> Reply {
        let mut r = self
            .host
            .http
            .request(method.clone(), format!("{}{path}", self.host.url));
        if let Some(t) = self.token(caller) {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        Reply::from(r.send().await.unwrap()).await
    }

    /// A fresh account of A's, for a caller that may delete it.
    async fn fresh_account(&self) -> String {
        let r = self
            .call(
                Caller::TenantA,
                &Method::POST,
                "/integrated-accounts",
                Some(&json!({"connector": "hubspot", "credentials": HubSpotMock::credentials()})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// A fresh endpoint of A's, for a caller that may delete it.
    async fn fresh_endpoint(&self) -> String {
        let body = json!({"url": self.receiver_a.url, "description": "fresh"});
        let r = self
            .call(Caller::TenantA, &Method::POST, "/webhook-endpoints", Some(&body))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }
}

/// A vendor stand-in that answers every request with an empty JSON object: for the unified
/// models HubSpot does not serve, where what the vendor says does not matter, only whether the
/// host let the caller through.
async fn blank_vendor() -> MockServer {
    MockServer::spawn(axum::Router::new().fallback(any(|| async { axum::Json(json!({})) }))).await
}

async fn fixture() -> Fixture {
    let mock = HubSpotMock::mock();
    mock.seed(5);
    let hubspot_server = MockServer::spawn(mock.router()).await;
    let blank = blank_vendor().await;
    // The bundled connectors, HubSpot's pointed at the simulation, so tenants' own accounts
    // (tenants cannot override base_url) reach it.
    let dir = scratch_dir("isolation");
    copy_connectors(&dir);
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("hubspot.json")).unwrap()).unwrap();
    manifest["base_url"] = json!(hubspot_server.base_url());
    write_connector(&dir, &manifest);
    let host = Host::start_with(HostOptions::on_loopback(dir)).await;
    let metrics = host.metrics_token().await;
    let tokens = BTreeMap::from([
        (Caller::Anonymous, None),
        (Caller::UnknownToken, Some("pbt_not-a-real-token".to_owned())),
        (Caller::Metrics, Some(metrics)),
        (Caller::TenantB, Some(host.tenant_token(B).await)),
        (Caller::TenantA, Some(host.tenant_token(A).await)),
        (Caller::Admin, Some(host.admin.clone())),
    ]);
    let (receiver_a, receiver_b) = (Receiver::start().await, Receiver::start().await);
    let mut f = Fixture {
        host,
        manifest,
        tokens,
        accounts: BTreeMap::new(),
        deals_account: String::new(),
        hubspot: String::new(),
        endpoint: String::new(),
        inbound: String::new(),
        secrets_of_a: Vec::new(),
        receiver_a,
        receiver_b,
        _servers: vec![hubspot_server, blank],
    };
    let blank_url = f._servers[1].base_url();

    // B's endpoint first, so it would see A's events if fan-out leaked them.
    let r = f
        .call(
            Caller::TenantB,
            &Method::POST,
            "/webhook-endpoints",
            Some(&json!({"url": f.receiver_b.url})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = f
        .call(
            Caller::TenantA,
            &Method::POST,
            "/webhook-endpoints",
            Some(&json!({"url": f.receiver_a.url})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    f.endpoint = r.body["id"].as_str().unwrap().to_owned();
    f.secrets_of_a.push(r.body["secret"].as_str().unwrap().to_owned());
    f.receiver_a.set_secret(r.body["secret"].as_str().unwrap());

    f.hubspot = f.fresh_account().await;
    f.accounts.insert("crm", f.hubspot.clone());
    // Accounts of A for the other unified models, created by the admin (tenants cannot set
    // base_url) against the blank vendor.
    for (model, connector, credentials, context) in [
        (
            "directory",
            "okta",
            json!({"api_token": "okta-isolation-token"}),
            json!({"domain": "acme.okta.com"}),
        ),
        (
            "ticketing",
            "freshdesk",
            json!({"api_key": "freshdesk-isolation-key"}),
            json!({"domain": "acme"}),
        ),
        (
            "deals",
            "pipedrive",
            json!({"api_token": "pipedrive-isolation-token"}),
            json!({"company_domain": "acme"}),
        ),
    ] {
        let id = f
            .host
            .account(connector, A, credentials, context, &blank_url)
            .await;
        if model == "deals" {
            f.deals_account = id;
        } else {
            f.accounts.insert(model, id);
        }
    }

    // An inbound webhook of A's account (HubSpot v3, per-account route).
    let r = f
        .host
        .admin_send(
            Method::PUT,
            "/connectors/hubspot/webhook-secret",
            Some(json!({"secret": HS_SECRET})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let body =
        json!([{"eventId": 7001, "subscriptionId": 1, "portalId": 62515, "appId": 1, "occurredAt": now_ms(),
        "subscriptionType": "contact.creation", "attemptNumber": 0, "objectId": 101, "changeSource": "CRM"}])
        .to_string();
    let url = format!("{}/webhooks/hubspot/{}", f.host.url, f.hubspot);
    let ts = now_ms();
    let r = f
        .host
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header("x-hubspot-request-timestamp", ts.to_string())
        .header(
            "x-hubspot-signature-v3",
            hubspot_v3(HS_SECRET, "POST", &url, body.as_bytes(), ts),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let started = std::time::Instant::now();
    f.inbound = loop {
        let r = f
            .call(Caller::TenantA, &Method::GET, "/inbound-webhooks", None)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        if let Some(row) = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["status"] != "pending")
        {
            break row["id"].as_str().unwrap().to_owned();
        }
        assert!(
            started.elapsed() < WAIT,
            "the inbound webhook was not processed: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    f.host
        .put_oauth_app(
            "hubspot",
            json!({"client_id": "iso-client", "client_secret": "iso-client-secret"}),
        )
        .await;
    let mut ids = vec![
        f.hubspot.clone(),
        f.deals_account.clone(),
        f.endpoint.clone(),
        f.inbound.clone(),
    ];
    ids.extend(f.accounts.values().cloned());
    f.secrets_of_a.extend(ids);
    f
}

/// The scope an operation's `security` names (absent: the document's, absent too: open).
fn scope(doc: &Value, op: &Value) -> Scope {
    let security = op.get("security").or_else(|| doc.get("security"));
    match security.and_then(Value::as_array) {
        Some(s) if s.is_empty() || s.iter().all(|r| r.as_object().is_some_and(|o| o.is_empty())) => {
            Scope::Open
        }
        Some(s) => {
            let roles: Vec<&str> = s
                .iter()
                .filter_map(|r| r["bearer"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match roles.as_slice() {
                [] => Scope::AnyToken,
                ["admin"] => Scope::Admin,
                ["metrics"] => Scope::Metrics,
                other => panic!("unknown roles {other:?}"),
            }
        }
        None => Scope::Open,
    }
}

/// One cell's request: the path with A's objects in it, the body, what it touches, and the id
/// of A's the host looks up first (the account of a call, or the object in the path).
struct Request {
    path: String,
    body: Option<Value>,
    target: Target,
    object: Option<String>,
}

/// The unified body of a model's create or update (a field its schema has).
fn unified_body(model: &str, resource: &str) -> Value {
    match (model, resource) {
        ("crm", "contacts") | ("directory", "users") => json!({"email": "isolation@example.com"}),
        ("ticketing", "tickets") => json!({"title": "isolation"}),
        ("ticketing", "comments") => json!({"body": "isolation"}),
        _ => json!({"name": "isolation"}),
    }
}

/// Instantiates an operation for `caller` (DELETEs by A and the admin get fresh objects of A's).
async fn request(f: &Fixture, caller: Caller, method: &Method, template: &str) -> Request {
    let may_delete = *method == Method::DELETE && matches!(caller, Caller::TenantA | Caller::Admin);
    let segments: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let mut target = Target::OfA;
    let mut body = None;
    let path = match segments.as_slice() {
        ["healthz"] | ["readyz"] | ["dashboard"] | ["openapi.json"] | ["metrics"] | ["ops", "summary"] => {
            target = Target::Shared;
            template.to_owned()
        }
        ["oauth", "callback"] => {
            target = Target::Shared;
            "/oauth/callback?state=not-a-state&code=x".into()
        }
        ["connectors"] | ["unified-models"] | ["unified-models", ..] => {
            target = Target::Shared;
            template
                .replace("{model}", "crm")
                .replace("{resource}", "contacts")
        }
        ["connectors", "{name}", rest @ ..] => {
            target = Target::Shared;
            body = match (method.as_str(), rest) {
                ("PUT", []) => Some(f.manifest.clone()),
                ("PUT", ["oauth-app"]) => {
                    Some(json!({"client_id": "iso-client", "client_secret": "iso-client-secret"}))
                }
                ("PUT", ["webhook-secret"]) => Some(json!({"secret": HS_SECRET})),
                ("POST", _) => Some(json!({})),
                _ => None,
            };
            template.replace("{name}", "hubspot")
        }
        ["connect", "{connector}"] => {
            target = Target::CreateForA;
            body = Some(json!({"tenant_id": A, "redirect_uri": "https://product.example/back"}));
            "/connect/hubspot".into()
        }
        ["integrated-accounts"] => {
            if *method == Method::POST {
                target = Target::CreateForA;
                body = Some(
                    json!({"connector": "hubspot", "tenant_id": A, "credentials": HubSpotMock::credentials()}),
                );
            } else {
                target = Target::TenantList;
            }
            template.to_owned()
        }
        ["integrated-accounts", "{id}", ..] => {
            let id = if may_delete {
                f.fresh_account().await
            } else {
                f.hubspot.clone()
            };
            if *method == Method::PATCH {
                body = Some(json!({"context": {"patched_by": format!("{caller:?}")}}));
            }
            template.replace("{id}", &id)
        }
        ["inbound-webhooks"] | ["webhook-endpoints"] if *method == Method::GET => {
            target = Target::TenantList;
            template.to_owned()
        }
        ["webhook-endpoints"] => {
            target = Target::CreateForA;
            body = Some(json!({"url": f.receiver_a.url, "tenant_id": A}));
            template.to_owned()
        }
        ["inbound-webhooks", "{id}", "retry"] => template.replace("{id}", &f.inbound),
        ["webhook-endpoints", "{id}", rest @ ..] => {
            let id = if may_delete {
                f.fresh_endpoint().await
            } else {
                f.endpoint.clone()
            };
            body = match (method.as_str(), rest) {
                ("PATCH", []) => Some(json!({"description": format!("patched by {caller:?}")})),
                ("POST", ["replay"]) => Some(json!({"since": "2026-01-01T00:00:00Z"})),
                _ => None,
            };
            template.replace("{id}", &id)
        }
        ["proxy", "{resource}", ..] => {
            if matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
                body = Some(json!({"properties": {"email": "isolation@example.com"}}));
            }
            let path = template.replace("{resource}", "contacts").replace("{id}", "101");
            format!("{path}?integrated_account_id={}", f.hubspot)
        }
        ["unified", model, resource, ..] => {
            let (model, resource) = match (*model, *resource) {
                ("{model}", _) => ("crm", "contacts"),
                (m, r) => (m, r),
            };
            if matches!(method.as_str(), "POST" | "PATCH") {
                body = Some(unified_body(model, resource));
            }
            let account = match (model, resource) {
                ("crm", "deals") => &f.deals_account,
                (m, _) => &f.accounts[m],
            };
            let path = format!("/unified/{model}/{resource}") + if segments.len() == 4 { "/101" } else { "" };
            format!("{path}?integrated_account_id={account}")
        }
        ["passthrough", "{account}", "{path}"] => {
            if matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
                body = Some(json!({"properties": {"email": "isolation@example.com"}}));
            }
            format!("/passthrough/{}/crm/v3/objects/contacts", f.hubspot)
        }
        ["webhooks", "{connector}", rest @ ..] => {
            target = Target::Shared;
            if *method == Method::POST {
                body =
                    Some(json!([{"eventId": 1, "portalId": 62515, "subscriptionType": "contact.creation"}]));
            }
            match rest {
                [] => "/webhooks/hubspot".into(),
                _ => format!("/webhooks/hubspot/{}", f.hubspot),
            }
        }
        _ => panic!("{method} {template} is not in the isolation matrix: say what it touches"),
    };
    // The id the host resolves first: the object in the path, else the account called through.
    let object = path
        .split(['/', '?', '=', '&'])
        .find(|part| part.starts_with("acct_") || f.secrets_of_a.iter().any(|id| id == part))
        .map(str::to_owned);
    Request {
        path,
        body,
        target,
        object,
    }
}

/// The host's own 404 for `object`: not there for this caller (not a vendor's 404, nor a 404
/// about something else, such as a unified method the connector lacks). A HEAD answer has no
/// body to tell them apart.
fn hidden(method: &Method, r: &Reply, object: Option<&str>) -> bool {
    let error = &r.body["error"];
    r.status == 404
        && (*method == Method::HEAD
            || error["code"] == "not_found"
                && error["remote"] == false
                && object.is_some_and(|id| error["message"].as_str().is_some_and(|m| m.contains(id))))
}

/// Whether a caller got through authorization: anything but 401, 403, the host's 404 for the
/// object, or a failure of the host's own (a vendor's 5xx passes through as it is).
fn let_through(method: &Method, r: &Reply, object: Option<&str>) -> bool {
    let host_failure = r.status >= 500 && r.body["error"]["remote"] != true;
    !matches!(r.status, 401 | 403) && !hidden(method, r, object) && !host_failure
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_by_every_caller() {
    let f = fixture().await;
    let doc = f.call(Caller::Admin, &Method::GET, "/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    let mut cells = 0;
    let mut by_scope: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for (template, ops) in doc.body["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let scope = scope(&doc.body, op);
            let mut open_status = None;
            for caller in CALLERS {
                let req = request(&f, caller, &method, template).await;
                let r = f.call(caller, &method, &req.path, req.body.as_ref()).await;
                cells += 1;
                *by_scope.entry(format!("{scope:?}")).or_default() += 1;
                let cell = format!("{method} {} as {caller:?}: {} {}", req.path, r.status, r.body);
                // A HEAD answer has no body: its status says it all.
                let error = |code: &str| method == Method::HEAD || r.body["error"]["code"] == code;
                let ok = match (scope, caller) {
                    (Scope::Open, Caller::Anonymous) => {
                        open_status = Some(r.status);
                        r.status < 500
                    }
                    (Scope::Open, _) => Some(r.status) == open_status,
                    (_, Caller::Anonymous | Caller::UnknownToken) => {
                        r.status == 401 && error("unauthenticated")
                    }
                    (Scope::Metrics, Caller::Metrics | Caller::Admin) => r.status == 200,
                    (_, Caller::Metrics) => r.status == 403 && error("forbidden"),
                    (Scope::Admin | Scope::Metrics, Caller::TenantA | Caller::TenantB) => {
                        r.status == 403 && error("forbidden")
                    }
                    (Scope::Admin, Caller::Admin) => let_through(&method, &r, req.object.as_deref()),
                    (Scope::AnyToken, caller) => match (req.target, caller) {
                        (Target::Shared, _) => r.status == 200,
                        (Target::TenantList, Caller::TenantB) => r.status == 200,
                        (Target::TenantList, _) => {
                            r.status == 200 && r.body.to_string().contains(&f.hubspot)
                                || template.starts_with("/inbound") && r.body.to_string().contains(&f.inbound)
                                || template.starts_with("/webhook-endpoints")
                                    && r.body.to_string().contains(&f.endpoint)
                        }
                        (Target::OfA, Caller::TenantB) => hidden(&method, &r, req.object.as_deref()),
                        (Target::CreateForA, Caller::TenantB) => r.status == 403 && error("forbidden"),
                        (Target::CreateForA, _) => (200..300).contains(&r.status),
                        (Target::OfA, _) => let_through(&method, &r, req.object.as_deref()),
                    },
                };
                if caller == Caller::TenantB {
                    // What B sent may come back (a 404 names the id asked for); nothing else may.
                    let sent = format!("{} {:?}", req.path, req.body);
                    let text = format!("{} {:?}", r.body, r.headers);
                    let leak = f
                        .secrets_of_a
                        .iter()
                        .find(|s| text.contains(s.as_str()) && !sent.contains(s.as_str()));
                    if let Some(leak) = leak {
                        failures.push(format!("B saw {leak} of A's: {cell}"));
                    }
                }
                if !ok {
                    failures.push(cell);
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("isolation matrix: {cells} cells ({by_scope:?}), all as expected");

    // What B tried to change is as A and the admin left it.
    let account = f
        .call(
            Caller::TenantA,
            &Method::GET,
            &format!("/integrated-accounts/{}", f.hubspot),
            None,
        )
        .await;
    assert_eq!(account.status, 200, "{}", account.body);
    assert_ne!(
        account.body["context"]["patched_by"], "TenantB",
        "{}",
        account.body
    );
    let endpoint = f
        .call(
            Caller::TenantA,
            &Method::GET,
            &format!("/webhook-endpoints/{}", f.endpoint),
            None,
        )
        .await;
    assert_eq!(endpoint.status, 200, "{}", endpoint.body);
    assert_ne!(
        endpoint.body["description"], "patched by TenantB",
        "{}",
        endpoint.body
    );

    cross_tenant_cases(&f).await;
}

/// The isolation cases a route-by-route matrix cannot express: cursors, reconnects, lists
/// filtered to A, and event fan-out.
async fn cross_tenant_cases(f: &Fixture) {
    // B's own account of the same connector cannot resume A's listing.
    let b_account = {
        let body = json!({"connector": "hubspot", "credentials": HubSpotMock::credentials()});
        let r = f
            .call(
                Caller::TenantB,
                &Method::POST,
                "/integrated-accounts",
                Some(&body),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    };
    let page = f
        .call(
            Caller::TenantA,
            &Method::GET,
            &format!(
                "/unified/crm/contacts?integrated_account_id={}&limit=1",
                f.hubspot
            ),
            None,
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let cursor = page.body["next_cursor"].as_str().expect("a next page").to_owned();
    let r = f
        .call(
            Caller::TenantB,
            &Method::GET,
            &format!("/unified/crm/contacts?integrated_account_id={b_account}&next_cursor={cursor}"),
            None,
        )
        .await;
    r.error(400, "invalid_request");
    let r = f
        .call(
            Caller::TenantB,
            &Method::GET,
            &format!(
                "/unified/crm/contacts?integrated_account_id={}&next_cursor={cursor}",
                f.hubspot
            ),
            None,
        )
        .await;
    assert!(
        hidden(&Method::GET, &r, Some(&f.hubspot)),
        "{} {}",
        r.status,
        r.body
    );

    // B cannot reconnect A's account, with or without naming A's tenant.
    for body in [
        json!({"redirect_uri": "https://product.example/back", "integrated_account_id": f.hubspot}),
        json!({"redirect_uri": "https://product.example/back", "integrated_account_id": f.hubspot, "tenant_id": B}),
    ] {
        let r = f
            .call(Caller::TenantB, &Method::POST, "/connect/hubspot", Some(&body))
            .await;
        assert!(matches!(r.status, 403 | 404), "{} {}", r.status, r.body);
        assert!(!r.body.to_string().contains("authorize_url"), "{}", r.body);
    }

    // Lists filtered to A's tenant or A's objects show B nothing.
    for path in [
        format!("/integrated-accounts?tenant_id={A}"),
        "/integrated-accounts?connector=hubspot".into(),
        format!("/inbound-webhooks?integrated_account_id={}", f.hubspot),
        "/inbound-webhooks?connector=hubspot".into(),
        format!("/webhook-endpoints?tenant_id={A}"),
    ] {
        let r = f.call(Caller::TenantB, &Method::GET, &path, None).await;
        assert!(
            matches!(r.status, 200 | 400 | 403),
            "{path}: {} {}",
            r.status,
            r.body
        );
        let text = r.body.to_string();
        assert!(
            !f.secrets_of_a.iter().any(|s| text.contains(s.as_str())),
            "{path}: {text}"
        );
    }

    // A's events reached A's endpoint, and none of them B's.
    let got = f.receiver_a.wait_until(WAIT, |d| !d.is_empty()).await;
    assert!(!got.is_empty());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let leaked: Vec<String> = f
        .receiver_b
        .deliveries()
        .iter()
        .map(|d| d.body.to_string())
        .filter(|b| f.secrets_of_a.iter().any(|s| b.contains(s.as_str())))
        .collect();
    assert!(leaked.is_empty(), "B's endpoint got A's events: {leaked:?}");
    let _ = b_account;
}
