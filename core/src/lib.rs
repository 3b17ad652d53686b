//! Pure core of wallet-backup: no wasm-bindgen, no I/O.
//!
//! - [`format`]: the envelope (FORMAT.md) — seal, decode, open.
//! - [`kdf`] and [`keys`]: Argon2id with bounded costs; HKDF-derived keys.
//! - [`split`]: the two-of-two split into client and custodian halves.
//! - [`custodian`]: the record an app-kept custodian stores.
//! - [`method`] and [`methods`]: the backup-method trait and pure methods.
//! - [`adapters`]: keychain/custodian/progress traits with in-memory twins.
//! - [`service`]: the backup service's base URL and wire encodings.
//! - [`store`]: where custodian halves are kept: pending → read back → complete.
//! - [`flow`]: backup and recovery, step by step.
//! - [`Error`]: every failure, with a stable code.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod adapters;
pub mod custodian;
mod error;
pub mod flow;
pub mod format;
pub mod kdf;
pub mod keys;
pub mod method;
pub mod methods;
pub mod service;
pub mod split;
pub mod status;
pub mod store;

pub use error::Error;
