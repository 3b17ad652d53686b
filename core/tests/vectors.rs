//! Runs every file under tests/vectors/ through recovery with the in-memory
//! adapters and checks the expected shares or error code.

mod common;

use std::fs;
use std::path::PathBuf;

use common::block_on;
use wallet_backup_core::adapters::{MemoryCustodian, MemoryKeychain, RecordingProgress};
use wallet_backup_core::flow;
use wallet_backup_core::methods::password::PasswordMethod;
use wallet_backup_core::status::Status;
use wallet_backup_core::store::RecordStore;
use zeroize::Zeroizing;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn run(case: &serde_json::Value) -> Result<String, &'static str> {
    let text = case["cipherText"].as_str().unwrap();
    let password = case["password"].as_str().unwrap();
    let record = case["custodianRecord"].as_str().unwrap();
    let method = PasswordMethod::new(Zeroizing::new(password.as_bytes().to_vec())).map_err(|e| e.code())?;
    let keychain = MemoryKeychain::default();
    let custodian = MemoryCustodian::default();
    *custodian.record.borrow_mut() = Some(record.to_string());
    let progress = RecordingProgress::default();
    let result = block_on(flow::recover(text, &keychain, &RecordStore(&custodian), &method, &progress));
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
    assert!(names.len() >= 40, "only {} vectors", names.len());
    assert!(names.iter().filter(|n| n.starts_with("valid-")).count() >= 3);
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
