//! Password/PIN method: the backup key is derived from the user's password
//! with Argon2id; nothing is stored anywhere.
//!
//! Method parameters in the header (FORMAT.md §3.4.1), 29 bytes:
//! `kdf ‖ memory KiB u32 ‖ iterations u32 ‖ parallelism u32 ‖ salt[16]`,
//! integers big-endian. `kdf` 0x01 is Argon2id v0x13, whose output is the
//! backup key; 0x02 (guess-limited, §3.4.1.1) is the same Argon2id followed
//! by the backup service's OPRF (`pin_guard.rs`), so the PIN can be tried
//! only through the service's guess counter.
//!
//! The Argon2id itself runs in the module unless the app hands in its own
//! ([`PasswordMethod::with_key_derivation`]: on React Native, a native
//! Argon2 module, since Argon2id through wasm2js takes many seconds). The
//! method still draws the salt, chooses the costs, records both in the
//! header and checks the length of what comes back; a wrong key is caught
//! by the key commitment (`WRONG_PASSWORD`), so the cipherText is the same
//! format byte for byte either way.
//!
//! # Security
//! A forgotten password makes the backup unrecoverable; that is the point.
//! The password is NFC-normalised by the binding before it reaches here, so
//! the same PIN typed on two keyboards derives the same key.

use core::future::Future;
use core::pin::Pin;

use zeroize::Zeroizing;

use crate::format::Header;
use crate::kdf::{Argon2idParams, SALT_LEN};
use crate::keys::{fill_random, SecretKey, KEY_LEN};
use crate::method::{BackupMethod, MethodId, NewKey};
use crate::methods::pin_guard;
use crate::Error;

/// KDF identifier for Argon2id version 0x13.
pub const KDF_ARGON2ID: u8 = 1;
/// KDF identifier for Argon2id version 0x13 followed by the backup service's
/// OPRF: a guess-limited PIN (FORMAT.md §3.4.1.1).
pub const KDF_ARGON2ID_PIN_GUARD: u8 = 2;
/// Length of the password method's header parameters.
pub const PARAMS_LEN: usize = 1 + 4 + 4 + 4 + SALT_LEN;
/// Longest password accepted, in UTF-8 bytes.
pub const MAX_PASSWORD_LEN: usize = 4096;

/// What an app's key derivation resolves to: the Argon2id output, which
/// must be [`KEY_LEN`] bytes.
pub type DerivedKeyFuture = Pin<Box<dyn Future<Output = Result<Zeroizing<Vec<u8>>, Error>>>>;

/// An Argon2id (v0x13) run outside the module, called with the password
/// (the UTF-8 bytes of its NFC form), the salt and the costs, and resolving
/// to the 32-byte output (`hashLength` 32, no secret, no associated data).
pub type KeyDerivation = Box<dyn Fn(&[u8], &[u8; SALT_LEN], &Argon2idParams) -> DerivedKeyFuture>;

/// The password method, holding the password for one call.
pub struct PasswordMethod {
    password: Zeroizing<Vec<u8>>,
    kdf: Argon2idParams,
    app_kdf: Option<KeyDerivation>,
    guess_limited: bool,
}

/// The password method's header parameters, decoded and bounds-checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// The Argon2id costs.
    pub kdf: Argon2idParams,
    /// The per-backup salt.
    pub salt: [u8; SALT_LEN],
    /// Whether the Argon2id output goes through the service's OPRF (`kdf` 0x02).
    pub guess_limited: bool,
}

impl PasswordMethod {
    /// A password method with the default (OWASP floor) Argon2id costs.
    pub fn new(password: Zeroizing<Vec<u8>>) -> Result<Self, Error> {
        Self::with_kdf(password, Argon2idParams::default())
    }

    /// A password method with explicit Argon2id costs for new backups
    /// (recovery always uses the costs stored in the cipherText). An empty
    /// password is `PASSWORD_REQUIRED`, one over 4096 bytes
    /// `INVALID_ARGUMENT` (FORMAT.md §7 step 0).
    pub fn with_kdf(password: Zeroizing<Vec<u8>>, kdf: Argon2idParams) -> Result<Self, Error> {
        if password.is_empty() {
            return Err(Error::PasswordRequired);
        }
        if password.len() > MAX_PASSWORD_LEN {
            return Err(Error::InvalidArgument("password longer than 4096 bytes"));
        }
        kdf.check().map_err(Error::InvalidArgument)?;
        Ok(PasswordMethod { password, kdf, app_kdf: None, guess_limited: false })
    }

    /// Hands the Argon2id computation to the app. The method keeps
    /// choosing the salt and the costs (and bounds-checks the costs of a
    /// cipherText before asking); the output must be 32 bytes.
    pub fn with_key_derivation(mut self, derive: KeyDerivation) -> Self {
        self.app_kdf = Some(derive);
        self
    }

