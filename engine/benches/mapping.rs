//! Unified mapping throughput: records/s on one core for a 10,000-record HubSpot contacts list
//! (100 pages of 100), from the vendor's response bytes to the serialized unified records (each
//! with `remote_data`): records selection, pagination decision, per-record mapping, serialization.
//!
//! Run: `cargo bench -p patchbay-engine --bench mapping`. Results go to docs/BENCHMARKS.md.

use std::time::{Duration, Instant};

use patchbay_engine::{Connector, Headers, HttpResponse, Payload};
use serde_json::{Value, json};

const PAGES: usize = 100;
const PER_PAGE: usize = 100;

fn page(n: usize) -> Vec<u8> {
    let results: Vec<Value> = (0..PER_PAGE)
        .map(|i| {
            let id = (n * PER_PAGE + i + 101).to_string();
            json!({
                "id": id,
                "properties": {
                    "company": "Acme Corp", "createdate": "2024-01-01T00:00:00.000Z", "email": format!("user{id}@example.com"),
                    "firstname": "Ada", "hs_object_id": id, "lastmodifieddate": "2024-01-02T00:00:00.000Z",
                    "lastname": "Lovelace", "phone": "+1 555 0100"
                },
                "createdAt": "2024-01-01T00:00:00.000Z", "updatedAt": "2024-01-02T00:00:00.000Z", "archived": false
            })
        })
        .collect();
    let mut body = json!({ "results": results });
    if n + 1 < PAGES {
        body["paging"] =
            json!({"next": {"after": format!("c{}", n + 1), "link": "https://api.hubapi.com/x"}});
    }
    serde_json::to_vec(&body).unwrap()
}

/// How a pass maps the records.
#[derive(Clone, Copy)]
enum Path {
    /// The host's path for fast mappings: vendor bytes → output bytes ([`Connector::interpret_list_raw`]).
    Raw,
    /// Parse into `Value`s, map with the compiled fast expression, serialize.
    Value,
    /// Parse into `Value`s, map with the general jq evaluator (jaq), serialize.
    Jq,
}

/// One pass over all pages; returns the records mapped and the time taken.
fn run(connector: &Connector, pages: &[Vec<u8>], path: Path) -> (usize, Duration) {
    let unified = connector.unified("crm", "contacts", "list").unwrap();
    let expr = unified.response_expr().unwrap();
    let started = Instant::now();
    let mut count = 0;
    let mut bytes = 0;
    for body in pages {
        let response = HttpResponse {
            status: 200,
            headers: Headers::default(),
            body: body.clone(),
            url: None,
        };
        if let Path::Raw = path {
            let page = connector
                .interpret_list_raw("contacts", "list", None, &response, Some((unified, true)))
                .unwrap();
            count += page.count;
            bytes += page.records_json.len();
            continue;
        }
        let outcome = connector.interpret("contacts", "list", None, response, 0);
        let Ok(Payload::List { records, next }) = outcome.result else {
            panic!("bad page")
        };
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let mut mapped = if let Path::Jq = path {
                expr.eval_jq(&r).unwrap()
            } else {
                unified.map_record(&r).unwrap()
            };
            mapped["remote_data"] = r;
            out.push(mapped);
        }
        count += out.len();
        let envelope = json!({"result_count": out.len(), "next_cursor": next.is_some(), "result": out});
        bytes += serde_json::to_vec(&envelope).unwrap().len();
    }
    std::hint::black_box(bytes);
    (count, started.elapsed())
}

fn main() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../connectors/hubspot.json")).unwrap();
    let connector = Connector::from_json(&text).unwrap();
    assert!(
        connector
            .unified("crm", "contacts", "list")
            .unwrap()
            .response_expr()
            .unwrap()
            .is_fast()
    );
    let pages: Vec<Vec<u8>> = (0..PAGES).map(page).collect();
    let input_mb = pages.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
    println!(
        "HubSpot crm/contacts list: {PAGES} pages x {PER_PAGE} records ({input_mb:.1} MB of vendor JSON), one thread"
    );
    for (label, path) in [
        ("raw path (bytes to bytes)", Path::Raw),
        ("Value + compiled fast mapping", Path::Value),
        ("Value + jq evaluator (jaq)", Path::Jq),
    ] {
        let _ = run(&connector, &pages, path); // warm-up
        let mut rates: Vec<f64> = (0..7)
            .map(|_| {
                let (n, t) = run(&connector, &pages, path);
                n as f64 / t.as_secs_f64()
            })
            .collect();
        rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "  {label:<30} median {:>9.0} records/s  (min {:.0}, max {:.0}; {:.2} µs/record)",
            rates[3],
            rates[0],
            rates[6],
            1e6 / rates[3]
        );
    }
}
