//! Primitive exports for `npm run bench` only (cargo feature `bench`).
//!
//! They let the benchmark time the module's Argon2id and AES-256-GCM beside
//! reference implementations on the same inputs. The published package is
//! built without this feature.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use wallet_backup_core::{Argon2idParams, SALT_LEN};
use wasm_bindgen::prelude::*;

/// Argon2id (v0x13) of `password` with a 16-byte `salt`; 32-byte output.
#[wasm_bindgen(js_name = benchArgon2id)]
pub fn bench_argon2id(
    password: &[u8],
    salt: &[u8],
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
) -> Result<Vec<u8>, JsError> {
    let salt: [u8; SALT_LEN] = salt.try_into().map_err(|_| JsError::new("salt must be 16 bytes"))?;
    let params = Argon2idParams { memory_kib, iterations, parallelism };
    let key = params.derive(password, &salt).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(key.expose().to_vec())
}

/// AES-256-GCM seal: returns ciphertext ‖ tag.
#[wasm_bindgen(js_name = benchAesGcmSeal)]
pub fn bench_aes_gcm_seal(key: &[u8], nonce: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, JsError> {
    let (cipher, nonce) = cipher(key, nonce)?;
    cipher.encrypt(&nonce, Payload { msg: plaintext, aad: &[] }).map_err(|_| JsError::new("seal failed"))
}

/// AES-256-GCM open of ciphertext ‖ tag.
#[wasm_bindgen(js_name = benchAesGcmOpen)]
pub fn bench_aes_gcm_open(key: &[u8], nonce: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, JsError> {
    let (cipher, nonce) = cipher(key, nonce)?;
    cipher.decrypt(&nonce, Payload { msg: ciphertext, aad: &[] }).map_err(|_| JsError::new("open failed"))
}

fn cipher(key: &[u8], nonce: &[u8]) -> Result<(Aes256Gcm, Nonce<aes_gcm::aes::cipher::consts::U12>), JsError> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| JsError::new("key must be 32 bytes"))?;
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| JsError::new("nonce must be 12 bytes"))?;
    Ok((cipher, Nonce::from(nonce)))
}
