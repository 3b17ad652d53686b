//! The backup service client: the custodian half's store in managed mode
//! (pairs created pending, read back, completed), the guess counter of
//! guess-limited PINs (`/pin-guards`, FORMAT.md §3.4.1.1), the wallet
//! status, the self-managed report, and the transport of the service's key
//! enclaves (Firebase, passkey), over [`crate::http`].
//!
//! Every request carries `Authorization: Bearer <apiKey>`, has a deadline
//! (`timeoutMs`, default 30 s) that also covers reading the body, and maps
//! failures to stable codes: no answer → `NETWORK_ERROR`, deadline →
//! `NETWORK_TIMEOUT`, 401 → `UNAUTHORIZED`, 429 → `RATE_LIMITED`, 5xx or an
//! answer this version does not understand → `SERVICE_ERROR`. The service's
//! own error body (`{ status, code, message }`) becomes the JS error's
//! `cause`; keys, shares and cipherTexts never appear in messages or URLs.

use core::cell::Cell;

use js_sys::{Function, Object, Reflect, JSON};
use wallet_backup_core::{
    backup_id_hex, base64url, decode_custodian_half, encode_custodian_half, from_base64url, BackupId, BackupStore,
    Error, Evaluation, GuardStatus, MethodId, PinGuard, Registration,
};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::config::ServiceSettings;
use crate::errors::{Failure, LastCause, Result};
use crate::http::{fetch, refusal_cause, step_failure, Refusal};
use crate::js::{set, Deadline, Signal};

/// A client of the backup service for one call.
pub struct Service<'a> {
    settings: &'a ServiceSettings,
    /// Where failures' causes go.
    cause: &'a LastCause,
    /// The app's signal: each request ends when it aborts.
    signal: Signal,
    /// Set by [`Service::read_client`]: whether the service keeps cipherTexts.
    managed_backups: Cell<bool>,
}

/// A decoded JSON answer of the service.
pub struct Answer(JsValue);

impl Answer {
    /// The string field `name`, or `SERVICE_ERROR`.
    pub fn str(&self, name: &str) -> core::result::Result<String, Error> {
        Reflect::get(&self.0, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_string())
            .ok_or(Error::ServiceError("unexpected answer from the backup service"))
    }

    /// The object field `name`, or `SERVICE_ERROR`.
    pub fn object(&self, name: &str) -> core::result::Result<Object, Error> {
        Reflect::get(&self.0, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.dyn_into::<Object>().ok())
            .ok_or(Error::ServiceError("unexpected answer from the backup service"))
    }

    /// The whole-number field `name` (0 to 2^32 − 1), or `SERVICE_ERROR`.
    pub fn count(&self, name: &str) -> core::result::Result<u32, Error> {
        Reflect::get(&self.0, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_f64())
            .filter(|n| n.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(n))
            .map(|n| n as u32)
            .ok_or(Error::ServiceError("unexpected answer from the backup service"))
    }

    /// The 32-byte base64url field `name`, or `SERVICE_ERROR`.
    pub fn bytes32(&self, name: &str) -> core::result::Result<[u8; 32], Error> {
        let bad = Error::ServiceError("unexpected answer from the backup service");
        let bytes = from_base64url(&self.str(name)?, 32).ok_or(bad.clone())?;
        bytes.as_slice().try_into().map_err(|_| bad)
    }

    /// The boolean field `name`, or `SERVICE_ERROR`.
    pub fn flag(&self, name: &str) -> core::result::Result<bool, Error> {
        Reflect::get(&self.0, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_bool())
            .ok_or(Error::ServiceError("unexpected answer from the backup service"))
    }
}

impl ServiceSettings {
    /// A client for one call, keeping failures' causes in `cause`; its
    /// requests end when `signal` aborts.
    pub fn client<'a>(&'a self, cause: &'a LastCause, signal: Signal) -> Service<'a> {
        Service { settings: self, cause, signal, managed_backups: Cell::new(false) }
    }
}

