//! Status changes: each one checked against the state machine and written with its audit entry
//! and outbox event in a single transaction.

use serde_json::{Value, json};
use sqlx::{Row, Sqlite, Transaction};

use super::{AccountRow, AccountStatus, Store, StoreError, now_ms};
use crate::lifecycle::{AccountEvent, check};

/// Token times: (obtained, expires, next scheduled refresh), epoch ms.
pub type TokenTimes = (Option<i64>, Option<i64>, Option<i64>);

/// One status change and what changes with it.
#[derive(Debug, Clone)]
pub struct Transition<'a> {
    /// The account as the change was decided on (its status is the `from`).
    pub account: &'a AccountRow,
    /// New status.
    pub to: AccountStatus,
    /// Event produced.
    pub event: AccountEvent,
    /// New `status_detail` (`None` clears it).
    pub detail: Option<Value>,
    /// Who: `api:<token id>`, `lifecycle`, `refresh`, `proxy`, `oauth`.
    pub actor: &'a str,
    /// New sealed credentials.
    pub credentials: Option<Vec<u8>>,
    /// New context.
    pub context: Option<Value>,
    /// New token times: (obtained, expires, next refresh), epoch ms.
    pub tokens: Option<TokenTimes>,
}

impl<'a> Transition<'a> {
    /// A plain status change.
    pub fn new(account: &'a AccountRow, to: AccountStatus, event: AccountEvent, actor: &'a str) -> Self {
        Self {
            account,
            to,
            event,
            detail: None,
            actor,
            credentials: None,
            context: None,
            tokens: None,
        }
    }
}

fn detail_text(detail: &Option<Value>) -> Option<String> {
    detail.as_ref().map(Value::to_string)
}

async fn record(
    tx: &mut Transaction<'_, Sqlite>,
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

impl Store {
    /// Inserts a new account in `connecting`, with its `created` event.
    pub async fn create_account(&self, a: &AccountRow, actor: &str) -> Result<(), StoreError> {
        check(None, AccountStatus::Connecting, AccountEvent::Created)?;
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO integrated_accounts (id, connector, tenant_id, status, credentials, context, base_url, \
             created_at, updated_at, token_obtained_at, token_expires_at, next_refresh_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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

    /// Applies a transition; fails if the table forbids it or the account's status changed since
    /// `t.account` was read.
    pub async fn transition(&self, t: &Transition<'_>) -> Result<(), StoreError> {
        let from = t.account.status;
        check(Some(from), t.to, t.event)?;
        let detail = detail_text(&t.detail);
        let mut tx = self.write_tx().await?;
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
        if let Some((obtained, expires, next)) = t.tokens {
            sqlx::query(
                "UPDATE integrated_accounts SET token_obtained_at = $1, token_expires_at = $2, next_refresh_at = $3, \
                 refresh_failures = 0, refresh_failing_since = NULL WHERE id = $4",
            )
            .bind(obtained)
            .bind(expires)
            .bind(next)
            .bind(&t.account.id)
            .execute(&mut *tx)
            .await?;
        }
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
        self.accounts.remove(&t.account.id);
        tracing::info!(
            account = %t.account.id,
            from = from.as_str(),
            to = t.to.as_str(),
            event = t.event.as_str(),
            actor = t.actor,
            "patchbay.accounts.transition"
        );
        Ok(())
    }

    /// Replaces an account's `status_detail` without a transition (a retry failing the same way).
    pub async fn set_detail(&self, id: &str, detail: &Value) -> Result<(), StoreError> {
        sqlx::query("UPDATE integrated_accounts SET status_detail = $1, updated_at = $2 WHERE id = $3")
            .bind(detail.to_string())
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.accounts.remove(&id.to_owned());
        Ok(())
    }

    /// Deletes an account, with its `deleted` event; false when it did not exist.
    pub async fn delete_account(&self, a: &AccountRow, actor: &str) -> Result<bool, StoreError> {
        self.accounts.remove(&a.id);
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM integrated_accounts WHERE id = $1")
            .bind(&a.id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
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
        self.accounts.remove(&a.id);
        Ok(true)
    }

    /// The audit log of an account, oldest first.
    pub async fn events(&self, account_id: &str) -> Result<Vec<Value>, StoreError> {
        let rows = sqlx::query("SELECT * FROM account_events WHERE account_id = $1 ORDER BY id")
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let reason: Option<String> = r.get("reason");
                json!({
                    "id": r.get::<String, _>("id"),
                    "from": r.get::<Option<String>, _>("from_status"),
                    "to": r.get::<String, _>("to_status"),
                    "event": r.get::<String, _>("event"),
                    "reason": reason.and_then(|t| serde_json::from_str::<Value>(&t).ok()),
                    "actor": r.get::<String, _>("actor"),
                    "at": r.get::<i64, _>("created_at"),
                })
            })
            .collect())
    }

    /// Undelivered outbox events, oldest first (the webhook delivery work consumes these).
    pub async fn outbox_pending(&self, limit: i64) -> Result<Vec<Value>, StoreError> {
        let rows = sqlx::query("SELECT payload FROM outbox WHERE delivered_at IS NULL ORDER BY id LIMIT $1")
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
