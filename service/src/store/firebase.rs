//! The Firebase enclave's table: each backup's key, per client, Firebase
//! user (uid) and backup id.

use sqlx::Row;
use zeroize::Zeroizing;

use super::enclave::{put_key_outcome, sealed_key_of_row, PutKeyOutcome};
use super::{Store, StoreError};
use crate::kms::Kms;
use crate::seal;
use crate::util::random_id;

/// The associated data of a Firebase enclave key: binds it to its client,
/// row, backup id and Firebase uid, so a row edited to name another user or
/// backup does not open.
pub(super) fn firebase_key_aad(client_id: &str, row_id: &str, backup_id: &str, uid: &str) -> Vec<u8> {
    let record = format!("{row_id}.{backup_id}.{}", hex::encode(uid.as_bytes()));
    seal::associated_data(seal::PURPOSE_FIREBASE_KEY, client_id, &record)
}

impl Store {
    /// Stores `key`, sealed, for (client, Firebase uid, backup id); never
    /// overwrites a stored key.
    pub async fn put_firebase_key(
        &self,
        kms: &dyn Kms,
        client_id: &str,
        uid: &str,
        backup_id: &str,
        key: &[u8],
    ) -> Result<PutKeyOutcome, StoreError> {
        let id = random_id().map_err(|_| StoreError::Random)?;
        let aad = firebase_key_aad(client_id, &id, backup_id, uid);
        let sealed = seal::seal(kms, key, &aad).await?;
        let named = [("firebase_uid", uid), ("backup_id", backup_id)];
        if self.insert_sealed_key("firebase_encryption_keys", id, client_id, named, &sealed).await? {
            return Ok(PutKeyOutcome::Stored);
        }
        let stored = self.firebase_key(kms, client_id, uid, backup_id).await?;
        Ok(put_key_outcome(stored.as_deref().map(Vec::as_slice), key))
    }

    /// The key stored for (client, Firebase uid, backup id), opened.
    pub async fn firebase_key(
        &self,
        kms: &dyn Kms,
        client_id: &str,
        uid: &str,
        backup_id: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let row = sqlx::query(
            "SELECT id, key_sealed, key_id, wrapped_key FROM firebase_encryption_keys \
             WHERE client_id = $1 AND firebase_uid = $2 AND backup_id = $3",
        )
        .bind(client_id.to_owned())
        .bind(uid.to_owned())
        .bind(backup_id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("id")?;
        let sealed = sealed_key_of_row(&row)?;
        let aad = firebase_key_aad(client_id, &id, backup_id, uid);
        let key = seal::open(kms, &sealed, &aad).await?;
        Ok(Some(key))
    }
}
