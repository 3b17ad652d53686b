//! The records the module keeps in storage that holds one string, and the
//! one trait such storage implements.
//!
//! Two records share one shape, [`Record`]: up to three entries keyed by
//! backup id, newest first — the newest backup's, pending until the backup
//! was verified, and those of the two most recent completed backups — then a
//! checksum, all in base64url behind a text prefix. A new backup therefore
//! never invalidates the previous one, and a failing backup, however often
//! retried, never pushes out the last good one.
//!
//! - The **custodian record** (`wbc1.`, FORMAT.md §8): custodian halves
//!   ([`Entry`]), kept by the app's `custodian` adapter.
//! - The **keys record** (`wbr1.`, FORMAT.md §3.4.4): backup keys
//!   ([`KeyEntry`]), kept in a Google Drive file, an iCloud record or
//!   key-value entry, or the app's `custom` adapter.
//!
//! [`StoredRecord`] keeps either in a [`StringStore`]: as the store of the
//! custodian half ([`BackupStore`]) or as the keeper of backup keys
//! ([`KeyKeeper`]). It never overwrites a record it cannot read.

use core::future::Future;
use core::marker::PhantomData;

use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::flow::{BackupId, BackupStore, MAX_SHARES_LEN};
use crate::format::{BACKUP_ID_LEN, CHECKSUM_LEN};
use crate::keys::{SecretKey, KEY_LEN};
use crate::method::{KeyKeeper, MethodId};
use crate::Error;

/// Storage that keeps one string: the app's `custodian` or `custom`
/// adapter, a file in the user's Google Drive, a CloudKit record, a
/// key-value entry.
#[allow(async_fn_in_trait)]
pub trait StringStore {
    /// The stored string; `None` when nothing is stored.
    fn read(&self) -> impl Future<Output = Result<Option<Zeroizing<String>>, Error>>;
    /// Replaces the stored string.
    fn write(&self, value: &str) -> impl Future<Output = Result<(), Error>>;
}

impl<T: StringStore> StringStore for &T {
    fn read(&self) -> impl Future<Output = Result<Option<Zeroizing<String>>, Error>> {
        (**self).read()
    }
    fn write(&self, value: &str) -> impl Future<Output = Result<(), Error>> {
        (**self).write(value)
    }
}

/// Completed backups kept besides the newest one.
pub const KEPT_COMPLETED: usize = 2;
/// Most entries a record may hold.
pub const MAX_ENTRIES: usize = KEPT_COMPLETED + 1;

/// Text prefix of a version-1 custodian record.
pub const RECORD_PREFIX: &str = "wbc1.";
/// Magic bytes at offset 0 of the binary custodian record.
pub const RECORD_MAGIC: &[u8; 3] = b"wbc";
/// Text prefix of a version-1 keys record.
pub const KEYS_PREFIX: &str = "wbr1.";
/// Magic bytes at offset 0 of the binary keys record.
pub const KEYS_MAGIC: &[u8; 3] = b"wbr";
/// Bytes of one keys record entry: backup id, state, key.
const ENTRY_LEN: usize = BACKUP_ID_LEN + 1 + KEY_LEN;
/// Longest binary keys record: header, three entries, checksum.
const MAX_RECORD_BYTES: usize = 5 + MAX_ENTRIES * ENTRY_LEN + CHECKSUM_LEN;
/// Longest text form of a keys record (229 characters); a reader refuses
/// anything longer without decoding it.
pub const MAX_KEYS_TEXT_LEN: usize = KEYS_PREFIX.len() + (MAX_RECORD_BYTES * 4).div_ceil(3);

/// Longest binary custodian record: header, three entries of the largest
/// half, checksum.
const MAX_CUSTODIAN_RECORD_BYTES: usize = 5 + MAX_ENTRIES * (BACKUP_ID_LEN + 1 + 4 + MAX_SHARES_LEN) + CHECKSUM_LEN;
/// Longest text form of a custodian record (4,194,293 characters); a
/// longer text is refused before it is decoded.
pub const MAX_CUSTODIAN_TEXT_LEN: usize = RECORD_PREFIX.len() + (MAX_CUSTODIAN_RECORD_BYTES * 4).div_ceil(3);

/// Whether an entry's backup finished its verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EntryState {
    /// Written, not yet verified.
    Pending = 1,
    /// Verified by reading back.
    Complete = 2,
}

