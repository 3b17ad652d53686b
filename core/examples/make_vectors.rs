//! Writes the test vectors under `tests/vectors/` (one JSON file per case)
//! and `tests/vectors/index.rs`, the list the wasm tests embed.
//!
//! Run: `cargo run -p wallet-backup-core --example make_vectors`.
//! Every random value is replaced by a labelled SHA-256 stream so the files
//! are reproducible; invalid cases mutate a valid envelope and, where the
//! case targets a check after the checksum, recompute the checksum.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use base64ct::{Base64UrlUnpadded, Encoding};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use wallet_backup_core::testing::format::{self, CHECKSUM_LEN, MAX_CONTEXT_LEN, MAX_PARAMS_LEN, TAG_LEN, TEXT_PREFIX};
use wallet_backup_core::testing::passkey::{prf_backup_key, PasskeyMode, PasskeyParams};
use wallet_backup_core::testing::password::{encode_guess_limited_params, encode_params};
use wallet_backup_core::testing::pin_guard;
use wallet_backup_core::testing::record::{CustodianRecord as Record, KeyRecord, RECORD_MAGIC, RECORD_PREFIX};
use wallet_backup_core::testing::split;
use wallet_backup_core::{Argon2idParams, Header, MethodId, SecretKey, MAX_SHARES_LEN};

/// Deterministic stand-in for random bytes.
fn fixed<const N: usize>(label: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        let h = Sha256::new().chain_update(label).chain_update([i as u8]).finalize();
        chunk.copy_from_slice(&h[..chunk.len()]);
    }
    out
}

