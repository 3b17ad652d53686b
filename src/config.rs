//! The app's arguments, read once at the boundary.
//!
//! Every value an export takes from JavaScript is read and checked here, in
//! one pass and in a fixed order, and turned into typed settings: one for
//! the call ([`CallSettings`]), one for the service ([`ServiceSettings`]),
//! one for the custodian ([`CustodianSettings`]) and one per method
//! (`PasswordSettings`, `PasskeySettings`, ..., [`KeysSettings`]), from
//! which the method's backends are built right away. Nothing below this
//! file reads the config object again.
//!
//! What stays a JS value is the app's own objects whose functions are
//! called later (the keychain, the adapters, `getToken`'s holder): their
//! functions are looked up when they are called, as the app may have
//! replaced them meanwhile.
//!
//! A wrong type is a `TypeError` with code `INVALID_ARGUMENT` (or the
//! missing adapter's code); a value of the right type but out of range is a
//! plain `Error` with the same code. The mistakes a developer makes first
//! are answered with the fix: a config in `onProgress`'s place, a key the
//! config (or a method's settings) does not take, a misspelt method, a
//! cipherText of another method, `''` without the service.

use js_sys::{Function, JsString, Object};
use wallet_backup_core::{api_base, method_and_backup_id, Argon2idParams, Error, MethodId, PasswordMethod};
use wasm_bindgen::{JsCast, JsValue};
use zeroize::Zeroizing;

use std::rc::Rc;

use crate::backends::firebase::FirebaseKeeper;
use crate::backends::webauthn::{self, Platform};
use crate::backends::{cloudkit, derive_key, KeysHome, Method};
use crate::errors::{Failure, LastCause, Result};
use crate::http::DEFAULT_TIMEOUT_MS;
use crate::js::{exact_string, get, is_absent, Limit, Signal};

/// Default of `adapterTimeoutMs`: how long one call into the app's functions
/// may take. Generous for a keychain behind a biometric prompt or a storage
/// on a slow network, short enough that a hung adapter is noticed.
pub const ADAPTER_TIMEOUT_MS: u32 = 60_000;
/// Longest time limit a setting may ask for (10 minutes).
pub const MAX_LIMIT_MS: u32 = 600_000;
/// Google's API host.
const DEFAULT_DRIVE_HOST: &str = "https://www.googleapis.com";
/// Apple's CloudKit Web Services host.
const DEFAULT_CLOUDKIT_HOST: &str = "https://api.apple-cloudkit.com";
/// Longest passkey `userName`, in UTF-16 code units.
const MAX_USER_NAME_LEN: usize = 64;
/// What `config.icloud` must be; also the error of a missing `getWebAuthToken`.
pub const ICLOUD_SHAPE: &str = "config.icloud must be an ICloudStorage({ containerIdentifier, environment: 'development' | 'production', apiToken, getWebAuthToken }) or ICloudStorage({ keyValueStore }), not both";

/// A `backupWallet` or `recoverWallet` call's arguments, checked.
pub struct CallSettings {
    /// The app's keychain (an object; its functions are called later).
    pub keychain: JsValue,
    /// Who keeps the custodian half.
    pub custodian: CustodianSettings,
    /// `adapterTimeoutMs` and `signal`.
    pub limit: Limit,
    /// The method, built from its settings.
    pub method: Method,
    /// `onProgress`, when given.
    pub on_progress: Option<Function>,
}

/// Who keeps the custodian half.
pub enum CustodianSettings {
    /// The app's `custodian` adapter (an object; a custodian record).
    App(JsValue),
    /// The backup service (`apiKey`, `apiHost`).
    Service(ServiceSettings),
}

/// How to reach the backup service (or one of its enclaves): `apiKey`,
/// `apiHost`, `timeoutMs`.
#[derive(Clone)]
pub struct ServiceSettings {
    /// The base URL, e.g. `https://api.example.com`.
    pub base: String,
    /// `Bearer <apiKey>`.
    pub authorization: Zeroizing<String>,
    /// The deadline of each request.
    pub timeout_ms: u32,
}

