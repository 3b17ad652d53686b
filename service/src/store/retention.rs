//! What one client may keep, and what the service lets go of.
//!
//! **Limits** ([`ClientLimits`]) are checked inside the transaction of the
//! write they bound, so a refused write leaves nothing behind: pairs not yet
//! completed, pairs in all, bytes of sealed custodian shares and cipherTexts,
//! enclave keys, passkey credentials. A write past a limit is
//! [`StoreError::OverQuota`] (the API's 409 `QUOTA_EXCEEDED`). Open passkey
//! ceremonies are bounded without refusing anything: a client's oldest ones
//! are dropped beyond [`MAX_OPEN_CEREMONIES`].
//!
//! **Retention** ([`Retention`]): when a pair is confirmed, the client's
//! completed pairs of that method beyond the newest `keep_completed` are
//! removed with it, in its transaction; [`Store::prune`] (run by the
//! service every `prune_interval` and by the `prune` command) removes
//! `FAILED` pairs after an hour, pairs left `PENDING` or
//! `STORED_CLIENT_BACKUP_SHARE` for `abandoned_after`, enclave keys whose
//! backup has no pair (after `abandoned_after`), and expired ceremonies. A
//! pair's enclave keys go with it. The newest completed pair of a method is
//! never removed: `keep_completed` is at least 1, and superseded pairs are
//! ranked in the order recovery picks the newest one.

use std::time::Duration;

use sqlx::{AnyConnection, Row};

use super::{Store, StoreError};
use crate::model::BackupMethod;
use crate::util::now_micros;

/// A client's open passkey ceremonies beyond this many, oldest first, are
/// dropped when a new one begins (an honest client has one or two).
pub const MAX_OPEN_CEREMONIES: i64 = 16;

/// `FAILED` pairs are never used again; [`Store::prune`] removes them this long after they failed.
pub const FAILED_RETENTION: Duration = Duration::from_secs(3600);

/// Pairs and keys removed per transaction by [`Store::prune`].
const PRUNE_BATCH: i64 = 500;

/// What one client may keep (defaults in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Pairs not yet completed nor failed (`PENDING`, `STORED_CLIENT_BACKUP_SHARE`) [20].
    pub max_pending_pairs: u32,
    /// Pairs of any status [100].
    pub max_pairs: u32,
    /// Bytes of sealed custodian shares and cipherTexts [16 MiB: four maximal pairs,
    /// thousands of ordinary ones (about 1 KB each)].
    pub max_stored_bytes: u64,
    /// Firebase and passkey enclave keys [200].
    pub max_enclave_keys: u32,
    /// Registered passkey credentials [10].
    pub max_passkey_credentials: u32,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            max_pending_pairs: 20,
            max_pairs: 100,
            max_stored_bytes: 16 * 1024 * 1024,
            max_enclave_keys: 200,
            max_passkey_credentials: 10,
        }
    }
}

/// What the service keeps of old pairs (defaults in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Completed pairs kept per client and method, newest first [3: the
    /// module's Drive, iCloud and custom keys record keeps the keys of the
    /// newest three backups]. At least 1.
    pub keep_completed: u32,
    /// Pairs still not completed, and enclave keys without a pair, are
    /// removed this long after their last change [7 days].
    pub abandoned_after: Duration,
    /// How often the running service prunes [1 hour]; zero: only the `prune` command does.
    pub prune_interval: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep_completed: 3,
            abandoned_after: Duration::from_secs(7 * 24 * 3600),
            prune_interval: Duration::from_secs(3600),
        }
    }
}

impl Retention {
    /// Checks the settings against each other: at least one completed pair
    /// kept, and room under `limits.max_pairs` for the completed pairs kept
    /// of every method plus the pending ones, so that retention alone never
    /// blocks a client's next backup.
    pub fn check(&self, limits: &ClientLimits) -> Result<(), String> {
        if self.keep_completed == 0 {
            return Err("--keep-completed must be at least 1 (the newest completed pair is never removed)".into());
        }
        let needed =
            u64::from(self.keep_completed) * BackupMethod::COUNT as u64 + u64::from(limits.max_pending_pairs) + 1;
        if u64::from(limits.max_pairs) < needed {
            return Err(format!(
                "--max-pairs {} leaves no room for --keep-completed {} pairs of each of the {} methods plus \
                 --max-pending-pairs {}: use at least {needed}",
                limits.max_pairs,
                self.keep_completed,
                BackupMethod::COUNT,
                limits.max_pending_pairs
            ));
        }
        Ok(())
    }
}

