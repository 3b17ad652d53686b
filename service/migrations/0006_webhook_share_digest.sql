-- wallet-backup-service schema, version 6: the digest of a WEBHOOK pair's
-- custodian share (hex SHA-256 with a purpose label, webhook.rs
-- `share_digest`), so that recovery hands over only the bytes that were
-- delivered to the operator. NULL for MANAGED pairs and for WEBHOOK pairs
-- made before this version (their share is picked by its ids alone).

ALTER TABLE backup_share_pairs ADD COLUMN custodian_share_digest TEXT;
