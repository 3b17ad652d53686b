//! Where a backup's custodian half is kept, as one trait with two homes.
//!
//! A backup stores its custodian half as *pending*, reads it back, proves
//! the pair restores the shares, and only then *completes* it: from that
//! moment it is the backup recovery uses. Until then the previous completed
//! backup stays valid.
//!
//! - [`RecordStore`]: the app keeps the custodian half itself, in one opaque
//!   string (the custodian record, FORMAT.md §7), through a [`Custodian`].
//! - The backup service (in the wasm binding): a backup share pair created
//!   `PENDING`, read back by backup id, completed by attaching the
//!   cipherText (managed backups) and confirming.

use core::future::Future;

use zeroize::Zeroizing;

use crate::adapters::Custodian;
use crate::custodian::Record;
use crate::format::BACKUP_ID_LEN;
use crate::method::MethodId;
use crate::Error;

/// A 16-byte backup id (the envelope's).
pub type BackupId = [u8; BACKUP_ID_LEN];

/// Keeps custodian halves: pending → read back → complete.
#[allow(async_fn_in_trait)]
pub trait BackupStore {
    /// What `begin` hands to the later steps of the same backup.
    type Pending;

    /// Stores the custodian half of a new backup as pending. Recovery of
    /// earlier backups is unaffected.
    fn begin(
        &self,
        method: MethodId,
        backup_id: &BackupId,
        custodian_half: &[u8],
    ) -> impl Future<Output = Result<Self::Pending, Error>>;

    /// Reads back the custodian half that `begin` stored.
    fn read_back(&self, pending: &Self::Pending) -> impl Future<Output = Result<Zeroizing<Vec<u8>>, Error>>;

    /// Makes the verified backup the one recovery uses; a store that keeps
    /// cipherTexts stores `cipher_text` first.
    fn complete(&self, pending: &Self::Pending, cipher_text: &str) -> impl Future<Output = Result<(), Error>>;

    /// The custodian half of the backup `backup_id` made with `method`.
    fn custodian_half(
        &self,
        method: MethodId,
        backup_id: &BackupId,
    ) -> impl Future<Output = Result<Zeroizing<Vec<u8>>, Error>>;
}

/// The custodian half kept by the app, as a custodian record.
pub struct RecordStore<'a, C: Custodian>(pub &'a C);

/// A record written by [`RecordStore::begin`], with the new entry pending.
pub struct PendingRecord {
    record: Record,
    written: Zeroizing<String>,
    backup_id: BackupId,
}

impl<C: Custodian> RecordStore<'_, C> {
    async fn read_record(&self) -> Result<Option<Record>, Error> {
        match self.0.read().await? {
            None => Ok(None),
            Some(t) if t.is_empty() => Ok(None),
            Some(t) => Record::decode(&t).map(Some),
        }
    }
}

impl<C: Custodian> BackupStore for RecordStore<'_, C> {
    type Pending = PendingRecord;

    async fn begin(
        &self,
        _method: MethodId,
        backup_id: &BackupId,
        custodian_half: &[u8],
    ) -> Result<PendingRecord, Error> {
        // An unreadable record fails here, before anything is overwritten.
        let existing = self.read_record().await?.unwrap_or_default();
        let record = existing.with_pending(*backup_id, custodian_half);
        let written = record.encode();
        self.0.write(&written).await?;
        Ok(PendingRecord { record, written, backup_id: *backup_id })
    }

    async fn read_back(&self, pending: &PendingRecord) -> Result<Zeroizing<Vec<u8>>, Error> {
        let read_back = self.0.read().await?;
        if read_back.as_deref().map(String::as_str) != Some(pending.written.as_str()) {
            return Err(Error::CustodianUnavailable("custodian returned different data than was written"));
        }
        let entry = pending.record.find(&pending.backup_id).ok_or(Error::Unexpected("pending entry vanished"))?;
        Ok(entry.share.clone())
    }

    async fn complete(&self, pending: &PendingRecord, _cipher_text: &str) -> Result<(), Error> {
        self.0.write(&pending.record.with_complete(&pending.backup_id).encode()).await
    }

    async fn custodian_half(&self, _method: MethodId, backup_id: &BackupId) -> Result<Zeroizing<Vec<u8>>, Error> {
        let record =
            self.read_record().await?.ok_or(Error::InvalidCustodianShare("no custodian backup share is stored"))?;
        let entry = record.find(backup_id).ok_or(Error::InvalidCustodianShare(
            "no custodian share for this backup (superseded by newer backups, or kept by another custodian)",
        ))?;
        Ok(entry.share.clone())
    }
}
