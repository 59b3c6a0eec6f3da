//! Every bundled declarative manifest, served natively and as its compiled component (`patchbay
//! connector build`: the engine and the manifest inside the sandbox), over the same fixtures:
//! real answers of the mock vendors to every resource method (pages, records, errors, throttling).
//! The host's dispatch must produce identical requests, outcomes and unified records either way.

use std::sync::Arc;

use patchbay::connectors::{Classification, LiveConnector, validate_text};
use patchbay::sandbox::{Sandbox, SandboxConfig};
use patchbay_engine::manifest::Hook;
use patchbay_engine::{Account, Call, Headers, HttpRequest, HttpResponse, Outcome, Payload};
use patchbay_tests::mocks::{GitHubMock, HubSpotMock, MockServer, PipedriveMock};
use patchbay_tests::{bundled_connectors, component};
use serde_json::{Value, json};

struct Pair {
    native: LiveConnector,
    sandboxed: LiveConnector,
}

fn pair(name: &str, sandbox: &Arc<Sandbox>) -> Pair {
    let text = std::fs::read_to_string(bundled_connectors().join(format!("{name}.json"))).unwrap();
    let engine = std::fs::read(component("patchbay_manifest_component")).unwrap();
    let wasm = patchbay::sandbox::package::build(&engine, &text).unwrap();
    let embedded = patchbay::sandbox::package::embedded_manifest(&wasm)
        .unwrap()
        .unwrap();
    let loaded = sandbox
        .load(&wasm, &format!("{name}@compiled"), &embedded)
        .unwrap();
    let pair = Pair {
        native: LiveConnector {
            connector: validate_text(&text).unwrap(),
            revision: 1,
            component: None,
        },
        sandboxed: LiveConnector {
            connector: validate_text(&embedded).unwrap(),
            revision: 1,
            component: Some(Arc::new(loaded)),
        },
    };
    // Not vacuous: every step of the compiled connector runs in the component.
    for hook in [
        Hook::BuildRequest,
        Hook::Classify,
        Hook::ReadPage,
        Hook::MapRecords,
        Hook::MapBack,
    ] {
        assert!(pair.sandboxed.dispatch().in_component(hook), "{hook:?}");
        assert!(!pair.native.dispatch().in_component(hook));
    }
    pair
}

async fn fetch(http: &reqwest::Client, req: &HttpRequest) -> HttpResponse {
    let method = reqwest::Method::from_bytes(req.method.as_str().as_bytes()).unwrap();
    let mut b = http.request(method, &req.url);
    for (k, v) in &req.headers {
        b = b.header(k, v);
    }
    if let Some(body) = &req.body {
        b = b.body(body.to_string());
    }
    let r = b.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    HttpResponse {
        status,
        headers: Headers::new(headers),
        body: r.bytes().await.unwrap().to_vec(),
        url: Some(req.url.clone()),
    }
}

/// Outcomes compared field by field (rate limit, payload or failure with its body).
/// Equal outcomes; a reset or retry-after given as an epoch (GitHub's `x-ratelimit-reset`) is
/// turned into seconds from the clock at evaluation, so the two runs may straddle a second.
fn same_outcome(a: &Outcome, b: &Outcome) -> bool {
    let near = |x: Option<u64>, y: Option<u64>| match (x, y) {
        (Some(x), Some(y)) => x.abs_diff(y) <= 1,
        (x, y) => x == y,
    };
    let (ra, rb) = (&a.rate_limit, &b.rate_limit);
    ra.limit == rb.limit
        && ra.remaining == rb.remaining
        && near(ra.reset, rb.reset)
        && near(ra.retry_after, rb.retry_after)
        && a.result == b.result
}

/// Runs one call both ways; returns the native outcome (and checks the pages that follow).
async fn compare_call(
    p: &Pair,
    http: &reqwest::Client,
    account: &Account<'_>,
    mut call: Call,
    checked: &mut usize,
) {
    for _page in 0..3 {
        let native_req = p.native.dispatch().request(account, &call).await.unwrap();
        let sandboxed_req = p.sandboxed.dispatch().request(account, &call).await.unwrap();
        assert_eq!(
            native_req, sandboxed_req,
            "request of {}.{}",
            call.resource, call.method
        );
        let response = fetch(http, &native_req).await;
        let native = p
            .native
            .dispatch()
            .outcome(&call, response.clone())
            .await
            .unwrap();
        let sandboxed = p
            .sandboxed
            .dispatch()
            .outcome(&call, response.clone())
            .await
            .unwrap();
        assert!(
            same_outcome(&native, &sandboxed),
            "{}.{} answered {}:\nnative    {native:?}\nsandboxed {sandboxed:?}",
            call.resource,
            call.method,
            response.status
        );
        let code = |c: Classification| c.failure.map(|f| f.code);
        assert_eq!(
            code(p.native.dispatch().classify(&call, &response).await.unwrap()),
            code(p.sandboxed.dispatch().classify(&call, &response).await.unwrap())
        );
        *checked += 1;
        match native.result {
            Ok(Payload::List { next: Some(next), .. }) => call.page = Some(next),
            _ => return,
        }
    }
}

