-- wallet-backup-service schema, version 3: the Firebase Auth key enclave.
-- A client may name its Firebase project; its users' ID tokens must carry
-- that project as `aud`. Each backup's 32-byte encryption key is stored per
-- (client, Firebase uid, backupId), sealed like a custodian share
-- (nonce || ct || tag, base64url) under its own data key, wrapped by the KMS
-- master key `key_id`. Rows are never updated except by `kms rewrap`.

ALTER TABLE clients ADD COLUMN firebase_project_id TEXT;

CREATE TABLE firebase_encryption_keys (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id),
    firebase_uid TEXT NOT NULL,
    backup_id TEXT NOT NULL,
    key_sealed TEXT NOT NULL,
    key_id TEXT NOT NULL,
    wrapped_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (client_id, firebase_uid, backup_id)
);
CREATE INDEX firebase_encryption_keys_key ON firebase_encryption_keys (key_id);
