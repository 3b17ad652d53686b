//! Password/PIN method: the backup key is derived from the user's password
//! with Argon2id; nothing is stored anywhere.
//!
//! Method parameters in the header (FORMAT.md §3.2.1), 29 bytes:
//! `kdf (0x01 = Argon2id v0x13) ‖ memory KiB u32 ‖ iterations u32 ‖
//! parallelism u32 ‖ salt[16]`, integers big-endian.
//!
//! # Security
//! A forgotten password makes the backup unrecoverable; that is the point.
//! The password is NFC-normalised by the binding before it reaches here, so
//! the same PIN typed on two keyboards derives the same key.

use zeroize::Zeroizing;

use crate::format::Header;
use crate::kdf::{Argon2idParams, SALT_LEN};
use crate::keys::{fill_random, SecretKey};
use crate::method::{BackupMethod, MethodId, NewKey};
use crate::Error;

/// KDF identifier for Argon2id version 0x13.
pub const KDF_ARGON2ID: u8 = 1;
/// Length of the password method's header parameters.
pub const PARAMS_LEN: usize = 1 + 4 + 4 + 4 + SALT_LEN;
/// Longest password accepted, in UTF-8 bytes.
pub const MAX_PASSWORD_LEN: usize = 4096;

/// The password method, holding the password for one call.
pub struct PasswordMethod {
    password: Zeroizing<Vec<u8>>,
    kdf: Argon2idParams,
}

impl PasswordMethod {
    /// A password method with the default (OWASP floor) Argon2id costs.
    pub fn new(password: Zeroizing<Vec<u8>>) -> Result<Self, Error> {
        Self::with_kdf(password, Argon2idParams::default())
    }

    /// A password method with explicit Argon2id costs for new backups
    /// (recovery always uses the costs stored in the cipherText).
    pub fn with_kdf(password: Zeroizing<Vec<u8>>, kdf: Argon2idParams) -> Result<Self, Error> {
        if password.is_empty() {
            return Err(Error::PasswordRequired);
        }
        if password.len() > MAX_PASSWORD_LEN {
            return Err(Error::InvalidArgument("password longer than 4096 bytes"));
        }
        kdf.check().map_err(Error::InvalidArgument)?;
        Ok(PasswordMethod { password, kdf })
    }
}

/// Encodes the header parameters.
pub fn encode_params(kdf: &Argon2idParams, salt: &[u8; SALT_LEN]) -> Vec<u8> {
    let mut p = Vec::with_capacity(PARAMS_LEN);
    p.push(KDF_ARGON2ID);
    p.extend_from_slice(&kdf.memory_kib.to_be_bytes());
    p.extend_from_slice(&kdf.iterations.to_be_bytes());
    p.extend_from_slice(&kdf.parallelism.to_be_bytes());
    p.extend_from_slice(salt);
    p
}

/// Decodes and bounds-checks the header parameters, before any memory is
/// allocated for the KDF.
pub fn decode_params(p: &[u8]) -> Result<(Argon2idParams, [u8; SALT_LEN]), Error> {
    if p.len() != PARAMS_LEN {
        return Err(Error::InvalidCiphertext("password parameters have the wrong length"));
    }
    if p[0] != KDF_ARGON2ID {
        return Err(Error::InvalidCiphertext("unknown password KDF"));
    }
    let be = |i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
    let kdf = Argon2idParams { memory_kib: be(1), iterations: be(5), parallelism: be(9) };
    kdf.check().map_err(Error::InvalidCiphertext)?;
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&p[13..]);
    Ok((kdf, salt))
}

impl BackupMethod for PasswordMethod {
    fn id(&self) -> MethodId {
        MethodId::Password
    }

    async fn create_key(&self, _backup_id: &[u8; 16]) -> Result<NewKey, Error> {
        let mut salt = [0u8; SALT_LEN];
        fill_random(&mut salt)?;
        let key = self.kdf.derive(&self.password, &salt)?;
        Ok(NewKey { key, params: encode_params(&self.kdf, &salt) })
    }

    async fn recover_key(&self, header: &Header) -> Result<SecretKey, Error> {
        let (kdf, salt) = decode_params(&header.method_params)?;
        kdf.derive(&self.password, &salt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_password_is_required_error() {
        assert!(matches!(PasswordMethod::new(Zeroizing::new(vec![])), Err(Error::PasswordRequired)));
    }

    #[test]
    fn params_round_trip_and_caps() {
        let kdf = Argon2idParams { memory_kib: 65536, iterations: 3, parallelism: 4 };
        let p = encode_params(&kdf, &[5; SALT_LEN]);
        assert_eq!(decode_params(&p).unwrap(), (kdf, [5; SALT_LEN]));
        let mut absurd = p.clone();
        absurd[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode_params(&absurd), Err(Error::InvalidCiphertext(_))));
        assert!(matches!(decode_params(&p[..28]), Err(Error::InvalidCiphertext(_))));
    }
}
