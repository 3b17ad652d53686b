//! Passkey method: the WebAuthn ceremonies behind the core's
//! [`PasskeyMethod`] (its PRF and enclave modes are the core's).
//!
//! The platform runs `create` and `get`: React Native's passkey functions
//! (`config.passkey.passkeys`, shaped like `react-native-passkeys`:
//! `create(optionsJSON)`, `get(optionsJSON)`, JSON in and out, `null` when
//! cancelled), or else the browser's `navigator.credentials`, called
//! through web-sys with the same JSON forms converted to and from
//! WebAuthn's binary ones. (The settings are read in `config.rs`.)
//!
//! The service's `/passkeys/*` routes issue and verify every challenge. The
//! PRF output stays on the device: credentials sent to the service carry
//! empty `clientExtensionResults`.
//!
//! A passkey prompt waits for a person, so it is not held to
//! `adapterTimeoutMs` alone: WebAuthn has its own `timeout` (the service
//! sets it to its ceremony's lifetime, 5 minutes by default), after which
//! the platform ends the prompt itself (`PASSKEY_NOT_ALLOWED`) and the
//! service's challenge has expired anyway. A prompt may take that long plus
//! `adapterTimeoutMs` (see [`prompt_limit`]); a platform that still has not
//! answered then is abandoned with `ADAPTER_TIMEOUT`, so it never holds the
//! keychain for good.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Reflect, Uint8Array, JSON};
use wallet_backup_core::{
    authenticator_data_user_verified, backup_id_hex, base64url, encode_custodian_half, from_base64url, BackupId, Error,
    PasskeyAssertion, PasskeyCeremonies, PasskeyMethod, SecretKey, KEY_LEN, MAX_CREDENTIAL_ID_LEN, PRF_OUTPUT_LEN,
    PRF_SALT_LEN,
};
use wasm_bindgen::{JsCast, JsValue};
use zeroize::Zeroizing;

use crate::config::{PasskeySettings, ServiceSettings};
use crate::errors::{Failure, LastCause, Result};
use crate::http::{refusal_cause, Refusal};
use crate::js::{call_method, is_absent, set, settled, Limit};
use crate::service::{unexpected, Answer};

/// Largest binary field read from an authenticator's answer.
const MAX_FIELD_LEN: usize = 64 * 1024;
/// A prompt's WebAuthn `timeout` when the options give none: Web
/// Authentication Level 3's recommended default with user verification
/// required (which the method always asks for).
const DEFAULT_PROMPT_MS: u32 = 300_000;
/// Longest WebAuthn `timeout` honoured: the service's longest ceremony (an hour).
const MAX_PROMPT_MS: u32 = 3_600_000;

/// The passkey method of `settings`; `limit` is `adapterTimeoutMs` (see
/// [`prompt_limit`]).
pub fn method(settings: PasskeySettings, cause: Rc<LastCause>, limit: Limit) -> PasskeyMethod<WebAuthnCeremonies> {
    let PasskeySettings { platform, user_name, enclave_only, enclave } = settings;
    let ceremonies = WebAuthnCeremonies { platform, enclave, user_name, cause, login: RefCell::new(None), limit };
    PasskeyMethod::new(ceremonies, enclave_only)
}

/// Whether this platform has a passkey API of its own (`navigator.credentials`):
/// without one, and without the app's passkey functions, the method fails
/// before anything runs.
pub fn browser_available() -> Result<()> {
    browser::available()
}

/// Who runs `create` and `get`.
pub enum Platform {
    /// The app's `react-native-passkeys`-shaped functions (JSON forms).
    Functions(JsValue),
    /// The browser's `navigator.credentials`.
    Browser,
}

/// The passkey ceremonies against the service's `/passkeys/*` routes.
pub struct WebAuthnCeremonies {
    platform: Platform,
    enclave: ServiceSettings,
    user_name: Option<String>,
    cause: Rc<LastCause>,
    /// The login ceremony of the last backup assertion: its id and the
    /// credential (without extension results) to finish it with.
    login: RefCell<Option<(String, JsValue)>>,
    /// `adapterTimeoutMs`.
    limit: Limit,
}

