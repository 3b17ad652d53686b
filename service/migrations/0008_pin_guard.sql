-- wallet-backup-service schema, version 8: guess-limited PINs (issue 15).
-- A client's guess limit, copied into each new guard. A guard belongs to one
-- PASSWORD pair (pair_id, removed with it): the pair's OPRF key k and unlock
-- key U (k || U, 64 bytes) sealed like a custodian share (nonce || ct || tag,
-- base64url) under its own data key, wrapped by the KMS master key `key_id`;
-- all three NULL once the guard is destroyed (guesses exhausted). The count
-- is one row, moved by single conditional UPDATEs. challenge: the newest
-- evaluation's 32 bytes (base64url), NULL when none is open.

ALTER TABLE clients ADD COLUMN pin_guess_limit BIGINT NOT NULL DEFAULT 10
    CHECK (pin_guess_limit BETWEEN 1 AND 100);

CREATE TABLE pin_guards (
    pair_id TEXT PRIMARY KEY REFERENCES backup_share_pairs (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients (id),
    sealed_keys TEXT,
    key_id TEXT,
    wrapped_key TEXT,
    guess_limit BIGINT NOT NULL CHECK (guess_limit BETWEEN 1 AND 100),
    guesses_used BIGINT NOT NULL DEFAULT 0 CHECK (guesses_used >= 0),
    challenge TEXT,
    destroyed_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX pin_guards_key ON pin_guards (key_id);
