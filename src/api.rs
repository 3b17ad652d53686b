//! The exports: `backupWallet` and `recoverWallet`. (The `Portal` class is a
//! thin JavaScript wrapper over them, in `js/api.mjs`.)
//!
//! Each export validates its arguments, builds the method and the adapters,
//! runs the core flow, and maps failures to JavaScript errors. Nothing here
//! touches key material beyond handing it to the core.

use std::cell::RefCell;

use js_sys::{Function, Object, WeakSet};
use wallet_backup_core::flow;
use wallet_backup_core::Error;
use wasm_bindgen::prelude::*;

use crate::adapters::{JsCustodian, JsKeychain, JsProgress, LastCause};
use crate::errors::{Failure, Result};
use crate::js::{get, is_absent};
use crate::methods::{parse_method_id, Method};

thread_local! {
    /// Keychains with a backup or recovery in flight (one at a time per keychain).
    static BUSY_KEYCHAINS: RefCell<Option<WeakSet>> = const { RefCell::new(None) };
}

/// Marks a keychain busy for the life of the guard.
struct BusyGuard(Object);

impl BusyGuard {
    fn acquire(keychain: &JsValue) -> Result<BusyGuard> {
        let obj: Object = keychain.clone().dyn_into().map_err(|_| {
            Failure::type_error(Error::KeychainUnavailable("keychain adapter missing: pass { getShares, setShares }"))
        })?;
        BUSY_KEYCHAINS.with(|cell| {
            let mut cell = cell.borrow_mut();
            let set = cell.get_or_insert_with(WeakSet::new);
            if set.has(&obj) {
                return Err(Error::WalletModificationAlreadyInProgress.into());
            }
            set.add(&obj);
            Ok(BusyGuard(obj))
        })
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        BUSY_KEYCHAINS.with(|cell| {
            if let Some(set) = cell.borrow().as_ref() {
                set.delete(&self.0);
            }
        });
    }
}

/// One backup or recovery call with its arguments checked: the method, the
/// progress sink, and the app's adapters, with the keychain marked busy.
struct Call {
    method: Method,
    progress: JsProgress,
    keychain: JsValue,
    custodian: JsValue,
    /// Where adapter failures are kept to be thrown as they were.
    cause: LastCause,
    _busy: BusyGuard,
}

impl Call {
    fn prepare(method: &JsValue, on_progress: JsValue, config: &JsValue) -> Result<Call> {
        let bad = Error::InvalidArgument("config must be an object with keychain and custodian");
        if !config.is_object() {
            return Err(Failure::type_error(bad));
        }
        let keychain = get(config, "keychain", bad.clone())?;
        if !is_object_like(&keychain) {
            return Err(Failure::type_error(Error::KeychainUnavailable(
                "keychain adapter missing: pass { getShares, setShares }",
            )));
        }
        let custodian = get(config, "custodian", bad)?;
        if !is_object_like(&custodian) {
            return Err(Failure::type_error(Error::CustodianUnavailable(
                "custodian adapter missing: pass { read, write }",
            )));
        }
        let method = Method::from_js(parse_method_id(method)?, config)?;
        let progress = progress_from(on_progress)?;
        let busy = BusyGuard::acquire(&keychain)?;
        Ok(Call { method, progress, keychain, custodian, cause: LastCause::default(), _busy: busy })
    }

    fn keychain(&self) -> JsKeychain<'_> {
        JsKeychain { obj: self.keychain.clone(), cause: &self.cause }
    }

    fn custodian(&self) -> JsCustodian<'_> {
        JsCustodian { obj: self.custodian.clone(), cause: &self.cause }
    }
}

/// Objects and functions (a class with static methods is a fine adapter).
fn is_object_like(v: &JsValue) -> bool {
    v.is_object() || v.is_function()
}

fn progress_from(on_progress: JsValue) -> Result<JsProgress> {
    if is_absent(&on_progress) {
        return Ok(JsProgress(None));
    }
    on_progress
        .dyn_into::<Function>()
        .map(|f| JsProgress(Some(f)))
        .map_err(|_| Failure::type_error(Error::InvalidArgument("onProgress must be a function")))
}

/// Backs up the wallet's shares and resolves to the `cipherText`.
///
/// Reads the shares from `config.keychain`, splits them into a client and a
/// custodian backup share, encrypts the client share with AES-256-GCM under
/// a key kept by `method`, stores the custodian share with
/// `config.custodian`, reads both back to prove they restore the shares,
/// and only then reports `Done`.
///
/// Rejects with an `Error` carrying a stable `code` (see the README).
#[wasm_bindgen(js_name = backupWallet, unchecked_return_type = "string")]
pub async fn backup_wallet(
    #[wasm_bindgen(unchecked_param_type = "BackupMethod")] method: JsValue,
    #[wasm_bindgen(unchecked_param_type = "ProgressCallback | null | undefined")] on_progress: JsValue,
    #[wasm_bindgen(unchecked_param_type = "WalletBackupConfig")] config: JsValue,
) -> core::result::Result<JsValue, JsValue> {
    let run = async {
        let call = Call::prepare(&method, on_progress, &config)?;
        flow::backup(&call.keychain(), &call.custodian(), &call.method, &call.progress, &[])
            .await
            .map_err(|e| call.cause.failure_for(e))
    };
    run.await.map(JsValue::from).map_err(Failure::into_js)
}

/// Recovers the wallet's shares from a `cipherText` made by `backupWallet`
/// and writes them to `config.keychain`.
///
/// `method` must be the method the backup was made with; the custodian
/// share is read from `config.custodian`.
#[wasm_bindgen(js_name = recoverWallet, unchecked_return_type = "undefined")]
pub async fn recover_wallet(
    #[wasm_bindgen(unchecked_param_type = "string")] cipher_text: JsValue,
    #[wasm_bindgen(unchecked_param_type = "BackupMethod")] method: JsValue,
    #[wasm_bindgen(unchecked_param_type = "ProgressCallback | null | undefined")] on_progress: JsValue,
    #[wasm_bindgen(unchecked_param_type = "WalletBackupConfig")] config: JsValue,
) -> core::result::Result<JsValue, JsValue> {
    let run = async {
        let cipher_text = cipher_text
            .as_string()
            .ok_or_else(|| Failure::type_error(Error::InvalidArgument("cipherText must be a string")))?;
        let call = Call::prepare(&method, on_progress, &config)?;
        flow::recover(&cipher_text, &call.keychain(), &call.custodian(), &call.method, &call.progress)
            .await
            .map_err(|e| call.cause.failure_for(e))
    };
    run.await.map(|()| JsValue::UNDEFINED).map_err(Failure::into_js)
}
