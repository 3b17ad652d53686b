//! The app's own adapters, the objects of functions it passes in:
//!
//! - the `keychain` ([`JsKeychain`]), holding the wallet's signing shares:
//!   `{ getShares(): Promise<string>, setShares(shares): Promise<void> }`;
//! - the stores holding one string, one type, [`AppStore`], with its
//!   [`Role`] naming its functions and its failures: the `custodian` (the
//!   custodian record, when the app keeps the custodian half itself), the
//!   `custom` method's storage, and in React Native the iCloud method's
//!   key-value store (both holding the keys record, FORMAT.md §3.4.4).
//!
//! The custodian and custom adapters are `{ read, write }`: `read()`
//! resolves to the stored string or `null`, `write(value)` stores one. The
//! iCloud key-value store is the app's native NSUbiquitousKeyValueStore
//! module (e.g. `react-native-icloudstore`) with AsyncStorage's shape,
//! `getItem(key)`, `setItem(key, value)`, `removeItem(key)`, holding the
//! keys record under the key `wallet-backup-keys`.
//!
//! The `custom` adapter may also have `validateOperations()` resolving
//! to a boolean, which the module asks before its first write of a backup
//! (`false`: `STORAGE_UNAVAILABLE`); `delete()` is the app's to call, the
//! module never deletes. Every write is read back and compared; a record
//! the module cannot read is never overwritten (core's `StoredRecord`).
//! An adapter's exceptions become the `cause` of a `KEYCHAIN_UNAVAILABLE`
//! (keychain), `CUSTODIAN_UNAVAILABLE` (custodian) or `STORAGE_UNAVAILABLE`
//! (custom, key-value store); a call that does not settle within
//! `adapterTimeoutMs` is `ADAPTER_TIMEOUT`.

use core::cell::Cell;
use std::rc::Rc;

use js_sys::JsString;
use wallet_backup_core::{Error, Keychain, StringStore, MAX_KEYS_TEXT_LEN};
use wasm_bindgen::{JsCast, JsValue};
use zeroize::Zeroizing;

use crate::errors::LastCause;
use crate::js::{call_method, exact_string, get, is_absent, Limit};

/// What an app adapter is for: its functions as errors name them, and
/// their failures.
pub struct Role {
    read: &'static str,
    write: &'static str,
    /// A `read` missing (a `TypeError`).
    missing_read: Error,
    /// A `write` missing (a `TypeError`).
    missing_write: Error,
    read_failed: Error,
    write_failed: Error,
    /// `read` resolved to something other than a string or nothing.
    not_a_string: Error,
    /// Keys records are short: a longer value is refused before it is
    /// copied into wasm memory. `None`: no bound (custodian records).
    max_len: Option<usize>,
    /// Whether `validateOperations()` is asked before the first write.
    validates: bool,
    /// The key the value is kept under, passed first to `read` and `write`
    /// (a key-value store); `None`: the adapter holds one value.
    key: Option<&'static str>,
    /// The function that removes the value, and its failure (a key-value store).
    remove: Option<(&'static str, Error)>,
}

/// The `custodian` adapter, holding the custodian record.
pub const CUSTODIAN: Role = Role {
    read: "custodian.read",
    write: "custodian.write",
    missing_read: Error::CustodianUnavailable("custodian.read is not a function"),
    missing_write: Error::CustodianUnavailable("custodian.write is not a function"),
    read_failed: Error::CustodianUnavailable("custodian.read failed"),
    write_failed: Error::CustodianUnavailable("custodian.write failed"),
    not_a_string: Error::CustodianUnavailable("custodian.read did not return a string"),
    max_len: None,
    validates: false,
    key: None,
    remove: None,
};

/// The `custom` method's storage adapter, holding the keys record.
pub const CUSTOM: Role = Role {
    read: "custom.read",
    write: "custom.write",
    missing_read: Error::InvalidArgument("the storage adapter lacks a function it needs"),
    missing_write: Error::InvalidArgument("the storage adapter lacks a function it needs"),
    read_failed: Error::StorageUnavailable("custom.read failed"),
    write_failed: Error::StorageUnavailable("custom.write failed"),
    not_a_string: Error::StorageUnavailable("the storage adapter did not resolve to a string or null"),
    max_len: Some(MAX_KEYS_TEXT_LEN),
    validates: true,
    key: None,
    remove: None,
};

/// The key-value store's key holding the keys record.
pub const KV_KEY: &str = "wallet-backup-keys";

/// The iCloud method's key-value store (React Native), holding the keys record.
pub const KEY_VALUE: Role = Role {
    read: "icloud.keyValueStore.getItem",
    write: "icloud.keyValueStore.setItem",
    missing_read: Error::InvalidArgument("the storage adapter lacks a function it needs"),
    missing_write: Error::InvalidArgument("the storage adapter lacks a function it needs"),
    read_failed: Error::StorageUnavailable("icloud.keyValueStore.getItem failed"),
    write_failed: Error::StorageUnavailable("icloud.keyValueStore.setItem failed"),
    not_a_string: Error::StorageUnavailable("the storage adapter did not resolve to a string or null"),
    max_len: Some(MAX_KEYS_TEXT_LEN),
    validates: false,
    key: Some(KV_KEY),
    remove: Some((
        "icloud.keyValueStore.removeItem",
        Error::StorageUnavailable("icloud.keyValueStore.removeItem failed"),
    )),
};

/// One of the app's `{ read, write }` adapters.
pub struct AppStore {
    adapter: JsValue,
    role: &'static Role,
    cause: Rc<LastCause>,
    /// Whether `validateOperations` was asked in this call.
    validated: Cell<bool>,
    /// How long each call may take (`adapterTimeoutMs`).
    limit: Limit,
}

impl AppStore {
    /// The app's `adapter` in `role`; each call may take `limit`.
    pub fn new(adapter: JsValue, role: &'static Role, cause: Rc<LastCause>, limit: Limit) -> AppStore {
        AppStore { adapter, role, cause, validated: Cell::new(!role.validates), limit }
    }