/// The limit a refused write would have passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// [`ClientLimits::max_pending_pairs`].
    PendingPairs(u32),
    /// [`ClientLimits::max_pairs`].
    Pairs(u32),
    /// [`ClientLimits::max_stored_bytes`].
    StoredBytes(u64),
    /// [`ClientLimits::max_enclave_keys`].
    EnclaveKeys(u32),
    /// [`ClientLimits::max_passkey_credentials`].
    PasskeyCredentials(u32),
}

impl std::fmt::Display for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PendingPairs(n) => write!(
                f,
                "this client has {n} backups started and not completed, the most it may have; complete \
                 them, or wait until unfinished ones are removed"
            ),
            Self::Pairs(n) => write!(f, "this client keeps {n} backup share pairs, the most it may keep"),
            Self::StoredBytes(n) => {
                write!(f, "this client's stored shares and cipherTexts would pass {n} bytes, the most it may store")
            }
            Self::EnclaveKeys(n) => write!(f, "this client has {n} enclave keys, the most it may have"),
            Self::PasskeyCredentials(n) => write!(f, "this client has {n} passkeys, the most it may register"),
        }
    }
}

/// What [`Store::prune`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PruneReport {
    /// `FAILED` pairs.
    pub failed: u64,
    /// Pairs left unfinished past `abandoned_after`.
    pub abandoned: u64,
    /// Completed pairs beyond the newest `keep_completed` of their method.
    pub superseded: u64,
    /// Enclave keys whose backup has no pair any more (or never got one).
    pub enclave_keys: u64,
    /// Expired passkey ceremonies.
    pub ceremonies: u64,
}

/// A client's pairs now: (pairs, pending, stored bytes).
async fn pair_usage(conn: &mut AnyConnection, client_id: &str) -> Result<(i64, i64, i64), StoreError> {
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS pairs, \
         CAST(COALESCE(SUM(CASE WHEN status IN ('PENDING', 'STORED_CLIENT_BACKUP_SHARE') THEN 1 ELSE 0 END), 0) \
         AS BIGINT) AS pending, \
         CAST(COALESCE(SUM(stored_bytes), 0) AS BIGINT) AS bytes \
         FROM backup_share_pairs WHERE client_id = $1",
    )
    .bind(client_id.to_owned())
    .fetch_one(&mut *conn)
    .await?;
    Ok((row.try_get("pairs")?, row.try_get("pending")?, row.try_get("bytes")?))
}

fn over(count: i64, limit: impl Into<u64>) -> bool {
    u64::try_from(count).unwrap_or(0) >= limit.into()
}

impl Store {
    /// Refuses a new pair of `bytes` stored bytes that would pass one of the client's limits.
    pub(super) async fn check_new_pair(
        &self,
        conn: &mut AnyConnection,
        client_id: &str,
        bytes: usize,
    ) -> Result<(), StoreError> {
        let limits = self.limits;
        let (pairs, pending, stored) = pair_usage(conn, client_id).await?;
        if over(pending, limits.max_pending_pairs) {
            return Err(StoreError::OverQuota(Quota::PendingPairs(limits.max_pending_pairs)));
        }
        if over(pairs, limits.max_pairs) {
            return Err(StoreError::OverQuota(Quota::Pairs(limits.max_pairs)));
        }
        self.check_bytes(stored, 0, bytes)
    }

    /// Refuses a write that replaces `old` stored bytes of one pair with
    /// `new` and would take the client past its byte limit (`stored` now).
    pub(super) fn check_bytes(&self, stored: i64, old: i64, new: usize) -> Result<(), StoreError> {
        let max = self.limits.max_stored_bytes;
        let after = i128::from(stored) - i128::from(old) + new as i128;
        if after > i128::from(max) {
            return Err(StoreError::OverQuota(Quota::StoredBytes(max)));
        }
        Ok(())
    }

