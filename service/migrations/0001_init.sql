-- wallet-backup-service schema, version 1.
-- Portable SQL: the same file runs on SQLite and PostgreSQL (TEXT, BIGINT,
-- no auto-increment, no dialect types). Timestamps are microseconds since
-- the Unix epoch; booleans are 0/1; binary values are base64url text.

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    managed_backups BIGINT NOT NULL CHECK (managed_backups IN (0, 1)),
    created_at BIGINT NOT NULL
);

-- Only the SHA-256 of each API key (hex) is stored.
CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX api_keys_client ON api_keys (client_id);

CREATE TABLE backup_share_pairs (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id),
    backup_method TEXT NOT NULL
        CHECK (backup_method IN ('PASSWORD', 'PASSKEY', 'GDRIVE', 'ICLOUD', 'FIREBASE', 'CUSTOM')),
    backup_id TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('PENDING', 'STORED_CLIENT_BACKUP_SHARE', 'COMPLETED', 'FAILED')),
    -- The custodian share, sealed under its own data key (nonce || ct || tag, base64url) ...
    custodian_share_sealed TEXT NOT NULL,
    -- ... and that data key, wrapped by the KMS master key `custodian_key_id`.
    custodian_key_id TEXT NOT NULL,
    custodian_wrapped_key TEXT NOT NULL,
    -- The client backup share's envelope (`wbk1.`...), managed backups only.
    cipher_text TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    completed_at BIGINT,
    UNIQUE (client_id, backup_id)
);
CREATE INDEX backup_share_pairs_lookup ON backup_share_pairs (client_id, backup_method, status, completed_at);
CREATE INDEX backup_share_pairs_key ON backup_share_pairs (custodian_key_id);
