//! The catalogue as a product: every bundled connector listed with its auth methods and the
//! connect form each needs; the published catalogue table matches the manifests; token-answer
//! fields become account context and the API base URL (Salesforce's `instance_url`); account
//! states say what failed (a refused credential is `validation_error` even when a post-install
//! step saw it) and state refusals are one 409; Salesforce and HubSpot connect by OAuth.

use patchbay::connectors::catalogue;
use patchbay_tests::mocks::{HubSpotMock, MockServer, OAuthProviderMock};
use patchbay_tests::{
    Host, HostOptions, bundled_connectors, copy_connectors, run_authorization, scratch_dir, write_connector,
};
use reqwest::Method;
use serde_json::json;

#[test]
fn the_published_catalogue_matches_the_manifests() {
    let dir = bundled_connectors();
    let mut errors = Vec::new();
    let manifests: Vec<_> = patchbay::connectors::files::manifest_files(&dir, &mut errors)
        .iter()
        .map(|f| {
            patchbay::connectors::load_file(f)
                .unwrap_or_else(|r| panic!("{r}"))
                .manifest
        })
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let doc_file = dir.join("../docs/CONNECTORS.md");
    let doc = std::fs::read_to_string(&doc_file).unwrap();
    let fresh = catalogue::splice(&doc, &catalogue::table(&manifests)).expect("catalogue markers");
    assert!(
        fresh == doc,
        "docs/CONNECTORS.md's catalogue is stale: run `cargo run -p patchbay -- connector catalogue connectors --write docs/CONNECTORS.md`"
    );
}

