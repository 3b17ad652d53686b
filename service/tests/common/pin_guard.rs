//! The module's side of a guess-limited PIN (FORMAT.md §3.4.1.1), as the
//! service tests play it: the `voprf` crate blinds and finalizes, HMAC-SHA256
//! makes the unlock proof. Used by pin_guard.rs and kms_backends.rs.

use base64ct::{Base64UrlUnpadded, Encoding};
use hmac::{KeyInit, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use voprf::{EvaluationElement, OprfClient, OprfServer, Ristretto255};

use super::{envelope, new_backup_id, Api, Reply};

const PAIRS: &str = "/api/v3/clients/me/backup-share-pairs";
pub const UNLOCK_LABEL: &[u8] = b"wallet-backup/v1/pin-guard/unlock";

pub fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

pub fn unb64(text: &Value) -> Vec<u8> {
    Base64UrlUnpadded::decode_vec(text.as_str().expect("a base64url string")).expect("base64url")
}

pub fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The hardened PIN (the module's Argon2id output; any 32 bytes to the service).
pub fn hardened(pin: &str) -> Vec<u8> {
    Sha256::digest(format!("argon2id stand-in: {pin}")).to_vec()
}

/// The unlock key U from the OPRF output: HKDF-SHA256 (salt: the backup id) as FORMAT.md has it.
pub fn unlock_key(backup_id: &str, output: &[u8]) -> [u8; 32] {
    let prk = hmac(&hex::decode(backup_id).unwrap(), &[output]);
    hmac(&prk, &[b"wallet-backup/v1/pin-guard/unlock-key", &[1]])
}

pub fn proof(unlock_key: &[u8], backup_id: &str, challenge: &[u8]) -> [u8; 32] {
    hmac(unlock_key, &[UNLOCK_LABEL, &hex::decode(backup_id).unwrap(), challenge])
}

/// A guess-limited backup as the module made it: what it keeps (nothing of k) and checks against.
#[derive(Clone)]
pub struct Guarded {
    pub backup_id: String,
    pub pair_id: String,
    pub share: String,
    /// The OPRF output of the right PIN.
    pub output: Vec<u8>,
}

/// One evaluation, finalized: the output and U the PIN gives, and the challenge.
pub struct Evaluated {
    pub reply: Reply,
    pub output: Vec<u8>,
    pub unlock_key: [u8; 32],
    pub challenge: Vec<u8>,
}

impl Evaluated {
    pub fn proof(&self, backup_id: &str) -> [u8; 32] {
        proof(&self.unlock_key, backup_id, &self.challenge)
    }
}

pub fn guard_path(backup_id: &str, step: &str) -> String {
    format!("/api/v3/clients/me/pin-guards/{backup_id}{step}")
}

/// The `pinGuard` of a new pair for `pin`: a fresh OPRF key and U; returns it and the output.
pub fn new_guard(backup_id: &str, pin: &str) -> (Value, Vec<u8>) {
    let server = OprfServer::<Ristretto255>::new(&mut rand_core::OsRng).unwrap();
    let output = server.evaluate(&hardened(pin)).unwrap().to_vec();
    let guard = json!({ "oprfKey": b64(&server.serialize()), "unlockKey": b64(&unlock_key(backup_id, &output)) });
    (guard, output)
}

/// Creates a guarded PASSWORD pair for `pin`; with `complete`, stores a cipherText and confirms it.
pub async fn guarded_backup(api: &Api, pin: &str, complete: bool) -> Guarded {
    let backup_id = new_backup_id();
    let (guard, output) = new_guard(&backup_id, pin);
    let share = format!("custodian-half-{backup_id}");
    let created = api
        .post(
            PAIRS,
            json!({ "backupMethod": "PASSWORD", "backupId": backup_id, "custodianShare": share, "pinGuard": guard }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let pair_id = created.body["id"].as_str().unwrap().to_owned();
    if complete {
        assert_eq!(api.put_cipher_text(&pair_id, &envelope("PASSWORD", &backup_id)).await.status, 200);
        assert_eq!(api.confirm(&pair_id).await.status, 200);
    }
    Guarded { backup_id, pair_id, share, output }
}

/// Blinds `pin`, asks for the evaluation and finalizes it (when the answer is 200).
pub async fn evaluate(api: &Api, backup_id: &str, pin: &str) -> Evaluated {
    let input = hardened(pin);
    let blind = OprfClient::<Ristretto255>::blind(&input, &mut rand_core::OsRng).unwrap();
    let reply = api
        .post(&guard_path(backup_id, "/evaluate"), json!({ "blindedElement": b64(&blind.message.serialize()) }))
        .await;
    if reply.status != 200 {
        assert!(reply.body.get("evaluatedElement").is_none() && reply.body["error"].get("evaluatedElement").is_none());
        return Evaluated { reply, output: Vec::new(), unlock_key: [0; 32], challenge: Vec::new() };
    }
    let element = EvaluationElement::<Ristretto255>::deserialize(&unb64(&reply.body["evaluatedElement"])).unwrap();
    let output = blind.state.finalize(&input, &element).unwrap().to_vec();
    let challenge = unb64(&reply.body["challenge"]);
    assert_eq!(challenge.len(), 32);
    Evaluated { unlock_key: unlock_key(backup_id, &output), output, challenge, reply }
}

pub async fn unlock(api: &Api, backup_id: &str, challenge: &[u8], proof: &[u8]) -> Reply {
    api.post(&guard_path(backup_id, "/unlock"), json!({ "challenge": b64(challenge), "proof": b64(proof) })).await
}

pub async fn guard_status(api: &Api, backup_id: &str) -> Reply {
    api.get(&guard_path(backup_id, "")).await
}

/// One wrong guess, as the module makes it: evaluated, found wrong locally, no unlock call.
pub async fn wrong_guess(api: &Api, guarded: &Guarded, left: i64) {
    let wrong = evaluate(api, &guarded.backup_id, "0000").await;
    assert_eq!(wrong.reply.status, 200, "{}", wrong.reply.body);
    assert_eq!(wrong.reply.body["guessesLeft"], left, "{}", wrong.reply.body);
    assert_ne!(wrong.output, guarded.output, "a wrong PIN gave the right output");
}
