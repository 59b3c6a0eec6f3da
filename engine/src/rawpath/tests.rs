//! The raw path's own cases; its agreement with the general path over every bundled
//! connector is `tests/tests/e2e/bundled_connectors.rs`.

use serde_json::{Value, json};

use crate::{Connector, HttpResponse, Payload};

fn connector(cursor: &str) -> Connector {
    Connector::from_value(json!({
        "name": "acme", "version": "1", "base_url": "https://acme.test", "auth": {"type": "none"},
        "resources": {"items": {"methods": {"list": {
            "method": "GET", "path": "/items", "records": ".items",
            "pagination": {"type": "cursor", "cursor": cursor, "param": "after"}
        }}}}
    }))
    .unwrap()
}

fn page(body: &str) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: Default::default(),
        body: body.as_bytes().to_vec(),
        url: None,
    }
}

/// The records key is mapped as it is read, so it is not among the members kept for the
/// pagination expressions: one that reads under it takes the general path, which agrees.
#[test]
fn pagination_under_the_records_key_takes_the_general_path() {
    let body = r#"{"items": [{"id": "a"}, {"id": "b"}], "next": "n2"}"#;
    let general = |c: &Connector| match c.interpret("items", "list", None, page(body), 0).result {
        Ok(Payload::List { records, next }) => (Value::Array(records), next),
        other => panic!("{other:?}"),
    };

    let beside = connector(".next");
    let raw = beside
        .interpret_list_raw("items", "list", None, &page(body), None)
        .expect("a cursor beside the records stays on the raw path");
    let records: Value = serde_json::from_slice(&raw.records_json).unwrap();
    assert_eq!((records, raw.next), general(&beside));

    let under = connector(".items[1].id");
    assert!(
        under
            .interpret_list_raw("items", "list", None, &page(body), None)
            .is_none()
    );
    let (_, next) = general(&under);
    assert_eq!(next.unwrap().query["after"], "b");
}
