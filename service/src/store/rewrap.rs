//! `kms rewrap` and `kms migrate`: every stored data key (custodian shares,
//! webhook secrets, Firebase and passkey enclave keys, the keys of
//! guess-limited PINs) moved under the KMS's
//! current master key (for `migrate`, another backend's key), record by
//! record, and how many records each master key wraps.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::firebase::firebase_key_aad;
use super::passkey::passkey_key_aad;
use super::pin_guard::pin_guard_aad;
use super::{b64, unb64, Store, StoreError};
use crate::kms::{Kms, WrappedKey};
use crate::seal;

/// What `rewrap_all` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RewrapReport {
    /// The master key every record was moved to.
    pub key_id: String,
    /// Records re-wrapped.
    pub rewrapped: u64,
    /// Ids of records that could not be unwrapped (left as they were).
    pub failed: Vec<String>,
}

/// Where a sealed record keeps its wrapped data key (names are constants of this file).
struct WrappedColumns {
    table: &'static str,
    id: &'static str,
    key_id: &'static str,
    wrapped: &'static str,
}

impl Store {
    /// How many pairs each KMS master key wraps.
    pub async fn key_id_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT custodian_key_id, CAST(COUNT(*) AS BIGINT) AS n FROM backup_share_pairs \
             WHERE custodian_storage = 'MANAGED' GROUP BY custodian_key_id ORDER BY custodian_key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("custodian_key_id")?, r.try_get("n")?))).collect()
    }

    /// How many clients' webhook secrets each KMS master key wraps.
    pub async fn webhook_key_id_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT custodian_webhook_key_id AS key_id, CAST(COUNT(*) AS BIGINT) AS n FROM clients \
             WHERE custodian_webhook_key_id IS NOT NULL GROUP BY custodian_webhook_key_id ORDER BY custodian_webhook_key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("key_id")?, r.try_get("n")?))).collect()
    }

    /// How many Firebase enclave keys each KMS master key wraps.
    pub async fn firebase_key_id_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id, CAST(COUNT(*) AS BIGINT) AS n FROM firebase_encryption_keys GROUP BY key_id ORDER BY key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("key_id")?, r.try_get("n")?))).collect()
    }

    /// How many passkey enclave keys each KMS master key wraps.
    pub async fn passkey_key_id_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id, CAST(COUNT(*) AS BIGINT) AS n FROM passkey_encryption_keys GROUP BY key_id ORDER BY key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("key_id")?, r.try_get("n")?))).collect()
    }

    /// How many guess-limited PINs' keys each KMS master key wraps (destroyed guards hold none).
    pub async fn pin_guard_key_id_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_id, CAST(COUNT(*) AS BIGINT) AS n FROM pin_guards WHERE key_id IS NOT NULL \
             GROUP BY key_id ORDER BY key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("key_id")?, r.try_get("n")?))).collect()
    }

    /// Re-wraps every stored data key that is not under the KMS's current
    /// master key. Each record is updated on its own, only if it did not
    /// change meanwhile; records that do not unwrap are reported, not touched.
    pub async fn rewrap_all(&self, kms: &dyn Kms) -> Result<RewrapReport, StoreError> {
        let current = kms.current_key_id().map_err(|e| StoreError::Seal(e.into()))?;
        let mut report = RewrapReport { key_id: current.clone(), ..RewrapReport::default() };
        let mut after = String::new();
        loop {
            let rows = sqlx::query(
                "SELECT id, client_id, custodian_key_id, custodian_wrapped_key FROM backup_share_pairs \
                 WHERE custodian_storage = 'MANAGED' AND custodian_key_id <> $1 AND id > $2 \
                 ORDER BY id LIMIT 200",
            )
            .bind(current.clone())
            .bind(after.clone())
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                self.rewrap_webhook_secrets(kms, &current, &mut report).await?;
                for keys in [&FIREBASE_KEYS, &PASSKEY_KEYS, &PIN_GUARD_KEYS] {
                    self.rewrap_key_table(kms, &current, keys, &mut report).await?;
                }
                return Ok(report);
            }
            for row in &rows {
                let id: String = row.try_get("id")?;
                let client_id: String = row.try_get("client_id")?;
                let key_id: String = row.try_get("custodian_key_id")?;
                let wrapped_text: String = row.try_get("custodian_wrapped_key")?;
                after.clone_from(&id);
                let aad = seal::associated_data(seal::PURPOSE_CUSTODIAN_SHARE, &client_id, &id);
                let target = WrappedColumns {
                    table: "backup_share_pairs",
                    id: "id",
                    key_id: "custodian_key_id",
                    wrapped: "custodian_wrapped_key",
                };
                let failed = id.clone();
                self.rewrap_one(kms, target, &id, key_id, wrapped_text, &aad, failed, &mut report).await?;
            }
        }
    }

    /// Re-wraps the data key of the record `id` of `target` (bound to `aad`)
    /// under the current master key, updating the row only if it did not
    /// change meanwhile. A key that does not unwrap is reported as `failed`
    /// and left as it is.
    #[allow(clippy::too_many_arguments)]
    async fn rewrap_one(
        &self,
        kms: &dyn Kms,
        target: WrappedColumns,
        id: &str,
        key_id: String,
        wrapped_text: String,
        aad: &[u8],
        failed: String,
        report: &mut RewrapReport,
    ) -> Result<(), StoreError> {
        let old = WrappedKey { key_id: key_id.clone(), ciphertext: unb64(&wrapped_text, "wrapped data key")? };
        let new = match seal::rewrap(kms, &old, aad).await {
            Ok(new) => new,
            Err(e) => {
                tracing::warn!(table = target.table, record = %id, error = %e, "cannot re-wrap data key");
                report.failed.push(failed);
                return Ok(());
            }
        };
        let WrappedColumns { table, id: id_column, key_id: key_column, wrapped } = target;
        let sql = format!(
            "UPDATE {table} SET {key_column} = $1, {wrapped} = $2 \
             WHERE {id_column} = $3 AND {key_column} = $4 AND {wrapped} = $5"
        );
        let done = self
            .write(async |conn| {
                Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(new.key_id.clone())
                    .bind(b64(&new.ciphertext))
                    .bind(id.to_owned())
                    .bind(key_id)
                    .bind(wrapped_text)
                    .execute(&mut *conn)
                    .await?)
            })
            .await?;
        report.rewrapped += done.rows_affected();
        Ok(())
    }

    /// `rewrap_all` for the clients' sealed webhook secrets.
    async fn rewrap_webhook_secrets(
        &self,
        kms: &dyn Kms,
        current: &str,
        report: &mut RewrapReport,
    ) -> Result<(), StoreError> {
        let rows = sqlx::query(
            "SELECT id, custodian_webhook_key_id, custodian_webhook_wrapped_key FROM clients \
             WHERE custodian_webhook_key_id IS NOT NULL AND custodian_webhook_key_id <> $1 ORDER BY id",
        )
        .bind(current.to_owned())
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let key_id: String = row.try_get("custodian_webhook_key_id")?;
            let wrapped_text: String = row.try_get("custodian_webhook_wrapped_key")?;
            let aad = seal::associated_data(seal::PURPOSE_WEBHOOK_SECRET, &id, &id);
            let target = WrappedColumns {
                table: "clients",
                id: "id",
                key_id: "custodian_webhook_key_id",
                wrapped: "custodian_webhook_wrapped_key",
            };
            let failed = format!("client {id} (webhook secret)");
            self.rewrap_one(kms, target, &id, key_id, wrapped_text, &aad, failed, report).await?;
        }
        Ok(())
    }

    /// `rewrap_all` for one table of sealed keys. `key_id <> $1` also skips
    /// rows whose keys are gone (a destroyed guard's `key_id` is NULL).
    async fn rewrap_key_table(
        &self,
        kms: &dyn Kms,
        current: &str,
        keys: &KeyTable,
        report: &mut RewrapReport,
    ) -> Result<(), StoreError> {
        let (table, id_column) = (keys.table, keys.id);
        let select =
            format!("SELECT * FROM {table} WHERE key_id <> $1 AND {id_column} > $2 ORDER BY {id_column} LIMIT 200");
        let mut after = String::new();
        loop {
            // Safe: the table name is a constant of this file.
            let rows = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                .bind(current.to_owned())
                .bind(after.clone())
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                return Ok(());
            }
            for row in &rows {
                let id: String = row.try_get(id_column)?;
                after.clone_from(&id);
                let aad = (keys.aad)(row, &id)?;
                let target = WrappedColumns { table, id: id_column, key_id: "key_id", wrapped: "wrapped_key" };
                let failed = format!("{} {id}", keys.what);
                let (key_id, wrapped): (String, String) = (row.try_get("key_id")?, row.try_get("wrapped_key")?);
                self.rewrap_one(kms, target, &id, key_id, wrapped, &aad, failed, report).await?;
            }
        }
    }
}

