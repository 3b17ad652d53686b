//! Methods whose backup key is drawn at random and kept somewhere else: the
//! Firebase and passkey key enclaves on the backup service, cloud drives,
//! custom adapters. The method only differs by where the key goes, so each
//! such method is a [`KeyKeeper`] behind one [`KeptKeyMethod`].
//!
//! Such a backup records no method parameters (FORMAT.md §3.4.2): the key is
//! found again by the envelope's backup id. Every backup gets a fresh key,
//! and a keeper never overwrites one, so older cipherTexts keep recovering.

use core::future::Future;

use crate::format::Header;
use crate::keys::SecretKey;
use crate::method::{BackupMethod, MethodId, NewKey};
use crate::store::BackupId;
use crate::Error;

/// Keeps backup keys by backup id.
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
pub struct KeptKeyMethod<K: KeyKeeper> {
    id: MethodId,
    keeper: K,
}

impl<K: KeyKeeper> KeptKeyMethod<K> {
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
        Ok(NewKey { key, params: Vec::new() })
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

#[cfg(test)]
mod tests {
    use super::*;
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

    fn block_on<F: Future>(f: F) -> F::Output {
        use core::task::{Context, Poll, Waker};
        let mut f = core::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("test futures complete at once"),
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
