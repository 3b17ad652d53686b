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
//! `Done` is reported only after every step succeeded.

use crate::adapters::{Keychain, Progress};
use crate::format::{self, Header, BACKUP_ID_LEN, MAX_PLAINTEXT_LEN};
use crate::keys::fill_random;
use crate::method::{BackupMethod, MethodId};
use crate::methods::passkey::PasskeyParams;
use crate::methods::password;
use crate::split;
use crate::status::Status;
use crate::store::BackupStore;
use crate::Error;

/// Largest shares string accepted (the plaintext also carries a 32-byte digest).
pub const MAX_SHARES_LEN: usize = MAX_PLAINTEXT_LEN - split::DIGEST_LEN;

/// Backs up the keychain's shares with `method`; returns the cipherText.
pub async fn backup(
    keychain: &impl Keychain,
    store: &impl BackupStore,
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
    let pending = store.begin(method.id(), &backup_id, &halves.custodian).await?;

    // Read back and prove the stored pair restores the shares before completing it.
    let read_back = store.read_back(&pending).await?;
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

/// Recovers the shares sealed in `cipher_text` into the keychain.
pub async fn recover(
    cipher_text: &str,
    keychain: &impl Keychain,
    store: &impl BackupStore,
    method: &impl BackupMethod,
    progress: &impl Progress,
) -> Result<(), Error> {
    progress.report(Status::ReadingShare, false);
    let envelope = format::decode(cipher_text)?;
    if envelope.header.method != method.id() {
        return Err(Error::MethodMismatch);
    }
    check_method_params(&envelope.header)?;
    let custodian_half = store.custodian_half(method.id(), &envelope.header.backup_id).await?;

    progress.report(Status::DecryptingShare, false);
    let key = method.recover_key(&envelope.header).await?;
    let opened = envelope.open(&key)?;

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