/// A verified-by-nobody-yet answer of `get`, with what the method needs.
struct Answered {
    /// The credential as the service takes it (no extension results).
    credential: JsValue,
    assertion: PasskeyAssertion,
}

impl WebAuthnCeremonies {
    /// One request to the enclave; refusals mapped for the passkey routes.
    async fn call(&self, method: &str, path: &str, body: Option<&Object>) -> Result<Answer> {
        match self.enclave.client(&self.cause, self.limit.signal.clone()).exchange_as(method, path, body, None).await? {
            Ok(answer) => Ok(answer),
            Err(refusal) => Err(passkey_refusal(refusal)),
        }
    }

    /// Registers a new passkey with the enclave when the user has none,
    /// asking for the PRF output of `prf_salt` at creation. Gives the
    /// assertion when the new passkey already returned that output (no login
    /// needed then).
    async fn ensure_registered(&self, prf_salt: Option<&[u8; PRF_SALT_LEN]>) -> Result<Option<PasskeyAssertion>> {
        let status = self.call("GET", "/passkeys/status", None).await?;
        if !status.flag("configured")? {
            return Err(Error::PasskeyNotConfigured.into());
        }
        if status.flag("registered")? {
            return Ok(None);
        }
        let body = Object::new();
        if let Some(name) = &self.user_name {
            set(&body, "userName", &JsValue::from_str(name));
        }
        let begun = self.call("POST", "/passkeys/begin-registration", Some(&body)).await?;
        let options = begun.object("options")?;
        // Ask for a PRF-capable credential (a security key's hmac-secret must be
        // requested at creation), and for the output right away where the
        // authenticator can give it then.
        set(&extensions_of(&options), "prf", &prf_request(prf_salt));
        let created = self.platform.create(&options, &prompt_limit(&options, &self.limit)).await?;
        let finish = Object::new();
        set(&finish, "ceremonyId", &JsValue::from_str(&begun.str("ceremonyId")?));
        set(&finish, "credential", &for_service(&created)?);
        self.call("POST", "/passkeys/finish-registration", Some(&finish)).await?;
        let Some(prf_output) = prf_output(&created)? else { return Ok(None) };
        Ok(Some(PasskeyAssertion {
            credential_id: bytes_field(&created, "rawId", MAX_CREDENTIAL_ID_LEN)?.to_vec(),
            prf_output: Some(prf_output),
            // The enclave just verified this registration, which requires user verification.
            user_verified: true,
        }))
    }

    /// Begins a login ceremony (for `backup_id`'s credential when given) and
    /// runs `get`, asking for the PRF output of `prf_salt`, limited to
    /// `credential_id` when given.
    async fn login(
        &self,
        backup_id: Option<&BackupId>,
        prf_salt: Option<&[u8; PRF_SALT_LEN]>,
        credential_id: Option<&[u8]>,
    ) -> Result<(String, Answered)> {
        let body = Object::new();
        if let Some(id) = backup_id {
            set(&body, "backupId", &backup_id_hex(id).into());
        }
        let begun = self.call("POST", "/passkeys/begin-login", Some(&body)).await?;
        let ceremony = begun.str("ceremonyId")?;
        let options = begun.object("options")?;
        if let Some(id) = credential_id {
            let allowed = Object::new();
            set(&allowed, "type", &"public-key".into());
            set(&allowed, "id", &base64url(id).into());
            set(&options, "allowCredentials", &Array::of1(&allowed));
        }
        if prf_salt.is_some() {
            set(&extensions_of(&options), "prf", &prf_request(prf_salt));
        }
        let response = self.platform.get(&options, &prompt_limit(&options, &self.limit)).await?;
        Ok((ceremony, answered(&response)?))
    }

    /// Keeps `f`'s cause for the export and gives its core error.
    fn fail<T>(&self, r: Result<T>) -> core::result::Result<T, Error> {
        r.map_err(|f| self.cause.keep(f))
    }
}

