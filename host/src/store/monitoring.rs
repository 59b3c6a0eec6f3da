//! The store's side of monitoring: counts for the gauges, queue depths, recent transitions and
//! schema-drift baselines.

use super::records::{AccountEventRecord, QueueDepths};
use super::{Backend, Store, StoreError};

impl Store {
    /// Accounts per (connector, status).
    pub async fn count_accounts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        on_backend!(self, b => b.count_accounts().await)
    }

    /// Endpoints (enabled, disabled).
    pub async fn count_endpoints(&self) -> Result<(i64, i64), StoreError> {
        on_backend!(self, b => b.count_endpoints().await)
    }

    /// Rows waiting in each queue.
    pub async fn queue_depths(&self) -> Result<QueueDepths, StoreError> {
        on_backend!(self, b => b.queue_depths().await)
    }

    /// The newest audit entries of every account, newest first: (account id, its connector if
    /// the account still exists, the entry).
    pub async fn recent_events(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, Option<String>, AccountEventRecord)>, StoreError> {
        on_backend!(self, b => b.recent_events(limit).await)
    }

    /// A resource's baseline shape (JSON) and how many samples it holds.
    pub async fn schema_baseline(
        &self,
        connector: &str,
        resource: &str,
    ) -> Result<Option<(String, u64)>, StoreError> {
        let row = on_backend!(self, b => b.schema_baseline(connector, resource).await)?;
        Ok(row.map(|(shape, n)| (shape, n.max(0) as u64)))
    }

    /// Stores a resource's baseline.
    pub async fn put_schema_baseline(
        &self,
        connector: &str,
        resource: &str,
        shape: &str,
        samples: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        on_backend!(self, b => b.put_schema_baseline(connector, resource, shape, samples, now).await)
    }
}
