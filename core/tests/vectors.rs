//! Runs every file under tests/vectors/ through recovery with the in-memory
//! adapters and checks the expected shares or error code. Password vectors
//! recover with the password method, the password NFC-normalised as the
//! binding does (FORMAT.md §3.4.1); passkey vectors with the core's passkey
//! method over [`VectorCeremonies`], which answers as the authenticator
//! (the vector's credential and PRF output) or the service's enclave (the
//! vector's key) would; iCloud vectors with the kept-key method over a keys
//! record holding the vector's `keysRecord`. Guess-limited PIN vectors
//! (`guessLimited`) recover through [`VectorGuard`], the backup service's
//! guard as FORMAT.md §3.4.1.1 says it acts: it evaluates under the vector's
//! `oprfKey` and releases the record's half only for a proof made with the
//! vector's `unlockKey`.

mod common;

use std::cell::{Cell, RefCell};
use std::fs;
use std::path::PathBuf;

use common::block_on;
use unicode_normalization::UnicodeNormalization;
use wallet_backup_core::testing::passkey::{prf_backup_key, PasskeyMode, PasskeyParams};
use wallet_backup_core::testing::pin_guard;
use wallet_backup_core::testing::record::{CustodianRecord as Record, Entry};
use wallet_backup_core::testing::{format, split, MemoryKeychain, MemoryStore, RecordingProgress};
use wallet_backup_core::{
    self as flow, BackupId, BackupMethod, BackupStore, Error, Evaluation, GuardStatus, KeptKeyMethod, MethodId,
    PasskeyAssertion, PasskeyCeremonies, PasskeyMethod, PasswordMethod, PinGuard, SecretKey, Status, StoredRecord,
    StringStore, PRF_SALT_LEN,
};
use zeroize::Zeroizing;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn hex32(case: &serde_json::Value, field: &str) -> Option<[u8; 32]> {
    case.get(field).map(|v| unhex(v.as_str().unwrap()).try_into().expect("32 bytes"))
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd hex");
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// The authenticator and the enclave of a passkey vector. Recovery only
/// asserts (PRF mode) or fetches (enclave mode); backing up is not a vector.
struct VectorCeremonies<'a> {
    /// The credential that answers (FORMAT.md §9: usually the envelope's).
    credential_id: Vec<u8>,
    /// The credential recovery asked for (PRF mode).
    asked: &'a RefCell<Option<Vec<u8>>>,
    prf_output: Option<[u8; 32]>,
    backup_key: Option<[u8; 32]>,
    /// How many ceremonies recovery ran.
    ceremonies: &'a Cell<u32>,
}

impl PasskeyCeremonies for VectorCeremonies<'_> {
    async fn assert_for_backup(&self, _: Option<&[u8; PRF_SALT_LEN]>) -> Result<PasskeyAssertion, Error> {
        unreachable!("vectors only recover")
    }
    async fn store_in_enclave(&self, _: &BackupId, _: &SecretKey) -> Result<(), Error> {
        unreachable!("vectors only recover")
    }
    async fn assert_for_prf(&self, credential_id: &[u8], _: &[u8; PRF_SALT_LEN]) -> Result<PasskeyAssertion, Error> {
        self.ceremonies.set(self.ceremonies.get() + 1);
        *self.asked.borrow_mut() = Some(credential_id.to_vec());
        let prf_output = self.prf_output.map(Zeroizing::new);
        Ok(PasskeyAssertion { credential_id: self.credential_id.clone(), prf_output, user_verified: true })
    }
    async fn fetch_from_enclave(&self, _: &BackupId) -> Result<SecretKey, Error> {
        self.ceremonies.set(self.ceremonies.get() + 1);
        self.backup_key.map(SecretKey::from_bytes).ok_or(Error::BackupKeyNotFound)
    }
}

/// The backup service's guard of a guess-limited vector, over the vector's
/// custodian record.
struct VectorGuard<'a> {
    record: StoredRecord<&'a MemoryStore, Entry>,
    oprf_key: [u8; 32],
    unlock_key: [u8; 32],
    challenge: RefCell<Option<[u8; 32]>>,
}

