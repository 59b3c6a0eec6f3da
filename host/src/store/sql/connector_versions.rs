//! Connector revisions: every manifest (and component) ever activated, and the active revision of
//! each connector.
//!
//! Written once for every backend: `connector_versions_queries!(Store, Database)` expands, inside a
//! backend's module, to that backend's methods; what the dialects spell differently comes from
//! the backend's `dialect` module.

macro_rules! connector_versions_queries {
    ($store:ident, $db:ty) => {
        use sha2::Digest;
        use sqlx::{Row, Transaction};

        use super::$store;
        use crate::clock::now_ms;
        use crate::store::error::StoreError;
        use crate::store::records::{ConnectorVersion, NewVersion};

        impl $store {
            /// Stores a new revision (unless the same content is already stored) and makes the revision
            /// with this content active. Returns it.
            pub async fn store_connector_version(
                &self,
                new: NewVersion<'_>,
                activate_existing: bool,
            ) -> Result<(ConnectorVersion, bool), StoreError> {
                let NewVersion {
                    name,
                    version,
                    content_hash,
                    manifest,
                    component,
                    source,
                } = new;
                let (mut tx, _gate) = self.write_tx().await?;
                // Revision numbers are read and incremented: one writer per connector at a time.
                super::dialect::lock_connector(&mut tx, name).await?;
                let existing = sqlx::query(
                    "SELECT * FROM connector_versions WHERE name = $1 AND content_hash = $2 ORDER BY revision DESC",
                )
                .bind(name)
                .bind(content_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let (row, created) = match existing {
                    Some(r) => (version_from_row(&r), false),
                    None => {
                        let next: i64 = sqlx::query(
                            "SELECT COALESCE(MAX(revision), 0) + 1 AS next FROM connector_versions WHERE name = $1",
                        )
                        .bind(name)
                        .fetch_one(&mut *tx)
                        .await?
                        .get("next");
                        let component_hash = component.map(|bytes| hex::encode(sha2::Sha256::digest(bytes)));
                        if let (Some(hash), Some(bytes)) = (&component_hash, component) {
                            sqlx::query(
                                "INSERT INTO connector_components (hash, bytes, created_at) VALUES ($1, $2, $3) \
                                 ON CONFLICT (hash) DO NOTHING",
                            )
                            .bind(hash)
                            .bind(bytes)
                            .bind(now_ms())
                            .execute(&mut *tx)
                            .await?;
                        }
                        let v = ConnectorVersion {
                            name: name.to_owned(),
                            revision: next,
                            version: version.to_owned(),
                            content_hash: content_hash.to_owned(),
                            source: source.to_owned(),
                            created_at: now_ms(),
                            component_hash,
                            manifest: manifest.to_owned(),
                            component: component.map(<[u8]>::to_vec),
                        };
                        sqlx::query(
                            "INSERT INTO connector_versions (id, name, revision, version, content_hash, manifest, source, created_at, component_hash) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        )
                        .bind(uuid::Uuid::now_v7().to_string())
                        .bind(&v.name)
                        .bind(v.revision)
                        .bind(&v.version)
                        .bind(&v.content_hash)
                        .bind(&v.manifest)
                        .bind(&v.source)
                        .bind(v.created_at)
                        .bind(&v.component_hash)
                        .execute(&mut *tx)
                        .await?;
                        (v, true)
                    }
                };
                let has_active = sqlx::query("SELECT 1 FROM connector_active WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
                if created || activate_existing || has_active.is_none() {
                    activate(&mut tx, name, row.revision).await?;
                }
                tx.commit().await?;
                Ok((row, created))
            }

            /// Makes a stored revision active.
            pub async fn activate_connector(
                &self,
                name: &str,
                revision: i64,
            ) -> Result<Option<ConnectorVersion>, StoreError> {
                let (mut tx, _gate) = self.write_tx().await?;
                let row = sqlx::query("SELECT * FROM connector_versions WHERE name = $1 AND revision = $2")
                    .bind(name)
                    .bind(revision)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                activate(&mut tx, name, revision).await?;
                tx.commit().await?;
                Ok(Some(version_from_row(&row)))
            }

            /// The active revision of every connector.
            pub async fn active_connectors(&self) -> Result<Vec<ConnectorVersion>, StoreError> {
                let rows = sqlx::query(
                    "SELECT v.*, c.bytes AS component_bytes FROM connector_versions v \
                     JOIN connector_active a ON a.name = v.name AND a.revision = v.revision \
                     LEFT JOIN connector_components c ON c.hash = v.component_hash ORDER BY v.name",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.iter().map(version_from_row).collect())
            }

            /// Every revision of a connector, newest first, and the active revision.
            pub async fn connector_versions(
                &self,
                name: &str,
            ) -> Result<(Vec<ConnectorVersion>, Option<i64>), StoreError> {
                let rows = sqlx::query("SELECT * FROM connector_versions WHERE name = $1 ORDER BY revision DESC")
                    .bind(name)
                    .fetch_all(&self.pool)
                    .await?;
                let active = sqlx::query("SELECT revision FROM connector_active WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|r| r.get("revision"));
                Ok((rows.iter().map(version_from_row).collect(), active))
            }
        }

        async fn activate(
            tx: &mut Transaction<'static, $db>,
            name: &str,
            revision: i64,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO connector_active (name, revision, activated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET revision = excluded.revision, activated_at = excluded.activated_at",
            )
            .bind(name)
            .bind(revision)
            .bind(now_ms())
            .execute(&mut **tx)
            .await?;
            super::changes::note_change(tx, crate::store::records::Change::CONNECTOR, name).await
        }

        fn version_from_row(r: &<$db as sqlx::Database>::Row) -> ConnectorVersion {
            ConnectorVersion {
                name: r.get("name"),
                revision: r.get("revision"),
                version: r.get("version"),
                content_hash: r.get("content_hash"),
                source: r.get("source"),
                created_at: r.get("created_at"),
                component_hash: r.get("component_hash"),
                manifest: r.get("manifest"),
                component: r.try_get("component_bytes").ok().flatten(),
            }
        }
    };
}
pub(crate) use connector_versions_queries;
