//! The exports: `backupWallet`, `recoverWallet`, the backup-service
//! queries `walletBackupStatus` and `storedClientBackupShare`, and
//! `storageOperation` (`GDriveStorage`/`ICloudStorage`'s own operations).
//! (The `Portal` class is a thin JavaScript wrapper over them, in
//! `js/api.mjs`.)
//!
//! Each export has its arguments read and checked once (`config.rs`),
//! builds the method and the custodian from those settings, runs the core
//! flow, and turns failures into JavaScript errors. Nothing here touches
//! key material beyond handing it to the core.
//!
//! One backup or recovery at a time per keychain: the keychain object is
//! marked busy for the life of the call (`WALLET_MODIFICATION_ALREADY_IN_PROGRESS`
//! for a second one). So that an app function that never settles cannot
//! keep it busy for good, every call into the app's functions is limited to
//! `adapterTimeoutMs` (60000 ms by default; passkey prompts get WebAuthn's
//! own `timeout` on top): past it the call fails with `ADAPTER_TIMEOUT`
//! before any later step ran, and the keychain is free again when the
//! rejection reaches the app. The app's `config.signal` ends a call the
//! same way, with `ABORTED` (see `js.rs`); the commit steps (a recovery's
//! `setShares`, the service's confirm) are checked before they start and
//! never interrupted, so `ABORTED` always means nothing changed.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect, WeakSet};
use wallet_backup_core::{BackupMethod, Custodian, Error, Progress, Status, StoredRecord};
use wasm_bindgen::prelude::*;

use crate::backends::app::{AppStore, JsKeychain, CUSTODIAN};
use crate::backends::{KeysHome, Method};
use crate::config::{self, CustodianSettings, Export};
use crate::errors::{Failure, LastCause, Result};
use crate::js::{Limit, Signal, IGNORE_REJECTION};
use crate::service::Service;

/// Where this call keeps the custodian half: the app's adapter or the service.
type Store<'a> = Custodian<AppStore, Service<'a>>;

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
    custodian: CustodianSettings,
    /// Where adapter failures are kept to be thrown as they were.
    cause: Rc<LastCause>,
    /// How long each call into the app's functions may take (`adapterTimeoutMs`).
    limit: Limit,
    _busy: BusyGuard,
}

impl Call {
    /// `recover` is the cipherText of a recovery (`None`: a backup).
    fn prepare(method: &JsValue, on_progress: JsValue, config: &JsValue, recover: Option<&str>) -> Result<Call> {
        let cause = Rc::new(LastCause::default());
        let export = if recover.is_some() { Export::Recover } else { Export::Backup };
        let settings = config::call(export, method, on_progress, config, recover, &cause)?;
        let busy = BusyGuard::acquire(&settings.keychain)?;
        Ok(Call {
            method: settings.method,
            progress: JsProgress(settings.on_progress),
            keychain: settings.keychain,
            custodian: settings.custodian,
            cause,
            limit: settings.limit,
            _busy: busy,
        })
    }

    fn keychain(&self) -> JsKeychain<'_> {
        JsKeychain { obj: self.keychain.clone(), cause: &self.cause, limit: self.limit.clone() }
    }

    /// The failure to throw for `e`: `ABORTED` has the signal's `reason` as cause.
    fn failure(&self, e: Error) -> Failure {
        let failure = self.cause.failure_for(e);
        if failure.error == Error::Aborted {
            return Failure::from(Error::Aborted).with_cause(self.limit.signal.reason());
        }
        failure
    }

    async fn backup(&self) -> Result<String> {
        let run = async {
            // An aborted signal stops before any work.
            self.limit.signal.check()?;
            let store = self.store();
            if let Custodian::Service(service) = &store {
                service.read_client().await.map_err(|f| self.cause.keep(f))?;
            }
            wallet_backup_core::backup(&self.keychain(), &store, &self.method, &self.progress, &[]).await
        };
        run.await.map_err(|e| self.failure(e))
    }

    async fn recover(&self, cipher_text: &str) -> Result<()> {
        let run = async {
            self.limit.signal.check()?;
            let store = self.store();
            let fetched;
            let cipher_text = match &store {
                // Managed backups: the service keeps the newest cipherText.
                Custodian::Service(service) if cipher_text.is_empty() => {
                    fetched = service.latest_cipher_text(self.method.id()).await.map_err(|f| self.cause.keep(f))?;
                    fetched.as_str()
                }
                _ => cipher_text,
            };
            wallet_backup_core::recover(cipher_text, &self.keychain(), &store, &self.method, &self.progress).await
        };
        run.await.map_err(|e| self.failure(e))
    }

    /// Where this call keeps the custodian half.
    fn store(&self) -> Store<'_> {
        match &self.custodian {
            CustodianSettings::Service(settings) => {
                Custodian::Service(settings.client(&self.cause, self.limit.signal.clone()))
            }
            CustodianSettings::App(adapter) => Custodian::App(StoredRecord::custodian(AppStore::new(
                adapter.clone(),
                &CUSTODIAN,
                self.cause.clone(),
                self.limit.clone(),
            ))),
        }
    }
}

