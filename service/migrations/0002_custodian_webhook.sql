-- wallet-backup-service schema, version 2: self-managed custodian storage.
-- A client's custodian storage is MANAGED (the service keeps each custodian
-- share, sealed) or WEBHOOK (the service POSTs each custodian share to the
-- operator's URL, signed with a shared secret, and keeps nothing of it).
-- The secret is sealed like a custodian share (nonce || ct || tag, base64url)
-- under its own data key, wrapped by the KMS master key `..._key_id`.

ALTER TABLE clients ADD COLUMN custodian_storage TEXT NOT NULL DEFAULT 'MANAGED'
    CHECK (custodian_storage IN ('MANAGED', 'WEBHOOK'));
ALTER TABLE clients ADD COLUMN custodian_webhook_url TEXT;
ALTER TABLE clients ADD COLUMN custodian_webhook_secret_sealed TEXT;
ALTER TABLE clients ADD COLUMN custodian_webhook_key_id TEXT;
ALTER TABLE clients ADD COLUMN custodian_webhook_wrapped_key TEXT;

-- Where a pair's custodian share went. WEBHOOK pairs hold no custodian share:
-- their custodian_share_sealed, custodian_key_id and custodian_wrapped_key are ''.
ALTER TABLE backup_share_pairs ADD COLUMN custodian_storage TEXT NOT NULL DEFAULT 'MANAGED'
    CHECK (custodian_storage IN ('MANAGED', 'WEBHOOK'));