impl Service<'_> {
    /// Sends one request; resolves to the decoded JSON body of a 2xx answer.
    async fn request(&self, method: &str, path: &str, body: Option<&Object>) -> Result<Answer> {
        self.exchange(method, path, body).await?.map_err(unexpected)
    }

    /// Like [`Service::request`], but hands 4xx answers other than 401/429
    /// back to the caller, which knows what they mean for its step.
    async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&Object>,
    ) -> Result<core::result::Result<Answer, Refusal>> {
        self.exchange_as(method, path, body, None).await
    }

    /// [`Service::exchange`], also sending the user's Firebase ID token
    /// (`X-Firebase-Token`) when given.
    pub async fn exchange_as(
        &self,
        method: &str,
        path: &str,
        body: Option<&Object>,
        firebase_token: Option<&str>,
    ) -> Result<core::result::Result<Answer, Refusal>> {
        self.send(method, path, body, firebase_token, &self.signal).await
    }

    /// One request, ended by `signal` (a committing request gets none).
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Object>,
        firebase_token: Option<&str>,
        signal: &Signal,
    ) -> Result<core::result::Result<Answer, Refusal>> {
        let headers = Object::new();
        set(&headers, "Authorization", &JsValue::from_str(&self.settings.authorization));
        if let Some(token) = firebase_token {
            set(&headers, "X-Firebase-Token", &JsValue::from_str(token));
        }
        set(&headers, "Accept", &"application/json".into());
        let init = Object::new();
        set(&init, "method", &method.into());
        set(&init, "redirect", &"error".into());
        set(&init, "credentials", &"omit".into());
        if let Some(body) = body {
            set(&headers, "Content-Type", &"application/json".into());
            let text = JSON::stringify(body).map_err(|_| Error::Unexpected("request body not serialisable"))?;
            set(&init, "body", &text.into());
        }
        set(&init, "headers", &headers);

        let deadline = Deadline::for_request(self.settings.timeout_ms, signal, &init);
        let network = |e: JsValue| Failure::from(Error::NetworkError("the request failed")).with_cause(e);
        let mut url = String::with_capacity(self.settings.base.len() + path.len());
        url.push_str(&self.settings.base);
        url.push_str(path);
        let pending = fetch(&url, &init).map_err(network)?;
        let response = deadline.within(&pending).await.map_err(|e| step_failure(&deadline, e, network))?;
        let status = Reflect::get(&response, &"status".into()).ok().and_then(|s| s.as_f64()).unwrap_or(0.0);
        let body_read = Reflect::get(&response, &"text".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or(Error::ServiceError("the answer of the backup service has no body"))?
            .call0(&response)
            .map_err(network)?;
        let text = deadline.within(&body_read).await.map_err(|e| step_failure(&deadline, e, network))?;
        let text = Zeroizing::new(text.as_string().unwrap_or_default());
        let parsed = JSON::parse(&text).ok();
        let status = status as u16;
        if (200..300).contains(&status) {
            return parsed
                .filter(|v| v.is_object())
                .map(|v| Ok(Answer(v)))
                .ok_or_else(|| Error::ServiceError("the backup service answered something that is not JSON").into());
        }
        let error = parsed.as_ref().and_then(|v| Reflect::get(v, &"error".into()).ok());
        let field = |name: &str| error.as_ref().and_then(|e| Reflect::get(e, &name.into()).ok());
        let code = field("code").and_then(|c| c.as_string()).unwrap_or_default();
        let guesses_left = field("guessesLeft")
            .and_then(|n| n.as_f64())
            .filter(|n| n.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(n))
            .map(|n| n as u32);
        Ok(Err(Refusal { status, code, guesses_left }))
    }

    /// Reads the client's settings (`GET /api/v3/clients/me`); fails early,
    /// before any key is derived, on a wrong key or an unreachable service.
    pub async fn read_client(&self) -> Result<()> {
        let me = self.request("GET", "/api/v3/clients/me", None).await?;
        self.managed_backups.set(me.flag("managedBackups")?);
        Ok(())
    }

    /// The cipherText of the newest completed backup of `method`.
    pub async fn latest_cipher_text(&self, method: MethodId) -> Result<String> {
        let mut path = String::from("/api/v3/clients/me/backups/");
        path.push_str(method.service_name());
        match self.exchange("GET", &path, None).await? {
            Ok(pair) => pair.str("cipherText").map_err(|_| Error::ManagedBackupsDisabled.into()),
            Err(r) if r.status == 404 && r.code == "NO_BACKUP" => {
                // Say why there is nothing to fetch: a self-managed client never has one.
                self.read_client().await?;
                Err(if self.managed_backups.get() { Error::NoBackup } else { Error::ManagedBackupsDisabled }.into())
            }
            Err(r) => Err(unexpected(r)),
        }
    }

    /// `{ isBackedUp, isRecoverable, availableRecoveryMethods, pinGuard }`,
    /// with the methods in the module's lower-case spelling; `pinGuard` the
    /// newest password backup's `{ guessLimit, guessesLeft, destroyed }` when
    /// it is guess-limited, else `null`.
    pub async fn wallet_status(&self) -> Result<JsValue> {
        let status = self.request("GET", "/api/v3/clients/me/wallet", None).await?;
        let methods = Reflect::get(&status.0, &"availableRecoveryMethods".into())
            .ok()
            .and_then(|m| m.dyn_into::<js_sys::Array>().ok())
            .ok_or(Error::ServiceError("unexpected answer from the backup service"))?;
        let names = js_sys::Array::new();
        for m in methods.iter() {
            // Methods a newer service knows and this module does not are left out.
            if let Some(id) = m.as_string().and_then(|m| MethodId::parse(&m).ok()) {
                names.push(&id.name().into());
            }
        }
        let out = Object::new();
        set(&out, "isBackedUp", &status.flag("isBackedUp")?.into());
        set(&out, "isRecoverable", &status.flag("isRecoverable")?.into());
        set(&out, "availableRecoveryMethods", &names);
        let guard = match Reflect::get(&status.0, &"pinGuard".into()) {
            Ok(g) if g.is_object() => {
                let g = Answer(g);
                let summary = Object::new();
                set(&summary, "guessLimit", &g.count("guessLimit")?.into());
                set(&summary, "guessesLeft", &g.count("guessesLeft")?.into());
                let destroyed = Reflect::get(&g.0, &"destroyed".into()).ok().and_then(|d| d.as_bool()).unwrap_or(false);
                set(&summary, "destroyed", &destroyed.into());
                summary.into()
            }
            _ => JsValue::NULL,
        };
        set(&out, "pinGuard", &guard);
        Ok(out.into())
    }

    /// The self-managed report: the app stored (or failed to store) the
    /// cipherText of its newest `method` backup. On success the pair is
    /// confirmed and becomes the backup recovery uses.
    pub async fn report_stored(&self, method: MethodId, success: bool) -> Result<()> {
        let body = Object::new();
        set(&body, "backupMethod", &method.service_name().into());
        set(&body, "success", &success.into());
        let path = "/api/v2/clients/me/wallet/stored-client-backup-share";
        let pair = match self.exchange("PUT", path, Some(&body)).await? {
            Ok(pair) => pair,
            Err(r) if r.code == "NO_PENDING_BACKUP" => {
                return Err(Error::InvalidArgument("no backup of this method is waiting for the report").into())
            }
            Err(r) => return Err(unexpected(r)),
        };
        if success {
            let mut path = pairs_path(&pair.str("id")?);
            path.push_str("/confirm");
            self.request("POST", &path, None).await?;
        }
        Ok(())
    }

    async fn fetch_custodian_half(
        &self,
        method: MethodId,
        backup_id: &BackupId,
    ) -> Result<core::result::Result<(String, Zeroizing<Vec<u8>>), Refusal>> {
        let mut path = String::from("/api/v3/clients/me/custodian-shares/");
        path.push_str(&backup_id_hex(backup_id));
        let share = match self.exchange("GET", &path, None).await? {
            Ok(share) => share,
            Err(r) => return Ok(Err(r)),
        };
        if share.str("backupMethod")? != method.service_name() || share.str("backupId")? != backup_id_hex(backup_id) {
            return Err(Error::InvalidCustodianShare("the service's custodian share belongs to another backup").into());
        }
        let text = Zeroizing::new(share.str("custodianShare")?);
        Ok(Ok((share.str("pairId")?, decode_custodian_half(&text)?)))
    }

    fn keep(&self, f: Failure) -> Error {
        self.cause.keep(f)
    }

    /// Creates a pending pair with the custodian half, and with a
    /// guess-limited PIN's OPRF and unlock keys when `guard` is given.
    async fn create_pair(
        &self,
        method: MethodId,
        backup_id: &BackupId,
        custodian_half: &[u8],
        guard: Option<&Registration>,
    ) -> core::result::Result<PendingPair, Error> {
        let body = Object::new();
        set(&body, "backupMethod", &method.service_name().into());
        set(&body, "backupId", &backup_id_hex(backup_id).into());
        set(&body, "custodianShare", &JsValue::from_str(&encode_custodian_half(custodian_half)));
        if let Some(guard) = guard {
            let keys = Object::new();
            set(&keys, "oprfKey", &JsValue::from_str(&Zeroizing::new(base64url(guard.oprf_key.as_ref()))));
            set(&keys, "unlockKey", &JsValue::from_str(&Zeroizing::new(base64url(guard.unlock_key.expose()))));
            set(&body, "pinGuard", &keys);
        }
        let pair = match self.exchange("POST", "/api/v3/clients/me/backup-share-pairs", Some(&body)).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(r)) if r.code == "CUSTODIAN_WEBHOOK_FAILED" => {
                let f = Failure::from(Error::CustodianUnavailable(
                    "the operator's custodian webhook did not accept the custodian share",
                ));
                return Err(self.keep(f.with_cause(refusal_cause(&r))));
            }
            Ok(Err(r)) => return Err(self.keep(unexpected(r))),
            Err(f) => return Err(self.keep(f)),
        };
        let id = pair.str("id").map_err(|e| self.keep(e.into()))?;
        Ok(PendingPair { id, backup_id: *backup_id, method, sent: Zeroizing::new(custodian_half.to_vec()) })
    }

    /// One request to the guard of `backup_id` (`""` for its status,
    /// `"/evaluate"`, `"/unlock"`), with the answers every step shares mapped.
    async fn guard_request(&self, backup_id: &BackupId, step: &str, body: Option<&Object>) -> Result<Answer> {
        let mut path = String::from("/api/v3/clients/me/pin-guards/");
        path.push_str(&backup_id_hex(backup_id));
        path.push_str(step);
        let refusal = match self.exchange(if body.is_some() { "POST" } else { "GET" }, &path, body).await? {
            Ok(answer) => return Ok(answer),
            Err(r) => r,
        };
        let error = match refusal.code.as_str() {
            "PAIR_NOT_FOUND" => {
                Error::InvalidCustodianShare("the backup service holds no custodian share for this backup")
            }
            "NOT_GUESS_LIMITED" => Error::InvalidCustodianShare(
                "the backup service's pair of this backup is not guess-limited, as the cipherText says it is",
            ),
            "PIN_GUESSES_EXHAUSTED" => Error::PinGuessesExhausted,
            "WRONG_PASSWORD" => Error::WrongPassword(refusal.guesses_left),
            "PIN_CHALLENGE_INVALID" => Error::ServiceError(
                "another recovery of this backup asked the service in between (its challenge was replaced); retry",
            ),
            _ => return Err(custodian_refusal(refusal)),
        };
        Err(Failure::from(error).with_cause(refusal_cause(&refusal)))
    }
}