impl PasskeyCeremonies for WebAuthnCeremonies {
    async fn assert_for_backup(
        &self,
        prf_salt: Option<&[u8; PRF_SALT_LEN]>,
    ) -> core::result::Result<PasskeyAssertion, Error> {
        if let Some(assertion) = self.fail(self.ensure_registered(prf_salt).await)? {
            return Ok(assertion);
        }
        let (ceremony, answered) = self.fail(self.login(None, prf_salt, None).await)?;
        *self.login.borrow_mut() = Some((ceremony, answered.credential));
        Ok(answered.assertion)
    }

    async fn store_in_enclave(&self, backup_id: &BackupId, key: &SecretKey) -> core::result::Result<(), Error> {
        let (ceremony, credential) =
            self.login.borrow_mut().take().ok_or(Error::Unexpected("no passkey login to store the key in"))?;
        let body = Object::new();
        set(&body, "ceremonyId", &JsValue::from_str(&ceremony));
        set(&body, "credential", &credential);
        set(&body, "backupId", &backup_id_hex(backup_id).into());
        set(&body, "encryptionKey", &JsValue::from_str(&encode_custodian_half(key.expose())));
        self.fail(self.call("POST", "/passkeys/finish-login/write", Some(&body)).await).map(|_| ())
    }

    async fn assert_for_prf(
        &self,
        credential_id: &[u8],
        prf_salt: &[u8; PRF_SALT_LEN],
    ) -> core::result::Result<PasskeyAssertion, Error> {
        let (_, answered) = self.fail(self.login(None, Some(prf_salt), Some(credential_id)).await)?;
        Ok(answered.assertion)
    }

    async fn fetch_from_enclave(&self, backup_id: &BackupId) -> core::result::Result<SecretKey, Error> {
        let (ceremony, answered) = self.fail(self.login(Some(backup_id), None, None).await)?;
        let body = Object::new();
        set(&body, "ceremonyId", &JsValue::from_str(&ceremony));
        set(&body, "credential", &answered.credential);
        set(&body, "backupId", &backup_id_hex(backup_id).into());
        let answer = self.fail(self.call("POST", "/passkeys/finish-login/read", Some(&body)).await)?;
        let text = Zeroizing::new(answer.str("encryptionKey")?);
        let bytes = from_base64url(&text, KEY_LEN).ok_or(Error::ServiceError("the enclave's key is not base64url"))?;
        let key: [u8; KEY_LEN] =
            bytes[..].try_into().map_err(|_| Error::ServiceError("the enclave's key is not 32 bytes"))?;
        Ok(SecretKey::from_bytes(key))
    }
}

/// The passkey routes' refusals as the app sees them; `{ status, code }` is the cause.
fn passkey_refusal(r: Refusal) -> Failure {
    let error = match (r.status, r.code.as_str()) {
        (403, "PASSKEY_USER_VERIFICATION_REQUIRED") => Error::PasskeyUserVerificationRequired,
        (403, code) if code.starts_with("PASSKEY_") => Error::PasskeyDenied,
        (409, "PASSKEY_NOT_CONFIGURED") => Error::PasskeyNotConfigured,
        (404, "ENCRYPTION_KEY_NOT_FOUND") => Error::BackupKeyNotFound,
        _ => return unexpected(r),
    };
    Failure::from(error).with_cause(refusal_cause(&r))
}

/// The `prf` extension input: `{ eval: { first: salt } }`, or `{}` (PRF
/// wanted, no output asked for).
fn prf_request(prf_salt: Option<&[u8; PRF_SALT_LEN]>) -> Object {
    let prf = Object::new();
    if let Some(salt) = prf_salt {
        let eval = Object::new();
        set(&eval, "first", &base64url(salt).into());
        set(&prf, "eval", &eval);
    }
    prf
}

/// `clientExtensionResults.prf.results.first` of a response, when present.
fn prf_output(response: &JsValue) -> Result<Option<Zeroizing<[u8; PRF_OUTPUT_LEN]>>> {
    let results = Reflect::get(response, &"clientExtensionResults".into()).unwrap_or(JsValue::UNDEFINED);
    let first = path(&results, &["prf", "results", "first"]);
    if is_absent(&first) {
        return Ok(None);
    }
    let bad = Error::PasskeyUnavailable("the passkey's PRF output is not 32 bytes of base64url");
    let bytes = first.as_string().and_then(|s| from_base64url(&s, PRF_OUTPUT_LEN)).ok_or(bad.clone())?;
    let output: [u8; PRF_OUTPUT_LEN] = bytes[..].try_into().map_err(|_| bad)?;
    Ok(Some(Zeroizing::new(output)))
}