/// What a record keeps for one backup: a custodian half ([`Entry`]) or a
/// backup key ([`KeyEntry`]), with how its record is written.
pub trait RecordEntry: Clone + Sized {
    /// The kept value, as handed to [`Record::with_pending`].
    type Value: ?Sized;
    /// The record's text prefix (`wbc1.`, `wbr1.`).
    const PREFIX: &'static str;
    /// The record's magic bytes.
    const MAGIC: &'static [u8; 3];
    /// Bytes reserved for the binary record, so that writing it never moves
    /// (and leaves behind copies of) the values: a keys record's longest;
    /// custodian halves, of any length, are not secret on their own.
    const CAPACITY: usize;
    /// A pending entry keeping `value` for `backup_id`.
    fn pending(backup_id: BackupId, value: &Self::Value) -> Self;
    /// The backup this entry belongs to.
    fn backup_id(&self) -> &BackupId;
    /// Pending or complete.
    fn state(&self) -> EntryState;
    /// Marks the entry complete.
    fn complete(&mut self);
    /// Appends the entry's value as the binary record writes it.
    fn write_value(&self, out: &mut Vec<u8>);
    /// Longest text form; a longer text is refused before it is decoded.
    const MAX_TEXT_LEN: usize;
    /// How the checks every record shares word their failures: too large,
    /// not this record, not base64url, truncated, corrupted, unsupported
    /// version.
    const TEXT_FAILURES: [&'static str; 6];
    /// The kind's error, worded `why` (each kind has its own code).
    fn bad(why: &'static str) -> Error;
    /// Decodes `count` entries from `body`, the binary record after its
    /// 5-byte header and before its checksum (each kind has its own checks).
    fn decode_entries(body: &[u8], count: usize) -> Result<Vec<Self>, Error>;
}

impl EntryState {
    /// The state byte of a binary record.
    fn from_byte(b: u8) -> Option<EntryState> {
        match b {
            1 => Some(EntryState::Pending),
            2 => Some(EntryState::Complete),
            _ => None,
        }
    }
}

/// One custodian half, in a custodian record.
#[derive(Clone)]
pub struct Entry {
    /// The backup this half belongs to.
    pub backup_id: [u8; BACKUP_ID_LEN],
    /// Pending or complete.
    pub state: EntryState,
    /// The custodian half.
    pub share: Zeroizing<Vec<u8>>,
}

/// One backup key, in a keys record.
#[derive(Clone)]
pub struct KeyEntry {
    /// The backup the key belongs to.
    pub backup_id: BackupId,
    /// Pending until the backup was verified, then complete.
    pub state: EntryState,
    /// The backup key.
    pub key: SecretKey,
}

/// The entries kept for one wallet, newest first (FORMAT.md §7, §3.4.4).
#[derive(Clone)]
pub struct Record<E> {
    entries: Vec<E>,
}

/// The custodian halves kept by the app's custodian adapter.
pub type CustodianRecord = Record<Entry>;
/// The backup keys kept by a method's storage (0 to 3 entries).
pub type KeyRecord = Record<KeyEntry>;

impl<E> Default for Record<E> {
    fn default() -> Self {
        Record { entries: Vec::new() }
    }
}

impl<E: RecordEntry> Record<E> {
    /// The entries, newest first.
    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    /// The entry of the backup `backup_id`, if the record holds it.
    pub fn find(&self, backup_id: &BackupId) -> Option<&E> {
        self.entries.iter().find(|e| e.backup_id() == backup_id)
    }

    /// A copy with `value` added as the newest, pending entry of `backup_id`:
    /// older pending entries are dropped, and at most [`KEPT_COMPLETED`]
    /// completed ones of other backups kept.
    pub fn with_pending(&self, backup_id: BackupId, value: &E::Value) -> Record<E> {
        let mut entries = vec![E::pending(backup_id, value)];
        entries.extend(
            self.entries
                .iter()
                .filter(|e| e.state() == EntryState::Complete && *e.backup_id() != backup_id)
                .take(KEPT_COMPLETED)
                .cloned(),
        );
        Record { entries }
    }

    /// A copy with the entry of `backup_id` marked complete, or `None` when
    /// the record does not hold it.
    pub fn with_complete(&self, backup_id: &BackupId) -> Option<Record<E>> {
        let mut out = self.clone();
        out.entries.iter_mut().find(|e| e.backup_id() == backup_id)?.complete();
        Some(out)
    }

    /// The text form: prefix, then base64url of magic, version 1, entry
    /// count, the entries (backup id, state, value) and a checksum.
    pub fn encode(&self) -> Zeroizing<String> {
        let mut b = Zeroizing::new(Vec::with_capacity(E::CAPACITY));
        b.extend_from_slice(E::MAGIC);
        b.push(1);
        b.push(self.entries.len() as u8);
        for e in &self.entries {
            b.extend_from_slice(e.backup_id());
            b.push(e.state() as u8);
            e.write_value(&mut b);
        }
        let sum = Sha256::digest(&b[..]);
        b.extend_from_slice(&sum[..CHECKSUM_LEN]);
        let mut text = Zeroizing::new(String::with_capacity(E::PREFIX.len() + (E::CAPACITY * 4).div_ceil(3)));
        text.push_str(E::PREFIX);
        text.push_str(&Zeroizing::new(Base64UrlUnpadded::encode_string(&b)));
        text
    }

    /// Decodes a text form; a custodian record's failures are
    /// `INVALID_CUSTODIAN_SHARE`, a keys record's `STORAGE_UNAVAILABLE`.
    pub fn decode(text: &str) -> Result<Record<E>, Error> {
        let [too_large, not_record, not_base64, truncated, corrupted, version] = E::TEXT_FAILURES;
        if text.len() > E::MAX_TEXT_LEN {
            return Err(E::bad(too_large));
        }
        let body = text.strip_prefix(E::PREFIX).ok_or(E::bad(not_record))?;
        let bytes = Zeroizing::new(Base64UrlUnpadded::decode_vec(body).map_err(|_| E::bad(not_base64))?);
        if bytes.len() < 5 + CHECKSUM_LEN {
            return Err(E::bad(truncated));
        }
        let (content, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if !bool::from(Sha256::digest(content)[..CHECKSUM_LEN].ct_eq(sum)) {
            return Err(E::bad(corrupted));
        }
        if &content[..3] != E::MAGIC || content[3] != 1 {
            return Err(E::bad(version));
        }
        let entries = E::decode_entries(&content[5..], content[4] as usize)?;
        Ok(Record { entries })
    }
}

impl RecordEntry for Entry {
    type Value = [u8];
    const PREFIX: &'static str = RECORD_PREFIX;
    const MAGIC: &'static [u8; 3] = RECORD_MAGIC;
    const CAPACITY: usize = 0;

    #[inline]
    fn pending(backup_id: BackupId, share: &[u8]) -> Self {
        Entry { backup_id, state: EntryState::Pending, share: Zeroizing::new(share.to_vec()) }
    }
    #[inline]
    fn backup_id(&self) -> &BackupId {
        &self.backup_id
    }
    #[inline]
    fn state(&self) -> EntryState {
        self.state
    }
    #[inline]
    fn complete(&mut self) {
        self.state = EntryState::Complete;
    }
    #[inline]
    fn write_value(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.share.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.share);
    }

    const MAX_TEXT_LEN: usize = MAX_CUSTODIAN_TEXT_LEN;
    const TEXT_FAILURES: [&'static str; 6] = [
        "custodian record too large",
        "not a wallet-backup custodian record",
        "custodian record is not base64url",
        "custodian record truncated",
        "custodian record corrupted",
        "unsupported custodian record version",
    ];

    fn bad(why: &'static str) -> Error {
        Error::InvalidCustodianShare(why)
    }

    fn decode_entries(content: &[u8], count: usize) -> Result<Vec<Entry>, Error> {
        let bad = Error::InvalidCustodianShare;
        if count == 0 || count > MAX_ENTRIES {
            return Err(bad("custodian record entry count out of range"));
        }
        let mut at = 0;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let head = content.get(at..at + BACKUP_ID_LEN + 5).ok_or(bad("custodian record truncated"))?;
            let mut backup_id = [0u8; BACKUP_ID_LEN];
            backup_id.copy_from_slice(&head[..BACKUP_ID_LEN]);
            let state =
                EntryState::from_byte(head[BACKUP_ID_LEN]).ok_or(bad("custodian record entry state unknown"))?;
            let mut len = [0u8; 4];
            len.copy_from_slice(&head[BACKUP_ID_LEN + 1..]);
            let len = u32::from_be_bytes(len) as usize;
            // A half is as long as the shares, at most 2^20 - 32 bytes (FORMAT.md §2).
            if len == 0 || len > MAX_SHARES_LEN {
                return Err(bad("custodian record entry length out of range"));
            }
            if entries.iter().any(|e: &Entry| e.backup_id == backup_id) {
                return Err(bad("custodian record holds a backup id twice"));
            }
            at += BACKUP_ID_LEN + 5;
            let share = content.get(at..at + len).ok_or(bad("custodian record truncated"))?;
            at += len;
            entries.push(Entry { backup_id, state, share: Zeroizing::new(share.to_vec()) });
        }
        if at != content.len() {
            return Err(bad("trailing bytes in custodian record"));
        }
        Ok(entries)
    }
}

impl RecordEntry for KeyEntry {
    type Value = SecretKey;
    const PREFIX: &'static str = KEYS_PREFIX;
    const MAGIC: &'static [u8; 3] = KEYS_MAGIC;
    const CAPACITY: usize = MAX_RECORD_BYTES;

