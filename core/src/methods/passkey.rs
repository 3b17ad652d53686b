//! The passkey method, in two modes (FORMAT.md §3.4.3):
//!
//! - **PRF mode**: the authenticator's PRF extension output for a fresh
//!   per-backup salt, put through HKDF-SHA256, is the backup key. It is made
//!   on the device and never sent anywhere.
//! - **Enclave mode**, when the authenticator has no PRF: the key is drawn at
//!   random and kept by the backup service's passkey enclave, which releases
//!   it only inside a verified WebAuthn authentication of the credential that
//!   stored it.
//!
//! The envelope records the mode and the credential (and the PRF salt), and
//! recovery follows the record: an enclave-mode backup recovers on any device
//! with the credential; a PRF-mode backup needs PRF, else
//! [`Error::PasskeyPrfUnavailable`]. The WebAuthn ceremonies themselves (the
//! browser's `navigator.credentials` or React Native's passkey functions, and
//! the service) are the binding's: it implements [`PasskeyCeremonies`].

use core::future::Future;

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::flow::BackupId;
use crate::format::{Header, MAX_PARAMS_LEN};
use crate::keys::{fill_random, SecretKey, KEY_LEN};
use crate::method::{BackupMethod, MethodId, NewKey};
use crate::Error;

/// Length of the PRF salt (the `prf.eval.first` input), in bytes.
pub const PRF_SALT_LEN: usize = 32;
/// Length of a PRF output, in bytes.
pub const PRF_OUTPUT_LEN: usize = 32;
/// Longest credential id WebAuthn allows, in bytes.
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;
/// HKDF purpose label of a PRF-mode backup key (FORMAT.md §3.4.3).
pub const LABEL_PRF_BACKUP_KEY: &[u8] = b"wallet-backup/v1/passkey-prf-key";

/// How a passkey backup's key was made and where it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PasskeyMode {
    /// Derived on the device from the passkey's PRF output.
    Prf = 1,
    /// Random, kept by the service's passkey enclave.
    Enclave = 2,
}

/// The header parameters of a passkey backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyParams {
    /// Which mode made the key.
    pub mode: PasskeyMode,
    /// The credential that made (PRF) or guards (enclave) the key.
    pub credential_id: Vec<u8>,
    /// PRF mode: the salt whose PRF output the key derives from.
    pub prf_salt: Option<[u8; PRF_SALT_LEN]>,
}

impl PasskeyParams {
    /// The header bytes: `mode ‖ u16 BE credential length ‖ credential id`,
    /// then `salt` in PRF mode.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let len = self.credential_id.len();
        let salt_len = if self.prf_salt.is_some() { PRF_SALT_LEN } else { 0 };
        // WebAuthn allows 1023-byte ids; the header's params hold at most 1024 bytes in all.
        if len == 0 || len > MAX_CREDENTIAL_ID_LEN || 3 + len + salt_len > MAX_PARAMS_LEN {
            return Err(Error::PasskeyUnavailable("the passkey's credential id is empty or too long for a backup"));
        }
        let mut out = Vec::with_capacity(3 + len + PRF_SALT_LEN);
        out.push(self.mode as u8);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&self.credential_id);
        match (self.mode, &self.prf_salt) {
            (PasskeyMode::Prf, Some(salt)) => out.extend_from_slice(salt),
            (PasskeyMode::Enclave, None) => {}
            _ => return Err(Error::Unexpected("a PRF salt goes with PRF mode only")),
        }
        Ok(out)
    }

    /// Parses header bytes; anything malformed is `INVALID_CIPHERTEXT`.
    pub fn decode(bytes: &[u8]) -> Result<PasskeyParams, Error> {
        let bad = Error::InvalidCiphertext("malformed passkey parameters");
        let (&mode, rest) = bytes.split_first().ok_or(bad.clone())?;
        let mode = match mode {
            1 => PasskeyMode::Prf,
            2 => PasskeyMode::Enclave,
            _ => return Err(Error::InvalidCiphertext("unknown passkey mode")),
        };
        let (len, rest) = rest.split_at_checked(2).ok_or(bad.clone())?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        if len == 0 || len > MAX_CREDENTIAL_ID_LEN {
            return Err(bad);
        }
        let (credential_id, rest) = rest.split_at_checked(len).ok_or(bad.clone())?;
        let prf_salt = match mode {
            PasskeyMode::Prf => Some(<[u8; PRF_SALT_LEN]>::try_from(rest).map_err(|_| bad)?),
            PasskeyMode::Enclave if rest.is_empty() => None,
            PasskeyMode::Enclave => return Err(bad),
        };
        Ok(PasskeyParams { mode, credential_id: credential_id.to_vec(), prf_salt })
    }
}