/// Where a keys record lives, as `gdrive`, `icloud` or `custom` say.
pub enum KeysSettings {
    /// `gdrive`: a file in the user's Drive.
    Drive(DriveSettings),
    /// `icloud` on the web and in Node.js: the app's container over CloudKit
    /// Web Services.
    CloudKit(CloudKitSettings),
    /// `icloud` in React Native: the app's native iCloud key-value store
    /// (an object with `getItem`, `setItem`, `removeItem`).
    KeyValue(JsValue),
    /// `custom`: the app's storage adapter (an object with `read` and `write`).
    Custom(JsValue),
}

/// `passwordStorage`: the core method holds the (NFC-normalised) password
/// and the costs; `deriveKey` is the app's Argon2id, if given.
pub struct PasswordSettings {
    /// The password method, its password and costs checked.
    pub method: PasswordMethod,
    /// `passwordStorage.deriveKey`.
    pub derive_key: Option<Function>,
}

/// `passkey`, with the service settings of its enclave.
pub struct PasskeySettings {
    /// Who runs `create` and `get`.
    pub platform: Platform,
    /// The name a passkey manager shows for a new passkey.
    pub user_name: Option<String>,
    /// `mode: 'enclave'`: skip PRF even where the authenticator has it.
    pub enclave_only: bool,
    /// The enclave: the service, or `webAuthnHost`.
    pub enclave: ServiceSettings,
}

/// `firebase`, with the service settings of its enclave.
pub struct FirebaseSettings {
    /// The `FirebaseStorage` object, whose `getToken` gives ID tokens.
    pub storage: JsValue,
    /// The enclave: the service, or `tbsHost`.
    pub enclave: ServiceSettings,
}

/// `gdrive`.
pub struct DriveSettings {
    /// The `GDriveStorage` object, whose `getAccessToken` gives tokens.
    pub storage: JsValue,
    /// Google's API base URL (`driveHost`).
    pub base: String,
}

/// `icloud` in its CloudKit form.
pub struct CloudKitSettings {
    /// The `ICloudStorage` object: `getWebAuthToken`, `onWebAuthToken`.
    pub storage: JsValue,
    /// `{host}/database/1/{container}/{environment}/private/records/`.
    pub base: String,
    /// The API token.
    pub api_token: Zeroizing<String>,
}

/// Which export reads the arguments: its signature goes in the messages
/// about arguments in the wrong place.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// `backupWallet(method, onProgress, config)`.
    Backup,
    /// `recoverWallet(cipherText, method, onProgress, config)`, with the
    /// `cipherText` it was given.
    Recover,
}

impl Export {
    fn signature(self) -> &'static str {
        match self {
            Export::Backup => "backupWallet(method, onProgress, config)",
            Export::Recover => "recoverWallet(cipherText, method, onProgress, config)",
        }
    }
}

/// The keys a `backupWallet` / `recoverWallet` config may hold (the
/// `Portal` class merges its options and `backup` settings into these).
const CALL_KEYS: &[&str] = &[
    "keychain",
    "custodian",
    "apiKey",
    "apiHost",
    "timeoutMs",
    "adapterTimeoutMs",
    "passwordStorage",
    "passkey",
    "firebase",
    "gdrive",
    "icloud",
    "custom",
    "signal",
];

