//! API tokens: stored by hash, looked up to a principal.
//!
//! Written once for every backend: `api_tokens_queries!(Store, Database)` expands, inside a backend's module,
//! to that backend's methods; what the dialects spell differently comes from the backend's
//! `dialect` module.

macro_rules! api_tokens_queries {
    ($store:ident, $db:ty) => {
        use sqlx::Row;

        use super::$store;
        use crate::accounts::principal::Principal;
        use crate::store::error::StoreError;

        impl $store {
            /// Stores a token's hash.
            pub async fn insert_token(
                &self,
                id: &str,
                token_hash: &str,
                admin: bool,
                tenant_id: Option<&str>,
                created_at: i64,
            ) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO api_tokens (id, token_hash, admin, tenant_id, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(id)
                    .bind(token_hash)
                    .bind(admin)
                    .bind(tenant_id)
                    .bind(created_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            /// The principal of a token hash.
            pub async fn principal(&self, token_hash: &str) -> Result<Option<Principal>, StoreError> {
                let row = sqlx::query("SELECT id, admin, tenant_id FROM api_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| Principal {
                    token_id: r.get("id"),
                    admin: r.get("admin"),
                    tenant_id: r.get("tenant_id"),
                }))
            }
        }
    };
}
pub(crate) use api_tokens_queries;