/// The backup key of a PRF-mode backup:
/// `HKDF-SHA256(salt = prf_salt, ikm = prf_output, info = label ‖ backup_id)`.
pub fn prf_backup_key(
    prf_output: &[u8; PRF_OUTPUT_LEN],
    prf_salt: &[u8; PRF_SALT_LEN],
    backup_id: &BackupId,
) -> SecretKey {
    let hk = Hkdf::<Sha256>::new(Some(prf_salt), prf_output);
    let mut info = [0u8; LABEL_PRF_BACKUP_KEY.len() + 16];
    info[..LABEL_PRF_BACKUP_KEY.len()].copy_from_slice(LABEL_PRF_BACKUP_KEY);
    info[LABEL_PRF_BACKUP_KEY.len()..].copy_from_slice(backup_id);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    // 32 bytes is far below HKDF-SHA256's output limit: expand cannot fail.
    let ok = hk.expand(&info, &mut key[..]).is_ok();
    debug_assert!(ok);
    SecretKey::from_bytes(*key)
}

/// Whether WebAuthn authenticator data has the UV (user verified) flag set.
/// Data shorter than the 37-byte minimum counts as not verified.
pub fn authenticator_data_user_verified(authenticator_data: &[u8]) -> bool {
    authenticator_data.get(32).is_some_and(|flags| flags & 0x04 != 0)
}

/// What one passkey assertion gave the method.
pub struct PasskeyAssertion {
    /// The credential that answered.
    pub credential_id: Vec<u8>,
    /// The PRF output for the salt asked for, when the authenticator has PRF.
    pub prf_output: Option<Zeroizing<[u8; PRF_OUTPUT_LEN]>>,
    /// Whether the authenticator data carries the UV flag.
    pub user_verified: bool,
}

/// The WebAuthn ceremonies of the passkey method, as the platform and the
/// service's enclave run them.
#[allow(async_fn_in_trait)]
pub trait PasskeyCeremonies {
    /// Makes sure the user has a passkey registered with the enclave (creating
    /// one if not), then asserts it in an enclave login ceremony, asking for
    /// the PRF output of `prf_salt` when given.
    fn assert_for_backup(
        &self,
        prf_salt: Option<&[u8; PRF_SALT_LEN]>,
    ) -> impl Future<Output = Result<PasskeyAssertion, Error>>;
    /// Enclave mode: stores `key` for `backup_id` within the ceremony of the
    /// last [`assert_for_backup`](Self::assert_for_backup).
    fn store_in_enclave(&self, backup_id: &BackupId, key: &SecretKey) -> impl Future<Output = Result<(), Error>>;
    /// PRF mode recovery: asserts `credential_id`, asking for the PRF output of `prf_salt`.
    fn assert_for_prf(
        &self,
        credential_id: &[u8],
        prf_salt: &[u8; PRF_SALT_LEN],
    ) -> impl Future<Output = Result<PasskeyAssertion, Error>>;
    /// Enclave mode recovery: the key of `backup_id`, released by the enclave
    /// for a verified assertion.
    fn fetch_from_enclave(&self, backup_id: &BackupId) -> impl Future<Output = Result<SecretKey, Error>>;
}

/// The passkey method over the platform's ceremonies.
pub struct PasskeyMethod<C> {
    ceremonies: C,
    enclave_only: bool,
}

impl<C: PasskeyCeremonies> PasskeyMethod<C> {
    /// The method; `enclave_only` skips PRF even where the authenticator has it.
    pub fn new(ceremonies: C, enclave_only: bool) -> Self {
        PasskeyMethod { ceremonies, enclave_only }
    }
}

impl<C: PasskeyCeremonies> BackupMethod for PasskeyMethod<C> {
    fn id(&self) -> MethodId {
        MethodId::Passkey
    }

    async fn create_key(&self, backup_id: &BackupId) -> Result<NewKey, Error> {
        let salt = if self.enclave_only {
            None
        } else {
            let mut salt = [0u8; PRF_SALT_LEN];
            fill_random(&mut salt)?;
            Some(salt)
        };
        let assertion = self.ceremonies.assert_for_backup(salt.as_ref()).await?;
        let (key, params) = match (salt, &assertion.prf_output) {
            (Some(salt), Some(prf)) => {
                if !assertion.user_verified {
                    return Err(Error::PasskeyUserVerificationRequired);
                }
                let params = PasskeyParams {
                    mode: PasskeyMode::Prf,
                    credential_id: assertion.credential_id,
                    prf_salt: Some(salt),
                };
                (prf_backup_key(prf, &salt, backup_id), params)
            }
            _ => {
                let key = SecretKey::random()?;
                let params = PasskeyParams {
                    mode: PasskeyMode::Enclave,
                    credential_id: assertion.credential_id,
                    prf_salt: None,
                };
                let params = params.encode()?;
                self.ceremonies.store_in_enclave(backup_id, &key).await?;
                return Ok(NewKey { key, params, guard: None });
            }
        };
        Ok(NewKey { key, params: params.encode()?, guard: None })
    }

