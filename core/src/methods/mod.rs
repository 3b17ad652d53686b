//! The backup methods with their own logic, one file each: [`password`]
//! (the key derived from the password), its guess-limited variant's
//! protocol with the service, [`pin_guard`], and [`passkey`] (its two
//! modes; the ceremonies are the binding's). The methods that keep a random
//! key elsewhere are one shape, `KeptKeyMethod` (crate::method).

pub mod passkey;
pub mod password;
pub mod pin_guard;
