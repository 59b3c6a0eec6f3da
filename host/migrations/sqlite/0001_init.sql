-- Portable SQL (SQLite now, PostgreSQL later): TEXT/BIGINT/BOOLEAN/BLOB-as-bytes, epoch-ms times.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    admin BOOLEAN NOT NULL,
    tenant_id TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE integrated_accounts (
    id TEXT PRIMARY KEY,
    connector TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    status TEXT NOT NULL,
    -- AES-256-GCM: 12-byte nonce || ciphertext, the account id as associated data.
    credentials BLOB NOT NULL,
    context TEXT NOT NULL,
    base_url TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX integrated_accounts_tenant ON integrated_accounts (tenant_id);
CREATE INDEX integrated_accounts_connector ON integrated_accounts (connector);