/// The backup service's guess counter (`/api/v3/clients/me/pin-guards/…`).
impl PinGuard for Service<'_> {
    async fn guard_status(&self, backup_id: &BackupId) -> core::result::Result<GuardStatus, Error> {
        let run = async {
            let status = self.guard_request(backup_id, "", None).await?;
            Ok(GuardStatus { guess_limit: status.count("guessLimit")?, guesses_left: status.count("guessesLeft")? })
        };
        run.await.map_err(|f| self.keep(f))
    }

    async fn guard_evaluate(
        &self,
        backup_id: &BackupId,
        blinded: &[u8; 32],
    ) -> core::result::Result<Evaluation, Error> {
        let run = async {
            let body = Object::new();
            set(&body, "blindedElement", &base64url(blinded).into());
            let answer = self.guard_request(backup_id, "/evaluate", Some(&body)).await?;
            Ok(Evaluation {
                evaluated_element: answer.bytes32("evaluatedElement")?,
                challenge: answer.bytes32("challenge")?,
                guesses_left: answer.count("guessesLeft")?,
            })
        };
        run.await.map_err(|f| self.keep(f))
    }

    async fn guard_unlock(
        &self,
        backup_id: &BackupId,
        challenge: &[u8; 32],
        proof: &[u8; 32],
    ) -> core::result::Result<Zeroizing<Vec<u8>>, Error> {
        let run = async {
            let body = Object::new();
            set(&body, "challenge", &base64url(challenge).into());
            set(&body, "proof", &base64url(proof).into());
            let share = self.guard_request(backup_id, "/unlock", Some(&body)).await?;
            if share.str("backupMethod")? != MethodId::Password.service_name()
                || share.str("backupId")? != backup_id_hex(backup_id)
            {
                return Err(
                    Error::InvalidCustodianShare("the service's custodian share belongs to another backup").into()
                );
            }
            let text = Zeroizing::new(share.str("custodianShare")?);
            Ok(decode_custodian_half(&text)?)
        };
        run.await.map_err(|f| self.keep(f))
    }
}

