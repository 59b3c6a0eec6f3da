//! Inbound webhooks: the raw requests (stored in batches, one transaction per batch, before they
//! are acknowledged), leases of the processing queue, processing results with vendor-event-id
//! claims and outbox events in one transaction, and the app-level webhook secrets.
//!
//! Written once for every backend: `inbound_queries!(Store, Database)` expands, inside a
//! backend's module, to that backend's methods; what the dialects spell differently comes from
//! the backend's `dialect` module.

macro_rules! inbound_queries {
    ($store:ident, $db:ty) => {
        use sqlx::{Row, Transaction};

        use super::$store;
        use crate::store::error::StoreError;
        use crate::webhooks::model::{InboundFilter, InboundRow, InboundStatus, NewInbound, OutboxEvent, Processed};

        const INBOUND_COLUMNS: &str = "id, connector, account_id, tenant_id, method, url, headers, body, received_at, \
             status, attempts, processed_at, error, vendor_event_ids, event_types";

        impl $store {
            /// Stores requests atomically (the acknowledgement's group commit). A batch that fits one
            /// multi-row statement (every batch of the intake) is that statement alone, committed by
            /// itself: one round trip to the connection's thread instead of three, with the
            /// acknowledgements waiting; a larger one is a transaction of such statements.
            pub async fn insert_inbound(&self, batch: &[NewInbound]) -> Result<(), StoreError> {
                if batch.len() <= ROWS_PER_STATEMENT {
                    let _turn = self.urgent_turn().await;
                    insert_inbound_rows(batch).build().execute(self.urgent_pool()).await?;
                    return Ok(());
                }
                let (mut tx, _turn) = self.urgent_write_tx().await?;
                for chunk in batch.chunks(ROWS_PER_STATEMENT) {
                    insert_inbound_rows(chunk).build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            /// Leases up to `limit` pending requests (never-leased or with an expired lease) until `until`.
            pub async fn claim_inbound(
                &self,
                now: i64,
                until: i64,
                limit: i64,
            ) -> Result<Vec<InboundRow>, StoreError> {
                let (mut tx, _gate) = self.relaxed_write_tx().await?;
                let rows = sqlx::query(&format!(
                    "UPDATE inbound_webhooks SET lease_until = $1, attempts = attempts + 1 WHERE id IN \
                     (SELECT id FROM inbound_webhooks WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < $2) \
                      ORDER BY id LIMIT $3{}) RETURNING {INBOUND_COLUMNS}",
                    super::dialect::SKIP_LOCKED,
                ))
                .bind(until)
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.iter().map(inbound_from_row).collect()
            }

            /// Writes processing results, all in one transaction and in a few statements whatever the
            /// batch's size: claims every vendor event id (an id claimed before is a duplicate, and its
            /// event is not written), writes the outbox events of the new ones, and each request's final
            /// status. Returns the final statuses.
            pub async fn finish_inbound(
                &self,
                results: &[(InboundRow, Processed)],
                now: i64,
            ) -> Result<Vec<InboundStatus>, StoreError> {
                let (mut tx, _gate) = self.relaxed_write_tx().await?;
                // 1. Claims: the rows actually inserted come back, so two requests of one batch that carry
                //    the same event id cannot both think they claimed it.
                let claims: Vec<(&str, &str, &str)> = results
                    .iter()
                    .flat_map(|(row, p)| {
                        p.events.iter().map(|(event_id, _)| {
                            (
                                row.request.connector.as_str(),
                                event_id.as_str(),
                                row.request.id.as_str(),
                            )
                        })
                    })
                    .collect();
                let mut claimed = std::collections::HashSet::new();
                for chunk in claims.chunks(ROWS_PER_STATEMENT) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO inbound_event_ids (connector, event_id, inbound_id, created_at) ",
                    );
                    q.push_values(chunk, |mut b, (connector, event_id, inbound)| {
                        b.push_bind(*connector)
                            .push_bind(*event_id)
                            .push_bind(*inbound)
                            .push_bind(now);
                    });
                    q.push(" ON CONFLICT DO NOTHING RETURNING event_id, inbound_id");
                    for r in q.build().fetch_all(&mut *tx).await? {
                        claimed.insert((r.get::<String, _>("event_id"), r.get::<String, _>("inbound_id")));
                    }
                }
                // 2. The unified events of the claimed ids; 3. every request's status.
                let mut events = Vec::new();
                let mut updates = Vec::with_capacity(results.len());
                let mut statuses = Vec::with_capacity(results.len());
                for (row, p) in results {
                    let id = &row.request.id;
                    let mut fresh = 0usize;
                    let mut types = Vec::new();
                    for (event_id, event) in &p.events {
                        // `remove`: an id twice in one request is claimed once.
                        if claimed.remove(&(event_id.clone(), id.clone())) {
                            fresh += 1;
                            if let Some(event) = event {
                                events.push(event);
                                types.push(event.event_type.clone());
                            }
                        }
                    }
                    let status = match p.status {
                        InboundStatus::Processed if !p.events.is_empty() && fresh == 0 => InboundStatus::Duplicate,
                        s => s,
                    };
                    updates.push(serde_json::json!({
                        "id": id, "status": status.as_str(), "account_id": p.account_id, "tenant_id": p.tenant_id,
                        "error": p.error, "ids": serde_json::to_string(&p.vendor_event_ids).expect("ids serialize"),
                        "types": serde_json::to_string(&types).expect("types serialize"),
                    }));
                    statuses.push(status);
                }
                insert_outbox_rows(&mut tx, &events).await?;
                use super::dialect::{json_rows, json_text};
                sqlx::query(&format!(
                    "UPDATE inbound_webhooks SET status = {}, \
                     account_id = COALESCE(inbound_webhooks.account_id, {}), \
                     tenant_id = COALESCE(inbound_webhooks.tenant_id, {}), \
                     error = {}, vendor_event_ids = {}, event_types = {}, processed_at = $1, lease_until = NULL \
                     FROM {} WHERE inbound_webhooks.id = {}",
                    json_text("status"),
                    json_text("account_id"),
                    json_text("tenant_id"),
                    json_text("error"),
                    json_text("ids"),
                    json_text("types"),
                    json_rows("$2"),
                    json_text("id"),
                ))
                .bind(now)
                .bind(serde_json::Value::Array(updates).to_string())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(statuses)
            }

            /// Inbound requests, newest first.
            pub async fn list_inbound(&self, f: &InboundFilter) -> Result<Vec<InboundRow>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {INBOUND_COLUMNS} FROM inbound_webhooks WHERE ($1 IS NULL OR connector = $1) \
                     AND ($2 IS NULL OR account_id = $2) AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR tenant_id = $4) \
                     ORDER BY id DESC LIMIT $5"
                ))
                .bind(&f.connector)
                .bind(&f.account_id)
                .bind(f.status.map(InboundStatus::as_str))
                .bind(&f.tenant_id)
                .bind(f.limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(inbound_from_row).collect()
            }

            /// One inbound request.
            pub async fn inbound(&self, id: &str) -> Result<Option<InboundRow>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {INBOUND_COLUMNS} FROM inbound_webhooks WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(inbound_from_row).transpose()
            }

            /// Puts a failed or unmatched request back in the queue; false if it is in another status.
            pub async fn requeue_inbound(&self, id: &str) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE inbound_webhooks SET status = 'pending', lease_until = NULL, error = NULL \
                     WHERE id = $1 AND status IN ('failed', 'unmatched')",
                )
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            /// The account of `connector` whose `context.<field>` equals `value` (as text).
            pub async fn account_by_context(
                &self,
                connector: &str,
                field: &str,
                value: &str,
            ) -> Result<Option<(String, String)>, StoreError> {
                // `field` is letters, digits and '_' (checked when the manifest compiled).
                let row = sqlx::query(&format!(
                    "SELECT id, tenant_id FROM integrated_accounts WHERE connector = $1 \
                     AND {} = $3 ORDER BY created_at LIMIT 1",
                    super::dialect::context_field("$2"),
                ))
                .bind(connector)
                .bind(field)
                .bind(value)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| (r.get("id"), r.get("tenant_id"))))
            }

            /// Sets a connector's app-level webhook secret (sealed).
            pub async fn put_webhook_secret(
                &self,
                connector: &str,
                sealed: &[u8],
                now: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO webhook_secrets (connector, sealed, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (connector) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                )
                .bind(connector)
                .bind(sealed)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            /// A connector's app-level webhook secret (sealed).
            pub async fn webhook_secret(&self, connector: &str) -> Result<Option<Vec<u8>>, StoreError> {
                Ok(
                    sqlx::query_scalar("SELECT sealed FROM webhook_secrets WHERE connector = $1")
                        .bind(connector)
                        .fetch_optional(&self.pool)
                        .await?,
                )
            }
        }

        /// Rows per multi-row statement (each row binds at most 9 values; SQLite allows 32,766).
        pub(super) const ROWS_PER_STATEMENT: usize = 1000;

        /// One multi-row `INSERT` of stored requests, all `pending`.
        fn insert_inbound_rows(rows: &[NewInbound]) -> sqlx::QueryBuilder<'_, $db> {
            let mut q = sqlx::QueryBuilder::<$db>::new(
                "INSERT INTO inbound_webhooks (id, connector, account_id, tenant_id, method, url, headers, body, \
                 received_at, status) ",
            );
            q.push_values(rows, |mut row, r| {
                row.push_bind(&r.id)
                    .push_bind(&r.connector)
                    .push_bind(&r.account_id)
                    .push_bind(&r.tenant_id)
                    .push_bind(&r.method)
                    .push_bind(&r.url)
                    .push_bind(serde_json::to_string(&r.headers).expect("headers serialize"))
                    .push_bind(&r.body)
                    .push_bind(r.received_at)
                    .push("'pending'");
            });
            q
        }

        /// Appends events to the outbox inside a transaction, a statement per 1,000.
        pub(super) async fn insert_outbox_rows(
            tx: &mut Transaction<'_, $db>,
            events: &[&OutboxEvent],
        ) -> Result<(), StoreError> {
            for chunk in events.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO outbox (id, event, account_id, tenant_id, endpoint_id, payload, created_at) ",
                );
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(&e.id)
                        .push_bind(&e.event_type)
                        .push_bind(&e.account_id)
                        .push_bind(&e.tenant_id)
                        .push_bind(&e.endpoint_id)
                        .push_bind(e.data.to_string())
                        .push_bind(e.created_at);
                });
                q.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Appends an event to the outbox inside a transaction.
        pub(super) async fn insert_outbox(
            tx: &mut Transaction<'_, $db>,
            e: &OutboxEvent,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO outbox (id, event, account_id, tenant_id, endpoint_id, payload, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&e.id)
            .bind(&e.event_type)
            .bind(&e.account_id)
            .bind(&e.tenant_id)
            .bind(&e.endpoint_id)
            .bind(e.data.to_string())
            .bind(e.created_at)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        fn json_list(r: &<$db as sqlx::Database>::Row, column: &str) -> Vec<String> {
            r.get::<Option<String>, _>(column)
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default()
        }

        fn inbound_from_row(r: &<$db as sqlx::Database>::Row) -> Result<InboundRow, StoreError> {
            let status: String = r.get("status");
            let headers: String = r.get("headers");
            Ok(InboundRow {
                request: NewInbound {
                    id: r.get("id"),
                    connector: r.get("connector"),
                    account_id: r.get("account_id"),
                    tenant_id: r.get("tenant_id"),
                    method: r.get("method"),
                    url: r.get("url"),
                    headers: serde_json::from_str(&headers)
                        .map_err(|e| StoreError::Corrupt(format!("inbound headers: {e}")))?,
                    body: r.get("body"),
                    received_at: r.get("received_at"),
                },
                status: InboundStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("inbound status {status:?}")))?,
                attempts: r.get("attempts"),
                processed_at: r.get("processed_at"),
                error: r.get("error"),
                vendor_event_ids: json_list(r, "vendor_event_ids"),
                event_types: json_list(r, "event_types"),
            })
        }
    };
}
pub(crate) use inbound_queries;
