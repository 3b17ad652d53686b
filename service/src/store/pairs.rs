//! The `backup_share_pairs` table: a pair's life from `PENDING` to
//! `COMPLETED` (or `FAILED`), each step one conditional statement, and the
//! reads recovery makes.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::pin_guard::{insert_guard, pin_guard_aad};
use super::{b64, unb64, unless_duplicate, Store, StoreError};
use crate::kms::{Kms, WrappedKey};
use crate::model::{BackupMethod, CustodianStorage, PairStatus};
use crate::seal::{self, Sealed};
use crate::util::{now_micros, random_id};

/// A backup share pair as stored (without its cipherText, which can be 2 MiB).
#[derive(Debug, Clone)]
pub struct Pair {
    /// Random id, 32 hex characters.
    pub id: String,
    /// Owning client.
    pub client_id: String,
    /// Backup method.
    pub backup_method: BackupMethod,
    /// The envelope's backup id (32 lower-case hex characters).
    pub backup_id: String,
    /// Status.
    pub status: PairStatus,
    /// The custodian share, sealed; `None` when it went to the client's
    /// webhook (custodian storage `WEBHOOK`) and the service has none.
    pub custodian_share: Option<Sealed>,
    /// For a `WEBHOOK` pair, the digest of the custodian share delivered
    /// (`webhook::share_digest`); `None` for pairs made before it was kept.
    pub custodian_share_digest: Option<String>,
    /// Whether the service holds a cipherText for this pair.
    pub has_cipher_text: bool,
    /// Creation time, µs since the epoch.
    pub created_at: i64,
    /// Last change, µs since the epoch.
    pub updated_at: i64,
    /// When it was confirmed, µs since the epoch.
    pub completed_at: Option<i64>,
}

/// The outcome of a status change on one pair.
#[derive(Debug)]
pub enum Transition {
    /// Done (or had been done already, with the same effect): the pair now.
    Done(Pair),
    /// The client has no pair with this id.
    NotFound,
    /// The pair's status does not allow the change: the pair as it is.
    Conflict(Pair),
}

const PAIR_COLUMNS: &str = "id, client_id, backup_method, backup_id, status, custodian_share_sealed, \
     custodian_key_id, custodian_wrapped_key, custodian_storage, custodian_share_digest, \
     CAST(CASE WHEN cipher_text IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_cipher_text, \
     created_at, updated_at, completed_at";

fn pair_from_row(row: &AnyRow) -> Result<Pair, StoreError> {
    let method: String = row.try_get("backup_method")?;
    let status: String = row.try_get("status")?;
    let sealed: String = row.try_get("custodian_share_sealed")?;
    let wrapped: String = row.try_get("custodian_wrapped_key")?;
    let storage: String = row.try_get("custodian_storage")?;
    let custodian_share = match CustodianStorage::parse(&storage) {
        Some(CustodianStorage::Managed) => Some(Sealed {
            ciphertext: unb64(&sealed, "sealed custodian share")?,
            wrapped_key: WrappedKey {
                key_id: row.try_get("custodian_key_id")?,
                ciphertext: unb64(&wrapped, "wrapped data key")?,
            },
        }),
        Some(CustodianStorage::Webhook) => None,
        None => return Err(StoreError::Corrupt(format!("unknown custodian storage `{storage}`"))),
    };
    Ok(Pair {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        backup_method: BackupMethod::parse(&method)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown backup method `{method}`")))?,
        backup_id: row.try_get("backup_id")?,
        status: PairStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("unknown status `{status}`")))?,
        custodian_share,
        custodian_share_digest: row.try_get("custodian_share_digest")?,
        has_cipher_text: row.try_get::<i64, _>("has_cipher_text")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        completed_at: row.try_get("completed_at")?,
    })
}

/// Runs `UPDATE … RETURNING` (`sql` with `binds`) on one of the client's
/// pairs, on `conn` (inside a transaction); when it matched no row, tells
/// "not found" from "wrong status" (`already_done`: the pair shows the change
/// made before, with the same effect).
async fn transition_in(
    conn: &mut AnyConnection,
    sql: String,
    binds: Vec<BindValue>,
    client_id: &str,
    pair_id: &str,
    already_done: impl AsyncFnOnce(&mut AnyConnection, &Pair) -> Result<bool, StoreError>,
) -> Result<Transition, StoreError> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in binds {
        query = match value {
            BindValue::Text(s) => query.bind(s),
            BindValue::Int(i) => query.bind(i),
        };
    }
    if let Some(row) = query.fetch_optional(&mut *conn).await? {
        return Ok(Transition::Done(pair_from_row(&row)?));
    }
    Ok(match pair_in(conn, client_id, pair_id).await? {
        None => Transition::NotFound,
        Some(pair) if already_done(conn, &pair).await? => Transition::Done(pair),
        Some(pair) => Transition::Conflict(pair),
    })
}

