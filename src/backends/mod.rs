//! One file per thing the module keeps something in, or asks something of,
//! behind core's traits: the app's own adapters ([`app`]: the keychain, the
//! `custodian` and the `custom` method's storage),
//! the iCloud [`key_value`] store of React Native, Google [`drive`], Apple's
//! [`cloudkit`], the service's [`firebase`] key enclave, the passkey
//! ceremonies of [`webauthn`], and the app's Argon2id ([`derive_key`]).
//!
//! [`KeysHome`] is the one dispatch over the storages a keys record can
//! live in, so core's keeper of keys records is built once.

use wallet_backup_core::{Error, StringStore};
use zeroize::Zeroizing;

pub mod app;
pub mod cloudkit;
pub mod derive_key;
pub mod drive;
pub mod firebase;
pub mod key_value;
pub mod webauthn;

/// Where a keys record lives.
pub enum KeysHome {
    /// A file in the user's Google Drive appDataFolder.
    Drive(drive::DriveStorage),
    /// A record in the private database of the app's CloudKit container.
    CloudKit(cloudkit::CloudKitStorage),
    /// The app's iCloud key-value store (React Native).
    KeyValue(key_value::KeyValueStore),
    /// The app's `custom` storage adapter.
    Custom(app::AppStore),
}

impl KeysHome {
    /// Deletes the keys record (every kept key with it); `false` if there
    /// was none. Only Drive and iCloud offer it (`delete()` of
    /// `GDriveStorage` and `ICloudStorage`).
    pub async fn delete(&self) -> Result<bool, Error> {
        match self {
            KeysHome::Drive(s) => s.delete().await,
            KeysHome::CloudKit(s) => s.delete().await,
            KeysHome::KeyValue(s) => s.remove().await,
            KeysHome::Custom(_) => {
                Err(Error::InvalidArgument("storageOperation supports the gdrive and icloud methods only"))
            }
        }
    }
}

impl StringStore for KeysHome {
    async fn read(&self) -> Result<Option<Zeroizing<String>>, Error> {
        match self {
            KeysHome::Drive(s) => s.read().await,
            KeysHome::CloudKit(s) => s.read().await,
            KeysHome::KeyValue(s) => s.read().await,
            KeysHome::Custom(s) => s.read().await,
        }
    }

    async fn write(&self, value: &str) -> Result<(), Error> {
        match self {
            KeysHome::Drive(s) => s.write(value).await,
            KeysHome::CloudKit(s) => s.write(value).await,
            KeysHome::KeyValue(s) => s.write(value).await,
            KeysHome::Custom(s) => s.write(value).await,
        }
    }
}
