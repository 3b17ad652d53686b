//! Guess-limited PINs (FORMAT.md §3.4.1.1): the password method's Argon2id
//! output `H` goes through an oblivious PRF (RFC 9497, OPRF mode,
//! ristretto255-SHA512) whose per-backup key `k` the backup service keeps
//! sealed under its KMS, counting every evaluation. The backup key `K` and
//! an unlock key `U` both come from the PRF output, so a PIN can be tried
//! only through the service: a stolen cipherText and API key get the
//! configured number of guesses, not an offline search.
//!
//! - A backup draws `k`, computes the PRF itself (it knows `k`), and hands
//!   `k` and `U` to the service with the custodian half ([`Registration`]).
//! - A recovery blinds `H`, has the service evaluate it (one counted guess,
//!   with a fresh challenge), and unblinds; a right PIN opens the envelope
//!   and proves it to the service with `HMAC(U, backup id ‖ challenge)`,
//!   which resets the count and releases the custodian half.
//!
//! The service sees `k`, `U`, the blinded element and the proof, never the
//! PIN, `H` or `K`. This file is the protocol's arithmetic and the
//! [`PinGuard`] transport it needs; the flow (`flow.rs`) decides when each
//! step runs.

use core::future::Future;

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use voprf::{BlindedElement, EvaluationElement, OprfClient, OprfServer, Ristretto255};
use zeroize::{Zeroize, Zeroizing};

use crate::flow::BackupId;
use crate::keys::{fill_random, SecretKey, KEY_LEN};
use crate::Error;

/// Label of the backup key `K` derived from the PRF output.
pub const LABEL_BACKUP_KEY: &[u8] = b"wallet-backup/v1/pin-guard/backup-key";
/// Label of the unlock key `U` derived from the PRF output.
pub const LABEL_UNLOCK_KEY: &[u8] = b"wallet-backup/v1/pin-guard/unlock-key";
/// The `info` of RFC 9497's DeriveKeyPair for a backup's OPRF key.
pub const LABEL_KEY_INFO: &[u8] = b"wallet-backup/v1/pin-guard";
/// Label that starts the message of the unlock proof.
pub const LABEL_UNLOCK: &[u8] = b"wallet-backup/v1/pin-guard/unlock";
/// Bytes of a ristretto255 element or scalar, an unlock key, a challenge and a proof.
pub const LEN: usize = 32;

/// What the service keeps for a new guess-limited backup: the OPRF key `k`
/// (a ristretto255 scalar, little-endian) and the unlock key `U`. Both are
/// wiped on drop.
pub struct Registration {
    /// `k`, the per-backup OPRF key.
    pub oprf_key: Zeroizing<[u8; LEN]>,
    /// `U`, which the service checks the unlock proof with.
    pub unlock_key: SecretKey,
    /// `H`, kept in memory (never sent) so the backup can prove its new
    /// guard round-trips before it completes.
    hardened: SecretKey,
}

/// The service's answer to one counted guess.
pub struct Evaluation {
    /// `BlindEvaluate(k, blinded)`.
    pub evaluated_element: [u8; LEN],
    /// A fresh single-use challenge for the unlock proof.
    pub challenge: [u8; LEN],
    /// Guesses left if this one is wrong.
    pub guesses_left: u32,
}

/// A guess-limited backup's count on the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardStatus {
    /// Wrong guesses allowed in a row.
    pub guess_limit: u32,
    /// Guesses left before the OPRF key is destroyed.
    pub guesses_left: u32,
}

/// Why a store other than the backup service cannot hold a guess-limited PIN.
pub const NEEDS_THE_SERVICE: Error = Error::InvalidArgument(
    "a guess-limited PIN needs the backup service (apiKey) to count the guesses; an app-kept custodian cannot",
);

