//! Checks over the bundled connectors that need no host: the published schema is current, every
//! manifest loads, the fast mapping path agrees with jq on real vendor payloads, and base URLs
//! are templated from account context.

use patchbay_engine::{Account, Call, Connector};
use patchbay_tests::bundled_connectors;
use patchbay_tests::mocks::{GitHubMock, HubSpotMock, MockServer, PipedriveMock};
use serde_json::{Value, json};

fn load(name: &str) -> Connector {
    patchbay::registry::load_file(&bundled_connectors().join(format!("{name}.json")))
        .unwrap_or_else(|r| panic!("{r}"))
}

#[test]
fn published_manifest_schema_is_current() {
    let file = bundled_connectors().join("manifest.schema.json");
    let published: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        published,
        patchbay_engine::manifest::schema(),
        "connectors/manifest.schema.json is stale: run `cargo run -p patchbay -- connector schema > connectors/manifest.schema.json`"
    );
}

#[test]
fn pipedrive_base_url_comes_from_account_context() {
    let c = load("pipedrive");
    let creds = json!({"api_token": "tok"});
    let ctx = json!({"company_domain": "acme"});
    let account = Account {
        credentials: &creds,
        context: &ctx,
        base_url: None,
    };
    let call = Call {
        resource: "persons".into(),
        method: "list".into(),
        limit: Some(50),
        ..Default::default()
    };
    let req = c.build_request(&account, &call).unwrap();
    assert_eq!(
        req.url,
        "https://acme.pipedrive.com/api/v1/persons?limit=50&api_token=tok"
    );
    // A context value cannot steer credentials to another host.
    let evil = json!({"company_domain": "evil.example/x?"});
    let err = c
        .build_request(
            &Account {
                context: &evil,
                ..account
            },
            &call,
        )
        .unwrap_err();
    assert!(matches!(err, patchbay_engine::CallError::BadUrl(_)), "{err:?}");
}

async fn fetch(url: String, auth: (&str, &str)) -> Value {
    reqwest::Client::new()
        .get(url)
        .header(auth.0, auth.1)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every expression of every bundled connector gives the same answer on the fast path as on
/// jaq, over real mock vendor payloads and hostile shapes.
#[tokio::test]
async fn fast_path_agrees_with_jq_on_every_bundled_expression() {
    let hubspot = HubSpotMock::new("t");
    let github = GitHubMock::new("t");
    let pipedrive = PipedriveMock::new("t");
    hubspot.seed(5);
    github.seed(5);
    pipedrive.seed(5);
    let (hs, gh, pd) = (
        MockServer::spawn(hubspot.router()).await,
        MockServer::spawn(github.router()).await,
        MockServer::spawn(pipedrive.router()).await,
    );
    let hs_page = fetch(
        format!(
            "{}/crm/v3/objects/contacts?limit=3&properties=email,phone,company",
            hs.base_url()
        ),
        ("authorization", "Bearer t"),
    )
    .await;
    let hs_companies = fetch(
        format!("{}/crm/v3/objects/companies?limit=3", hs.base_url()),
        ("authorization", "Bearer t"),
    )
    .await;
    let gh_page = fetch(
        format!("{}/repos/octo/hello/issues?state=all", gh.base_url()),
        ("authorization", "Bearer t"),
    )
    .await;
    let pd_page = fetch(
        format!("{}/api/v1/persons?api_token=t", pd.base_url()),
        ("x-unused", ""),
    )
    .await;

    let mut inputs = vec![
        hs_page.clone(),
        hs_companies.clone(),
        gh_page.clone(),
        pd_page.clone(),
    ];
    for page in [&hs_page, &hs_companies] {
        inputs.extend(page["results"].as_array().unwrap().iter().cloned());
    }
    inputs.extend(gh_page.as_array().unwrap().iter().cloned());
    inputs.extend(pd_page["data"].as_array().unwrap().iter().cloned());
    inputs.extend([
        json!(null),
        json!({}),
        json!(42),
        json!("text"),
        json!([1, 2]),
        json!({"properties": 5}),
        json!({"results": "x"}),
    ]);

    let mut fast_checked = 0;
    for name in ["hubspot", "github", "pipedrive"] {
        let c = load(name);
        for (path, expr) in c.expressions() {
            for input in &inputs {
                let got = expr.eval(input);
                let want = expr.eval_jq(input);
                match (&got, &want) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{name} {path} on {input}"),
                    (Err(_), Err(_)) => {}
                    _ => panic!("{name} {path} on {input}: fast {got:?} vs jq {want:?}"),
                }
            }
            fast_checked += usize::from(expr.is_fast());
        }
    }
    assert!(
        fast_checked >= 10,
        "the bundled mappings exercise the fast path ({fast_checked})"
    );
}
