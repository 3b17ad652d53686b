//! The flows over a [`BackupStore`] shaped like the backup service: pairs
//! created pending, read back by backup id, completed with the cipherText.
//! Proves the flow's side of "nothing lost" and "Done only after confirm".

mod common;

use std::cell::{Cell, RefCell};

use common::{block_on, MemoryKeyMethod};
use wallet_backup_core::testing::{MemoryKeychain, RecordingProgress};
use wallet_backup_core::{self as flow, BackupId, BackupStore, Error, MethodId, Status};
use zeroize::Zeroizing;

const SHARES: &[u8] = br#"{"secp256k1":{"id":"w1","share":"00112233"}}"#;

#[derive(Clone, Copy, PartialEq, Debug)]
enum PairStatus {
    Pending,
    Completed,
}

struct Pair {
    backup_id: BackupId,
    method: MethodId,
    half: Vec<u8>,
    cipher_text: Option<String>,
    status: PairStatus,
}

/// In-memory twin of the service's pairs, with faults.
#[derive(Default)]
struct MemoryPairs {
    pairs: RefCell<Vec<Pair>>,
    fail_complete: Cell<bool>,
    alter_read_back: Cell<bool>,
}

impl MemoryPairs {
    fn latest_cipher_text(&self) -> Option<String> {
        self.pairs.borrow().iter().rev().find(|p| p.status == PairStatus::Completed)?.cipher_text.clone()
    }
}

impl wallet_backup_core::PinGuard for MemoryPairs {}

impl BackupStore for MemoryPairs {
    type Pending = usize;

    async fn begin(&self, method: MethodId, backup_id: &BackupId, half: &[u8]) -> Result<usize, Error> {
        let mut pairs = self.pairs.borrow_mut();
        pairs.push(Pair {
            backup_id: *backup_id,
            method,
            half: half.to_vec(),
            cipher_text: None,
            status: PairStatus::Pending,
        });
        Ok(pairs.len() - 1)
    }

    async fn read_back(&self, pending: &usize) -> Result<Zeroizing<Vec<u8>>, Error> {
        let mut half = self.pairs.borrow()[*pending].half.clone();
        if self.alter_read_back.get() {
            half[0] ^= 1;
        }
        Ok(Zeroizing::new(half))
    }

    async fn complete(&self, pending: &usize, cipher_text: &str) -> Result<(), Error> {
        if self.fail_complete.get() {
            return Err(Error::NetworkTimeout);
        }
        let mut pairs = self.pairs.borrow_mut();
        pairs[*pending].cipher_text = Some(cipher_text.to_owned());
        pairs[*pending].status = PairStatus::Completed;
        Ok(())
    }

    async fn custodian_half(&self, method: MethodId, backup_id: &BackupId) -> Result<Zeroizing<Vec<u8>>, Error> {
        let pairs = self.pairs.borrow();
        let pair = pairs
            .iter()
            .find(|p| &p.backup_id == backup_id && p.method == method)
            .ok_or(Error::InvalidCustodianShare("no pair"))?;
        Ok(Zeroizing::new(pair.half.clone()))
    }
}

fn backup(store: &MemoryPairs, method: &MemoryKeyMethod, progress: &RecordingProgress) -> Result<String, Error> {
    block_on(flow::backup(&MemoryKeychain::with(SHARES), store, method, progress, b""))
}

fn recover(store: &MemoryPairs, method: &MemoryKeyMethod, text: &str) -> Result<Vec<u8>, Error> {
    let keychain = MemoryKeychain::default();
    block_on(flow::recover(text, &keychain, store, method, &RecordingProgress::default()))?;
    let shares = keychain.shares.borrow().clone().unwrap();
    Ok(shares)
}

#[test]
fn done_comes_after_the_pair_is_completed_with_its_cipher_text() {
    let store = MemoryPairs::default();
    let method = MemoryKeyMethod::default();
    let progress = RecordingProgress::default();
    let text = backup(&store, &method, &progress).unwrap();
    assert_eq!(progress.seen.borrow().last(), Some(&(Status::Done, true)));
    assert_eq!(store.latest_cipher_text().as_deref(), Some(text.as_str()));
    assert_eq!(recover(&store, &method, &text).unwrap(), SHARES);
}

#[test]
fn a_failed_confirm_reports_no_done_and_the_previous_backup_stays_latest() {
    let store = MemoryPairs::default();
    let method = MemoryKeyMethod::default();
    let good = backup(&store, &method, &RecordingProgress::default()).unwrap();

    store.fail_complete.set(true);
    let progress = RecordingProgress::default();
    assert_eq!(backup(&store, &method, &progress).unwrap_err().code(), "NETWORK_TIMEOUT");
    assert!(progress.seen.borrow().iter().all(|(_, done)| !done));
    assert_eq!(store.latest_cipher_text().as_deref(), Some(good.as_str()));
    assert_eq!(recover(&store, &method, &good).unwrap(), SHARES);
}

#[test]
fn a_read_back_that_differs_fails_before_completing() {
    let store = MemoryPairs::default();
    let method = MemoryKeyMethod::default();
    store.alter_read_back.set(true);
    let err = backup(&store, &method, &RecordingProgress::default()).unwrap_err();
    assert_eq!(err.code(), "CUSTODIAN_UNAVAILABLE");
    assert!(store.pairs.borrow().iter().all(|p| p.status == PairStatus::Pending));
    assert_eq!(store.latest_cipher_text(), None);
}
