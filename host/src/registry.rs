//! The connector registry: loads manifests from the connectors directory, validates each one
//! completely, and serves the live set through an atomic swap.
//!
//! A broken file is reported (file name, JSON path, message) and skipped; it never stops the host
//! and never replaces a connector that is already live.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use patchbay_engine::{Connector, Problem};
use serde::Serialize;
use serde_json::Value;

/// File name of the generated manifest schema inside the connectors directory.
pub const SCHEMA_FILE: &str = "manifest.schema.json";
/// Subdirectory holding unified model schemas (`<model>.<resource>.schema.json`).
pub const UNIFIED_DIR: &str = "unified";

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

/// What the registry serves.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Live connectors by name.
    pub connectors: BTreeMap<String, Arc<Connector>>,
    /// Files that failed to load.
    pub errors: Vec<FileReport>,
    /// Unified model schemas by `(model, resource)`.
    pub unified_schemas: BTreeMap<(String, String), Value>,
}

/// The live connector set.
#[derive(Debug)]
pub struct Registry {
    dir: PathBuf,
    current: ArcSwap<Snapshot>,
}

impl Registry {
    /// Loads every manifest in `dir`.
    pub fn load(dir: &Path) -> Self {
        let registry = Self {
            dir: dir.to_owned(),
            current: ArcSwap::from_pointee(Snapshot::default()),
        };
        registry.reload();
        registry
    }

    /// Re-reads the directory. A file that no longer loads keeps its previous live version.
    pub fn reload(&self) {
        let previous = self.current.load_full();
        let mut next = load_dir(&self.dir);
        for report in &next.errors {
            tracing::error!(file = %report.file, problems = %report, "patchbay.registry.load: manifest rejected");
        }
        for (name, connector) in &previous.connectors {
            let failed_file = next
                .errors
                .iter()
                .any(|r| file_stem(&r.file) == Some(name.as_str()));
            if failed_file && !next.connectors.contains_key(name) {
                tracing::warn!(connector = %name, "keeping the previous version live");
                next.connectors.insert(name.clone(), connector.clone());
            }
        }
        for (name, c) in &next.connectors {
            tracing::info!(connector = %name, version = c.version(), "patchbay.registry.load: connector live");
        }
        self.current.store(Arc::new(next));
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// A live connector.
    pub fn get(&self, name: &str) -> Option<Arc<Connector>> {
        self.current.load().connectors.get(name).cloned()
    }
}

fn file_stem(file: &str) -> Option<&str> {
    Path::new(file).file_stem().and_then(|s| s.to_str())
}

fn load_dir(dir: &Path) -> Snapshot {
    let mut snap = Snapshot::default();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            snap.errors.push(FileReport {
                file: dir.display().to_string(),
                problems: vec![Problem {
                    path: "$".into(),
                    message: format!("cannot read connectors directory: {e}"),
                }],
            });
            return snap;
        }
    };
    files.sort();
    for path in files {
        let is_manifest = path.extension().is_some_and(|e| e == "json")
            && path.file_name().is_some_and(|n| n != SCHEMA_FILE)
            && path.is_file();
        if !is_manifest {
            continue;
        }
        match load_file(&path) {
            Ok(c) => {
                if let Some(existing) = snap.connectors.get(c.name()) {
                    snap.errors.push(FileReport {
                        file: path.display().to_string(),
                        problems: vec![Problem {
                            path: "$.name".into(),
                            message: format!(
                                "connector {:?} is already defined (version {})",
                                c.name(),
                                existing.version()
                            ),
                        }],
                    });
                } else {
                    snap.connectors.insert(c.name().to_owned(), Arc::new(c));
                }
            }
            Err(report) => snap.errors.push(report),
        }
    }
    snap.unified_schemas = load_unified_schemas(&dir.join(UNIFIED_DIR), &mut snap.errors);
    snap
}

/// Loads and validates one manifest file: JSON Schema first (every structural problem), then the
/// engine's compilation (templates, expressions, cross references).
pub fn load_file(path: &Path) -> Result<Connector, FileReport> {
    let file = path.display().to_string();
    let fail = |problems| FileReport {
        file: file.clone(),
        problems,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(vec![Problem {
            path: "$".into(),
            message: format!("cannot read: {e}"),
        }])
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        fail(vec![Problem {
            path: "$".into(),
            message: format!("invalid JSON at line {}, column {}: {e}", e.line(), e.column()),
        }])
    })?;
    validate_value(value).map_err(fail)
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
        jsonschema::validator_for(&patchbay_engine::manifest::schema())
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

fn load_unified_schemas(dir: &Path, errors: &mut Vec<FileReport>) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".schema.json"))
        else {
            continue;
        };
        let Some((model, resource)) = name.split_once('.') else {
            continue;
        };
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
            .and_then(|v| {
                jsonschema::validator_for(&v)
                    .map(|_| v)
                    .map_err(|e| e.to_string())
            });
        match parsed {
            Ok(v) => {
                out.insert((model.to_owned(), resource.to_owned()), v);
            }
            Err(message) => errors.push(FileReport {
                file: path.display().to_string(),
                problems: vec![Problem {
                    path: "$".into(),
                    message,
                }],
            }),
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
