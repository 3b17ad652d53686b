-- wallet-backup-service schema, version 4: the passkey key enclave.
-- A client may have its own WebAuthn relying party (rp id, name, allowed
-- origins one per line); without one it uses the service's default.
-- Credentials are webauthn-rs `Passkey` records (public key, counter) as
-- JSON, keyed by their credential id (unpadded base64url), unique across
-- clients. Ceremonies (begin → finish) are single-use rows, deleted by the
-- finish call that consumes them. Each backup's 32-byte key is sealed like a
-- custodian share, bound to (client, backupId, credential id), and never
-- updated except by `kms rewrap`.

ALTER TABLE clients ADD COLUMN passkey_rp_id TEXT;
ALTER TABLE clients ADD COLUMN passkey_rp_name TEXT;
ALTER TABLE clients ADD COLUMN passkey_origins TEXT;

CREATE TABLE passkey_credentials (
    credential_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id),
    passkey TEXT NOT NULL,
    sign_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkey_credentials_client ON passkey_credentials (client_id, created_at);

CREATE TABLE passkey_ceremonies (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id),
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    allowed_credentials TEXT NOT NULL,
    backup_id TEXT,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX passkey_ceremonies_expiry ON passkey_ceremonies (expires_at);

CREATE TABLE passkey_encryption_keys (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id),
    backup_id TEXT NOT NULL,
    credential_id TEXT NOT NULL REFERENCES passkey_credentials (credential_id),
    key_sealed TEXT NOT NULL,
    key_id TEXT NOT NULL,
    wrapped_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (client_id, backup_id)
);
CREATE INDEX passkey_encryption_keys_key ON passkey_encryption_keys (key_id);