    /// Makes new backups guess-limited (FORMAT.md §3.4.1.1): the key comes
    /// from the backup service's OPRF over the Argon2id output, so the PIN
    /// can only be tried through the service's count. Recovery follows the
    /// cipherText whatever this says.
    pub fn guess_limited(mut self, on: bool) -> Self {
        self.guess_limited = on;
        self
    }

    /// Whether new backups are guess-limited.
    pub fn is_guess_limited(&self) -> bool {
        self.guess_limited
    }

    /// The Argon2id output for `salt` and `kdf`: the app's Argon2id if it gave
    /// one, else the module's.
    async fn derive(&self, kdf: &Argon2idParams, salt: &[u8; SALT_LEN]) -> Result<SecretKey, Error> {
        let Some(app_kdf) = &self.app_kdf else {
            return kdf.derive(&self.password, salt);
        };
        kdf.check().map_err(Error::InvalidArgument)?;
        let out = app_kdf(&self.password, salt, kdf).await?;
        if out.len() != KEY_LEN {
            return Err(Error::InvalidArgument("the app's key derivation must give 32 bytes"));
        }
        let mut key = SecretKey::from_bytes([0; KEY_LEN]);
        key.expose_mut().copy_from_slice(&out);
        Ok(key)
    }
}

/// Encodes the header parameters.
pub fn encode_params(kdf: &Argon2idParams, salt: &[u8; SALT_LEN]) -> Vec<u8> {
    encode(KDF_ARGON2ID, kdf, salt)
}

/// Encodes the header parameters of a guess-limited backup.
pub fn encode_guess_limited_params(kdf: &Argon2idParams, salt: &[u8; SALT_LEN]) -> Vec<u8> {
    encode(KDF_ARGON2ID_PIN_GUARD, kdf, salt)
}

fn encode(kdf_id: u8, kdf: &Argon2idParams, salt: &[u8; SALT_LEN]) -> Vec<u8> {
    let mut p = Vec::with_capacity(PARAMS_LEN);
    p.push(kdf_id);
    p.extend_from_slice(&kdf.memory_kib.to_be_bytes());
    p.extend_from_slice(&kdf.iterations.to_be_bytes());
    p.extend_from_slice(&kdf.parallelism.to_be_bytes());
    p.extend_from_slice(salt);
    p
}

/// Decodes and bounds-checks the header parameters, before any memory is
/// allocated for the KDF.
pub fn decode_params(p: &[u8]) -> Result<PasswordParams, Error> {
    if p.len() != PARAMS_LEN {
        return Err(Error::InvalidCiphertext("password parameters have the wrong length"));
    }
    let guess_limited = match p[0] {
        KDF_ARGON2ID => false,
        KDF_ARGON2ID_PIN_GUARD => true,
        _ => return Err(Error::InvalidCiphertext("unknown password KDF")),
    };
    let be = |i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
    let kdf = Argon2idParams { memory_kib: be(1), iterations: be(5), parallelism: be(9) };
    kdf.check().map_err(Error::InvalidCiphertext)?;
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&p[13..]);
    Ok(PasswordParams { kdf, salt, guess_limited })
}

impl BackupMethod for PasswordMethod {
    fn id(&self) -> MethodId {
        MethodId::Password
    }

    async fn create_key(&self, backup_id: &[u8; 16]) -> Result<NewKey, Error> {
        let mut salt = [0u8; SALT_LEN];
        fill_random(&mut salt)?;
        let hardened = self.derive(&self.kdf, &salt).await?;
        if !self.guess_limited {
            return Ok(NewKey { key: hardened, params: encode_params(&self.kdf, &salt), guard: None });
        }
        let (key, registration) = pin_guard::register(hardened, backup_id)?;
        Ok(NewKey { key, params: encode_guess_limited_params(&self.kdf, &salt), guard: Some(registration) })
    }

    /// The Argon2id output: the backup key, or for a guess-limited backup
    /// the input of the service's OPRF, which the flow runs.
    async fn recover_key(&self, header: &Header) -> Result<SecretKey, Error> {
        let params = decode_params(&header.method_params)?;
        self.derive(&params.kdf, &params.salt).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_on;
    use std::cell::RefCell;
    use std::rc::Rc;

    fn pw(p: &str) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(p.as_bytes().to_vec())
    }

    type Calls = Rc<RefCell<Vec<(Vec<u8>, [u8; SALT_LEN], Argon2idParams)>>>;

    /// An app KDF that records its calls and answers with `answer(real Argon2id output)`.
    fn app_kdf(calls: Calls, answer: fn(Vec<u8>) -> Result<Vec<u8>, Error>) -> KeyDerivation {
        Box::new(move |password, salt, params| {
            calls.borrow_mut().push((password.to_vec(), *salt, *params));
            let real = params.derive(password, salt).map(|k| k.expose().to_vec());
            let out = real.and_then(answer).map(Zeroizing::new);
            Box::pin(async move { out })
        })
    }

    fn header_with(params: Vec<u8>) -> Header {
        Header { method: MethodId::Password, backup_id: [7; 16], method_params: params, context: vec![] }
    }

