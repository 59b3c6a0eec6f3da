//! Sealed values as a whole: the key check, and re-sealing every sealed column under a new key
//! in one transaction (`patchbay secrets rotate`).
//!
//! Written once for every backend: `secrets_queries!(Store, Database)` expands, inside a
//! backend's module, to that backend's methods.

macro_rules! secrets_queries {
    ($store:ident, $db:ty) => {
        use sqlx::Row;

        use super::$store;
        use crate::store::error::StoreError;
        use crate::store::records::{Reseal, Sealed};

        impl $store {
            /// The sealed key check, if one was stored.
            pub async fn key_check(&self) -> Result<Option<Vec<u8>>, StoreError> {
                Ok(
                    sqlx::query_scalar("SELECT sealed FROM key_check WHERE id = 'key'")
                        .fetch_optional(&self.pool)
                        .await?,
                )
            }

            /// Stores the key check unless one exists (hosts starting together: the first wins).
            pub async fn init_key_check(&self, sealed: &[u8]) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO key_check (id, sealed) VALUES ('key', $1) ON CONFLICT (id) DO NOTHING",
                )
                .bind(sealed)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            /// Replaces every sealed value with `reseal(kind, row id, sealed)`, in one
            /// transaction: all of them or none. Returns how many were re-sealed.
            pub async fn reseal_all<E>(
                &self,
                reseal: &Reseal<'_, E>,
            ) -> Result<Result<usize, E>, StoreError> {
                let (mut tx, _gate) = self.write_tx().await?;
                let mut count = 0;
                for kind in Sealed::ALL {
                    let (table, id, column) = kind.location();
                    let rows = sqlx::query(&format!(
                        "SELECT {id} AS id, {column} AS sealed FROM {table}"
                    ))
                    .fetch_all(&mut *tx)
                    .await?;
                    for row in rows {
                        let row_id: String = row.get("id");
                        let sealed: Vec<u8> = row.get("sealed");
                        let fresh = match reseal(kind, &row_id, &sealed) {
                            Ok(fresh) => fresh,
                            // Nothing is committed: the transaction rolls back when dropped.
                            Err(e) => return Ok(Err(e)),
                        };
                        sqlx::query(&format!("UPDATE {table} SET {column} = $1 WHERE {id} = $2"))
                            .bind(fresh)
                            .bind(&row_id)
                            .execute(&mut *tx)
                            .await?;
                        count += 1;
                    }
                }
                tx.commit().await?;
                Ok(Ok(count))
            }
        }
    };
}
pub(crate) use secrets_queries;
