//! Two-of-two split of the wallet's shares into a client and a custodian
//! backup share.
//!
//! The client half is a uniformly random pad as long as the shares; the
//! custodian half is the shares XOR that pad. Either half alone is
//! independent of the shares (a one-time pad); both together restore them
//! exactly. The client half is sealed in the envelope together with a
//! digest of the shares, so recovery can prove the two halves it combined
//! belong together.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::keys::fill_random;
use crate::Error;

/// Purpose label of the shares digest inside the client plaintext.
pub const LABEL_SHARES_DIGEST: &[u8] = b"wallet-backup/v1/shares-digest";
/// Length of the shares digest.
pub const DIGEST_LEN: usize = 32;

/// The two halves of a split.
pub struct Halves {
    /// The client backup share (random pad), to be encrypted.
    pub client: Zeroizing<Vec<u8>>,
    /// The custodian backup share (shares XOR pad).
    pub custodian: Zeroizing<Vec<u8>>,
}

/// Splits `shares` into two halves with a fresh random pad.
pub fn split(shares: &[u8]) -> Result<Halves, Error> {
    let mut client = Zeroizing::new(vec![0u8; shares.len()]);
    fill_random(&mut client)?;
    let custodian = Zeroizing::new(xor(shares, &client));
    Ok(Halves { client, custodian })
}

/// Restores the shares from the two halves.
pub fn combine(client: &[u8], custodian: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    if client.len() != custodian.len() {
        return Err(Error::BackupShareMismatch);
    }
    Ok(Zeroizing::new(xor(client, custodian)))
}

/// The labelled SHA-256 digest of the shares.
pub fn shares_digest(shares: &[u8]) -> [u8; DIGEST_LEN] {
    let mut h = Sha256::new();
    h.update(LABEL_SHARES_DIGEST);
    h.update([0u8]);
    h.update(shares);
    h.finalize().into()
}

/// The plaintext sealed in the envelope: shares digest ‖ client half.
pub fn client_plaintext(shares: &[u8], client: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut pt = Zeroizing::new(Vec::with_capacity(DIGEST_LEN + client.len()));
    pt.extend_from_slice(&shares_digest(shares));
    pt.extend_from_slice(client);
    pt
}

/// Combines an opened client plaintext with the custodian half and checks
/// the result against the digest it carries.
pub fn restore(client_plaintext: &[u8], custodian: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    if client_plaintext.len() <= DIGEST_LEN {
        return Err(Error::BackupShareMismatch);
    }
    let (digest, client) = client_plaintext.split_at(DIGEST_LEN);
    let shares = combine(client, custodian)?;
    if !bool::from(shares_digest(&shares).ct_eq(digest)) {
        return Err(Error::BackupShareMismatch);
    }
    Ok(shares)
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_restore_shares_and_differ_from_them() {
        let shares = br#"{"secp256k1":{"id":"w1","share":"abcdef"}}"#;
        let h = split(shares).unwrap();
        assert_ne!(&h.client[..], &shares[..]);
        assert_ne!(&h.custodian[..], &shares[..]);
        let pt = client_plaintext(shares, &h.client);
        assert_eq!(&restore(&pt, &h.custodian).unwrap()[..], &shares[..]);
    }

    #[test]
    fn halves_of_different_splits_do_not_combine() {
        let shares = b"the same shares";
        let a = split(shares).unwrap();
        let b = split(shares).unwrap();
        let pt = client_plaintext(shares, &a.client);
        assert_eq!(restore(&pt, &b.custodian).unwrap_err(), Error::BackupShareMismatch);
        assert_eq!(restore(&pt, &b.custodian[1..]).unwrap_err(), Error::BackupShareMismatch);
        assert_eq!(restore(&pt[..DIGEST_LEN], &[]).unwrap_err(), Error::BackupShareMismatch);
    }
}
