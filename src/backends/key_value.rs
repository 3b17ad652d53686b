//! The iCloud method in React Native: the app's native iCloud key-value
//! module (NSUbiquitousKeyValueStore, e.g. `react-native-icloudstore`) with
//! AsyncStorage's shape — `getItem(key)`, `setItem(key, value)`,
//! `removeItem(key)` — holding the keys record (FORMAT.md §3.4.4) under the
//! key `wallet-backup-keys`.
//!
//! Its exceptions become the `cause` of a `STORAGE_UNAVAILABLE`; a call
//! that does not settle within `adapterTimeoutMs` is `ADAPTER_TIMEOUT`.

use std::rc::Rc;

use wallet_backup_core::{Error, StringStore, MAX_KEYS_TEXT_LEN};
use wasm_bindgen::JsValue;
use zeroize::Zeroizing;

use crate::backends::app::stored_text;
use crate::errors::LastCause;
use crate::js::{call_method, is_absent};

/// The key-value store's key holding the keys record.
pub const KV_KEY: &str = "wallet-backup-keys";

/// The app's iCloud key-value store (its functions checked when the
/// settings were read).
pub struct KeyValueStore {
    store: JsValue,
    cause: Rc<LastCause>,
    /// How long each call may take (`adapterTimeoutMs`).
    limit_ms: u32,
}

impl KeyValueStore {
    /// The key-value store `store`; each call may take `limit_ms`.
    pub fn new(store: JsValue, cause: Rc<LastCause>, limit_ms: u32) -> KeyValueStore {
        KeyValueStore { store, cause, limit_ms }
    }

    /// Calls the store's function `what` (`"icloud.keyValueStore.getItem"`, ...).
    async fn call(&self, what: &'static str, args: &[JsValue], failed: Error) -> Result<JsValue, Error> {
        let missing = Error::InvalidArgument("the storage adapter lacks a function it needs");
        call_method(&self.store, what, args, missing, failed, self.limit_ms).await.map_err(|f| self.cause.keep(f))
    }

    /// `getItem(key)`, as the store gives it.
    async fn get(&self) -> Result<JsValue, Error> {
        let failed = Error::StorageUnavailable("icloud.keyValueStore.getItem failed");
        self.call("icloud.keyValueStore.getItem", &[KV_KEY.into()], failed).await
    }

    /// Removes the keys record; `false` if there was none.
    pub async fn remove(&self) -> Result<bool, Error> {
        let existed = !is_absent(&self.get().await?);
        let failed = Error::StorageUnavailable("icloud.keyValueStore.removeItem failed");
        self.call("icloud.keyValueStore.removeItem", &[KV_KEY.into()], failed).await?;
        Ok(existed)
    }
}

impl StringStore for KeyValueStore {
    async fn read(&self) -> Result<Option<Zeroizing<String>>, Error> {
        let not_a_string = Error::StorageUnavailable("the storage adapter did not resolve to a string or null");
        stored_text(self.get().await?, not_a_string, Some(MAX_KEYS_TEXT_LEN))
    }

    async fn write(&self, value: &str) -> Result<(), Error> {
        let failed = Error::StorageUnavailable("icloud.keyValueStore.setItem failed");
        self.call("icloud.keyValueStore.setItem", &[KV_KEY.into(), JsValue::from_str(value)], failed).await?;
        Ok(())
    }
}