async fn compare_unified(p: &Pair, http: &reqwest::Client, account: &Account<'_>, checked: &mut usize) {
    let unified: Vec<(String, String, Vec<String>)> = p
        .native
        .connector
        .unified_resources()
        .map(|(m, r, ms)| {
            (
                m.to_owned(),
                r.to_owned(),
                ms.into_iter().map(str::to_owned).collect(),
            )
        })
        .collect();
    for (model, resource, methods) in unified {
        for method in methods {
            let names = (model.as_str(), resource.as_str(), method.as_str());
            let body = json!({"title": "Differential", "name": "Differential", "email": "d@example.com", "description": "x"});
            let u = p.native.connector.unified(&model, &resource, &method).unwrap();
            // Writes: the body mapping.
            if matches!(method.as_str(), "create" | "update") {
                let native = u.map_request_body(&body).map_err(|e| e.to_string());
                let sandboxed = p
                    .sandboxed
                    .dispatch()
                    .map_back(names, &body)
                    .await
                    .expect("the component maps back");
                assert_eq!(native.ok(), sandboxed.ok(), "{model}/{resource}.{method} body");
                *checked += 1;
                continue;
            }
            let call = Call {
                id: Some("1".into()),
                limit: Some(5),
                ..Default::default()
            };
            let (_, call) = p
                .native
                .connector
                .unified_call(&model, &resource, &method, call)
                .unwrap();
            let response = fetch(http, &p.native.dispatch().request(account, &call).await.unwrap()).await;
            let records = match p.native.dispatch().outcome(&call, response).await.unwrap().result {
                Ok(Payload::List { records, .. }) => records,
                Ok(Payload::Single(r)) => vec![r],
                Err(_) => continue,
            };
            let native = p.native.dispatch().map_records(names, u, &records).await.unwrap();
            let sandboxed = p
                .sandboxed
                .dispatch()
                .map_records(names, u, &records)
                .await
                .unwrap();
            assert_eq!(native, sandboxed, "{model}/{resource}.{method} records");
            assert!(!records.is_empty() || method != "list");
            *checked += 1;
        }
    }
}

/// Every method of every resource, with an id and a body where one is needed.
fn calls(c: &LiveConnector) -> Vec<Call> {
    let mut out = Vec::new();
    for (resource, r) in &c.connector.manifest.resources {
        for method in r.methods.keys() {
            out.push(Call {
                resource: resource.clone(),
                method: method.clone(),
                id: Some("1".into()),
                limit: Some(7),
                body: Some(json!({"properties": {"email": "d@example.com"}, "title": "t", "name": "n"})),
                ..Default::default()
            });
        }
    }
    out
}

async fn run(
    name: &str,
    p: &Pair,
    base: &str,
    credentials: Value,
    context: Value,
    faults: impl Fn(u16),
) -> usize {
    let http = reqwest::Client::new();
    let account = Account {
        credentials: &credentials,
        context: &context,
        base_url: Some(base),
        auth_method: None,
    };
    let mut checked = 0;
    for call in calls(&p.native) {
        compare_call(p, &http, &account, call, &mut checked).await;
    }
    // Failures and throttling, as each vendor documents them.
    for status in [429, 401, 403, 404, 500, 503] {
        faults(status);
        let list = calls(&p.native).into_iter().find(|c| c.method == "list").unwrap();
        compare_call(p, &http, &account, list, &mut checked).await;
    }
    compare_unified(p, &http, &account, &mut checked).await;
    println!("differential {name}: {checked} answers identical natively and in the sandbox");
    checked
}

#[tokio::test]
async fn bundled_manifests_behave_the_same_natively_and_compiled() {
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();

    let hubspot = HubSpotMock::new("hs");
    let server = MockServer::spawn(hubspot.router()).await;
    hubspot.seed(23);
    let p = pair("hubspot", &sandbox);
    let n = run(
        "hubspot",
        &p,
        &server.base_url(),
        json!({"access_token": "hs"}),
        json!({}),
        |s| hubspot.fail_next(s, 1),
    )
    .await;
    assert!(n >= 15, "{n}");

    let github = GitHubMock::new("gh");
    let server = MockServer::spawn(github.router()).await;
    github.seed(40);
    let p = pair("github", &sandbox);
    let n = run(
        "github",
        &p,
        &server.base_url(),
        json!({"access_token": "gh"}),
        json!({"owner": "octo", "repo": "hello"}),
        |s| github.fail_next(s, 1),
    )
    .await;
    assert!(n >= 10, "{n}");

    let pipedrive = PipedriveMock::new("pd");
    let server = MockServer::spawn(pipedrive.router()).await;
    pipedrive.seed(31);
    let p = pair("pipedrive", &sandbox);
    let n = run(
        "pipedrive",
        &p,
        &format!("{}/api/v1", server.base_url()),
        json!({"api_token": "pd"}),
        json!({"company_domain": "acme"}),
        |s| pipedrive.fail_next(s, 1),
    )
    .await;
    assert!(n >= 10, "{n}");
}
