//! One file per thing the module keeps something in, or asks something of,
//! behind core's traits: the app's own adapters ([`app`]: the keychain, the
//! `custodian`, the `custom` method's storage and React Native's iCloud
//! key-value store), Google [`drive`], Apple's [`cloudkit`], the service's
//! [`firebase`] key enclave, the passkey ceremonies of [`webauthn`], and
//! the app's Argon2id ([`derive_key`]).
//!
//! [`KeysHome`] is the one dispatch over the storages a keys record can
//! live in, so core's keeper of keys records is built once.

use std::rc::Rc;

use wallet_backup_core::{Error, StringStore};
use zeroize::Zeroizing;

use crate::config::KeysSettings;
use crate::errors::LastCause;
use crate::js::Limit;

pub mod app;
pub mod cloudkit;
pub mod derive_key;
pub mod drive;
pub mod firebase;
pub mod webauthn;

/// A backup method ready to create or recover a key: core's one dispatch,
/// over this binding's passkey ceremonies, Firebase enclave and keys-record
/// storages.
pub type Method = wallet_backup_core::Method<webauthn::WebAuthnCeremonies, firebase::FirebaseKeeper, KeysHome>;

/// Where a keys record lives.
pub enum KeysHome {
    /// A file in the user's Google Drive appDataFolder.
    Drive(drive::DriveStorage),
    /// A record in the private database of the app's CloudKit container.
    CloudKit(cloudkit::CloudKitStorage),
    /// The app's own storage: the `custom` adapter, or React Native's iCloud
    /// key-value store.
    App(app::AppStore),
}

impl KeysHome {
    /// The storage of `settings`; the app's functions it calls keep their
    /// failures in `cause`, each call limited to `limit`.
    pub fn new(settings: KeysSettings, cause: Rc<LastCause>, limit: Limit) -> KeysHome {
        match settings {
            KeysSettings::Drive(s) => KeysHome::Drive(drive::DriveStorage::new(s, cause, limit)),
            KeysSettings::CloudKit(s) => KeysHome::CloudKit(cloudkit::CloudKitStorage::new(s, cause, limit)),
            KeysSettings::KeyValue(store) => KeysHome::App(app::AppStore::new(store, &app::KEY_VALUE, cause, limit)),
            KeysSettings::Custom(adapter) => KeysHome::App(app::AppStore::new(adapter, &app::CUSTOM, cause, limit)),
        }
    }

    /// Deletes the keys record (every kept key with it); `false` if there
    /// was none. Only Drive and iCloud offer it (`delete()` of
    /// `GDriveStorage` and `ICloudStorage`).
    pub async fn delete(&self) -> Result<bool, Error> {
        match self {
            KeysHome::Drive(s) => s.delete().await,
            KeysHome::CloudKit(s) => s.delete().await,
            KeysHome::App(s) => s.remove().await,
        }
    }
}

impl StringStore for KeysHome {
    async fn read(&self) -> Result<Option<Zeroizing<String>>, Error> {
        match self {
            KeysHome::Drive(s) => s.read().await,
            KeysHome::CloudKit(s) => s.read().await,
            KeysHome::App(s) => s.read().await,
        }
    }

    async fn write(&self, value: &str) -> Result<(), Error> {
        match self {
            KeysHome::Drive(s) => s.write(value).await,
            KeysHome::CloudKit(s) => s.write(value).await,
            KeysHome::App(s) => s.write(value).await,
        }
    }
}
