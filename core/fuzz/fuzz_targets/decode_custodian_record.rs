//! Fuzzes the custodian record decoder and the record operations on what
//! it accepts. Must never panic.
#![no_main]

use base64ct::{Base64UrlUnpadded, Encoding};
use libfuzzer_sys::fuzz_target;
use wallet_backup_core::testing::record::{CustodianRecord as Record, RECORD_PREFIX};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        let _ = Record::decode(text);
    }
    let text = format!("{RECORD_PREFIX}{}", Base64UrlUnpadded::encode_string(data));
    if let Ok(record) = Record::decode(&text) {
        let again = record.with_pending([1; 16], b"x").with_complete(&[1; 16]).expect("the pending entry is there");
        assert!(Record::decode(&again.encode()).is_ok());
    }
});