impl BackupStore for VectorGuard<'_> {
    type Pending = ();
    async fn begin(&self, _: MethodId, _: &BackupId, _: &[u8]) -> Result<(), Error> {
        unreachable!("vectors only recover")
    }
    async fn read_back(&self, _: &()) -> Result<Zeroizing<Vec<u8>>, Error> {
        unreachable!("vectors only recover")
    }
    async fn complete(&self, _: &(), _: &str) -> Result<(), Error> {
        unreachable!("vectors only recover")
    }
    async fn custodian_half(&self, _: MethodId, _: &BackupId) -> Result<Zeroizing<Vec<u8>>, Error> {
        panic!("a guess-limited backup's half is released only for the proof")
    }
}

impl PinGuard for VectorGuard<'_> {
    async fn guard_status(&self, _: &BackupId) -> Result<GuardStatus, Error> {
        Ok(GuardStatus { guess_limit: 10, guesses_left: 10 })
    }
    async fn guard_evaluate(&self, _: &BackupId, blinded: &[u8; 32]) -> Result<Evaluation, Error> {
        let evaluated_element = pin_guard::blind_evaluate(&self.oprf_key, blinded);
        let challenge = [7; 32];
        *self.challenge.borrow_mut() = Some(challenge);
        Ok(Evaluation { evaluated_element, challenge, guesses_left: 9 })
    }
    async fn guard_unlock(
        &self,
        id: &BackupId,
        challenge: &[u8; 32],
        proof: &[u8; 32],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        assert_eq!(self.challenge.borrow_mut().take().as_ref(), Some(challenge), "the proof answers the challenge");
        let expected = pin_guard::unlock_proof(&SecretKey::from_bytes(self.unlock_key), id, challenge).unwrap();
        assert_eq!(&expected, proof, "the module's U is the vector's unlockKey");
        self.record.custodian_half(MethodId::Password, id).await
    }
}

/// Recovers `case` with `method` into an in-memory keychain.
fn recover_with(case: &serde_json::Value, method: &impl BackupMethod) -> Result<String, &'static str> {
    let text = case["cipherText"].as_str().unwrap();
    let record = case["custodianRecord"].as_str().unwrap();
    let keychain = MemoryKeychain::default();
    let custodian = MemoryStore::default();
    *custodian.record.borrow_mut() = Some(record.to_string());
    let progress = RecordingProgress::default();
    let result = match case.get("guessLimited") {
        None => block_on(flow::recover(text, &keychain, &StoredRecord::custodian(&custodian), method, &progress)),
        Some(guard) => {
            let key = |name: &str| unhex(guard[name].as_str().unwrap()).try_into().expect("32 bytes");
            let guard = VectorGuard {
                record: StoredRecord::custodian(&custodian),
                oprf_key: key("oprfKey"),
                unlock_key: key("unlockKey"),
                challenge: RefCell::new(None),
            };
            block_on(flow::recover(text, &keychain, &guard, method, &progress))
        }
    };
    let done = progress.seen.borrow().iter().any(|(s, _)| *s == Status::Done);
    match result {
        Ok(()) => {
            assert!(done, "success without Done");
            Ok(String::from_utf8(keychain.shares.borrow().clone().unwrap()).unwrap())
        }
        Err(e) => {
            assert!(!done, "failure after Done");
            assert!(keychain.shares.borrow().is_none(), "failure wrote to the keychain");
            Err(e.code())
        }
    }
}

/// The key storage of an iCloud vector: one string, never written by recovery.
struct VectorKeys(Option<String>);

impl StringStore for VectorKeys {
    async fn read(&self) -> Result<Option<Zeroizing<String>>, Error> {
        Ok(self.0.clone().map(Zeroizing::new))
    }
    async fn write(&self, _: &str) -> Result<(), Error> {
        unreachable!("recovery never writes the keys record")
    }
}