    /// Asks `validateOperations()`, if the adapter has one, once per call.
    async fn validate(&self) -> Result<(), Error> {
        if self.validated.get() {
            return Ok(());
        }
        let check = get(&self.adapter, "validateOperations", Error::StorageUnavailable("custom adapter"))
            .map_err(|f| self.cause.keep(f))?;
        if !is_absent(&check) {
            let missing = Error::InvalidArgument("the storage adapter lacks a function it needs");
            let failed = Error::StorageUnavailable("custom.validateOperations failed");
            let ok = call_method(&self.adapter, "custom.validateOperations", &[], missing, failed, &self.limit)
                .await
                .map_err(|f| self.cause.keep(f))?;
            if ok.as_bool() != Some(true) {
                return Err(Error::StorageUnavailable("custom.validateOperations() did not resolve to true"));
            }
        }
        self.validated.set(true);
        Ok(())
    }
}

impl AppStore {
    /// Calls the adapter's function `what` with the role's key (if any)
    /// before `value` (if any).
    async fn call(
        &self,
        what: &'static str,
        value: Option<&str>,
        missing: &Error,
        failed: &Error,
    ) -> Result<JsValue, Error> {
        let args = [
            self.role.key.map(JsValue::from_str).unwrap_or_default(),
            value.map(JsValue::from_str).unwrap_or_default(),
        ];
        let args = &args[usize::from(self.role.key.is_none())..1 + usize::from(value.is_some())];
        call_method(&self.adapter, what, args, missing.clone(), failed.clone(), &self.limit)
            .await
            .map_err(|f| self.cause.keep(f))
    }

    /// Removes the value (a key-value store's `removeItem`); `false` if there was none.
    pub async fn remove(&self) -> Result<bool, Error> {
        let role = self.role;
        let Some((remove, failed)) = &role.remove else {
            return Err(Error::InvalidArgument("storageOperation supports the gdrive and icloud methods only"));
        };
        let existed = !is_absent(&self.call(role.read, None, &role.missing_read, &role.read_failed).await?);
        self.call(remove, None, &role.missing_read, failed).await?;
        Ok(existed)
    }
}

impl StringStore for AppStore {
    async fn read(&self) -> Result<Option<Zeroizing<String>>, Error> {
        let role = self.role;
        let v = self.call(role.read, None, &role.missing_read, &role.read_failed).await?;
        stored_text(v, role.not_a_string.clone(), role.max_len)
    }

    async fn write(&self, value: &str) -> Result<(), Error> {
        self.validate().await?;
        let role = self.role;
        self.call(role.write, Some(value), &role.missing_write, &role.write_failed).await?;
        Ok(())
    }
}

/// What an app's storage resolved to, as the stored string: `None` for
/// nothing stored, `not_a_string` for anything but a string, and a string
/// longer than `max_len` (a keys record's bound) refused before it is
/// copied into wasm memory.
pub fn stored_text(
    v: JsValue,
    not_a_string: Error,
    max_len: Option<usize>,
) -> Result<Option<Zeroizing<String>>, Error> {
    if is_absent(&v) {
        return Ok(None);
    }
    let text = v.dyn_into::<JsString>().map_err(|_| not_a_string)?;
    if max_len.is_some_and(|max| text.length() as usize > max) {
        return Err(Error::StorageUnavailable("the stored value is not a wallet-backup keys record"));
    }
    Ok(Some(Zeroizing::new(String::from(text))))
}

/// The app's keychain adapter.
pub struct JsKeychain<'a> {
    /// The adapter object.
    pub obj: JsValue,
    /// Where failures' causes go.
    pub cause: &'a LastCause,
    /// How long each call may take (`adapterTimeoutMs`), and the app's signal.
    pub limit: Limit,
}

impl Keychain for JsKeychain<'_> {
    async fn get_shares(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let v = call_method(
            &self.obj,
            "keychain.getShares",
            &[],
            Error::KeychainUnavailable("keychain.getShares is not a function"),
            Error::KeychainUnavailable("keychain.getShares failed"),
            &self.limit,
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
        // The recovery's commit: checked for an abort before, never
        // interrupted once started (its own result decides).
        self.limit.signal.check()?;
        let text = core::str::from_utf8(shares)
            .map_err(|_| Error::InvalidCiphertext("the backed-up shares are not UTF-8 text"))?;
        call_method(
            &self.obj,
            "keychain.setShares",
            &[JsValue::from_str(text)],
            Error::KeychainUnavailable("keychain.setShares is not a function"),
            Error::KeychainUnavailable("keychain.setShares failed"),
            &self.limit.committing(),
        )
        .await
        .map_err(|f| self.cause.keep(f))?;
        Ok(())
    }
}