/// The arguments of `backupWallet` / `recoverWallet` (after `cipherText`,
/// which `recover` gives: its envelope's method is checked against `method`
/// before the method's platform is touched); the method is built from its
/// settings as soon as they are read, its failures kept in `cause`.
pub fn call(
    export: Export,
    method: &JsValue,
    on_progress: JsValue,
    config: &JsValue,
    recover: Option<&str>,
    cause: &Rc<LastCause>,
) -> Result<CallSettings> {
    // Portal's web docs put config second: say so before reading anything.
    let on_progress = progress(export, on_progress)?;
    let bad = Error::InvalidArgument("config must be an object with keychain, and custodian or apiKey");
    if !config.is_object() {
        return Err(Failure::type_error(bad));
    }
    known_keys(config, "config", CALL_KEYS)?;
    let keychain = get(config, "keychain", bad.clone())?;
    if !is_object_like(&keychain) {
        return Err(Failure::type_error(Error::KeychainUnavailable(
            "keychain adapter missing: pass { getShares, setShares }",
        )));
    }
    let custodian = get(config, "custodian", bad)?;
    let service = service(config)?;
    let custodian = match service {
        Some(_) if !is_absent(&custodian) => {
            return Err(Error::InvalidArgument(
                "pass either apiKey (the backup service keeps the custodian share) or custodian, not both",
            )
            .into())
        }
        Some(service) => CustodianSettings::Service(service),
        None if is_object_like(&custodian) => CustodianSettings::App(custodian),
        None => {
            return Err(Failure::type_error(Error::CustodianUnavailable(
                "custodian adapter missing: pass { read, write }, or apiKey and apiHost for the backup service",
            )))
        }
    };
    let signal = Signal::read(get(config, "signal", Error::InvalidArgument("signal must be an AbortSignal"))?)?;
    let limit = Limit { ms: adapter_limit(config)?, signal };
    let id = method_id(method)?;
    if let Some(text) = recover.filter(|t| !t.is_empty()) {
        // A cipherText this cannot read fails in core's decoder, as before.
        if let Ok((made_with, _)) = method_and_backup_id(text) {
            if made_with != id {
                return Err(Failure::from(Error::MethodMismatch).with_message(format!(
                    "the cipherText was made with a different backup method: it is a '{}' backup, recovered with '{}'",
                    made_with.name(),
                    id.name()
                )));
            }
        }
    }
    let service = match &custodian {
        CustodianSettings::Service(service) => Some(service),
        CustodianSettings::App(_) => None,
    };
    let method = method_of(id, config, service, cause, limit.clone())?;
    if recover.is_none() && service.is_none() && matches!(&method, Method::Password(m) if m.is_guess_limited()) {
        // Refused before any Argon2id runs, as core would refuse it later.
        return Err(wallet_backup_core::NEEDS_THE_SERVICE.into());
    }
    if recover == Some("") && service.is_none() {
        // The code of any other unreadable cipherText (FORMAT.md's vectors), with the fix.
        return Err(Error::InvalidCiphertext(
            "empty; cipherText '' fetches the newest backup from the backup service, which needs apiKey and \
             apiHost; with a custodian adapter pass the cipherText backupWallet resolved to",
        )
        .into());
    }
    Ok(CallSettings { keychain, custodian, limit, method, on_progress })
}

/// Refuses the keys of `obj` (named `what` in the message) not in `valid`:
/// a misspelt or misplaced setting would otherwise be ignored and fail
/// later with a misleading error (`PASSWORD_REQUIRED` for `{ password }`).
fn known_keys(obj: &JsValue, what: &str, valid: &[&str]) -> Result<()> {
    let Some(object) = obj.dyn_ref::<Object>() else { return Ok(()) };
    let unknown: Vec<String> =
        Object::keys(object).iter().filter_map(|k| k.as_string()).filter(|k| !valid.contains(&k.as_str())).collect();
    let Some(first) = unknown.first() else { return Ok(()) };
    let names = unknown.iter().take(4).map(|k| quoted(k)).collect::<Vec<_>>().join(", ");
    let more = if unknown.len() > 4 { ", ..." } else { "" };
    let plural = if unknown.len() > 1 { "s" } else { "" };
    let valid = valid.join(", ");
    let hint = match (what, first.as_str()) {
        ("config", "password" | "pin" | "passwordStorageConfig" | "passwordConfig") => {
            " (the password goes in passwordStorage: { password })"
        }
        _ => "",
    };
    Err(Failure::type_error(Error::InvalidArgument("unknown key")).with_message(format!(
        "invalid argument: {what} has unknown key{plural} {names}{more}{hint}; it takes {valid}"
    )))
}

/// `s` in single quotes for a message, cut to 40 characters (an app's
/// value, never a secret: a key or a method name).
fn quoted(s: &str) -> String {
    let cut: String = s.chars().take(40).flat_map(char::escape_debug).collect();
    let more = if s.chars().count() > 40 { "..." } else { "" };
    format!("'{cut}{more}'")
}

/// The settings of `storageOperation(operation, method, config)`: the
/// `gdrive` or `icloud` storage and `adapterTimeoutMs`.
pub fn storage(method: &JsValue, config: &JsValue) -> Result<(KeysSettings, Limit)> {
    let limit = Limit { ms: adapter_limit(config)?, signal: Signal::default() };
    let settings = match method_id(method)? {
        MethodId::GoogleDrive => KeysSettings::Drive(drive(config)?),
        MethodId::ICloud => icloud(config)?,
        _ => return Err(Error::InvalidArgument("storageOperation supports the gdrive and icloud methods only").into()),
    };
    Ok((settings, limit))
}

