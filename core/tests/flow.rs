//! Backup and recovery flows over the in-memory adapters: progress order,
//! failures without `Done`, and earlier backups staying valid.

mod common;

use common::{block_on, MemoryKeyMethod};
use wallet_backup_core::testing::{MemoryKeychain, MemoryStore, RecordingProgress};
use wallet_backup_core::Status::{self, *};
use wallet_backup_core::{self as flow, Error, PasswordMethod, StoredRecord};
use zeroize::Zeroizing;

const SHARES: &[u8] = br#"{"secp256k1":{"id":"w1","share":"0123456789abcdef"}}"#;

fn password(p: &str) -> PasswordMethod {
    PasswordMethod::new(Zeroizing::new(p.as_bytes().to_vec())).unwrap()
}

fn statuses(p: &RecordingProgress) -> Vec<Status> {
    p.seen.borrow().iter().map(|(s, _)| *s).collect()
}

/// Backs up `keychain`'s shares with `method`, the custodian half in `custodian`.
fn backup(
    keychain: &MemoryKeychain,
    custodian: &MemoryStore,
    method: &impl wallet_backup_core::BackupMethod,
) -> Result<String, Error> {
    backup_with(keychain, custodian, method, &RecordingProgress::default())
}

/// [`backup`], reporting to `progress`.
fn backup_with(
    keychain: &MemoryKeychain,
    custodian: &MemoryStore,
    method: &impl wallet_backup_core::BackupMethod,
    progress: &RecordingProgress,
) -> Result<String, Error> {
    block_on(flow::backup(keychain, &StoredRecord::custodian(custodian), method, progress, b""))
}

fn recover(
    text: &str,
    custodian: &MemoryStore,
    method: &impl wallet_backup_core::BackupMethod,
) -> Result<Vec<u8>, Error> {
    let keychain = MemoryKeychain::default();
    block_on(flow::recover(
        text,
        &keychain,
        &StoredRecord::custodian(custodian),
        method,
        &RecordingProgress::default(),
    ))?;
    let shares = keychain.shares.borrow().clone().unwrap();
    Ok(shares)
}

#[test]
fn password_round_trip_reports_every_status_and_done_last() {
    let keychain = MemoryKeychain::with(SHARES);
    let custodian = MemoryStore::default();
    let progress = RecordingProgress::default();
    let text = backup_with(&keychain, &custodian, &password("pw"), &progress).unwrap();
    assert_eq!(statuses(&progress), [ReadingShare, GeneratingShare, EncryptingShare, StoringShare, Done]);
    assert_eq!(progress.seen.borrow().iter().filter(|(_, done)| *done).count(), 1);

    let restored = MemoryKeychain::default();
    let progress = RecordingProgress::default();
    block_on(flow::recover(&text, &restored, &StoredRecord::custodian(&custodian), &password("pw"), &progress))
        .unwrap();
    assert_eq!(statuses(&progress), [ReadingShare, DecryptingShare, RecoveringBackupShare, StoringShare, Done]);
    assert_eq!(restored.shares.borrow().as_deref(), Some(SHARES));
}

#[test]
fn each_backup_has_fresh_ids_salt_nonce_and_halves() {
    let keychain = MemoryKeychain::with(SHARES);
    let custodian = MemoryStore::default();
    let method = MemoryKeyMethod::default();
    let a = backup(&keychain, &custodian, &method).unwrap();
    let b = backup(&keychain, &custodian, &method).unwrap();
    assert_ne!(a, b);
    let keys = method.keys.borrow();
    assert_ne!(keys[0], keys[1]);
}

#[test]
fn failed_custodian_write_sends_no_done_and_keeps_previous_backup() {
    let keychain = MemoryKeychain::with(SHARES);
    let custodian = MemoryStore::default();
    let method = MemoryKeyMethod::default();
    let good = backup(&keychain, &custodian, &method).unwrap();

    for writes_allowed in [0, 1] {
        custodian.writes_before_failure.set(Some(writes_allowed));
        let progress = RecordingProgress::default();
        let err = backup_with(&keychain, &custodian, &method, &progress).unwrap_err();
        assert_eq!(err.code(), "CUSTODIAN_UNAVAILABLE");
        assert!(!statuses(&progress).contains(&Done));
        custodian.writes_before_failure.set(None);
        assert_eq!(recover(&good, &custodian, &method).unwrap(), SHARES, "writes allowed: {writes_allowed}");
    }
}

