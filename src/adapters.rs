//! The app's JavaScript adapters behind the core's storage traits.
//!
//! - `keychain`: `{ getShares(): Promise<string>, setShares(shares): Promise<void> }`
//! - `custodian`: `{ read(): Promise<string | null>, write(record): Promise<void> }`
//! - `onProgress`: `({ status, done }) => void`, whose failures are ignored.
//!
//! Each call into the keychain and the custodian is limited to
//! `adapterTimeoutMs` (`ADAPTER_TIMEOUT` past it).

use js_sys::{Function, Object, Promise, Reflect};
use wallet_backup_core::{Error, Keychain, Progress, Status, StringStore};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use zeroize::Zeroizing;

use crate::errors::Failure;
use crate::js::{call_method, exact_string, is_absent};

/// Where a JS adapter failure is remembered, so the export can throw it as
/// it was (a `TypeError` for a missing method, the app's exception as
/// `cause`): the core traits carry only core errors.
#[derive(Default)]
pub struct LastCause(core::cell::RefCell<Option<Failure>>);

impl LastCause {
    /// Remembers `f` to be thrown as it is; returns its core error.
    pub fn keep(&self, f: Failure) -> Error {
        let error = f.error.clone();
        *self.0.borrow_mut() = Some(f);
        error
    }

    /// The failure to throw for `error`: the adapter failure behind it if
    /// there was one, else `error` as a plain `Error`.
    pub fn failure_for(&self, error: Error) -> Failure {
        match self.0.borrow_mut().take() {
            Some(kept) if kept.error == error => kept,
            _ => Failure::from(error),
        }
    }
}

/// The app's keychain adapter.
pub struct JsKeychain<'a> {
    /// The adapter object.
    pub obj: JsValue,
    /// Where failures' causes go.
    pub cause: &'a LastCause,
    /// How long each call may take (`adapterTimeoutMs`).
    pub limit_ms: u32,
}

impl Keychain for JsKeychain<'_> {
    async fn get_shares(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let v = call_method(
            &self.obj,
            "keychain.getShares",
            &[],
            Error::KeychainUnavailable("keychain.getShares is not a function"),
            Error::KeychainUnavailable("keychain.getShares failed"),
            self.limit_ms,
        )
        .await
        .map_err(|f| self.cause.keep(f))?;
        // Lone surrogates would be replaced on the way into Rust and the
        // shares restored altered: refuse them instead.
        match exact_string(&v) {
            Some(Ok(s)) => Ok(Zeroizing::new(s.as_bytes().to_vec())),
            Some(Err(())) => {
                Err(Error::KeychainUnavailable("keychain.getShares returned a string that is not valid Unicode"))
            }
            None if is_absent(&v) => Err(Error::KeychainUnavailable("the keychain holds no shares")),
            None => Err(Error::KeychainUnavailable("keychain.getShares did not return a string")),
        }
    }

    async fn set_shares(&self, shares: &[u8]) -> Result<(), Error> {
        let text = core::str::from_utf8(shares)
            .map_err(|_| Error::InvalidCiphertext("the backed-up shares are not UTF-8 text"))?;
        call_method(
            &self.obj,
            "keychain.setShares",
            &[JsValue::from_str(text)],
            Error::KeychainUnavailable("keychain.setShares is not a function"),
            Error::KeychainUnavailable("keychain.setShares failed"),
            self.limit_ms,
        )
        .await
        .map_err(|f| self.cause.keep(f))?;
        Ok(())
    }
}

/// The app's custodian adapter (keeps the custodian record string).
pub struct JsCustodian<'a> {
    /// The adapter object.
    pub obj: JsValue,
    /// Where failures' causes go.
    pub cause: &'a LastCause,
    /// How long each call may take (`adapterTimeoutMs`).
    pub limit_ms: u32,
}

impl StringStore for JsCustodian<'_> {
    async fn read(&self) -> Result<Option<Zeroizing<String>>, Error> {
        let v = call_method(
            &self.obj,
            "custodian.read",
            &[],
            Error::CustodianUnavailable("custodian.read is not a function"),
            Error::CustodianUnavailable("custodian.read failed"),
            self.limit_ms,
        )
        .await
        .map_err(|f| self.cause.keep(f))?;
        match v.as_string() {
            Some(s) => Ok(Some(Zeroizing::new(s))),
            None if is_absent(&v) => Ok(None),
            None => Err(Error::CustodianUnavailable("custodian.read did not return a string")),
        }
    }

    async fn write(&self, record: &str) -> Result<(), Error> {
        call_method(
            &self.obj,
            "custodian.write",
            &[JsValue::from_str(record)],
            Error::CustodianUnavailable("custodian.write is not a function"),
            Error::CustodianUnavailable("custodian.write failed"),
            self.limit_ms,
        )
        .await
        .map_err(|f| self.cause.keep(f))?;
        Ok(())
    }
}

thread_local! {
    /// One no-op rejection handler, made once and kept for the module's life.
    pub static IGNORE_REJECTION: Closure<dyn FnMut(JsValue)> = Closure::new(|_: JsValue| {});
}

/// The app's progress callback; a throwing or rejecting callback is ignored.
pub struct JsProgress(pub Option<Function>);

impl Progress for JsProgress {
    fn report(&self, status: Status, done: bool) {
        let Some(f) = &self.0 else { return };
        let event = Object::new();
        let _ = Reflect::set(&event, &"status".into(), &status.as_str().into());
        let _ = Reflect::set(&event, &"done".into(), &done.into());
        if let Ok(returned) = f.call1(&JsValue::UNDEFINED, &event) {
            // A rejected promise from the callback must not surface as an
            // unhandled rejection either.
            if let Ok(p) = returned.dyn_into::<Promise>() {
                IGNORE_REJECTION.with(|ignore| {
                    let _ = p.catch(ignore);
                });
            }
        }
    }
}