    #[inline]
    fn pending(backup_id: BackupId, key: &SecretKey) -> Self {
        KeyEntry { backup_id, state: EntryState::Pending, key: key.clone() }
    }
    #[inline]
    fn backup_id(&self) -> &BackupId {
        &self.backup_id
    }
    #[inline]
    fn state(&self) -> EntryState {
        self.state
    }
    #[inline]
    fn complete(&mut self) {
        self.state = EntryState::Complete;
    }
    #[inline]
    fn write_value(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.key.expose());
    }

    const MAX_TEXT_LEN: usize = MAX_KEYS_TEXT_LEN;
    const TEXT_FAILURES: [&'static str; 6] = [
        "the stored keys record is too large",
        "the stored value is not a wallet-backup keys record",
        "the keys record is not base64url",
        "the keys record is truncated",
        "the keys record is corrupted",
        "unsupported keys record version",
    ];

    /// A keys record's every rejection is `STORAGE_UNAVAILABLE` (FORMAT.md §3.4.4).
    fn bad(why: &'static str) -> Error {
        Error::StorageUnavailable(why)
    }

    fn decode_entries(content: &[u8], count: usize) -> Result<Vec<KeyEntry>, Error> {
        let bad = Error::StorageUnavailable;
        if count > MAX_ENTRIES {
            return Err(bad("keys record entry count out of range"));
        }
        if content.len() != count * ENTRY_LEN {
            return Err(bad("the keys record's length does not match its entry count"));
        }
        let mut entries: Vec<KeyEntry> = Vec::with_capacity(count);
        for e in content.chunks_exact(ENTRY_LEN) {
            let mut backup_id = [0u8; BACKUP_ID_LEN];
            backup_id.copy_from_slice(&e[..BACKUP_ID_LEN]);
            let state = EntryState::from_byte(e[BACKUP_ID_LEN]).ok_or(bad("keys record entry state unknown"))?;
            if entries.iter().any(|x| x.backup_id == backup_id) {
                return Err(bad("the keys record holds a backup id twice"));
            }
            let mut key = Zeroizing::new([0u8; KEY_LEN]);
            key.copy_from_slice(&e[BACKUP_ID_LEN + 1..]);
            entries.push(KeyEntry { backup_id, state, key: SecretKey::from_bytes(*key) });
        }
        Ok(entries)
    }
}

