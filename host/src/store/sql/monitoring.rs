//! What monitoring reads: counts by status for the gauges, queue depths, and the schema-drift
//! baselines.
//!
//! Written once for every backend: `monitoring_queries!(Store, Database)` expands, inside a
//! backend's module, to that backend's methods; what the dialects spell differently comes from
//! the backend's `dialect` module.

macro_rules! monitoring_queries {
    ($store:ident, $db:ty) => {
        use sqlx::Row;

        use super::$store;
        use super::accounts::event_from_row;
        use crate::store::error::StoreError;
        use crate::store::records::{AccountEventRecord, QueueDepths};

        impl $store {
            /// Accounts per (connector, status).
            pub async fn count_accounts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT connector, status, COUNT(*) AS n FROM integrated_accounts GROUP BY connector, status",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .iter()
                    .map(|r| (r.get("connector"), r.get("status"), r.get("n")))
                    .collect())
            }

            /// Endpoints (enabled, disabled).
            pub async fn count_endpoints(&self) -> Result<(i64, i64), StoreError> {
                let row = sqlx::query(
                    "SELECT COUNT(*) FILTER (WHERE enabled) AS on_, COUNT(*) FILTER (WHERE NOT enabled) AS off \
                     FROM webhook_endpoints",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok((row.get("on_"), row.get("off")))
            }

            /// Rows waiting in each queue.
            pub async fn queue_depths(&self) -> Result<QueueDepths, StoreError> {
                let row = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM inbound_webhooks WHERE status = 'pending') AS inbound, \
                     (SELECT COUNT(*) FROM outbox WHERE fanned_out_at IS NULL) AS outbox, \
                     (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending') AS deliveries",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok(QueueDepths {
                    inbound: row.get("inbound"),
                    outbox: row.get("outbox"),
                    deliveries: row.get("deliveries"),
                })
            }

            /// The newest audit entries, newest first, with each account's connector (none once deleted).
            pub async fn recent_events(
                &self,
                limit: i64,
            ) -> Result<Vec<(String, Option<String>, AccountEventRecord)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT e.*, a.connector AS connector FROM account_events e \
                     LEFT JOIN integrated_accounts a ON a.id = e.account_id ORDER BY e.id DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .iter()
                    .map(|r| (r.get("account_id"), r.get("connector"), event_from_row(r)))
                    .collect())
            }

            /// A resource's baseline shape (JSON) and how many samples it holds.
            pub async fn schema_baseline(
                &self,
                connector: &str,
                resource: &str,
            ) -> Result<Option<(String, i64)>, StoreError> {
                let row =
                    sqlx::query("SELECT shape, samples FROM schema_baselines WHERE connector = $1 AND resource = $2")
                        .bind(connector)
                        .bind(resource)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|r| (r.get("shape"), r.get("samples"))))
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
                let (mut tx, _gate) = self.write_tx().await?;
                sqlx::query(
                    "INSERT INTO schema_baselines (connector, resource, shape, samples, updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (connector, resource) DO UPDATE SET shape = excluded.shape, samples = excluded.samples, \
                     updated_at = excluded.updated_at",
                )
                .bind(connector)
                .bind(resource)
                .bind(shape)
                .bind(samples)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}
pub(crate) use monitoring_queries;
