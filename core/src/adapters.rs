//! The app-side storage a backup talks to, as traits, each with an
//! in-memory twin used by native tests.
//!
//! The binding implements these traits over the JavaScript adapters the app
//! passes in (`keychain`, `custodian`, `onProgress`).

use core::cell::{Cell, RefCell};
use core::future::Future;

use zeroize::Zeroizing;

use crate::status::Status;
use crate::Error;

/// The device keychain holding the wallet's signing shares.
#[allow(async_fn_in_trait)]
pub trait Keychain {
    /// The shares, as opaque bytes (Portal's are a JSON string).
    fn get_shares(&self) -> impl Future<Output = Result<Zeroizing<Vec<u8>>, Error>>;
    /// Replaces the shares.
    fn set_shares(&self, shares: &[u8]) -> impl Future<Output = Result<(), Error>>;
}

/// Where the custodian half is kept.
#[allow(async_fn_in_trait)]
pub trait Custodian {
    /// The stored custodian record, `None` if nothing is stored yet.
    fn read(&self) -> impl Future<Output = Result<Option<Zeroizing<String>>, Error>>;
    /// Replaces the stored custodian record.
    fn write(&self, record: &str) -> impl Future<Output = Result<(), Error>>;
}

/// Receives progress reports. Must not fail: a broken callback never
/// breaks a backup.
pub trait Progress {
    /// Reports that `status` has started (`done` is true only with `Done`).
    fn report(&self, status: Status, done: bool);
}

/// In-memory keychain.
#[derive(Default)]
pub struct MemoryKeychain {
    /// The shares held, if any.
    pub shares: RefCell<Option<Vec<u8>>>,
}

impl MemoryKeychain {
    /// A keychain holding `shares`.
    pub fn with(shares: &[u8]) -> Self {
        MemoryKeychain { shares: RefCell::new(Some(shares.to_vec())) }
    }
}

impl Keychain for MemoryKeychain {
    async fn get_shares(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.shares
            .borrow()
            .clone()
            .map(Zeroizing::new)
            .ok_or(Error::KeychainUnavailable("the keychain holds no shares"))
    }
    async fn set_shares(&self, shares: &[u8]) -> Result<(), Error> {
        *self.shares.borrow_mut() = Some(shares.to_vec());
        Ok(())
    }
}

/// In-memory custodian with fault injection.
#[derive(Default)]
pub struct MemoryCustodian {
    /// The stored record.
    pub record: RefCell<Option<String>>,
    /// Number of writes that succeed before every later write fails
    /// (`None`: never fail).
    pub writes_before_failure: Cell<Option<usize>>,
    /// When set, `read` returns this instead of what was written.
    pub read_override: RefCell<Option<String>>,
}

impl Custodian for MemoryCustodian {
    async fn read(&self) -> Result<Option<Zeroizing<String>>, Error> {
        if let Some(o) = self.read_override.borrow().clone() {
            return Ok(Some(Zeroizing::new(o)));
        }
        Ok(self.record.borrow().clone().map(Zeroizing::new))
    }
    async fn write(&self, record: &str) -> Result<(), Error> {
        match self.writes_before_failure.get() {
            Some(0) => return Err(Error::CustodianUnavailable("write rejected")),
            Some(n) => self.writes_before_failure.set(Some(n - 1)),
            None => {}
        }
        *self.record.borrow_mut() = Some(record.to_string());
        Ok(())
    }
}

/// Progress sink that records what it was told.
#[derive(Default)]
pub struct RecordingProgress {
    /// Every report, in order.
    pub seen: RefCell<Vec<(Status, bool)>>,
}

impl Progress for RecordingProgress {
    fn report(&self, status: Status, done: bool) {
        self.seen.borrow_mut().push((status, done));
    }
}
