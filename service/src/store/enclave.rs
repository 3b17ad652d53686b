//! What the two key enclaves' tables (`firebase_encryption_keys`,
//! `passkey_encryption_keys`) share: a row holding one backup's 32-byte key,
//! sealed under the KMS, inserted once and never overwritten.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{b64, unb64, unless_duplicate, Store, StoreError};
use crate::kms::WrappedKey;
use crate::seal::Sealed;
use crate::util::now_micros;

/// What storing a Firebase enclave key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutKeyOutcome {
    /// Stored now.
    Stored,
    /// The same key was stored before for this (client, uid, backupId): nothing changed.
    AlreadyStored,
    /// Another key is stored for this (client, uid, backupId); it was left as it was.
    Conflict,
}

/// The sealed key of an enclave key row (Firebase or passkey): its
/// `key_sealed`, `key_id` and `wrapped_key` columns.
pub(super) fn sealed_key_of_row(row: &AnyRow) -> Result<Sealed, StoreError> {
    let sealed_text: String = row.try_get("key_sealed")?;
    let wrapped_text: String = row.try_get("wrapped_key")?;
    Ok(Sealed {
        ciphertext: unb64(&sealed_text, "sealed encryption key")?,
        wrapped_key: WrappedKey {
            key_id: row.try_get("key_id")?,
            ciphertext: unb64(&wrapped_text, "wrapped data key")?,
        },
    })
}

/// Whether a key write that met a stored key wrote the same one (`stored`
/// equal to `key`, compared in constant time).
pub(super) fn put_key_outcome(stored: Option<&[u8]>, key: &[u8]) -> PutKeyOutcome {
    match stored {
        Some(stored) if bool::from(subtle::ConstantTimeEq::ct_eq(stored, key)) => PutKeyOutcome::AlreadyStored,
        _ => PutKeyOutcome::Conflict,
    }
}

impl Store {
    /// Inserts an enclave key row of `table` (Firebase or passkey keys):
    /// `id`, `client_id`, the table's two identifying columns `named`, the
    /// sealed key and the time. `Ok(false)`: a row with the same identity
    /// exists (the table's unique index), and nothing was written.
    /// [`StoreError::OverQuota`]: the client has as many enclave keys as it may.
    pub(super) async fn insert_sealed_key(
        &self,
        table: &'static str,
        id: String,
        client_id: &str,
        named: [(&'static str, &str); 2],
        sealed: &Sealed,
    ) -> Result<bool, StoreError> {
        let [(first, first_value), (second, second_value)] = named;
        let sql = format!(
            "INSERT INTO {table} (id, client_id, {first}, {second}, key_sealed, key_id, wrapped_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        // Safe: the table and column names are `'static` names from this crate, never input.
        self.write(async |conn| {
            self.check_new_enclave_key(conn, client_id).await?;
            let result = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(client_id.to_owned())
                .bind(first_value.to_owned())
                .bind(second_value.to_owned())
                .bind(b64(&sealed.ciphertext))
                .bind(sealed.wrapped_key.key_id.clone())
                .bind(b64(&sealed.wrapped_key.ciphertext))
                .bind(now_micros())
                .execute(&mut *conn)
                .await;
            Ok(unless_duplicate(result)?.is_some())
        })
        .await
    }
}
