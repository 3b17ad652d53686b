//! Custom method: the backup key is drawn at random and kept by an adapter
//! of the app's own, in a keys record (FORMAT.md §3.4.4) — one string.
//!
//! `config.custom` is Portal's storage interface: `read()` resolving to the
//! stored string or `null`, `write(value)`, and optionally
//! `validateOperations()` resolving to a boolean, which the module asks
//! before its first write of a backup (`false`: `STORAGE_UNAVAILABLE`).
//! `delete()` is the app's to call; the module never deletes. Every write
//! is read back and compared; a record the module cannot read is never
//! overwritten. The adapter's exceptions become the `cause` of a
//! `STORAGE_UNAVAILABLE`; a call that does not settle within
//! `adapterTimeoutMs` is `ADAPTER_TIMEOUT`.
//!
//! The iCloud method's React Native form uses the same code over the app's
//! key-value store (AsyncStorage's shape), the record under one key.

use core::cell::Cell;
use std::rc::Rc;

use js_sys::{Function, JsString};
use wallet_backup_core::{Error, StringStore, MAX_KEYS_TEXT_LEN};
use wasm_bindgen::{JsCast, JsValue};
use zeroize::Zeroizing;

use crate::adapters::LastCause;
use crate::errors::{Failure, Result};
use crate::js::{call_method, get, is_absent};
use crate::methods::icloud::KV_KEY;

/// The app's storage adapter of `config.custom`, each call limited to `limit_ms`.
pub fn from_config(config: &JsValue, cause: Rc<LastCause>, limit_ms: u32) -> Result<CustomStorage> {
    let missing =
        Error::InvalidArgument("config.custom must be a storage adapter { read, write, validateOperations? }");
    let adapter = get(config, "custom", missing.clone())?;
    if is_absent(&adapter) {
        return Err(Failure::type_error(missing));
    }
    for name in ["read", "write"] {
        get(&adapter, name, missing.clone())?
            .dyn_into::<Function>()
            .map_err(|_| Failure::type_error(missing.clone()))?;
    }
    Ok(CustomStorage { adapter, cause, validated: Cell::new(false), kv: false, limit_ms })
}

/// The app's storage adapter, holding the keys record: the `custom`
/// method's `{ read, write }`, or the iCloud method's key-value store
/// (`getItem(key)`, `setItem(key, value)`, `removeItem(key)`, React
/// Native's iCloud key-value modules), with the record under one key.
pub struct CustomStorage {
    adapter: JsValue,
    cause: Rc<LastCause>,
    /// Whether `validateOperations` was asked in this call.
    validated: Cell<bool>,
    /// The key-value store form.
    kv: bool,
    /// How long each call may take (`adapterTimeoutMs`).
    limit_ms: u32,
}

impl CustomStorage {
    /// The iCloud method's key-value store `store` (its functions checked by
    /// the caller), each call limited to `limit_ms`.
    pub fn key_value(store: JsValue, cause: Rc<LastCause>, limit_ms: u32) -> CustomStorage {
        // A key-value store has no validateOperations to ask.
        CustomStorage { adapter: store, cause, validated: Cell::new(true), kv: true, limit_ms }
    }

    /// Calls the adapter's function `what` (`"custom.read"`, ...).
    async fn call(&self, what: &'static str, args: &[JsValue], failed: Error) -> core::result::Result<JsValue, Error> {
        let missing = Error::InvalidArgument("the storage adapter lacks a function it needs");
        call_method(&self.adapter, what, args, missing, failed, self.limit_ms).await.map_err(|f| self.cause.keep(f))
    }

    /// The stored value, as the adapter gives it.
    async fn get(&self) -> core::result::Result<JsValue, Error> {
        if self.kv {
            let failed = Error::StorageUnavailable("icloud.keyValueStore.getItem failed");
            self.call("icloud.keyValueStore.getItem", &[KV_KEY.into()], failed).await
        } else {
            self.call("custom.read", &[], Error::StorageUnavailable("custom.read failed")).await
        }
    }

    /// Key-value store form: removes the keys record; `false` if there was none.
    pub async fn remove(&self) -> core::result::Result<bool, Error> {
        let existed = !is_absent(&self.get().await?);
        let failed = Error::StorageUnavailable("icloud.keyValueStore.removeItem failed");
        self.call("icloud.keyValueStore.removeItem", &[KV_KEY.into()], failed).await?;
        Ok(existed)
    }
}

impl StringStore for CustomStorage {
    async fn read(&self) -> core::result::Result<Option<Zeroizing<String>>, Error> {
        let v = self.get().await?;
        if is_absent(&v) {
            return Ok(None);
        }
        let text = v
            .dyn_into::<JsString>()
            .map_err(|_| Error::StorageUnavailable("the storage adapter did not resolve to a string or null"))?;
        // Bounded before it is copied into wasm memory: a longer value is no keys record.
        if text.length() as usize > MAX_KEYS_TEXT_LEN {
            return Err(Error::StorageUnavailable("the stored value is not a wallet-backup keys record"));
        }
        Ok(Some(Zeroizing::new(String::from(text))))
    }

    async fn write(&self, record: &str) -> core::result::Result<(), Error> {
        if !self.validated.get() {
            let check = get(&self.adapter, "validateOperations", Error::StorageUnavailable("custom adapter"))
                .map_err(|f| self.cause.keep(f))?;
            if !is_absent(&check) {
                let failed = Error::StorageUnavailable("custom.validateOperations failed");
                let ok = self.call("custom.validateOperations", &[], failed).await?;
                if ok.as_bool() != Some(true) {
                    return Err(Error::StorageUnavailable("custom.validateOperations() did not resolve to true"));
                }
            }
            self.validated.set(true);
        }
        let value = JsValue::from_str(record);
        if self.kv {
            let failed = Error::StorageUnavailable("icloud.keyValueStore.setItem failed");
            self.call("icloud.keyValueStore.setItem", &[KV_KEY.into(), value], failed).await?;
        } else {
            self.call("custom.write", &[value], Error::StorageUnavailable("custom.write failed")).await?;
        }
        Ok(())
    }
}