#[tokio::test]
async fn connectors_list_every_auth_method_with_its_connect_form() {
    let host = Host::start().await;
    let list = host.get("/connectors").await;
    assert_eq!(list.status, 200, "{}", list.body);
    let connectors = list.body["result"].as_array().unwrap();
    assert!(connectors.len() >= 25, "{} connectors", connectors.len());
    assert!(
        list.body["load_errors"].as_array().unwrap().is_empty(),
        "{}",
        list.body["load_errors"]
    );
    let hubspot = connectors.iter().find(|c| c["name"] == "hubspot").unwrap();
    let methods = hubspot["auth_methods"].as_array().unwrap();
    let oauth = methods
        .iter()
        .find(|m| m["type"] == "oauth2")
        .expect("HubSpot offers OAuth2");
    assert_eq!(oauth["connect"], "browser");
    assert_eq!(
        oauth["oauth2"]["authorize_url"],
        "https://app.hubspot.com/oauth/authorize"
    );
    assert_eq!(
        oauth["oauth2"]["token_url"],
        "https://api.hubapi.com/oauth/2026-03/token"
    );
    let token = methods
        .iter()
        .find(|m| m["connect"] == "api")
        .expect("and a token method");
    assert_eq!(token["default"], true);
    assert_eq!(
        token["schema"]["properties"]["credentials"]["required"],
        json!(["access_token"])
    );
    // Zendesk's connect form asks for the subdomain its base URL needs.
    let zendesk = connectors.iter().find(|c| c["name"] == "zendesk").unwrap();
    let basic = zendesk["auth_methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["type"] == "basic")
        .unwrap();
    assert_eq!(
        basic["schema"]["properties"]["context"]["required"],
        json!(["subdomain"])
    );
    let creds = &basic["schema"]["properties"]["credentials"]["required"];
    assert!(creds.as_array().unwrap().contains(&json!("api_token")), "{creds}");
}

/// `POST /connect/{connector}` for tenant `t1` (200 expected); returns the answer.
async fn start_connect(host: &Host, connector: &str) -> patchbay_tests::Reply {
    let started = host
        .admin_send(
            Method::POST,
            &format!("/connect/{connector}"),
            Some(json!({"tenant_id": "t1", "redirect_uri": "https://product.example/done"})),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    started
}

/// Points `connector`'s OAuth app at a stand-in provider (its `/authorize` and `/token`), starts
/// a connection, and returns the authorize URL with its query.
async fn authorize_at(
    host: &Host,
    connector: &str,
    (client_id, client_secret): (&str, &str),
    provider: &MockServer,
) -> (url::Url, std::collections::HashMap<String, String>) {
    let app = json!({"client_id": client_id, "client_secret": client_secret,
        "authorize_url": format!("{}/authorize", provider.base_url()),
        "token_url": format!("{}/token", provider.base_url())});
    host.put_oauth_app(connector, app).await;
    let started = start_connect(host, connector).await;
    let authorize = url::Url::parse(started.body["authorize_url"].as_str().unwrap()).unwrap();
    let q = authorize.query_pairs().into_owned().collect();
    (authorize, q)
}

#[tokio::test]
async fn token_answer_fields_become_the_accounts_context_and_base_url() {
    // Salesforce's documented token answer: `instance_url` and `id`, no `expires_in`.
    let provider = OAuthProviderMock::new("patchbay", "provider-secret");
    provider.omit_expires_in(true);
    let server = MockServer::spawn(provider.router()).await;
    let url = server.base_url();
    provider.set_extra_token_fields(
        json!({"instance_url": url, "id": format!("{url}/id/00D/005"), "issued_at": "1700000000000"}),
    );
    let dir = scratch_dir("instance");
    copy_connectors(&dir);
    write_connector(
        &dir,
        &json!({
            "name": "instance", "version": "1.0.0",
            "base_url": "https://login.invalid",
            "auth": [{
                "name": "oauth2", "type": "oauth2", "grant": "authorization_code",
                "authorize_url": format!("{url}/authorize"), "token_url": format!("{url}/token"),
                "client_auth": "basic", "default_expires_in": 7200,
                "token_context": {"instance_url": ".instance_url"},
                "base_url": "{{context.instance_url}}/api"
            }],
            "resources": {"me": {"methods": {"get": {"method": "GET", "path": "/me"}}}},
            "lifecycle": {"validation": [{"name": "me", "resource": "me", "method": "get"}]}
        }),
    );
    let host = Host::start_with(HostOptions {
        connectors: Some(dir),
        private_vendors: true,
        ..Default::default()
    })
    .await;
    host.put_oauth_app(
        "instance",
        json!({"client_id": "patchbay", "client_secret": "provider-secret"}),
    )
    .await;
    let started = start_connect(&host, "instance").await;
    let back = run_authorization(started.body["authorize_url"].as_str().unwrap()).await;
    let get = |k: &str| back.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("status").as_deref(), Some("active"), "{back:?}");
    let id = get("integrated_account_id").unwrap();
    let account = host.get(&format!("/integrated-accounts/{id}")).await;
    assert_eq!(
        account.body["context"]["instance_url"],
        url.as_str(),
        "{}",
        account.body
    );
    assert_eq!(account.body["auth_method"], "oauth2", "{}", account.body);
    // No `expires_in`: the manifest's default lifetime is assumed.
    let expires =
        chrono::DateTime::parse_from_rfc3339(account.body["token_expires_at"].as_str().unwrap()).unwrap();
    let left = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!((7100..=7200).contains(&left), "{left}");
    // The validation step and this call reached the instance the token answer named.
    let me = host
        .get(&format!("/proxy/me/self?integrated_account_id={id}"))
        .await;
    assert_eq!(me.status, 200, "{}", me.body);
    let _ = server;
}

#[tokio::test]
async fn refused_credentials_are_a_validation_error_and_state_refusals_are_one_409() {
    let mock = HubSpotMock::new("right-token");
    let server = MockServer::spawn(mock.router()).await;
    let host = Host::start().await;
    // HubSpot's post-install step would see the 401 too: it is still the credentials' fault.
    let reply = host
        .create_account(json!({"connector": "hubspot", "tenant_id": "t1", "credentials": {"access_token": "wrong"}, "base_url": server.base_url()}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["status"], "validation_error", "{}", reply.body);
    let id = reply.body["id"].as_str().unwrap().to_owned();
    let call = host
        .get(&format!("/proxy/contacts?integrated_account_id={id}"))
        .await;
    call.error(409, "account_not_active");

    let good = host
        .account(
            "hubspot",
            "t1",
            json!({"access_token": "right-token"}),
            json!({}),
            &server.base_url(),
        )
        .await;
    let retry = host
        .admin_send(Method::POST, &format!("/integrated-accounts/{good}/retry"), None)
        .await;
    retry.error(409, "account_not_active");
}

/// Salesforce's REST API at the instance its token answer names: the validation step
/// (`/limits`) and a SOQL query, answering only access tokens the login server issued.
fn salesforce_instance(login: OAuthProviderMock) -> axum::Router {
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    let authorized = move |headers: &HeaderMap| {
        let token = headers
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "));
        token.is_some_and(|t| login.is_live_access_token(t))
    };
    let invalid = || {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])),
        )
    };
    let limits_auth = authorized.clone();
    let root_auth = authorized.clone();
    axum::Router::new()
        .route(
            "/services/data/v60.0/",
            get(move |headers: HeaderMap| async move {
                if !root_auth(&headers) {
                    return invalid();
                }
                (StatusCode::OK, axum::Json(json!({"sobjects": "/services/data/v60.0/sobjects", "query": "/services/data/v60.0/query", "limits": "/services/data/v60.0/limits"})))
            }),
        )
        .route(
            "/services/data/v60.0/limits",
            get(move |headers: HeaderMap| async move {
                if !limits_auth(&headers) {
                    return invalid();
                }
                (StatusCode::OK, axum::Json(json!({"DailyApiRequests": {"Max": 5000, "Remaining": 4982}})))
            }),
        )
        .route(
            "/services/data/v60.0/query",
            get(move |headers: HeaderMap| async move {
                if !authorized(&headers) {
                    return invalid();
                }
                (StatusCode::OK, axum::Json(json!({"totalSize": 1, "done": true, "records": [
                    {"attributes": {"type": "Contact"}, "Id": "003D000000QV9n2IAD", "FirstName": "Rose", "LastName": "Gonzalez",
                     "Email": "rose@edge.com", "Phone": null, "Account": null,
                     "CreatedDate": "2024-01-15T09:12:01.000+0000", "LastModifiedDate": "2024-01-15T09:12:01.000+0000"}]})))
            }),
        )
}