#[test]
fn custodian_that_returns_other_data_fails_the_read_back() {
    let keychain = MemoryKeychain::with(SHARES);
    let custodian = MemoryStore::default();
    let method = MemoryKeyMethod::default();
    let good = backup(&keychain, &custodian, &method).unwrap();
    let stale = custodian.record.borrow().clone().unwrap();
    *custodian.read_override.borrow_mut() = Some(stale);
    let progress = RecordingProgress::default();
    let err = backup_with(&keychain, &custodian, &method, &progress).unwrap_err();
    assert_eq!(err.code(), "CUSTODIAN_UNAVAILABLE");
    assert!(!statuses(&progress).contains(&Done));
    *custodian.read_override.borrow_mut() = None;
    assert_eq!(recover(&good, &custodian, &method).unwrap(), SHARES);
}

#[test]
fn the_two_previous_completed_backups_stay_recoverable() {
    let keychain = MemoryKeychain::with(SHARES);
    let custodian = MemoryStore::default();
    let method = MemoryKeyMethod::default();
    let texts: Vec<String> = (0..4).map(|_| backup(&keychain, &custodian, &method).unwrap()).collect();
    for t in &texts[1..] {
        assert_eq!(recover(t, &custodian, &method).unwrap(), SHARES);
    }
    assert_eq!(recover(&texts[0], &custodian, &method).unwrap_err().code(), "INVALID_CUSTODIAN_SHARE");
}

#[test]
fn unreadable_custodian_record_is_never_overwritten() {
    let keychain = MemoryKeychain::with(SHARES);
    let custodian = MemoryStore::default();
    *custodian.record.borrow_mut() = Some("wbc9.something-from-the-future".into());
    let err = backup(&keychain, &custodian, &MemoryKeyMethod::default()).unwrap_err();
    assert_eq!(err.code(), "INVALID_CUSTODIAN_SHARE");
    assert_eq!(custodian.record.borrow().as_deref(), Some("wbc9.something-from-the-future"));
}

#[test]
fn empty_keychain_and_wrong_method_are_typed_errors() {
    let empty = MemoryKeychain::default();
    let custodian = MemoryStore::default();
    let err = backup(&empty, &custodian, &MemoryKeyMethod::default()).unwrap_err();
    assert_eq!(err.code(), "KEYCHAIN_UNAVAILABLE");
    let blank = MemoryKeychain::with(b"");
    let err = backup(&blank, &custodian, &MemoryKeyMethod::default()).unwrap_err();
    assert_eq!(err.code(), "KEYCHAIN_UNAVAILABLE");

    let keychain = MemoryKeychain::with(SHARES);
    let text = backup(&keychain, &custodian, &password("pw")).unwrap();
    assert_eq!(recover(&text, &custodian, &MemoryKeyMethod::default()).unwrap_err().code(), "METHOD_MISMATCH");
    assert_eq!(recover(&text, &custodian, &password("pW")).unwrap_err().code(), "WRONG_PASSWORD");
}

#[test]
fn oversized_shares_are_rejected_before_any_work() {
    let keychain = MemoryKeychain::with(&vec![b'a'; flow::MAX_SHARES_LEN + 1]);
    let custodian = MemoryStore::default();
    let progress = RecordingProgress::default();
    let err = backup_with(&keychain, &custodian, &MemoryKeyMethod::default(), &progress).unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert!(custodian.record.borrow().is_none());
    // The largest accepted shares still round-trip.
    let keychain = MemoryKeychain::with(&vec![b'z'; flow::MAX_SHARES_LEN]);
    let method = MemoryKeyMethod::default();
    let text = backup_with(&keychain, &custodian, &method, &progress).unwrap();
    assert_eq!(recover(&text, &custodian, &method).unwrap().len(), flow::MAX_SHARES_LEN);
}

