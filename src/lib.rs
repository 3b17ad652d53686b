//! wallet-backup's WebAssembly binding.
//!
//! A thin layer over `wallet-backup-core`: it converts JavaScript values,
//! calls the app's adapters and the servers the methods use, and turns core
//! errors into JavaScript `Error`s with a stable `code`. The crypto, the
//! format, the flows and the dispatch over methods and stores live in the
//! core crate.
//!
//! Split by role:
//!
//! - `api`: the exports — `backupWallet`, `recoverWallet`, `walletBackupStatus`,
//!   `storedClientBackupShare`, `storageOperation` (`Portal` wraps them in JS).
//! - `config`: every argument read and checked once, into typed settings;
//!   nothing below reads the app's config object again.
//! - `backends/`: one file per thing a backup keeps something in or asks
//!   something of, behind core's traits: the app's own adapters (keychain,
//!   custodian, custom), the iCloud key-value store, Google Drive,
//!   CloudKit, the Firebase enclave, the WebAuthn ceremonies, the app's
//!   Argon2id.
//! - `service`: the backup service client (the custodian half in managed
//!   mode, the wallet status, the enclaves' transport).
//! - `http`: `fetch` under a deadline, for every server.
//! - `js`: JS interop — reading app values, calling the app's functions
//!   within a time limit, the deadline mechanism.
//! - `errors`: core errors → JS errors, and the app's exception kept for them.

#![forbid(unsafe_code)]

mod api;
mod backends;
#[cfg(feature = "bench")]
mod bench;
mod config;
mod errors;
mod http;
mod js;
mod service;

/// talc instead of std's dlmalloc: several KB smaller, and fast enough for
/// the module's few large allocations (Argon2id's 19 MiB).
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

pub use api::{backup_wallet, recover_wallet, stored_client_backup_share, wallet_backup_status};
pub use errors::Failure;
