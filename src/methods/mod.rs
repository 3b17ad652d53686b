//! Backup methods as the binding builds them from the app's config.
//!
//! One file per method turns its part of the JS config into what core's
//! [`Method`] takes; [`from_js`] picks the method.

use wallet_backup_core::{Error, MethodId, StringStore};
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

/// A backup method ready to create or recover a key: core's one dispatch,
/// over this binding's passkey ceremonies, Firebase enclave and keys-record
/// storages.
pub type Method = wallet_backup_core::Method<passkey::WebAuthnCeremonies, firebase::FirebaseKeeper, KeysHome>;

/// Where a keys record lives.
pub enum KeysHome {
    /// A file in the user's Google Drive appDataFolder.
    Drive(gdrive::DriveStorage),
    /// A record in the user's iCloud (CloudKit, or the app's key-value store).
    ICloud(icloud::ICloudStorage),
    /// The app's storage adapter.
    Custom(custom::CustomStorage),
}

impl StringStore for KeysHome {
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

/// Builds the method named `id` from the call's `config`; failures of the
/// app's functions it calls later go to `cause`, and each such call may take
/// `limit_ms` (`adapterTimeoutMs`).
pub fn from_js(id: MethodId, config: &JsValue, cause: &Rc<LastCause>, limit_ms: u32) -> Result<Method> {
    match id {
        MethodId::Password => Ok(Method::Password(password::from_config(config, limit_ms)?)),
        MethodId::Firebase => Ok(Method::enclave(id, firebase::from_config(config, cause.clone(), limit_ms)?)?),
        MethodId::Passkey => Ok(Method::Passkey(passkey::from_config(config, cause.clone(), limit_ms)?)),
        MethodId::GoogleDrive => {
            let home = KeysHome::Drive(gdrive::DriveStorage::from_config(config, cause.clone(), limit_ms)?);
            Ok(Method::keys_record(id, home)?)
        }
        MethodId::Custom => {
            let home = KeysHome::Custom(custom::from_config(config, cause.clone(), limit_ms)?);
            Ok(Method::keys_record(id, home)?)
        }
        MethodId::ICloud => {
            let home = KeysHome::ICloud(icloud::ICloudStorage::from_config(config, cause.clone(), limit_ms)?);
            Ok(Method::keys_record(id, home)?)
        }
    }
}