/// A record of `E` entries kept in the string store `S`.
pub struct StoredRecord<S, E> {
    storage: S,
    kind: PhantomData<fn() -> E>,
}

impl<S> StoredRecord<S, Entry> {
    /// The custodian record in the app's `custodian` adapter.
    pub fn custodian(storage: S) -> Self {
        StoredRecord { storage, kind: PhantomData }
    }
}

impl<S> StoredRecord<S, KeyEntry> {
    /// The keys record in a method's storage.
    pub fn keys(storage: S) -> Self {
        StoredRecord { storage, kind: PhantomData }
    }
}

impl<S: StringStore, E: RecordEntry> StoredRecord<S, E> {
    /// The stored record, empty when nothing (or `''`) is stored; an
    /// unreadable one fails, so it is never overwritten.
    pub async fn read_record(&self) -> Result<Record<E>, Error> {
        match self.storage.read().await? {
            Some(t) if !t.is_empty() => Record::decode(&t),
            _ => Ok(Record::default()),
        }
    }
}

/// A custodian record written by [`BackupStore::begin`], with the new entry pending.
pub struct PendingRecord {
    record: CustodianRecord,
    written: Zeroizing<String>,
    backup_id: BackupId,
}

/// An app-kept custodian record counts no guesses: guess-limited PINs are refused.
impl<S: StringStore> crate::methods::pin_guard::PinGuard for StoredRecord<S, Entry> {}

impl<S: StringStore> BackupStore for StoredRecord<S, Entry> {
    type Pending = PendingRecord;

    async fn begin(
        &self,
        _method: MethodId,
        backup_id: &BackupId,
        custodian_half: &[u8],
    ) -> Result<PendingRecord, Error> {
        // An unreadable record fails here, before anything is overwritten.
        let existing = self.read_record().await?;
        let record = existing.with_pending(*backup_id, custodian_half);
        let written = record.encode();
        self.storage.write(&written).await?;
        Ok(PendingRecord { record, written, backup_id: *backup_id })
    }