/// The client's pair with this id, read on `conn`.
async fn pair_in(conn: &mut AnyConnection, client_id: &str, pair_id: &str) -> Result<Option<Pair>, StoreError> {
    let sql = format!("SELECT {PAIR_COLUMNS} FROM backup_share_pairs WHERE id = $1 AND client_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(pair_id.to_owned())
        .bind(client_id.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(pair_from_row).transpose()
}

/// Where a new pair's custodian share goes.
#[derive(Debug, Clone, Copy)]
pub enum NewCustodianShare<'a> {
    /// Kept here, sealed under the KMS: the share.
    Sealed(&'a [u8]),
    /// Delivered to the client's webhook: only its digest is stored
    /// (`webhook::share_digest`).
    Webhook {
        /// The digest of the share delivered.
        digest: &'a str,
    },
}

enum BindValue {
    Text(String),
    Int(i64),
}

impl Store {
    /// Inserts a new `PENDING` pair whose custodian share is sealed here
    /// under the KMS, or goes to the client's webhook (only its digest is
    /// stored). With `pin_guard_keys` (the OPRF key and the unlock key, 64
    /// bytes), the pair's guard is inserted in the same transaction, its keys
    /// sealed under the KMS and its limit the client's.
    /// `Ok(None)`: the client already has a pair with this backup id.
    /// [`StoreError::OverQuota`]: the pair would take the client past one
    /// of its limits.
    pub async fn create_pair(
        &self,
        kms: &dyn Kms,
        client_id: &str,
        method: BackupMethod,
        backup_id: &str,
        custodian_share: NewCustodianShare<'_>,
        pin_guard_keys: Option<&[u8]>,
    ) -> Result<Option<Pair>, StoreError> {
        let id = random_id().map_err(|_| StoreError::Random)?;
        let aad = seal::associated_data(seal::PURPOSE_CUSTODIAN_SHARE, client_id, &id);
        let guard = match pin_guard_keys {
            Some(keys) => Some(seal::seal(kms, keys, &pin_guard_aad(client_id, &id)).await?),
            None => None,
        };
        let (storage, sealed_text, key_id, wrapped_text) = match custodian_share {
            NewCustodianShare::Sealed(share) => {
                let sealed = seal::seal(kms, share, &aad).await?;
                (
                    CustodianStorage::Managed,
                    b64(&sealed.ciphertext),
                    sealed.wrapped_key.key_id,
                    b64(&sealed.wrapped_key.ciphertext),
                )
            }
            NewCustodianShare::Webhook { .. } => {
                (CustodianStorage::Webhook, String::new(), String::new(), String::new())
            }
        };
        let digest = match custodian_share {
            NewCustodianShare::Webhook { digest } => Some(digest.to_owned()),
            NewCustodianShare::Sealed(_) => None,
        };
        let now = now_micros();
        let sql = format!(
            "INSERT INTO backup_share_pairs (id, client_id, backup_method, backup_id, status, \
             custodian_share_sealed, custodian_key_id, custodian_wrapped_key, cipher_text, \
             created_at, updated_at, completed_at, custodian_storage, stored_bytes, custodian_share_digest) \
             VALUES ($1, $2, $3, $4, 'PENDING', $5, $6, $7, NULL, $8, $8, NULL, $9, $10, $11) RETURNING {PAIR_COLUMNS}"
        );
        let stored_bytes = sealed_text.len();
        self.write(async |conn| {
            self.check_new_pair(conn, client_id, stored_bytes).await?;
            let result = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(client_id.to_owned())
                .bind(method.as_str())
                .bind(backup_id.to_owned())
                .bind(sealed_text)
                .bind(key_id)
                .bind(wrapped_text)
                .bind(now)
                .bind(storage.as_str())
                .bind(i64::try_from(stored_bytes).unwrap_or(i64::MAX))
                .bind(digest)
                .fetch_one(&mut *conn)
                .await;
            let pair = unless_duplicate(result)?.as_ref().map(pair_from_row).transpose()?;
            if let (Some(pair), Some(guard)) = (&pair, &guard) {
                insert_guard(conn, client_id, &pair.id, guard).await?;
            }
            Ok(pair)
        })
        .await
    }

    /// Marks a `PENDING` pair `FAILED` (its custodian share could not be
    /// delivered). `Ok(false)`: it was not pending.
    pub async fn mark_failed(&self, client_id: &str, pair_id: &str) -> Result<bool, StoreError> {
        self.write(async |conn| {
            let done = sqlx::query(
                "UPDATE backup_share_pairs SET status = 'FAILED', updated_at = $3 \
                 WHERE id = $1 AND client_id = $2 AND status = 'PENDING'",
            )
            .bind(pair_id.to_owned())
            .bind(client_id.to_owned())
            .bind(now_micros())
            .execute(&mut *conn)
            .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// The client's pair with this id.
    pub async fn pair(&self, client_id: &str, pair_id: &str) -> Result<Option<Pair>, StoreError> {
        pair_in(&mut *self.pool.acquire().await?, client_id, pair_id).await
    }

    /// The client's pair with this backup id (32 lower-case hex characters).
    pub async fn pair_by_backup_id(&self, client_id: &str, backup_id: &str) -> Result<Option<Pair>, StoreError> {
        let sql = format!("SELECT {PAIR_COLUMNS} FROM backup_share_pairs WHERE client_id = $1 AND backup_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(client_id.to_owned())
            .bind(backup_id.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(pair_from_row).transpose()
    }

    /// Stores the cipherText of a pair not yet completed (replacing one
    /// stored before) and moves it to `STORED_CLIENT_BACKUP_SHARE`. Sending
    /// the same cipherText to a completed pair again is harmless.
    /// [`StoreError::OverQuota`]: the cipherText would take the client past
    /// its byte limit.
    pub async fn attach_cipher_text(
        &self,
        client_id: &str,
        pair_id: &str,
        cipher_text: &str,
    ) -> Result<Transition, StoreError> {
        let sql = format!(
            "UPDATE backup_share_pairs SET cipher_text = $3, status = 'STORED_CLIENT_BACKUP_SHARE', updated_at = $4, \
             stored_bytes = LENGTH(custodian_share_sealed) + $5 \
             WHERE id = $1 AND client_id = $2 AND status IN ('PENDING', 'STORED_CLIENT_BACKUP_SHARE') \
             RETURNING {PAIR_COLUMNS}"
        );
        let binds = vec![
            BindValue::Text(pair_id.to_owned()),
            BindValue::Text(client_id.to_owned()),
            BindValue::Text(cipher_text.to_owned()),
            BindValue::Int(now_micros()),
            BindValue::Int(i64::try_from(cipher_text.len()).unwrap_or(i64::MAX)),
        ];
        let same_completed = async |conn: &mut AnyConnection, pair: &Pair| {
            if pair.status != PairStatus::Completed {
                return Ok(false);
            }
            let same: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(1 AS BIGINT) FROM backup_share_pairs WHERE id = $1 AND client_id = $2 AND cipher_text = $3",
            )
            .bind(pair_id.to_owned())
            .bind(client_id.to_owned())
            .bind(cipher_text.to_owned())
            .fetch_optional(&mut *conn)
            .await?;
            Ok(same.is_some())
        };
        self.write(async |conn| {
            let sizes = sqlx::query(
                "SELECT stored_bytes, CAST(LENGTH(custodian_share_sealed) AS BIGINT) AS sealed FROM backup_share_pairs \
                 WHERE id = $1 AND client_id = $2 AND status IN ('PENDING', 'STORED_CLIENT_BACKUP_SHARE')",
            )
            .bind(pair_id.to_owned())
            .bind(client_id.to_owned())
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(sizes) = sizes {
                let (old, sealed): (i64, i64) = (sizes.try_get("stored_bytes")?, sizes.try_get("sealed")?);
                let stored = self.stored_bytes(conn, client_id).await?;
                self.check_bytes(stored, old, usize::try_from(sealed).unwrap_or(0) + cipher_text.len())?;
            }
            transition_in(conn, sql, binds, client_id, pair_id, same_completed).await
        })
        .await
    }

    /// Confirms a pair whose client share is stored (`STORED_CLIENT_BACKUP_SHARE`,
    /// and with `require_cipher_text` a cipherText held by the service):
    /// it becomes `COMPLETED`, the pair recovery uses. Confirming a completed
    /// pair again changes nothing. In the same transaction, the client's
    /// completed pairs of the method beyond the newest `keep_completed` of
    /// [`super::Retention`] go, with their enclave keys.
    pub async fn confirm(
        &self,
        client_id: &str,
        pair_id: &str,
        require_cipher_text: bool,
    ) -> Result<Transition, StoreError> {
        let extra = if require_cipher_text { " AND cipher_text IS NOT NULL" } else { "" };
        let sql = format!(
            "UPDATE backup_share_pairs SET status = 'COMPLETED', completed_at = $3, updated_at = $3 \
             WHERE id = $1 AND client_id = $2 AND status = 'STORED_CLIENT_BACKUP_SHARE'{extra} \
             RETURNING {PAIR_COLUMNS}"
        );
        let binds = vec![
            BindValue::Text(pair_id.to_owned()),
            BindValue::Text(client_id.to_owned()),
            BindValue::Int(now_micros()),
        ];
        let completed = async |_: &mut AnyConnection, pair: &Pair| Ok(pair.status == PairStatus::Completed);
        self.write(async |conn| {
            let outcome = transition_in(conn, sql, binds, client_id, pair_id, completed).await?;
            if let Transition::Done(pair) = &outcome {
                self.drop_superseded(conn, client_id, pair.backup_method).await?;
            }
            Ok(outcome)
        })
        .await
    }

    /// The self-managed report: moves the client's newest `PENDING` pair of
    /// `method` to `STORED_CLIENT_BACKUP_SHARE` (`success`) or `FAILED`.
    /// Repeating a report is harmless: when nothing is pending and the newest
    /// pair of the method already shows the reported outcome, that pair is
    /// returned. `None`: nothing to report on.
    pub async fn report_stored(
        &self,
        client_id: &str,
        method: BackupMethod,
        success: bool,
    ) -> Result<Option<Pair>, StoreError> {
        let status = if success { PairStatus::StoredClientBackupShare } else { PairStatus::Failed };
        let update = format!(
            "UPDATE backup_share_pairs SET status = $3, updated_at = $4 \
             WHERE client_id = $1 AND status = 'PENDING' AND id = (\
                SELECT id FROM backup_share_pairs WHERE client_id = $1 AND backup_method = $2 \
                AND status = 'PENDING' ORDER BY created_at DESC, id DESC LIMIT 1) \
             RETURNING {PAIR_COLUMNS}"
        );
        let newest = format!(
            "SELECT {PAIR_COLUMNS} FROM backup_share_pairs WHERE client_id = $1 AND backup_method = $2 \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        self.write(async |conn| {
            let row = sqlx::query(sqlx::AssertSqlSafe(update))
                .bind(client_id.to_owned())
                .bind(method.as_str())
                .bind(status.as_str())
                .bind(now_micros())
                .fetch_optional(&mut *conn)
                .await?;
            if let Some(row) = row {
                return Ok(Some(pair_from_row(&row)?));
            }
            let newest = sqlx::query(sqlx::AssertSqlSafe(newest))
                .bind(client_id.to_owned())
                .bind(method.as_str())
                .fetch_optional(&mut *conn)
                .await?;
            let Some(newest) = newest.as_ref().map(pair_from_row).transpose()? else { return Ok(None) };
            let repeated = if success {
                matches!(newest.status, PairStatus::StoredClientBackupShare | PairStatus::Completed)
            } else {
                newest.status == PairStatus::Failed
            };
            Ok(repeated.then_some(newest))
        })
        .await
    }

    /// The client's most recently confirmed pair of `method`, with its
    /// cipherText if the service holds one.
    pub async fn latest_completed(
        &self,
        client_id: &str,
        method: BackupMethod,
    ) -> Result<Option<(Pair, Option<String>)>, StoreError> {
        let sql = format!(
            "SELECT {PAIR_COLUMNS}, cipher_text FROM backup_share_pairs \
             WHERE client_id = $1 AND backup_method = $2 AND status = 'COMPLETED' \
             ORDER BY completed_at DESC, created_at DESC, id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(client_id.to_owned())
            .bind(method.as_str())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some((pair_from_row(&row)?, row.try_get("cipher_text")?))),
        }
    }

    /// Methods with at least one completed pair, in method order.
    pub async fn completed_methods(&self, client_id: &str) -> Result<Vec<BackupMethod>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT backup_method FROM backup_share_pairs WHERE client_id = $1 AND status = 'COMPLETED'",
        )
        .bind(client_id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        let mut methods = rows
            .iter()
            .map(|m| BackupMethod::parse(m).ok_or_else(|| StoreError::Corrupt(format!("unknown backup method `{m}`"))))
            .collect::<Result<Vec<_>, _>>()?;
        methods.sort();
        Ok(methods)
    }
}
