//! wallet-backup's WebAssembly binding.
//!
//! A thin layer over `wallet-backup-core`: it converts JavaScript values,
//! calls the app's adapters (keychain, custodian, progress callback) and
//! turns core errors into JavaScript `Error`s with a stable `code`. The
//! crypto, the format and the flows live in the core crate.
//!
//! - [`api`]: the exports — `backupWallet`, `recoverWallet`, `walletBackupStatus`,
//!   `storedClientBackupShare` (`Portal` wraps them in JS).
//! - [`methods`]: one file per backup method, building core methods from JS config.
//! - [`adapters`]: the JS keychain/custodian/progress behind core's traits.
//! - [`service`]: the backup service client (managed mode), over `fetch`.
//! - [`deadline`]: time limits on promises (service requests, the app's functions).
//! - [`errors`]: core errors → JS errors.
//! - [`js`]: small helpers for reading JS objects safely.

#![forbid(unsafe_code)]

pub mod adapters;
pub mod api;
#[cfg(feature = "bench")]
pub mod bench;
mod deadline;
pub mod errors;
mod js;
pub mod methods;
pub mod service;
mod types;

/// talc instead of std's dlmalloc: several KB smaller, and fast enough for
/// the module's few large allocations (Argon2id's 19 MiB).
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

pub use api::{backup_wallet, recover_wallet, stored_client_backup_share, wallet_backup_status};
