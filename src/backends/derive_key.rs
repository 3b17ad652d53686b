//! The Password/PIN method's one platform part: `passwordStorage.deriveKey`,
//! the app's own Argon2id, behind core's key-derivation hook. (The password
//! and the costs are read in `config.rs`; the method is core's.)
//!
//! `passwordStorage.deriveKey`, if given, runs the Argon2id instead of the
//! module (React Native: a native Argon2 module; through wasm2js Argon2id
//! takes seconds). It is called with `{ password, salt, memoryKiB,
//! iterations, parallelism, hashLength: 32, algorithm: 'argon2id',
//! version: 0x13 }` (`password` the NFC-normalised string, to be hashed as
//! UTF-8; `salt` 16 bytes) and resolves to the raw 32-byte output as a
//! `Uint8Array`. The module still draws the salt, chooses the costs and
//! writes the same header; a wrong output fails recovery with
//! `WRONG_PASSWORD` through the key commitment. A throw or rejection is
//! `INVALID_ARGUMENT` with the app's exception as `cause` (the libsodium
//! adapter's own checks say there what libsodium cannot do). A `deriveKey` that does not
//! settle within `adapterTimeoutMs` is `ADAPTER_TIMEOUT`.

use std::rc::Rc;

use js_sys::{ArrayBuffer, Function, Object, Reflect, Uint8Array};
use wallet_backup_core::{Argon2idParams, DerivedKeyFuture, Error, KeyDerivation, SALT_LEN};
use wasm_bindgen::{JsCast, JsValue};
use zeroize::Zeroizing;

use crate::errors::{Failure, LastCause};
use crate::js::{settled, Limit, Signal};

const KDF_FAILED: Error = Error::InvalidArgument("passwordStorage.deriveKey threw or rejected");
const KDF_BAD_OUTPUT: Error =
    Error::InvalidArgument("passwordStorage.deriveKey must resolve to a Uint8Array of 32 bytes");

/// The app's `deriveKey` as the core's key derivation hook, each run limited
/// to `limit`; its exception is kept in `cause`.
pub fn app_key_derivation(derive_key: Function, cause: Rc<LastCause>, limit: Limit) -> KeyDerivation {
    Box::new(move |password: &[u8], salt: &[u8; SALT_LEN], params: &Argon2idParams| -> DerivedKeyFuture {
        let called = call_derive_key(&derive_key, &cause, password, salt, params, &limit.signal);
        let (cause, limit) = (cause.clone(), limit.clone());
        Box::pin(async move {
            let out = settled(&called?, &limit, "passwordStorage.deriveKey").await?.map_err(|e| kept(&cause, e))?;
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

/// `INVALID_ARGUMENT`, with what `deriveKey` threw or rejected with kept as its `cause`.
fn kept(cause: &LastCause, thrown: JsValue) -> Error {
    cause.keep(Failure::from(KDF_FAILED).with_cause(thrown))
}

/// Calls `deriveKey({ password, salt, memoryKiB, ..., signal })`; returns what it returned.
fn call_derive_key(
    derive_key: &Function,
    cause: &LastCause,
    password: &[u8],
    salt: &[u8; SALT_LEN],
    params: &Argon2idParams,
    signal: &Signal,
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
    signal.hand_to(&request);
    derive_key.call1(&JsValue::UNDEFINED, &request).map_err(|e| kept(cause, e))
}
