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
use wallet_backup_core::testing::format::{self, CHECKSUM_LEN, TEXT_PREFIX};
use wallet_backup_core::testing::passkey::{prf_backup_key, PasskeyMode, PasskeyParams};
use wallet_backup_core::testing::password::encode_params;
use wallet_backup_core::testing::record::CustodianRecord as Record;
use wallet_backup_core::testing::split;
use wallet_backup_core::{Argon2idParams, Header, MethodId, SecretKey};

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
    shares: &str,
    context: &[u8],
) -> (String, String) {
    let backup_id = fixed::<16>(&format!("{label}/backup_id"));
    let nonce = fixed::<12>(&format!("{label}/nonce"));
    let client: Vec<u8> = (0..shares.len()).map(|i| fixed::<32>(&format!("{label}/pad/{}", i / 32))[i % 32]).collect();
    let custodian = split::combine(shares.as_bytes(), &client).unwrap();
    let header = Header { method, backup_id, method_params, context: context.to_vec() };
    let plaintext = split::client_plaintext(shares.as_bytes(), &client);
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
    let (text, record) = seal_fixed(label, MethodId::Password, encode_params(&kdf, &salt), &key, shares, context);
    Valid { text, record, inputs: Inputs::Password(password), shares }
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
    let (text, record) = seal_fixed(label, MethodId::Passkey, params.encode().unwrap(), &key, shares, context);
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
    let (text, record) =
        seal_fixed(label, MethodId::Passkey, params.encode().unwrap(), &SecretKey::from_bytes(key), shares, context);
    Valid { text, record, inputs: Inputs::Passkey { credential_id, prf_output: None, backup_key: Some(key) }, shares }
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
    t[kdf_at] = 2;
    add("invalid-kdf-unknown", "kdf id 2", text_of(&fix_checksum(t)), &base, None, Err("INVALID_CIPHERTEXT"));
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