/// The backup service's guess counter, as the flows use it. The binding
/// implements it over HTTP. Any other store keeps the defaults, which refuse
/// (a limit that the custodian's holder could reset is none).
#[allow(async_fn_in_trait)]
pub trait PinGuard {
    /// The count of the guess-limited backup `backup_id`: `INVALID_CUSTODIAN_SHARE`
    /// when the service holds none, `PIN_GUESSES_EXHAUSTED` once it was destroyed.
    fn guard_status(&self, backup_id: &BackupId) -> impl Future<Output = Result<GuardStatus, Error>> {
        let _ = backup_id;
        async { Err(NEEDS_THE_SERVICE) }
    }
    /// One counted guess: the service evaluates `blinded` under the backup's OPRF key.
    fn guard_evaluate(
        &self,
        backup_id: &BackupId,
        blinded: &[u8; LEN],
    ) -> impl Future<Output = Result<Evaluation, Error>> {
        let _ = (backup_id, blinded);
        async { Err(NEEDS_THE_SERVICE) }
    }
    /// Proves the right PIN for `challenge`; resolves to the custodian half
    /// (and the service resets the count).
    fn guard_unlock(
        &self,
        backup_id: &BackupId,
        challenge: &[u8; LEN],
        proof: &[u8; LEN],
    ) -> impl Future<Output = Result<Zeroizing<Vec<u8>>, Error>> {
        let _ = (backup_id, challenge, proof);
        async { Err(NEEDS_THE_SERVICE) }
    }
}

/// `K` and `U`, derived from the PRF output (FORMAT.md §3.4.1.1).
pub struct GuardKeys {
    /// The backup key of the envelope.
    pub backup_key: SecretKey,
    /// The key of the unlock proof.
    pub unlock_key: SecretKey,
}

/// Derives `K` and `U` from the 64-byte PRF output, salted with the backup id.
fn keys_from_output(backup_id: &BackupId, output: &[u8]) -> GuardKeys {
    let hk = Hkdf::<Sha256>::new(Some(backup_id), output);
    let mut backup_key = SecretKey::from_bytes([0; KEY_LEN]);
    let mut unlock_key = SecretKey::from_bytes([0; KEY_LEN]);
    // 32 bytes is far below HKDF-SHA256's output limit: expand cannot fail.
    let ok_backup = hk.expand(LABEL_BACKUP_KEY, backup_key.expose_mut()).is_ok();
    let ok_unlock = hk.expand(LABEL_UNLOCK_KEY, unlock_key.expose_mut()).is_ok();
    debug_assert!(ok_backup && ok_unlock);
    GuardKeys { backup_key, unlock_key }
}

/// A new guess-limited backup: draws the OPRF key, evaluates `hardened`
/// (`H`) under it, and returns the backup key `K` with what the service keeps.
pub fn register(hardened: SecretKey, backup_id: &BackupId) -> Result<(SecretKey, Registration), Error> {
    // RFC 9497 DeriveKeyPair from a fresh random seed: a uniformly random non-zero scalar.
    let mut seed = Zeroizing::new([0u8; LEN]);
    fill_random(seed.as_mut())?;
    register_with_seed(hardened, backup_id, &seed)
}

/// [`register`] with the OPRF key derived from `seed` (the test vectors' fixed seeds).
pub fn register_with_seed(
    hardened: SecretKey,
    backup_id: &BackupId,
    seed: &[u8; LEN],
) -> Result<(SecretKey, Registration), Error> {
    let server = OprfServer::<Ristretto255>::new_from_seed(seed, LABEL_KEY_INFO)
        .map_err(|_| Error::Unexpected("OPRF key derivation failed"))?;
    let mut output = server.evaluate(hardened.expose()).map_err(|_| Error::Unexpected("OPRF evaluation failed"))?;
    let keys = keys_from_output(backup_id, &output);
    output[..].zeroize();
    let mut oprf_key = Zeroizing::new([0u8; LEN]);
    oprf_key.copy_from_slice(&server.serialize());
    Ok((keys.backup_key, Registration { oprf_key, unlock_key: keys.unlock_key, hardened }))
}

impl Registration {
    /// `H`, for the backup's own round trip through the new guard.
    pub(crate) fn hardened(&self) -> &SecretKey {
        &self.hardened
    }
}

/// The HMAC-SHA256 proof that the PIN was right, for one challenge.
pub fn unlock_proof(unlock_key: &SecretKey, backup_id: &BackupId, challenge: &[u8; LEN]) -> Result<[u8; LEN], Error> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(unlock_key.expose())
        .map_err(|_| Error::Unexpected("HMAC refused a 32-byte key"))?;
    mac.update(LABEL_UNLOCK);
    mac.update(backup_id);
    mac.update(challenge);
    Ok(mac.finalize().into_bytes().into())
}

