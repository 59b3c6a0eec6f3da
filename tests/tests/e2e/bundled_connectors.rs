//! Checks over the bundled connectors that need no host: the published schema is current, every
//! manifest loads, the fast mapping path agrees with jq on real vendor payloads, and base URLs
//! are templated from account context.

use patchbay_engine::{Account, Call, Connector};
use patchbay_tests::bundled_connectors;
use patchbay_tests::mocks::{GitHubMock, HubSpotMock, MockServer, PipedriveMock};
use serde_json::{Value, json};

fn load(name: &str) -> Connector {
    patchbay::connectors::load_file(&bundled_connectors().join(format!("{name}.json")))
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
        auth_method: None,
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

async fn answer(url: String, auth: (&str, &str)) -> patchbay_engine::HttpResponse {
    let r = reqwest::Client::new()
        .get(&url)
        .header(auth.0, auth.1)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let body = r.bytes().await.unwrap().to_vec();
    patchbay_engine::HttpResponse {
        status,
        headers: patchbay_engine::Headers::new(headers),
        body,
        url: Some(url),
    }
}

/// The general path's answer to a list page: records (mapped, with remote_data) and next page.
fn general(
    c: &Connector,
    resource: &str,
    response: patchbay_engine::HttpResponse,
    unified: Option<(&patchbay_engine::CompiledUnified, bool)>,
) -> Result<(Value, Option<patchbay_engine::PageState>), String> {
    let out = c.interpret(resource, "list", None, response, 0);
    let Ok(patchbay_engine::Payload::List { records, next }) = out.result else {
        return Err(format!("{:?}", out.result));
    };
    let records = records
        .into_iter()
        .map(|r| match unified {
            None => Ok(r),
            Some((u, remote_data)) => {
                let mut m = u.map_record(&r)?;
                if remote_data {
                    m["remote_data"] = r;
                }
                Ok(m)
            }
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((Value::Array(records), next))
}

/// The raw list path gives exactly what the general path gives, for every bundled list method
/// and unified list, on real mock pages and on drifted shapes (where it must step aside).
#[tokio::test]
async fn raw_list_path_agrees_with_the_general_path() {
    let hubspot = HubSpotMock::new("t");
    let github = GitHubMock::new("t");
    let pipedrive = PipedriveMock::new("t");
    hubspot.seed(7);
    github.seed(7);
    pipedrive.seed(7);
    let (hs, gh, pd) = (
        MockServer::spawn(hubspot.router()).await,
        MockServer::spawn(github.router()).await,
        MockServer::spawn(pipedrive.router()).await,
    );
    let bearer = ("authorization", "Bearer t");
    let cases = [
        (
            "hubspot",
            "contacts",
            Some(("crm", "contacts")),
            answer(
                format!(
                    "{}/crm/v3/objects/contacts?limit=3&properties=email,phone,company,firstname,lastname",
                    hs.base_url()
                ),
                bearer,
            )
            .await,
        ),
        (
            "hubspot",
            "contacts",
            Some(("crm", "contacts")),
            answer(
                format!("{}/crm/v3/objects/contacts?limit=100", hs.base_url()),
                bearer,
            )
            .await,
        ),
        (
            "hubspot",
            "companies",
            Some(("crm", "companies")),
            answer(
                format!("{}/crm/v3/objects/companies?limit=2", hs.base_url()),
                bearer,
            )
            .await,
        ),
        (
            "github",
            "issues",
            Some(("ticketing", "tickets")),
            answer(
                format!("{}/repos/octo/hello/issues?state=all&per_page=3", gh.base_url()),
                bearer,
            )
            .await,
        ),
        (
            "pipedrive",
            "persons",
            Some(("crm", "contacts")),
            answer(
                format!("{}/api/v1/persons?api_token=t&limit=3", pd.base_url()),
                ("x-unused", ""),
            )
            .await,
        ),
        (
            "pipedrive",
            "persons",
            None,
            answer(
                format!("{}/api/v1/persons?api_token=t&start=100", pd.base_url()),
                ("x-unused", ""),
            )
            .await,
        ),
    ];
    let mut raw_used = 0;
    for (name, resource, model, response) in cases {
        let c = load(name);
        for remote_data in [true, false] {
            let mut mappings = vec![None];
            if let Some((m, r)) = model {
                mappings.push(Some((c.unified(m, r, "list").unwrap(), remote_data)));
            }
            for unified in mappings {
                let want = general(&c, resource, response.clone(), unified).unwrap();
                if let Some(raw) = c.interpret_list_raw(resource, "list", None, &response, unified) {
                    raw_used += 1;
                    let got: Value = serde_json::from_slice(&raw.records_json).unwrap();
                    assert_eq!(raw.count, got.as_array().unwrap().len());
                    assert_eq!((got, raw.next), want, "{name} {resource} {:?}", unified.is_some());
                }
            }
        }
    }
    assert!(
        raw_used >= 10,
        "the raw path is taken for the bundled connectors ({raw_used})"
    );

    // Drifted shapes: the raw path steps aside, the general path reports or maps as jq would.
    let c = load("hubspot");
    let u = c.unified("crm", "contacts", "list").unwrap();
    for body in [
        r#"{"results": [{"id": "1", "properties": 5}]}"#,
        r#"{"results": {"id": "1"}}"#,
        r#"{"results": [{"id": "1", "properties": {"email": "a@b"}}], "paging": {"next": {"after": 5}}}"#,
        r#"{"results": [{"id": "1", "properties": null}, 7]}"#,
        r#"{"results": [{"id": "1", "properties": {"email": "a@b"}, "properties": {"firstname": "B"}}]}"#,
        r#"{"results": [{"id": "1", "properties": {"email": "a@b", "email": null}, "id": "2"}]}"#,
        r#"{"results": [{"id": "1", "properties": "text"}]}"#,
        r#"{"results": [{"id": "1", "remote_data": "vendor field", "properties": {"email": "x"}}]}"#,
        r#"{"results": []}"#,
        r#"{"paging": null}"#,
        // The records key, read in the same pass as the rest of the page.
        r#"{"paging": {"next": {"after": "9"}}, "results": [{"id": "1", "properties": {"email": "a@b"}}]}"#,
        r#"{"results": [{"id": "1"}], "results": [{"id": "2"}, {"id": "3"}]}"#,
        r#"{"res\u0075lts": [{"id": "1", "properties": {"firstname": "\u00c9"}}]}"#,
        r#"{"results": null, "paging": {"next": {"after": "2"}}}"#,
        r#"{"results": [null, {"id": "1"}]}"#,
        r#"{"results": 5}"#,
        r#"{"results": [{"id": "1"}]} trailing"#,
        r#"{"results": [{"id": "1"}"#,
        "not json",
    ] {
        let response = patchbay_engine::HttpResponse {
            status: 200,
            headers: Default::default(),
            body: body.as_bytes().to_vec(),
            url: None,
        };
        for unified in [Some((u, true)), Some((u, false)), None] {
            let want = general(&c, "contacts", response.clone(), unified);
            match c.interpret_list_raw("contacts", "list", None, &response, unified) {
                None => assert!(
                    !body.starts_with(r#"{"paging": {"next""#),
                    "records after the paging member stay on the raw path"
                ),
                Some(raw) => {
                    let got: Value = serde_json::from_slice(&raw.records_json).unwrap();
                    assert_eq!(raw.count, got.as_array().unwrap().len());
                    assert_eq!(Ok((got, raw.next)), want, "{body} {:?}", unified.map(|u| u.1));
                }
            }
        }
    }
}

/// A single record taken from the vendor's bytes (the proxy's `get`) is the record the general
/// path reads, for a whole-body record and for `record` paths of each shape the bundled
/// connectors use; off the happy shape the raw path steps aside or agrees.
#[test]
fn single_records_on_the_raw_path_equal_the_general_path() {
    let record = json!({"id": "1", "name": "Ad\u{e9}a \"q\"", "n": 1.5, "big": 12345678901234567u64,
        "nested": {"a": [1, null, {"b": false}]}});
    let response = |status: u16, body: &[u8]| patchbay_engine::HttpResponse {
        status,
        headers: Default::default(),
        body: body.to_vec(),
        url: None,
    };
    let cases = [
        ("hubspot", "contacts", record.clone()),
        ("zendesk", "tickets", json!({"ticket": record})),
        ("zoho-crm", "contacts", json!({"data": [record]})),
        ("linear", "issues", json!({"data": {"issue": record}})),
        ("asana", "tasks", json!({"data": record})),
    ];
    for (name, resource, body) in cases {
        let c = load(name);
        // The vendor's own spacing and escapes are kept; only the value counts.
        let text = serde_json::to_string_pretty(&body)
            .unwrap()
            .replace("\u{e9}", "\\u00e9");
        let answer = response(200, text.as_bytes());
        let raw = c
            .interpret_single_raw(resource, "get", &answer)
            .unwrap_or_else(|| panic!("{name} {resource}.get takes the raw path"));
        let want = c.interpret(resource, "get", None, answer.clone(), 0).result;
        let got: Value = serde_json::from_str(raw).unwrap();
        assert_eq!(got, record, "{name}");
        assert_eq!(Ok(patchbay_engine::Payload::Single(got)), want, "{name}");
        // A vendor error is the general path's to read.
        assert!(
            c.interpret_single_raw(resource, "get", &response(404, text.as_bytes()))
                .is_none()
        );
    }
    let c = load("zoho-crm");
    for body in [
        "",
        "  ",
        "not json",
        "null",
        "{\"data\": null}",
        "{\"data\": []}",
        "{\"other\": 1}",
        "{\"data\": [1]}",
        "{\"data\": {\"0\": 1}}",
        "[1, 2]",
        "{\"data\": [{\"id\": 1}]} trailing",
    ] {
        let answer = response(200, body.as_bytes());
        let general = c.interpret("contacts", "get", None, answer.clone(), 0).result;
        if let Some(raw) = c.interpret_single_raw("contacts", "get", &answer) {
            let got: Value = serde_json::from_str(raw).unwrap();
            assert_eq!(Ok(patchbay_engine::Payload::Single(got)), general, "{body}");
        }
    }
    // A list method is never read as one record.
    assert!(
        load("hubspot")
            .interpret_single_raw("contacts", "list", &response(200, b"{}"))
            .is_none()
    );
}