/// What recovery is given besides the cipherText and the custodian record.
#[derive(Clone)]
enum Inputs {
    /// The password method: the password the user types.
    Password(&'static str),
    /// The passkey method: the credential the envelope names, and what the
    /// authenticator (PRF mode) or the service's enclave (enclave mode)
    /// gives back for it.
    Passkey { credential_id: Vec<u8>, prf_output: Option<[u8; 32]>, backup_key: Option<[u8; 32]> },
    /// The iCloud method: the keys record (FORMAT.md §3.4.4) its storage holds.
    ICloud { keys_record: String },
    /// A guess-limited PIN (FORMAT.md §3.4.1.1): the PIN typed, and the OPRF
    /// key `k` and unlock key `U` the backup service keeps for the backup.
    GuessLimited { password: &'static str, oprf_key: [u8; 32], unlock_key: [u8; 32] },
}

struct Valid {
    text: String,
    record: String,
    inputs: Inputs,
    shares: &'static str,
}

/// Seals `shares` with a fixed backup id, nonce and client pad (all from
/// `label`) and writes the custodian record of the same backup.
fn seal_fixed(
    label: &str,
    method: MethodId,
    method_params: Vec<u8>,
    key: &SecretKey,
    shares: &[u8],
    context: &[u8],
) -> (String, String) {
    let backup_id = fixed::<16>(&format!("{label}/backup_id"));
    let nonce = fixed::<12>(&format!("{label}/nonce"));
    let client: Vec<u8> = (0..shares.len()).map(|i| fixed::<32>(&format!("{label}/pad/{}", i / 32))[i % 32]).collect();
    let custodian = split::combine(shares, &client).unwrap();
    let header = Header { method, backup_id, method_params, context: context.to_vec() };
    let plaintext = split::client_plaintext(shares, &client);
    let text = format::seal_with_nonce(&header, key, &plaintext, &nonce).unwrap();
    let record = Record::default()
        .with_pending(backup_id, &custodian)
        .with_complete(&backup_id)
        .expect("just added")
        .encode()
        .to_string();
    (text, record)
}

fn make_valid(label: &str, password: &'static str, shares: &'static str, kdf: Argon2idParams, context: &[u8]) -> Valid {
    let salt = fixed::<16>(&format!("{label}/salt"));
    let key = kdf.derive(password.as_bytes(), &salt).unwrap();
    let (text, record) =
        seal_fixed(label, MethodId::Password, encode_params(&kdf, &salt), &key, shares.as_bytes(), context);
    Valid { text, record, inputs: Inputs::Password(password), shares }
}

/// A guess-limited PIN backup (FORMAT.md §3.4.1.1): K from the OPRF over
/// the Argon2id output, under an OPRF key derived from a fixed seed.
fn make_guess_limited(label: &str, password: &'static str, shares: &'static str) -> Valid {
    let kdf = Argon2idParams::default();
    let salt = fixed::<16>(&format!("{label}/salt"));
    let backup_id = fixed::<16>(&format!("{label}/backup_id"));
    let hardened = kdf.derive(password.as_bytes(), &salt).unwrap();
    let (key, registration) =
        pin_guard::register_with_seed(hardened, &backup_id, &fixed::<32>(&format!("{label}/oprf_seed"))).unwrap();
    let params = encode_guess_limited_params(&kdf, &salt);
    let (text, record) = seal_fixed(label, MethodId::Password, params, &key, shares.as_bytes(), b"");
    let inputs = Inputs::GuessLimited {
        password,
        oprf_key: *registration.oprf_key,
        unlock_key: *registration.unlock_key.expose(),
    };
    Valid { text, record, inputs, shares }
}

/// What an authenticator with the credential secret `secret` returns for
/// `prf.eval.first = salt`: HMAC-SHA-256(secret, SHA-256("WebAuthn PRF" ‖ 00 ‖ salt)).
fn authenticator_prf(secret: &[u8; 32], salt: &[u8; 32]) -> [u8; 32] {
    let input = Sha256::new().chain_update(b"WebAuthn PRF").chain_update([0u8]).chain_update(salt).finalize();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(&input);
    mac.finalize().into_bytes().into()
}

/// A PRF-mode passkey backup (FORMAT.md §3.4.3): K = HKDF(prf_salt, P, label ‖ backup_id).
fn make_passkey_prf(label: &str, shares: &'static str, credential_id: Vec<u8>, context: &[u8]) -> Valid {
    let backup_id = fixed::<16>(&format!("{label}/backup_id"));
    let prf_salt = fixed::<32>(&format!("{label}/prf_salt"));
    let prf_output = authenticator_prf(&fixed::<32>(&format!("{label}/credential_secret")), &prf_salt);
    let key = prf_backup_key(&prf_output, &prf_salt, &backup_id);
    let params =
        PasskeyParams { mode: PasskeyMode::Prf, credential_id: credential_id.clone(), prf_salt: Some(prf_salt) };
    let (text, record) =
        seal_fixed(label, MethodId::Passkey, params.encode().unwrap(), &key, shares.as_bytes(), context);
    Valid {
        text,
        record,
        inputs: Inputs::Passkey { credential_id, prf_output: Some(prf_output), backup_key: None },
        shares,
    }
}

/// An enclave-mode passkey backup: K is random (here: fixed) and kept by the enclave.
fn make_passkey_enclave(label: &str, shares: &'static str, credential_id: Vec<u8>, context: &[u8]) -> Valid {
    let key = fixed::<32>(&format!("{label}/backup_key"));
    let params = PasskeyParams { mode: PasskeyMode::Enclave, credential_id: credential_id.clone(), prf_salt: None };
    let (text, record) = seal_fixed(
        label,
        MethodId::Passkey,
        params.encode().unwrap(),
        &SecretKey::from_bytes(key),
        shares.as_bytes(),
        context,
    );
    Valid { text, record, inputs: Inputs::Passkey { credential_id, prf_output: None, backup_key: Some(key) }, shares }
}

/// `v` with other recovery inputs.
fn with_inputs(v: &Valid, inputs: Inputs) -> Valid {
    Valid { text: v.text.clone(), record: v.record.clone(), inputs, shares: v.shares }
}

/// A password or shares made at run time, for the `&'static str` fields.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// A custodian record with exactly these entries (`count` may disagree
/// with them) and a right checksum (FORMAT.md §8): for records a writer
/// never makes.
fn raw_record(count: u8, entries: &[(&[u8; 16], u8, &[u8])]) -> String {
    let mut b = RECORD_MAGIC.to_vec();
    b.extend_from_slice(&[1, count]);
    for (id, state, half) in entries {
        b.extend_from_slice(&id[..]);
        b.push(*state);
        b.extend_from_slice(&(half.len() as u32).to_be_bytes());
        b.extend_from_slice(half);
    }
    let sum = Sha256::digest(&b);
    b.extend_from_slice(&sum[..CHECKSUM_LEN]);
    format!("{RECORD_PREFIX}{}", Base64UrlUnpadded::encode_string(&b))
}

/// The backup id and custodian half of `v`'s backup, from its record.
fn entry_of(v: &Valid) -> ([u8; 16], Vec<u8>) {
    let record = Record::decode(&v.record).unwrap();
    let entry = &record.entries()[0];
    (entry.backup_id, entry.share.to_vec())
}

/// `text` with an unused low bit of its last base64url character set: the
/// same bytes under a non-canonical text (FORMAT.md §1).
fn with_trailing_bits(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let body_len = text.len() - TEXT_PREFIX.len();
    assert_ne!(body_len % 4, 0, "a whole number of quanta has no unused bits");
    let last = ALPHABET.iter().position(|&c| c == *text.as_bytes().last().unwrap()).unwrap();
    assert_eq!(last & 1, 0, "canonical text has its unused bits zero");
    let mut out = text[..text.len() - 1].to_string();
    out.push(ALPHABET[last | 1] as char);
    out
}

/// The longest valid envelope (FORMAT.md §7 step 1): a passkey envelope
/// with 1024 bytes of enclave-mode params (a 1021-byte credential id),
/// 1024 bytes of context and `ct_len` 2^20 + 16. The ciphertext bytes are
/// zero (no step before step 10 looks at them, and zeros keep the file
/// compressible); the checksum is right.
fn longest_envelope() -> String {
    let params = PasskeyParams {
        mode: PasskeyMode::Enclave,
        credential_id: fixed::<1021>("longest/credential_id").to_vec(),
        prf_salt: None,
    };
    let params = params.encode().unwrap();
    assert_eq!(params.len(), MAX_PARAMS_LEN);
    let ct_len = MAX_SHARES_LEN + split::DIGEST_LEN + TAG_LEN;
    let mut b = b"wbk\x01".to_vec();
    b.push(MethodId::Passkey as u8);
    b.extend_from_slice(&fixed::<16>("longest/backup_id"));
    b.extend_from_slice(&(params.len() as u16).to_be_bytes());
    b.extend_from_slice(&params);
    b.extend_from_slice(&(MAX_CONTEXT_LEN as u16).to_be_bytes());
    b.extend_from_slice(&fixed::<MAX_CONTEXT_LEN>("longest/context"));
    b.extend_from_slice(&fixed::<12>("longest/nonce"));
    b.extend_from_slice(&fixed::<32>("longest/commitment"));
    b.extend_from_slice(&(ct_len as u32).to_be_bytes());
    b.resize(b.len() + ct_len + CHECKSUM_LEN, 0);
    text_of(&fix_checksum(b))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn bytes_of(text: &str) -> Vec<u8> {
    Base64UrlUnpadded::decode_vec(&text[TEXT_PREFIX.len()..]).unwrap()
}

fn text_of(bytes: &[u8]) -> String {
    format!("{TEXT_PREFIX}{}", Base64UrlUnpadded::encode_string(bytes))
}

/// Recomputes the trailing checksum after a mutation.
fn fix_checksum(mut b: Vec<u8>) -> Vec<u8> {
    let n = b.len() - CHECKSUM_LEN;
    let sum = Sha256::digest(&b[..n]);
    b[n..].copy_from_slice(&sum[..CHECKSUM_LEN]);
    b
}

struct Case {
    name: String,
    why: String,
    text: String,
    inputs: Inputs,
    record: String,
    expected: Result<String, &'static str>,
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
    fs::create_dir_all(&dir).unwrap();
    for entry in fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            fs::remove_file(p).unwrap();
        }
    }

    let portal_shares = r#"{"secp256k1":{"id":"cm2v1wallet0001","share":"7b2270223a223130303131222c2271223a22...demo"},"ed25519":{"id":"cm2v1wallet0002","share":"c0ffee"}}"#;
    let base = make_valid("base", "correct horse battery staple", portal_shares, Argon2idParams::default(), b"");
    let pin = make_valid("pin", "\u{00e9}t\u{00e9}-0421", "x", Argon2idParams::default(), b"");
    let strong = make_valid(
        "strong",
        "p",
        "{\"secp256k1\":{\"id\":\"a\",\"share\":\"01\"}}",
        Argon2idParams { memory_kib: 32768, iterations: 3, parallelism: 2 },
        b"client:demo/wallet:0001",
    );
    let other = make_valid("other", "correct horse battery staple", portal_shares, Argon2idParams::default(), b"");

    let mut cases: Vec<Case> = Vec::new();
    let mut add =
        |name: &str, why: &str, text: String, v: &Valid, record: Option<&str>, expected: Result<&str, &'static str>| {
            cases.push(Case {
                name: name.to_string(),
                why: why.to_string(),
                text,
                inputs: v.inputs.clone(),
                record: record.unwrap_or(&v.record).to_string(),
                expected: expected.map(str::to_string),
            });
        };

