//! Connector tests as data: every bundled connector's cases pass through a real host against
//! the replaying vendor; a case whose vendor exchange or expectation is wrong fails and says
//! where; the `connector new` skeleton passes as written.

use patchbay::app::cases::{self, spec};
use patchbay_tests::{bundled_connector_names, bundled_connectors, scratch_dir};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bundled_connectors_cases_pass() {
    let files = spec::discover(&bundled_connectors()).unwrap();
    let results = cases::run_all(&files).await;
    let table = cases::table(&results);
    println!("{table}");
    assert!(results.iter().all(|r| r.outcome.is_ok()), "{table}");
    // Every bundled connector ships cases (the catalogue's own tests).
    for name in bundled_connector_names() {
        if name == "standard-webhooks" {
            continue; // a webhook scheme, with no vendor API to call
        }
        let has = results.iter().any(|r| r.connector == name);
        assert!(
            has,
            "connector {name} has no test cases in connectors/{name}/tests/"
        );
    }
}

fn skeleton() -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = scratch_dir("cases");
    cases::skeleton::write(&dir, "demo").unwrap();
    std::fs::copy(
        bundled_connectors().join("manifest.schema.json"),
        dir.join("manifest.schema.json"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("unified")).unwrap();
    std::fs::copy(
        bundled_connectors().join("unified/crm.contacts.schema.json"),
        dir.join("unified/crm.contacts.schema.json"),
    )
    .unwrap();
    let case = dir.join("demo/tests/list.json");
    (dir, case)
}

fn edit(case: &std::path::Path, f: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(case).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(case, v.to_string()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_skeleton_passes_and_wrong_cases_fail_naming_the_difference() {
    let (dir, case) = skeleton();
    patchbay::connectors::load_file(&dir.join("demo.json")).unwrap_or_else(|r| panic!("{r}"));
    let files = spec::discover(&dir).unwrap();
    assert_eq!(files.len(), 1);
    let ok = cases::run_all(&files).await;
    assert!(ok[0].outcome.is_ok(), "{}", cases::table(&ok));

    // A mapped value the connector does not produce.
    edit(&case, |v| {
        v["expect"]["records"][1]["email"] = "someone@else.example".into()
    });
    let r = cases::run_case(&spec::discover(&case).unwrap()[0]).await;
    let problems = r.outcome.unwrap_err();
    assert!(
        problems.iter().any(|p| p.contains("records[1].email")),
        "{problems:?}"
    );

    // A request the connector does not make: the replay refuses it and names the exchange.
    let (_dir, case) = skeleton();
    edit(&case, |v| {
        v["exchanges"][1]["request"]["query"]["cursor"] = "other".into()
    });
    let r = cases::run_case(&spec::discover(&case).unwrap()[0]).await;
    let problems = r.outcome.unwrap_err();
    assert!(
        problems.iter().any(|p| p.starts_with("exchange 2: query cursor")),
        "{problems:?}"
    );

    // An exchange the connector never asks for.
    let (_dir, case) = skeleton();
    edit(&case, |v| {
        let first = v["exchanges"][0].clone();
        v["exchanges"].as_array_mut().unwrap().push(first);
    });
    let r = cases::run_case(&spec::discover(&case).unwrap()[0]).await;
    let problems = r.outcome.unwrap_err();
    assert!(
        problems.iter().any(|p| p.contains("never requested")),
        "{problems:?}"
    );

    // A record that breaks its unified model's schema.
    let (dir, case) = skeleton();
    let manifest = dir.join("demo.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("email: .email}", "email: 5}")).unwrap();
    edit(&case, |v| v["expect"]["records"] = Value::Null);
    let r = cases::run_case(&spec::discover(&case).unwrap()[0]).await;
    let problems = r.outcome.unwrap_err();
    assert!(
        problems.iter().any(|p| p.contains("breaks its model's schema")),
        "{problems:?}"
    );
}