/// The service settings of a query (`walletBackupStatus`,
/// `storedClientBackupShare`), which needs nothing else.
pub fn service_only(config: &JsValue) -> Result<ServiceSettings> {
    if !config.is_object() {
        return Err(Failure::type_error(Error::InvalidArgument("config must be an object with apiKey and apiHost")));
    }
    service(config)?
        .ok_or_else(|| Error::InvalidArgument("this needs the backup service: pass apiKey and apiHost").into())
}

/// The `method` argument: our names (`'password'`, `BackupMethods.Password`)
/// or the service's upper-case ones (`'PASSWORD'`, Portal web's
/// `BackupMethods.password`). Anything else names the valid ones, and the
/// value received when it is a near miss of one (`'Password'`, `'pasword'`,
/// `' password'`): any other string is not echoed, as a password passed in
/// the wrong place would be.
pub fn method_id(method: &JsValue) -> Result<MethodId> {
    let names = MethodId::ALL.iter().map(|m| format!("'{}'", m.name())).collect::<Vec<_>>().join(", ");
    let Some(name) = method.as_string() else {
        let what = if is_absent(method) { "missing" } else { "not a string" };
        return Err(Failure::type_error(Error::InvalidArgument("method must be a string such as 'password'"))
            .with_message(format!("invalid argument: method is {what}; use one of {names} (BackupMethods)")));
    };
    MethodId::parse(&name).map_err(|e| {
        let message = match near_method(&name) {
            Some(near) => format!(
                "unsupported backup method {} (did you mean '{}'?): use one of {names} (BackupMethods)",
                quoted(&name),
                near.name()
            ),
            None => format!(
                "unsupported backup method (a string of {} characters, not shown): use one of {names} (BackupMethods)",
                name.chars().count()
            ),
        };
        Failure::from(e).with_message(message)
    })
}

/// The method `name` misspells: the same letters in another case or with
/// spaces, dashes or underscores, another wallet's name for it
/// (`GoogleDrive`), or at most two letters off.
fn near_method(name: &str) -> Option<MethodId> {
    let plain: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    if plain.len() > 24 {
        return None;
    }
    let alias = match plain.as_str() {
        "googledrive" | "google" | "drive" => Some(MethodId::GoogleDrive),
        "pin" | "passphrase" => Some(MethodId::Password),
        _ => None,
    };
    alias.or_else(|| MethodId::ALL.into_iter().find(|m| edit_distance(&plain, m.name()) <= 2))
}

/// Levenshtein distance of two short ASCII strings (method names).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The method `id`, built from its settings; `service` is the call's, if
/// it has one. The app's functions it calls later keep their failures in
/// `cause`, each call limited to `limit` (`adapterTimeoutMs`).
fn method_of(
    id: MethodId,
    config: &JsValue,
    service: Option<&ServiceSettings>,
    cause: &Rc<LastCause>,
    limit: Limit,
) -> Result<Method> {
    let keys = |settings| Method::keys_record(id, KeysHome::new(settings, cause.clone(), limit.clone()));
    Ok(match id {
        MethodId::Password => {
            let PasswordSettings { method, derive_key } = password(config)?;
            Method::Password(match derive_key {
                None => method,
                Some(f) => method.with_key_derivation(derive_key::app_key_derivation(f, cause.clone(), limit.clone())),
            })
        }
        MethodId::Firebase => {
            Method::enclave(id, FirebaseKeeper::new(firebase(config, service)?, cause.clone(), limit.clone()))?
        }
        MethodId::Passkey => Method::Passkey(webauthn::method(passkey(config, service)?, cause.clone(), limit.clone())),
        MethodId::GoogleDrive => keys(KeysSettings::Drive(drive(config)?))?,
        MethodId::Custom => keys(KeysSettings::Custom(custom(config)?))?,
        MethodId::ICloud => keys(icloud(config)?)?,
    })
}

/// Objects and functions (a class with static methods is a fine adapter).
fn is_object_like(v: &JsValue) -> bool {
    v.is_object() || v.is_function()
}

