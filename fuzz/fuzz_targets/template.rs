//! Template parsing and rendering (`{{credentials.token}}`, `{{context.subdomain}}`), with a scope
//! that is itself arbitrary JSON.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use patchbay_engine::template::{Escape, Template};

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 2);
    let scope = serde_json::from_str(&p[1]).unwrap_or_else(|_| {
        serde_json::json!({"credentials": {"token": p[1]}, "context": {"subdomain": "acme"}, "id": "1/2"})
    });
    if let Ok(t) = Template::parse(&p[0]) {
        let _ = t.render(&scope, Escape::None);
        let _ = t.render(&scope, Escape::PathSegment);
        let _ = t.render_url(&scope);
    }
});
