//! The connector registry: loads manifests from the connectors directory, validates each one
//! completely, and serves the live set through an atomic swap.
//!
//! A broken file is reported (file name, JSON path, message) and skipped; it never stops the host
//! and never replaces a connector that is already live.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

use crate::package;
use crate::sandbox::{HookFailure, LoadedComponent, Sandbox};
use crate::store::{NewVersion, Store, StoreError};
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

/// A live connector: the compiled manifest and which stored revision it is.
#[derive(Debug)]
pub struct LiveConnector {
    /// The compiled connector.
    pub connector: Connector,
    /// Activation revision (per connector, from the version store).
    pub revision: i64,
    /// The connector's Wasm component, when it has one.
    pub component: Option<Arc<LoadedComponent>>,
}

impl std::ops::Deref for LiveConnector {
    type Target = Connector;
    fn deref(&self) -> &Connector {
        &self.connector
    }
}

impl LiveConnector {
    /// What served a call: `name@version#revision`.
    pub fn served_by(&self) -> String {
        format!(
            "{}@{}#{}",
            self.connector.name(),
            self.connector.version(),
            self.revision
        )
    }
}

/// What the registry serves.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Live connectors by name.
    pub connectors: BTreeMap<String, Arc<LiveConnector>>,
    /// Files that failed to load.
    pub errors: Vec<FileReport>,
    /// Unified model schemas by `(model, resource)`.
    pub unified_schemas: BTreeMap<(String, String), Value>,
}

/// Counters of registry activity (logged and exposed on `GET /connectors`).
#[derive(Debug, Default, Serialize)]
pub struct Counters {
    /// Manifests read and validated.
    pub loads: AtomicU64,
    /// Revisions made live.
    pub activations: AtomicU64,
    /// Manifests refused (invalid).
    pub refusals: AtomicU64,
    /// Rollbacks.
    pub rollbacks: AtomicU64,
}

