//! Backup methods as the binding builds them from the app's config.
//!
//! One file per method turns its part of the JS config into a core
//! [`BackupMethod`]; [`Method`] dispatches to them. Adding a method means
//! one new file and one line in [`Method::from_js`] and in the enum.

use wallet_backup_core::format::Header;
use wallet_backup_core::keys::SecretKey;
use wallet_backup_core::method::{BackupMethod, MethodId, NewKey};
use wallet_backup_core::methods::kept::KeptKeyMethod;
use wallet_backup_core::methods::key_record::{KeysStorage, RecordKeeper};
use wallet_backup_core::methods::passkey::PasskeyMethod;
use wallet_backup_core::methods::password::PasswordMethod;
use wallet_backup_core::Error;
use wasm_bindgen::JsValue;
use zeroize::Zeroizing;

use std::rc::Rc;

use crate::adapters::LastCause;
use crate::errors::{Failure, Result};

pub mod custom;
pub mod firebase;
pub mod gdrive;
pub mod icloud;
pub mod passkey;
pub mod password;

/// A backup method ready to create or recover a key.
pub enum Method {
    /// Password/PIN.
    Password(PasswordMethod),
    /// Firebase Auth: the key in the service's enclave.
    Firebase(KeptKeyMethod<firebase::FirebaseKeeper>),
    /// Passkey: PRF on the device, or the key in the service's enclave.
    Passkey(PasskeyMethod<passkey::WebAuthnCeremonies>),
    /// Google Drive, iCloud and custom: the key in a keys record, in the
    /// user's appDataFolder or iCloud, or the app's adapter (one
    /// instantiation of the keeper for all keeps the wasm small).
    Record(KeptKeyMethod<RecordKeeper<KeysHome>>),
}

/// Where a keys record lives.
pub enum KeysHome {
    /// A file in the user's Google Drive appDataFolder.
    Drive(gdrive::DriveStorage),
    /// A record in the user's iCloud (CloudKit, or the app's key-value store).
    ICloud(icloud::ICloudStorage),
    /// The app's storage adapter.
    Custom(custom::CustomStorage),
}

impl KeysStorage for KeysHome {
    async fn read(&self) -> core::result::Result<Option<Zeroizing<String>>, Error> {
        match self {
            KeysHome::Drive(s) => s.read().await,
            KeysHome::ICloud(s) => s.read().await,
            KeysHome::Custom(s) => s.read().await,
        }
    }

    async fn write(&self, record: &str) -> core::result::Result<(), Error> {
        match self {
            KeysHome::Drive(s) => s.write(record).await,
            KeysHome::ICloud(s) => s.write(record).await,
            KeysHome::Custom(s) => s.write(record).await,
        }
    }
}

/// Parses the `method` argument (`'password'`, `'PASSWORD'`, ...).
pub fn parse_method_id(method: &JsValue) -> Result<MethodId> {
    let name = method
        .as_string()
        .ok_or_else(|| Failure::type_error(Error::InvalidArgument("method must be a string such as 'password'")))?;
    Ok(MethodId::parse(&name)?)
}

impl Method {
    /// Builds the method named `id` from the call's `config`; failures of
    /// the app's functions it calls later go to `cause`, and each such call
    /// may take `limit_ms` (`adapterTimeoutMs`).
    pub fn from_js(id: MethodId, config: &JsValue, cause: &Rc<LastCause>, limit_ms: u32) -> Result<Method> {
        match id {
            MethodId::Password => Ok(Method::Password(password::from_config(config, limit_ms)?)),
            MethodId::Firebase => Ok(Method::Firebase(firebase::from_config(config, cause.clone(), limit_ms)?)),
            MethodId::Passkey => Ok(Method::Passkey(passkey::from_config(config, cause.clone(), limit_ms)?)),
            MethodId::GoogleDrive => {
                let home = KeysHome::Drive(gdrive::DriveStorage::from_config(config, cause.clone(), limit_ms)?);
                Ok(Method::Record(KeptKeyMethod::new(id, RecordKeeper(home))?))
            }
            MethodId::Custom => {
                let home = KeysHome::Custom(custom::from_config(config, cause.clone(), limit_ms)?);
                Ok(Method::Record(KeptKeyMethod::new(id, RecordKeeper(home))?))
            }
            MethodId::ICloud => {
                let home = KeysHome::ICloud(icloud::ICloudStorage::from_config(config, cause.clone(), limit_ms)?);
                Ok(Method::Record(KeptKeyMethod::new(id, RecordKeeper(home))?))
            }
        }
    }
}

impl BackupMethod for Method {
    fn id(&self) -> MethodId {
        match self {
            Method::Password(m) => m.id(),
            Method::Firebase(m) => m.id(),
            Method::Passkey(m) => m.id(),
            Method::Record(m) => m.id(),
        }
    }

    async fn create_key(&self, backup_id: &[u8; 16]) -> core::result::Result<NewKey, Error> {
        match self {
            Method::Password(m) => m.create_key(backup_id).await,
            Method::Firebase(m) => m.create_key(backup_id).await,
            Method::Passkey(m) => m.create_key(backup_id).await,
            Method::Record(m) => m.create_key(backup_id).await,
        }
    }

    async fn recover_key(&self, header: &Header) -> core::result::Result<SecretKey, Error> {
        match self {
            Method::Password(m) => m.recover_key(header).await,
            Method::Firebase(m) => m.recover_key(header).await,
            Method::Passkey(m) => m.recover_key(header).await,
            Method::Record(m) => m.recover_key(header).await,
        }
    }

    async fn confirm_key(&self, backup_id: &[u8; 16]) -> core::result::Result<(), Error> {
        match self {
            Method::Record(m) => m.confirm_key(backup_id).await,
            Method::Password(_) | Method::Firebase(_) | Method::Passkey(_) => Ok(()),
        }
    }
}
