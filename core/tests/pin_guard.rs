//! Guess-limited PINs through the flows (FORMAT.md §3.4.1.1), over an
//! in-memory twin of the backup service's guard: it keeps the OPRF key and
//! the unlock key, counts every evaluation, resets only for a right proof
//! and destroys the key past the limit. The real service is tested in
//! service/tests/; this proves the module's side of the protocol.

mod common;

use std::cell::{Cell, RefCell};

use common::block_on;
use wallet_backup_core::testing::pin_guard::blind_evaluate;
use wallet_backup_core::testing::{MemoryKeychain, MemoryStore, RecordingProgress};
use wallet_backup_core::{
    self as flow, BackupId, BackupStore, Custodian, Error, Evaluation, GuardStatus, MethodId, PasswordMethod, PinGuard,
    Registration, SecretKey, StoredRecord,
};
use zeroize::Zeroizing;

const SHARES: &[u8] = br#"{"secp256k1":{"id":"w1","share":"00112233"}}"#;

struct Guard {
    oprf_key: [u8; 32],
    unlock_key: SecretKey,
    used: u32,
    challenge: Option<[u8; 32]>,
    destroyed: bool,
}

/// A pair: its backup id, custodian half and guard (for a guess-limited PIN).
type Pair = (BackupId, Vec<u8>, Option<Guard>);

/// The service's pairs and guards, in memory.
struct Service {
    limit: u32,
    halves: RefCell<Vec<Pair>>,
    evaluations: Cell<u32>,
    challenges: Cell<u8>,
}

impl Service {
    fn new(limit: u32) -> Self {
        Service { limit, halves: RefCell::default(), evaluations: Cell::new(0), challenges: Cell::new(0) }
    }

    fn with_guard<T>(&self, id: &BackupId, f: impl FnOnce(&mut Guard) -> Result<T, Error>) -> Result<T, Error> {
        let mut halves = self.halves.borrow_mut();
        let entry = halves.iter_mut().find(|(b, ..)| b == id).ok_or(Error::InvalidCustodianShare("no pair"))?;
        let guard = entry.2.as_mut().ok_or(Error::ServiceError("NOT_GUESS_LIMITED"))?;
        if guard.destroyed {
            return Err(Error::PinGuessesExhausted);
        }
        f(guard)
    }
}

impl BackupStore for Service {
    type Pending = BackupId;

    async fn begin(&self, _: MethodId, id: &BackupId, half: &[u8]) -> Result<BackupId, Error> {
        self.halves.borrow_mut().push((*id, half.to_vec(), None));
        Ok(*id)
    }

    async fn begin_guarded(
        &self,
        _: MethodId,
        id: &BackupId,
        half: &[u8],
        guard: &Registration,
    ) -> Result<BackupId, Error> {
        let guard = Guard {
            oprf_key: *guard.oprf_key,
            unlock_key: guard.unlock_key.clone(),
            used: 0,
            challenge: None,
            destroyed: false,
        };
        self.halves.borrow_mut().push((*id, half.to_vec(), Some(guard)));
        Ok(*id)
    }

    async fn read_back(&self, id: &BackupId) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.custodian_half(MethodId::Password, id).await
    }

    async fn complete(&self, _: &BackupId, _: &str) -> Result<(), Error> {
        Ok(())
    }

    /// A guarded pair's half is released only by an unlock.
    async fn custodian_half(&self, _: MethodId, id: &BackupId) -> Result<Zeroizing<Vec<u8>>, Error> {
        let halves = self.halves.borrow();
        let (_, half, guard) = halves.iter().find(|(b, ..)| b == id).ok_or(Error::InvalidCustodianShare("no pair"))?;
        if guard.is_some() {
            return Err(Error::ServiceError("PIN_PROOF_REQUIRED"));
        }
        Ok(Zeroizing::new(half.clone()))
    }
}

impl PinGuard for Service {
    async fn guard_status(&self, id: &BackupId) -> Result<GuardStatus, Error> {
        self.with_guard(id, |g| Ok(GuardStatus { guess_limit: self.limit, guesses_left: self.limit - g.used }))
    }

    async fn guard_evaluate(&self, id: &BackupId, blinded: &[u8; 32]) -> Result<Evaluation, Error> {
        self.with_guard(id, |g| {
            if g.used >= self.limit {
                g.destroyed = true;
                g.oprf_key = [0; 32];
                return Err(Error::PinGuessesExhausted);
            }
            g.used += 1;
            self.evaluations.set(self.evaluations.get() + 1);
            self.challenges.set(self.challenges.get() + 1);
            let challenge = [self.challenges.get(); 32];
            g.challenge = Some(challenge);
            let evaluated_element = blind_evaluate(&g.oprf_key, blinded);
            Ok(Evaluation { evaluated_element, challenge, guesses_left: self.limit - g.used })
        })
    }