/// The app's progress callback; a throwing or rejecting callback is ignored.
struct JsProgress(Option<Function>);

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

/// Backs up the wallet's shares and resolves to the `cipherText`.
///
/// Reads the shares from `config.keychain`, splits them into a client and a
/// custodian backup share, encrypts the client share with AES-256-GCM under
/// a key kept by `method`, and stores the custodian share with the backup
/// service (`config.apiKey`, `config.apiHost`) or the app's
/// `config.custodian`. It reads the custodian share back and proves the pair
/// restores the shares; with managed backups it then stores the cipherText
/// on the service and confirms the backup. Only then does it report `Done`.
///
/// Each call into the app's functions may take `config.adapterTimeoutMs`
/// (default 60000); past it the backup fails with `ADAPTER_TIMEOUT`, frees
/// the keychain and completes nothing: the previous backup stays the one
/// recovery uses. `config.signal` (an `AbortSignal`) cancels it the same
/// way, with `ABORTED` (the service's confirm, once sent, is not
/// interrupted: its answer decides).
///
/// Rejects with an `Error` carrying a stable `code` (every code: docs/errors.md).
#[wasm_bindgen(js_name = backupWallet, unchecked_return_type = "string")]
pub async fn backup_wallet(
    #[wasm_bindgen(unchecked_param_type = "import('../index.js').BackupMethod")] method: JsValue,
    #[wasm_bindgen(unchecked_param_type = "import('../index.js').ProgressCallback | null | undefined")]
    on_progress: JsValue,
    #[wasm_bindgen(unchecked_param_type = "import('../index.js').WalletBackupConfig")] config: JsValue,
) -> core::result::Result<JsValue, JsValue> {
    let run = async { Call::prepare(&method, on_progress, &config, None)?.backup().await };
    run.await.map(JsValue::from).map_err(Failure::into_js)
}

/// Recovers the wallet's shares from a `cipherText` made by `backupWallet`
/// and writes them to `config.keychain`.
///
/// `method` must be the method the backup was made with. With the backup
/// service and managed backups, `cipherText` may be `''`: the newest
/// completed backup of `method` is fetched from the service. Each call into
/// the app's functions may take `config.adapterTimeoutMs` (default 60000;
/// past it: `ADAPTER_TIMEOUT`, and the keychain is free again).
/// `config.signal` cancels it with `ABORTED`, the keychain untouched (the
/// `setShares` that writes it, once called, is not interrupted).
#[wasm_bindgen(js_name = recoverWallet, unchecked_return_type = "undefined")]
pub async fn recover_wallet(
    #[wasm_bindgen(unchecked_param_type = "string")] cipher_text: JsValue,
    #[wasm_bindgen(unchecked_param_type = "import('../index.js').BackupMethod")] method: JsValue,
    #[wasm_bindgen(unchecked_param_type = "import('../index.js').ProgressCallback | null | undefined")]
    on_progress: JsValue,
    #[wasm_bindgen(unchecked_param_type = "import('../index.js').WalletBackupConfig")] config: JsValue,
) -> core::result::Result<JsValue, JsValue> {
    let run = async {
        let cipher_text = cipher_text
            .as_string()
            .ok_or_else(|| Failure::type_error(Error::InvalidArgument("cipherText must be a string")))?;
        Call::prepare(&method, on_progress, &config, Some(&cipher_text))?.recover(&cipher_text).await
    };
    run.await.map(|()| JsValue::UNDEFINED).map_err(Failure::into_js)
}

