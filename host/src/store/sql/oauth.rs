//! OAuth state: refresh leases and refreshed tokens, refresh failures and the schedule, token
//! expiry drift, OAuth apps (sealed) and pending authorizations.
//!
//! Written once for every backend: `oauth_queries!(Store, Database)` expands, inside a
//! backend's module, to that backend's methods; what the dialects spell differently comes from
//! the backend's `dialect` module.

macro_rules! oauth_queries {
    ($store:ident, $db:ty) => {
        use sqlx::Row;

        use super::$store;
        use crate::store::sql::detail_json;
        use crate::accounts::detail::StatusDetail;
        use crate::clock::now_ms;
        use crate::store::error::StoreError;
        use crate::store::records::{OAuthStateRow, TokenUpdate};

        impl $store {
            /// Takes the refresh lease of an account for `ttl_ms` unless another owner holds a live one.
            pub async fn try_lease(&self, id: &str, owner: &str, ttl_ms: i64) -> Result<bool, StoreError> {
                let now = now_ms();
                let done = sqlx::query(
                    "UPDATE integrated_accounts SET lease_owner = $1, lease_expires_at = $2 \
                     WHERE id = $3 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_expires_at < $4)",
                )
                .bind(owner)
                .bind(now + ttl_ms)
                .bind(id)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            /// Releases the lease, if `owner` holds it (never someone else's).
            pub async fn release_lease(&self, id: &str, owner: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE integrated_accounts SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2",
                )
                .bind(id)
                .bind(owner)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            /// Stores refreshed tokens (rotated refresh token included) and releases the lease, in one
            /// statement; false when `owner` no longer holds the lease (nothing is written then).
            pub async fn store_tokens(&self, id: &str, owner: &str, t: &TokenUpdate) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE integrated_accounts SET credentials = $1, token_obtained_at = $2, token_expires_at = $3, \
                     next_refresh_at = $4, refresh_failures = 0, refresh_failing_since = NULL, status_detail = NULL, \
                     lease_owner = NULL, lease_expires_at = NULL, updated_at = $2, context = COALESCE($7, context) \
                     WHERE id = $5 AND lease_owner = $6",
                )
                .bind(&t.credentials)
                .bind(t.obtained_at)
                .bind(t.expires_at)
                .bind(t.next_refresh_at)
                .bind(id)
                .bind(owner)
                .bind(t.context.as_ref().map(|c| c.to_string()))
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            /// Records a transient refresh failure and when to try again; releases the lease.
            pub async fn refresh_failed(
                &self,
                id: &str,
                owner: &str,
                failing_since: i64,
                next_refresh_at: i64,
                detail: &StatusDetail,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE integrated_accounts SET refresh_failures = refresh_failures + 1, refresh_failing_since = $1, \
                     next_refresh_at = $2, status_detail = $3, lease_owner = NULL, lease_expires_at = NULL \
                     WHERE id = $4 AND lease_owner = $5",
                )
                .bind(failing_since)
                .bind(next_refresh_at)
                .bind(detail_json(detail))
                .bind(id)
                .bind(owner)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            /// Stops scheduled refreshes of an account (it has no refresh path).
            pub async fn clear_refresh_schedule(&self, id: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE integrated_accounts SET next_refresh_at = NULL WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            /// Active OAuth accounts whose scheduled refresh time has come.
            pub async fn due_for_refresh(&self, now: i64, limit: i64) -> Result<Vec<String>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id FROM integrated_accounts WHERE status = 'active' AND next_refresh_at IS NOT NULL \
                     AND next_refresh_at <= $1 AND (lease_owner IS NULL OR lease_expires_at < $1) ORDER BY next_refresh_at LIMIT $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.iter().map(|r| r.get("id")).collect())
            }

            /// Records that a token the database believed valid was rejected (`drift_ms` = expires_at - now).
            pub async fn record_drift(&self, id: &str, connector: &str, drift_ms: i64) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO token_drift (id, account_id, connector, drift_ms, observed_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(id)
                    .bind(connector)
                    .bind(drift_ms)
                    .bind(now_ms())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            /// Recorded drifts of an account, oldest first.
            pub async fn drifts(&self, id: &str) -> Result<Vec<i64>, StoreError> {
                let rows = sqlx::query("SELECT drift_ms FROM token_drift WHERE account_id = $1 ORDER BY id")
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.iter().map(|r| r.get("drift_ms")).collect())
            }

            /// Stores a connector's sealed OAuth app settings.
            pub async fn put_oauth_app(&self, connector: &str, sealed: &[u8]) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO oauth_apps (connector, sealed, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (connector) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                )
                .bind(connector)
                .bind(sealed)
                .bind(now_ms())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            /// A connector's sealed OAuth app settings.
            pub async fn oauth_app(&self, connector: &str) -> Result<Option<Vec<u8>>, StoreError> {
                let row = sqlx::query("SELECT sealed FROM oauth_apps WHERE connector = $1")
                    .bind(connector)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| r.get("sealed")))
            }

            /// Records a pending authorization.
            pub async fn insert_oauth_state(&self, s: &OAuthStateRow) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO oauth_states (state_hash, connector, tenant_id, redirect_uri, account_id, sealed_verifier, expires_at, auth_method, context) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&s.state_hash)
                .bind(&s.connector)
                .bind(&s.tenant_id)
                .bind(&s.redirect_uri)
                .bind(&s.account_id)
                .bind(&s.sealed_verifier)
                .bind(s.expires_at)
                .bind(&s.auth_method)
                .bind(s.context.to_string())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            /// Takes a pending authorization: it is deleted, so a `state` works once. Expired ones are
            /// returned too (the caller refuses them) and swept.
            pub async fn take_oauth_state(&self, state_hash: &str) -> Result<Option<OAuthStateRow>, StoreError> {
                let (mut tx, _gate) = self.write_tx().await?;
                let row = sqlx::query("SELECT * FROM oauth_states WHERE state_hash = $1")
                    .bind(state_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                let done = sqlx::query("DELETE FROM oauth_states WHERE state_hash = $1")
                    .bind(state_hash)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                // Two callbacks racing on one state: only the one whose DELETE removed it may proceed.
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                Ok(row.map(|r| OAuthStateRow {
                    state_hash: r.get("state_hash"),
                    connector: r.get("connector"),
                    tenant_id: r.get("tenant_id"),
                    redirect_uri: r.get("redirect_uri"),
                    account_id: r.get("account_id"),
                    sealed_verifier: r.get("sealed_verifier"),
                    expires_at: r.get("expires_at"),
                    auth_method: r.get("auth_method"),
                    context: r
                        .get::<Option<String>, _>("context")
                        .and_then(|c| serde_json::from_str(&c).ok())
                        .unwrap_or_else(|| serde_json::json!({})),
                }))
            }
        }
    };
}
pub(crate) use oauth_queries;
