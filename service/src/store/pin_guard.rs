//! The `pin_guards` table: the guess counter of a guess-limited PIN backup
//! (issue 15; the protocol in service/README.md "Guess-limited PINs").
//!
//! A guard is one row per `PASSWORD` pair, inserted in the pair's own
//! transaction and removed with it (`ON DELETE CASCADE`). Its OPRF key and
//! unlock key are sealed under the KMS like a custodian share; destroying the
//! guard sets them NULL. Every change of the count is one conditional
//! `UPDATE` inside [`Store::write`], so parallel guesses, on one instance or
//! many, are counted one by one and never past the limit.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{b64, unb64, Store, StoreError};
use crate::kms::WrappedKey;
use crate::seal::{self, Sealed};
use crate::util::now_micros;

/// Bytes of the sealed secret: the OPRF key (32) then the unlock key (32).
pub const PIN_GUARD_KEYS_LEN: usize = 64;

/// Bytes of an evaluation's challenge.
pub const CHALLENGE_LEN: usize = 32;

/// The default guesses of a new client's guards.
pub const DEFAULT_PIN_GUESS_LIMIT: u32 = 10;

/// The guess limits a client may have.
pub const PIN_GUESS_LIMITS: std::ops::RangeInclusive<u32> = 1..=100;

/// A pair's guard as stored.
#[derive(Debug, Clone)]
pub struct PinGuard {
    /// The pair it guards.
    pub pair_id: String,
    /// The pair's client.
    pub client_id: String,
    /// The OPRF key and unlock key, sealed; `None` once destroyed.
    pub sealed_keys: Option<Sealed>,
    /// Evaluations allowed without a successful unlock.
    pub guess_limit: i64,
    /// Evaluations since the last successful unlock.
    pub guesses_used: i64,
    /// The newest evaluation's challenge (base64url), while it is open.
    pub challenge: Option<String>,
}

impl PinGuard {
    /// Whether the keys are gone (the guesses ran out).
    pub fn destroyed(&self) -> bool {
        self.sealed_keys.is_none()
    }

    /// Guesses left: the limit less those used, 0 once destroyed.
    pub fn guesses_left(&self) -> i64 {
        if self.destroyed() {
            0
        } else {
            (self.guess_limit - self.guesses_used).max(0)
        }
    }
}

/// The outcome of counting one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guess {
    /// Counted, with the challenge stored: the guesses used now and the limit.
    Counted {
        /// Guesses used, this one included.
        used: i64,
        /// The guard's limit.
        limit: i64,
    },
    /// No guess left: the guard is destroyed (by this write or before).
    Exhausted,
    /// The guard (with its pair) is gone.
    Gone,
}

const GUARD_COLUMNS: &str =
    "pair_id, client_id, sealed_keys, key_id, wrapped_key, guess_limit, guesses_used, challenge";

fn guard_from_row(row: &AnyRow) -> Result<PinGuard, StoreError> {
    let sealed: Option<String> = row.try_get("sealed_keys")?;
    let sealed_keys = match sealed {
        None => None,
        Some(sealed) => {
            let key_id: Option<String> = row.try_get("key_id")?;
            let wrapped: Option<String> = row.try_get("wrapped_key")?;
            let (Some(key_id), Some(wrapped)) = (key_id, wrapped) else {
                return Err(StoreError::Corrupt("pin guard with sealed keys but no wrapped data key".into()));
            };
            Some(Sealed {
                ciphertext: unb64(&sealed, "sealed pin guard keys")?,
                wrapped_key: WrappedKey { key_id, ciphertext: unb64(&wrapped, "wrapped data key")? },
            })
        }
    };
    Ok(PinGuard {
        pair_id: row.try_get("pair_id")?,
        client_id: row.try_get("client_id")?,
        sealed_keys,
        guess_limit: row.try_get("guess_limit")?,
        guesses_used: row.try_get("guesses_used")?,
        challenge: row.try_get("challenge")?,
    })
}

/// The associated data of a guard's sealed keys: purpose, client id, pair id.
pub fn pin_guard_aad(client_id: &str, pair_id: &str) -> Vec<u8> {
    seal::associated_data(seal::PURPOSE_PIN_GUARD, client_id, pair_id)
}

/// Inserts the guard of the new pair `pair_id` (in the pair's transaction),
/// its limit copied from the client's setting.
pub(super) async fn insert_guard(
    conn: &mut AnyConnection,
    client_id: &str,
    pair_id: &str,
    sealed: &Sealed,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "INSERT INTO pin_guards (pair_id, client_id, sealed_keys, key_id, wrapped_key, guess_limit, guesses_used, \
         challenge, destroyed_at, created_at) \
         SELECT $1, id, $3, $4, $5, pin_guess_limit, 0, NULL, NULL, $6 FROM clients WHERE id = $2",
    )
    .bind(pair_id.to_owned())
    .bind(client_id.to_owned())
    .bind(b64(&sealed.ciphertext))
    .bind(sealed.wrapped_key.key_id.clone())
    .bind(b64(&sealed.wrapped_key.ciphertext))
    .bind(now_micros())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Corrupt("pin guard for a pair whose client is gone".into()));
    }
    Ok(())
}

