//! Backup methods: where the key of a backup is kept.
//!
//! The envelope and its AEAD are fixed; methods vary. A method implements
//! [`BackupMethod`]: it supplies a key for a new backup (and the parameters
//! to record in the header), and gives the key of an existing backup back
//! from its header. There are three shapes, one file each:
//!
//! - the password method (`methods/password.rs`): the key is derived;
//! - the passkey method (`methods/passkey.rs`): PRF on the device, or the
//!   service's enclave; the binding runs the WebAuthn ceremonies;
//! - [`KeptKeyMethod`] (here): a random key kept by a [`KeyKeeper`] — the
//!   Firebase enclave, or a keys record ([`StoredRecord`]) in Google Drive,
//!   iCloud or the app's `custom` adapter.
//!
//! [`Method`] is the one dispatch over them, generic over the platform parts
//! the binding supplies, so a backup goes from the flow through core to the
//! binding once.

use core::future::Future;

use crate::flow::BackupId;
use crate::format::Header;
use crate::keys::SecretKey;
use crate::methods::passkey::{PasskeyCeremonies, PasskeyMethod};
use crate::methods::password::PasswordMethod;
use crate::methods::pin_guard::Registration;
use crate::record::{KeyEntry, StoredRecord, StringStore};
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
    /// For a guess-limited password backup, what the backup service must
    /// keep with the custodian half (FORMAT.md §3.4.1.1).
    pub guard: Option<Registration>,
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
    /// structurally checked) header is `header`. For a guess-limited
    /// password backup, the Argon2id output, which the flow takes through
    /// the service's OPRF (FORMAT.md §3.4.1.1).
    fn recover_key(&self, header: &Header) -> impl Future<Output = Result<SecretKey, Error>>;

    /// Called once the new backup `backup_id` was verified (read back and
    /// opened), before it is completed at the custodian: a method that keeps
    /// a bounded number of keys marks this one as a good backup's.
    fn confirm_key(&self, backup_id: &[u8; 16]) -> impl Future<Output = Result<(), Error>> {
        let _ = backup_id;
        async { Ok(()) }
    }
}

/// Keeps the random backup keys of a [`KeptKeyMethod`] by backup id.
///
/// Such a backup records no method parameters (FORMAT.md §3.4.2): the key is
/// found again by the envelope's backup id. Every backup gets a fresh key,
/// and a keeper never overwrites one, so older cipherTexts keep recovering.
#[allow(async_fn_in_trait)]
pub trait KeyKeeper {
    /// Stores the key of the new backup `backup_id`.
    fn store(&self, backup_id: &BackupId, key: &SecretKey) -> impl Future<Output = Result<(), Error>>;
    /// Marks the key of the backup `backup_id` as belonging to a verified
    /// backup. Keepers that keep a bounded number of keys (the keys record,
    /// FORMAT.md §3.4.4) keep completed keys over pending ones, so failed
    /// backups never push out the key of the last good one.
    fn confirm(&self, backup_id: &BackupId) -> impl Future<Output = Result<(), Error>> {
        let _ = backup_id;
        async { Ok(()) }
    }
    /// The key of the backup `backup_id`.
    fn fetch(&self, backup_id: &BackupId) -> impl Future<Output = Result<SecretKey, Error>>;
}

/// A method whose random key is kept by `keeper`.
pub struct KeptKeyMethod<K> {
    id: MethodId,
    keeper: K,
}

impl<K> KeptKeyMethod<K> {
    /// The method `id`, keeping its keys with `keeper`. `password` keeps no key
    /// and is refused.
    pub fn new(id: MethodId, keeper: K) -> Result<Self, Error> {
        if id == MethodId::Password {
            return Err(Error::Unexpected("the password method keeps no key"));
        }
        Ok(KeptKeyMethod { id, keeper })
    }
}

impl<K: KeyKeeper> BackupMethod for KeptKeyMethod<K> {
    fn id(&self) -> MethodId {
        self.id
    }

    async fn create_key(&self, backup_id: &[u8; 16]) -> Result<NewKey, Error> {
        let key = SecretKey::random()?;
        self.keeper.store(backup_id, &key).await?;
        Ok(NewKey { key, params: Vec::new(), guard: None })
    }

    async fn recover_key(&self, header: &Header) -> Result<SecretKey, Error> {
        if !header.method_params.is_empty() {
            return Err(Error::InvalidCiphertext("this method records no parameters"));
        }
        self.keeper.fetch(&header.backup_id).await
    }

    async fn confirm_key(&self, backup_id: &[u8; 16]) -> Result<(), Error> {
        self.keeper.confirm(backup_id).await
    }
}

