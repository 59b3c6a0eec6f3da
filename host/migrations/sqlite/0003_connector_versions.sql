-- Connector versions: every manifest ever activated (from the directory or the admin API), and
-- which revision of each connector is live, so a restart serves what was last activated.
CREATE TABLE connector_versions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    revision BIGINT NOT NULL,
    version TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    manifest TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (name, revision)
);
CREATE INDEX connector_versions_hash ON connector_versions (name, content_hash);

CREATE TABLE connector_active (
    name TEXT PRIMARY KEY,
    revision BIGINT NOT NULL,
    activated_at BIGINT NOT NULL
);
