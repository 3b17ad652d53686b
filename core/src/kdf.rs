//! Argon2id password key derivation, with the bounds the format enforces.
//!
//! # Security
//! The lower bounds are the OWASP floor (m = 19 MiB, t = 2, p = 1). The
//! upper bounds exist because the parameters are read from a cipherText an
//! attacker may have crafted: they are checked before any memory is
//! allocated, so a hostile cipherText cannot make recovery allocate gigabytes
//! or spin for minutes.

use argon2::{Algorithm, Argon2, Params, Version};

use crate::keys::{SecretKey, KEY_LEN};
use crate::Error;

/// Argon2id parameters as stored in the envelope header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2idParams {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism (lanes).
    pub parallelism: u32,
}

/// Smallest memory cost accepted: 19 MiB (OWASP).
pub const MIN_MEMORY_KIB: u32 = 19 * 1024;
/// Largest memory cost accepted: 1 GiB.
pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
/// Fewest passes accepted.
pub const MIN_ITERATIONS: u32 = 2;
/// Most passes accepted.
pub const MAX_ITERATIONS: u32 = 16;
/// Most lanes accepted.
pub const MAX_PARALLELISM: u32 = 16;
/// Largest total work accepted: memory × passes ≤ 2 GiB·pass (in KiB).
pub const MAX_WORK_KIB: u64 = 2 * 1024 * 1024;
/// Length of the Argon2id salt.
pub const SALT_LEN: usize = 16;

impl Default for Argon2idParams {
    /// The default: the OWASP floor, m = 19 MiB, t = 2, p = 1.
    fn default() -> Self {
        Argon2idParams { memory_kib: MIN_MEMORY_KIB, iterations: MIN_ITERATIONS, parallelism: 1 }
    }
}

impl Argon2idParams {
    /// Checks the parameters against the format's bounds.
    ///
    /// Returns the reason as a static string so callers can wrap it in the
    /// error that fits (a bad config is `INVALID_ARGUMENT`, a bad
    /// cipherText `INVALID_CIPHERTEXT`).
    pub fn check(&self) -> Result<(), &'static str> {
        if self.memory_kib < MIN_MEMORY_KIB {
            return Err("Argon2id memory below 19 MiB");
        }
        if self.memory_kib > MAX_MEMORY_KIB {
            return Err("Argon2id memory above 1 GiB");
        }
        if self.iterations < MIN_ITERATIONS {
            return Err("Argon2id iterations below 2");
        }
        if self.iterations > MAX_ITERATIONS {
            return Err("Argon2id iterations above 16");
        }
        if self.parallelism == 0 || self.parallelism > MAX_PARALLELISM {
            return Err("Argon2id parallelism outside 1..=16");
        }
        if u64::from(self.memory_kib) * u64::from(self.iterations) > MAX_WORK_KIB {
            return Err("Argon2id memory × iterations above 2 GiB");
        }
        Ok(())
    }

    /// Derives the 32-byte backup key from `password` and `salt`.
    ///
    /// The parameters must have passed [`check`](Self::check); the memory is
    /// allocated fallibly, so exhaustion is an error, not an abort.
    pub fn derive(&self, password: &[u8], salt: &[u8; SALT_LEN]) -> Result<SecretKey, Error> {
        self.check().map_err(Error::InvalidArgument)?;
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(KEY_LEN))
            .map_err(|_| Error::InvalidArgument("Argon2id parameters rejected"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut key = SecretKey::from_bytes([0; KEY_LEN]);
        argon.hash_password_into(password, salt, key.expose_mut()).map_err(|e| match e {
            argon2::Error::OutOfMemory => Error::Unexpected("not enough memory for Argon2id"),
            argon2::Error::PwdTooLong => Error::InvalidArgument("password too long"),
            _ => Error::Unexpected("Argon2id failed"),
        })?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_owasp_floor_and_valid() {
        let p = Argon2idParams::default();
        assert_eq!((p.memory_kib, p.iterations, p.parallelism), (19456, 2, 1));
        assert!(p.check().is_ok());
    }

    #[test]
    fn bounds_are_enforced() {
        let ok = Argon2idParams::default();
        for bad in [
            Argon2idParams { memory_kib: MIN_MEMORY_KIB - 1, ..ok },
            Argon2idParams { memory_kib: MAX_MEMORY_KIB + 1, ..ok },
            Argon2idParams { iterations: 1, ..ok },
            Argon2idParams { iterations: 17, ..ok },
            Argon2idParams { parallelism: 0, ..ok },
            Argon2idParams { parallelism: 17, ..ok },
            Argon2idParams { memory_kib: MAX_MEMORY_KIB, iterations: 3, ..ok },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    /// Known-answer checks against an independent Argon2id live in the JS
    /// cross-implementation test (tests/js/cross_impl.test.mjs); this one
    /// pins determinism and salt sensitivity.
    #[test]
    fn derive_is_deterministic_and_salt_sensitive() {
        let p = Argon2idParams::default();
        let a = p.derive(b"correct horse", &[1; SALT_LEN]).unwrap();
        let b = p.derive(b"correct horse", &[1; SALT_LEN]).unwrap();
        let c = p.derive(b"correct horse", &[2; SALT_LEN]).unwrap();
        assert_eq!(a.expose(), b.expose());
        assert_ne!(a.expose(), c.expose());
    }
}