/// A pair created by a backup, until it is completed.
pub struct PendingPair {
    id: String,
    backup_id: BackupId,
    method: MethodId,
    sent: Zeroizing<Vec<u8>>,
}

impl BackupStore for Service<'_> {
    type Pending = PendingPair;

    async fn begin(
        &self,
        method: MethodId,
        backup_id: &BackupId,
        custodian_half: &[u8],
    ) -> core::result::Result<PendingPair, Error> {
        self.create_pair(method, backup_id, custodian_half, None).await
    }

    async fn begin_guarded(
        &self,
        method: MethodId,
        backup_id: &BackupId,
        custodian_half: &[u8],
        guard: &Registration,
    ) -> core::result::Result<PendingPair, Error> {
        self.create_pair(method, backup_id, custodian_half, Some(guard)).await
    }

    async fn read_back(&self, pending: &PendingPair) -> core::result::Result<Zeroizing<Vec<u8>>, Error> {
        match self.fetch_custodian_half(pending.method, &pending.backup_id).await {
            Ok(Ok((pair_id, half))) if pair_id == pending.id => Ok(half),
            Ok(Ok(_)) => Err(Error::CustodianUnavailable("the service returned another pair than it created")),
            // A service that cannot fetch from the operator's webhook: the
            // webhook's acknowledgement at creation is all there is.
            Ok(Err(r)) if r.code == "CUSTODIAN_SELF_MANAGED" => Ok(pending.sent.clone()),
            Ok(Err(r)) => Err(self.keep(custodian_refusal(r))),
            Err(f) => Err(self.keep(f)),
        }
    }

    async fn complete(&self, pending: &PendingPair, cipher_text: &str) -> core::result::Result<(), Error> {
        if !self.managed_backups.get() {
            // Self-managed: the app stores the cipherText and reports it with
            // `storedClientBackupShare`, which confirms the pair.
            return Ok(());
        }
        let run = async {
            let mut path = pairs_path(&pending.id);
            path.push_str("/cipher-text");
            let body = Object::new();
            set(&body, "cipherText", &cipher_text.into());
            self.request("PUT", &path, Some(&body)).await?;
            let mut path = pairs_path(&pending.id);
            path.push_str("/confirm");
            // The commit: checked for an abort before, never interrupted
            // once sent (its answer decides: ABORTED always means the
            // previous backup is still the one in use).
            self.signal.check()?;
            let pair = self.send("POST", &path, None, None, &Signal::default()).await?.map_err(unexpected)?;
            if pair.str("status")? != "COMPLETED" {
                return Err(Error::ServiceError("the backup service did not confirm the backup").into());
            }
            Ok(())
        };
        run.await.map_err(|f| self.keep(f))
    }

    async fn custodian_half(
        &self,
        method: MethodId,
        backup_id: &BackupId,
    ) -> core::result::Result<Zeroizing<Vec<u8>>, Error> {
        match self.fetch_custodian_half(method, backup_id).await {
            Ok(Ok((_, half))) => Ok(half),
            Ok(Err(r)) if r.code == "PAIR_NOT_FOUND" => {
                Err(Error::InvalidCustodianShare("the backup service holds no custodian share for this backup"))
            }
            Ok(Err(r)) if r.code == "INVALID_PAIR_STATE" => {
                Err(Error::InvalidCustodianShare("this backup failed on the service and was never completed"))
            }
            Ok(Err(r)) if r.code == "CUSTODIAN_SELF_MANAGED" => Err(self.keep(
                Failure::from(Error::CustodianUnavailable(
                    "the operator keeps this client's custodian shares (webhook); the service cannot release them",
                ))
                .with_cause(refusal_cause(&r)),
            )),
            Ok(Err(r)) => Err(self.keep(custodian_refusal(r))),
            Err(f) => Err(self.keep(f)),
        }
    }
}

