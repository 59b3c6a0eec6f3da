//! The connector test-case format (`docs/CONNECTOR-TESTS.md`), finding the cases of a
//! manifest, and the subset comparison of expected and actual answers. No IO beyond reading files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

/// One case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Optional pointer to a schema, for editors.
    #[serde(rename = "$schema", default)]
    pub schema: Option<String>,
    /// The manifest's `name`.
    pub connector: String,
    /// What the case shows.
    pub name: String,
    /// The vendor documentation the exchanges come from.
    pub doc: String,
    /// The account the call runs as.
    #[serde(default)]
    pub account: CaseAccount,
    /// The host call.
    pub call: CaseCall,
    /// The vendor exchanges, in order.
    #[serde(default)]
    pub exchanges: Vec<Exchange>,
    /// What the host must answer.
    pub expect: Expect,
}

/// The account of a case.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseAccount {
    /// The manifest auth method.
    #[serde(default)]
    pub auth_method: Option<String>,
    /// Credentials.
    #[serde(default)]
    pub credentials: Map<String, Value>,
    /// Context.
    #[serde(default)]
    pub context: Map<String, Value>,
}

/// Which API the call goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `/unified/{model}/{resource}`.
    Unified,
    /// `/proxy/{resource}`.
    Proxy,
}

/// The host call of a case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseCall {
    /// Unified or proxy.
    pub api: Api,
    /// The unified model (unified calls).
    #[serde(default)]
    pub model: Option<String>,
    /// The resource.
    pub resource: String,
    /// `list`, `get`, `create`, `update`, `delete`.
    pub method: String,
    /// Record id.
    #[serde(default)]
    pub id: Option<String>,
    /// Query parameters.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Body of writes.
    #[serde(default)]
    pub body: Option<Value>,
    /// Follow `next_cursor` to the last page.
    #[serde(default)]
    pub follow: bool,
}

/// One vendor exchange.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    /// What the vendor must receive.
    pub request: ExpectedRequest,
    /// What it answers.
    pub response: ReplayResponse,
}

/// What the vendor must receive.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedRequest {
    /// HTTP method.
    pub method: String,
    /// Exact path.
    pub path: String,
    /// Parameters that must be present with these values.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Headers that must be present with these values.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The JSON body, when it must be checked.
    #[serde(default)]
    pub body: Option<Value>,
}

/// The vendor's answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayResponse {
    /// Status.
    #[serde(default = "ok")]
    pub status: u16,
    /// Headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON body.
    #[serde(default)]
    pub body: Option<Value>,
    /// Non-JSON body.
    #[serde(default)]
    pub body_text: Option<String>,
}

fn ok() -> u16 {
    200
}

/// What the host must answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// HTTP status.
    #[serde(default)]
    pub status: Option<u16>,
    /// List records (subset match each).
    #[serde(default)]
    pub records: Option<Vec<Value>>,
    /// Single record (subset match).
    #[serde(default)]
    pub record: Option<Value>,
    /// Whether the last answer has a `next_cursor`.
    #[serde(default)]
    pub next_cursor: Option<bool>,
    /// Normalized error code.
    #[serde(default)]
    pub error: Option<String>,
    /// Headers of the last answer.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A case file with its manifest.
#[derive(Debug, Clone)]
pub struct CaseFile {
    /// The manifest.
    pub manifest: PathBuf,
    /// The case.
    pub path: PathBuf,
}

/// The cases of a manifest: `<dir>/<stem>/tests/*.json`, sorted.
pub fn cases_of(manifest: &Path) -> Vec<CaseFile> {
    let Some(stem) = manifest.file_stem() else {
        return Vec::new();
    };
    let dir = manifest
        .parent()
        .unwrap_or(Path::new("."))
        .join(stem)
        .join("tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|es| {
            es.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .map(|path| CaseFile {
            manifest: manifest.to_owned(),
            path,
        })
        .collect()
}

/// The cases a command-line argument names: a connectors directory (every manifest's cases), a
/// manifest, or a case file (its manifest is `<name>.json` two directories up).
pub fn discover(arg: &Path) -> Result<Vec<CaseFile>, String> {
    if arg.is_dir() {
        let mut out = Vec::new();
        let mut manifests: Vec<PathBuf> = std::fs::read_dir(arg)
            .map_err(|e| format!("{}: {e}", arg.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && p.file_name().is_some_and(|n| n != "manifest.schema.json")
            })
            .collect();
        manifests.sort();
        for m in manifests {
            out.extend(cases_of(&m));
        }
        return Ok(out);
    }
    let tests_dir = arg
        .parent()
        .filter(|p| p.file_name().is_some_and(|n| n == "tests"));
    if let Some(connector_dir) = tests_dir.and_then(Path::parent) {
        let stem = connector_dir.file_name().unwrap_or_default();
        let manifest = connector_dir
            .parent()
            .unwrap_or(Path::new("."))
            .join(format!("{}.json", stem.to_string_lossy()));
        return Ok(vec![CaseFile {
            manifest,
            path: arg.to_owned(),
        }]);
    }
    if arg.is_file() {
        return Ok(cases_of(arg));
    }
    Err(format!("{}: no such file or directory", arg.display()))
}

/// Whether `actual` contains `expected`: objects key by key (a `null` also matches an absent
/// key), arrays element by element with the same length, scalars equal. The error names the
/// first difference by its path.
pub fn contains(expected: &Value, actual: Option<&Value>, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Null, None | Some(Value::Null)) => Ok(()),
        (Value::Object(e), Some(Value::Object(a))) => {
            for (k, v) in e {
                contains(v, a.get(k), &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Some(Value::Array(a))) => {
            if e.len() != a.len() {
                return Err(format!("{path}: expected {} items, got {}", e.len(), a.len()));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                contains(ev, Some(av), &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (e, Some(a)) if e == a => Ok(()),
        (e, a) => Err(format!(
            "{path}: expected {e}, got {}",
            a.map_or("nothing".to_owned(), Value::to_string)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_match_ignores_extra_keys_and_names_the_difference() {
        let actual = json!({"id": "1", "name": "a", "remote_data": {"x": 1}, "tags": ["t"]});
        assert!(contains(&json!({"id": "1", "missing": null}), Some(&actual), "$").is_ok());
        assert!(contains(&json!({"tags": ["t"]}), Some(&actual), "$").is_ok());
        let err = contains(&json!({"name": "b"}), Some(&actual), "$").unwrap_err();
        assert_eq!(err, "$.name: expected \"b\", got \"a\"");
        assert!(contains(&json!({"tags": []}), Some(&actual), "$").is_err());
        assert!(contains(&json!({"gone": 1}), Some(&actual), "$").is_err());
    }
}
