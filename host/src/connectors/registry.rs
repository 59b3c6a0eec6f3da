//! The connector registry: stores every validated version as a revision, and serves the active
//! revisions as one snapshot swapped atomically.
//!
//! A broken file is reported (file name, JSON path, message) and skipped; it never stops the host
//! and never replaces a connector that is already live.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use patchbay_engine::Problem;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::files::{UNIFIED_DIR, load_unified_schemas, manifest_files, read_package};
use super::live::LiveConnector;
use super::validate::{FileReport, problem, validate_package};
use crate::sandbox::Sandbox;
use crate::store::{ConnectorVersion, NewVersion, Store, StoreError};
use crate::telemetry::events::{
    CONNECTOR_ACTIVATE, CONNECTOR_PUBLISH_FAILED, CONNECTOR_REFUSE, CONNECTOR_ROLLBACK,
};
use crate::telemetry::{Counter, Metrics, emit};

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
    metrics: Arc<Metrics>,
    current: ArcSwap<Snapshot>,
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

impl Registry {
    /// Loads the directory into the version store and serves the active revisions.
    pub async fn open(dir: &Path, store: Store, sandbox: Arc<Sandbox>, metrics: Arc<Metrics>) -> Self {
        // Watchers report absolute paths: compare like with like.
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
        let registry = Self {
            dir,
            store,
            sandbox,
            metrics,
            current: ArcSwap::from_pointee(Snapshot::default()),
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
        self.metrics.incr(Counter::ConnectorLoads);
        let file = path.display().to_string();
        let report = |problems| FileReport {
            file: file.clone(),
            problems,
        };
        let (text, component) = read_package(path).map_err(report)?;
        match validate_package(&self.sandbox, &text, component.as_deref()).await {
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
                    self.metrics.incr(Counter::ConnectorActivations);
                    emit!(INFO, CONNECTOR_ACTIVATE, connector = %v.name, version = %v.version, revision = v.revision, %file);
                }
                live.revision = v.revision;
                Ok(live)
            }
            Err(problems) => {
                self.metrics.incr(Counter::ConnectorRefusals);
                let report = report(problems);
                emit!(ERROR, CONNECTOR_REFUSE, file = %report.file, problems = %report);
                Err(report)
            }
        }
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
                        .position(|l| l.name() == v.name && l.revision == v.revision)
                    {
                        connectors.insert(v.name.clone(), Arc::new(fresh.swap_remove(i)));
                        continue;
                    }
                    match validate_package(&self.sandbox, &v.manifest, v.component.as_deref()).await {
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
                emit!(ERROR, CONNECTOR_PUBLISH_FAILED, error = %e);
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

    /// Serves the revisions the store says are active (another host changed them); whether any
    /// live connector changed.
    pub async fn refresh(&self) -> bool {
        let _guard = self.change.lock().await;
        let before = self.snapshot();
        self.publish(before.errors.clone(), None, Vec::new()).await;
        let after = self.snapshot();
        before.connectors.len() != after.connectors.len()
            || after.connectors.iter().any(|(name, live)| {
                before
                    .connectors
                    .get(name)
                    .is_none_or(|b| b.revision != live.revision)
            })
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
        self.metrics.incr(Counter::ConnectorLoads);
        let refuse = |problems| {
            self.metrics.incr(Counter::ConnectorRefusals);
            ChangeError::Invalid(problems)
        };
        let mut live = validate_package(&self.sandbox, text, component)
            .await
            .map_err(refuse)?;
        let connector = &live.connector;
        if connector.name() != name {
            return Err(refuse(problem(
                "$.name",
                format!("the manifest is named {:?}, not {name:?}", connector.name()),
            )));
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
        self.metrics.incr(Counter::ConnectorActivations);
        emit!(INFO, CONNECTOR_ACTIVATE, connector = %name, version = %v.version, revision = v.revision, %source);
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
        self.metrics.incr(Counter::ConnectorRollbacks);
        emit!(INFO, CONNECTOR_ROLLBACK, connector = %name, revision = target);
        let errors = self.snapshot().errors.clone();
        self.publish(errors, None, Vec::new()).await;
        self.get(name)
            .ok_or_else(|| ChangeError::NotFound(name.to_owned()))
    }

    /// Every stored revision of a connector, newest first, and the active revision.
    pub async fn versions(&self, name: &str) -> Result<(Vec<ConnectorVersion>, Option<i64>), StoreError> {
        self.store.connector_versions(name).await
    }

    /// The Wasm sandbox components run in.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    /// The registry's activity counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
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
