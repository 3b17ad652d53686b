//! The backup and recovery flows, step by step, over the storage traits.
//!
//! Backup: read shares → split → derive key and seal the client half →
//! store the custodian half as pending → read it back and open the new
//! cipherText to prove the pair restores the shares → confirm the key with the
//! method (keepers of a bounded keys record) → complete (with the
//! service: attach the cipherText and confirm) → Done.
//! Recovery (FORMAT.md §7): decode cipherText and check its method
//! parameters → fetch the custodian half of its backup id → derive key and
//! open → combine and check digest → check the shares are UTF-8 → write
//! shares → Done. Everything the cipherText alone decides is checked before
//! the custodian is asked, and the custodian before any key is derived.
//!
//! A guess-limited PIN (FORMAT.md §3.4.1.1) changes two steps: the service
//! releases the custodian half only for a proof of the right PIN, so
//! recovery asks for the guard's count where it would fetch the half, and
//! fetches the half with the proof once the envelope opened; and a backup
//! reads its pair back by running that same guess and proof.
//!
//! `Done` is reported only after every step succeeded.
//!
//! Below the flows, what they call: the app's [`Keychain`], the [`Progress`]
//! sink and its [`Status`]es, and the [`BackupStore`] of the custodian half
//! with its one dispatch, [`Custodian`] (the app's custodian record or the
//! backup service). The method, a [`BackupMethod`], is in `method.rs`.

use core::future::Future;

use zeroize::Zeroizing;

use crate::format::{self, Header, BACKUP_ID_LEN, MAX_PLAINTEXT_LEN};
use crate::keys::fill_random;
use crate::method::{BackupMethod, MethodId};
use crate::methods::passkey::PasskeyParams;
use crate::methods::password;
use crate::methods::pin_guard::{self, PinGuard, Registration, NEEDS_THE_SERVICE};
use crate::record::{Entry, PendingRecord, StoredRecord, StringStore};
use crate::split;
use crate::Error;

/// Largest shares string accepted (the plaintext also carries a 32-byte digest).
pub const MAX_SHARES_LEN: usize = MAX_PLAINTEXT_LEN - split::DIGEST_LEN;

/// Backs up the keychain's shares with `method`; returns the cipherText.
pub async fn backup(
    keychain: &impl Keychain,
    store: &(impl BackupStore + PinGuard),
    method: &impl BackupMethod,
    progress: &impl Progress,
    context: &[u8],
) -> Result<String, Error> {
    progress.report(Status::ReadingShare, false);
    let shares = keychain.get_shares().await?;
    if shares.is_empty() {
        return Err(Error::KeychainUnavailable("the keychain holds no shares"));
    }
    if shares.len() > MAX_SHARES_LEN {
        return Err(Error::InvalidArgument("shares larger than 1 MiB"));
    }
    // S is the UTF-8 of the shares string (FORMAT.md §2); other bytes could
    // be sealed but never recovered (§7 step 15).
    if core::str::from_utf8(&shares).is_err() {
        return Err(Error::KeychainUnavailable("the keychain's shares are not UTF-8 text"));
    }

    progress.report(Status::GeneratingShare, false);
    let mut backup_id = [0u8; BACKUP_ID_LEN];
    fill_random(&mut backup_id)?;
    let halves = split::split(&shares)?;

    progress.report(Status::EncryptingShare, false);
    let new_key = method.create_key(&backup_id).await?;
    let header = Header { method: method.id(), backup_id, method_params: new_key.params, context: context.to_vec() };
    let plaintext = split::client_plaintext(&shares, &halves.client);
    let cipher_text = format::seal(&header, &new_key.key, &plaintext)?;

    progress.report(Status::StoringShare, false);
    let pending = match &new_key.guard {
        None => store.begin(method.id(), &backup_id, &halves.custodian).await?,
        Some(guard) => store.begin_guarded(method.id(), &backup_id, &halves.custodian, guard).await?,
    };

    // Read back and prove the stored pair restores the shares before completing it.
    let read_back = match &new_key.guard {
        None => store.read_back(&pending).await?,
        Some(guard) => read_back_through_guard(store, &backup_id, guard, &new_key.key).await?,
    };
    if read_back[..] != halves.custodian[..] {
        return Err(Error::CustodianUnavailable("custodian returned different data than was written"));
    }
    let opened = format::decode(&cipher_text)?.open(&new_key.key)?;
    let restored = split::restore(&opened, &read_back)?;
    if restored[..] != shares[..] {
        return Err(Error::Unexpected("verification of the new backup failed"));
    }
    method.confirm_key(&backup_id).await?;
    store.complete(&pending, &cipher_text).await?;

    progress.report(Status::Done, true);
    Ok(cipher_text)
}

