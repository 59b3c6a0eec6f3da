//! The queries every backend runs, written once: each module is a macro that a backend expands
//! inside its own module (`accounts_queries!(SqliteStore, sqlx::Sqlite)`), so the SQL, the binds
//! and the row mapping exist once and are type-checked against each backend's driver. What the
//! dialects spell differently (JSON arrays of rows, `FOR UPDATE SKIP LOCKED`, advisory locks) is
//! asked of the backend's `dialect` module; transactions come from the backend (`write_tx`,
//! `relaxed_write_tx`, `urgent_write_tx`, `urgent_turn`, `urgent_pool`).

pub(crate) mod accounts;
pub(crate) mod api_tokens;
pub(crate) mod changes;
pub(crate) mod connector_versions;
pub(crate) mod deliveries;
pub(crate) mod inbound;
pub(crate) mod monitoring;
pub(crate) mod oauth;
pub(crate) mod secrets;

/// A status detail as stored (JSON text).
pub(crate) fn detail_json(detail: &crate::accounts::detail::StatusDetail) -> String {
    serde_json::to_string(detail).expect("details serialize")
}
