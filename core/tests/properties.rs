//! Property tests of the format: round trips for any shares, no panic and
//! no wrong plaintext for any input or mutation.

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::{block_on, MemoryKeyMethod};
use proptest::prelude::*;
use wallet_backup_core::adapters::{MemoryCustodian, MemoryKeychain, RecordingProgress};
use wallet_backup_core::custodian::Record;
use wallet_backup_core::flow;
use wallet_backup_core::format::{self, Header, TEXT_PREFIX};
use wallet_backup_core::keys::SecretKey;
use wallet_backup_core::method::MethodId;
use wallet_backup_core::store::RecordStore;

fn header(context: Vec<u8>) -> Header {
    Header { method: MethodId::Custom, backup_id: [3; 16], method_params: vec![], context }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_shares_round_trip_through_the_flow(shares in "(?s).{1,1000}") {
        // FORMAT.md §2: the shares are a string, S its UTF-8.
        let shares = shares.into_bytes();
        let keychain = MemoryKeychain::with(&shares);
        let custodian = MemoryCustodian::default();
        let method = MemoryKeyMethod::default();
        let text = block_on(flow::backup(&keychain, &RecordStore(&custodian), &method, &RecordingProgress::default(), b"")).unwrap();
        prop_assert!(text.starts_with(TEXT_PREFIX));
        prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
        let restored = MemoryKeychain::default();
        block_on(flow::recover(&text, &restored, &RecordStore(&custodian), &method, &RecordingProgress::default())).unwrap();
        prop_assert_eq!(restored.shares.borrow().clone().unwrap(), shares);
    }

    #[test]
    fn shares_that_are_not_utf8_are_never_backed_up(shares in proptest::collection::vec(any::<u8>(), 1..3000)) {
        prop_assume!(std::str::from_utf8(&shares).is_err());
        let keychain = MemoryKeychain::with(&shares);
        let custodian = MemoryCustodian::default();
        let err = block_on(flow::backup(&keychain, &RecordStore(&custodian), &MemoryKeyMethod::default(), &RecordingProgress::default(), b"")).unwrap_err();
        prop_assert_eq!(err.code(), "KEYCHAIN_UNAVAILABLE");
        prop_assert!(custodian.record.borrow().is_none());
    }

    #[test]
    fn decode_never_panics_on_any_string(s in ".{0,400}") {
        let _ = format::decode(&s);
        let _ = Record::decode(&s);
    }

    #[test]
    fn decode_never_panics_on_any_envelope_bytes(b in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = format!("{TEXT_PREFIX}{}", Base64UrlUnpadded::encode_string(&b));
        let _ = format::decode(&text);
        let _ = Record::decode(&format!("wbc1.{}", Base64UrlUnpadded::encode_string(&b)));
    }

    #[test]
    fn any_byte_change_is_rejected(
        pt in proptest::collection::vec(any::<u8>(), 1..200),
        context in proptest::collection::vec(any::<u8>(), 0..40),
        pos in any::<proptest::sample::Index>(),
        xor in 1u8..=255,
        fix_checksum in any::<bool>(),
    ) {
        let key = SecretKey::random().unwrap();
        let text = format::seal(&header(context), &key, &pt).unwrap();
        let mut b = Base64UrlUnpadded::decode_vec(&text[TEXT_PREFIX.len()..]).unwrap();
        // With the checksum recomputed, a change inside the checksum would be undone.
        let i = pos.index(if fix_checksum { b.len() - 16 } else { b.len() });
        b[i] ^= xor;
        if fix_checksum {
            use sha2::{Digest, Sha256};
            let n = b.len() - 16;
            let sum = Sha256::digest(&b[..n]);
            b[n..].copy_from_slice(&sum[..16]);
        }
        let mutated = format!("{TEXT_PREFIX}{}", Base64UrlUnpadded::encode_string(&b));
        let opened = format::decode(&mutated).and_then(|e| e.open(&key));
        prop_assert!(opened.is_err(), "mutation at {} accepted", i);
    }
}
