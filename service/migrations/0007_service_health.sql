-- wallet-backup-service schema, version 6: the readiness probe's row.
-- GET /readyz writes its instance's row (a random value) through the
-- checked write path and reads it back; rows of instances gone for a day
-- are removed by that same write.

CREATE TABLE service_health (
    instance TEXT PRIMARY KEY,
    nonce BIGINT NOT NULL,
    checked_at BIGINT NOT NULL
);
