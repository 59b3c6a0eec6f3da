-- The PostgreSQL schema: the same tables and columns as the SQLite migrations arrive at
-- (host/migrations/sqlite/0001..0008), in one step. Times are epoch milliseconds (BIGINT), JSON is
-- stored as text (the queries cast it where they look inside), sealed values are BYTEA.
-- A later change is a new migration in both directories.

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    admin BOOLEAN NOT NULL,
    tenant_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,              -- NULL: never
    scope TEXT                      -- `metrics`: GET /metrics only; NULL: what admin/tenant_id allow
);

CREATE TABLE integrated_accounts (
    id TEXT PRIMARY KEY,
    connector TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    status TEXT NOT NULL,
    -- AES-256-GCM: 12-byte nonce || ciphertext, the account id as associated data.
    credentials BYTEA NOT NULL,
    context TEXT NOT NULL,
    base_url TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    status_detail TEXT,
    token_obtained_at BIGINT,
    token_expires_at BIGINT,
    next_refresh_at BIGINT,
    refresh_failures BIGINT NOT NULL DEFAULT 0,
    refresh_failing_since BIGINT,
    -- Refresh lease: one host process at a time refreshes an account.
    lease_owner TEXT,
    lease_expires_at BIGINT,
    auth_method TEXT
);
CREATE INDEX integrated_accounts_tenant ON integrated_accounts (tenant_id);
CREATE INDEX integrated_accounts_connector ON integrated_accounts (connector);
CREATE INDEX integrated_accounts_refresh ON integrated_accounts (status, next_refresh_at);

CREATE TABLE account_events (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    event TEXT NOT NULL,
    reason TEXT,
    actor TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX account_events_account ON account_events (account_id, id);

CREATE TABLE oauth_apps (
    connector TEXT PRIMARY KEY,
    sealed BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE oauth_states (
    state_hash TEXT PRIMARY KEY,
    connector TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    account_id TEXT,
    sealed_verifier BYTEA NOT NULL,
    expires_at BIGINT NOT NULL,
    auth_method TEXT,
    context TEXT
);

CREATE TABLE token_drift (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    connector TEXT NOT NULL,
    drift_ms BIGINT NOT NULL,
    observed_at BIGINT NOT NULL
);

CREATE TABLE connector_components (
    hash TEXT PRIMARY KEY,
    bytes BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE connector_versions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    revision BIGINT NOT NULL,
    version TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    manifest TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    component_hash TEXT REFERENCES connector_components (hash),
    UNIQUE (name, revision)
);
CREATE INDEX connector_versions_hash ON connector_versions (name, content_hash);

CREATE TABLE connector_active (
    name TEXT PRIMARY KEY,
    revision BIGINT NOT NULL,
    activated_at BIGINT NOT NULL
);

CREATE TABLE inbound_webhooks (
    id TEXT PRIMARY KEY,
    connector TEXT NOT NULL,
    account_id TEXT,
    tenant_id TEXT,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BYTEA NOT NULL,
    received_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    lease_until BIGINT,
    processed_at BIGINT,
    error TEXT,
    vendor_event_ids TEXT,
    event_types TEXT
);
CREATE INDEX inbound_webhooks_queue ON inbound_webhooks (status, id);
CREATE INDEX inbound_webhooks_connector ON inbound_webhooks (connector, id);
CREATE INDEX inbound_webhooks_account ON inbound_webhooks (account_id, id);

CREATE TABLE inbound_event_ids (
    connector TEXT NOT NULL,
    event_id TEXT NOT NULL,
    inbound_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (connector, event_id)
);

CREATE TABLE webhook_secrets (
    connector TEXT PRIMARY KEY,
    sealed BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    account_id TEXT,
    tenant_id TEXT,
    endpoint_id TEXT,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    fanned_out_at BIGINT
);
CREATE INDEX outbox_pending ON outbox (fanned_out_at, id);
CREATE INDEX outbox_created ON outbox (created_at);

CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    tenant_id TEXT,
    url TEXT NOT NULL,
    events TEXT,
    description TEXT,
    sealed_secret BYTEA NOT NULL,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    failing_since BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, status, next_attempt_at);

CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    status_code BIGINT,
    duration_ms BIGINT NOT NULL,
    response_excerpt TEXT,
    error TEXT,
    at BIGINT NOT NULL,
    next_attempt_at BIGINT
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);

CREATE TABLE schema_baselines (
    connector TEXT NOT NULL,
    resource TEXT NOT NULL,
    shape TEXT NOT NULL,
    samples BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (connector, resource)
);

-- Changes other hosts must apply at once (connector revisions activated, accounts deleted or
-- given new credentials, API tokens revoked): a revision number each host polls, and a NOTIFY
-- on channel `patchbay_changes` so they usually hear of it sooner.
CREATE TABLE change_log (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    at BIGINT NOT NULL
);

-- A known value sealed under the master key: a host started with another key (an old one after
-- `patchbay secrets rotate`, a typo) is refused before it writes anything.
CREATE TABLE key_check (
    id TEXT PRIMARY KEY CHECK (id = 'key'),
    sealed BYTEA NOT NULL
);
