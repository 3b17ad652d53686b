//! Backup methods: where the key of a backup is kept.
//!
//! The envelope and its AEAD are fixed; methods vary. Each method is one
//! file implementing [`BackupMethod`]: it supplies a key for a new backup
//! (and the parameters to record in the header), and gives the key of an
//! existing backup back from its header. Pure methods (password) live in
//! this crate; methods that need the platform (passkeys, Drive, ...) live in
//! the binding and implement the same trait.

use core::future::Future;

use crate::format::Header;
use crate::keys::SecretKey;
use crate::Error;

/// The backup methods, with the byte that names each in the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MethodId {
    /// Key derived from the user's password or PIN.
    Password = 1,
    /// Key released by a passkey (PRF or the service's enclave).
    Passkey = 2,
    /// Key kept in the user's Google Drive app data folder.
    GoogleDrive = 3,
    /// Key kept in the user's iCloud.
    ICloud = 4,
    /// Key released by the service's enclave for a Firebase ID token.
    Firebase = 5,
    /// Key kept by an app-provided adapter.
    Custom = 6,
}

impl MethodId {
    /// Every method, in envelope-byte order.
    pub const ALL: [MethodId; 6] = [
        MethodId::Password,
        MethodId::Passkey,
        MethodId::GoogleDrive,
        MethodId::ICloud,
        MethodId::Firebase,
        MethodId::Custom,
    ];

    /// The API name (`"password"`, `"gdrive"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            MethodId::Password => "password",
            MethodId::Passkey => "passkey",
            MethodId::GoogleDrive => "gdrive",
            MethodId::ICloud => "icloud",
            MethodId::Firebase => "firebase",
            MethodId::Custom => "custom",
        }
    }

    /// The service's upper-case spelling (`"PASSWORD"`, `"GDRIVE"`, ...).
    pub const fn service_name(self) -> &'static str {
        match self {
            MethodId::Password => "PASSWORD",
            MethodId::Passkey => "PASSKEY",
            MethodId::GoogleDrive => "GDRIVE",
            MethodId::ICloud => "ICLOUD",
            MethodId::Firebase => "FIREBASE",
            MethodId::Custom => "CUSTOM",
        }
    }

    /// Parses an API name (`"password"`) or the service's upper-case
    /// spelling (`"PASSWORD"`).
    pub fn parse(name: &str) -> Result<MethodId, Error> {
        MethodId::ALL
            .into_iter()
            .find(|m| m.name() == name || m.service_name() == name)
            .ok_or(Error::UnsupportedStorageMethod)
    }

    /// The method named by an envelope byte.
    pub fn from_byte(byte: u8) -> Option<MethodId> {
        MethodId::ALL.into_iter().find(|m| *m as u8 == byte)
    }
}

/// A new backup's key and the method parameters to record in its header.
pub struct NewKey {
    /// The backup key (see FORMAT.md §4).
    pub key: SecretKey,
    /// Method-specific header bytes (FORMAT.md §3.2).
    pub params: Vec<u8>,
}

/// Where a backup's key comes from and where it is kept.
#[allow(async_fn_in_trait)]
pub trait BackupMethod {
    /// Which method this is; recorded in the envelope.
    fn id(&self) -> MethodId;

    /// Makes (and, for methods that keep it somewhere, stores) the key of a
    /// new backup with the given id.
    fn create_key(&self, backup_id: &[u8; 16]) -> impl Future<Output = Result<NewKey, Error>>;

    /// Gives back the key of the backup whose (already decoded and
    /// structurally checked) header is `header`.
    fn recover_key(&self, header: &Header) -> impl Future<Output = Result<SecretKey, Error>>;

    /// Called once the new backup `backup_id` was verified (read back and
    /// opened), before it is completed at the custodian: a method that keeps
    /// a bounded number of keys marks this one as a good backup's.
    fn confirm_key(&self, backup_id: &[u8; 16]) -> impl Future<Output = Result<(), Error>> {
        let _ = backup_id;
        async { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_both_spellings() {
        for m in MethodId::ALL {
            assert_eq!(MethodId::parse(m.name()), Ok(m));
            assert_eq!(MethodId::parse(&m.name().to_ascii_uppercase()), Ok(m));
            assert_eq!(m.service_name(), m.name().to_ascii_uppercase());
            assert_eq!(MethodId::from_byte(m as u8), Some(m));
        }
        assert_eq!(MethodId::parse("carrier-pigeon"), Err(Error::UnsupportedStorageMethod));
        assert_eq!(MethodId::parse("Password"), Err(Error::UnsupportedStorageMethod));
        assert_eq!(MethodId::parse(""), Err(Error::UnsupportedStorageMethod));
        assert_eq!(MethodId::from_byte(0), None);
        assert_eq!(MethodId::from_byte(7), None);
    }
}
