//! The handles calls use: the account store, the live connectors, the vendor client, token
//! refresh, credential sealing, cursor signing, the metrics and the schema-drift tracker.

use std::sync::Arc;

use crate::connectors::Registry;
use crate::monitoring::drift::Drift;
use crate::oauth::Refresher;
use crate::secrets::Secrets;
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::upstream::Upstream;
use patchbay_engine::cursor::Cursors;

/// Proxied and unified calls (`proxy` and `unified` are in their own modules).
#[derive(Debug)]
pub struct Calls {
    pub(super) store: Store,
    pub(super) registry: Arc<Registry>,
    pub(super) upstream: Upstream,
    pub(super) refresher: Arc<Refresher>,
    pub(super) secrets: Secrets,
    pub(super) cursors: Cursors,
    pub(super) metrics: Arc<Metrics>,
    pub(super) drift: Arc<Drift>,
}

impl Calls {
    /// Calls over these handles; cursors are signed with a key derived from `secrets`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        upstream: Upstream,
        refresher: Arc<Refresher>,
        secrets: Secrets,
        metrics: Arc<Metrics>,
        drift: Arc<Drift>,
    ) -> Self {
        let cursors = Cursors::new(*secrets.cursor_key());
        Self {
            store,
            registry,
            upstream,
            refresher,
            secrets,
            cursors,
            metrics,
            drift,
        }
    }
}
