//! Outbound webhooks: endpoints, fan-out of outbox events into deliveries (once per event),
//! leases of one endpoint's due deliveries, attempts with their outcome, and replays.
//!
//! Written once for every backend: `deliveries_queries!(Store, Database)` expands, inside a
//! backend's module, to that backend's methods; what the dialects spell differently comes from
//! the backend's `dialect` module.

macro_rules! deliveries_queries {
    ($store:ident, $db:ty) => {
        use serde_json::Value;
        use sqlx::Row;

        use super::$store;
        use super::inbound::{ROWS_PER_STATEMENT, insert_outbox, insert_outbox_rows};
        use crate::store::error::StoreError;
        use crate::webhooks::model::{
            AttemptOutcome, AttemptRow, DueDelivery, EndpointRow, OutboxEvent, RecordedAttempt,
        };

        const ENDPOINT_COLUMNS: &str = "id, tenant_id, url, events, description, sealed_secret, enabled, disabled_reason, \
             failing_since, created_at, updated_at";

        impl $store {
            /// Creates an endpoint.
            pub async fn insert_endpoint(&self, e: &EndpointRow) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO webhook_endpoints (id, tenant_id, url, events, description, sealed_secret, enabled, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                )
                .bind(&e.id)
                .bind(&e.tenant_id)
                .bind(&e.url)
                .bind(
                    e.events
                        .as_ref()
                        .map(|v| serde_json::to_string(v).expect("filters serialize")),
                )
                .bind(&e.description)
                .bind(&e.sealed_secret)
                .bind(e.enabled)
                .bind(e.created_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            /// Replaces an endpoint's url, filters, description and enabled flag; re-enabling clears the
            /// failure state.
            pub async fn update_endpoint(&self, e: &EndpointRow) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE webhook_endpoints SET url = $1, events = $2, description = $3, enabled = $4, \
                     disabled_reason = CASE WHEN $4 THEN NULL ELSE disabled_reason END, \
                     failing_since = CASE WHEN $4 AND NOT enabled THEN NULL ELSE failing_since END, \
                     updated_at = $5 WHERE id = $6",
                )
                .bind(&e.url)
                .bind(
                    e.events
                        .as_ref()
                        .map(|v| serde_json::to_string(v).expect("filters serialize")),
                )
                .bind(&e.description)
                .bind(e.enabled)
                .bind(e.updated_at)
                .bind(&e.id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            /// One endpoint.
            pub async fn endpoint(&self, id: &str) -> Result<Option<EndpointRow>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(endpoint_from_row).transpose()
            }

            /// Every endpoint (of one tenant, if given), oldest first.
            pub async fn endpoints(&self, tenant: Option<&str>) -> Result<Vec<EndpointRow>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE ($1 IS NULL OR tenant_id = $1) ORDER BY created_at, id"
                ))
                .bind(tenant)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(endpoint_from_row).collect()
            }

            /// Deletes an endpoint and its pending deliveries (attempts stay as history).
            pub async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError> {
                let (mut tx, _gate) = self.write_tx().await?;
                sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending'")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            /// Appends an event to the outbox.
            pub async fn insert_event(&self, e: &OutboxEvent) -> Result<(), StoreError> {
                let (mut tx, _gate) = self.write_tx().await?;
                insert_outbox(&mut tx, e).await?;
                tx.commit().await?;
                Ok(())
            }

            /// Outbox events not fanned out yet, oldest first.
            pub async fn unfanned_events(&self, limit: i64) -> Result<Vec<OutboxEvent>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, event, account_id, tenant_id, endpoint_id, payload, created_at FROM outbox \
                     WHERE fanned_out_at IS NULL ORDER BY id LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(event_from_row).collect()
            }

            /// Outbox events created at or after `since`, oldest first.
            pub async fn events_since(&self, since: i64, limit: i64) -> Result<Vec<OutboxEvent>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, event, account_id, tenant_id, endpoint_id, payload, created_at FROM outbox \
                     WHERE created_at >= $1 ORDER BY id LIMIT $2",
                )
                .bind(since)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(event_from_row).collect()
            }

            /// Creates the deliveries of events and marks them fanned out, in one transaction and two
            /// statements per 1,000; an event another worker fanned out first is skipped (its deliveries
            /// exist).
            pub async fn fan_out(&self, events: &[(OutboxEvent, Vec<String>)], due: i64) -> Result<(), StoreError> {
                let (mut tx, _gate) = self.relaxed_write_tx().await?;
                let ids: Vec<&str> = events.iter().map(|(e, _)| e.id.as_str()).collect();
                // Rows another host is marking are skipped, not waited for: it fans them out.
                let marked: std::collections::HashSet<String> = sqlx::query_scalar(&format!(
                    "UPDATE outbox SET fanned_out_at = $1 WHERE id IN (SELECT id FROM outbox WHERE id IN ({}) \
                     AND fanned_out_at IS NULL{}) RETURNING id",
                    super::dialect::json_strings("$2"),
                    super::dialect::SKIP_LOCKED,
                ))
                .bind(due)
                .bind(serde_json::to_string(&ids).expect("ids serialize"))
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
                let deliveries: Vec<(&OutboxEvent, &String)> = events
                    .iter()
                    .filter(|(e, _)| marked.contains(&e.id))
                    .flat_map(|(e, endpoints)| endpoints.iter().map(move |ep| (e, ep)))
                    .collect();
                insert_deliveries(&mut tx, &deliveries, due).await?;
                tx.commit().await?;
                Ok(())
            }

            /// Creates deliveries of past events to one endpoint (replay).
            pub async fn add_deliveries(
                &self,
                endpoint: &str,
                events: &[OutboxEvent],
                now: i64,
            ) -> Result<(), StoreError> {
                let (mut tx, _gate) = self.write_tx().await?;
                let endpoint = endpoint.to_owned();
                let deliveries: Vec<(&OutboxEvent, &String)> = events.iter().map(|e| (e, &endpoint)).collect();
                insert_deliveries(&mut tx, &deliveries, now).await?;
                tx.commit().await?;
                Ok(())
            }

            /// Leases up to `limit` due deliveries of one endpoint until `until`, oldest due first.
            pub async fn claim_deliveries(
                &self,
                endpoint: &str,
                now: i64,
                until: i64,
                limit: i64,
            ) -> Result<Vec<DueDelivery>, StoreError> {
                let rows = {
                    let (mut tx, _gate) = self.relaxed_write_tx().await?;
                    let rows = sqlx::query(&format!(
                        "UPDATE webhook_deliveries SET lease_until = $1 WHERE id IN ( \
                           SELECT id FROM webhook_deliveries WHERE endpoint_id = $2 AND status = 'pending' \
                           AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
                           ORDER BY next_attempt_at LIMIT $4{}) \
                         RETURNING id, endpoint_id, event_id, event_type, attempts, created_at",
                        super::dialect::SKIP_LOCKED,
                    ))
                    .bind(until)
                    .bind(endpoint)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    rows
                };
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let ids: Vec<String> = rows.iter().map(|r| r.get("event_id")).collect();
                let events = sqlx::query(&format!(
                    "SELECT id, payload, created_at FROM outbox WHERE id IN ({})",
                    super::dialect::json_strings("$1"),
                ))
                .bind(serde_json::to_string(&ids).expect("ids serialize"))
                .fetch_all(&self.pool)
                .await?;
                let mut by_id = std::collections::HashMap::with_capacity(events.len());
                for e in &events {
                    let data: Value = serde_json::from_str(&e.get::<String, _>("payload"))
                        .map_err(|err| StoreError::Corrupt(format!("outbox payload: {err}")))?;
                    by_id.insert(e.get::<String, _>("id"), (data, e.get::<i64, _>("created_at")));
                }
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        let event_id: String = r.get("event_id");
                        let (data, event_created_at) = by_id.remove(&event_id).unwrap_or((Value::Null, 0));
                        DueDelivery {
                            id: r.get("id"),
                            endpoint_id: r.get("endpoint_id"),
                            event_id,
                            event_type: r.get("event_type"),
                            attempts: r.get("attempts"),
                            created_at: r.get("created_at"),
                            data,
                            event_created_at,
                        }
                    })
                    .collect())
            }

            /// Records attempts and what each decided, in one transaction and a few statements per
            /// batch: the attempts, each delivery's next state, each endpoint's failure state (and its
            /// disabling), and the `webhook_endpoint:disabled` events.
            pub async fn record_attempts(&self, attempts: &[RecordedAttempt]) -> Result<(), StoreError> {
                let (mut tx, _gate) = self.relaxed_write_tx().await?;
                for chunk in attempts.chunks(ROWS_PER_STATEMENT / 2) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO webhook_attempts (id, delivery_id, endpoint_id, event_id, event_type, attempt, \
                         status_code, duration_ms, response_excerpt, error, at, next_attempt_at) ",
                    );
                    q.push_values(chunk, |mut b, r| {
                        let a = &r.attempt;
                        b.push_bind(&a.id)
                            .push_bind(&a.delivery_id)
                            .push_bind(&a.endpoint_id)
                            .push_bind(&a.event_id)
                            .push_bind(&a.event_type)
                            .push_bind(a.attempt)
                            .push_bind(a.status_code)
                            .push_bind(a.duration_ms)
                            .push_bind(&a.response_excerpt)
                            .push_bind(&a.error)
                            .push_bind(a.at)
                            .push_bind(a.next_attempt_at);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                let updates: Vec<serde_json::Value> = attempts
                    .iter()
                    .map(|r| {
                        let a = &r.attempt;
                        let (status, next) = match &r.outcome {
                            AttemptOutcome::Succeeded => ("succeeded", None),
                            AttemptOutcome::Retry(at) => ("pending", Some(*at)),
                            AttemptOutcome::GaveUp => ("failed", None),
                            // Stays pending: re-enabling the endpoint resumes it.
                            AttemptOutcome::DisableEndpoint(_) => ("pending", Some(a.at)),
                        };
                        serde_json::json!({"id": a.delivery_id, "status": status, "attempt": a.attempt, "next": next,
                            "completed": (status != "pending").then_some(a.at)})
                    })
                    .collect();
                use super::dialect::{json_int, json_rows, json_text};
                sqlx::query(&format!(
                    "UPDATE webhook_deliveries SET status = {}, attempts = {}, next_attempt_at = {}, \
                     lease_until = NULL, completed_at = {} FROM {} WHERE webhook_deliveries.id = {}",
                    json_text("status"),
                    json_int("attempt"),
                    json_int("next"),
                    json_int("completed"),
                    json_rows("$1"),
                    json_text("id"),
                ))
                .bind(serde_json::Value::Array(updates).to_string())
                .execute(&mut *tx)
                .await?;
                // Each endpoint's failure state after the batch, in order: a success clears it; the
                // first failure after the last success (or the stored one, if none succeeded) starts it.
                let mut endpoints: Vec<&str> = attempts.iter().map(|r| r.attempt.endpoint_id.as_str()).collect();
                endpoints.sort_unstable();
                endpoints.dedup();
                for endpoint in endpoints {
                    let mine: Vec<&RecordedAttempt> = attempts
                        .iter()
                        .filter(|r| r.attempt.endpoint_id == endpoint)
                        .collect();
                    let last_success = mine
                        .iter()
                        .rposition(|r| matches!(r.outcome, AttemptOutcome::Succeeded));
                    let after = last_success.map_or(0, |i| i + 1);
                    let first_failure = mine[after..].first().map(|r| r.attempt.at);
                    let disabled = mine.iter().rev().find_map(|r| match &r.outcome {
                        AttemptOutcome::DisableEndpoint(reason) => Some((reason.as_str(), r.attempt.at)),
                        _ => None,
                    });
                    // `failing_since` as an expression over the bound failure time ($2).
                    // (After a success, $2 is the first failure since, or NULL: none.)
                    let failing = match last_success {
                        Some(_) => "$2",
                        None => "COALESCE(failing_since, $2)",
                    };
                    let sql = match disabled {
                        Some(_) => format!(
                            "UPDATE webhook_endpoints SET failing_since = COALESCE({failing}, $3), enabled = FALSE, \
                             disabled_reason = $4 WHERE id = $1"
                        ),
                        None => format!("UPDATE webhook_endpoints SET failing_since = {failing} WHERE id = $1"),
                    };
                    let mut query = sqlx::query(&sql).bind(endpoint).bind(first_failure);
                    if let Some((reason, at)) = disabled {
                        query = query.bind(at).bind(reason);
                    }
                    query.execute(&mut *tx).await?;
                }
                let disabled_events: Vec<&OutboxEvent> = attempts
                    .iter()
                    .filter_map(|r| r.disabled_event.as_ref())
                    .collect();
                insert_outbox_rows(&mut tx, &disabled_events).await?;
                tx.commit().await?;
                Ok(())
            }

            /// An endpoint's attempts, newest first.
            pub async fn attempts(&self, endpoint: &str, limit: i64) -> Result<Vec<AttemptRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, delivery_id, endpoint_id, event_id, event_type, attempt, status_code, duration_ms, \
                     response_excerpt, error, at, next_attempt_at FROM webhook_attempts WHERE endpoint_id = $1 \
                     ORDER BY id DESC LIMIT $2",
                )
                .bind(endpoint)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .iter()
                    .map(|r| AttemptRow {
                        id: r.get("id"),
                        delivery_id: r.get("delivery_id"),
                        endpoint_id: r.get("endpoint_id"),
                        event_id: r.get("event_id"),
                        event_type: r.get("event_type"),
                        attempt: r.get("attempt"),
                        status_code: r.get("status_code"),
                        duration_ms: r.get("duration_ms"),
                        response_excerpt: r.get("response_excerpt"),
                        error: r.get("error"),
                        at: r.get("at"),
                        next_attempt_at: r.get("next_attempt_at"),
                    })
                    .collect())
            }

            /// Deliveries per status (`pending`, `succeeded`, `failed`), for tests and operators.
            pub async fn delivery_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
                let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status")
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.iter().map(|r| (r.get("status"), r.get("n"))).collect())
            }
        }

        async fn insert_deliveries(
            tx: &mut sqlx::Transaction<'_, $db>,
            deliveries: &[(&OutboxEvent, &String)],
            due: i64,
        ) -> Result<(), StoreError> {
            for chunk in deliveries.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, status, attempts, \
                     next_attempt_at, created_at) ",
                );
                q.push_values(chunk, |mut b, (event, endpoint)| {
                    b.push_bind(uuid::Uuid::now_v7().to_string())
                        .push_bind(*endpoint)
                        .push_bind(&event.id)
                        .push_bind(&event.event_type)
                        .push("'pending'")
                        .push("0")
                        .push_bind(due)
                        .push_bind(due);
                });
                q.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        fn event_from_row(r: &<$db as sqlx::Database>::Row) -> Result<OutboxEvent, StoreError> {
            Ok(OutboxEvent {
                id: r.get("id"),
                event_type: r.get("event"),
                account_id: r.get("account_id"),
                tenant_id: r.get("tenant_id"),
                endpoint_id: r.get("endpoint_id"),
                data: serde_json::from_str(&r.get::<String, _>("payload"))
                    .map_err(|e| StoreError::Corrupt(format!("outbox payload: {e}")))?,
                created_at: r.get("created_at"),
            })
        }

        fn endpoint_from_row(r: &<$db as sqlx::Database>::Row) -> Result<EndpointRow, StoreError> {
            let events: Option<String> = r.get("events");
            Ok(EndpointRow {
                id: r.get("id"),
                tenant_id: r.get("tenant_id"),
                url: r.get("url"),
                events: events
                    .map(|t| serde_json::from_str(&t))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("endpoint filters: {e}")))?,
                description: r.get("description"),
                sealed_secret: r.get("sealed_secret"),
                enabled: r.get("enabled"),
                disabled_reason: r.get("disabled_reason"),
                failing_since: r.get("failing_since"),
                created_at: r.get("created_at"),
                updated_at: r.get("updated_at"),
            })
        }
    };
}
pub(crate) use deliveries_queries;