/// The method of one call: the one dispatch over the method shapes, with
/// the passkey ceremonies `C`, the Firebase enclave `F` and the storage `S`
/// of a keys record supplied by the binding.
pub enum Method<C, F, S> {
    /// Password/PIN: the key derived with Argon2id.
    Password(PasswordMethod),
    /// Passkey: PRF on the device, or the key in the service's enclave.
    Passkey(PasskeyMethod<C>),
    /// A random key kept by a key enclave (Firebase).
    Enclave(KeptKeyMethod<F>),
    /// A random key kept in a keys record (Google Drive, iCloud, custom):
    /// one instantiation of the record for all keeps the wasm small.
    KeysRecord(KeptKeyMethod<StoredRecord<S, KeyEntry>>),
}

impl<C, F, S> Method<C, F, S> {
    /// The method `id` keeping its keys in a keys record in `storage`.
    pub fn keys_record(id: MethodId, storage: S) -> Result<Self, Error> {
        Ok(Method::KeysRecord(KeptKeyMethod::new(id, StoredRecord::keys(storage))?))
    }

    /// The method `id` keeping its keys with the enclave `keeper`.
    pub fn enclave(id: MethodId, keeper: F) -> Result<Self, Error> {
        Ok(Method::Enclave(KeptKeyMethod::new(id, keeper)?))
    }
}

impl<C: PasskeyCeremonies, F: KeyKeeper, S: StringStore> BackupMethod for Method<C, F, S> {
    fn id(&self) -> MethodId {
        match self {
            Method::Password(m) => m.id(),
            Method::Passkey(m) => m.id(),
            Method::Enclave(m) => m.id(),
            Method::KeysRecord(m) => m.id(),
        }
    }

    async fn create_key(&self, backup_id: &BackupId) -> Result<NewKey, Error> {
        match self {
            Method::Password(m) => m.create_key(backup_id).await,
            Method::Passkey(m) => m.create_key(backup_id).await,
            Method::Enclave(m) => m.create_key(backup_id).await,
            Method::KeysRecord(m) => m.create_key(backup_id).await,
        }
    }

    async fn recover_key(&self, header: &Header) -> Result<SecretKey, Error> {
        match self {
            Method::Password(m) => m.recover_key(header).await,
            Method::Passkey(m) => m.recover_key(header).await,
            Method::Enclave(m) => m.recover_key(header).await,
            Method::KeysRecord(m) => m.recover_key(header).await,
        }
    }

    async fn confirm_key(&self, backup_id: &BackupId) -> Result<(), Error> {
        match self {
            Method::KeysRecord(m) => m.confirm_key(backup_id).await,
            Method::Password(_) | Method::Passkey(_) | Method::Enclave(_) => Ok(()),
        }
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

#[cfg(test)]
mod kept_tests {
    use super::*;
    use crate::block_on;
    use core::cell::RefCell;

    #[derive(Default)]
    struct MapKeeper(RefCell<Vec<(BackupId, SecretKey)>>);

    impl KeyKeeper for MapKeeper {
        async fn store(&self, id: &BackupId, key: &SecretKey) -> Result<(), Error> {
            self.0.borrow_mut().push((*id, key.clone()));
            Ok(())
        }
        async fn fetch(&self, id: &BackupId) -> Result<SecretKey, Error> {
            let keys = self.0.borrow();
            keys.iter().find(|(i, _)| i == id).map(|(_, k)| k.clone()).ok_or(Error::BackupKeyNotFound)
        }
    }

    #[test]
    fn fresh_key_per_backup_kept_and_found_by_backup_id() {
        let method = KeptKeyMethod::new(MethodId::Firebase, MapKeeper::default()).unwrap();
        let a = block_on(method.create_key(&[1; 16])).unwrap();
        let b = block_on(method.create_key(&[2; 16])).unwrap();
        assert!(a.params.is_empty());
        assert_ne!(a.key.expose(), b.key.expose());
        let header = |id| Header { method: MethodId::Firebase, backup_id: id, method_params: vec![], context: vec![] };
        assert_eq!(block_on(method.recover_key(&header([1; 16]))).unwrap().expose(), a.key.expose());
        assert_eq!(block_on(method.recover_key(&header([3; 16]))).map(|_| ()), Err(Error::BackupKeyNotFound));
        let mut with_params = header([1; 16]);
        with_params.method_params = vec![0];
        assert_eq!(block_on(method.recover_key(&with_params)).map(|_| ()).unwrap_err().code(), "INVALID_CIPHERTEXT");
        assert!(KeptKeyMethod::new(MethodId::Password, MapKeeper::default()).is_err());
    }
}