#[tokio::test]
async fn salesforce_connects_by_oauth_and_calls_the_instance_its_token_answer_names() {
    let provider = OAuthProviderMock::new("patchbay", "provider-secret");
    provider.omit_expires_in(true); // Salesforce sends no expires_in
    let login = MockServer::spawn(provider.router()).await;
    let instance = MockServer::spawn(salesforce_instance(provider.clone())).await;
    provider.set_extra_token_fields(json!({
        "instance_url": instance.base_url(),
        "id": format!("{}/id/00D5e000000XXXX/0055e000000YYYY", login.base_url()),
        "issued_at": "1700000000000",
        "signature": "0CmxinZir53Yex7nE0TD+zMpvIWYGb/bdJh6XfOH6EQ="
    }));
    // The instance the token answer names is a loopback stand-in.
    let host = Host::start_with(HostOptions {
        private_vendors: true,
        ..Default::default()
    })
    .await;
    // The connector's login URLs are Salesforce's; the app points them at the stand-in.
    let (authorize, q) = authorize_at(&host, "salesforce", ("patchbay", "provider-secret"), &login).await;
    assert_eq!(q["scope"], "api refresh_token");
    assert_eq!(q["code_challenge_method"], "S256");
    let back = run_authorization(authorize.as_str()).await;
    let get = |k: &str| back.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(
        get("status").as_deref(),
        Some("active"),
        "validation reached the instance: {back:?}"
    );
    let id = get("integrated_account_id").unwrap();
    let account = host.get(&format!("/integrated-accounts/{id}")).await;
    assert_eq!(
        account.body["context"]["instance_url"],
        instance.base_url().as_str(),
        "{}",
        account.body
    );
    assert_eq!(account.body["auth_method"], "oauth2");
    let left = chrono::DateTime::parse_from_rfc3339(account.body["token_expires_at"].as_str().unwrap())
        .unwrap()
        .timestamp()
        - chrono::Utc::now().timestamp();
    assert!(
        (7100..=7200).contains(&left),
        "the manifest's 2 h default applies: {left}"
    );
    let list = host
        .get(&format!("/unified/crm/contacts?integrated_account_id={id}"))
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["result"][0]["id"], "003D000000QV9n2IAD");
    assert_eq!(list.body["result"][0]["last_name"], "Gonzalez");
    // A refresh keeps the instance (the answer names it again) and the account active.
    let refreshed = host.refresh(&id).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert_eq!(
        refreshed.body["context"]["instance_url"],
        instance.base_url().as_str()
    );
}

/// The form fields of a recorded token request.
fn token_form(r: &patchbay_tests::mocks::RecordedRequest) -> std::collections::HashMap<String, String> {
    let raw = r.body.as_ref().and_then(|b| b.as_str()).unwrap_or_default();
    url::form_urlencoded::parse(raw.as_bytes()).into_owned().collect()
}