/// `options.extensions`, made an object if it was not one.
fn extensions_of(options: &Object) -> Object {
    match Reflect::get(options, &"extensions".into()).ok().and_then(|e| e.dyn_into::<Object>().ok()) {
        Some(extensions) => extensions,
        None => {
            let extensions = Object::new();
            set(options, "extensions", &extensions);
            extensions
        }
    }
}

/// A credential as sent to the service: its public parts, and empty
/// `clientExtensionResults`, so no PRF output ever leaves the device.
fn for_service(credential: &JsValue) -> Result<JsValue> {
    let out = Object::new();
    for name in ["id", "rawId", "type", "response"] {
        let value = Reflect::get(credential, &name.into()).unwrap_or(JsValue::UNDEFINED);
        if is_absent(&value) {
            return Err(not_a_credential());
        }
        set(&out, name, &value);
    }
    set(&out, "clientExtensionResults", &Object::new());
    Ok(out.into())
}

fn not_a_credential() -> Failure {
    Error::PasskeyUnavailable("the passkey platform returned something that is not a credential").into()
}

/// The base64url string `obj[name]`, decoded.
fn bytes_field(obj: &JsValue, name: &str, max_len: usize) -> Result<Zeroizing<Vec<u8>>> {
    Reflect::get(obj, &name.into())
        .ok()
        .and_then(|v| v.as_string())
        .and_then(|s| from_base64url(&s, max_len))
        .ok_or_else(not_a_credential)
}

/// Reads what the method needs from an AuthenticationResponseJSON.
fn answered(response: &JsValue) -> Result<Answered> {
    let credential = for_service(response)?;
    let credential_id = bytes_field(response, "rawId", MAX_CREDENTIAL_ID_LEN)?;
    let body = Reflect::get(response, &"response".into()).map_err(|_| not_a_credential())?;
    let authenticator_data = bytes_field(&body, "authenticatorData", MAX_FIELD_LEN)?;
    let prf_output = prf_output(response)?;
    let assertion = PasskeyAssertion {
        credential_id: credential_id.to_vec(),
        prf_output,
        user_verified: authenticator_data_user_verified(&authenticator_data),
    };
    Ok(Answered { credential, assertion })
}

/// `value[a][b]...`, or `undefined` when any step is missing.
fn path(value: &JsValue, names: &[&str]) -> JsValue {
    names.iter().fold(value.clone(), |v, name| {
        if is_absent(&v) {
            v
        } else {
            Reflect::get(&v, &(*name).into()).unwrap_or(JsValue::UNDEFINED)
        }
    })
}

/// How long the prompt of a ceremony with `options` may take: WebAuthn's
/// `timeout` in them (5 minutes when absent, at most an hour), after which
/// the platform should have ended the prompt itself, plus `limit`
/// (`adapterTimeoutMs`) for it to say so.
fn prompt_limit(options: &Object, limit: &Limit) -> Limit {
    // `as` saturates: NaN, negative and absent become 0, anything huge u32::MAX.
    let webauthn = Reflect::get(options, &"timeout".into()).ok().and_then(|t| t.as_f64()).map_or(0, |t| t as u32);
    let webauthn = if webauthn == 0 { DEFAULT_PROMPT_MS } else { webauthn.min(MAX_PROMPT_MS) };
    Limit { ms: webauthn + limit.ms, signal: limit.signal.clone() }
}

/// A platform failure: refusals (cancelled, timed out, UV failed) are
/// `PASSKEY_NOT_ALLOWED`, anything else `PASSKEY_UNAVAILABLE`; the
/// exception is the cause.
fn platform_failure(f: Failure) -> Failure {
    let name = f.cause.as_ref().and_then(|c| Reflect::get(c, &"name".into()).ok()).and_then(|n| n.as_string());
    match name.as_deref() {
        Some("NotAllowedError" | "AbortError") => Failure { error: Error::PasskeyNotAllowed, ..f },
        _ => f,
    }
}

