//! Password/PIN method: reads `config.passwordStorage` and builds the core
//! password method.
//!
//! `passwordStorage.password` is NFC-normalised (so the same PIN typed on
//! different keyboards gives the same key) and copied into zeroizing
//! memory. `passwordStorage.kdf` may raise the Argon2id costs above the
//! defaults; it can never lower them below m = 19 MiB, t = 2, p = 1.
//!
//! `passwordStorage.deriveKey`, if given, runs the Argon2id instead of the
//! module (React Native: a native Argon2 module; through wasm2js Argon2id
//! takes seconds). It is called with `{ password, salt, memoryKiB,
//! iterations, parallelism, hashLength: 32, algorithm: 'argon2id',
//! version: 0x13 }` (`password` the NFC-normalised string, to be hashed as
//! UTF-8; `salt` 16 bytes) and resolves to the raw 32-byte output as a
//! `Uint8Array`. The module still draws the salt, chooses the costs and
//! writes the same header; a wrong output fails recovery with
//! `WRONG_PASSWORD` through the key commitment. A `deriveKey` that does not
//! settle within `adapterTimeoutMs` is `ADAPTER_TIMEOUT`.

use js_sys::{ArrayBuffer, Function, JsString, Object, Reflect, Uint8Array};
use wallet_backup_core::{Argon2idParams, DerivedKeyFuture, Error, KeyDerivation, PasswordMethod, SALT_LEN};
use wasm_bindgen::{JsCast, JsValue};
use zeroize::Zeroizing;

use crate::errors::{Failure, Result};
use crate::js::{exact_string, get, is_absent, settled};

const BAD_CONFIG: Error = Error::InvalidArgument("config.passwordStorage must be an object");

/// Builds the password method from `config.passwordStorage`; `deriveKey`
/// may take `limit_ms` (`adapterTimeoutMs`).
pub fn from_config(config: &JsValue, limit_ms: u32) -> Result<PasswordMethod> {
    let storage = get(config, "passwordStorage", Error::InvalidArgument("config must be an object"))?;
    if is_absent(&storage) {
        return Err(Error::PasswordRequired.into());
    }
    let password = get(&storage, "password", BAD_CONFIG)?;
    if is_absent(&password) {
        return Err(Error::PasswordRequired.into());
    }
    let password: JsString = password
        .dyn_into()
        .map_err(|_| Failure::type_error(Error::InvalidArgument("passwordStorage.password must be a string")))?;
    let normalized = match exact_string(&password.normalize("NFC")) {
        Some(Ok(s)) => s,
        _ => {
            return Err(Error::InvalidArgument("passwordStorage.password is not valid Unicode (lone surrogate)").into())
        }
    };
    let bytes = Zeroizing::new(normalized.as_bytes().to_vec());

    let kdf = read_kdf(&get(&storage, "kdf", BAD_CONFIG)?)?;
    let method = PasswordMethod::with_kdf(bytes, kdf)?;
    let derive_key = get(&storage, "deriveKey", BAD_CONFIG)?;
    if is_absent(&derive_key) {
        return Ok(method);
    }
    let derive_key: Function = derive_key
        .dyn_into()
        .map_err(|_| Failure::type_error(Error::InvalidArgument("passwordStorage.deriveKey must be a function")))?;
    Ok(method.with_key_derivation(app_key_derivation(derive_key, limit_ms)))
}

const KDF_FAILED: Error = Error::InvalidArgument("passwordStorage.deriveKey threw or rejected");
const KDF_BAD_OUTPUT: Error =
    Error::InvalidArgument("passwordStorage.deriveKey must resolve to a Uint8Array of 32 bytes");

/// The app's `deriveKey` as the core's key derivation hook, each run limited to `limit_ms`.
fn app_key_derivation(derive_key: Function, limit_ms: u32) -> KeyDerivation {
    Box::new(move |password: &[u8], salt: &[u8; SALT_LEN], params: &Argon2idParams| -> DerivedKeyFuture {
        let called = call_derive_key(&derive_key, password, salt, params);
        Box::pin(async move {
            let out = settled(&called?, limit_ms, "passwordStorage.deriveKey").await?.map_err(|_| KDF_FAILED)?;
            let bytes = if let Some(buffer) = out.dyn_ref::<ArrayBuffer>() {
                Uint8Array::new(buffer)
            } else {
                out.dyn_into::<Uint8Array>().map_err(|_| KDF_BAD_OUTPUT)?
            };
            // The core checks the length (32).
            Ok(Zeroizing::new(bytes.to_vec()))
        })
    })
}

/// Calls `deriveKey({ password, salt, memoryKiB, ... })`; returns what it returned.
fn call_derive_key(
    derive_key: &Function,
    password: &[u8],
    salt: &[u8; SALT_LEN],
    params: &Argon2idParams,
) -> core::result::Result<JsValue, Error> {
    // The core holds the UTF-8 of the NFC-normalised string the binding made.
    let password = core::str::from_utf8(password).map_err(|_| Error::Unexpected("password is not UTF-8"))?;
    let request = Object::new();
    for (name, value) in [
        ("password", JsValue::from_str(password)),
        ("salt", Uint8Array::from(&salt[..]).into()),
        ("memoryKiB", params.memory_kib.into()),
        ("iterations", params.iterations.into()),
        ("parallelism", params.parallelism.into()),
        ("hashLength", 32.into()),
        ("algorithm", "argon2id".into()),
        ("version", 0x13.into()),
    ] {
        // Setting a data property on a fresh object cannot fail.
        let _ = Reflect::set(&request, &name.into(), &value);
    }
    derive_key.call1(&JsValue::UNDEFINED, &request).map_err(|_| KDF_FAILED)
}

/// Reads `{ memoryKiB?, iterations?, parallelism? }`; absent fields keep the defaults.
fn read_kdf(kdf: &JsValue) -> Result<Argon2idParams> {
    let mut params = Argon2idParams::default();
    if is_absent(kdf) {
        return Ok(params);
    }
    let bad = Error::InvalidArgument("passwordStorage.kdf must be an object of positive integers");
    for (name, slot) in [
        ("memoryKiB", &mut params.memory_kib),
        ("iterations", &mut params.iterations),
        ("parallelism", &mut params.parallelism),
    ] {
        let v = get(kdf, name, bad.clone())?;
        if is_absent(&v) {
            continue;
        }
        let n = v.as_f64().ok_or_else(|| Failure::type_error(bad.clone()))?;
        if n.fract() != 0.0 || !(1.0..=u32::MAX as f64).contains(&n) {
            return Err(bad.into());
        }
        *slot = n as u32;
    }
    Ok(params)
}