/// Why a connector change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The manifest is invalid: every problem.
    #[error("invalid manifest")]
    Invalid(Vec<Problem>),
    /// No such connector or revision.
    #[error("{0}")]
    NotFound(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The live connector set, backed by the version store.
#[derive(Debug)]
pub struct Registry {
    dir: PathBuf,
    store: Store,
    sandbox: Arc<Sandbox>,
    current: ArcSwap<Snapshot>,
    /// Activity counters.
    pub counters: Counters,
    /// Serializes changes (file events and API calls) so revisions activate in order.
    change: tokio::sync::Mutex<()>,
}

fn content_hash(text: &str, component: Option<&[u8]>) -> String {
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    if let Some(bytes) = component {
        h.update(b"\0component\0");
        h.update(bytes);
    }
    hex::encode(h.finalize())
}

/// One problem at `$`.
fn problem(path: &str, message: impl Into<String>) -> Vec<Problem> {
    vec![Problem {
        path: path.into(),
        message: message.into(),
    }]
}

impl Registry {
    /// Loads the directory into the version store and serves the active revisions.
    pub async fn open(dir: &Path, store: Store, sandbox: Arc<Sandbox>) -> Self {
        // Watchers report absolute paths: compare like with like.
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        let registry = Self {
            dir,
            store,
            sandbox,
            current: ArcSwap::from_pointee(Snapshot::default()),
            counters: Counters::default(),
            change: tokio::sync::Mutex::new(()),
        };
        registry.reload().await;
        registry
    }

    /// Re-reads the whole directory: changed files become new active revisions; invalid files are
    /// reported and the previous revision stays live.
    pub async fn reload(&self) {
        let _guard = self.change.lock().await;
        let mut errors = Vec::new();
        let mut fresh = Vec::new();
        for path in manifest_files(&self.dir, &mut errors) {
            // At start an unchanged file must not override a newer upload: only new content
            // activates.
            match self.ingest_file(&path, false).await {
                Ok(live) => fresh.push(live),
                Err(report) => errors.push(report),
            }
        }
        let unified = load_unified_schemas(&self.dir.join(UNIFIED_DIR), &mut errors);
        self.publish(errors, Some(unified), fresh).await;
    }

    /// Re-reads one changed file (the watcher's path).
    pub async fn reload_file(&self, path: &Path) {
        let _guard = self.change.lock().await;
        let mut errors: Vec<FileReport> = self
            .snapshot()
            .errors
            .iter()
            .filter(|r| Path::new(&r.file) != path)
            .cloned()
            .collect();
        // A file that changed is what the operator wants live, even if that content was live
        // before (an edit reverted).
        let mut fresh = Vec::new();
        match self.ingest_file(path, true).await {
            Ok(live) => fresh.push(live),
            Err(report) => errors.push(report),
        }
        self.publish(errors, None, fresh).await;
    }

    /// Validates one file and stores it as a revision (activating it if its content is new);
    /// returns the validated connector with its stored revision.
    async fn ingest_file(&self, path: &Path, activate_existing: bool) -> Result<LiveConnector, FileReport> {
        self.counters.loads.fetch_add(1, Ordering::Relaxed);
        let file = path.display().to_string();
        let report = |problems| FileReport {
            file: file.clone(),
            problems,
        };
        let (text, component) = read_package(path).map_err(report)?;
        match self.validate(&text, component.as_deref()).await {
            Ok(mut live) => {
                let c = &live.connector;
                let (v, created) = self
                    .store
                    .store_connector_version(
                        NewVersion {
                            name: c.name(),
                            version: c.version(),
                            content_hash: &content_hash(&text, component.as_deref()),
                            manifest: &text,
                            component: component.as_deref(),
                            source: &format!("file:{file}"),
                        },
                        activate_existing,
                    )
                    .await
                    .map_err(|e| report(problem("$", e.to_string())))?;
                if created {
                    self.counters.activations.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(connector = %v.name, version = %v.version, revision = v.revision, %file, "patchbay.registry.activate");
                }
                live.revision = v.revision;
                Ok(live)
            }
            Err(problems) => {
                self.counters.refusals.fetch_add(1, Ordering::Relaxed);
                let report = report(problems);
                tracing::error!(file = %report.file, problems = %report, "patchbay.registry.refuse: connector rejected, previous version stays live");
                Err(report)
            }
        }
    }

    /// Validates a manifest and its component completely: schema, expressions, component
    /// compilation, import allow-list, world exports, and a smoke call of each declared hook.
    pub async fn validate(
        &self,
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
                let loaded = self
                    .sandbox
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

    /// Builds and swaps in the snapshot of the active revisions.
    /// `fresh`: connectors just validated with their stored revision, used as they are rather
    /// than validated (and smoke-called) a second time.
    async fn publish(
        &self,
        mut errors: Vec<FileReport>,
        unified: Option<BTreeMap<(String, String), Value>>,
        mut fresh: Vec<LiveConnector>,
    ) {
        let previous = self.current.load_full();
        let mut connectors = BTreeMap::new();
        match self.store.active_connectors().await {
            Ok(active) => {
                for v in active {
                    // Unchanged revisions keep their compiled form.
                    if let Some(live) = previous
                        .connectors
                        .get(&v.name)
                        .filter(|l| l.revision == v.revision)
                    {
                        connectors.insert(v.name.clone(), live.clone());
                        continue;
                    }
                    if let Some(i) = fresh
                        .iter()
                        .position(|l| l.connector.name() == v.name && l.revision == v.revision)
                    {
                        connectors.insert(v.name.clone(), Arc::new(fresh.swap_remove(i)));
                        continue;
                    }
                    match self.validate(&v.manifest, v.component.as_deref()).await {
                        Ok(mut live) => {
                            live.revision = v.revision;
                            connectors.insert(v.name.clone(), Arc::new(live));
                        }
                        Err(problems) => errors.push(FileReport {
                            file: format!("stored revision {}#{}", v.name, v.revision),
                            problems,
                        }),
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "patchbay.registry.publish: cannot read active versions; keeping the live set");
                connectors = previous.connectors.clone();
            }
        }
        let unified_schemas = unified.unwrap_or_else(|| previous.unified_schemas.clone());
        self.current.store(Arc::new(Snapshot {
            connectors,
            errors,
            unified_schemas,
        }));
    }

    /// Activates a manifest (and its component) uploaded through the API, validated completely
    /// first.
    pub async fn put(
        &self,
        name: &str,
        text: &str,
        component: Option<&[u8]>,
        source: &str,
    ) -> Result<Arc<LiveConnector>, ChangeError> {
        let _guard = self.change.lock().await;
        self.counters.loads.fetch_add(1, Ordering::Relaxed);
        let refuse = |problems| {
            self.counters.refusals.fetch_add(1, Ordering::Relaxed);
            ChangeError::Invalid(problems)
        };
        let mut live = self.validate(text, component).await.map_err(refuse)?;
        let connector = &live.connector;
        if connector.name() != name {
            return Err(refuse(vec![Problem {
                path: "$.name".into(),
                message: format!("the manifest is named {:?}, not {name:?}", connector.name()),
            }]));
        }
        let (v, _) = self
            .store
            .store_connector_version(
                NewVersion {
                    name,
                    version: connector.version(),
                    content_hash: &content_hash(text, component),
                    manifest: text,
                    component,
                    source,
                },
                true,
            )
            .await?;
        self.counters.activations.fetch_add(1, Ordering::Relaxed);
        tracing::info!(connector = %name, version = %v.version, revision = v.revision, %source, "patchbay.registry.activate");
        live.revision = v.revision;
        let errors = self.snapshot().errors.clone();
        self.publish(errors, None, vec![live]).await;
        self.get(name)
            .ok_or_else(|| ChangeError::NotFound(name.to_owned()))
    }

    /// Makes an earlier revision live again (default: the newest one before the active one).
    pub async fn rollback(
        &self,
        name: &str,
        revision: Option<i64>,
    ) -> Result<Arc<LiveConnector>, ChangeError> {
        let _guard = self.change.lock().await;
        let (versions, active) = self.store.connector_versions(name).await?;
        let target = match revision {
            Some(r) => r,
            None => versions
                .iter()
                .map(|v| v.revision)
                .filter(|r| active.is_none_or(|a| *r < a))
                .max()
                .ok_or_else(|| ChangeError::NotFound(format!("{name} has no earlier revision")))?,
        };
        self.store
            .activate_connector(name, target)
            .await?
            .ok_or_else(|| ChangeError::NotFound(format!("{name} has no revision {target}")))?;
        self.counters.rollbacks.fetch_add(1, Ordering::Relaxed);
        tracing::info!(connector = %name, revision = target, "patchbay.registry.rollback");
        let errors = self.snapshot().errors.clone();
        self.publish(errors, None, Vec::new()).await;
        self.get(name)
            .ok_or_else(|| ChangeError::NotFound(name.to_owned()))
    }

    /// The Wasm sandbox components run in.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    /// The version store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The directory read (and watched).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// A live connector.
    pub fn get(&self, name: &str) -> Option<Arc<LiveConnector>> {
        self.current.load().connectors.get(name).cloned()
    }
}

/// The manifest files of a directory (sorted; the schema file and subdirectories excluded).
fn manifest_files(dir: &Path, errors: &mut Vec<FileReport>) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_manifest_file(p))
            .collect(),
        Err(e) => {
            errors.push(FileReport {
                file: dir.display().to_string(),
                problems: vec![Problem {
                    path: "$".into(),
                    message: format!("cannot read connectors directory: {e}"),
                }],
            });
            Vec::new()
        }
    };
    files.sort();
    files
}

