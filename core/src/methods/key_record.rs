//! The keys record: backup keys kept in one string by storage that holds
//! one value (a file in the user's Google Drive, a record or key-value entry
//! in the user's iCloud, the app's `custom` adapter), specified in FORMAT.md
//! §3.4.4.
//!
//! Like the custodian record (FORMAT.md §8), it holds the newest backup's
//! key, pending until the backup is verified, and the keys of the two most
//! recent completed backups: a failing backup, however often retried, never
//! pushes out the key of the last good one, and the storage holds one small
//! value, rewritten in place. [`RecordKeeper`] is the [`KeyKeeper`] over
//! such a storage: it never overwrites a record it cannot read, never
//! replaces a key, and reads every write back before it counts.

use core::future::Future;

use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::custodian::{EntryState, KEPT_COMPLETED, MAX_ENTRIES};
use crate::format::{BACKUP_ID_LEN, CHECKSUM_LEN};
use crate::keys::{SecretKey, KEY_LEN};
use crate::methods::kept::KeyKeeper;
use crate::store::BackupId;
use crate::Error;

/// Text prefix of a version-1 keys record.
pub const KEYS_PREFIX: &str = "wbr1.";
/// Magic bytes at offset 0 of the binary keys record.
pub const KEYS_MAGIC: &[u8; 3] = b"wbr";
/// Bytes of one entry: backup id, state, key.
const ENTRY_LEN: usize = BACKUP_ID_LEN + 1 + KEY_LEN;
/// Longest binary record: header, three entries, checksum.
const MAX_RECORD_BYTES: usize = 5 + MAX_ENTRIES * ENTRY_LEN + CHECKSUM_LEN;
/// Longest text form of a keys record (229 characters); a reader refuses
/// anything longer without decoding it.
pub const MAX_KEYS_TEXT_LEN: usize = KEYS_PREFIX.len() + (MAX_RECORD_BYTES * 4).div_ceil(3);

/// One kept key.
#[derive(Clone)]
pub struct KeyEntry {
    /// The backup the key belongs to.
    pub backup_id: BackupId,
    /// Pending until the backup was verified, then complete.
    pub state: EntryState,
    /// The backup key.
    pub key: SecretKey,
}

/// The kept keys, newest first (0 to 3 entries).
#[derive(Clone, Default)]
pub struct KeyRecord {
    entries: Vec<KeyEntry>,
}

impl KeyRecord {
    /// The entries, newest first.
    pub fn entries(&self) -> &[KeyEntry] {
        &self.entries
    }

    /// The key of the backup `backup_id`, if kept.
    pub fn find(&self, backup_id: &BackupId) -> Option<&KeyEntry> {
        self.entries.iter().find(|e| &e.backup_id == backup_id)
    }

    /// A copy with `key` added as the newest, pending entry: older pending
    /// entries are dropped, at most [`KEPT_COMPLETED`] completed ones kept.
    /// A key already kept for `backup_id` is never replaced.
    pub fn with_pending(&self, backup_id: BackupId, key: &SecretKey) -> Result<KeyRecord, Error> {
        if self.find(&backup_id).is_some() {
            return Err(Error::Unexpected("a key is already kept for this backup id"));
        }
        let mut entries = vec![KeyEntry { backup_id, state: EntryState::Pending, key: key.clone() }];
        entries.extend(self.entries.iter().filter(|e| e.state == EntryState::Complete).take(KEPT_COMPLETED).cloned());
        Ok(KeyRecord { entries })
    }

    /// A copy with the entry of `backup_id` marked complete, or `None` when
    /// the record does not hold it.
    pub fn with_complete(&self, backup_id: &BackupId) -> Option<KeyRecord> {
        let mut out = self.clone();
        out.entries.iter_mut().find(|e| &e.backup_id == backup_id)?.state = EntryState::Complete;
        Some(out)
    }

    /// The text form (FORMAT.md §3.4.4).
    pub fn encode(&self) -> Zeroizing<String> {
        let mut b = Zeroizing::new(Vec::with_capacity(MAX_RECORD_BYTES));
        b.extend_from_slice(KEYS_MAGIC);
        b.push(1);
        b.push(self.entries.len() as u8);
        for e in &self.entries {
            b.extend_from_slice(&e.backup_id);
            b.push(e.state as u8);
            b.extend_from_slice(e.key.expose());
        }
        let sum = Sha256::digest(&b[..]);
        b.extend_from_slice(&sum[..CHECKSUM_LEN]);
        let mut text = Zeroizing::new(String::with_capacity(MAX_KEYS_TEXT_LEN));
        text.push_str(KEYS_PREFIX);
        text.push_str(&Zeroizing::new(Base64UrlUnpadded::encode_string(&b)));
        text
    }

