//! Hot reload from the connectors directory: a file watcher (`notify`) whose events, debounced,
//! make the registry re-read the changed manifests. The host keeps serving throughout.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::event::ModifyKind;
use notify::{EventKind, RecursiveMode, Watcher};

use super::files::is_manifest_file;
use super::registry::Registry;
use crate::telemetry::emit;
use crate::telemetry::events::{
    CONNECTOR_WATCH_CHANGED, CONNECTOR_WATCH_COMPONENT_CHANGED, CONNECTOR_WATCH_UNAVAILABLE,
};

/// How long file events settle before a reload (editors write in several steps).
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Watches the registry's directory until `stop` flips; `None` when watching is unavailable (the
/// host then serves without hot reload, and says so).
pub fn spawn(
    registry: Arc<Registry>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Option<notify::RecommendedWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            // Content changes only: a `touch` or `chmod` must not re-activate a file over a newer
            // upload or a rollback.
            && matches!(
                event.kind,
                EventKind::Create(_)
                    | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
            )
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })
    .map_err(|e| emit!(WARN, CONNECTOR_WATCH_UNAVAILABLE, error = %e))
    .ok()?;
    if let Err(e) = watcher.watch(registry.dir(), RecursiveMode::NonRecursive) {
        emit!(WARN, CONNECTOR_WATCH_UNAVAILABLE, error = %e, dir = %registry.dir().display());
        return None;
    }
    tokio::spawn(async move {
        loop {
            let first = tokio::select! {
                p = rx.recv() => match p { Some(p) => p, None => return },
                _ = stop.changed() => return,
            };
            let mut changed = BTreeSet::from([first]);
            tokio::time::sleep(DEBOUNCE).await;
            while let Ok(p) = rx.try_recv() {
                changed.insert(p);
            }
            // A component a manifest names by `component.path`: re-read the directory (only
            // changed content activates).
            if changed
                .iter()
                .any(|p| p.extension().is_some_and(|e| e == "wasm") && !is_manifest_file(p))
            {
                emit!(INFO, CONNECTOR_WATCH_COMPONENT_CHANGED);
                registry.reload().await;
            }
            for path in changed.into_iter().filter(|p| is_manifest_file(p)) {
                emit!(INFO, CONNECTOR_WATCH_CHANGED, file = %path.display());
                registry.reload_file(&path).await;
            }
        }
    });
    Some(watcher)
}