/// Whether a path is a connector: a manifest (`*.json`, not the schema file), or a component
/// that embeds its manifest (`*.wasm` built by `patchbay connector build`). A component that a
/// manifest names through `component.path` is read with that manifest.
pub fn is_manifest_file(path: &Path) -> bool {
    let Some(ext) = path.extension() else {
        return false;
    };
    if ext == "wasm" {
        return path.is_file()
            && std::fs::read(path).is_ok_and(|bytes| package::embedded_manifest(&bytes).is_some());
    }
    ext == "json" && path.file_name().is_some_and(|n| n != SCHEMA_FILE) && path.is_file()
}

/// Reads a connector file: a manifest and the component its `component.path` names, or a
/// component with an embedded manifest.
pub fn read_package(path: &Path) -> Result<(String, Option<Vec<u8>>), Vec<Problem>> {
    if path.extension().is_some_and(|e| e == "wasm") {
        let bytes = std::fs::read(path).map_err(|e| problem("$", format!("cannot read: {e}")))?;
        return match package::embedded_manifest(&bytes) {
            Some(Ok(text)) => Ok((text, Some(bytes))),
            Some(Err(e)) => Err(problem("$", e.to_string())),
            None => Err(problem(
                "$",
                "component embeds no manifest (build it with `patchbay connector build`)",
            )),
        };
    }
    let text = std::fs::read_to_string(path).map_err(|e| problem("$", format!("cannot read: {e}")))?;
    let component_path = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
        v.pointer("/component/path")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let component = match component_path {
        None => None,
        Some(rel) => {
            let full = path.parent().unwrap_or(Path::new(".")).join(&rel);
            Some(std::fs::read(&full).map_err(|e| {
                problem(
                    "$.component.path",
                    format!("cannot read component {}: {e}", full.display()),
                )
            })?)
        }
    };
    Ok((text, component))
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
        vec![Problem {
            path: "$".into(),
            message: format!("invalid JSON at line {}, column {}: {e}", e.line(), e.column()),
        }]
    })?;
    validate_value(value)
}

/// Loads and validates one manifest file: JSON Schema first (every structural problem), then the
/// engine's compilation (templates, expressions, cross references).
pub fn load_file(path: &Path) -> Result<Connector, FileReport> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| FileReport {
        file: file.clone(),
        problems: vec![Problem {
            path: "$".into(),
            message: format!("cannot read: {e}"),
        }],
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