/// `onProgress`: a function, or nothing. An object there is the config
/// passed in its place (Portal's web docs put it second).
fn progress(export: Export, on_progress: JsValue) -> Result<Option<Function>> {
    if is_absent(&on_progress) {
        return Ok(None);
    }
    if on_progress.is_object() {
        return Err(Failure::type_error(Error::InvalidArgument("onProgress must be a function")).with_message(
            format!(
                "invalid argument: onProgress is an object, not a function: config is the last argument, {} \
             (pass null as onProgress when there is none)",
                export.signature()
            ),
        ));
    }
    on_progress
        .dyn_into::<Function>()
        .map(Some)
        .map_err(|_| Failure::type_error(Error::InvalidArgument("onProgress must be a function")))
}

/// `config.adapterTimeoutMs`, checked like `timeoutMs`.
fn adapter_limit(config: &JsValue) -> Result<u32> {
    limit_setting(
        config,
        "adapterTimeoutMs",
        ADAPTER_TIMEOUT_MS,
        "adapterTimeoutMs must be a whole number from 1 to 600000",
    )
}

/// The time-limit setting `config[name]`: a whole number of milliseconds
/// from 1 to [`MAX_LIMIT_MS`], `default` when absent. Anything else is
/// `INVALID_ARGUMENT` saying `bad` (a `TypeError` when it is not a number).
fn limit_setting(config: &JsValue, name: &str, default: u32, bad: &'static str) -> Result<u32> {
    let value = get(config, name, Error::InvalidArgument(bad))?;
    if is_absent(&value) {
        return Ok(default);
    }
    match value.as_f64() {
        Some(ms) if ms.fract() == 0.0 && (1.0..=f64::from(MAX_LIMIT_MS)).contains(&ms) => Ok(ms as u32),
        Some(_) => Err(Error::InvalidArgument(bad).into()),
        None => Err(Failure::type_error(Error::InvalidArgument(bad))),
    }
}

/// The service settings in `config`, or `None` when it has no `apiKey`
/// (the app keeps the custodian half itself).
fn service(config: &JsValue) -> Result<Option<ServiceSettings>> {
    let bad_type = |what| Failure::type_error(Error::InvalidArgument(what));
    let api_key = get(config, "apiKey", Error::InvalidArgument("config.apiKey"))?;
    if is_absent(&api_key) {
        return Ok(None);
    }
    let api_key = Zeroizing::new(api_key.as_string().ok_or_else(|| bad_type("apiKey must be a string"))?);
    // A header value: visible ASCII only (and never echoed in errors).
    if api_key.is_empty() || api_key.len() > 512 || !api_key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidArgument("apiKey is not a valid API key").into());
    }
    let host = get(config, "apiHost", Error::InvalidArgument("config.apiHost"))?;
    let host = host.as_string().ok_or_else(|| bad_type("apiHost must be a string, e.g. 'api.example.com'"))?;
    let base = api_base(&host)?;
    let timeout_ms =
        limit_setting(config, "timeoutMs", DEFAULT_TIMEOUT_MS, "timeoutMs must be a whole number from 1 to 600000")?;
    let mut authorization = Zeroizing::new(String::from("Bearer "));
    authorization.push_str(&api_key);
    Ok(Some(ServiceSettings { base, authorization, timeout_ms }))
}

/// The call's service settings for another host (an enclave's `tbsHost` or
/// `webAuthnHost`).
fn with_host(service: &ServiceSettings, host: &str) -> Result<ServiceSettings> {
    Ok(ServiceSettings {
        base: api_base(host)?,
        authorization: service.authorization.clone(),
        timeout_ms: service.timeout_ms,
    })
}

const BAD_PASSWORD_STORAGE: Error = Error::InvalidArgument("config.passwordStorage must be an object");