    async fn read_back(&self, pending: &PendingRecord) -> Result<Zeroizing<Vec<u8>>, Error> {
        let read_back = self.storage.read().await?;
        if read_back.as_deref().map(String::as_str) != Some(pending.written.as_str()) {
            return Err(Error::CustodianUnavailable("custodian returned different data than was written"));
        }
        let entry = pending.record.find(&pending.backup_id).ok_or(Error::Unexpected("pending entry vanished"))?;
        Ok(entry.share.clone())
    }

    async fn complete(&self, pending: &PendingRecord, _cipher_text: &str) -> Result<(), Error> {
        let record =
            pending.record.with_complete(&pending.backup_id).ok_or(Error::Unexpected("pending entry vanished"))?;
        self.storage.write(&record.encode()).await
    }

    async fn custodian_half(&self, _method: MethodId, backup_id: &BackupId) -> Result<Zeroizing<Vec<u8>>, Error> {
        let record = self.read_record().await?;
        // A stored custodian record holds at least one entry (decode refuses none).
        if record.entries().is_empty() {
            return Err(Error::InvalidCustodianShare("no custodian backup share is stored"));
        }
        let entry = record.find(backup_id).ok_or(Error::InvalidCustodianShare(
            "no custodian share for this backup (superseded by newer backups, or kept by another custodian)",
        ))?;
        Ok(entry.share.clone())
    }
}

impl KeyRecord {
    /// The union of several keys records, as one (FORMAT.md §3.4.4): what a
    /// storage that ended up with several copies (two devices creating the
    /// Drive file at once) keeps once merged. `records` go newest first (by
    /// when each was last written); their entries are taken in turn, each
    /// record's newest first, so every record's newest backup comes before
    /// any record's older ones. A backup held by several records keeps its
    /// one key, complete if any record says so; two different keys for one
    /// backup fail (`STORAGE_UNAVAILABLE`), as a kept key is never replaced.
    /// The limits of [`Record::with_pending`] hold: the newest pending entry
    /// (older ones dropped) then completed ones, [`MAX_ENTRIES`] in all.
    pub fn merge(records: &[KeyRecord]) -> Result<KeyRecord, Error> {
        let mut all: Vec<KeyEntry> = Vec::new();
        let depth = records.iter().map(|r| r.entries.len()).max().unwrap_or(0);
        for e in (0..depth).flat_map(|i| records.iter().filter_map(move |r| r.entries.get(i))) {
            match all.iter_mut().find(|x| x.backup_id == e.backup_id) {
                Some(x) if !bool::from(x.key.expose().ct_eq(e.key.expose())) => {
                    return Err(Error::StorageUnavailable("two keys records hold different keys for one backup"))
                }
                Some(x) if e.state == EntryState::Complete => x.state = EntryState::Complete,
                Some(_) => {}
                None => all.push(e.clone()),
            }
        }
        let mut entries: Vec<KeyEntry> =
            all.iter().find(|e| e.state == EntryState::Pending).cloned().into_iter().collect();
        let room = MAX_ENTRIES - entries.len();
        entries.extend(all.iter().filter(|e| e.state == EntryState::Complete).take(room).cloned());
        Ok(Record { entries })
    }
}

impl<S: StringStore> StoredRecord<S, KeyEntry> {
    /// Writes `record` and reads it back: the write counts only if the
    /// storage gives back exactly what was written.
    async fn write_verified(&self, record: &KeyRecord) -> Result<(), Error> {
        let text = record.encode();
        self.storage.write(&text).await?;
        match self.storage.read().await? {
            Some(back) if bool::from(back.as_bytes().ct_eq(text.as_bytes())) => Ok(()),
            _ => Err(Error::StorageUnavailable("the storage returned other data than was written")),
        }
    }

    /// Proves the storage can be read and written without changing the
    /// keys it holds: the record (empty if none) is rewritten as it is and
    /// read back.
    pub async fn validate(&self) -> Result<(), Error> {
        let record = self.read_record().await?;
        self.write_verified(&record).await
    }
}

impl<S: StringStore> KeyKeeper for StoredRecord<S, KeyEntry> {
    async fn store(&self, backup_id: &BackupId, key: &SecretKey) -> Result<(), Error> {
        let record = self.read_record().await?;
        // A kept key is never replaced.
        if record.find(backup_id).is_some() {
            return Err(Error::Unexpected("a key is already kept for this backup id"));
        }
        self.write_verified(&record.with_pending(*backup_id, key)).await
    }

    async fn confirm(&self, backup_id: &BackupId) -> Result<(), Error> {
        let record = self
            .read_record()
            .await?
            .with_complete(backup_id)
            .ok_or(Error::StorageUnavailable("the new backup's key vanished from the storage"))?;
        self.write_verified(&record).await
    }

