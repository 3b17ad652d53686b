//! Envelope encryption of stored secrets (custodian shares; later enclave keys).
//!
//! Each secret gets its own random 256-bit data key. The secret is sealed
//! with AES-256-GCM under that key (random 96-bit nonce: the key is used
//! once), and the data key is wrapped by the [`Kms`]. Both layers
//! authenticate the same associated data, which binds the record to its
//! client, its row and its purpose: a sealed share copied to another row or
//! another client does not open.
//!
//! Stored form: `nonce ‖ ciphertext ‖ tag` for the secret, and the KMS's
//! [`WrappedKey`] (key id + wrapped bytes) beside it. Re-wrapping under a new
//! master key ([`rewrap`]) changes only the wrapped key, never the sealed secret.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use crate::kms::{Kms, KmsError, WrappedKey};

const NONCE_LEN: usize = 12;

/// Purpose label of custodian backup shares.
pub const PURPOSE_CUSTODIAN_SHARE: &str = "wallet-backup-service/v1/custodian-share";

/// Purpose label of a client's custodian webhook secret (record id: the client id).
pub const PURPOSE_WEBHOOK_SECRET: &str = "wallet-backup-service/v1/custodian-webhook-secret";

/// Purpose label of a Firebase enclave encryption key (record id:
/// `<row id>.<backup id>.<hex of the Firebase uid>`).
pub const PURPOSE_FIREBASE_KEY: &str = "wallet-backup-service/v1/firebase-encryption-key";

/// Purpose label of a passkey enclave encryption key (record id:
/// `<row id>.<backup id>.<credential id in base64url>`).
pub const PURPOSE_PASSKEY_KEY: &str = "wallet-backup-service/v1/passkey-encryption-key";

/// Purpose label of a guess-limited PIN's keys, the OPRF key and the unlock
/// key (record id: the pair id).
pub const PURPOSE_PIN_GUARD: &str = "wallet-backup-service/v1/pin-guard";

/// A secret sealed under its own data key, with the data key wrapped by the KMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// `nonce ‖ AES-256-GCM ciphertext ‖ tag`.
    pub ciphertext: Vec<u8>,
    /// The data key, wrapped by the KMS.
    pub wrapped_key: WrappedKey,
}

/// Why a sealed secret did not open.
#[derive(Debug)]
pub enum SealError {
    /// The KMS failed or refused (unknown key, tampered wrapped key, unavailable).
    Kms(KmsError),
    /// The sealed bytes or the associated data do not match (tampered or moved record).
    Tampered,
    /// The random source failed.
    Random,
}

impl std::fmt::Display for SealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Kms(e) => write!(f, "{e}"),
            Self::Tampered => f.write_str("sealed record does not open (tampered or moved)"),
            Self::Random => f.write_str("random source failed"),
        }
    }
}

impl std::error::Error for SealError {}

impl From<KmsError> for SealError {
    fn from(e: KmsError) -> Self {
        Self::Kms(e)
    }
}

/// Associated data of a record: `purpose ‖ 0 ‖ client id ‖ 0 ‖ record id`.
/// Ids are hex, so the zero separators are unambiguous.
pub fn associated_data(purpose: &str, client_id: &str, record_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(purpose.len() + client_id.len() + record_id.len() + 2);
    aad.extend_from_slice(purpose.as_bytes());
    aad.push(0);
    aad.extend_from_slice(client_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(record_id.as_bytes());
    aad
}

/// Seals `plaintext` under a fresh data key wrapped by `kms`.
pub async fn seal(kms: &dyn Kms, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, SealError> {
    let mut data_key = Zeroizing::new([0u8; 32]);
    getrandom::fill(data_key.as_mut()).map_err(|_| SealError::Random)?;
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| SealError::Random)?;
    let ct = Aes256Gcm::new((&*data_key).into())
        .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad })
        .map_err(|_| SealError::Tampered)?;
    let wrapped_key = kms.wrap(&data_key, aad).await?;
    let mut ciphertext = Vec::with_capacity(NONCE_LEN + ct.len());
    ciphertext.extend_from_slice(&nonce);
    ciphertext.extend_from_slice(&ct);
    Ok(Sealed { ciphertext, wrapped_key })
}

/// Opens a [`Sealed`] record with the same associated data it was sealed with.
pub async fn open(kms: &dyn Kms, sealed: &Sealed, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if sealed.ciphertext.len() < NONCE_LEN + 16 {
        return Err(SealError::Tampered);
    }
    let data_key = kms.unwrap(&sealed.wrapped_key, aad).await?;
    let (nonce, ct) = sealed.ciphertext.split_at(NONCE_LEN);
    let mut nonce_bytes = [0u8; NONCE_LEN];
    nonce_bytes.copy_from_slice(nonce);
    Aes256Gcm::new((&*data_key).into())
        .decrypt(&Nonce::from(nonce_bytes), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| SealError::Tampered)
}

/// Re-wraps a record's data key under the KMS's current master key. The
/// sealed secret itself is unchanged.
pub async fn rewrap(kms: &dyn Kms, wrapped: &WrappedKey, aad: &[u8]) -> Result<WrappedKey, SealError> {
    let data_key = kms.unwrap(wrapped, aad).await?;
    Ok(kms.wrap(&data_key, aad).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::LocalKms;

    #[tokio::test]
    async fn seal_open_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let kms = LocalKms::open_or_create(&dir.path().join("kms.json")).unwrap();
        let aad = associated_data(PURPOSE_CUSTODIAN_SHARE, "c1", "p1");
        let sealed = seal(&kms, b"share", &aad).await.unwrap();
        assert_eq!(&**open(&kms, &sealed, &aad).await.unwrap(), b"share");

        let moved = associated_data(PURPOSE_CUSTODIAN_SHARE, "c2", "p1");
        assert!(open(&kms, &sealed, &moved).await.is_err());

        let mut bad = sealed.clone();
        let last = bad.ciphertext.len() - 1;
        bad.ciphertext[last] ^= 1;
        assert!(matches!(open(&kms, &bad, &aad).await, Err(SealError::Tampered)));

        kms.rotate().unwrap();
        let moved_key = rewrap(&kms, &sealed.wrapped_key, &aad).await.unwrap();
        assert_ne!(moved_key.key_id, sealed.wrapped_key.key_id);
        let rewrapped = Sealed { ciphertext: sealed.ciphertext.clone(), wrapped_key: moved_key };
        assert_eq!(&**open(&kms, &rewrapped, &aad).await.unwrap(), b"share");
    }
}
