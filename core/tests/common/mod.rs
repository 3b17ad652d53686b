//! Helpers shared by the core's integration tests.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Runs a future whose adapters are all in-memory (so it never waits).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("in-memory future was pending"),
    }
}

use std::cell::RefCell;

use wallet_backup_core::{BackupMethod, Error, Header, MethodId, NewKey, SecretKey};

/// A key-keeping method with an in-memory store: the twin of methods that
/// keep a random key somewhere (Drive, enclave, custom adapters).
#[allow(dead_code)] // not every test binary uses it
#[derive(Default)]
pub struct MemoryKeyMethod {
    pub keys: RefCell<Vec<([u8; 16], [u8; 32])>>,
}

impl BackupMethod for MemoryKeyMethod {
    fn id(&self) -> MethodId {
        MethodId::Custom
    }
    async fn create_key(&self, backup_id: &[u8; 16]) -> Result<NewKey, Error> {
        let key = SecretKey::random()?;
        self.keys.borrow_mut().push((*backup_id, *key.expose()));
        Ok(NewKey { key, params: Vec::new(), guard: None })
    }
    async fn recover_key(&self, header: &Header) -> Result<SecretKey, Error> {
        self.keys
            .borrow()
            .iter()
            .find(|(id, _)| *id == header.backup_id)
            .map(|(_, k)| SecretKey::from_bytes(*k))
            .ok_or(Error::WrongBackupKey)
    }
}
