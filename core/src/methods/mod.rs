//! The backup methods implemented in pure Rust: [`password`], [`passkey`]
//! (its two modes; the ceremonies are the binding's), and [`kept`],
//! the one shape of every method that keeps a random key elsewhere (the
//! binding supplies where: the service's enclaves, cloud drives, adapters).

pub mod kept;
pub mod key_record;
pub mod passkey;
pub mod password;
