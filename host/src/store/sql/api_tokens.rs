//! API tokens: stored by hash, looked up to a principal, listed and revoked.
//!
//! Written once for every backend: `api_tokens_queries!(Store, Database)` expands, inside a
//! backend's module, to that backend's methods.

macro_rules! api_tokens_queries {
    ($store:ident, $db:ty) => {
        use sqlx::Row;

        use super::$store;
        use crate::accounts::principal::Principal;
        use crate::store::error::StoreError;
        use crate::store::records::{Change, TokenRecord};

        impl $store {
            /// Stores a token's hash.
            pub async fn insert_token(&self, t: &TokenRecord, token_hash: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO api_tokens (id, token_hash, admin, tenant_id, created_at, expires_at, scope) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&t.id)
                .bind(token_hash)
                .bind(t.admin)
                .bind(&t.tenant_id)
                .bind(t.created_at)
                .bind(t.expires_at)
                .bind(&t.scope)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            /// The principal of a token hash (expired ones too: the facade refuses them).
            pub async fn principal(&self, token_hash: &str) -> Result<Option<Principal>, StoreError> {
                let row = sqlx::query("SELECT id, admin, tenant_id, expires_at, scope FROM api_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| Principal {
                    token_id: r.get("id"),
                    admin: r.get("admin"),
                    tenant_id: r.get("tenant_id"),
                    expires_at: r.get("expires_at"),
                    scope: r.get("scope"),
                }))
            }

            /// Every token, oldest first (never the secret: only its hash is stored).
            pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, admin, tenant_id, created_at, expires_at, scope FROM api_tokens ORDER BY created_at, id",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .iter()
                    .map(|r| TokenRecord {
                        id: r.get("id"),
                        admin: r.get("admin"),
                        tenant_id: r.get("tenant_id"),
                        created_at: r.get("created_at"),
                        expires_at: r.get("expires_at"),
                        scope: r.get("scope"),
                    })
                    .collect())
            }

            /// Deletes a token and logs the change (every host drops it from its cache); its
            /// hash, or `None` when there was no such token.
            pub async fn revoke_token(&self, id: &str) -> Result<Option<String>, StoreError> {
                let (mut tx, _gate) = self.write_tx().await?;
                let hash: Option<String> = sqlx::query_scalar("DELETE FROM api_tokens WHERE id = $1 RETURNING token_hash")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(h) = &hash {
                    super::changes::note_change(&mut tx, Change::TOKEN, h).await?;
                }
                tx.commit().await?;
                Ok(hash)
            }
        }
    };
}
pub(crate) use api_tokens_queries;