/// A new guess-limited backup's read-back: one guess with the new PIN
/// through the service's guard must give the new key and unlock key, and the
/// proof must release the custodian half (the count goes back to zero).
async fn read_back_through_guard(
    guard: &impl PinGuard,
    backup_id: &BackupId,
    registration: &Registration,
    key: &crate::keys::SecretKey,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let (keys, challenge, _) = pin_guard::guess(guard, backup_id, registration.hardened()).await?;
    if keys.backup_key.expose() != key.expose() || keys.unlock_key.expose() != registration.unlock_key.expose() {
        return Err(Error::CustodianUnavailable("the service's PIN guard does not give back the new backup's key"));
    }
    let proof = pin_guard::unlock_proof(&keys.unlock_key, backup_id, &challenge)?;
    guard.guard_unlock(backup_id, &challenge, &proof).await
}

/// Recovers the shares sealed in `cipher_text` into the keychain.
pub async fn recover(
    cipher_text: &str,
    keychain: &impl Keychain,
    store: &(impl BackupStore + PinGuard),
    method: &impl BackupMethod,
    progress: &impl Progress,
) -> Result<(), Error> {
    progress.report(Status::ReadingShare, false);
    let envelope = format::decode(cipher_text)?;
    if envelope.header.method != method.id() {
        return Err(Error::MethodMismatch);
    }
    check_method_params(&envelope.header)?;
    let backup_id = envelope.header.backup_id;
    let guess_limited = envelope.header.method == MethodId::Password
        && password::decode_params(&envelope.header.method_params)?.guess_limited;
    // Step 10: the custodian half, or for a guess-limited PIN the guard's
    // count (the half comes with the proof, below).
    let custodian_half = if guess_limited {
        store.guard_status(&backup_id).await?;
        None
    } else {
        Some(store.custodian_half(method.id(), &backup_id).await?)
    };

    progress.report(Status::DecryptingShare, false);
    let key = method.recover_key(&envelope.header).await?;
    let (opened, custodian_half) = match custodian_half {
        Some(half) => (envelope.open(&key)?, half),
        None => {
            let (keys, challenge, guesses_left) = pin_guard::guess(store, &backup_id, &key).await?;
            let opened = envelope.open(&keys.backup_key).map_err(|e| match e {
                Error::WrongPassword(_) => Error::WrongPassword(Some(guesses_left)),
                other => other,
            })?;
            let proof = pin_guard::unlock_proof(&keys.unlock_key, &backup_id, &challenge)?;
            (opened, store.guard_unlock(&backup_id, &challenge, &proof).await?)
        }
    };

    progress.report(Status::RecoveringBackupShare, false);
    let shares = split::restore(&opened, &custodian_half)?;
    if core::str::from_utf8(&shares).is_err() {
        return Err(Error::InvalidCiphertext("the backed-up shares are not UTF-8 text"));
    }

    progress.report(Status::StoringShare, false);
    keychain.set_shares(&shares).await?;

    progress.report(Status::Done, true);
    Ok(())
}

/// FORMAT.md §7 step 9: the method parameters, checked from the cipherText
/// alone before the custodian is asked (step 10) or any key derived
/// (step 11). Each method's parser is the home of its rules; the method
/// parses them again when it derives the key.
fn check_method_params(header: &Header) -> Result<(), Error> {
    match header.method {
        MethodId::Password => password::decode_params(&header.method_params).map(|_| ()),
        MethodId::Passkey => PasskeyParams::decode(&header.method_params).map(|_| ()),
        // The methods that keep a random key record no parameters (§3.4.2).
        MethodId::GoogleDrive | MethodId::ICloud | MethodId::Firebase | MethodId::Custom => {
            if header.method_params.is_empty() {
                Ok(())
            } else {
                Err(Error::InvalidCiphertext("this method records no parameters"))
            }
        }
    }
}