    async fn recover_key(&self, header: &Header) -> Result<SecretKey, Error> {
        let params = PasskeyParams::decode(&header.method_params)?;
        match params.prf_salt {
            None => self.ceremonies.fetch_from_enclave(&header.backup_id).await,
            Some(salt) => {
                let assertion = self.ceremonies.assert_for_prf(&params.credential_id, &salt).await?;
                let prf = assertion.prf_output.ok_or(Error::PasskeyPrfUnavailable)?;
                if !assertion.user_verified {
                    return Err(Error::PasskeyUserVerificationRequired);
                }
                Ok(prf_backup_key(&prf, &salt, &header.backup_id))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;
    use core::cell::RefCell;
    use hmac::{Hmac, KeyInit, Mac};

    /// An in-memory authenticator and enclave: PRF = HMAC-SHA256(secret, salt).
    struct FakeCeremonies {
        has_prf: bool,
        user_verified: bool,
        credential: Vec<u8>,
        enclave: RefCell<Vec<(BackupId, SecretKey)>>,
        prf_salts_seen: RefCell<Vec<[u8; 32]>>,
    }

    impl FakeCeremonies {
        fn new(has_prf: bool) -> Self {
            FakeCeremonies {
                has_prf,
                user_verified: true,
                credential: vec![7; 20],
                enclave: RefCell::new(Vec::new()),
                prf_salts_seen: RefCell::new(Vec::new()),
            }
        }
        fn assertion(&self, salt: Option<&[u8; 32]>) -> PasskeyAssertion {
            let prf_output = salt.filter(|_| self.has_prf).map(|salt| {
                self.prf_salts_seen.borrow_mut().push(*salt);
                let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"credential secret").unwrap();
                mac.update(salt);
                Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()))
            });
            PasskeyAssertion { credential_id: self.credential.clone(), prf_output, user_verified: self.user_verified }
        }
    }

    impl PasskeyCeremonies for FakeCeremonies {
        async fn assert_for_backup(&self, salt: Option<&[u8; 32]>) -> Result<PasskeyAssertion, Error> {
            Ok(self.assertion(salt))
        }
        async fn store_in_enclave(&self, id: &BackupId, key: &SecretKey) -> Result<(), Error> {
            self.enclave.borrow_mut().push((*id, key.clone()));
            Ok(())
        }
        async fn assert_for_prf(&self, credential_id: &[u8], salt: &[u8; 32]) -> Result<PasskeyAssertion, Error> {
            assert_eq!(credential_id, self.credential);
            Ok(self.assertion(Some(salt)))
        }
        async fn fetch_from_enclave(&self, id: &BackupId) -> Result<SecretKey, Error> {
            let keys = self.enclave.borrow();
            keys.iter().find(|(i, _)| i == id).map(|(_, k)| k.clone()).ok_or(Error::BackupKeyNotFound)
        }
    }

    fn header(id: BackupId, params: Vec<u8>) -> Header {
        Header { method: MethodId::Passkey, backup_id: id, method_params: params, context: vec![] }
    }

    #[test]
    fn prf_mode_derives_on_device_and_recovers_from_the_same_prf() {
        let method = PasskeyMethod::new(FakeCeremonies::new(true), false);
        let new = block_on(method.create_key(&[1; 16])).unwrap();
        let params = PasskeyParams::decode(&new.params).unwrap();
        assert_eq!(params.mode, PasskeyMode::Prf);
        assert_eq!(params.credential_id, vec![7; 20]);
        assert!(method.ceremonies.enclave.borrow().is_empty(), "PRF mode sends nothing to the enclave");
        let again = block_on(method.recover_key(&header([1; 16], new.params.clone()))).unwrap();
        assert_eq!(again.expose(), new.key.expose());
        // The salt is fresh per backup, and the backup id is in the derivation.
        let other = block_on(method.create_key(&[1; 16])).unwrap();
        assert_ne!(other.key.expose(), new.key.expose());
        {
            let salts = method.ceremonies.prf_salts_seen.borrow();
            assert_ne!(salts[0], salts[2]);
        }
        let moved = block_on(method.recover_key(&header([2; 16], new.params))).unwrap();
        assert_ne!(moved.expose(), new.key.expose());
    }

    #[test]
    fn enclave_mode_without_prf_and_it_recovers_on_a_prf_device() {
        let method = PasskeyMethod::new(FakeCeremonies::new(false), false);
        let new = block_on(method.create_key(&[3; 16])).unwrap();
        let params = PasskeyParams::decode(&new.params).unwrap();
        assert_eq!((params.mode, params.prf_salt), (PasskeyMode::Enclave, None));
        let prf_device = PasskeyMethod::new(FakeCeremonies::new(true), false);
        prf_device.ceremonies.enclave.borrow_mut().extend(method.ceremonies.enclave.borrow().iter().cloned());
        let key = block_on(prf_device.recover_key(&header([3; 16], new.params))).unwrap();
        assert_eq!(key.expose(), new.key.expose());
    }