/// `config.passwordStorage`: `password` (NFC-normalised, so the same PIN
/// typed on two keyboards gives the same key), `kdf` (Argon2id costs, never
/// below the floor), `deriveKey`, `allowSlowKdf` and `guessLimited` (new
/// backups' PINs can be tried only through the backup service's count,
/// FORMAT.md §3.4.1.1; recovery follows the cipherText).
///
/// In the React Native build (feature `react-native`, wasm2js in Hermes)
/// Argon2id at the floor takes 20 s to a minute (22.7 s and 59.8 s on 2 cores), so
/// without `deriveKey` this is `NATIVE_KDF_REQUIRED` before anything runs,
/// unless `allowSlowKdf: true` says the app accepts that.
fn password(config: &JsValue) -> Result<PasswordSettings> {
    let storage = get(config, "passwordStorage", Error::InvalidArgument("config must be an object"))?;
    if is_absent(&storage) {
        return Err(Error::PasswordRequired.into());
    }
    known_keys(&storage, "passwordStorage", &["password", "kdf", "deriveKey", "allowSlowKdf", "guessLimited"])?;
    let password = get(&storage, "password", BAD_PASSWORD_STORAGE)?;
    if is_absent(&password) {
        return Err(Error::PasswordRequired.into());
    }
    let password: JsString = password
        .dyn_into()
        .map_err(|_| Failure::type_error(Error::InvalidArgument("passwordStorage.password must be a string")))?;
    let normalized = match exact_string(&password.normalize("NFC")) {
        Some(Ok(s)) => s,
        _ => {
            return Err(Error::InvalidArgument("passwordStorage.password is not valid Unicode (lone surrogate)").into())
        }
    };
    let bytes = Zeroizing::new(normalized.as_bytes().to_vec());

    let kdf = kdf(&get(&storage, "kdf", BAD_PASSWORD_STORAGE)?)?;
    let guess_limited = get(&storage, "guessLimited", BAD_PASSWORD_STORAGE)?;
    if !is_absent(&guess_limited) && guess_limited.as_bool().is_none() {
        return Err(Failure::type_error(Error::InvalidArgument("passwordStorage.guessLimited must be a boolean")));
    }
    let method = PasswordMethod::with_kdf(bytes, kdf)?.guess_limited(guess_limited.as_bool() == Some(true));
    let allow_slow = get(&storage, "allowSlowKdf", BAD_PASSWORD_STORAGE)?;
    if !is_absent(&allow_slow) && allow_slow.as_bool().is_none() {
        return Err(Failure::type_error(Error::InvalidArgument("passwordStorage.allowSlowKdf must be a boolean")));
    }
    let derive_key = get(&storage, "deriveKey", BAD_PASSWORD_STORAGE)?;
    if is_absent(&derive_key) {
        if cfg!(feature = "react-native") && allow_slow.as_bool() != Some(true) {
            return Err(Error::NativeKdfRequired.into());
        }
        return Ok(PasswordSettings { method, derive_key: None });
    }
    let derive_key: Function = derive_key
        .dyn_into()
        .map_err(|_| Failure::type_error(Error::InvalidArgument("passwordStorage.deriveKey must be a function")))?;
    Ok(PasswordSettings { method, derive_key: Some(derive_key) })
}

/// `passwordStorage.kdf`: `{ memoryKiB?, iterations?, parallelism? }`;
/// absent fields keep the defaults.
fn kdf(kdf: &JsValue) -> Result<Argon2idParams> {
    let mut params = Argon2idParams::default();
    if is_absent(kdf) {
        return Ok(params);
    }
    let bad = Error::InvalidArgument("passwordStorage.kdf must be an object of positive integers");
    known_keys(kdf, "passwordStorage.kdf", &["memoryKiB", "iterations", "parallelism"])?;
    for (name, slot) in [
        ("memoryKiB", &mut params.memory_kib),
        ("iterations", &mut params.iterations),
        ("parallelism", &mut params.parallelism),
    ] {
        let v = get(kdf, name, bad.clone())?;
        if is_absent(&v) {
            continue;
        }
        let n = v.as_f64().ok_or_else(|| Failure::type_error(bad.clone()))?;
        if n.fract() != 0.0 || !(1.0..=u32::MAX as f64).contains(&n) {
            return Err(bad.into());
        }
        *slot = n as u32;
    }
    Ok(params)
}