impl Platform {
    /// `create` with PublicKeyCredentialCreationOptionsJSON, for at most
    /// `limit`; resolves to RegistrationResponseJSON.
    async fn create(&self, options: &Object, limit: &Limit) -> Result<JsValue> {
        match self {
            Platform::Functions(f) => self.call_function(f, "passkey.passkeys.create", options, limit).await,
            Platform::Browser => browser::create(options, limit).await.map_err(platform_failure),
        }
    }

    /// `get` with PublicKeyCredentialRequestOptionsJSON, for at most
    /// `limit`; resolves to AuthenticationResponseJSON.
    async fn get(&self, options: &Object, limit: &Limit) -> Result<JsValue> {
        match self {
            Platform::Functions(f) => self.call_function(f, "passkey.passkeys.get", options, limit).await,
            Platform::Browser => browser::get(options, limit).await.map_err(platform_failure),
        }
    }

    async fn call_function(
        &self,
        functions: &JsValue,
        what: &'static str,
        options: &Object,
        limit: &Limit,
    ) -> Result<JsValue> {
        let returned = call_method(
            functions,
            what,
            &[options.into()],
            Error::InvalidArgument("passkey.passkeys must have create and get functions"),
            Error::PasskeyUnavailable("the app's passkey function failed"),
            limit,
        )
        .await
        .map_err(platform_failure)?;
        if is_absent(&returned) {
            return Err(Error::PasskeyNotAllowed.into());
        }
        if !returned.is_object() {
            return Err(not_a_credential());
        }
        Ok(returned)
    }
}

/// The browser's `navigator.credentials`, through web-sys, with WebAuthn's
/// JSON forms converted to and from its binary ones.
mod browser {
    use super::*;
    use web_sys::{
        AuthenticatorAssertionResponse, AuthenticatorAttestationResponse, CredentialsContainer, PublicKeyCredential,
    };

    /// Whether `navigator.credentials` exists here.
    pub fn available() -> Result<()> {
        container().map(|_| ())
    }

    fn container() -> Result<CredentialsContainer> {
        let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or(JsValue::UNDEFINED);
        let credentials = path(&navigator, &["credentials"]);
        if is_absent(&credentials) {
            return Err(Error::PasskeyUnavailable(
                "no navigator.credentials here: pass passkey functions (react-native-passkeys) as passkey.passkeys",
            )
            .into());
        }
        Ok(credentials.unchecked_into())
    }

    /// Replaces the base64url string `obj[name]` with its bytes.
    fn to_bytes(obj: &JsValue, name: &str) -> Result<()> {
        let value = Reflect::get(obj, &name.into()).unwrap_or(JsValue::UNDEFINED);
        if is_absent(&value) {
            return Ok(());
        }
        let bytes = value
            .as_string()
            .and_then(|s| from_base64url(&s, MAX_FIELD_LEN))
            .ok_or(Error::ServiceError("the enclave's passkey options are malformed"))?;
        let _ = Reflect::set(obj, &name.into(), &Uint8Array::from(&bytes[..]));
        Ok(())
    }

    /// The binary `publicKey` options from their JSON form (a copy).
    fn public_key_options(options: &Object) -> Result<JsValue> {
        let text: String = JSON::stringify(options).map_err(|_| Error::Unexpected("options not serialisable"))?.into();
        let copy = JSON::parse(&text).map_err(|_| Error::Unexpected("options not serialisable"))?;
        to_bytes(&copy, "challenge")?;
        to_bytes(&path(&copy, &["user"]), "id")?;
        for list in ["excludeCredentials", "allowCredentials"] {
            let entries = path(&copy, &[list]);
            if Array::is_array(&entries) {
                for entry in Array::from(&entries).iter() {
                    to_bytes(&entry, "id")?;
                }
            }
        }
        let eval = path(&copy, &["extensions", "prf", "eval"]);
        if !is_absent(&eval) {
            to_bytes(&eval, "first")?;
        }
        let wrapper = Object::new();
        set(&wrapper, "publicKey", &copy);
        Ok(wrapper.into())
    }

