//! The exports: `backupWallet`, `recoverWallet` and the `Portal` class.
//!
//! Each export validates its arguments, builds the method and the adapters,
//! runs the core flow, and maps failures to JavaScript errors. Nothing here
//! touches key material beyond handing it to the core.

use std::cell::RefCell;

use js_sys::{Function, Object, Promise, WeakSet};
use wallet_backup_core::flow;
use wallet_backup_core::Error;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::adapters::{JsCustodian, JsKeychain, JsProgress, LastCause};
use crate::errors::{Failure, Result};
use crate::js::{get, is_absent};
use crate::methods::{parse_method_id, Method};

thread_local! {
    /// Keychains with a backup or recovery in flight.
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

/// The app's adapters for one call.
#[derive(Clone)]
struct Adapters {
    keychain: JsValue,
    custodian: JsValue,
}

impl Adapters {
    fn from_options(options: &JsValue, what: &'static str) -> Result<Adapters> {
        let bad = Error::InvalidArgument(what);
        if !options.is_object() {
            return Err(Failure::type_error(bad));
        }
        let keychain = get(options, "keychain", bad.clone())?;
        if !keychain.is_object() {
            return Err(Failure::type_error(Error::KeychainUnavailable(
                "keychain adapter missing: pass { getShares, setShares }",
            )));
        }
        let custodian = get(options, "custodian", bad)?;
        if !custodian.is_object() {
            return Err(Failure::type_error(Error::CustodianUnavailable(
                "custodian adapter missing: pass { read, write }",
            )));
        }
        Ok(Adapters { keychain, custodian })
    }
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

async fn run_backup(adapters: Adapters, method: JsValue, on_progress: JsValue, config: JsValue) -> Result<String> {
    let method = Method::from_js(parse_method_id(&method)?, &config)?;
    let progress = progress_from(on_progress)?;
    let _busy = BusyGuard::acquire(&adapters.keychain)?;
    let cause = LastCause::default();
    let keychain = JsKeychain { obj: adapters.keychain, cause: &cause };
    let custodian = JsCustodian { obj: adapters.custodian, cause: &cause };
    flow::backup(&keychain, &custodian, &method, &progress, &[]).await.map_err(|e| with_cause(e, &cause))
}

async fn run_recover(
    adapters: Adapters,
    cipher_text: JsValue,
    method: JsValue,
    on_progress: JsValue,
    config: JsValue,
) -> Result<()> {
    let cipher_text = cipher_text
        .as_string()
        .ok_or_else(|| Failure::type_error(Error::InvalidArgument("cipherText must be a string")))?;
    let method = Method::from_js(parse_method_id(&method)?, &config)?;
    let progress = progress_from(on_progress)?;
    let _busy = BusyGuard::acquire(&adapters.keychain)?;
    let cause = LastCause::default();
    let keychain = JsKeychain { obj: adapters.keychain, cause: &cause };
    let custodian = JsCustodian { obj: adapters.custodian, cause: &cause };
    flow::recover(&cipher_text, &keychain, &custodian, &method, &progress)
        .await
        .map_err(|e| with_cause(e, &cause))
}

fn with_cause(error: Error, cause: &LastCause) -> Failure {
    let failure = Failure::from(error);
    match cause.take() {
        Some(c) => failure.with_cause(c),
        None => failure,
    }
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
        let adapters = Adapters::from_options(&config, "config must be an object with keychain and custodian")?;
        run_backup(adapters, method, on_progress, config).await
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
        let adapters = Adapters::from_options(&config, "config must be an object with keychain and custodian")?;
        run_recover(adapters, cipher_text, method, on_progress, config).await
    };
    run.await.map(|()| JsValue::UNDEFINED).map_err(Failure::into_js)
}

/// A wallet's backup client, holding the app's adapters.
///
/// ```js
/// const portal = new Portal({ keychain, custodian })
/// const cipherText = await portal.backupWallet('password', onProgress, { passwordStorage: { password } })
/// await portal.recoverWallet(cipherText, 'password', onProgress, { passwordStorage: { password } })
/// ```
#[wasm_bindgen]
pub struct Portal {
    adapters: Adapters,
}

#[wasm_bindgen]
impl Portal {
    /// Creates a client over the app's keychain and custodian adapters.
    ///
    /// Throws a `TypeError` (`KEYCHAIN_UNAVAILABLE`, `CUSTODIAN_UNAVAILABLE`
    /// or `INVALID_ARGUMENT`) when an adapter is missing.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "PortalOptions")] options: JsValue,
    ) -> core::result::Result<Portal, JsValue> {
        Adapters::from_options(&options, "Portal options must be an object with keychain and custodian")
            .map(|adapters| Portal { adapters })
            .map_err(Failure::into_js)
    }

    /// Backs up the wallet and resolves to the `cipherText` the app keeps.
    ///
    /// `Done` is reported only after the custodian share was stored and the
    /// new backup was proven to restore the shares. See `backupWallet`.
    #[wasm_bindgen(js_name = backupWallet, unchecked_return_type = "Promise<string>")]
    pub fn backup_wallet(
        &self,
        #[wasm_bindgen(unchecked_param_type = "BackupMethod")] method: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ProgressCallback | null | undefined")] on_progress: JsValue,
        #[wasm_bindgen(unchecked_param_type = "BackupConfig | null | undefined")] config: JsValue,
    ) -> Promise {
        let adapters = self.adapters.clone();
        future_to_promise(async move {
            run_backup(adapters, method, on_progress, config).await.map(JsValue::from).map_err(Failure::into_js)
        })
    }

    /// Restores the wallet's shares into the keychain from a `cipherText`.
    ///
    /// Resolves once the shares are written; rejects with `WRONG_PASSWORD`,
    /// `CIPHERTEXT_CORRUPTED`, `INVALID_CIPHERTEXT`, ... (see the README).
    #[wasm_bindgen(js_name = recoverWallet, unchecked_return_type = "Promise<void>")]
    pub fn recover_wallet(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] cipher_text: JsValue,
        #[wasm_bindgen(unchecked_param_type = "BackupMethod")] method: JsValue,
        #[wasm_bindgen(unchecked_param_type = "ProgressCallback | null | undefined")] on_progress: JsValue,
        #[wasm_bindgen(unchecked_param_type = "BackupConfig | null | undefined")] config: JsValue,
    ) -> Promise {
        let adapters = self.adapters.clone();
        future_to_promise(async move {
            run_recover(adapters, cipher_text, method, on_progress, config)
                .await
                .map(|()| JsValue::UNDEFINED)
                .map_err(Failure::into_js)
        })
    }
}

/// The stable code of every error the module can throw, for apps that want
/// to enumerate them.
#[wasm_bindgen(js_name = errorCodes, unchecked_return_type = "ErrorCode[]")]
pub fn error_codes() -> Vec<String> {
    Error::all_variants().iter().map(|e| e.code().to_string()).collect()
}
