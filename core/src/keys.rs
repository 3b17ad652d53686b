//! Key material: the per-backup key, the keys derived from it, and the
//! secure random source.
//!
//! Every backup has one 32-byte *backup key*. The backup method supplies it
//! (the password method derives it with Argon2id; later methods draw it at
//! random and keep it somewhere). Two values are derived from it with
//! HKDF-SHA256, salted with the backup id, each under its own purpose label
//! (see FORMAT.md §4): the AES-256-GCM payload key and the key commitment.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Error;

/// Purpose label of the payload (AES-256-GCM) key.
pub const LABEL_PAYLOAD_KEY: &[u8] = b"wallet-backup/v1/payload-key";
/// Purpose label of the key commitment stored in the header.
pub const LABEL_KEY_COMMITMENT: &[u8] = b"wallet-backup/v1/key-commitment";

/// Length of every symmetric key in the format.
pub const KEY_LEN: usize = 32;

/// A 32-byte secret key, wiped from memory when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; KEY_LEN]);

impl SecretKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        SecretKey(bytes)
    }

    /// A fresh key from the secure random source.
    pub fn random() -> Result<Self, Error> {
        let mut key = SecretKey([0; KEY_LEN]);
        fill_random(&mut key.0)?;
        Ok(key)
    }

    /// The key bytes. Callers must not copy them into unmanaged memory.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    pub(crate) fn expose_mut(&mut self) -> &mut [u8; KEY_LEN] {
        &mut self.0
    }
}

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// The two values derived from a backup key for one backup.
pub(crate) struct DerivedKeys {
    pub payload_key: SecretKey,
    pub commitment: [u8; KEY_LEN],
}

/// Derives the payload key and the key commitment from `backup_key`,
/// salted with the backup id.
pub(crate) fn derive(backup_key: &SecretKey, backup_id: &[u8]) -> DerivedKeys {
    let hk = Hkdf::<Sha256>::new(Some(backup_id), backup_key.expose());
    let mut payload_key = SecretKey([0; KEY_LEN]);
    let mut commitment = [0u8; KEY_LEN];
    // 32 bytes is far below HKDF-SHA256's 8160-byte output limit: expand cannot fail.
    let ok_payload = hk.expand(LABEL_PAYLOAD_KEY, payload_key.expose_mut()).is_ok();
    let ok_commit = hk.expand(LABEL_KEY_COMMITMENT, &mut commitment).is_ok();
    debug_assert!(ok_payload && ok_commit);
    DerivedKeys { payload_key, commitment }
}

/// Fills `buf` from the operating system's (or browser's) secure random source.
pub fn fill_random(buf: &mut [u8]) -> Result<(), Error> {
    getrandom::fill(buf).map_err(|_| Error::RandomUnavailable)
}
