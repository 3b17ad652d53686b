-- wallet-backup-service schema, version 5: per-client limits and retention.
-- stored_bytes: the bytes a pair holds as stored (its sealed custodian share
-- and its cipherText), kept up to date by every write of the pair, so that a
-- client's total is a sum over its rows without reading the values.

ALTER TABLE backup_share_pairs ADD COLUMN stored_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE backup_share_pairs SET stored_bytes = LENGTH(custodian_share_sealed) + COALESCE(LENGTH(cipher_text), 0);

-- Pruning finds failed and abandoned pairs by status and age.
CREATE INDEX backup_share_pairs_age ON backup_share_pairs (status, updated_at);
-- A client's open ceremonies, oldest first, when a new one begins.
CREATE INDEX passkey_ceremonies_client ON passkey_ceremonies (client_id, created_at);
