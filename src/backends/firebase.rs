//! Firebase Auth method: the backup key is drawn at random and kept in the
//! backup service's key enclave, which releases it only for a valid
//! Firebase ID token of the same user (and a recent sign-in).
//!
//! `config.firebase` is a `FirebaseStorage` (or any object) with
//! `getToken({ forceRefresh })` resolving to an ID token or `null`, and an
//! optional `tbsHost` (the enclave's host; default `apiHost`). The API key
//! is the call's `apiKey`. A token the enclave refuses is refreshed once
//! (`forceRefresh: true`) and the request retried; `null` sends no request.
//! A `getToken` that does not settle within `adapterTimeoutMs` is
//! `ADAPTER_TIMEOUT`.

use std::rc::Rc;

use js_sys::Object;
use wallet_backup_core::{
    backup_id_hex, decode_custodian_half, encode_custodian_half, BackupId, Error, KeyKeeper, SecretKey, KEY_LEN,
};
use wasm_bindgen::JsValue;
use zeroize::Zeroizing;

use crate::config::{FirebaseSettings, ServiceSettings};
use crate::errors::{Failure, LastCause, Result};
use crate::http::{refusal_cause, Refusal};
use crate::js::{call_method, exact_string, is_absent, set, Limit};
use crate::service::{unexpected, Answer};

/// The enclave's route for backup keys.
const ENCRYPT_KEY_PATH: &str = "/v1/backup/encrypt-key";
/// Longest ID token accepted (Firebase's are about 1 KB).
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Keeps backup keys in the service's Firebase key enclave.
pub struct FirebaseKeeper {
    /// The `FirebaseStorage` object, whose `getToken` gives ID tokens.
    storage: JsValue,
    enclave: ServiceSettings,
    cause: Rc<LastCause>,
    /// How long `getToken` may take (`adapterTimeoutMs`).
    limit: Limit,
}

impl FirebaseKeeper {
    /// The enclave of `settings`; `getToken` may take `limit`.
    pub fn new(settings: FirebaseSettings, cause: Rc<LastCause>, limit: Limit) -> FirebaseKeeper {
        FirebaseKeeper { storage: settings.storage, enclave: settings.enclave, cause, limit }
    }

    /// The user's ID token, refreshed when `force_refresh`.
    async fn token(&self, force_refresh: bool) -> Result<Zeroizing<String>> {
        let options = Object::new();
        set(&options, "forceRefresh", &force_refresh.into());
        self.limit.signal.hand_to(&options);
        let token = call_method(
            &self.storage,
            "firebase.getToken",
            &[options.into()],
            Error::InvalidArgument("firebase.getToken must be a function"),
            Error::FirebaseUnauthenticated,
            &self.limit,
        )
        .await?;
        match exact_string(&token) {
            Some(Ok(t)) if t.is_empty() => Err(Error::FirebaseNotSignedIn.into()),
            Some(Ok(t)) if t.len() <= MAX_TOKEN_LEN && t.bytes().all(|b| b.is_ascii_graphic()) => Ok(t),
            Some(_) => {
                Err(Error::InvalidArgument("firebase.getToken returned something that is not an ID token").into())
            }
            None if is_absent(&token) => Err(Error::FirebaseNotSignedIn.into()),
            None => {
                Err(Failure::type_error(Error::InvalidArgument("firebase.getToken must resolve to a string or null")))
            }
        }
    }

    /// Sends one enclave request with the user's token; on a refused token,
    /// once more with a refreshed one.
    async fn with_token(
        &self,
        method: &str,
        path: &str,
        body: Option<&Object>,
    ) -> Result<core::result::Result<Answer, Refusal>> {
        let service = self.enclave.client(&self.cause, self.limit.signal.clone());
        let mut refreshed = false;
        loop {
            let token = self.token(refreshed).await?;
            match service.exchange_as(method, path, body, Some(&token)).await? {
                Err(r) if r.status == 401 && r.code == "FIREBASE_REAUTHENTICATION_REQUIRED" => {
                    return Err(Failure::from(Error::FirebaseReauthenticationRequired).with_cause(refusal_cause(&r)))
                }
                Err(r) if r.status == 401 && r.code.starts_with("FIREBASE_") => {
                    if refreshed {
                        return Err(Failure::from(Error::FirebaseUnauthenticated).with_cause(refusal_cause(&r)));
                    }
                    refreshed = true;
                }
                other => return Ok(other),
            }
        }
    }
}

impl KeyKeeper for FirebaseKeeper {
    async fn store(&self, backup_id: &BackupId, key: &SecretKey) -> core::result::Result<(), Error> {
        let body = Object::new();
        set(&body, "backupId", &backup_id_hex(backup_id).into());
        set(&body, "encryptionKey", &JsValue::from_str(&encode_custodian_half(key.expose())));
        match self.with_token("PUT", ENCRYPT_KEY_PATH, Some(&body)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(r)) => Err(self.cause.keep(unexpected(r))),
            Err(f) => Err(self.cause.keep(f)),
        }
    }

    async fn fetch(&self, backup_id: &BackupId) -> core::result::Result<SecretKey, Error> {
        let mut path = String::from(ENCRYPT_KEY_PATH);
        path.push_str("?backupId=");
        path.push_str(&backup_id_hex(backup_id));
        let answer = match self.with_token("GET", &path, None).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(r)) if r.code == "ENCRYPTION_KEY_NOT_FOUND" => return Err(Error::BackupKeyNotFound),
            Ok(Err(r)) => return Err(self.cause.keep(unexpected(r))),
            Err(f) => return Err(self.cause.keep(f)),
        };
        let text = Zeroizing::new(answer.str("encryptionKey")?);
        let bytes =
            decode_custodian_half(&text).map_err(|_| Error::ServiceError("the enclave's key is not base64url"))?;
        let key: [u8; KEY_LEN] =
            bytes[..].try_into().map_err(|_| Error::ServiceError("the enclave's key is not 32 bytes"))?;
        Ok(SecretKey::from_bytes(key))
    }
}