    fn encode(buffer: &JsValue) -> JsValue {
        if is_absent(buffer) {
            return JsValue::NULL;
        }
        JsValue::from_str(&base64url(&Uint8Array::new(buffer).to_vec()))
    }

    /// The common parts of a credential's JSON form.
    fn credential_json(credential: &PublicKeyCredential) -> (Object, Object) {
        let out = Object::new();
        set(&out, "id", &JsValue::from_str(&credential.id()));
        set(&out, "rawId", &encode(&credential.raw_id()));
        set(&out, "type", &"public-key".into());
        let results = Object::new();
        let prf = path(&credential.get_client_extension_results(), &["prf"]);
        if !is_absent(&prf) {
            let prf_json = Object::new();
            set(&prf_json, "enabled", &path(&prf, &["enabled"]));
            let first = path(&prf, &["results", "first"]);
            if !is_absent(&first) {
                let results_json = Object::new();
                set(&results_json, "first", &encode(&first));
                set(&prf_json, "results", &results_json);
            }
            set(&results, "prf", &prf_json);
        }
        set(&out, "clientExtensionResults", &results);
        let response = Object::new();
        set(&response, "clientDataJSON", &encode(&credential.response().client_data_json()));
        set(&out, "response", &response);
        (out, response)
    }

    /// Awaits the browser's ceremony `what` for at most `limit`.
    async fn ceremony(
        promise: core::result::Result<js_sys::Promise, JsValue>,
        what: &'static str,
        limit: &Limit,
    ) -> Result<PublicKeyCredential> {
        let failed =
            |e| Failure::from(Error::PasskeyUnavailable("the browser's passkey ceremony failed")).with_cause(e);
        let credential = settled(promise.map_err(failed)?.as_ref(), limit, what).await?.map_err(failed)?;
        if is_absent(&credential) {
            return Err(Error::PasskeyNotAllowed.into());
        }
        credential.dyn_into::<PublicKeyCredential>().map_err(|_| not_a_credential())
    }

    /// `navigator.credentials.create` with JSON options, for at most
    /// `limit`; the answer as RegistrationResponseJSON.
    pub async fn create(options: &Object, limit: &Limit) -> Result<JsValue> {
        let container = container()?;
        let wrapped = public_key_options(options)?;
        // WebAuthn's own `signal`: the browser ends the prompt when the app aborts.
        limit.signal.hand_to(wrapped.unchecked_ref());
        let created = container.create_with_options(&wrapped.unchecked_into());
        let credential = ceremony(created, "navigator.credentials.create", limit).await?;
        let (out, response) = credential_json(&credential);
        let attestation: AuthenticatorAttestationResponse = credential.response().unchecked_into();
        set(&response, "attestationObject", &encode(&attestation.attestation_object()));
        // Only transports (hints for later logins) are optional here.
        if let Ok(f) = Reflect::get(&attestation, &"getTransports".into()).and_then(|f| f.dyn_into::<Function>()) {
            if let Ok(transports) = f.call0(&attestation) {
                set(&response, "transports", &transports);
            }
        }
        Ok(out.into())
    }

    /// `navigator.credentials.get` with JSON options, for at most
    /// `limit`; the answer as AuthenticationResponseJSON.
    pub async fn get(options: &Object, limit: &Limit) -> Result<JsValue> {
        let container = container()?;
        let wrapped = public_key_options(options)?;
        // WebAuthn's own `signal`: the browser ends the prompt when the app aborts.
        limit.signal.hand_to(wrapped.unchecked_ref());
        let asserted = container.get_with_options(&wrapped.unchecked_into());
        let credential = ceremony(asserted, "navigator.credentials.get", limit).await?;
        let (out, response) = credential_json(&credential);
        let assertion: AuthenticatorAssertionResponse = credential.response().unchecked_into();
        set(&response, "authenticatorData", &encode(&assertion.authenticator_data()));
        set(&response, "signature", &encode(&assertion.signature()));
        set(&response, "userHandle", &assertion.user_handle().map(|h| encode(&h)).unwrap_or(JsValue::NULL));
        Ok(out.into())
    }
}
