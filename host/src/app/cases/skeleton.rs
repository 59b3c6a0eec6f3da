//! `patchbay connector new NAME`: a skeleton manifest and one test case, which pass
//! `connector validate` and `connector test` as written, for the author to turn into the vendor's.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::json;

/// Writes `<dir>/<name>.json` and `<dir>/<name>/tests/list.json`; refuses to overwrite.
pub fn write(dir: &Path, name: &str) -> anyhow::Result<Vec<PathBuf>> {
    let valid = patchbay_engine::manifest::is_valid_name(name);
    if !valid {
        bail!("a connector name is lower-case letters, digits, '_' or '-'");
    }
    let manifest_path = dir.join(format!("{name}.json"));
    let case_dir = dir.join(name).join("tests");
    let case_path = case_dir.join("list.json");
    for p in [&manifest_path, &case_path] {
        if p.exists() {
            bail!("{} exists", p.display());
        }
    }
    let manifest = json!({
        "$schema": "./manifest.schema.json",
        "name": name,
        "version": "0.1.0",
        "display_name": name,
        "base_url": "https://api.example.com/v1",
        "auth": [{
            "name": "api_token",
            "label": "API token",
            "type": "bearer",
            "token": "{{credentials.api_token}}",
            "fields": {"credentials.api_token": {"title": "API token"}}
        }],
        "pagination": {"type": "cursor", "cursor": ".next_cursor", "param": "cursor"},
        "rate_limit": {
            "limit": {"header": "RateLimit-Limit"},
            "remaining": {"header": "RateLimit-Remaining"},
            "reset": {"header": "RateLimit-Reset", "unit": "delta_seconds"}
        },
        "errors": {"message": ".error.message"},
        "resources": {
            "contacts": {"methods": {
                "list": {"method": "GET", "path": "/contacts", "query": {"limit": "{{limit}}"}, "records": ".data"},
                "get": {"method": "GET", "path": "/contacts/{{id}}"}
            }}
        },
        "lifecycle": {"validation": [{"name": "list_contacts", "resource": "contacts", "method": "list", "query": {"limit": "1"}}]},
        "unified": {"crm": {"contacts": {
            "list": {"resource": "contacts", "response": "{id: (.id | tostring), email: .email}"},
            "get": {"resource": "contacts", "response": "{id: (.id | tostring), email: .email}"}
        }}}
    });
    let case = json!({
        "connector": name,
        "name": "unified contacts list follows the cursor",
        "doc": "https://api.example.com/docs/contacts#list (replace with the vendor's page)",
        "account": {"credentials": {"api_token": "tok_example"}},
        "call": {"api": "unified", "model": "crm", "resource": "contacts", "method": "list", "query": {"limit": "1"}, "follow": true},
        "exchanges": [
            {
                "request": {"method": "GET", "path": "/v1/contacts", "query": {"limit": "1"}, "headers": {"Authorization": "Bearer tok_example"}},
                "response": {"status": 200, "headers": {"RateLimit-Limit": "100", "RateLimit-Remaining": "99", "RateLimit-Reset": "30"},
                             "body": {"data": [{"id": 1, "email": "ada@example.com"}], "next_cursor": "c2"}}
            },
            {
                "request": {"method": "GET", "path": "/v1/contacts", "query": {"cursor": "c2"}},
                "response": {"status": 200, "headers": {"RateLimit-Limit": "100", "RateLimit-Remaining": "98", "RateLimit-Reset": "29"},
                             "body": {"data": [{"id": 2, "email": "grace@example.com"}], "next_cursor": null}}
            }
        ],
        "expect": {
            "status": 200,
            "records": [{"id": "1", "email": "ada@example.com"}, {"id": "2", "email": "grace@example.com"}],
            "next_cursor": false,
            "headers": {"ratelimit-limit": "100", "ratelimit-remaining": "98"}
        }
    });
    std::fs::create_dir_all(&case_dir).with_context(|| format!("creating {}", case_dir.display()))?;
    std::fs::write(&manifest_path, serde_json::to_string_pretty(&manifest)? + "\n")?;
    std::fs::write(&case_path, serde_json::to_string_pretty(&case)? + "\n")?;
    Ok(vec![manifest_path, case_path])
}