    async fn fetch(&self, backup_id: &BackupId) -> Result<SecretKey, Error> {
        let record = self.read_record().await?;
        record.find(backup_id).map(|e| e.key.clone()).ok_or(Error::BackupKeyNotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;
    use core::cell::RefCell;

    fn key(b: u8) -> SecretKey {
        SecretKey::from_bytes([b; KEY_LEN])
    }

    /// One string in memory; `corrupt` changes what is read back.
    #[derive(Default)]
    struct Cell {
        value: RefCell<Option<String>>,
        corrupt: bool,
        writes: RefCell<usize>,
    }

    impl StringStore for Cell {
        async fn read(&self) -> Result<Option<Zeroizing<String>>, Error> {
            let v = self.value.borrow().clone();
            Ok(v.map(|mut s| {
                if self.corrupt {
                    s.push('A');
                }
                Zeroizing::new(s)
            }))
        }
        async fn write(&self, record: &str) -> Result<(), Error> {
            *self.writes.borrow_mut() += 1;
            *self.value.borrow_mut() = Some(record.to_owned());
            Ok(())
        }
    }

    #[test]
    fn custodian_record_keeps_new_pending_plus_two_completed() {
        let mut r = CustodianRecord::default();
        for i in 1..=5u8 {
            r = r.with_pending([i; 16], &[i; 4]).with_complete(&[i; 16]).unwrap();
        }
        let r = r.with_pending([9; 16], &[9; 4]);
        let ids: Vec<u8> = r.entries().iter().map(|e| e.backup_id[0]).collect();
        assert_eq!(ids, vec![9, 5, 4]);
        // A second failed attempt replaces the pending one, not a completed one.
        let r = r.with_pending([10; 16], &[10; 4]);
        let ids: Vec<u8> = r.entries().iter().map(|e| e.backup_id[0]).collect();
        assert_eq!(ids, vec![10, 5, 4]);
    }

    #[test]
    fn custodian_record_round_trips_and_rejects_damage() {
        let r = CustodianRecord::default().with_pending([1; 16], b"half");
        let text = r.encode();
        let back = CustodianRecord::decode(&text).unwrap();
        assert_eq!(&back.find(&[1; 16]).unwrap().share[..], b"half");
        assert!(back.find(&[2; 16]).is_none());
        let mut damaged = text.to_string();
        damaged.pop();
        damaged.push('A');
        assert!(CustodianRecord::decode(&damaged).is_err());
        assert!(CustodianRecord::decode("").is_err());
        assert!(CustodianRecord::decode("wbc1.").is_err());
    }

    #[test]
    fn keys_record_round_trips_every_size_within_the_text_limit() {
        let mut r = KeyRecord::default();
        for i in 1..=4u8 {
            let text = r.encode();
            assert!(text.len() <= MAX_KEYS_TEXT_LEN);
            let back = KeyRecord::decode(&text).unwrap();
            assert_eq!(back.entries().len(), r.entries().len());
            assert_eq!(back.encode(), text);
            r = r.with_pending([i; 16], &key(i)).with_complete(&[i; 16]).unwrap();
        }
        assert_eq!(r.encode().len(), MAX_KEYS_TEXT_LEN);
        assert_eq!(MAX_KEYS_TEXT_LEN, 229);
        assert_eq!(KeyRecord::decode(&r.encode()).unwrap().find(&[4; 16]).unwrap().key.expose(), &[4; 32]);
    }

    #[test]
    fn keys_record_keeps_the_new_pending_key_and_two_completed_ones() {
        let mut r = KeyRecord::default();
        for i in 1..=5u8 {
            r = r.with_pending([i; 16], &key(i)).with_complete(&[i; 16]).unwrap();
        }
        // Failed backups (never completed) replace each other, never a completed key.
        for i in 10..20u8 {
            r = r.with_pending([i; 16], &key(i));
        }
        let ids: Vec<u8> = r.entries().iter().map(|e| e.backup_id[0]).collect();
        assert_eq!(ids, vec![19, 5, 4]);
        assert_eq!(r.entries()[0].state, EntryState::Pending);
        assert!(r.with_complete(&[7; 16]).is_none());
    }

    #[test]
    fn keys_record_rejects_what_it_cannot_read_with_storage_unavailable() {
        let good = KeyRecord::default().with_pending([1; 16], &key(1)).encode().to_string();
        let bin = |text: &str| Base64UrlUnpadded::decode_vec(&text[5..]).unwrap();
        let text_of = |mut b: Vec<u8>, fix: bool| {
            if fix {
                let n = b.len() - CHECKSUM_LEN;
                let sum = Sha256::digest(&b[..n]);
                b[n..].copy_from_slice(&sum[..CHECKSUM_LEN]);
            }
            format!("{KEYS_PREFIX}{}", Base64UrlUnpadded::encode_string(&b))
        };
        let mut cases: Vec<String> = vec![
            String::new(),
            "wbr1.".into(),
            "wbc1.".to_string() + &good[5..],
            "wbr2.".to_string() + &good[5..],
            good.clone() + "=",
            good[..good.len() - 1].to_string(),
            "x".repeat(MAX_KEYS_TEXT_LEN + 1),
            good.replace("wbr1.", "wbr1.!"),
        ];
        let edit = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = bin(&good);
            f(&mut b);
            text_of(b, true)
        };
        cases.push(edit(&|b| b[0] = b'x')); // magic
        cases.push(edit(&|b| b[3] = 2)); // version
        cases.push(edit(&|b| b[4] = 4)); // count above 3
        cases.push(edit(&|b| b[4] = 2)); // count does not match the length
        cases.push(edit(&|b| b[5 + 16] = 3)); // unknown state
        cases.push(edit(&|b| b.insert(5, 0))); // trailing byte
        let mut flipped = bin(&good);
        flipped[6] ^= 1;
        cases.push(text_of(flipped, false)); // checksum mismatch
        let two = KeyRecord::default().with_pending([1; 16], &key(1)).with_complete(&[1; 16]).unwrap();
        let mut dup = bin(&two.with_pending([2; 16], &key(2)).encode());
        dup.copy_within(5..5 + 16, 5 + ENTRY_LEN);
        cases.push(text_of(dup, true)); // a backup id twice
        for case in cases {
            let err = KeyRecord::decode(&case).map(|_| ()).unwrap_err();
            assert_eq!(err.code(), "STORAGE_UNAVAILABLE", "{case:?}");
        }
    }

    #[test]
    fn keeper_stores_confirms_fetches_and_never_overwrites_an_unreadable_record() {
        let cell = Cell::default();
        let keeper = StoredRecord::keys(&cell);
        block_on(keeper.validate()).unwrap();
        assert!(KeyRecord::decode(cell.value.borrow().as_deref().unwrap()).unwrap().entries().is_empty());
        block_on(keeper.store(&[1; 16], &key(1))).unwrap();
        block_on(keeper.confirm(&[1; 16])).unwrap();
        block_on(keeper.store(&[2; 16], &key(2))).unwrap();
        assert_eq!(block_on(keeper.fetch(&[1; 16])).unwrap().expose(), &[1; 32]);
        assert_eq!(block_on(keeper.fetch(&[2; 16])).unwrap().expose(), &[2; 32]);
        assert_eq!(block_on(keeper.fetch(&[3; 16])).map(|_| ()), Err(Error::BackupKeyNotFound));
        assert!(block_on(keeper.confirm(&[3; 16])).is_err());
        assert!(block_on(keeper.store(&[1; 16], &key(0))).is_err(), "a kept key must not be replaced");
        assert_eq!(block_on(keeper.fetch(&[1; 16])).unwrap().expose(), &[1; 32]);

        *cell.value.borrow_mut() = Some("something else".into());
        let writes = *cell.writes.borrow();
        let err = block_on(keeper.store(&[4; 16], &key(4))).unwrap_err();
        assert_eq!(err.code(), "STORAGE_UNAVAILABLE");
        assert_eq!(block_on(keeper.validate()).unwrap_err().code(), "STORAGE_UNAVAILABLE");
        assert_eq!(*cell.writes.borrow(), writes, "an unreadable record was overwritten");
        assert_eq!(cell.value.borrow().as_deref(), Some("something else"));

        let corrupting = Cell { corrupt: true, ..Cell::default() };
        let err = block_on(StoredRecord::keys(&corrupting).store(&[1; 16], &key(1))).unwrap_err();
        assert_eq!(err, Error::StorageUnavailable("the storage returned other data than was written"));
    }

    /// Rewrites the entry count of `record`'s binary form and appends a
    /// copy of its first entry, checksum recomputed.
    fn with_first_entry_twice(record: &CustodianRecord) -> String {
        let text = record.encode();
        let mut b = Base64UrlUnpadded::decode_vec(&text[RECORD_PREFIX.len()..]).unwrap();
        b.truncate(b.len() - CHECKSUM_LEN);
        let first = b[5..5 + BACKUP_ID_LEN + 5 + record.entries()[0].share.len()].to_vec();
        b[4] += 1;
        b.extend_from_slice(&first);
        let sum = Sha256::digest(&b);
        b.extend_from_slice(&sum[..CHECKSUM_LEN]);
        format!("{RECORD_PREFIX}{}", Base64UrlUnpadded::encode_string(&b))
    }

    #[test]
    fn a_backup_id_twice_is_refused() {
        let r = CustodianRecord::default().with_pending([1; 16], b"half");
        let dup = with_first_entry_twice(&r);
        assert_eq!(
            CustodianRecord::decode(&dup).map(|_| ()),
            Err(Error::InvalidCustodianShare("custodian record holds a backup id twice"))
        );
        let two = CustodianRecord::default()
            .with_pending([2; 16], b"other")
            .with_complete(&[2; 16])
            .unwrap()
            .with_pending([1; 16], b"half");
        assert_eq!(
            CustodianRecord::decode(&with_first_entry_twice(&two)).map(|_| ()).unwrap_err().code(),
            "INVALID_CUSTODIAN_SHARE"
        );
    }

    #[test]
    fn largest_custodian_record_is_accepted_and_its_limits_hold() {
        let half = vec![0u8; MAX_SHARES_LEN];
        let mut r = CustodianRecord::default();
        for i in 1..=3u8 {
            r = r.with_pending([i; 16], &half).with_complete(&[i; 16]).unwrap();
        }
        let text = r.encode();
        assert_eq!(text.len(), MAX_CUSTODIAN_TEXT_LEN);
        assert_eq!(MAX_CUSTODIAN_TEXT_LEN, 4_194_293);
        assert_eq!(CustodianRecord::decode(&text).unwrap().entries().len(), 3);
        let longer = format!("{}A", &*text);
        assert_eq!(
            CustodianRecord::decode(&longer).map(|_| ()),
            Err(Error::InvalidCustodianShare("custodian record too large"))
        );
        // One byte more than the largest half.
        let over = CustodianRecord::default().with_pending([1; 16], &vec![0u8; MAX_SHARES_LEN + 1]).encode();
        assert_eq!(
            CustodianRecord::decode(&over).map(|_| ()),
            Err(Error::InvalidCustodianShare("custodian record entry length out of range"))
        );
    }

    fn ids(r: &KeyRecord) -> Vec<(u8, EntryState)> {
        r.entries().iter().map(|e| (e.backup_id[0], e.state)).collect()
    }

    #[test]
    fn merged_keys_records_keep_each_newest_backup_within_the_limits() {
        let done = |ids: &[u8]| {
            ids.iter()
                .rev()
                .fold(KeyRecord::default(), |r, &i| r.with_pending([i; 16], &key(i)).with_complete(&[i; 16]).unwrap())
        };
        use EntryState::{Complete as C, Pending as P};
        // Two devices' files, one backup each: both kept, newest file's first.
        assert_eq!(ids(&KeyRecord::merge(&[done(&[2]), done(&[1])]).unwrap()), [(2, C), (1, C)]);
        // Full records: each record's newest first, then the next ones, three in all.
        assert_eq!(ids(&KeyRecord::merge(&[done(&[6, 5, 4]), done(&[3, 2, 1])]).unwrap()), [(6, C), (3, C), (5, C)]);
        // One pending entry (the newest), then two completed ones; older pending ones dropped.
        let pending = |i: u8, r: KeyRecord| r.with_pending([i; 16], &key(i));
        let merged = KeyRecord::merge(&[pending(9, done(&[5, 4])), pending(8, done(&[3]))]).unwrap();
        assert_eq!(ids(&merged), [(9, P), (5, C), (3, C)]);
        // A backup in both: one entry, complete if either says so; its key kept.
        let merged = KeyRecord::merge(&[pending(7, KeyRecord::default()), done(&[7, 1])]).unwrap();
        assert_eq!(ids(&merged), [(7, C), (1, C)]);
        assert_eq!(merged.find(&[7; 16]).unwrap().key.expose(), key(7).expose());
        // Two keys for one backup: a kept key is never replaced, so the merge fails.
        let other = KeyRecord::default().with_pending([7; 16], &key(8));
        assert_eq!(
            KeyRecord::merge(&[other, done(&[7])]).map(|_| ()),
            Err(Error::StorageUnavailable("two keys records hold different keys for one backup"))
        );
        // Empty records add nothing; the result is a record like any other.
        let merged = KeyRecord::merge(&[KeyRecord::default(), done(&[1])]).unwrap();
        assert_eq!(ids(&KeyRecord::decode(&merged.encode()).unwrap()), [(1, C)]);
        assert!(KeyRecord::merge(&[]).unwrap().entries().is_empty());
    }
}