    /// Decodes a text form; every rejection is `STORAGE_UNAVAILABLE`.
    pub fn decode(text: &str) -> Result<KeyRecord, Error> {
        let bad = Error::StorageUnavailable;
        if text.len() > MAX_KEYS_TEXT_LEN {
            return Err(bad("the stored keys record is too large"));
        }
        let body = text.strip_prefix(KEYS_PREFIX).ok_or(bad("the stored value is not a wallet-backup keys record"))?;
        let bytes =
            Zeroizing::new(Base64UrlUnpadded::decode_vec(body).map_err(|_| bad("the keys record is not base64url"))?);
        if bytes.len() < 5 + CHECKSUM_LEN {
            return Err(bad("the keys record is truncated"));
        }
        let (content, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if !bool::from(Sha256::digest(content)[..CHECKSUM_LEN].ct_eq(sum)) {
            return Err(bad("the keys record is corrupted"));
        }
        if &content[..3] != KEYS_MAGIC || content[3] != 1 {
            return Err(bad("unsupported keys record version"));
        }
        let count = content[4] as usize;
        if count > MAX_ENTRIES {
            return Err(bad("keys record entry count out of range"));
        }
        if content.len() != 5 + count * ENTRY_LEN {
            return Err(bad("the keys record's length does not match its entry count"));
        }
        let mut entries: Vec<KeyEntry> = Vec::with_capacity(count);
        for e in content[5..].chunks_exact(ENTRY_LEN) {
            let mut backup_id = [0u8; BACKUP_ID_LEN];
            backup_id.copy_from_slice(&e[..BACKUP_ID_LEN]);
            let state = match e[BACKUP_ID_LEN] {
                1 => EntryState::Pending,
                2 => EntryState::Complete,
                _ => return Err(bad("keys record entry state unknown")),
            };
            if entries.iter().any(|x| x.backup_id == backup_id) {
                return Err(bad("the keys record holds a backup id twice"));
            }
            let mut key = Zeroizing::new([0u8; KEY_LEN]);
            key.copy_from_slice(&e[BACKUP_ID_LEN + 1..]);
            entries.push(KeyEntry { backup_id, state, key: SecretKey::from_bytes(*key) });
        }
        Ok(KeyRecord { entries })
    }
}

/// Storage of one string: the keys record's home.
#[allow(async_fn_in_trait)]
pub trait KeysStorage {
    /// The stored string; `None` when nothing is stored.
    fn read(&self) -> impl Future<Output = Result<Option<Zeroizing<String>>, Error>>;
    /// Replaces the stored string.
    fn write(&self, record: &str) -> impl Future<Output = Result<(), Error>>;
}

/// Keeps backup keys in a keys record in `storage`.
pub struct RecordKeeper<S: KeysStorage>(pub S);

impl<S: KeysStorage> RecordKeeper<S> {
    /// The stored record (empty when nothing is stored); an unreadable one
    /// fails with `STORAGE_UNAVAILABLE`, so it is never overwritten.
    pub async fn read_record(&self) -> Result<KeyRecord, Error> {
        match self.0.read().await? {
            None => Ok(KeyRecord::default()),
            Some(t) if t.is_empty() => Ok(KeyRecord::default()),
            Some(t) => KeyRecord::decode(&t),
        }
    }