    #[test]
    fn app_kdf_gets_the_modules_salt_and_costs_and_gives_the_same_key() {
        let calls = Calls::default();
        let costs = Argon2idParams { memory_kib: 20 * 1024, iterations: 3, parallelism: 2 };
        let method =
            PasswordMethod::with_kdf(pw("pässword"), costs).unwrap().with_key_derivation(app_kdf(calls.clone(), Ok));
        let new = block_on(method.create_key(&[0; 16])).unwrap();
        let PasswordParams { kdf: stored, salt, guess_limited } = decode_params(&new.params).unwrap();
        assert!(!guess_limited);
        assert_eq!(stored, costs);
        assert_eq!(*calls.borrow(), vec![("pässword".as_bytes().to_vec(), salt, costs)]);
        // The in-module Argon2id recovers the same key from the same header bytes.
        let in_module = PasswordMethod::new(pw("pässword")).unwrap();
        let header = header_with(new.params.clone());
        assert_eq!(block_on(in_module.recover_key(&header)).unwrap().expose(), new.key.expose());
        // And the app's KDF recovers it with the header's salt and costs.
        assert_eq!(block_on(method.recover_key(&header)).unwrap().expose(), new.key.expose());
        assert_eq!(calls.borrow()[1], ("pässword".as_bytes().to_vec(), salt, costs));
    }

    #[test]
    fn app_kdf_output_of_another_length_is_refused() {
        for answer in [
            (|mut k: Vec<u8>| {
                k.pop();
                Ok(k)
            }) as fn(Vec<u8>) -> Result<Vec<u8>, Error>,
            |mut k| {
                k.push(0);
                Ok(k)
            },
            |_| Ok(vec![]),
        ] {
            let method = PasswordMethod::new(pw("pw")).unwrap().with_key_derivation(app_kdf(Calls::default(), answer));
            assert!(matches!(block_on(method.create_key(&[0; 16])), Err(Error::InvalidArgument(_))));
            let header = header_with(encode_params(&Argon2idParams::default(), &[3; SALT_LEN]));
            assert!(matches!(block_on(method.recover_key(&header)), Err(Error::InvalidArgument(_))));
        }
    }

    #[test]
    fn app_kdf_failure_is_passed_on() {
        let method = PasswordMethod::new(pw("pw"))
            .unwrap()
            .with_key_derivation(app_kdf(Calls::default(), |_| Err(Error::InvalidArgument("app KDF failed"))));
        assert_eq!(block_on(method.create_key(&[0; 16])).err(), Some(Error::InvalidArgument("app KDF failed")));
    }

    #[test]
    fn app_kdf_is_not_asked_for_costs_out_of_bounds() {
        let calls = Calls::default();
        let method = PasswordMethod::new(pw("pw")).unwrap().with_key_derivation(app_kdf(calls.clone(), Ok));
        let mut params = encode_params(&Argon2idParams::default(), &[3; SALT_LEN]);
        params[1..5].copy_from_slice(&(2 * 1024 * 1024u32).to_be_bytes());
        assert!(matches!(block_on(method.recover_key(&header_with(params))), Err(Error::InvalidCiphertext(_))));
        assert!(calls.borrow().is_empty());
    }

    #[test]
    fn empty_password_is_required_error() {
        assert!(matches!(PasswordMethod::new(Zeroizing::new(vec![])), Err(Error::PasswordRequired)));
    }

    /// FORMAT.md §3.4.1 and §7 step 0: at most 4096 bytes (of the NFC form,
    /// which the caller made); one more is `INVALID_ARGUMENT`.
    #[test]
    fn password_of_4096_bytes_is_the_longest() {
        assert!(PasswordMethod::new(Zeroizing::new(vec![b'p'; MAX_PASSWORD_LEN])).is_ok());
        let err = PasswordMethod::new(Zeroizing::new(vec![b'p'; MAX_PASSWORD_LEN + 1])).err().unwrap();
        assert_eq!(err.code(), "INVALID_ARGUMENT");
    }

    #[test]
    fn params_round_trip_and_caps() {
        let kdf = Argon2idParams { memory_kib: 65536, iterations: 3, parallelism: 4 };
        let p = encode_params(&kdf, &[5; SALT_LEN]);
        assert_eq!(decode_params(&p).unwrap(), PasswordParams { kdf, salt: [5; SALT_LEN], guess_limited: false });
        let limited = encode_guess_limited_params(&kdf, &[5; SALT_LEN]);
        assert_eq!(limited[0], 2);
        assert_eq!(limited[1..], p[1..]);
        assert!(decode_params(&limited).unwrap().guess_limited);
        let mut unknown = p.clone();
        unknown[0] = 3;
        assert!(matches!(decode_params(&unknown), Err(Error::InvalidCiphertext(_))));
        let mut absurd = p.clone();
        absurd[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode_params(&absurd), Err(Error::InvalidCiphertext(_))));
        assert!(matches!(decode_params(&p[..28]), Err(Error::InvalidCiphertext(_))));
    }
}