    async fn guard_unlock(
        &self,
        id: &BackupId,
        challenge: &[u8; 32],
        proof: &[u8; 32],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        use hmac::{Hmac, KeyInit, Mac};
        self.with_guard(id, |g| {
            if g.challenge.take().as_ref() != Some(challenge) {
                return Err(Error::ServiceError("PIN_CHALLENGE_INVALID"));
            }
            let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(g.unlock_key.expose()).unwrap();
            mac.update(b"wallet-backup/v1/pin-guard/unlock");
            mac.update(id);
            mac.update(challenge);
            mac.verify_slice(proof).map_err(|_| Error::WrongPassword(Some(self.limit - g.used)))?;
            g.used = 0;
            Ok(())
        })?;
        let halves = self.halves.borrow();
        Ok(Zeroizing::new(halves.iter().find(|(b, ..)| b == id).unwrap().1.clone()))
    }
}

fn pin(p: &str, limited: bool) -> PasswordMethod {
    PasswordMethod::new(Zeroizing::new(p.as_bytes().to_vec())).unwrap().guess_limited(limited)
}

fn backup(service: &Service, method: &PasswordMethod) -> Result<String, Error> {
    block_on(flow::backup(&MemoryKeychain::with(SHARES), service, method, &RecordingProgress::default(), b""))
}

fn recover(service: &Service, text: &str, p: &str) -> Result<Vec<u8>, Error> {
    let keychain = MemoryKeychain::with(b"other");
    block_on(flow::recover(text, &keychain, service, &pin(p, false), &RecordingProgress::default()))?;
    let shares = keychain.shares.borrow().clone().unwrap();
    Ok(shares)
}

fn status(service: &Service, text: &str) -> Result<GuardStatus, Error> {
    let id = wallet_backup_core::method_and_backup_id(text).unwrap().1;
    block_on(service.guard_status(&id))
}

#[test]
fn the_right_pin_after_nine_wrong_ones_opens_and_resets_the_count() {
    let service = Service::new(10);
    let text = backup(&service, &pin("0421", true)).unwrap();
    // The backup proved its guard round-trips: one evaluation, count back at 0.
    assert_eq!(service.evaluations.get(), 1);
    assert_eq!(status(&service, &text), Ok(GuardStatus { guess_limit: 10, guesses_left: 10 }));
    for i in 1..=9 {
        assert_eq!(recover(&service, &text, "1234"), Err(Error::WrongPassword(Some(10 - i))), "wrong guess {i}");
    }
    assert_eq!(status(&service, &text).unwrap().guesses_left, 1);
    assert_eq!(recover(&service, &text, "0421").unwrap(), SHARES);
    assert_eq!(status(&service, &text).unwrap().guesses_left, 10);
}

#[test]
fn the_eleventh_wrong_guess_destroys_the_backup() {
    let service = Service::new(10);
    let text = backup(&service, &pin("0421", true)).unwrap();
    for _ in 0..10 {
        assert!(matches!(recover(&service, &text, "9999"), Err(Error::WrongPassword(Some(_)))));
    }
    // The 11th guess is refused, and the service destroys the OPRF key.
    assert_eq!(recover(&service, &text, "9999"), Err(Error::PinGuessesExhausted));
    assert!(service.halves.borrow()[0].2.as_ref().unwrap().destroyed);
    // From now on even the right PIN gets nothing, and no key is derived for it.
    let before = service.evaluations.get();
    assert_eq!(recover(&service, &text, "0421"), Err(Error::PinGuessesExhausted));
    assert_eq!(service.evaluations.get(), before);
}

#[test]
fn the_custodian_half_is_not_released_without_the_proof() {
    let service = Service::new(10);
    let text = backup(&service, &pin("0421", true)).unwrap();
    let id = wallet_backup_core::method_and_backup_id(&text).unwrap().1;
    assert_eq!(
        block_on(service.custodian_half(MethodId::Password, &id)).unwrap_err(),
        Error::ServiceError("PIN_PROOF_REQUIRED")
    );
    // A replayed unlock: the challenge was used by the backup's own read-back.
    assert_eq!(
        block_on(service.guard_unlock(&id, &[1; 32], &[0; 32])).unwrap_err(),
        Error::ServiceError("PIN_CHALLENGE_INVALID")
    );
}

#[test]
fn a_plain_password_backup_is_unchanged_and_an_app_custodian_refuses_a_limit() {
    let service = Service::new(10);
    let plain = backup(&service, &pin("0421", false)).unwrap();
    assert_eq!(service.evaluations.get(), 0);
    assert_eq!(recover(&service, &plain, "0421").unwrap(), SHARES);
    assert_eq!(recover(&service, &plain, "1234"), Err(Error::WrongPassword(None)));

    let app: Custodian<MemoryStore, Service> = Custodian::App(StoredRecord::custodian(MemoryStore::default()));
    let err = block_on(flow::backup(
        &MemoryKeychain::with(SHARES),
        &app,
        &pin("0421", true),
        &RecordingProgress::default(),
        b"",
    ))
    .unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert!(err.to_string().contains("guess-limited PIN needs the backup service"), "{err}");
}
