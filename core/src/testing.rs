//! In-memory twins of the storage traits, and the crate's internals, for
//! the workspace's tests, the vector generator and the fuzzers (feature
//! `testing`). Not part of the API: the published module never enables it.

use core::cell::{Cell, RefCell};

use zeroize::Zeroizing;

use crate::flow::{Keychain, Progress, Status};
use crate::record::StringStore;
use crate::Error;

/// The envelope (FORMAT.md), including `seal_with_nonce` for test vectors.
pub mod format {
    pub use crate::format::*;
}
/// The two-of-two split of the shares.
pub mod split {
    pub use crate::split::*;
}
/// The password method's header parameters.
pub mod password {
    pub use crate::methods::password::*;
}
/// The passkey method's header parameters and PRF key derivation.
pub mod passkey {
    pub use crate::methods::passkey::*;
}
/// The guess-limited PIN's arithmetic, with the OPRF key's seed given.
pub mod pin_guard {
    pub use crate::methods::pin_guard::*;
}
/// The custodian and keys records.
pub mod record {
    pub use crate::record::*;
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

/// In-memory string store (a custodian adapter, a method's storage) with
/// fault injection.
#[derive(Default)]
pub struct MemoryStore {
    /// The stored record.
    pub record: RefCell<Option<String>>,
    /// Number of writes that succeed before every later write fails
    /// (`None`: never fail).
    pub writes_before_failure: Cell<Option<usize>>,
    /// When set, `read` returns this instead of what was written.
    pub read_override: RefCell<Option<String>>,
}

impl StringStore for MemoryStore {
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
