//! The backup methods implemented in pure Rust: [`password`], and [`kept`],
//! the one shape of every method that keeps a random key elsewhere (the
//! binding supplies where: the service's enclaves, cloud drives, adapters).

pub mod kept;
pub mod password;