    /// The client's stored bytes now.
    pub(super) async fn stored_bytes(&self, conn: &mut AnyConnection, client_id: &str) -> Result<i64, StoreError> {
        Ok(pair_usage(conn, client_id).await?.2)
    }

    /// Refuses a new enclave key past the client's limit.
    pub(super) async fn check_new_enclave_key(
        &self,
        conn: &mut AnyConnection,
        client_id: &str,
    ) -> Result<(), StoreError> {
        let keys: i64 = sqlx::query_scalar(
            "SELECT CAST((SELECT COUNT(*) FROM firebase_encryption_keys WHERE client_id = $1) + \
             (SELECT COUNT(*) FROM passkey_encryption_keys WHERE client_id = $1) AS BIGINT)",
        )
        .bind(client_id.to_owned())
        .fetch_one(&mut *conn)
        .await?;
        if over(keys, self.limits.max_enclave_keys) {
            return Err(StoreError::OverQuota(Quota::EnclaveKeys(self.limits.max_enclave_keys)));
        }
        Ok(())
    }

    /// Refuses a new passkey credential past the client's limit.
    pub(super) async fn check_new_credential(
        &self,
        conn: &mut AnyConnection,
        client_id: &str,
    ) -> Result<(), StoreError> {
        let credentials: i64 =
            sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM passkey_credentials WHERE client_id = $1")
                .bind(client_id.to_owned())
                .fetch_one(&mut *conn)
                .await?;
        if over(credentials, self.limits.max_passkey_credentials) {
            return Err(StoreError::OverQuota(Quota::PasskeyCredentials(self.limits.max_passkey_credentials)));
        }
        Ok(())
    }

    /// Removes the client's completed pairs of `method` beyond the newest
    /// `keep_completed`, with their enclave keys; run in the transaction
    /// that completes a pair. Returns how many pairs went.
    pub(super) async fn drop_superseded(
        &self,
        conn: &mut AnyConnection,
        client_id: &str,
        method: BackupMethod,
    ) -> Result<u64, StoreError> {
        let rows = sqlx::query(
            "SELECT id, backup_id FROM backup_share_pairs WHERE client_id = $1 AND backup_method = $2 \
             AND status = 'COMPLETED' ORDER BY completed_at DESC, created_at DESC, id DESC LIMIT $3 OFFSET $4",
        )
        .bind(client_id.to_owned())
        .bind(method.as_str())
        .bind(PRUNE_BATCH)
        .bind(i64::from(self.retention.keep_completed.max(1)))
        .fetch_all(&mut *conn)
        .await?;
        let mut dropped = 0;
        for row in &rows {
            let (id, backup_id): (String, String) = (row.try_get("id")?, row.try_get("backup_id")?);
            dropped += delete_pair(conn, client_id, &id, &backup_id, "status = 'COMPLETED'").await?;
        }
        Ok(dropped)
    }

    /// Removes what [`Retention`] lets go of (see the module doc), in
    /// transactions of at most 500 records. Safe while the service runs, and
    /// to repeat.
    pub async fn prune(&self) -> Result<PruneReport, StoreError> {
        let now = now_micros();
        let abandoned_before = now.saturating_sub(micros(self.retention.abandoned_after));
        let failed_before = now.saturating_sub(micros(FAILED_RETENTION));
        let failed = self.prune_pairs("status = 'FAILED' AND updated_at < $1", failed_before).await?;
        let abandoned = self
            .prune_pairs("status IN ('PENDING', 'STORED_CLIENT_BACKUP_SHARE') AND updated_at < $1", abandoned_before)
            .await?;
        let superseded = self.prune_superseded().await?;
        let enclave_keys = self.prune_orphan_keys(abandoned_before).await?;
        let ceremonies = self
            .write(async |conn| {
                let done = sqlx::query("DELETE FROM passkey_ceremonies WHERE expires_at < $1")
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                Ok(done.rows_affected())
            })
            .await?;
        Ok(PruneReport { failed, abandoned, superseded, enclave_keys, ceremonies })
    }

