//! Every way a backup or recovery can fail, each with a stable machine code.
//!
//! The codes are part of the public API: the wasm binding copies [`Error::code`]
//! onto the `code` property of the JavaScript `Error` it throws, and apps
//! branch on them. Never rename one; add new variants instead.
//!
//! Messages never contain secrets: no password, key, share or plaintext byte
//! is ever formatted into an error.

use core::fmt;

/// A failure of a backup or recovery step.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The Password/PIN method was chosen but no (or an empty) password given.
    PasswordRequired,
    /// The envelope is well formed and intact but the password derives a
    /// different key (the key commitment does not match). For a
    /// guess-limited backup, the guesses the service still allows.
    WrongPassword(Option<u32>),
    /// The envelope is intact but the key the method supplied is not the one
    /// it was sealed with (the key commitment does not match).
    WrongBackupKey,
    /// The envelope is well formed but its bytes were changed: the checksum
    /// or the authentication tag does not match.
    CiphertextCorrupted,
    /// The cipherText is not a wallet-backup envelope this version can read:
    /// malformed, truncated, unknown version or method, or KDF costs outside
    /// the accepted bounds.
    InvalidCiphertext(&'static str),
    /// The custodian half is not one this version can read, or holds no half
    /// for the backup being recovered.
    InvalidCustodianShare(&'static str),
    /// The two halves decrypted and parsed but do not restore the shares
    /// that were backed up (they come from different backups).
    BackupShareMismatch,
    /// The method name is unknown, or the method is not available yet.
    UnsupportedStorageMethod,
    /// The cipherText was made with another method than the one asked for.
    MethodMismatch,
    /// An argument has the wrong value (type errors are reported by the
    /// binding as `TypeError` with the same code).
    InvalidArgument(&'static str),
    /// The keychain adapter is missing, failed, or returned no usable shares.
    KeychainUnavailable(&'static str),
    /// The custodian adapter is missing or failed.
    CustodianUnavailable(&'static str),
    /// Another backup or recovery is already running on this wallet.
    WalletModificationAlreadyInProgress,
    /// The platform's secure random source failed.
    RandomUnavailable,
    /// An internal invariant failed; this is a bug.
    Unexpected(&'static str),
    /// The backup service could not be reached (no connection, DNS, TLS,
    /// CORS, or the connection broke).
    NetworkError(&'static str),
    /// The backup service did not answer in time.
    NetworkTimeout,
    /// The backup service refused the API key (HTTP 401).
    Unauthorized,
    /// The backup service's rate limit for this API key was hit (HTTP 429).
    RateLimited,
    /// The backup service failed (HTTP 5xx) or answered something this
    /// version does not understand.
    ServiceError(&'static str),
    /// The backup service holds no completed backup of this method.
    NoBackup,
    /// The service does not keep cipherTexts for this client (managed
    /// backups are off): the app must pass the cipherText it stored.
    ManagedBackupsDisabled,
    /// The key keeper (an enclave, a drive, an adapter) holds no key for
    /// this backup.
    BackupKeyNotFound,
    /// The Firebase method's `getToken` gave no ID token: nobody is signed in.
    FirebaseNotSignedIn,
    /// The key enclave refused the Firebase ID token, also after a refresh.
    FirebaseUnauthenticated,
    /// The key enclave releases keys only after a recent sign-in: the user
    /// must sign in again.
    FirebaseReauthenticationRequired,
    /// No passkey API: no `navigator.credentials` and no `passkeys`
    /// functions, or the platform failed in a way other than a refusal.
    PasskeyUnavailable(&'static str),
    /// The passkey prompt was cancelled, timed out, or user verification
    /// failed (browsers do not tell these apart).
    PasskeyNotAllowed,
    /// The passkey answered without user verification (PIN, biometrics),
    /// which the passkey method always requires.
    PasskeyUserVerificationRequired,
    /// The backup was made with the passkey's PRF extension, which this
    /// device's passkey provider does not offer.
    PasskeyPrfUnavailable,
    /// The key enclave refused the passkey ceremony (wrong origin, unknown
    /// credential, replayed or expired challenge, bad signature, ...).
    PasskeyDenied,
    /// The backup service has no passkey relying party for this client.
    PasskeyNotConfigured,
    /// Google refused the access token (HTTP 401), or `getAccessToken`
    /// gave none or threw.
    GoogleUnauthenticated,
    /// Google Drive refused the token for lacking the `drive.appdata` scope
    /// (HTTP 403 `insufficientPermissions`): the user unticked the
    /// permission on Google's consent screen; the app must ask for it again.
    GoogleScopeMissing,
    /// iCloud refused the web auth token (HTTP 421
    /// `AUTHENTICATION_REQUIRED`, or 401), or `getWebAuthToken` gave none
    /// or threw: the user must sign in to iCloud.
    ICloudUnauthenticated,
    /// The storage that keeps the backup key (Google Drive, iCloud, the
    /// app's adapter) failed, could not be reached, returned other data than was
    /// written, or holds a keys record this version cannot read.
    StorageUnavailable(&'static str),
    /// A function the app provided (keychain, custodian, storage adapter,
    /// token getter, key derivation) or a passkey prompt did not settle
    /// within its time limit (`adapterTimeoutMs`). Names which one, as
    /// `adapter.function` (`keychain.getShares`, `navigator.credentials.get`).
    /// The call was abandoned: nothing after it ran, so nothing was completed.
    AdapterTimeout(&'static str),
    /// The app aborted the call (`config.signal`); the JavaScript error's
    /// `cause` is the signal's `reason`. The step under way was abandoned and
    /// nothing after it ran; a committing step (the keychain write of a
    /// recovery, the service's confirm of a backup) is never interrupted:
    /// its own result decides.
    Aborted,
    /// React Native only: a password backup or recovery without
    /// `passwordStorage.deriveKey`. Argon2id through wasm2js takes 20 s to a
    /// minute per call in Hermes; the app passes a native Argon2id (the package's
    /// `wallet-backup/react-native-libsodium` adapter) or opts in to the slow
    /// path with `passwordStorage.allowSlowKdf: true`.
    NativeKdfRequired,
    /// A guess-limited backup took more wrong PINs than its limit allows:
    /// the backup service destroyed its key, and nobody can open it any more.
    PinGuessesExhausted,
}

impl Error {
    /// The stable machine code of this error, e.g. `"WRONG_PASSWORD"`.
    pub const fn code(&self) -> &'static str {
        match self {
            Error::PasswordRequired => "PASSWORD_REQUIRED",
            Error::WrongPassword(_) => "WRONG_PASSWORD",
            Error::WrongBackupKey => "WRONG_BACKUP_KEY",
            Error::CiphertextCorrupted => "CIPHERTEXT_CORRUPTED",
            Error::InvalidCiphertext(_) => "INVALID_CIPHERTEXT",
            Error::InvalidCustodianShare(_) => "INVALID_CUSTODIAN_SHARE",
            Error::BackupShareMismatch => "BACKUP_SHARE_MISMATCH",
            Error::UnsupportedStorageMethod => "UNSUPPORTED_STORAGE_METHOD",
            Error::MethodMismatch => "METHOD_MISMATCH",
            Error::InvalidArgument(_) => "INVALID_ARGUMENT",
            Error::KeychainUnavailable(_) => "KEYCHAIN_UNAVAILABLE",
            Error::CustodianUnavailable(_) => "CUSTODIAN_UNAVAILABLE",
            Error::WalletModificationAlreadyInProgress => "WALLET_MODIFICATION_ALREADY_IN_PROGRESS",
            Error::RandomUnavailable => "RANDOM_UNAVAILABLE",
            Error::Unexpected(_) => "UNEXPECTED_ERROR",
            Error::NetworkError(_) => "NETWORK_ERROR",
            Error::NetworkTimeout => "NETWORK_TIMEOUT",
            Error::Unauthorized => "UNAUTHORIZED",
            Error::RateLimited => "RATE_LIMITED",
            Error::ServiceError(_) => "SERVICE_ERROR",
            Error::NoBackup => "NO_BACKUP",
            Error::ManagedBackupsDisabled => "MANAGED_BACKUPS_DISABLED",
            Error::BackupKeyNotFound => "BACKUP_KEY_NOT_FOUND",
            Error::FirebaseNotSignedIn => "FIREBASE_NOT_SIGNED_IN",
            Error::FirebaseUnauthenticated => "FIREBASE_UNAUTHENTICATED",
            Error::FirebaseReauthenticationRequired => "FIREBASE_REAUTHENTICATION_REQUIRED",
            Error::PasskeyUnavailable(_) => "PASSKEY_UNAVAILABLE",
            Error::PasskeyNotAllowed => "PASSKEY_NOT_ALLOWED",
            Error::PasskeyUserVerificationRequired => "PASSKEY_USER_VERIFICATION_REQUIRED",
            Error::PasskeyPrfUnavailable => "PASSKEY_PRF_UNAVAILABLE",
            Error::PasskeyDenied => "PASSKEY_DENIED",
            Error::PasskeyNotConfigured => "PASSKEY_NOT_CONFIGURED",
            Error::GoogleUnauthenticated => "GOOGLE_UNAUTHENTICATED",
            Error::GoogleScopeMissing => "GOOGLE_SCOPE_MISSING",
            Error::ICloudUnauthenticated => "ICLOUD_UNAUTHENTICATED",
            Error::StorageUnavailable(_) => "STORAGE_UNAVAILABLE",
            Error::AdapterTimeout(_) => "ADAPTER_TIMEOUT",
            Error::Aborted => "ABORTED",
            Error::NativeKdfRequired => "NATIVE_KDF_REQUIRED",
            Error::PinGuessesExhausted => "PIN_GUESSES_EXHAUSTED",
        }
    }

    /// One of each variant, for table tests that walk every code.
    pub fn all_variants() -> [Error; 40] {
        [
            Error::PasswordRequired,
            Error::WrongPassword(None),
            Error::WrongBackupKey,
            Error::CiphertextCorrupted,
            Error::InvalidCiphertext("x"),
            Error::InvalidCustodianShare("x"),
            Error::BackupShareMismatch,
            Error::UnsupportedStorageMethod,
            Error::MethodMismatch,
            Error::InvalidArgument("x"),
            Error::KeychainUnavailable("x"),
            Error::CustodianUnavailable("x"),
            Error::WalletModificationAlreadyInProgress,
            Error::RandomUnavailable,
            Error::Unexpected("x"),
            Error::NetworkError("x"),
            Error::NetworkTimeout,
            Error::Unauthorized,
            Error::RateLimited,
            Error::ServiceError("x"),
            Error::NoBackup,
            Error::ManagedBackupsDisabled,
            Error::BackupKeyNotFound,
            Error::FirebaseNotSignedIn,
            Error::FirebaseUnauthenticated,
            Error::FirebaseReauthenticationRequired,
            Error::PasskeyUnavailable("x"),
            Error::PasskeyNotAllowed,
            Error::PasskeyUserVerificationRequired,
            Error::PasskeyPrfUnavailable,
            Error::PasskeyDenied,
            Error::PasskeyNotConfigured,
            Error::GoogleUnauthenticated,
            Error::GoogleScopeMissing,
            Error::ICloudUnauthenticated,
            Error::StorageUnavailable("x"),
            Error::AdapterTimeout("x"),
            Error::Aborted,
            Error::NativeKdfRequired,
            Error::PinGuessesExhausted,
        ]
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::PasswordRequired => f.write_str("a non-empty password is required for the password backup method"),
            Error::WrongPassword(None) => {
                f.write_str("wrong password: the backup is intact but this password does not open it")
            }
            Error::WrongPassword(Some(0)) => f.write_str(
                "wrong PIN, and it was the last guess this guess-limited backup allowed: it can no longer be opened",
            ),
            Error::WrongPassword(Some(left)) => {
                write!(f, "wrong PIN: this guess-limited backup allows {left} more tries before it is destroyed")
            }
            Error::WrongBackupKey => {
                f.write_str("the backup is intact but the key supplied by the backup method does not open it")
            }
            Error::CiphertextCorrupted => {
                f.write_str("the backup cipherText is corrupted: its bytes were changed after it was made")
            }
            Error::InvalidCiphertext(why) => write!(f, "not a valid backup cipherText: {why}"),
            Error::InvalidCustodianShare(why) => write!(f, "custodian backup share unusable: {why}"),
            Error::BackupShareMismatch => {
                f.write_str("the client and custodian backup shares belong to different backups")
            }
            Error::UnsupportedStorageMethod => f.write_str("unsupported backup method"),
            Error::MethodMismatch => f.write_str("the cipherText was made with a different backup method"),
            Error::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
            Error::KeychainUnavailable(why) => write!(f, "keychain unavailable: {why}"),
            Error::CustodianUnavailable(why) => write!(f, "custodian unavailable: {why}"),
            Error::WalletModificationAlreadyInProgress => {
                f.write_str("another backup or recovery of this wallet is in progress")
            }
            Error::RandomUnavailable => f.write_str("the secure random number generator is unavailable"),
            Error::Unexpected(why) => write!(f, "unexpected internal error: {why}"),
            Error::NetworkError(why) => write!(f, "the backup service could not be reached: {why}"),
            Error::NetworkTimeout => f.write_str("the backup service did not answer in time"),
            Error::Unauthorized => f.write_str("the backup service refused the API key"),
            Error::RateLimited => f.write_str("too many requests to the backup service: retry later"),
            Error::ServiceError(why) => write!(f, "backup service error: {why}"),
            Error::NoBackup => f.write_str("the backup service holds no completed backup of this method"),
            Error::ManagedBackupsDisabled => f.write_str(
                "managed backups are off for this client: the service keeps no cipherText, pass the one the app stored",
            ),
            Error::BackupKeyNotFound => f.write_str("no backup key is kept for this backup"),
            Error::FirebaseNotSignedIn => f.write_str("no Firebase user is signed in: getToken gave no ID token"),
            Error::FirebaseUnauthenticated => f.write_str("the key enclave refused the Firebase ID token"),
            Error::FirebaseReauthenticationRequired => {
                f.write_str("the key enclave needs a recent sign-in: sign the user in again, then retry")
            }
            Error::PasskeyUnavailable(why) => write!(f, "passkeys unavailable: {why}"),
            Error::PasskeyNotAllowed => {
                f.write_str("the passkey prompt was cancelled, timed out, or user verification failed")
            }
            Error::PasskeyUserVerificationRequired => {
                f.write_str("the passkey did not verify the user (PIN or biometrics), which backups require")
            }
            Error::PasskeyPrfUnavailable => f.write_str(
                "this backup's key comes from the passkey's PRF extension, which this device's passkey provider does not offer",
            ),
            Error::PasskeyDenied => f.write_str("the key enclave refused the passkey"),
            Error::PasskeyNotConfigured => {
                f.write_str("the backup service has no passkey relying party configured for this client")
            }
            Error::GoogleUnauthenticated => {
                f.write_str("Google refused the access token, or getAccessToken gave none: sign the user in to Google")
            }
            Error::GoogleScopeMissing => f.write_str(
                "Google Drive refused the access token: it lacks the drive.appdata permission (the user unticked it); ask the user for that permission again",
            ),
            Error::ICloudUnauthenticated => f.write_str(
                "iCloud refused the web auth token, or getWebAuthToken gave none: sign the user in to iCloud",
            ),
            Error::StorageUnavailable(why) => write!(f, "backup key storage unavailable: {why}"),
            Error::AdapterTimeout(what) => write!(f, "{what} did not settle in time (adapterTimeoutMs)"),
            Error::Aborted => f.write_str("aborted by the app's signal: nothing was completed"),
            Error::NativeKdfRequired => f.write_str(
                "React Native: pass a native Argon2id as passwordStorage.deriveKey (e.g. deriveKey from 'wallet-backup/react-native-libsodium'); without it Argon2id runs as JavaScript, 20 s to a minute per call, unless passwordStorage.allowSlowKdf is true",
            ),
            Error::PinGuessesExhausted => f.write_str(
                "too many wrong PINs: the backup service destroyed this guess-limited backup's key, and nobody can open it any more",
            ),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_upper_snake_case() {
        let all = Error::all_variants();
        let mut codes: Vec<&str> = all.iter().map(Error::code).collect();
        for c in &codes {
            assert!(c.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'), "{c}");
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
