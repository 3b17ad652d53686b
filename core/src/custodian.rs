//! The custodian record: what the module writes to an app-kept custodian.
//!
//! When the app keeps the custodian half itself (the `custodian` adapter),
//! it stores one opaque string. That string is a record of up to three
//! custodian halves keyed by backup id (FORMAT.md §8): the newest backup,
//! pending until verified, and the two most recent completed ones. A new
//! backup therefore never invalidates the previous cipherText, even when it
//! fails half-way or the app loses its new cipherText.

use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::flow::MAX_SHARES_LEN;
use crate::format::{BACKUP_ID_LEN, CHECKSUM_LEN};
use crate::Error;

/// Text prefix of a version-1 custodian record.
pub const RECORD_PREFIX: &str = "wbc1.";
/// Magic bytes at offset 0 of the binary record.
pub const RECORD_MAGIC: &[u8; 3] = b"wbc";
/// Completed backups kept besides the newest one.
pub const KEPT_COMPLETED: usize = 2;
/// Most entries a record may hold.
pub const MAX_ENTRIES: usize = KEPT_COMPLETED + 1;
/// Longest binary record: header, three entries of the largest half, checksum.
const MAX_RECORD_BYTES: usize = 5 + MAX_ENTRIES * (BACKUP_ID_LEN + 1 + 4 + MAX_SHARES_LEN) + CHECKSUM_LEN;
/// Longest text form of a custodian record (4,194,293 characters); a
/// longer text is refused before it is decoded.
pub const MAX_RECORD_TEXT_LEN: usize = RECORD_PREFIX.len() + (MAX_RECORD_BYTES * 4).div_ceil(3);

/// Whether an entry's backup finished its verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EntryState {
    /// Written, not yet verified.
    Pending = 1,
    /// Verified by reading back.
    Complete = 2,
}

/// One custodian half.
#[derive(Clone)]
pub struct Entry {
    /// The backup this half belongs to.
    pub backup_id: [u8; BACKUP_ID_LEN],
    /// Pending or complete.
    pub state: EntryState,
    /// The custodian half.
    pub share: Zeroizing<Vec<u8>>,
}

/// The custodian halves kept for one wallet, newest first.
#[derive(Clone, Default)]
pub struct Record {
    entries: Vec<Entry>,
}

impl Record {
    /// The entries, newest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The half of the backup with this id, if the record holds it.
    pub fn find(&self, backup_id: &[u8; BACKUP_ID_LEN]) -> Option<&Entry> {
        self.entries.iter().find(|e| &e.backup_id == backup_id)
    }

    /// A copy with `share` added as the newest, pending entry; older pending
    /// entries are dropped and at most [`KEPT_COMPLETED`] completed ones kept.
    pub fn with_pending(&self, backup_id: [u8; BACKUP_ID_LEN], share: &[u8]) -> Record {
        let mut entries = vec![Entry { backup_id, state: EntryState::Pending, share: Zeroizing::new(share.to_vec()) }];
        entries.extend(
            self.entries
                .iter()
                .filter(|e| e.state == EntryState::Complete && e.backup_id != backup_id)
                .take(KEPT_COMPLETED)
                .cloned(),
        );
        Record { entries }
    }

    /// A copy with the entry of `backup_id` marked complete.
    pub fn with_complete(&self, backup_id: &[u8; BACKUP_ID_LEN]) -> Record {
        let mut out = self.clone();
        for e in out.entries.iter_mut().filter(|e| &e.backup_id == backup_id) {
            e.state = EntryState::Complete;
        }
        out
    }

    /// Encodes the record as its text form.
    pub fn encode(&self) -> Zeroizing<String> {
        let mut b = Zeroizing::new(Vec::new());
        b.extend_from_slice(RECORD_MAGIC);
        b.push(1);
        b.push(self.entries.len() as u8);
        for e in &self.entries {
            b.extend_from_slice(&e.backup_id);
            b.push(e.state as u8);
            b.extend_from_slice(&(e.share.len() as u32).to_be_bytes());
            b.extend_from_slice(&e.share);
        }
        let sum = Sha256::digest(&b[..]);
        b.extend_from_slice(&sum[..CHECKSUM_LEN]);
        let mut text = Zeroizing::new(String::from(RECORD_PREFIX));
        text.push_str(&Base64UrlUnpadded::encode_string(&b));
        text
    }

