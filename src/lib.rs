//! wallet-backup's WebAssembly binding.
//!
//! A thin layer over `wallet-backup-core`: it converts JavaScript values,
//! calls the app's adapters (keychain, custodian, progress callback) and
//! turns core errors into JavaScript `Error`s with a stable `code`. The
//! crypto, the format and the flows live in the core crate.
//!
//! - [`api`]: the exports — `backupWallet`, `recoverWallet` (`Portal` wraps them in JS).
//! - [`methods`]: one file per backup method, building core methods from JS config.
//! - [`adapters`]: the JS keychain/custodian/progress behind core's traits.
//! - [`errors`]: core errors → JS errors.
//! - [`js`]: small helpers for reading JS objects safely.

#![forbid(unsafe_code)]

pub mod adapters;
pub mod api;
#[cfg(feature = "bench")]
pub mod bench;
pub mod errors;
mod js;
pub mod methods;
mod types;

pub use api::{backup_wallet, recover_wallet};