/// Asks the backup service whether this wallet has a completed backup:
/// `{ isBackedUp, isRecoverable, availableRecoveryMethods, pinGuard }`
/// (`pinGuard`: the newest password backup's guess count when it is
/// guess-limited, else `null`).
#[wasm_bindgen(js_name = walletBackupStatus, unchecked_return_type = "import('../index.js').WalletBackupStatus")]
pub async fn wallet_backup_status(
    #[wasm_bindgen(unchecked_param_type = "import('../index.js').ServiceConfig")] config: JsValue,
) -> core::result::Result<JsValue, JsValue> {
    let run = async {
        let cause = LastCause::default();
        config::service_only(&config)?.client(&cause, Signal::default()).wallet_status().await
    };
    run.await.map_err(Failure::into_js)
}

/// Self-managed backups: tells the backup service whether the app stored
/// the cipherText of its newest `method` backup. With `success` the backup
/// becomes the one recovery uses; without, it is marked failed and the
/// previous backup stays in use.
#[wasm_bindgen(js_name = storedClientBackupShare, unchecked_return_type = "undefined")]
pub async fn stored_client_backup_share(
    #[wasm_bindgen(unchecked_param_type = "boolean")] success: JsValue,
    #[wasm_bindgen(unchecked_param_type = "import('../index.js').BackupMethod")] method: JsValue,
    #[wasm_bindgen(unchecked_param_type = "import('../index.js').ServiceConfig")] config: JsValue,
) -> core::result::Result<JsValue, JsValue> {
    let run = async {
        let success = success
            .as_bool()
            .ok_or_else(|| Failure::type_error(Error::InvalidArgument("success must be a boolean")))?;
        let method = config::method_id(&method)?;
        let cause = LastCause::default();
        config::service_only(&config)?.client(&cause, Signal::default()).report_stored(method, success).await
    };
    run.await.map(|()| JsValue::UNDEFINED).map_err(Failure::into_js)
}

/// Operations on a method's key storage outside a backup, for
/// `GDriveStorage` and `ICloudStorage`'s `validateOperations()` and
/// `delete()`: `'validate'` reads the keys record (file, CloudKit record or
/// key-value entry), creating it empty when there is none, rewrites it
/// unchanged and reads it back (resolves to `true`; an unreadable record is
/// never overwritten: `STORAGE_UNAVAILABLE`); `'delete'` deletes it, and
/// every key in it (resolves to whether there was one). `method` must be
/// `'gdrive'` or `'icloud'`; `config` holds `gdrive` or `icloud`, and may
/// hold `adapterTimeoutMs` (each call into the app's functions).
#[wasm_bindgen(js_name = storageOperation, unchecked_return_type = "boolean")]
pub async fn storage_operation(
    #[wasm_bindgen(unchecked_param_type = "'validate' | 'delete'")] operation: JsValue,
    #[wasm_bindgen(unchecked_param_type = "import('../index.js').BackupMethod")] method: JsValue,
    #[wasm_bindgen(unchecked_param_type = "import('../index.js').BackupConfig")] config: JsValue,
) -> core::result::Result<JsValue, JsValue> {
    let cause = Rc::new(LastCause::default());
    let run = async {
        let (keys, limit) = config::storage(&method, &config)?;
        let home = KeysHome::new(keys, cause.clone(), limit);
        let done = match operation.as_string().as_deref() {
            // The keeper over the owned storage, the type the method uses: one copy in the wasm.
            Some("validate") => StoredRecord::keys(home).validate().await.map(|()| true),
            Some("delete") => home.delete().await,
            _ => return Err(Error::InvalidArgument("operation must be 'validate' or 'delete'").into()),
        };
        done.map_err(|e| cause.failure_for(e))
    };
    run.await.map(JsValue::from).map_err(Failure::into_js)
}