    /// Deletes, batch by batch, the pairs (and their keys) matching
    /// `condition` (with `$1` = `before`), the condition checked again as
    /// each one is deleted.
    async fn prune_pairs(&self, condition: &'static str, before: i64) -> Result<u64, StoreError> {
        let select = format!("SELECT id, client_id, backup_id FROM backup_share_pairs WHERE {condition} LIMIT $2");
        let recheck = condition.replace("$1", &before.to_string());
        let mut removed = 0;
        loop {
            let select = select.clone();
            let recheck = recheck.clone();
            let batch = self
                .write(async |conn| {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(select))
                        .bind(before)
                        .bind(PRUNE_BATCH)
                        .fetch_all(&mut *conn)
                        .await?;
                    let mut removed = 0;
                    for row in &rows {
                        let (id, client_id, backup_id): (String, String, String) =
                            (row.try_get("id")?, row.try_get("client_id")?, row.try_get("backup_id")?);
                        removed += delete_pair(conn, &client_id, &id, &backup_id, &recheck).await?;
                    }
                    Ok((rows.len(), removed))
                })
                .await?;
            removed += batch.1;
            if batch.0 < PRUNE_BATCH as usize {
                return Ok(removed);
            }
        }
    }

    /// Deletes every client's completed pairs beyond the newest `keep_completed` of their method.
    async fn prune_superseded(&self) -> Result<u64, StoreError> {
        let mut removed = 0;
        let mut after = (String::new(), String::new());
        loop {
            // The clients and methods with more completed pairs than are kept, a batch at a time.
            let groups: Vec<(String, String)> = sqlx::query_as(
                "SELECT client_id, backup_method FROM backup_share_pairs WHERE status = 'COMPLETED' \
                 AND (client_id > $1 OR (client_id = $1 AND backup_method > $2)) \
                 GROUP BY client_id, backup_method HAVING COUNT(*) > $3 \
                 ORDER BY client_id, backup_method LIMIT $4",
            )
            .bind(after.0.clone())
            .bind(after.1.clone())
            .bind(i64::from(self.retention.keep_completed.max(1)))
            .bind(PRUNE_BATCH)
            .fetch_all(&self.pool)
            .await?;
            for (client_id, method) in &groups {
                let Some(method) = BackupMethod::parse(method) else {
                    return Err(StoreError::Corrupt(format!("unknown backup method `{method}`")));
                };
                removed += self.write(async |conn| self.drop_superseded(conn, client_id, method).await).await?;
            }
            match groups.last() {
                Some(last) if groups.len() == PRUNE_BATCH as usize => after = last.clone(),
                _ => return Ok(removed),
            }
        }
    }

    /// Deletes enclave keys older than `before` whose client has no pair with their backup id.
    async fn prune_orphan_keys(&self, before: i64) -> Result<u64, StoreError> {
        let mut removed = 0;
        for table in ["firebase_encryption_keys", "passkey_encryption_keys"] {
            let sql = format!(
                "DELETE FROM {table} WHERE created_at < $1 AND NOT EXISTS (SELECT 1 FROM backup_share_pairs p \
                 WHERE p.client_id = {table}.client_id AND p.backup_id = {table}.backup_id)"
            );
            removed += self
                .write(async |conn| {
                    // Safe: the table names are constants of this function.
                    Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(before).execute(&mut *conn).await?.rows_affected())
                })
                .await?;
        }
        Ok(removed)
    }
}

/// Deletes the client's pair `id` if it still matches `condition` (SQL on
/// the pair's own columns, without parameters), and then the enclave keys
/// of its backup id. Returns 1 if the pair went, else 0.
async fn delete_pair(
    conn: &mut AnyConnection,
    client_id: &str,
    id: &str,
    backup_id: &str,
    condition: &str,
) -> Result<u64, StoreError> {
    let sql = format!("DELETE FROM backup_share_pairs WHERE id = $1 AND client_id = $2 AND {condition}");
    // Safe: `condition` is one of this file's constant conditions, with a number filled in.
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_owned())
        .bind(client_id.to_owned())
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(0);
    }
    for table in ["firebase_encryption_keys", "passkey_encryption_keys"] {
        let sql = format!("DELETE FROM {table} WHERE client_id = $1 AND backup_id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(client_id.to_owned())
            .bind(backup_id.to_owned())
            .execute(&mut *conn)
            .await?;
    }
    Ok(1)
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}