    /// Decodes a record's text form.
    pub fn decode(text: &str) -> Result<Record, Error> {
        let bad = Error::InvalidCustodianShare;
        if text.len() > MAX_RECORD_TEXT_LEN {
            return Err(bad("custodian record too large"));
        }
        let body = text.strip_prefix(RECORD_PREFIX).ok_or(bad("not a wallet-backup custodian record"))?;
        let bytes =
            Zeroizing::new(Base64UrlUnpadded::decode_vec(body).map_err(|_| bad("custodian record is not base64url"))?);
        if bytes.len() < 5 + CHECKSUM_LEN {
            return Err(bad("custodian record truncated"));
        }
        let (content, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if !bool::from(Sha256::digest(content)[..CHECKSUM_LEN].ct_eq(sum)) {
            return Err(bad("custodian record corrupted"));
        }
        if &content[..3] != RECORD_MAGIC || content[3] != 1 {
            return Err(bad("unsupported custodian record version"));
        }
        let count = content[4] as usize;
        if count == 0 || count > MAX_ENTRIES {
            return Err(bad("custodian record entry count out of range"));
        }
        let mut at = 5;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let head = content.get(at..at + BACKUP_ID_LEN + 5).ok_or(bad("custodian record truncated"))?;
            let mut backup_id = [0u8; BACKUP_ID_LEN];
            backup_id.copy_from_slice(&head[..BACKUP_ID_LEN]);
            let state = match head[BACKUP_ID_LEN] {
                1 => EntryState::Pending,
                2 => EntryState::Complete,
                _ => return Err(bad("custodian record entry state unknown")),
            };
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
        Ok(Record { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_new_pending_plus_two_completed() {
        let mut r = Record::default();
        for i in 1..=5u8 {
            r = r.with_pending([i; 16], &[i; 4]).with_complete(&[i; 16]);
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
    fn round_trips_and_rejects_damage() {
        let r = Record::default().with_pending([1; 16], b"half");
        let text = r.encode();
        let back = Record::decode(&text).unwrap();
        assert_eq!(&back.find(&[1; 16]).unwrap().share[..], b"half");
        assert!(back.find(&[2; 16]).is_none());
        let mut damaged = text.to_string();
        damaged.pop();
        damaged.push('A');
        assert!(Record::decode(&damaged).is_err());
        assert!(Record::decode("").is_err());
        assert!(Record::decode("wbc1.").is_err());
    }

    /// Rewrites the entry count of `record`'s binary form and appends a
    /// copy of its first entry, checksum recomputed.
    fn with_first_entry_twice(record: &Record) -> String {
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
        let r = Record::default().with_pending([1; 16], b"half");
        let dup = with_first_entry_twice(&r);
        assert_eq!(
            Record::decode(&dup).map(|_| ()),
            Err(Error::InvalidCustodianShare("custodian record holds a backup id twice"))
        );
        let two =
            Record::default().with_pending([2; 16], b"other").with_complete(&[2; 16]).with_pending([1; 16], b"half");
        assert_eq!(
            Record::decode(&with_first_entry_twice(&two)).map(|_| ()).unwrap_err().code(),
            "INVALID_CUSTODIAN_SHARE"
        );
    }

    #[test]
    fn largest_record_is_accepted_and_its_limits_hold() {
        let half = vec![0u8; MAX_SHARES_LEN];
        let mut r = Record::default();
        for i in 1..=3u8 {
            r = r.with_pending([i; 16], &half).with_complete(&[i; 16]);
        }
        let text = r.encode();
        assert_eq!(text.len(), MAX_RECORD_TEXT_LEN);
        assert_eq!(MAX_RECORD_TEXT_LEN, 4_194_293);
        assert_eq!(Record::decode(&text).unwrap().entries().len(), 3);
        let longer = format!("{}A", &*text);
        assert_eq!(
            Record::decode(&longer).map(|_| ()),
            Err(Error::InvalidCustodianShare("custodian record too large"))
        );
        // One byte more than the largest half.
        let over = Record::default().with_pending([1; 16], &vec![0u8; MAX_SHARES_LEN + 1]).encode();
        assert_eq!(
            Record::decode(&over).map(|_| ()),
            Err(Error::InvalidCustodianShare("custodian record entry length out of range"))
        );
    }
}