/// The app's Argon2id (React Native's native module) in place of the
/// module's: same envelope both ways, and a wrong key is `WRONG_PASSWORD`.
#[test]
fn app_key_derivation_interoperates_and_a_wrong_key_is_wrong_password() {
    use wallet_backup_core::KeyDerivation;
    let app = |tamper: bool| -> KeyDerivation {
        Box::new(move |password, salt, params| {
            let mut key = params.derive(password, salt).map(|k| Zeroizing::new(k.expose().to_vec()));
            if let (true, Ok(k)) = (tamper, key.as_mut()) {
                k[0] ^= 1;
            }
            Box::pin(async move { key })
        })
    };
    let with_app = |p: &str, tamper: bool| password(p).with_key_derivation(app(tamper));

    let keychain = MemoryKeychain::with(SHARES);
    let custodian = MemoryStore::default();
    let sealed_by_app = backup(&keychain, &custodian, &with_app("pw", false)).unwrap();
    assert_eq!(recover(&sealed_by_app, &custodian, &password("pw")).unwrap(), SHARES);
    assert_eq!(recover(&sealed_by_app, &custodian, &with_app("pw", true)), Err(Error::WrongPassword(None)));
    assert_eq!(recover(&sealed_by_app, &custodian, &with_app("other", false)), Err(Error::WrongPassword(None)));

    let custodian = MemoryStore::default();
    let sealed_in_module = backup(&keychain, &custodian, &password("pw")).unwrap();
    assert_eq!(recover(&sealed_in_module, &custodian, &with_app("pw", false)).unwrap(), SHARES);
}

/// FORMAT.md §2 and §7 step 15: S is UTF-8. Shares that are not are never
/// backed up (nothing is stored), and an envelope holding such shares (made
/// by another encoder) is refused before the keychain is written.
#[test]
fn shares_that_are_not_utf8_are_neither_backed_up_nor_restored() {
    use wallet_backup_core::testing::format;
    use wallet_backup_core::testing::record::CustodianRecord as Record;
    use wallet_backup_core::testing::split;
    use wallet_backup_core::{Header, MethodId, SecretKey};

    // A lone surrogate as WTF-8 (what a JS string with one would become).
    let not_utf8: &[u8] = b"{\"s\":\"\xed\xa0\x80\"}";
    let keychain = MemoryKeychain::with(not_utf8);
    let custodian = MemoryStore::default();
    let progress = RecordingProgress::default();
    let err = backup_with(&keychain, &custodian, &MemoryKeyMethod::default(), &progress).unwrap_err();
    assert_eq!(err.code(), "KEYCHAIN_UNAVAILABLE");
    assert!(custodian.record.borrow().is_none(), "nothing may be stored");

    let method = MemoryKeyMethod::default();
    let backup_id = [3; 16];
    let key = SecretKey::from_bytes([4; 32]);
    method.keys.borrow_mut().push((backup_id, *key.expose()));
    let halves = split::split(not_utf8).unwrap();
    let header = Header { method: MethodId::Custom, backup_id, method_params: vec![], context: vec![] };
    let text = format::seal(&header, &key, &split::client_plaintext(not_utf8, &halves.client)).unwrap();
    *custodian.record.borrow_mut() =
        Some(Record::default().with_pending(backup_id, &halves.custodian).encode().to_string());
    let keychain = MemoryKeychain::default();
    let err = block_on(flow::recover(&text, &keychain, &StoredRecord::custodian(&custodian), &method, &progress))
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_CIPHERTEXT");
    assert!(keychain.shares.borrow().is_none(), "the keychain was written");
}

/// FORMAT.md §7: step 9 (the method parameters) comes before the custodian
/// is asked (step 10), and the custodian before any key (step 11).
#[test]
fn parameters_then_custodian_then_key() {
    let keychain = MemoryKeychain::with(SHARES);
    let custodian = MemoryStore::default();
    let method = MemoryKeyMethod::default();
    let text = backup(&keychain, &custodian, &method).unwrap();
    let nothing = MemoryStore::default();
    // Intact envelope, nothing at the custodian: the custodian's error, and
    // the method was not asked for a key (it would answer WRONG_BACKUP_KEY).
    assert_eq!(recover(&text, &nothing, &MemoryKeyMethod::default()).unwrap_err().code(), "INVALID_CUSTODIAN_SHARE");

    // Non-empty parameters for a method that records none: the cipherText's
    // error, whatever the custodian holds.
    use base64ct::{Base64UrlUnpadded, Encoding};
    use sha2::{Digest, Sha256};
    let mut b = Base64UrlUnpadded::decode_vec(&text[5..]).unwrap();
    b.truncate(b.len() - 16);
    b[21..23].copy_from_slice(&1u16.to_be_bytes());
    b.insert(23, 0);
    let sum = Sha256::digest(&b);
    b.extend_from_slice(&sum[..16]);
    let with_params = format!("wbk1.{}", Base64UrlUnpadded::encode_string(&b));
    for c in [&nothing, &custodian] {
        assert_eq!(recover(&with_params, c, &method).unwrap_err().code(), "INVALID_CIPHERTEXT");
    }
}