/// `config.passkey` (optional in browsers): `passkeys` (React Native's
/// functions), `userName`, `mode`, `webAuthnHost`; the method needs the
/// service.
fn passkey(config: &JsValue, service: Option<&ServiceSettings>) -> Result<PasskeySettings> {
    let bad = Error::InvalidArgument("config.passkey must be a PasskeyStorage");
    let storage = get(config, "passkey", bad.clone())?;
    known_keys(&storage, "passkey", &["passkeys", "webAuthnHost", "userName", "mode"])?;
    let type_error = |what| Failure::type_error(Error::InvalidArgument(what));
    let functions = get(&storage, "passkeys", bad.clone())?;
    let platform = if is_absent(&functions) {
        // Fail before anything runs where there is no passkey API at all.
        webauthn::browser_available()?;
        Platform::Browser
    } else {
        for name in ["create", "get"] {
            get(&functions, name, bad.clone())?
                .dyn_into::<Function>()
                .map_err(|_| type_error("passkey.passkeys must have create and get functions"))?;
        }
        Platform::Functions(functions)
    };
    let user_name = get(&storage, "userName", bad.clone())?;
    let user_name = if is_absent(&user_name) {
        None
    } else {
        let name = user_name.as_string().ok_or_else(|| type_error("passkey.userName must be a string"))?;
        if name.is_empty() || name.encode_utf16().count() > MAX_USER_NAME_LEN {
            return Err(Error::InvalidArgument("passkey.userName must be 1 to 64 characters").into());
        }
        Some(name)
    };
    let mode = get(&storage, "mode", bad.clone())?;
    let enclave_only = match mode.as_string().as_deref() {
        _ if is_absent(&mode) => false,
        Some("auto") => false,
        Some("enclave") => true,
        _ => return Err(Error::InvalidArgument("passkey.mode must be 'auto' or 'enclave'").into()),
    };
    let service = service
        .ok_or(Error::InvalidArgument("the passkey method needs the backup service: pass apiKey and apiHost"))?;
    let host = get(&storage, "webAuthnHost", bad)?;
    let enclave = if is_absent(&host) {
        service.clone()
    } else {
        with_host(service, &host.as_string().ok_or_else(|| type_error("passkey.webAuthnHost must be a string"))?)?
    };
    Ok(PasskeySettings { platform, user_name, enclave_only, enclave })
}

/// `config.firebase`: `getToken` and `tbsHost`; the method needs the service.
fn firebase(config: &JsValue, service: Option<&ServiceSettings>) -> Result<FirebaseSettings> {
    let missing = Error::InvalidArgument("config.firebase must be a FirebaseStorage({ getToken })");
    let storage = get(config, "firebase", missing.clone())?;
    if is_absent(&storage) {
        return Err(Failure::type_error(missing));
    }
    known_keys(&storage, "firebase", &["getToken", "tbsHost"])?;
    get(&storage, "getToken", missing.clone())?
        .dyn_into::<Function>()
        .map_err(|_| Failure::type_error(Error::InvalidArgument("firebase.getToken must be a function")))?;
    let service = service
        .ok_or(Error::InvalidArgument("the Firebase method needs the backup service: pass apiKey and apiHost"))?;
    let host = get(&storage, "tbsHost", missing)?;
    let enclave = if is_absent(&host) {
        service.clone()
    } else {
        let host = host
            .as_string()
            .ok_or_else(|| Failure::type_error(Error::InvalidArgument("firebase.tbsHost must be a string")))?;
        with_host(service, &host)?
    };
    Ok(FirebaseSettings { storage, enclave })
}

/// `config.gdrive`: `getAccessToken` and `driveHost`.
fn drive(config: &JsValue) -> Result<DriveSettings> {
    let missing = Error::InvalidArgument("config.gdrive must be a GDriveStorage({ getAccessToken })");
    let storage = get(config, "gdrive", missing.clone())?;
    if is_absent(&storage) {
        return Err(Failure::type_error(missing));
    }
    known_keys(&storage, "gdrive", &["getAccessToken", "driveHost"])?;
    get(&storage, "getAccessToken", missing.clone())?
        .dyn_into::<Function>()
        .map_err(|_| Failure::type_error(Error::InvalidArgument("gdrive.getAccessToken must be a function")))?;
    let host = get(&storage, "driveHost", missing)?;
    let base = if is_absent(&host) {
        String::from(DEFAULT_DRIVE_HOST)
    } else {
        let host = host
            .as_string()
            .ok_or_else(|| Failure::type_error(Error::InvalidArgument("gdrive.driveHost must be a string")))?;
        api_base(&host)?
    };
    Ok(DriveSettings { storage, base })
}

/// The keys of `config.icloud`: the CloudKit options, or `keyValueStore`.
const ICLOUD_KEYS: &[&str] = &[
    "containerIdentifier",
    "environment",
    "apiToken",
    "getWebAuthToken",
    "onWebAuthToken",
    "cloudKitHost",
    "keyValueStore",
];