async fn guard_in(conn: &mut AnyConnection, client_id: &str, pair_id: &str) -> Result<Option<PinGuard>, StoreError> {
    let sql = format!("SELECT {GUARD_COLUMNS} FROM pin_guards WHERE pair_id = $1 AND client_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(pair_id.to_owned())
        .bind(client_id.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(guard_from_row).transpose()
}

/// Destroys the guard if its guesses are used up: keys and challenge gone.
/// Returns whether this statement destroyed it.
async fn destroy_if_exhausted(conn: &mut AnyConnection, client_id: &str, pair_id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE pin_guards SET sealed_keys = NULL, key_id = NULL, wrapped_key = NULL, challenge = NULL, \
         destroyed_at = $3 WHERE pair_id = $1 AND client_id = $2 AND sealed_keys IS NOT NULL \
         AND guesses_used >= guess_limit",
    )
    .bind(pair_id.to_owned())
    .bind(client_id.to_owned())
    .bind(now_micros())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

impl Store {
    /// The guard of the client's pair `pair_id`, if it has one.
    pub async fn pin_guard(&self, client_id: &str, pair_id: &str) -> Result<Option<PinGuard>, StoreError> {
        guard_in(&mut *self.pool.acquire().await?, client_id, pair_id).await
    }

    /// The guard of the client's newest completed `PASSWORD` pair, if that
    /// pair has one: one query, which reads no cipherText.
    pub async fn newest_password_guard(&self, client_id: &str) -> Result<Option<PinGuard>, StoreError> {
        let sql = format!(
            "SELECT {GUARD_COLUMNS} FROM pin_guards WHERE client_id = $1 AND pair_id = \
             (SELECT id FROM backup_share_pairs WHERE client_id = $1 AND backup_method = 'PASSWORD' \
              AND status = 'COMPLETED' ORDER BY completed_at DESC, created_at DESC, id DESC LIMIT 1)"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(client_id.to_owned()).fetch_optional(&self.pool).await?;
        row.as_ref().map(guard_from_row).transpose()
    }

    /// Destroys the guard if its guesses are used up. `Ok(true)`: this call destroyed it.
    pub async fn destroy_exhausted_pin_guard(&self, client_id: &str, pair_id: &str) -> Result<bool, StoreError> {
        self.write(async |conn| destroy_if_exhausted(conn, client_id, pair_id).await).await
    }

    /// Counts one evaluation and stores its `challenge` (base64url), in one
    /// conditional statement: only while the guard has its keys and a guess
    /// left. When none is left, the guard is destroyed in the same write.
    pub async fn count_pin_guess(&self, client_id: &str, pair_id: &str, challenge: &str) -> Result<Guess, StoreError> {
        self.write(async |conn| {
            let row = sqlx::query(
                "UPDATE pin_guards SET guesses_used = guesses_used + 1, challenge = $3 \
                 WHERE pair_id = $1 AND client_id = $2 AND sealed_keys IS NOT NULL AND guesses_used < guess_limit \
                 RETURNING guesses_used, guess_limit",
            )
            .bind(pair_id.to_owned())
            .bind(client_id.to_owned())
            .bind(challenge.to_owned())
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(row) = row {
                return Ok(Guess::Counted { used: row.try_get("guesses_used")?, limit: row.try_get("guess_limit")? });
            }
            destroy_if_exhausted(conn, client_id, pair_id).await?;
            Ok(match guard_in(conn, client_id, pair_id).await? {
                Some(_) => Guess::Exhausted,
                None => Guess::Gone,
            })
        })
        .await
    }

    /// A right proof for `challenge`: the count goes back to 0 and the
    /// challenge is used up, only if it is still the open one. `Ok(None)`:
    /// it is not (a parallel unlock or a newer evaluation took it);
    /// `Ok(Some(limit))`: done.
    pub async fn reset_pin_guard(
        &self,
        client_id: &str,
        pair_id: &str,
        challenge: &str,
    ) -> Result<Option<i64>, StoreError> {
        self.write(async |conn| {
            let limit: Option<i64> = sqlx::query_scalar(
                "UPDATE pin_guards SET guesses_used = 0, challenge = NULL \
                 WHERE pair_id = $1 AND client_id = $2 AND challenge = $3 AND sealed_keys IS NOT NULL \
                 RETURNING guess_limit",
            )
            .bind(pair_id.to_owned())
            .bind(client_id.to_owned())
            .bind(challenge.to_owned())
            .fetch_optional(&mut *conn)
            .await?;
            Ok(limit)
        })
        .await
    }

    /// A wrong proof for `challenge`: the challenge is used up (if it is
    /// still the open one) and, with no guess left, the guard is destroyed.
    /// Returns the guard as it is now (`None`: gone with its pair).
    pub async fn refuse_pin_proof(
        &self,
        client_id: &str,
        pair_id: &str,
        challenge: &str,
    ) -> Result<Option<PinGuard>, StoreError> {
        self.write(async |conn| {
            sqlx::query(
                "UPDATE pin_guards SET challenge = NULL WHERE pair_id = $1 AND client_id = $2 AND challenge = $3",
            )
            .bind(pair_id.to_owned())
            .bind(client_id.to_owned())
            .bind(challenge.to_owned())
            .execute(&mut *conn)
            .await?;
            destroy_if_exhausted(conn, client_id, pair_id).await?;
            guard_in(conn, client_id, pair_id).await
        })
        .await
    }

    /// Sets a client's guess limit for the guards made from now on.
    /// `Ok(false)`: no such client. The caller checks the range ([`PIN_GUESS_LIMITS`]).
    pub async fn set_pin_guess_limit(&self, client_id: &str, limit: u32) -> Result<bool, StoreError> {
        self.write(async |conn| {
            let done = sqlx::query("UPDATE clients SET pin_guess_limit = $1 WHERE id = $2")
                .bind(i64::from(limit))
                .bind(client_id.to_owned())
                .execute(&mut *conn)
                .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }
}
