//! Pure core of wallet-backup: no wasm-bindgen, no I/O.
//!
//! The modules are private; what the binding builds on is re-exported here:
//!
//! - the flows, [`backup`] and [`recover`], and what they call: the
//!   [`Keychain`], the [`Progress`] sink, the [`BackupStore`] of the
//!   custodian half ([`Custodian`]: the app's custodian record or the backup
//!   service) and the [`BackupMethod`] ([`Method`]: password, passkey, a key
//!   enclave or a keys record) — `flow.rs`, `method.rs`;
//! - the records kept in one string and the [`StringStore`] they are kept
//!   in (FORMAT.md §7, §3.4.4) — `record.rs`;
//! - the platform parts a method takes: [`PasskeyCeremonies`],
//!   [`KeyKeeper`], [`KeyDerivation`] — `methods/`, `method.rs`;
//! - base URLs and wire encodings for the binding's HTTP — `wire.rs`;
//! - [`Error`], every failure with a stable code — `error.rs`.
//!
//! The envelope (`format.rs`), Argon2id (`kdf.rs`), the derived keys
//! (`keys.rs`) and the split (`split.rs`) are used by the flows and methods
//! only. Test doubles and those internals are behind the `testing` feature
//! (`testing`), for tests, the vector generator and the fuzzers.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod flow;
mod format;
mod kdf;
mod keys;
mod method;
mod methods;
mod record;
mod split;
mod wire;

#[cfg(feature = "testing")]
pub mod testing;

/// Runs a unit test's future, whose in-memory parts never wait.
#[cfg(test)]
fn block_on<F: core::future::Future>(f: F) -> F::Output {
    use core::task::{Context, Poll, Waker};
    let mut f = core::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("test futures complete at once"),
    }
}

pub use error::Error;
pub use flow::{
    backup, recover, BackupId, BackupStore, Custodian, CustodianPending, Keychain, Progress, Status, MAX_SHARES_LEN,
};
pub use format::{method_and_backup_id, Header, MAX_TEXT_LEN};
pub use kdf::{Argon2idParams, SALT_LEN};
pub use keys::{SecretKey, KEY_LEN};
pub use method::{BackupMethod, KeptKeyMethod, KeyKeeper, Method, MethodId, NewKey};
pub use methods::passkey::{
    authenticator_data_user_verified, PasskeyAssertion, PasskeyCeremonies, PasskeyMethod, MAX_CREDENTIAL_ID_LEN,
    PRF_OUTPUT_LEN, PRF_SALT_LEN,
};
pub use methods::password::{DerivedKeyFuture, KeyDerivation, PasswordMethod};
pub use methods::pin_guard::{
    is_blinded_element, Evaluation, GuardStatus, PinGuard, Registration, LABEL_BACKUP_KEY, LABEL_UNLOCK,
    LABEL_UNLOCK_KEY, NEEDS_THE_SERVICE,
};
pub use record::{KeyRecord, StoredRecord, StringStore, MAX_KEYS_TEXT_LEN};
pub use wire::{api_base, backup_id_hex, base64url, decode_custodian_half, encode_custodian_half, from_base64url};
