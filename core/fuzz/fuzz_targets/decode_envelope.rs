//! Fuzzes the envelope decoder: as raw text and as base64url of raw bytes
//! behind a valid prefix, then opening with a fixed key. Must never panic.
#![no_main]

use base64ct::{Base64UrlUnpadded, Encoding};
use libfuzzer_sys::fuzz_target;
use wallet_backup_core::testing::format::{decode, TEXT_PREFIX};
use wallet_backup_core::testing::password::decode_params;
use wallet_backup_core::SecretKey;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        let _ = decode(text);
    }
    let text = format!("{TEXT_PREFIX}{}", Base64UrlUnpadded::encode_string(data));
    if let Ok(envelope) = decode(&text) {
        let _ = decode_params(&envelope.header.method_params);
        let _ = envelope.open(&SecretKey::from_bytes([7; 32]));
    }
});