/// `config.icloud`: exactly one of the CloudKit options and `keyValueStore`.
fn icloud(config: &JsValue) -> Result<KeysSettings> {
    let bad = || Failure::type_error(Error::InvalidArgument(ICLOUD_SHAPE));
    let storage = get(config, "icloud", Error::InvalidArgument(ICLOUD_SHAPE))?;
    let field = |name| get(&storage, name, Error::InvalidArgument(ICLOUD_SHAPE));
    known_keys(&storage, "icloud", ICLOUD_KEYS)?;
    let store = field("keyValueStore")?;
    let container = field("containerIdentifier")?;
    if !is_absent(&store) {
        if !is_absent(&container) {
            return Err(bad());
        }
        for name in ["getItem", "setItem", "removeItem"] {
            if !get(&store, name, Error::InvalidArgument(ICLOUD_SHAPE))?.is_function() {
                return Err(bad());
            }
        }
        return Ok(KeysSettings::KeyValue(store));
    }
    let container = container.as_string().filter(|c| container_ok(c)).ok_or_else(bad)?;
    let environment = field("environment")?.as_string().ok_or_else(bad)?;
    if environment != "development" && environment != "production" {
        return Err(bad());
    }
    let api_token = Zeroizing::new(field("apiToken")?.as_string().filter(|t| cloudkit::token_ok(t)).ok_or_else(bad)?);
    if !field("getWebAuthToken")?.is_function() {
        return Err(bad());
    }
    let host = field("cloudKitHost")?;
    let mut base = if is_absent(&host) {
        String::from(DEFAULT_CLOUDKIT_HOST)
    } else {
        api_base(&host.as_string().ok_or_else(bad)?)?
    };
    for part in ["/database/1/", &container, "/", &environment, "/private/records/"] {
        base.push_str(part);
    }
    Ok(KeysSettings::CloudKit(CloudKitSettings { storage, base, api_token }))
}

/// `config.custom`: the app's storage adapter, with `read` and `write`.
fn custom(config: &JsValue) -> Result<JsValue> {
    let missing =
        Error::InvalidArgument("config.custom must be a storage adapter { read, write, validateOperations? }");
    let adapter = get(config, "custom", missing.clone())?;
    if is_absent(&adapter) {
        return Err(Failure::type_error(missing));
    }
    for name in ["read", "write"] {
        get(&adapter, name, missing.clone())?
            .dyn_into::<Function>()
            .map_err(|_| Failure::type_error(missing.clone()))?;
    }
    Ok(adapter)
}

/// A container id as Apple makes them (`iCloud.` then a reverse-DNS name); it goes in a path.
fn container_ok(id: &str) -> bool {
    id.len() > 7
        && id.len() <= 256
        && id.as_bytes().starts_with(b"iCloud.")
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_name_the_method_they_miss() {
        for (typed, meant) in [
            ("Password", MethodId::Password),
            ("pasword", MethodId::Password),
            (" password", MethodId::Password),
            ("pass-word", MethodId::Password),
            ("PassKey", MethodId::Passkey),
            ("GoogleDrive", MethodId::GoogleDrive),
            ("google_drive", MethodId::GoogleDrive),
            ("iCloud", MethodId::ICloud),
            ("firebse", MethodId::Firebase),
        ] {
            assert_eq!(near_method(typed), Some(meant), "{typed}");
        }
        // Anything else is not echoed: it may be a secret passed in the wrong place.
        for other in ["carrier-pigeon", "PW-zebra-7731-secret", "", "x", "hunter2"] {
            assert_eq!(near_method(other), None, "{other}");
        }
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("password", "password"), 0);
        assert_eq!(edit_distance("pasword", "password"), 1);
        assert_eq!(edit_distance("passwodr", "password"), 2);
        assert_eq!(edit_distance("", "custom"), 6);
    }

    #[test]
    fn quoted_cuts_long_values() {
        assert_eq!(quoted("password"), "'password'");
        assert_eq!(quoted(&"k".repeat(50)), format!("'{}...'", "k".repeat(40)));
        assert_eq!(quoted("a'b\n"), "'a\\'b\\n'");
    }
}