/// The device keychain holding the wallet's signing shares.
#[allow(async_fn_in_trait)]
pub trait Keychain {
    /// The shares, as opaque bytes (Portal's are a JSON string).
    fn get_shares(&self) -> impl Future<Output = Result<Zeroizing<Vec<u8>>, Error>>;
    /// Replaces the shares.
    fn set_shares(&self, shares: &[u8]) -> impl Future<Output = Result<(), Error>>;
}

/// Receives progress reports. Must not fail: a broken callback never
/// breaks a backup.
pub trait Progress {
    /// Reports that `status` has started (`done` is true only with `Done`).
    fn report(&self, status: Status, done: bool);
}

/// One step of a backup or recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Reading the shares (backup) or the custodian half and cipherText (recovery).
    ReadingShare,
    /// Splitting the shares into client and custodian halves.
    GeneratingShare,
    /// Deriving the key and sealing the client half.
    EncryptingShare,
    /// Writing the custodian half (backup) or the restored shares (recovery).
    StoringShare,
    /// Deriving the key and opening the client half.
    DecryptingShare,
    /// Parsing a share (reserved for methods that fetch the key as a document).
    ParsingShare,
    /// Combining the two halves.
    RecoveringBackupShare,
    /// Restoring the signing share (reserved for the service's key refresh).
    RecoveringSigningShare,
    /// Every step succeeded.
    Done,
}

impl Status {
    /// Every status, in declaration order.
    pub const ALL: [Status; 9] = [
        Status::ReadingShare,
        Status::GeneratingShare,
        Status::EncryptingShare,
        Status::StoringShare,
        Status::DecryptingShare,
        Status::ParsingShare,
        Status::RecoveringBackupShare,
        Status::RecoveringSigningShare,
        Status::Done,
    ];

    /// The status string shown to apps.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::ReadingShare => "Reading share",
            Status::GeneratingShare => "Generating share",
            Status::EncryptingShare => "Encrypting share",
            Status::StoringShare => "Storing share",
            Status::DecryptingShare => "Decrypting share",
            Status::ParsingShare => "Parsing share",
            Status::RecoveringBackupShare => "Recovering backup share",
            Status::RecoveringSigningShare => "Recovering signing share",
            Status::Done => "Done",
        }
    }
}

/// A 16-byte backup id (the envelope's).
pub type BackupId = [u8; BACKUP_ID_LEN];

/// Keeps custodian halves: pending → read back → complete.
///
/// A backup stores its custodian half as *pending*, reads it back, proves
/// the pair restores the shares, and only then *completes* it: from that
/// moment it is the backup recovery uses. Until then the previous completed
/// backup stays valid.
#[allow(async_fn_in_trait)]
pub trait BackupStore {
    /// What `begin` hands to the later steps of the same backup.
    type Pending;

    /// Stores the custodian half of a new backup as pending. Recovery of
    /// earlier backups is unaffected.
    fn begin(
        &self,
        method: MethodId,
        backup_id: &BackupId,
        custodian_half: &[u8],
    ) -> impl Future<Output = Result<Self::Pending, Error>>;

    /// [`BackupStore::begin`] for a guess-limited PIN: the store keeps
    /// `guard` with the half, and releases the half only through its
    /// [`PinGuard`]. Only the backup service can.
    fn begin_guarded(
        &self,
        method: MethodId,
        backup_id: &BackupId,
        custodian_half: &[u8],
        guard: &Registration,
    ) -> impl Future<Output = Result<Self::Pending, Error>> {
        let _ = (method, backup_id, custodian_half, guard);
        async { Err(NEEDS_THE_SERVICE) }
    }

    /// Reads back the custodian half that `begin` stored.
    fn read_back(&self, pending: &Self::Pending) -> impl Future<Output = Result<Zeroizing<Vec<u8>>, Error>>;

    /// Makes the verified backup the one recovery uses; a store that keeps
    /// cipherTexts stores `cipher_text` first.
    fn complete(&self, pending: &Self::Pending, cipher_text: &str) -> impl Future<Output = Result<(), Error>>;