    // Valid cases.
    add(
        "valid-default-params",
        "Portal-style shares, default Argon2id (m=19456, t=2, p=1), empty context",
        base.text.clone(),
        &base,
        None,
        Ok(base.shares),
    );
    add(
        "valid-unicode-pin",
        "NFC password with non-ASCII characters; one-byte shares",
        pin.text.clone(),
        &pin,
        None,
        Ok(pin.shares),
    );
    add(
        "valid-strong-params-with-context",
        "raised Argon2id costs (m=32768, t=3, p=2) and a bound context",
        strong.text.clone(),
        &strong,
        None,
        Ok(strong.shares),
    );
    add(
        "valid-surrounding-whitespace",
        "a pasted cipherText with a newline and spaces around it",
        format!("  {}\n", base.text),
        &base,
        None,
        Ok(base.shares),
    );

    // Errors found before any key is derived.
    let b = bytes_of(&base.text);
    let body = &base.text[TEXT_PREFIX.len()..];
    add("invalid-empty", "empty string", String::new(), &base, None, Err("INVALID_CIPHERTEXT"));
    add(
        "invalid-portal-hex",
        "a Portal-style bare hex ciphertext",
        "a3f1".repeat(40),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    add(
        "invalid-version-2-prefix",
        "text version marker wbk2.",
        format!("wbk2.{body}"),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    add(
        "invalid-prefix-case",
        "version marker must be lower case",
        format!("WBK1.{body}"),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    add(
        "invalid-base64-padding",
        "padded base64url is not canonical",
        format!("{}==", base.text),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    add(
        "invalid-base64-alphabet",
        "standard-alphabet '+' is not base64url",
        format!("{}+{}", &base.text[..20], &base.text[21..]),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    add(
        "invalid-base64-inner-space",
        "whitespace inside the body",
        format!("{} {}", &base.text[..30], &base.text[30..]),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    add("invalid-truncated-half", "cut in half", text_of(&b[..b.len() / 2]), &base, None, Err("INVALID_CIPHERTEXT"));
    add(
        "invalid-truncated-checksum",
        "last checksum byte missing",
        text_of(&b[..b.len() - 1]),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    add("invalid-header-only", "only magic and version", text_of(&b[..4]), &base, None, Err("INVALID_CIPHERTEXT"));
    let mut t = b.clone();
    t.push(0);
    add("invalid-trailing-byte", "one byte after the checksum", text_of(&t), &base, None, Err("INVALID_CIPHERTEXT"));
    let mut t = b.clone();
    t[0] = b'x';
    add("invalid-magic", "magic 'xbk'", text_of(&fix_checksum(t)), &base, None, Err("INVALID_CIPHERTEXT"));
    let mut t = b.clone();
    t[3] = 2;
    add(
        "invalid-binary-version-2",
        "binary version byte 2 under a wbk1. marker",
        text_of(&fix_checksum(t)),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    let mut t = b.clone();
    t[4] = 0x7f;
    add(
        "invalid-unknown-method",
        "method byte 0x7f",
        text_of(&fix_checksum(t)),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    let mut t = b.clone();
    t[21..23].copy_from_slice(&0xffffu16.to_be_bytes());
    add(
        "invalid-params-len-huge",
        "params_len 65535 exceeds 1024",
        text_of(&fix_checksum(t)),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    let mut t = b.clone();
    let ctx_at = 23 + 29;
    t[ctx_at..ctx_at + 2].copy_from_slice(&2000u16.to_be_bytes());
    add(
        "invalid-context-len-huge",
        "context_len 2000 exceeds 1024",
        text_of(&fix_checksum(t)),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    let ct_len_at = ctx_at + 2 + 12 + 32;
    let mut t = b.clone();
    t[ct_len_at..ct_len_at + 4].copy_from_slice(&15u32.to_be_bytes());
    add(
        "invalid-ct-len-below-tag",
        "ct_len 15 is shorter than the tag",
        text_of(&fix_checksum(t)),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    let mut t = b.clone();
    t[ct_len_at..ct_len_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    add("invalid-ct-len-huge", "ct_len 4 GiB", text_of(&fix_checksum(t)), &base, None, Err("INVALID_CIPHERTEXT"));

    // Accidental corruption: checksum no longer matches.
    for (name, at) in [
        ("corrupted-salt-byte", 23 + 13),
        ("corrupted-ciphertext-byte", ct_len_at + 10),
        ("corrupted-checksum-byte", b.len() - 1),
    ] {
        let mut t = b.clone();
        t[at] ^= 0x01;
        add(name, "one flipped bit, checksum left as it was", text_of(&t), &base, None, Err("CIPHERTEXT_CORRUPTED"));
    }

    // KDF parameters out of bounds (checksum recomputed so the cap check is reached).
    let kdf_at = 23;
    for (name, why, off, value) in [
        ("invalid-kdf-memory-absurd", "memory 4 TiB: rejected before allocating", 1, u32::MAX),
        ("invalid-kdf-memory-above-cap", "memory 1 GiB + 1 KiB", 1, 1024 * 1024 + 1),
        ("invalid-kdf-memory-below-floor", "memory 19455 KiB, below the OWASP floor", 1, 19455),
        ("invalid-kdf-iterations-zero", "0 iterations", 5, 0),
        ("invalid-kdf-iterations-one", "1 iteration, below the floor of 2", 5, 1),
        ("invalid-kdf-iterations-absurd", "4 billion iterations", 5, u32::MAX),
        ("invalid-kdf-parallelism-zero", "0 lanes", 9, 0),
        ("invalid-kdf-parallelism-absurd", "65536 lanes", 9, 65536),
    ] {
        let mut t = b.clone();
        t[kdf_at + off..kdf_at + off + 4].copy_from_slice(&value.to_be_bytes());
        add(name, why, text_of(&fix_checksum(t)), &base, None, Err("INVALID_CIPHERTEXT"));
    }
    let mut t = b.clone();
    t[kdf_at] = 3;
    add(
        "invalid-kdf-unknown",
        "kdf id 3 (1 is Argon2id, 2 guess-limited)",
        text_of(&fix_checksum(t)),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    let mut t = b.clone();
    t.remove(kdf_at + 28);
    t[21..23].copy_from_slice(&28u16.to_be_bytes());
    add(
        "invalid-password-params-short",
        "password params of 28 bytes",
        text_of(&fix_checksum(t)),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );

    // Wrong key versus tampering.
    let mut wrong = Valid {
        text: base.text.clone(),
        record: base.record.clone(),
        inputs: Inputs::Password("Correct horse battery staple"),
        shares: base.shares,
    };
    add(
        "wrong-password",
        "intact envelope, password differs in case of one letter",
        base.text.clone(),
        &wrong,
        None,
        Err("WRONG_PASSWORD"),
    );
    wrong.inputs = Inputs::Password("");
    add("wrong-password-empty", "empty password", base.text.clone(), &wrong, None, Err("PASSWORD_REQUIRED"));
    let commit_at = ctx_at + 2 + 12;
    let mut t = b.clone();
    t[commit_at] ^= 0x80;
    add(
        "tampered-commitment",
        "commitment changed and checksum recomputed: looks like a wrong key",
        text_of(&fix_checksum(t)),
        &base,
        None,
        Err("WRONG_PASSWORD"),
    );
    let mut t = b.clone();
    t[ct_len_at + 4 + 3] ^= 0x01;
    add(
        "tampered-ciphertext",
        "ciphertext bit flipped and checksum recomputed: the AES-GCM tag fails",
        text_of(&fix_checksum(t)),
        &base,
        None,
        Err("CIPHERTEXT_CORRUPTED"),
    );
    let mut t = b.clone();
    let tag_at = b.len() - CHECKSUM_LEN - 1;
    t[tag_at] ^= 0x01;
    add(
        "tampered-tag",
        "tag bit flipped and checksum recomputed",
        text_of(&fix_checksum(t)),
        &base,
        None,
        Err("CIPHERTEXT_CORRUPTED"),
    );
    let mut t = b.clone();
    t[ctx_at + 2 + 3] ^= 0x01;
    add(
        "tampered-nonce",
        "nonce changed (header is associated data)",
        text_of(&fix_checksum(t)),
        &base,
        None,
        Err("CIPHERTEXT_CORRUPTED"),
    );
    let s = bytes_of(&strong.text);
    let sctx = 23 + 29 + 2;
    let mut t = s.clone();
    t[sctx] ^= 0x20;
    add(
        "tampered-context",
        "bound context changed (header is associated data)",
        text_of(&fix_checksum(t)),
        &strong,
        None,
        Err("CIPHERTEXT_CORRUPTED"),
    );

    // Custodian half problems.
    add(
        "custodian-record-of-another-backup",
        "custodian record holds only another backup's half",
        base.text.clone(),
        &base,
        Some(&other.record),
        Err("INVALID_CUSTODIAN_SHARE"),
    );
    add(
        "custodian-record-missing",
        "nothing stored with the custodian",
        base.text.clone(),
        &base,
        Some(""),
        Err("INVALID_CUSTODIAN_SHARE"),
    );
    add(
        "custodian-record-garbage",
        "custodian record is not a record",
        base.text.clone(),
        &base,
        Some("wbc1.AAAA"),
        Err("INVALID_CUSTODIAN_SHARE"),
    );
    let base_id = fixed::<16>("base/backup_id");
    let swapped = Record::default()
        .with_pending(
            base_id,
            &split::combine(base.shares.as_bytes(), &fixed::<32>("zz").repeat(8)[..base.shares.len()]).unwrap(),
        )
        .encode()
        .to_string();
    add(
        "custodian-half-swapped",
        "right backup id, but a half from another split: the digest catches it",
        base.text.clone(),
        &base,
        Some(&swapped),
        Err("BACKUP_SHARE_MISMATCH"),
    );

    // The passkey method (FORMAT.md §3.4.3).
    let prf = make_passkey_prf("passkey-prf", portal_shares, fixed::<20>("passkey-prf/credential_id").to_vec(), b"");
    let enclave = make_passkey_enclave(
        "passkey-enclave",
        "{\"ed25519\":{\"id\":\"cm2v1wallet0003\",\"share\":\"5eed\"}}",
        fixed::<64>("passkey-enclave/credential_id").to_vec(),
        b"client:demo/wallet:0002",
    );
    add(
        "valid-passkey-prf",
        "passkey PRF mode: K = HKDF-SHA256(prf_salt, prfOutput, \"wallet-backup/v1/passkey-prf-key\" ‖ backup_id); \
         prfOutput is HMAC-SHA-256(a fixed credential secret, SHA-256(\"WebAuthn PRF\" ‖ 00 ‖ prf_salt)), \
         as an authenticator computes it",
        prf.text.clone(),
        &prf,
        None,
        Ok(prf.shares),
    );
    add(
        "valid-passkey-enclave",
        "passkey enclave mode: backupKey is the random K the service's enclave releases; 64-byte credential id, \
         bound context",
        enclave.text.clone(),
        &enclave,
        None,
        Ok(enclave.shares),
    );
    let Inputs::Passkey { credential_id: prf_credential, .. } = &prf.inputs else { unreachable!() };
    let other_prf = Valid {
        text: prf.text.clone(),
        record: prf.record.clone(),
        inputs: Inputs::Passkey {
            credential_id: prf_credential.clone(),
            prf_output: Some(authenticator_prf(
                &fixed::<32>("passkey-prf/other_credential_secret"),
                &fixed::<32>("passkey-prf/prf_salt"),
            )),
            backup_key: None,
        },
        shares: prf.shares,
    };
    add(
        "wrong-passkey-prf-output",
        "intact PRF-mode envelope opened with the PRF output of another credential secret for the same salt",
        prf.text.clone(),
        &other_prf,
        None,
        Err("WRONG_BACKUP_KEY"),
    );
    add(
        "method-mismatch-passkey-as-password",
        "a passkey envelope recovered with the password method",
        prf.text.clone(),
        &base,
        Some(&prf.record),
        Err("METHOD_MISMATCH"),
    );
    // Malformed passkey parameters, checksum recomputed so step 9 is the check that fires.
    let params_at = 23;
    let pb = bytes_of(&prf.text);
    let prf_params_len = u16::from_be_bytes([pb[21], pb[22]]) as usize;
    let mut t = pb.clone();
    t[params_at] = 3;
    add(
        "invalid-passkey-mode-unknown",
        "passkey mode byte 3",
        text_of(&fix_checksum(t)),
        &prf,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    let mut t = pb.clone();
    t[params_at + 1..params_at + 3].copy_from_slice(&0u16.to_be_bytes());
    add(
        "invalid-passkey-cred-len-zero",
        "cred_len 0 (PRF mode, params length unchanged)",
        text_of(&fix_checksum(t)),
        &prf,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    let mut t = pb.clone();
    t[params_at + 1..params_at + 3].copy_from_slice(&1024u16.to_be_bytes());
    add(
        "invalid-passkey-cred-len-1024",
        "cred_len 1024, above WebAuthn's 1023 (and past the end of the params)",
        text_of(&fix_checksum(t)),
        &prf,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    let mut t = pb.clone();
    t.remove(params_at + prf_params_len - 1);
    t[21..23].copy_from_slice(&(prf_params_len as u16 - 1).to_be_bytes());
    add(
        "invalid-passkey-prf-salt-short",
        "PRF mode with a 31-byte prf_salt (params_len one less)",
        text_of(&fix_checksum(t)),
        &prf,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    let eb = bytes_of(&enclave.text);
    let enclave_params_len = u16::from_be_bytes([eb[21], eb[22]]) as usize;
    let mut t = eb.clone();
    t.insert(params_at + enclave_params_len, 0);
    t[21..23].copy_from_slice(&(enclave_params_len as u16 + 1).to_be_bytes());
    add(
        "invalid-passkey-enclave-trailing-byte",
        "enclave mode with one byte after the credential id (params_len one more)",
        text_of(&fix_checksum(t)),
        &enclave,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    let mut t = eb.clone();
    t[params_at] = 1;
    add(
        "invalid-passkey-prf-mode-without-salt",
        "enclave-mode params relabelled PRF mode: no prf_salt follows the credential id",
        text_of(&fix_checksum(t)),
        &enclave,
        None,
        Err("INVALID_CIPHERTEXT"),
    );

    // FORMAT.md, tightened (issue 12): each case below pins one sentence of
    // the text that a decoder could otherwise get wrong and still pass the
    // cases above.

    // §7 step 0: the method's inputs are checked before the cipherText.
    add(
        "wrong-password-empty-invalid-ciphertext",
        "an empty password and an empty cipherText: step 0 (the password) comes before step 1 (the text), \
         so PASSWORD_REQUIRED",
        String::new(),
        &with_inputs(&base, Inputs::Password("")),
        None,
        Err("PASSWORD_REQUIRED"),
    );
    add(
        "wrong-password-4097-bytes",
        "a 4097-byte password, one over the 4096 bytes FORMAT.md §3.4.1 allows: INVALID_ARGUMENT at step 0, \
         before the intact cipherText is read",
        base.text.clone(),
        &with_inputs(&base, Inputs::Password(leak("p".repeat(4097)))),
        None,
        Err("INVALID_ARGUMENT"),
    );

    // §3.4.1: NFC, before the length check.
    let nfc_pin = "\u{c7}a-\u{e9}t\u{e9}-\u{c5}ngstr\u{f6}m-0421";
    let nfd_pin = leak(nfc_pin.nfd().collect());
    assert_eq!(nfc_pin.nfc().collect::<String>(), nfc_pin, "sealed with the NFC form");
    assert_ne!(nfd_pin, nfc_pin);
    let nfc = make_valid("nfc", nfc_pin, "{\"k\":\"nfc\"}", Argon2idParams::default(), b"");
    add(
        "valid-password-given-decomposed",
        "sealed with the NFC form of a password, recovered with its NFD form (as another keyboard types it): \
         the decoder normalises to NFC before Argon2id",
        nfc.text.clone(),
        &with_inputs(&nfc, Inputs::Password(nfd_pin)),
        None,
        Ok(nfc.shares),
    );
    let nfd_sealed = make_valid("nfd-sealed", nfd_pin, "{\"k\":\"nfd\"}", Argon2idParams::default(), b"");
    add(
        "wrong-password-sealed-decomposed",
        "sealed by a non-conforming encoder from the NFD bytes of a password, recovered with that NFD form: a \
         decoder normalises it to NFC first, so the key differs (a decoder that skips NFC would open it)",
        nfd_sealed.text.clone(),
        &nfd_sealed,
        None,
        Err("WRONG_PASSWORD"),
    );
    let longest_nfc = leak("\u{e9}".repeat(2048));
    let longest_nfd = leak(longest_nfc.nfd().collect());
    assert_eq!((longest_nfc.len(), longest_nfd.len()), (4096, 6144));
    let long_pw = make_valid("password-4096", longest_nfc, "{\"k\":\"4096\"}", Argon2idParams::default(), b"");
    add(
        "valid-password-4096-bytes-given-decomposed",
        "the longest password, 4096 bytes in NFC (2048 x U+00E9), sealed with that form and given as its \
         6144-byte NFD form: the 4096-byte limit applies after NFC",
        long_pw.text.clone(),
        &with_inputs(&long_pw, Inputs::Password(longest_nfd)),
        None,
        Ok(long_pw.shares),
    );

    // §1 and §3.1: ASCII whitespace is exactly TAB, LF, FF, CR and SPACE.
    add(
        "valid-surrounding-whitespace-every-kind",
        "each of the five ASCII whitespace characters (TAB, LF, FF, CR, SPACE) before and after the text",
        format!("\t\n\x0c\r {}\r\n\x0c\t ", base.text),
        &base,
        None,
        Ok(base.shares),
    );
    for (name, why, text) in [
        (
            "invalid-surrounding-vertical-tab",
            "a vertical tab (U+000B) before the text: not ASCII whitespace as FORMAT.md §1 defines it",
            format!("\x0b{}", base.text),
        ),
        (
            "invalid-surrounding-no-break-space",
            "a no-break space (U+00A0) after the text: not ASCII whitespace",
            format!("{}\u{a0}", base.text),
        ),
        (
            "invalid-leading-byte-order-mark",
            "a byte order mark (U+FEFF) before the text: not ASCII whitespace",
            format!("\u{feff}{}", base.text),
        ),
    ] {
        add(name, why, text, &base, None, Err("INVALID_CIPHERTEXT"));
    }

    // §1: canonical base64url.
    add(
        "invalid-base64-trailing-bits",
        "the valid envelope with an unused low bit of the last character set: the same bytes under a \
         non-canonical text",
        with_trailing_bits(&base.text),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );
    let aligned = (0..3)
        .map(|n| {
            let context = &b"ctx"[..n];
            make_valid(
                &format!("aligned-{n}"),
                "correct horse battery staple",
                "{\"k\":1}",
                Argon2idParams::default(),
                context,
            )
        })
        .find(|v| bytes_of(&v.text).len() % 3 == 0)
        .unwrap();
    add(
        "invalid-base64-dangling-character",
        "a valid envelope whose text is a whole number of 4-character quanta, plus one character: a length of \
         1 mod 4 encodes no byte (lenient decoders drop it)",
        format!("{}A", aligned.text),
        &aligned,
        None,
        Err("INVALID_CIPHERTEXT"),
    );

    // §3.4.1: memory x iterations, and the upper bounds that pass step 9.
    for (name, why, m, it, p, record, expected) in [
        (
            "invalid-kdf-work-above-cap",
            "m = 699051 KiB and t = 3, each within its own bound, but m x t = 2097153, one over the cap",
            699_051u32,
            3u32,
            1u32,
            None,
            Err("INVALID_CIPHERTEXT"),
        ),
        (
            "limit-kdf-work-at-cap-largest-memory",
            "m = 1 GiB and t = 2: m x t exactly at the cap, so step 9 passes; nothing at the custodian, so step 10 \
             fails before any key is derived",
            1_048_576,
            2,
            1,
            Some(""),
            Err("INVALID_CUSTODIAN_SHARE"),
        ),
        (
            "limit-kdf-upper-bounds",
            "m = 128 MiB, t = 16, p = 16: t and p at their maxima and m x t at the cap, so step 9 passes; nothing \
             at the custodian, so step 10 fails before any key is derived",
            131_072,
            16,
            16,
            Some(""),
            Err("INVALID_CUSTODIAN_SHARE"),
        ),
    ] {
        let mut t = b.clone();
        t[kdf_at + 1..kdf_at + 5].copy_from_slice(&m.to_be_bytes());
        t[kdf_at + 5..kdf_at + 9].copy_from_slice(&it.to_be_bytes());
        t[kdf_at + 9..kdf_at + 13].copy_from_slice(&p.to_be_bytes());
        add(name, why, text_of(&fix_checksum(t)), &base, record, expected);
    }

    // §7: step 9, then the custodian (step 10), then the key (step 11).
    let mut t = b.clone();
    t[5] ^= 0x01;
    add(
        "tampered-backup-id",
        "backup_id changed and the checksum recomputed; the custodian holds the original backup's half only. \
         Step 10 (the custodian) comes before step 11 (the key): INVALID_CUSTODIAN_SHARE, not WRONG_PASSWORD",
        text_of(&fix_checksum(t)),
        &base,
        None,
        Err("INVALID_CUSTODIAN_SHARE"),
    );
    let mut t = b.clone();
    t[kdf_at + 1..kdf_at + 5].copy_from_slice(&u32::MAX.to_be_bytes());
    add(
        "invalid-kdf-memory-absurd-custodian-empty",
        "memory 4 TiB and nothing at the custodian: step 9 (the parameters) comes before step 10 (the custodian)",
        text_of(&fix_checksum(t)),
        &base,
        Some(""),
        Err("INVALID_CIPHERTEXT"),
    );

    // §7 step 1: the text limit, counted after trimming.
    let longest = longest_envelope();
    assert_eq!(longest.len(), format::MAX_TEXT_LEN);
    add(
        "limit-text-longest-envelope",
        "the longest valid envelope, 1,400,977 characters (passkey params of 1024 bytes, context of 1024 bytes, \
         ct_len 2^20 + 16; ciphertext bytes zero): steps 1 to 7 pass, and recovering it with the password \
         method stops at step 8",
        longest.clone(),
        &base,
        None,
        Err("METHOD_MISMATCH"),
    );
    add(
        "limit-text-longest-envelope-with-whitespace",
        "the same text with whitespace around it, longer than the limit before trimming: step 1 counts after \
         trimming",
        format!(" \t{longest}\r\n"),
        &base,
        None,
        Err("METHOD_MISMATCH"),
    );
    add(
        "invalid-text-longer-than-longest-envelope",
        "the longest envelope and four more characters (1,400,981): rejected at step 1 without being decoded. \
         The code alone cannot tell step 1 from step 6 (the 3 bytes they encode trail the checksum); the limit \
         exists so that nothing longer is decoded at all",
        format!("{longest}AAAA"),
        &base,
        None,
        Err("INVALID_CIPHERTEXT"),
    );

    // §2 and §7 step 15: S is UTF-8.
    for (name, why, shares) in [
        (
            "invalid-shares-not-utf8",
            "intact envelope and custodian half whose combined shares are 7b 22 73 22 3a 22 ff fe 22 7d: not UTF-8",
            &b"{\"s\":\"\xff\xfe\"}"[..],
        ),
        (
            "invalid-shares-lone-surrogate",
            "intact envelope and custodian half whose combined shares hold ED A0 80, a lone surrogate U+D800 as \
             WTF-8 (what a JavaScript string with one would become): not UTF-8",
            &b"{\"s\":\"\xed\xa0\x80\"}"[..],
        ),
    ] {
        let password = "correct horse battery staple";
        let salt = fixed::<16>(&format!("{name}/salt"));
        let kdf = Argon2idParams::default();
        let key = kdf.derive(password.as_bytes(), &salt).unwrap();
        let (text, record) = seal_fixed(name, MethodId::Password, encode_params(&kdf, &salt), &key, shares, b"");
        let v = Valid { text: text.clone(), record, inputs: Inputs::Password(password), shares: "" };
        add(name, why, text, &v, None, Err("INVALID_CIPHERTEXT"));
    }

    // §8: the custodian record's states, counts, limits and text.
    let (base_id, base_half) = entry_of(&base);
    let older = fixed::<16>("custodian/older_backup_id");
    let oldest = fixed::<16>("custodian/oldest_backup_id");
    let newer = fixed::<16>("custodian/newer_backup_id");
    let half_a = fixed::<40>("custodian/older_half");
    let half_b = fixed::<7>("custodian/oldest_half");
    let half_c = fixed::<90>("custodian/newer_half");
    let custodian_cases: [(&str, &str, String, Result<&str, &'static str>); 8] = [
        (
            "valid-custodian-entry-pending",
            "the record's only entry is this backup's, still pending: recovery uses the entry whatever its state",
            raw_record(1, &[(&base_id, 1, &base_half[..])]),
            Ok(base.shares),
        ),
        (
            "valid-custodian-entry-oldest-of-three",
            "three entries, this backup's last (oldest) behind another backup's pending entry and a complete one: \
             the entry is found by backup_id, not by position",
            raw_record(3, &[(&newer, 1, &half_c[..]), (&older, 2, &half_a[..]), (&base_id, 2, &base_half[..])]),
            Ok(base.shares),
        ),
        (
            "custodian-record-count-four",
            "four entries, this backup's among them: count 4 is above 3",
            raw_record(
                4,
                &[
                    (&newer, 1, &half_c[..]),
                    (&base_id, 2, &base_half[..]),
                    (&older, 2, &half_a[..]),
                    (&oldest, 2, &half_b[..]),
                ],
            ),
            Err("INVALID_CUSTODIAN_SHARE"),
        ),
        (
            "custodian-record-count-zero",
            "count 0 and no entries: a record holds 1 to 3",
            raw_record(0, &[]),
            Err("INVALID_CUSTODIAN_SHARE"),
        ),
        (
            "custodian-record-backup-id-twice",
            "this backup's entry twice, byte for byte: a backup_id occurs at most once in a record",
            raw_record(2, &[(&base_id, 2, &base_half[..]), (&base_id, 2, &base_half[..])]),
            Err("INVALID_CUSTODIAN_SHARE"),
        ),
        (
            "custodian-record-state-unknown",
            "this backup's entry with state 3",
            raw_record(1, &[(&base_id, 3, &base_half[..])]),
            Err("INVALID_CUSTODIAN_SHARE"),
        ),
        (
            "custodian-record-half-above-largest-shares",
            "this backup's entry with len 2^20 - 31 (zero bytes), one more than the largest shares: rejected when \
             the record is read (step 10), not when the halves are combined (step 14)",
            raw_record(1, &[(&base_id, 2, &vec![0; MAX_SHARES_LEN + 1][..])]),
            Err("INVALID_CUSTODIAN_SHARE"),
        ),
        (
            "custodian-record-largest",
            "the longest record, 4,194,293 characters: three entries of 2^20 - 32 zero bytes, this backup's in the \
             middle. It is read; the halves then differ in length (step 14)",
            raw_record(
                3,
                &[
                    (&newer, 2, &vec![0; MAX_SHARES_LEN][..]),
                    (&base_id, 2, &vec![0; MAX_SHARES_LEN][..]),
                    (&older, 2, &vec![0; MAX_SHARES_LEN][..]),
                ],
            ),
            Err("BACKUP_SHARE_MISMATCH"),
        ),
    ];
    for (name, why, record, expected) in custodian_cases {
        add(name, why, base.text.clone(), &base, Some(&record), expected);
    }
    add(
        "custodian-record-surrounding-whitespace",
        "this backup's record followed by a newline: a record is stored and read back byte for byte, nothing \
         around it is ignored",
        base.text.clone(),
        &base,
        Some(&format!("{}\n", base.record)),
        Err("INVALID_CUSTODIAN_SHARE"),
    );
    add(
        "custodian-record-base64-trailing-bits",
        "this backup's record with an unused low bit of its last character set: the same bytes under a \
         non-canonical text",
        pin.text.clone(),
        &pin,
        Some(&with_trailing_bits(&pin.record)),
        Err("INVALID_CUSTODIAN_SHARE"),
    );

    // §3.4.3: the id of the credential that answers is not compared.
    let other_credential = Inputs::Passkey {
        credential_id: fixed::<20>("passkey-prf/other_credential_id").to_vec(),
        prf_output: Some(authenticator_prf(
            &fixed::<32>("passkey-prf/other_credential_secret"),
            &fixed::<32>("passkey-prf/prf_salt"),
        )),
        backup_key: None,
    };
    add(
        "wrong-passkey-other-credential",
        "a PRF-mode envelope answered by another credential than its credential_id, with that credential's PRF \
         output for the salt: the derived key fails the commitment, WRONG_BACKUP_KEY",
        prf.text.clone(),
        &with_inputs(&prf, other_credential),
        None,
        Err("WRONG_BACKUP_KEY"),
    );

    // §3.4.2 and §3.4.4: a method that keeps a random key (iCloud).
    let icloud_shares = "{\"secp256k1\":{\"id\":\"cm2v1wallet0004\",\"share\":\"1c10d0\"}}";
    let icloud_id = fixed::<16>("icloud/backup_id");
    let icloud_key = SecretKey::from_bytes(fixed::<32>("icloud/backup_key"));
    let (icloud_text, icloud_record) =
        seal_fixed("icloud", MethodId::ICloud, Vec::new(), &icloud_key, icloud_shares.as_bytes(), b"");
    let earlier_id = fixed::<16>("icloud/earlier_backup_id");
    let earlier = KeyRecord::default()
        .with_pending(earlier_id, &SecretKey::from_bytes(fixed::<32>("icloud/earlier_backup_key")))
        .with_complete(&earlier_id)
        .unwrap();
    let pending = earlier.with_pending(icloud_id, &icloud_key);
    let complete = pending.with_complete(&icloud_id).unwrap();
    let keys = |r: &KeyRecord| Inputs::ICloud { keys_record: r.encode().to_string() };
    let icloud = Valid { text: icloud_text, record: icloud_record, inputs: keys(&complete), shares: icloud_shares };
    add(
        "valid-icloud",
        "an iCloud backup: K is the key the keys record (FORMAT.md §3.4.4) holds under the envelope's backup_id, \
         the newer of two complete entries",
        icloud.text.clone(),
        &icloud,
        None,
        Ok(icloud.shares),
    );
    add(
        "valid-icloud-key-pending",
        "the same backup with its key still pending in the keys record: recovery uses a key whatever its state",
        icloud.text.clone(),
        &with_inputs(&icloud, keys(&pending)),
        None,
        Ok(icloud.shares),
    );
    add(
        "wrong-icloud-key-not-kept",
        "the keys record holds only an earlier backup's key: BACKUP_KEY_NOT_FOUND (step 11)",
        icloud.text.clone(),
        &with_inputs(&icloud, keys(&earlier)),
        None,
        Err("BACKUP_KEY_NOT_FOUND"),
    );
    add(
        "wrong-icloud-keys-record-unreadable",
        "the key storage holds a string that is not a keys record: STORAGE_UNAVAILABLE (step 11)",
        icloud.text.clone(),
        &with_inputs(&icloud, Inputs::ICloud { keys_record: "wbr1.AAAA".into() }),
        None,
        Err("STORAGE_UNAVAILABLE"),
    );
    let mut t = bytes_of(&icloud.text);
    t[21..23].copy_from_slice(&1u16.to_be_bytes());
    t.insert(23, 0);
    add(
        "invalid-icloud-params-not-empty",
        "an iCloud envelope with one byte of method parameters (checksum recomputed): a method that keeps a \
         random key records none (FORMAT.md §3.4.2), step 9",
        text_of(&fix_checksum(t)),
        &icloud,
        None,
        Err("INVALID_CIPHERTEXT"),
    );

    // Guess-limited PINs (FORMAT.md §3.4.1.1). The custodian record holds
    // the half the service releases for the proof made with `unlockKey`.
    let limited = make_guess_limited("guess-limited", "0421", portal_shares);
    add(
        "valid-guess-limited-pin",
        "a guess-limited PIN: K and U from RFC 9497's OPRF (ristretto255-SHA512) under the service's key oprfKey \
         over the Argon2id output; the service releases the custodian half for HMAC(U, label ‖ backup_id ‖ challenge)",
        limited.text.clone(),
        &limited,
        None,
        Ok(limited.shares),
    );
    let Inputs::GuessLimited { oprf_key, unlock_key, .. } = limited.inputs.clone() else { unreachable!() };
    add(
        "wrong-guess-limited-pin",
        "the same backup, another PIN: the commitment does not match K (step 12), WRONG_PASSWORD",
        limited.text.clone(),
        &with_inputs(&limited, Inputs::GuessLimited { password: "0422", oprf_key, unlock_key }),
        None,
        Err("WRONG_PASSWORD"),
    );
    let other = make_guess_limited("guess-limited-other", "0421", portal_shares);
    let Inputs::GuessLimited { oprf_key: other_key, .. } = other.inputs.clone() else { unreachable!() };
    add(
        "wrong-guess-limited-oprf-key",
        "the right PIN, but the service evaluates under another backup's OPRF key: another K, WRONG_PASSWORD",
        limited.text.clone(),
        &with_inputs(&limited, Inputs::GuessLimited { password: "0421", oprf_key: other_key, unlock_key }),
        None,
        Err("WRONG_PASSWORD"),
    );

    let mut index =
        String::from("// Generated by `cargo run -p wallet-backup-core --example make_vectors`; do not edit.\n&[\n");
    for c in &cases {
        let mut o = serde_json::Map::new();
        o.insert("why".into(), c.why.clone().into());
        o.insert("cipherText".into(), c.text.clone().into());
        match &c.inputs {
            Inputs::Password(password) => {
                o.insert("method".into(), "password".into());
                o.insert("password".into(), (*password).into());
            }
            Inputs::ICloud { keys_record } => {
                o.insert("method".into(), "icloud".into());
                o.insert("keysRecord".into(), keys_record.clone().into());
            }
            Inputs::GuessLimited { password, oprf_key, unlock_key } => {
                o.insert("method".into(), "password".into());
                o.insert("password".into(), (*password).into());
                let mut guard = serde_json::Map::new();
                guard.insert("oprfKey".into(), hex(oprf_key).into());
                guard.insert("unlockKey".into(), hex(unlock_key).into());
                o.insert("guessLimited".into(), guard.into());
            }
            Inputs::Passkey { credential_id, prf_output, backup_key } => {
                o.insert("method".into(), "passkey".into());
                o.insert("credentialId".into(), hex(credential_id).into());
                if let Some(p) = prf_output {
                    o.insert("prfOutput".into(), hex(p).into());
                }
                if let Some(k) = backup_key {
                    o.insert("backupKey".into(), hex(k).into());
                }
            }
        }
        o.insert("custodianRecord".into(), c.record.clone().into());
        match &c.expected {
            Ok(shares) => o.insert("expectedShares".into(), shares.clone().into()),
            Err(code) => o.insert("expectedError".into(), (*code).into()),
        };
        let json = serde_json::to_string_pretty(&serde_json::Value::Object(o)).unwrap() + "\n";
        fs::write(dir.join(format!("{}.json", c.name)), json).unwrap();
        writeln!(index, "    (\"{0}\", include_str!(\"{0}.json\")),", c.name).unwrap();
    }
    index.push_str("]\n");
    fs::write(dir.join("index.rs"), index).unwrap();
    println!("wrote {} vectors", cases.len());
}