#[tokio::test]
async fn hubspot_connects_by_oauth_refreshes_and_needs_reauth_when_uninstalled() {
    // HubSpot's documented token answer (changelog of 2025-08-18): `hub_id` and `scopes` next
    // to a 30-minute `expires_in`; the refresh token does not rotate.
    let provider = OAuthProviderMock::new("hs-client", "hs-secret");
    provider.set_lifetime(1800);
    provider.set_rotation(false);
    provider
        .set_extra_token_fields(json!({"hub_id": 62515, "scopes": ["oauth", "crm.objects.contacts.read"]}));
    let oauth = MockServer::spawn(provider.router()).await;
    let issued = provider.clone();
    let hubspot = HubSpotMock::accepting(move |t| issued.is_live_access_token(t));
    hubspot.seed(3);
    let api = MockServer::spawn(hubspot.router()).await;

    // The bundled manifest, with its API root pointed at the simulation.
    let dir = scratch_dir("hubspot-oauth");
    copy_connectors(&dir);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("hubspot.json")).unwrap()).unwrap();
    manifest["base_url"] = json!(api.base_url());
    write_connector(&dir, &manifest);
    let host = Host::start_with(HostOptions {
        connectors: Some(dir),
        private_vendors: true,
        ..Default::default()
    })
    .await;
    let (authorize, q) = authorize_at(&host, "hubspot", ("hs-client", "hs-secret"), &oauth).await;
    assert_eq!(q["client_id"], "hs-client");
    assert_eq!(
        q["scope"],
        "oauth crm.objects.contacts.read crm.objects.contacts.write crm.objects.companies.read crm.objects.companies.write"
    );
    assert_eq!(q["code_challenge_method"], "S256");
    let back = run_authorization(authorize.as_str()).await;
    let get = |k: &str| back.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("status").as_deref(), Some("active"), "{back:?}");
    let id = get("integrated_account_id").unwrap();

    // The code exchange: client credentials in the body (HubSpot's form), the PKCE verifier.
    let token_requests = || {
        provider
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/token"))
            .collect::<Vec<_>>()
    };
    let exchange = token_form(&token_requests()[0]);
    assert_eq!(exchange["grant_type"], "authorization_code");
    assert_eq!(exchange["client_secret"], "hs-secret");
    assert!(exchange.contains_key("code_verifier"), "{exchange:?}");

    let account = host.get(&format!("/integrated-accounts/{id}")).await;
    assert_eq!(account.body["auth_method"], "oauth2", "{}", account.body);
    // `hub_id` from the token answer; the post-install step read the same portal.
    assert_eq!(account.body["context"]["portal_id"], 62515, "{}", account.body);
    let expires_in = |a: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(a["token_expires_at"].as_str().unwrap())
            .unwrap()
            .timestamp()
            - chrono::Utc::now().timestamp()
    };
    assert!(
        (1700..=1800).contains(&expires_in(&account.body)),
        "{}",
        account.body
    );
    let list = host
        .get(&format!("/unified/crm/contacts?integrated_account_id={id}"))
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["result"].as_array().unwrap().len(), 3, "{}", list.body);
    let bearer = |r: &patchbay_tests::mocks::RecordedRequest| r.header("authorization").map(str::to_owned);
    let first_token = bearer(hubspot.requests().last().unwrap()).unwrap();

    // A refresh: a new access token with a new 30 minutes, the same refresh token sent again.
    let refreshed = host.refresh(&id).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert_eq!(refreshed.body["status"], "active");
    assert!(
        (1700..=1800).contains(&expires_in(&refreshed.body)),
        "{}",
        refreshed.body
    );
    let refresh = token_form(token_requests().last().unwrap());
    assert_eq!(refresh["grant_type"], "refresh_token");
    assert_eq!(refresh["client_id"], "hs-client");
    let again = host
        .get(&format!("/proxy/contacts?integrated_account_id={id}&limit=1"))
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    let second_token = bearer(hubspot.requests().last().unwrap()).unwrap();
    assert_ne!(first_token, second_token, "calls use the refreshed token");

    // The customer uninstalls the app: the vendor's 401, a refused refresh, `needs_reauth`.
    provider.revoke_all();
    let refused = host
        .get(&format!("/proxy/contacts?integrated_account_id={id}"))
        .await;
    refused.error(401, "remote_unauthorized");
    assert_eq!(host.status(&id).await, "needs_reauth");
    let _ = (oauth, api);
}