/// A table of sealed keys (an enclave's, or the PIN guards'), as `kms
/// rewrap` walks it: its name, its id column, what its records are called in
/// the report, and a row's associated data.
struct KeyTable {
    table: &'static str,
    id: &'static str,
    what: &'static str,
    aad: fn(&AnyRow, &str) -> Result<Vec<u8>, StoreError>,
}

fn text(row: &AnyRow, column: &str) -> Result<String, StoreError> {
    Ok(row.try_get(column)?)
}

const FIREBASE_KEYS: KeyTable = KeyTable {
    table: "firebase_encryption_keys",
    id: "id",
    what: "firebase key",
    aad: |row, id| {
        Ok(firebase_key_aad(&text(row, "client_id")?, id, &text(row, "backup_id")?, &text(row, "firebase_uid")?))
    },
};

const PASSKEY_KEYS: KeyTable = KeyTable {
    table: "passkey_encryption_keys",
    id: "id",
    what: "passkey key",
    aad: |row, id| {
        Ok(passkey_key_aad(&text(row, "client_id")?, id, &text(row, "backup_id")?, &text(row, "credential_id")?))
    },
};

const PIN_GUARD_KEYS: KeyTable = KeyTable {
    table: "pin_guards",
    id: "pair_id",
    what: "pin guard",
    aad: |row, id| Ok(pin_guard_aad(&text(row, "client_id")?, id)),
};
