-- Wasm components of connector revisions, stored once per content hash.
CREATE TABLE connector_components (
    hash TEXT PRIMARY KEY,
    bytes BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

ALTER TABLE connector_versions ADD COLUMN component_hash TEXT REFERENCES connector_components (hash);
