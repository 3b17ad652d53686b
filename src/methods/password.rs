//! Password/PIN method: reads `config.passwordStorage` and builds the core
//! password method.
//!
//! `passwordStorage.password` is NFC-normalised (so the same PIN typed on
//! different keyboards gives the same key) and copied into zeroizing
//! memory. `passwordStorage.kdf` may raise the Argon2id costs above the
//! defaults; it can never lower them below m = 19 MiB, t = 2, p = 1.

use js_sys::JsString;
use wallet_backup_core::kdf::Argon2idParams;
use wallet_backup_core::methods::password::PasswordMethod;
use wallet_backup_core::Error;
use wasm_bindgen::{JsCast, JsValue};
use zeroize::Zeroizing;

use crate::errors::{Failure, Result};
use crate::js::{exact_string, get, is_absent};

const BAD_CONFIG: Error = Error::InvalidArgument("config.passwordStorage must be an object");

/// Builds the password method from `config.passwordStorage`.
pub fn from_config(config: &JsValue) -> Result<PasswordMethod> {
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
    Ok(PasswordMethod::with_kdf(bytes, kdf)?)
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