fn run(case: &serde_json::Value) -> Result<String, &'static str> {
    match case["method"].as_str().unwrap() {
        "password" => {
            // The binding NFC-normalises the password before the core sees its UTF-8.
            let password: String = case["password"].as_str().unwrap().nfc().collect();
            let method = PasswordMethod::new(Zeroizing::new(password.into_bytes())).map_err(|e| e.code())?;
            recover_with(case, &method)
        }
        "icloud" => {
            let keys = VectorKeys(case["keysRecord"].as_str().map(str::to_string));
            let method = KeptKeyMethod::new(MethodId::ICloud, StoredRecord::keys(keys)).unwrap();
            recover_with(case, &method)
        }
        "passkey" => {
            let count = Cell::new(0);
            let asked = RefCell::new(None);
            let ceremonies = VectorCeremonies {
                credential_id: unhex(case["credentialId"].as_str().unwrap()),
                asked: &asked,
                prf_output: hex32(case, "prfOutput"),
                backup_key: hex32(case, "backupKey"),
                ceremonies: &count,
            };
            let got = recover_with(case, &PasskeyMethod::new(ceremonies, false));
            if got == Err("INVALID_CIPHERTEXT") {
                // Malformed parameters are refused before any passkey ceremony.
                assert_eq!(count.get(), 0, "a ceremony ran for malformed parameters");
            } else if case.get("expectedShares").is_some() || got == Err("WRONG_BACKUP_KEY") {
                assert_eq!(count.get(), 1, "one ceremony per recovery");
            }
            if let Some(asked) = asked.borrow().as_ref() {
                // PRF mode asks for the credential the envelope names, whoever answers.
                let envelope = format::decode(case["cipherText"].as_str().unwrap()).unwrap();
                let params = PasskeyParams::decode(&envelope.header.method_params).unwrap();
                assert_eq!(asked, &params.credential_id, "asked for another credential than the envelope names");
            }
            got
        }
        other => panic!("unknown method {other}"),
    }
}

#[test]
fn every_vector_gives_its_expected_result() {
    let mut names = Vec::new();
    for entry in fs::read_dir(vectors_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let case: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let got = run(&case);
        match (case.get("expectedShares"), case.get("expectedError")) {
            (Some(shares), None) => assert_eq!(got, Ok(shares.as_str().unwrap().to_string()), "{name}"),
            (None, Some(code)) => assert_eq!(got, Err(code.as_str().unwrap()), "{name}"),
            _ => panic!("{name}: needs exactly one of expectedShares / expectedError"),
        }
        names.push(name);
    }
    assert!(names.len() >= 96, "only {} vectors", names.len());
    assert!(names.iter().filter(|n| n.contains("guess-limited")).count() >= 3);
    assert!(names.iter().filter(|n| n.starts_with("valid-")).count() >= 13);
    assert!(names.iter().filter(|n| n.contains("passkey")).count() >= 11);
    assert!(names.iter().filter(|n| n.contains("icloud")).count() >= 5);
}

/// The valid passkey vectors opened by hand, as FORMAT.md §3.4.3 and §4 say:
/// the key from `prf_backup_key` (PRF mode) or the vector's `backupKey`
/// (enclave mode), then the envelope's own open, then the custodian half.
#[test]
fn valid_passkey_vectors_open_with_the_key_the_spec_derives() {
    let mut modes = Vec::new();
    for name in ["valid-passkey-prf", "valid-passkey-enclave"] {
        let path = vectors_dir().join(format!("{name}.json"));
        let case: serde_json::Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
        let envelope = format::decode(case["cipherText"].as_str().unwrap()).unwrap();
        let params = PasskeyParams::decode(&envelope.header.method_params).unwrap();
        assert_eq!(params.credential_id, unhex(case["credentialId"].as_str().unwrap()), "{name}");
        let key = match (params.prf_salt, hex32(&case, "prfOutput"), hex32(&case, "backupKey")) {
            (Some(salt), Some(prf), None) => prf_backup_key(&prf, &salt, &envelope.header.backup_id),
            (None, None, Some(key)) => SecretKey::from_bytes(key),
            _ => panic!("{name}: the inputs do not match the envelope's mode"),
        };
        let opened = envelope.open(&key).unwrap();
        let record = Record::decode(case["custodianRecord"].as_str().unwrap()).unwrap();
        let half = &record.find(&envelope.header.backup_id).expect("the record holds this backup").share;
        let shares = split::restore(&opened, half).unwrap();
        assert_eq!(std::str::from_utf8(&shares).unwrap(), case["expectedShares"].as_str().unwrap(), "{name}");
        modes.push(params.mode);
    }
    assert_eq!(modes, [PasskeyMode::Prf, PasskeyMode::Enclave]);
}

#[test]
fn index_rs_lists_exactly_the_vector_files() {
    let index = fs::read_to_string(vectors_dir().join("index.rs")).unwrap();
    let mut listed: Vec<String> = index
        .lines()
        .filter_map(|l| l.trim().strip_prefix("(\"").map(|r| r.split('"').next().unwrap().to_string()))
        .collect();
    let mut files: Vec<String> = fs::read_dir(vectors_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "json").then(|| p.file_stem().unwrap().to_string_lossy().to_string())
        })
        .collect();
    listed.sort();
    files.sort();
    assert_eq!(listed, files, "run `cargo run -p wallet-backup-core --example make_vectors`");
}