/// A refused custodian share fetch. For a share the operator keeps: its
/// webhook could not be asked (`CUSTODIAN_UNAVAILABLE`, retry later), or it
/// no longer keeps this backup's share (`INVALID_CUSTODIAN_SHARE`: this
/// backup cannot be recovered through it). Anything else as [`unexpected`].
fn custodian_refusal(r: Refusal) -> Failure {
    let error = match r.code.as_str() {
        "CUSTODIAN_WEBHOOK_FAILED" => Error::CustodianUnavailable(
            "the operator's custodian webhook could not be asked for the custodian share; retry later",
        ),
        "CUSTODIAN_SHARE_NOT_FOUND" => Error::InvalidCustodianShare(
            "the operator's custodian webhook no longer keeps this backup's custodian share",
        ),
        _ => return unexpected(r),
    };
    Failure::from(error).with_cause(refusal_cause(&r))
}

fn pairs_path(pair_id: &str) -> String {
    let mut path = String::from("/api/v3/clients/me/backup-share-pairs/");
    // Pair ids come from the service; anything that is not a plain token is refused
    // rather than spliced into a path.
    if pair_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        path.push_str(pair_id);
    }
    path
}

/// A 4xx/5xx this step has no specific meaning for.
pub fn unexpected(r: Refusal) -> Failure {
    let error = match r.status {
        401 => Error::Unauthorized,
        429 => Error::RateLimited,
        500..=599 => Error::ServiceError("the backup service failed"),
        _ => Error::ServiceError("the backup service refused the request"),
    };
    Failure::from(error).with_cause(refusal_cause(&r))
}
