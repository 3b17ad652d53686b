//! The backup methods implemented in pure Rust. Methods that need the
//! platform (browser passkeys, cloud drives) live in the binding crate and
//! implement the same [`BackupMethod`](crate::method::BackupMethod) trait.

pub mod password;
