//! Integrated accounts: reads, creation, status transitions (each with its audit entry and outbox
//! event in one transaction), status details, deletion, the audit log and the outbox.
//!
//! Written once for every backend: `accounts_queries!(Store, Database)` expands, inside a
//! backend's module, to that backend's methods; what the dialects spell differently comes from
//! the backend's `dialect` module.

macro_rules! accounts_queries {
    ($store:ident, $db:ty) => {
        use serde_json::{Value, json};
        use sqlx::{Row, Transaction};

        use super::$store;
        use crate::store::sql::detail_json;
        use crate::accounts::detail::StatusDetail;
        use crate::accounts::model::{AccountFilter, AccountRow, AccountStatus};
        use crate::accounts::state_machine::{AccountEvent, Transition};
        use crate::clock::now_ms;
        use crate::store::error::StoreError;
        use crate::store::records::{AccountEventRecord, Change};

        impl $store {
            /// One account.
            pub async fn account(&self, id: &str) -> Result<Option<AccountRow>, StoreError> {
                let row = sqlx::query("SELECT * FROM integrated_accounts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| account_from_row(&r)).transpose()
            }

            /// Accounts matching a filter, oldest first.
            pub async fn accounts(&self, f: &AccountFilter) -> Result<Vec<AccountRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT * FROM integrated_accounts WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR connector = $2) \
                     AND ($3 IS NULL OR tenant_id = $3) ORDER BY created_at, id",
                )
                .bind(f.status.map(AccountStatus::as_str))
                .bind(&f.connector)
                .bind(&f.tenant_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(account_from_row).collect()
            }

            /// Inserts a new account in `connecting`, with its `created` event (checked by the facade).
            pub async fn create_account(&self, a: &AccountRow, actor: &str) -> Result<(), StoreError> {
                let (mut tx, _gate) = self.write_tx().await?;
                sqlx::query(
                    "INSERT INTO integrated_accounts (id, connector, tenant_id, status, credentials, context, base_url, \
                     created_at, updated_at, token_obtained_at, token_expires_at, next_refresh_at, auth_method) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(&a.id)
                .bind(&a.connector)
                .bind(&a.tenant_id)
                .bind(AccountStatus::Connecting.as_str())
                .bind(&a.credentials)
                .bind(a.context.to_string())
                .bind(&a.base_url)
                .bind(a.created_at)
                .bind(a.updated_at)
                .bind(a.token_obtained_at)
                .bind(a.token_expires_at)
                .bind(a.next_refresh_at)
                .bind(&a.auth_method)
                .execute(&mut *tx)
                .await?;
                record(
                    &mut tx,
                    a,
                    None,
                    AccountStatus::Connecting.as_str(),
                    AccountEvent::Created,
                    None,
                    actor,
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            /// Applies a transition (checked against the table by the facade); fails if the account's
            /// status changed since `t.account` was read.
            pub async fn transition(&self, t: &Transition<'_>) -> Result<(), StoreError> {
                let from = t.account.status;
                let detail = t.detail.as_ref().map(detail_json);
                let (mut tx, _gate) = self.write_tx().await?;
                let done = sqlx::query(
                    "UPDATE integrated_accounts SET status = $1, status_detail = $2, updated_at = $3 WHERE id = $4 AND status = $5",
                )
                .bind(t.to.as_str())
                .bind(&detail)
                .bind(now_ms())
                .bind(&t.account.id)
                .bind(from.as_str())
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict {
                        id: t.account.id.clone(),
                        expected: from.as_str(),
                    });
                }
                if let Some(c) = &t.credentials {
                    // New credentials win over a refresh in flight with the old grant: its lease ends
                    // here, so its `store_tokens` finds the lease gone and writes nothing.
                    sqlx::query(
                        "UPDATE integrated_accounts SET credentials = $1, lease_owner = NULL, lease_expires_at = NULL WHERE id = $2",
                    )
                        .bind(c)
                        .bind(&t.account.id)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(c) = &t.context {
                    sqlx::query("UPDATE integrated_accounts SET context = $1 WHERE id = $2")
                        .bind(c.to_string())
                        .bind(&t.account.id)
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(tokens) = t.tokens {
                    sqlx::query(
                        "UPDATE integrated_accounts SET token_obtained_at = $1, token_expires_at = $2, next_refresh_at = $3, \
                         refresh_failures = 0, refresh_failing_since = NULL WHERE id = $4",
                    )
                    .bind(tokens.obtained_at)
                    .bind(tokens.expires_at)
                    .bind(tokens.next_refresh_at)
                    .bind(&t.account.id)
                    .execute(&mut *tx)
                    .await?;
                }
                super::changes::note_change(&mut tx, Change::ACCOUNT, &t.account.id).await?;
                record(
                    &mut tx,
                    t.account,
                    Some(from),
                    t.to.as_str(),
                    t.event,
                    detail,
                    t.actor,
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            /// Replaces an account's `status_detail` without a transition (a retry failing the same way).
            pub async fn set_detail(&self, id: &str, detail: &StatusDetail) -> Result<(), StoreError> {
                sqlx::query("UPDATE integrated_accounts SET status_detail = $1, updated_at = $2 WHERE id = $3")
                    .bind(detail_json(detail))
                    .bind(now_ms())
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            /// Deletes an account, with its `deleted` event; false when it did not exist.
            pub async fn delete_account(&self, a: &AccountRow, actor: &str) -> Result<bool, StoreError> {
                let (mut tx, _gate) = self.write_tx().await?;
                let done = sqlx::query("DELETE FROM integrated_accounts WHERE id = $1")
                    .bind(&a.id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                super::changes::note_change(&mut tx, Change::ACCOUNT, &a.id).await?;
                record(
                    &mut tx,
                    a,
                    Some(a.status),
                    "deleted",
                    AccountEvent::Deleted,
                    None,
                    actor,
                )
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            /// The audit log of an account, oldest first.
            pub async fn events(&self, account_id: &str) -> Result<Vec<AccountEventRecord>, StoreError> {
                let rows = sqlx::query("SELECT * FROM account_events WHERE account_id = $1 ORDER BY id")
                    .bind(account_id)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.iter().map(event_from_row).collect())
            }

            /// Undelivered outbox events, oldest first (the webhook delivery work consumes these).
            pub async fn outbox_pending(&self, limit: i64) -> Result<Vec<Value>, StoreError> {
                let rows = sqlx::query("SELECT payload FROM outbox WHERE fanned_out_at IS NULL ORDER BY id LIMIT $1")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        serde_json::from_str(&r.get::<String, _>("payload"))
                            .map_err(|e| StoreError::Corrupt(e.to_string()))
                    })
                    .collect()
            }
        }

        async fn record(
            tx: &mut Transaction<'_, $db>,
            account: &AccountRow,
            from: Option<AccountStatus>,
            to: &str,
            event: AccountEvent,
            reason: Option<String>,
            actor: &str,
        ) -> Result<(), StoreError> {
            let now = now_ms();
            sqlx::query(
                "INSERT INTO account_events (id, account_id, from_status, to_status, event, reason, actor, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(&account.id)
            .bind(from.map(AccountStatus::as_str))
            .bind(to)
            .bind(event.as_str())
            .bind(&reason)
            .bind(actor)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            let payload = json!({
                "event": event.as_str(),
                "integrated_account_id": account.id,
                "connector": account.connector,
                "tenant_id": account.tenant_id,
                "status": to,
                "previous_status": from.map(AccountStatus::as_str),
                "reason": reason.as_deref().and_then(|r| serde_json::from_str::<Value>(r).ok()),
                "at": now,
            });
            sqlx::query(
                "INSERT INTO outbox (id, event, account_id, tenant_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(event.as_str())
            .bind(&account.id)
            .bind(&account.tenant_id)
            .bind(payload.to_string())
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        fn account_from_row(r: &<$db as sqlx::Database>::Row) -> Result<AccountRow, StoreError> {
            let status: String = r.get("status");
            let context: String = r.get("context");
            Ok(AccountRow {
                id: r.get("id"),
                connector: r.get("connector"),
                tenant_id: r.get("tenant_id"),
                status: status
                    .parse()
                    .map_err(|e: crate::accounts::model::UnknownStatus| StoreError::Corrupt(e.to_string()))?,
                credentials: r.get("credentials"),
                context: serde_json::from_str(&context).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                base_url: r.get("base_url"),
                auth_method: r.get("auth_method"),
                created_at: r.get("created_at"),
                updated_at: r.get("updated_at"),
                status_detail: r
                    .get::<Option<String>, _>("status_detail")
                    .map(|d| serde_json::from_str(&d).map_err(|e| StoreError::Corrupt(e.to_string())))
                    .transpose()?,
                token_obtained_at: r.get("token_obtained_at"),
                token_expires_at: r.get("token_expires_at"),
                next_refresh_at: r.get("next_refresh_at"),
                refresh_failures: r.get("refresh_failures"),
                refresh_failing_since: r.get("refresh_failing_since"),
            })
        }

        /// An audit entry.
        pub(super) fn event_from_row(r: &<$db as sqlx::Database>::Row) -> AccountEventRecord {
            AccountEventRecord {
                id: r.get("id"),
                from: r.get("from_status"),
                to: r.get("to_status"),
                event: r.get("event"),
                reason: r
                    .get::<Option<String>, _>("reason")
                    .and_then(|t| serde_json::from_str(&t).ok()),
                actor: r.get("actor"),
                at: r.get("created_at"),
            }
        }
    };
}
pub(crate) use accounts_queries;
