//! The readiness probe's database check (`GET /readyz`): one real write
//! through [`Store::write`], read back.

use super::{Store, StoreError};
use crate::util::now_micros;

/// Rows of instances not seen for this long are removed (microseconds: a day).
const FORGET_AFTER_MICROS: i64 = 24 * 3600 * 1_000_000;

impl Store {
    /// Writes a random value into `instance`'s row of `service_health` (one
    /// committed transaction, like every write), then reads it back on
    /// another statement. An error, or another value read back, means the
    /// database cannot serve. Each instance has its own row, so instances
    /// sharing a database do not race on one.
    pub async fn check_ready(&self, instance: &str) -> Result<(), StoreError> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|_| StoreError::Random)?;
        let nonce = i64::from_le_bytes(bytes);
        let now = now_micros();
        self.write(async |conn| {
            sqlx::query(
                "INSERT INTO service_health (instance, nonce, checked_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (instance) DO UPDATE SET nonce = excluded.nonce, checked_at = excluded.checked_at",
            )
            .bind(instance)
            .bind(nonce)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM service_health WHERE checked_at < $1")
                .bind(now.saturating_sub(FORGET_AFTER_MICROS))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
        .await?;
        let read: Option<i64> = sqlx::query_scalar("SELECT nonce FROM service_health WHERE instance = $1")
            .bind(instance)
            .fetch_optional(&self.pool)
            .await?;
        if read != Some(nonce) {
            return Err(StoreError::Corrupt("the readiness row read back is not the one written".into()));
        }
        Ok(())
    }
}
