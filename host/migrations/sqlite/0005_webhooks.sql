-- Webhooks in and out: raw inbound requests (stored before they are acknowledged), the vendor
-- event ids already processed, per-connector webhook secrets, outbound endpoints, deliveries and
-- every delivery attempt. The outbox is rebuilt so events without an account (endpoint events)
-- and events addressed to one endpoint (tests) fit.

CREATE TABLE inbound_webhooks (
    id TEXT PRIMARY KEY,            -- UUIDv7: time-ordered
    connector TEXT NOT NULL,
    account_id TEXT,                -- per-account URL; app-level URLs resolve it when processing
    tenant_id TEXT,                 -- the account's tenant, once known
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,          -- JSON [[name, value], ...]
    body BLOB NOT NULL,
    received_at BIGINT NOT NULL,
    status TEXT NOT NULL,           -- pending | processed | duplicate | unmatched | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until BIGINT,             -- a worker holds it until then
    processed_at BIGINT,
    error TEXT,
    vendor_event_ids TEXT,          -- JSON array
    event_types TEXT                -- JSON array of the unified event types produced
);
CREATE INDEX inbound_webhooks_pending ON inbound_webhooks (status, lease_until);
CREATE INDEX inbound_webhooks_connector ON inbound_webhooks (connector, id);
CREATE INDEX inbound_webhooks_account ON inbound_webhooks (account_id, id);

-- Exactly-once on top of at-least-once: a vendor event id is processed once per connector.
CREATE TABLE inbound_event_ids (
    connector TEXT NOT NULL,
    event_id TEXT NOT NULL,
    inbound_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (connector, event_id)
);

-- App-level webhook secret per connector (sealed like credentials).
CREATE TABLE webhook_secrets (
    connector TEXT PRIMARY KEY,
    sealed BLOB NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE outbox_v2 (
    id TEXT PRIMARY KEY,            -- UUIDv7; the webhook-id of every delivery of the event
    event TEXT NOT NULL,
    account_id TEXT,
    tenant_id TEXT,
    endpoint_id TEXT,               -- only to this endpoint (test events); NULL: every match
    payload TEXT NOT NULL,          -- the event's `data`
    created_at BIGINT NOT NULL,
    fanned_out_at BIGINT            -- deliveries were created for the matching endpoints
);
INSERT INTO outbox_v2 (id, event, account_id, tenant_id, payload, created_at, fanned_out_at)
    SELECT id, event, account_id, tenant_id, payload, created_at, delivered_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v2 RENAME TO outbox;
CREATE INDEX outbox_pending ON outbox (fanned_out_at, id);
CREATE INDEX outbox_created ON outbox (created_at);

CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    tenant_id TEXT,                 -- NULL: an admin endpoint receiving every tenant's events
    url TEXT NOT NULL,
    events TEXT,                    -- JSON array of filters; NULL: every event
    description TEXT,
    sealed_secret BLOB NOT NULL,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    failing_since BIGINT,           -- first failed attempt since the last success
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    status TEXT NOT NULL,           -- pending | succeeded | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
-- Due deliveries of one endpoint, in order: what a claim reads.
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, status, next_attempt_at);

CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY,            -- UUIDv7
    delivery_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER,            -- NULL: no HTTP answer (refused, timeout, blocked address)
    duration_ms BIGINT NOT NULL,
    response_excerpt TEXT,
    error TEXT,
    at BIGINT NOT NULL,
    next_attempt_at BIGINT          -- NULL: no further attempt
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
