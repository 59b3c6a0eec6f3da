//! The change log: what one host changed that every other host on the database must apply
//! (connector revisions, accounts), written in the transaction of the change, read in id order.
//!
//! Written once for every backend: `changes_queries!(Store, Database)` expands, inside a
//! backend's module, to that backend's methods; the notification is the backend's `dialect`'s.

macro_rules! changes_queries {
    ($store:ident, $db:ty) => {
        use sqlx::{Row, Transaction};

        use super::$store;
        use crate::clock::now_ms;
        use crate::store::error::StoreError;
        use crate::store::records::Change;

        impl $store {
            /// The newest change's id (0: none yet).
            pub async fn last_change(&self) -> Result<i64, StoreError> {
                let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM change_log")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(id.unwrap_or(0))
            }

            /// Changes after `after`, oldest first.
            pub async fn changes_since(&self, after: i64, limit: i64) -> Result<Vec<Change>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, kind, subject FROM change_log WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .iter()
                    .map(|r| Change {
                        id: r.get("id"),
                        kind: r.get("kind"),
                        subject: r.get("subject"),
                    })
                    .collect())
            }

            /// Forgets changes older than `before` (epoch ms): every host has read them.
            pub async fn prune_changes(&self, before: i64) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM change_log WHERE at < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }

        /// Records a change inside its transaction (other hosts see it once committed).
        pub(super) async fn note_change(
            tx: &mut Transaction<'_, $db>,
            kind: &str,
            subject: &str,
        ) -> Result<(), StoreError> {
            // Readers take every id after the last one they saw: ids must commit in order.
            super::dialect::order_changes(tx).await?;
            sqlx::query("INSERT INTO change_log (kind, subject, at) VALUES ($1, $2, $3)")
                .bind(kind)
                .bind(subject)
                .bind(now_ms())
                .execute(&mut **tx)
                .await?;
            super::dialect::notify_changes(tx).await
        }
    };
}
pub(crate) use changes_queries;
