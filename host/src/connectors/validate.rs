//! Validating a connector completely before it may serve: JSON Schema (every structural problem
//! at once, with its JSON path), the engine's compilation (templates, expressions, cross
//! references), and for a component: compilation, the import allow-list, the WIT world and a
//! smoke call of each declared hook.

use std::path::Path;
use std::sync::Arc;

use patchbay_engine::{Connector, Problem};
use serde::Serialize;
use serde_json::Value;

use super::live::LiveConnector;
use crate::sandbox::{HookFailure, LoadedComponent, Sandbox};

/// Problems of one manifest file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file.
    pub file: String,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for FileReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.problems {
            writeln!(f, "{}: {}: {}", self.file, p.path, p.message)?;
        }
        Ok(())
    }
}

/// One problem at `path`.
pub fn problem(path: &str, message: impl Into<String>) -> Vec<Problem> {
    vec![Problem {
        path: path.into(),
        message: message.into(),
    }]
}

/// Validates a manifest and its component completely: schema, expressions, component
/// compilation, import allow-list, world exports, and a smoke call of each declared hook. The
/// result is not yet a stored revision (`revision` 0).
pub async fn validate_package(
    sandbox: &Arc<Sandbox>,
    text: &str,
    component: Option<&[u8]>,
) -> Result<LiveConnector, Vec<Problem>> {
    let connector = validate_text(text)?;
    let spec = connector.manifest.component.clone();
    let component = match (spec, component) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(problem(
                "$.component",
                "a component was given but the manifest declares none (add `component.hooks`)",
            ));
        }
        (Some(_), None) => {
            return Err(problem(
                "$.component",
                "the manifest declares a component but none was given (set `component.path`, or upload it)",
            ));
        }
        (Some(_), Some(bytes)) => {
            let label = format!("{}@{}", connector.name(), connector.version());
            let loaded = sandbox
                .load(bytes, &label, text)
                .map_err(|e| problem("$.component", e.to_string()))?;
            smoke(&loaded, &connector)
                .await
                .map_err(|e| problem("$.component.hooks", format!("smoke call failed: {e}")))?;
            Some(Arc::new(loaded))
        }
    };
    Ok(LiveConnector {
        connector,
        revision: 0,
        component,
    })
}

/// Calls each hook the connector declares once, with its first resource method: the component
/// must answer within its limits.
pub async fn smoke(loaded: &LoadedComponent, connector: &Connector) -> Result<(), HookFailure> {
    let (resource, method) = connector
        .manifest
        .resources
        .iter()
        .find_map(|(r, res)| res.methods.keys().next().map(|m| (r.clone(), m.clone())))
        .unwrap_or_default();
    loaded.smoke(connector.hooks(), &resource, &method).await
}

/// Parses and validates manifest text.
pub fn validate_text(text: &str) -> Result<Connector, Vec<Problem>> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        problem(
            "$",
            format!("invalid JSON at line {}, column {}: {e}", e.line(), e.column()),
        )
    })?;
    validate_value(value)
}

/// Loads and validates one manifest file: JSON Schema first (every structural problem), then the
/// engine's compilation (templates, expressions, cross references).
pub fn load_file(path: &Path) -> Result<Connector, FileReport> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| FileReport {
        file: file.clone(),
        problems: problem("$", format!("cannot read: {e}")),
    })?;
    validate_text(&text).map_err(|problems| FileReport { file, problems })
}

/// Validates a manifest value against the schema and compiles it, reporting the problems of both
/// at once (a path the schema already flagged is not reported twice).
pub fn validate_value(value: Value) -> Result<Connector, Vec<Problem>> {
    let mut problems = schema_problems(&value);
    let manifest = match patchbay_engine::connector::parse_manifest(value) {
        Ok(m) => m,
        // The schema covers structural errors in full; serde's first error is the fallback.
        Err(p) if problems.is_empty() => return Err(vec![p]),
        Err(_) => return Err(problems),
    };
    match Connector::compile(manifest) {
        Ok(c) if problems.is_empty() => Ok(c),
        Ok(_) => Err(problems),
        Err(more) => {
            let fresh: Vec<Problem> = more
                .into_iter()
                .filter(|p| !problems.iter().any(|q| q.path == p.path))
                .collect();
            problems.extend(fresh);
            Err(problems)
        }
    }
}

fn schema_problems(value: &Value) -> Vec<Problem> {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        super::json_schema::compile(&patchbay_engine::manifest::schema())
            .expect("generated manifest schema is valid")
    });
    validator
        .iter_errors(value)
        .map(|e| Problem {
            path: pointer_to_path(&e.instance_path.to_string()),
            message: e.to_string(),
        })
        .collect()
}

/// `/resources/contacts/methods` → `$.resources.contacts.methods`; array indices as `[n]`.
fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::from("$");
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.chars().all(|c| c.is_ascii_digit()) && !seg.is_empty() {
            out.push_str(&format!("[{seg}]"));
        } else {
            out.push('.');
            out.push_str(&seg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_json_paths() {
        assert_eq!(pointer_to_path(""), "$");
        assert_eq!(
            pointer_to_path("/resources/a~1b/methods/0"),
            "$.resources.a/b.methods[0]"
        );
    }

    #[test]
    fn schema_reports_every_problem() {
        let v = serde_json::json!({"name": "x", "version": 1, "base_url": "https://x", "auth": {"type": "nope"}, "resources": {}});
        let problems = validate_value(v).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains(&"$.version"), "{problems:?}");
        assert!(paths.contains(&"$.auth"), "{problems:?}");
    }
}