/// One guess through the service: blinds `hardened`, has `guard` evaluate
/// it (counted there), unblinds. Resolves to `K` and `U` for this PIN, and
/// the challenge and guesses left the service gave with the evaluation.
pub async fn guess(
    guard: &impl PinGuard,
    backup_id: &BackupId,
    hardened: &SecretKey,
) -> Result<(GuardKeys, [u8; LEN], u32), Error> {
    let mut rng = Random::default();
    let blind = OprfClient::<Ristretto255>::blind(hardened.expose(), &mut rng);
    rng.result()?;
    let blind = blind.map_err(|_| Error::Unexpected("OPRF blinding failed"))?;
    let mut blinded = [0u8; LEN];
    blinded.copy_from_slice(&blind.message.serialize());
    let answer = guard.guard_evaluate(backup_id, &blinded).await?;
    let evaluated = EvaluationElement::<Ristretto255>::deserialize(&answer.evaluated_element)
        .map_err(|_| Error::ServiceError("the backup service's OPRF evaluation is not a ristretto255 element"))?;
    let mut output = blind
        .state
        .finalize(hardened.expose(), &evaluated)
        .map_err(|_| Error::ServiceError("the backup service's OPRF evaluation is not usable"))?;
    let keys = keys_from_output(backup_id, &output);
    output[..].zeroize();
    Ok((keys, answer.challenge, answer.guesses_left))
}

/// The service's side of one guess, `BlindEvaluate(k, blinded)`, for the
/// test doubles that play the service (tests, vectors). Panics on a bad key
/// or element: the doubles are given good ones.
#[cfg(any(test, feature = "testing"))]
pub fn blind_evaluate(oprf_key: &[u8; LEN], blinded: &[u8; LEN]) -> [u8; LEN] {
    let server = OprfServer::<Ristretto255>::new_with_key(oprf_key).expect("a valid OPRF key");
    let blinded = BlindedElement::<Ristretto255>::deserialize(blinded).expect("a valid blinded element");
    let mut evaluated = [0; LEN];
    evaluated.copy_from_slice(&server.blind_evaluate(&blinded).serialize());
    evaluated
}

/// Checks a blinded element as the service must (a canonical, non-identity
/// ristretto255 element), for the service's and the tests' use.
pub fn is_blinded_element(bytes: &[u8]) -> bool {
    BlindedElement::<Ristretto255>::deserialize(bytes).is_ok()
}

/// rand_core 0.6's interface (which voprf takes) over the crate's secure
/// random source. `fill_bytes` cannot fail by signature, so a failure is
/// remembered and must be checked with [`Random::result`] before anything
/// drawn is used.
#[derive(Default)]
struct Random {
    failed: bool,
}

impl Random {
    fn result(&self) -> Result<(), Error> {
        if self.failed {
            Err(Error::RandomUnavailable)
        } else {
            Ok(())
        }
    }
}

