-- Several hosts on one database. The change log: what other hosts on the same database must
-- apply at once (a connector revision activated, an account changed or deleted); each host polls
-- the newest id (PostgreSQL also notifies).
CREATE TABLE change_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    at BIGINT NOT NULL
);

-- A known value sealed under the master key: a host started with another key (an old one after
-- `patchbay secrets rotate`, a typo) is refused before it writes anything.
-- API tokens may expire (NULL: never), and may be limited to a scope (`metrics`: GET /metrics
-- only; NULL: what `admin` and `tenant_id` allow).
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN scope TEXT;

CREATE TABLE key_check (
    id TEXT PRIMARY KEY CHECK (id = 'key'),
    sealed BLOB NOT NULL
);