    #[test]
    fn prf_backup_on_a_device_without_prf_fails_clearly() {
        let method = PasskeyMethod::new(FakeCeremonies::new(true), false);
        let new = block_on(method.create_key(&[4; 16])).unwrap();
        let no_prf = PasskeyMethod::new(FakeCeremonies::new(false), false);
        let err = block_on(no_prf.recover_key(&header([4; 16], new.params))).map(|_| ()).unwrap_err();
        assert_eq!(err, Error::PasskeyPrfUnavailable);
    }

    #[test]
    fn enclave_only_skips_prf_and_unverified_prf_is_refused() {
        let method = PasskeyMethod::new(FakeCeremonies::new(true), true);
        let new = block_on(method.create_key(&[5; 16])).unwrap();
        assert_eq!(PasskeyParams::decode(&new.params).unwrap().mode, PasskeyMode::Enclave);
        assert!(method.ceremonies.prf_salts_seen.borrow().is_empty());

        let mut unverified = FakeCeremonies::new(true);
        unverified.user_verified = false;
        let method = PasskeyMethod::new(unverified, false);
        let err = block_on(method.create_key(&[6; 16])).map(|_| ()).unwrap_err();
        assert_eq!(err, Error::PasskeyUserVerificationRequired);
    }

    #[test]
    fn params_round_trip_and_malformed_params_are_invalid_ciphertext() {
        let prf = PasskeyParams { mode: PasskeyMode::Prf, credential_id: vec![1, 2, 3], prf_salt: Some([9; 32]) };
        let bytes = prf.encode().unwrap();
        assert_eq!(bytes.len(), 1 + 2 + 3 + 32);
        assert_eq!(&bytes[..3], &[1, 0, 3]);
        assert_eq!(PasskeyParams::decode(&bytes).unwrap(), prf);
        let enclave = PasskeyParams { mode: PasskeyMode::Enclave, credential_id: vec![4; 1021], prf_salt: None };
        assert_eq!(PasskeyParams::decode(&enclave.encode().unwrap()).unwrap(), enclave);
        // The params must fit the header's 1024 bytes: 1021-byte ids (enclave), 989 (PRF).
        let too_long = PasskeyParams { mode: PasskeyMode::Enclave, credential_id: vec![4; 1022], prf_salt: None };
        assert_eq!(too_long.encode().unwrap_err().code(), "PASSKEY_UNAVAILABLE");
        let prf_max = PasskeyParams { mode: PasskeyMode::Prf, credential_id: vec![4; 989], prf_salt: Some([1; 32]) };
        assert_eq!(prf_max.encode().unwrap().len(), 1024);
        let prf_long = PasskeyParams { credential_id: vec![4; 990], ..prf_max };
        assert!(prf_long.encode().is_err());

        for bad in [
            &[][..],
            &[3, 0, 1, 0][..],
            &[2, 0][..],
            &[2, 0, 0][..],
            &[2, 0, 2, 1][..],
            &[2, 0, 1, 1, 0][..],
            &[1, 0, 1, 1][..],
            &[2, 4, 0][..],
        ] {
            assert_eq!(PasskeyParams::decode(bad).unwrap_err().code(), "INVALID_CIPHERTEXT", "{bad:?}");
        }
        let mut short_salt = bytes.clone();
        short_salt.pop();
        assert!(PasskeyParams::decode(&short_salt).is_err());
        let too_long = PasskeyParams { mode: PasskeyMode::Enclave, credential_id: vec![0; 1024], prf_salt: None };
        assert!(too_long.encode().is_err());
    }

    #[test]
    fn prf_key_derivation_is_fixed() {
        // FORMAT.md §3.4.3: HKDF-SHA256(salt = prf_salt, ikm = prf_output, info = label ‖ backup_id).
        let key = prf_backup_key(&[0x11; 32], &[0x22; 32], &[0x33; 16]);
        let hk = Hkdf::<Sha256>::new(Some(&[0x22; 32]), &[0x11; 32]);
        let mut expected = [0u8; 32];
        hk.expand_multi_info(&[LABEL_PRF_BACKUP_KEY, &[0x33; 16]], &mut expected).unwrap();
        assert_eq!(key.expose(), &expected);
        assert!(authenticator_data_user_verified(&[[0; 32].as_slice(), &[0x05, 0, 0, 0, 1]].concat()));
        assert!(!authenticator_data_user_verified(&[[0; 32].as_slice(), &[0x01, 0, 0, 0, 1]].concat()));
        assert!(!authenticator_data_user_verified(&[0; 10]));
    }
}