impl rand_core::RngCore for Random {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if fill_random(dest).is_err() {
            self.failed = true;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for Random {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;
    use core::cell::{Cell, RefCell};

    /// The service's side, in memory: counts, evaluates, checks proofs.
    struct Service {
        oprf_key: [u8; LEN],
        unlock_key: SecretKey,
        limit: u32,
        used: Cell<u32>,
        challenge: RefCell<Option<[u8; LEN]>>,
        half: Vec<u8>,
    }

    impl Service {
        fn new(reg: &Registration, limit: u32) -> Self {
            Service {
                oprf_key: *reg.oprf_key,
                unlock_key: reg.unlock_key.clone(),
                limit,
                used: Cell::new(0),
                challenge: RefCell::new(None),
                half: vec![9; 5],
            }
        }
    }

    impl PinGuard for Service {
        async fn guard_status(&self, _: &BackupId) -> Result<GuardStatus, Error> {
            Ok(GuardStatus { guess_limit: self.limit, guesses_left: self.limit - self.used.get() })
        }
        async fn guard_evaluate(&self, _: &BackupId, blinded: &[u8; LEN]) -> Result<Evaluation, Error> {
            if self.used.get() >= self.limit {
                return Err(Error::PinGuessesExhausted);
            }
            self.used.set(self.used.get() + 1);
            let evaluated_element = blind_evaluate(&self.oprf_key, blinded);
            let challenge = [self.used.get() as u8; LEN];
            *self.challenge.borrow_mut() = Some(challenge);
            Ok(Evaluation { evaluated_element, challenge, guesses_left: self.limit - self.used.get() })
        }
        async fn guard_unlock(
            &self,
            backup_id: &BackupId,
            challenge: &[u8; LEN],
            proof: &[u8; LEN],
        ) -> Result<Zeroizing<Vec<u8>>, Error> {
            if self.challenge.borrow_mut().take().as_ref() != Some(challenge) {
                return Err(Error::ServiceError("stale challenge"));
            }
            if &unlock_proof(&self.unlock_key, backup_id, challenge).unwrap() != proof {
                return Err(Error::WrongPassword(Some(self.limit - self.used.get())));
            }
            self.used.set(0);
            Ok(Zeroizing::new(self.half.clone()))
        }
    }

    const ID: BackupId = [4; 16];

    #[test]
    fn the_prf_through_the_service_gives_the_registered_keys() {
        let h = SecretKey::from_bytes([1; KEY_LEN]);
        let (k, reg) = register(h.clone(), &ID).unwrap();
        let service = Service::new(&reg, 10);
        let (keys, challenge, left) = block_on(guess(&service, &ID, &h)).unwrap();
        assert_eq!(keys.backup_key.expose(), k.expose());
        assert_eq!(keys.unlock_key.expose(), reg.unlock_key.expose());
        assert_eq!(left, 9);
        let half =
            block_on(service.guard_unlock(&ID, &challenge, &unlock_proof(&keys.unlock_key, &ID, &challenge).unwrap()));
        assert_eq!(half.unwrap().as_slice(), &[9; 5]);
        assert_eq!(service.used.get(), 0);
    }

    #[test]
    fn another_pin_or_backup_id_gives_other_keys() {
        let (k, reg) = register(SecretKey::from_bytes([1; KEY_LEN]), &ID).unwrap();
        let service = Service::new(&reg, 10);
        let (wrong, ..) = block_on(guess(&service, &ID, &SecretKey::from_bytes([2; KEY_LEN]))).unwrap();
        assert_ne!(wrong.backup_key.expose(), k.expose());
        assert_ne!(wrong.unlock_key.expose(), reg.unlock_key.expose());
        let (other_id, ..) = block_on(guess(&service, &[5; 16], &SecretKey::from_bytes([1; KEY_LEN]))).unwrap();
        assert_ne!(other_id.backup_key.expose(), k.expose());
        // Each registration draws its own OPRF key: the same PIN and id give another K.
        let (k2, reg2) = register(SecretKey::from_bytes([1; KEY_LEN]), &ID).unwrap();
        assert_ne!(k2.expose(), k.expose());
        assert_ne!(*reg2.oprf_key, *reg.oprf_key);
    }

    #[test]
    fn a_proof_is_bound_to_its_challenge_and_backup() {
        let u = SecretKey::from_bytes([3; KEY_LEN]);
        let proof = |u: &SecretKey, id: &BackupId, c: &[u8; LEN]| unlock_proof(u, id, c).unwrap();
        let p = proof(&u, &ID, &[1; LEN]);
        assert_ne!(p, proof(&u, &ID, &[2; LEN]));
        assert_ne!(p, proof(&u, &[5; 16], &[1; LEN]));
        assert_ne!(p, proof(&SecretKey::from_bytes([4; KEY_LEN]), &ID, &[1; LEN]));
    }

    #[test]
    fn blinded_elements_are_checked() {
        assert!(!is_blinded_element(&[0; LEN]), "the identity");
        assert!(!is_blinded_element(&[0xff; LEN]), "not canonical");
        assert!(!is_blinded_element(&[1; 31]));
        let blind = OprfClient::<Ristretto255>::blind(b"x", &mut Random::default()).unwrap();
        assert!(is_blinded_element(&blind.message.serialize()));
    }
}