    /// The custodian half of the backup `backup_id` made with `method`.
    fn custodian_half(
        &self,
        method: MethodId,
        backup_id: &BackupId,
    ) -> impl Future<Output = Result<Zeroizing<Vec<u8>>, Error>>;
}

/// Who keeps the custodian half of a call's backup: the app, in a custodian
/// record (FORMAT.md §7) in its `custodian` adapter `A`, or the backup
/// service `S` (a pair created `PENDING`, read back by backup id, completed
/// by attaching the cipherText and confirming).
///
/// Dispatching here, rather than instantiating the flows once per store,
/// keeps one copy of the backup and recovery code in the wasm.
pub enum Custodian<A, S> {
    /// The app's `custodian` adapter.
    App(StoredRecord<A, Entry>),
    /// The backup service.
    Service(S),
}

/// A pending backup with either custodian.
pub enum CustodianPending<P> {
    /// In the app's custodian record.
    App(PendingRecord),
    /// A pair on the service.
    Service(P),
}

impl<A: StringStore, S: BackupStore> BackupStore for Custodian<A, S> {
    type Pending = CustodianPending<S::Pending>;

    async fn begin(&self, method: MethodId, backup_id: &BackupId, half: &[u8]) -> Result<Self::Pending, Error> {
        Ok(match self {
            Custodian::App(record) => CustodianPending::App(record.begin(method, backup_id, half).await?),
            Custodian::Service(s) => CustodianPending::Service(s.begin(method, backup_id, half).await?),
        })
    }

    async fn read_back(&self, pending: &Self::Pending) -> Result<Zeroizing<Vec<u8>>, Error> {
        match (self, pending) {
            (Custodian::App(record), CustodianPending::App(p)) => record.read_back(p).await,
            (Custodian::Service(s), CustodianPending::Service(p)) => s.read_back(p).await,
            _ => Err(Error::Unexpected("pending backup of another store")),
        }
    }

    async fn complete(&self, pending: &Self::Pending, cipher_text: &str) -> Result<(), Error> {
        match (self, pending) {
            (Custodian::App(record), CustodianPending::App(p)) => record.complete(p, cipher_text).await,
            (Custodian::Service(s), CustodianPending::Service(p)) => s.complete(p, cipher_text).await,
            _ => Err(Error::Unexpected("pending backup of another store")),
        }
    }

    async fn custodian_half(&self, method: MethodId, backup_id: &BackupId) -> Result<Zeroizing<Vec<u8>>, Error> {
        match self {
            Custodian::App(record) => record.custodian_half(method, backup_id).await,
            Custodian::Service(s) => s.custodian_half(method, backup_id).await,
        }
    }

    async fn begin_guarded(
        &self,
        method: MethodId,
        backup_id: &BackupId,
        half: &[u8],
        guard: &Registration,
    ) -> Result<Self::Pending, Error> {
        match self {
            Custodian::App(_) => Err(NEEDS_THE_SERVICE),
            Custodian::Service(s) => {
                Ok(CustodianPending::Service(s.begin_guarded(method, backup_id, half, guard).await?))
            }
        }
    }
}

/// Only the backup service counts guesses; the app's custodian record
/// refuses guess-limited backups (a limit the holder could reset is none).
impl<A: StringStore, S: PinGuard> PinGuard for Custodian<A, S> {
    async fn guard_status(&self, backup_id: &BackupId) -> Result<pin_guard::GuardStatus, Error> {
        match self {
            Custodian::App(_) => Err(NEEDS_THE_SERVICE),
            Custodian::Service(s) => s.guard_status(backup_id).await,
        }
    }

    async fn guard_evaluate(
        &self,
        backup_id: &BackupId,
        blinded: &[u8; pin_guard::LEN],
    ) -> Result<pin_guard::Evaluation, Error> {
        match self {
            Custodian::App(_) => Err(NEEDS_THE_SERVICE),
            Custodian::Service(s) => s.guard_evaluate(backup_id, blinded).await,
        }
    }

    async fn guard_unlock(
        &self,
        backup_id: &BackupId,
        challenge: &[u8; pin_guard::LEN],
        proof: &[u8; pin_guard::LEN],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        match self {
            Custodian::App(_) => Err(NEEDS_THE_SERVICE),
            Custodian::Service(s) => s.guard_unlock(backup_id, challenge, proof).await,
        }
    }
}
