//! Applies what other hosts on the same database changed: a connector revision activated there
//! is served here; an account changed or deleted there, and a token revoked there, are dropped
//! from this host's caches. The store's change log says what changed; PostgreSQL's
//! notifications say when (a poll catches what a notification missed, and is all SQLite has).

use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_ms;
use crate::connectors::Registry;
use crate::store::{Change, Store};
use crate::telemetry::emit;
use crate::telemetry::events::{CONNECTOR_REMOTE_CHANGE, STORE_CHANGES_FAILED};

/// How often the log is read when no notification came: the bound on a change reaching every
/// host without notifications.
pub const POLL: Duration = Duration::from_millis(250);
/// Changes kept in the log, long past what any live host still has to read.
const KEEP: Duration = Duration::from_secs(3600);
/// Changes read at a time.
const BATCH: i64 = 1000;

/// Applies changes after `seen` (the log's end when this host loaded its connectors) until `stop`.
pub async fn run(
    store: Store,
    registry: Arc<Registry>,
    mut seen: i64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut pruned_at = 0;
    loop {
        tokio::select! {
            _ = store.change_signal(POLL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match store.changes_since(seen, BATCH).await {
            Ok(changes) => seen = apply(&store, &registry, &changes).await.unwrap_or(seen),
            Err(e) => emit!(WARN, STORE_CHANGES_FAILED, error = %e),
        }
        if now_ms() - pruned_at > KEEP.as_millis() as i64 / 6 {
            pruned_at = now_ms();
            let _ = store.prune_changes(pruned_at - KEEP.as_millis() as i64).await;
        }
    }
}

/// Applies a batch; the last id applied.
async fn apply(store: &Store, registry: &Registry, changes: &[Change]) -> Option<i64> {
    let mut connectors: Vec<&str> = Vec::new();
    for c in changes {
        match c.kind.as_str() {
            Change::ACCOUNT => store.forget_account(&c.subject),
            Change::TOKEN => store.forget_token(&c.subject),
            Change::CONNECTOR => connectors.push(&c.subject),
            // A kind a newer host writes: nothing this host knows to do.
            _ => {}
        }
    }
    if !connectors.is_empty() {
        connectors.sort_unstable();
        connectors.dedup();
        // Revisions already served (this host's own changes among them) are kept as they are.
        if registry.refresh().await {
            emit!(INFO, CONNECTOR_REMOTE_CHANGE, connectors = ?connectors);
        }
    }
    changes.last().map(|c| c.id)
}