    /// Writes `record` and reads it back: the write counts only if the
    /// storage gives back exactly what was written.
    pub async fn write_verified(&self, record: &KeyRecord) -> Result<(), Error> {
        let text = record.encode();
        self.0.write(&text).await?;
        match self.0.read().await? {
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

impl<S: KeysStorage> KeyKeeper for RecordKeeper<S> {
    async fn store(&self, backup_id: &BackupId, key: &SecretKey) -> Result<(), Error> {
        let record = self.read_record().await?.with_pending(*backup_id, key)?;
        self.write_verified(&record).await
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
    use core::cell::RefCell;

    fn key(b: u8) -> SecretKey {
        SecretKey::from_bytes([b; KEY_LEN])
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        use core::task::{Context, Poll, Waker};
        let mut f = core::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("test futures complete at once"),
        }
    }

    /// One string in memory; `corrupt` changes what is read back.
    #[derive(Default)]
    struct Cell {
        value: RefCell<Option<String>>,
        corrupt: bool,
        writes: RefCell<usize>,
    }

    impl KeysStorage for &Cell {
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
    fn round_trips_every_size_within_the_text_limit() {
        let mut r = KeyRecord::default();
        for i in 1..=4u8 {
            let text = r.encode();
            assert!(text.len() <= MAX_KEYS_TEXT_LEN);
            let back = KeyRecord::decode(&text).unwrap();
            assert_eq!(back.entries().len(), r.entries().len());
            assert_eq!(back.encode(), text);
            r = r.with_pending([i; 16], &key(i)).unwrap().with_complete(&[i; 16]).unwrap();
        }
        assert_eq!(r.encode().len(), MAX_KEYS_TEXT_LEN);
        assert_eq!(MAX_KEYS_TEXT_LEN, 229);
        assert_eq!(KeyRecord::decode(&r.encode()).unwrap().find(&[4; 16]).unwrap().key.expose(), &[4; 32]);
    }

    #[test]
    fn keeps_the_new_pending_key_and_two_completed_ones() {
        let mut r = KeyRecord::default();
        for i in 1..=5u8 {
            r = r.with_pending([i; 16], &key(i)).unwrap().with_complete(&[i; 16]).unwrap();
        }
        // Failed backups (never completed) replace each other, never a completed key.
        for i in 10..20u8 {
            r = r.with_pending([i; 16], &key(i)).unwrap();
        }
        let ids: Vec<u8> = r.entries().iter().map(|e| e.backup_id[0]).collect();
        assert_eq!(ids, vec![19, 5, 4]);
        assert_eq!(r.entries()[0].state, EntryState::Pending);
        assert!(r.with_pending([5; 16], &key(0)).is_err(), "a kept key must not be replaced");
        assert!(r.with_complete(&[7; 16]).is_none());
    }

    #[test]
    fn rejects_what_it_cannot_read_with_storage_unavailable() {
        let good = KeyRecord::default().with_pending([1; 16], &key(1)).unwrap().encode().to_string();
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
        let two = KeyRecord::default().with_pending([1; 16], &key(1)).unwrap().with_complete(&[1; 16]).unwrap();
        let mut dup = bin(&two.with_pending([2; 16], &key(2)).unwrap().encode());
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
        let keeper = RecordKeeper(&cell);
        block_on(keeper.validate()).unwrap();
        assert!(KeyRecord::decode(cell.value.borrow().as_deref().unwrap()).unwrap().entries().is_empty());
        block_on(keeper.store(&[1; 16], &key(1))).unwrap();
        block_on(keeper.confirm(&[1; 16])).unwrap();
        block_on(keeper.store(&[2; 16], &key(2))).unwrap();
        assert_eq!(block_on(keeper.fetch(&[1; 16])).unwrap().expose(), &[1; 32]);
        assert_eq!(block_on(keeper.fetch(&[2; 16])).unwrap().expose(), &[2; 32]);
        assert_eq!(block_on(keeper.fetch(&[3; 16])).map(|_| ()), Err(Error::BackupKeyNotFound));
        assert!(block_on(keeper.confirm(&[3; 16])).is_err());

        *cell.value.borrow_mut() = Some("something else".into());
        let writes = *cell.writes.borrow();
        let err = block_on(keeper.store(&[4; 16], &key(4))).unwrap_err();
        assert_eq!(err.code(), "STORAGE_UNAVAILABLE");
        assert_eq!(block_on(keeper.validate()).unwrap_err().code(), "STORAGE_UNAVAILABLE");
        assert_eq!(*cell.writes.borrow(), writes, "an unreadable record was overwritten");
        assert_eq!(cell.value.borrow().as_deref(), Some("something else"));

        let corrupting = Cell { corrupt: true, ..Cell::default() };
        let err = block_on(RecordKeeper(&corrupting).store(&[1; 16], &key(1))).unwrap_err();
        assert_eq!(err, Error::StorageUnavailable("the storage returned other data than was written"));
    }
}
