//! OAuth2 against a real server nobody here wrote (`oauth2-mock-server` from npm): the
//! authorization code flow with PKCE (S256) and the client credentials grant, end to end.

use patchbay_tests::{
    Host, HostOptions, OidcServer, copy_connectors, run_authorization, scratch_dir, write_connector,
};
use reqwest::Method;
use serde_json::json;

async fn host_with(oidc: &OidcServer) -> Host {
    let dir = scratch_dir("oidc");
    copy_connectors(&dir);
    write_connector(
        &dir,
        &json!({
            "name": "acme-oidc", "version": "1.0.0", "base_url": oidc.url,
            "auth": {"type": "oauth2", "grant": "authorization_code", "authorize_url": format!("{}/authorize", oidc.url),
                     "token_url": format!("{}/token", oidc.url), "scopes": ["openid", "profile"]},
            "resources": {"userinfo": {"methods": {"get": {"method": "GET", "path": "/userinfo"}}}},
            "lifecycle": {"post_install": [{"name": "whoami", "resource": "userinfo", "method": "get", "context": {"subject": ".sub"}}]}
        }),
    );
    write_connector(
        &dir,
        &json!({
            "name": "acme-m2m", "version": "1.0.0", "base_url": oidc.url,
            "auth": {"type": "oauth2", "grant": "client_credentials", "token_url": format!("{}/token", oidc.url), "client_auth": "basic"},
            "resources": {"userinfo": {"methods": {"get": {"method": "GET", "path": "/userinfo"}}}},
            "lifecycle": {"validation": [{"name": "whoami", "resource": "userinfo", "method": "get"}]}
        }),
    );
    Host::start_with(HostOptions {
        connectors: Some(dir),
        private_vendors: true,
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn authorization_code_with_pkce_end_to_end() {
    let oidc = OidcServer::start();
    let host = host_with(&oidc).await;
    let admin = host.admin.clone();

    // No app yet: connecting is refused with a clear message.
    let body = json!({"tenant_id": "t1", "redirect_uri": "https://product.example/done"});
    host.send(Method::POST, "/connect/acme-oidc", &admin, Some(body.clone()))
        .await
        .error(400, "invalid_request");

    let app = json!({"client_id": "patchbay-test", "client_secret": "s3cret-value"});
    let set = host
        .send(Method::PUT, "/connectors/acme-oidc/oauth-app", &admin, Some(app))
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["client_secret_set"], true);
    assert!(
        set.body.get("client_secret").is_none(),
        "the secret never comes back"
    );

    let started = host
        .send(Method::POST, "/connect/acme-oidc", &admin, Some(body))
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let authorize_url = started.body["authorize_url"].as_str().unwrap().to_owned();
    let parsed = url::Url::parse(&authorize_url).unwrap();
    let q: std::collections::HashMap<String, String> = parsed.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "openid profile");
    assert_eq!(q["redirect_uri"], format!("{}/oauth/callback", host.url));

    let back = run_authorization(&authorize_url).await;
    let get = |k: &str| back.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("status").as_deref(), Some("active"), "{back:?}");
    let id = get("integrated_account_id").unwrap();

    let account = host.get(&format!("/integrated-accounts/{id}")).await;
    assert_eq!(account.body["tenant_id"], "t1");
    assert_eq!(
        account.body["context"]["subject"], "johndoe",
        "post-install read the user"
    );
    assert!(account.body["token_expires_at"].is_string());
    let me = host
        .get(&format!("/proxy/userinfo/me?integrated_account_id={id}"))
        .await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["result"]["sub"], "johndoe");

    // The state is single use: replaying the callback fails and creates nothing.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let state = &q["state"];
    let r = replay
        .get(format!("{}/oauth/callback?code=x&state={state}", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let list = host.get("/integrated-accounts?connector=acme-oidc").await;
    assert_eq!(list.body["result_count"], 1);

    // The operator lever: a forced refresh with the refresh token the server issued.
    let refreshed = host.refresh(&id).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert_eq!(refreshed.body["status"], "active");
}

#[tokio::test]
async fn client_credentials_end_to_end() {
    let oidc = OidcServer::start();
    let host = host_with(&oidc).await;
    let admin = host.admin.clone();
    let app = json!({"client_id": "machine", "client_secret": "m2m-secret", "scopes": ["read"]});
    assert_eq!(
        host.send(Method::PUT, "/connectors/acme-m2m/oauth-app", &admin, Some(app))
            .await
            .status,
        200
    );
    let created = host
        .send(
            Method::POST,
            "/integrated-accounts",
            &admin,
            Some(json!({"connector": "acme-m2m", "tenant_id": "t1", "credentials": {}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["status"], "active", "{}", created.body);
    assert!(created.body["token_expires_at"].is_string());
    let id = created.body["id"].as_str().unwrap();
    let me = host
        .get(&format!("/proxy/userinfo/me?integrated_account_id={id}"))
        .await;
    assert_eq!(me.status, 200, "{}", me.body);
    // Client credentials have no refresh token: a refresh fetches a new token.
    let refreshed = host.refresh(id).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    // New client credentials (PATCH) get a token of their own before validation runs again.
    let patched = host
        .send(
            Method::PATCH,
            &format!("/integrated-accounts/{id}"),
            &admin,
            Some(json!({"credentials": {"client_id": "machine-2", "client_secret": "other"}})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["status"], "active", "{}", patched.body);
    assert_eq!(
        host.get(&format!("/proxy/userinfo/me?integrated_account_id={id}"))
            .await
            .status,
        200
    );
    // Authorization-code connectors cannot be created with POST /integrated-accounts.
    host.send(
        Method::POST,
        "/integrated-accounts",
        &admin,
        Some(json!({"connector": "acme-oidc", "tenant_id": "t1", "credentials": {}})),
    )
    .await
    .error(400, "invalid_request");
}
