-- Account lifecycle: status details, OAuth token timing and refresh coordination, the audit log,
-- the lifecycle-event outbox, OAuth apps and pending authorizations, token expiry drift.

-- JSON {"step", "message", "at"} of the last failure (null when healthy).
ALTER TABLE integrated_accounts ADD COLUMN status_detail TEXT;
-- OAuth tokens: when the access token was obtained and expires (epoch ms; null: no expiry known).
ALTER TABLE integrated_accounts ADD COLUMN token_obtained_at BIGINT;
ALTER TABLE integrated_accounts ADD COLUMN token_expires_at BIGINT;
-- When the background scheduler should refresh (epoch ms).
ALTER TABLE integrated_accounts ADD COLUMN next_refresh_at BIGINT;
-- Transient refresh failures: how many in a row, since when.
ALTER TABLE integrated_accounts ADD COLUMN refresh_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE integrated_accounts ADD COLUMN refresh_failing_since BIGINT;
-- Refresh lease: one host process at a time refreshes an account.
ALTER TABLE integrated_accounts ADD COLUMN lease_owner TEXT;
ALTER TABLE integrated_accounts ADD COLUMN lease_expires_at BIGINT;

CREATE INDEX integrated_accounts_refresh ON integrated_accounts (status, next_refresh_at);

-- Append-only audit log of status transitions.
CREATE TABLE account_events (
    id TEXT PRIMARY KEY,            -- UUIDv7: time-ordered
    account_id TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    event TEXT NOT NULL,
    reason TEXT,
    actor TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX account_events_account ON account_events (account_id, id);

-- Lifecycle events awaiting delivery (written in the same transaction as the change).
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,            -- UUIDv7
    event TEXT NOT NULL,
    account_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX outbox_pending ON outbox (delivered_at, id);

-- OAuth app settings per connector (client secret inside, sealed).
CREATE TABLE oauth_apps (
    connector TEXT PRIMARY KEY,
    sealed BLOB NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Pending authorization-code flows: single use, expiring.
CREATE TABLE oauth_states (
    state_hash TEXT PRIMARY KEY,
    connector TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    account_id TEXT,
    sealed_verifier BLOB NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Access tokens rejected while the database still believed them valid.
CREATE TABLE token_drift (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    connector TEXT NOT NULL,
    drift_ms BIGINT NOT NULL,       -- expires_at - now at the rejection
    observed_at BIGINT NOT NULL
);
