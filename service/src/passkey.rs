//! The passkey key enclave: a backup's 32-byte key is stored here and
//! released only after a WebAuthn assertion, with user verification, by
//! the passkey it is bound to (for authenticators without the PRF
//! extension; with PRF the key never leaves the device).
//!
//! - **Relying party.** The service's default (`serve --passkey-rp-id …`),
//!   or a client's own (`create-client --passkey-rp-id …`, `set-passkey-rp`).
//!   Origins are checked when configured ([`check_origin`]) and matched
//!   exactly by webauthn-rs (no other port, no other subdomain). A
//!   `webauthn_rs::Webauthn` is built per request from the effective relying
//!   party ([`RelyingParty::webauthn`]).
//! - **Ceremonies.** Each begin call stores webauthn-rs's state (challenge,
//!   allowed credentials) in the database with an expiry; the finish call
//!   deletes it before verifying anything, so a ceremony is used once, even
//!   when its verification fails.
//! - **Verification** is webauthn-rs's passkey API (user verification
//!   required); its errors map to the stable `PASSKEY_*` codes
//!   ([`webauthn_error`]). After each verified assertion the credential's
//!   signature counter moves forward in one conditional update, or the
//!   request is refused (`PASSKEY_COUNTER_REGRESSED`).
//! - **Keys** are sealed under the KMS, bound to (client, backupId,
//!   credential id), never overwritten, and re-wrapped by `kms rewrap`.
//!
//! Nothing here logs keys, challenges, ceremony states or credential bodies.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid,
    Webauthn, WebauthnBuilder, WebauthnError,
};
use zeroize::Zeroizing;

use crate::api::{stored_key_error, ApiJson, AppState, Caller};
use crate::error::{codes, ApiError};
use crate::model::Client;
use crate::store::passkey::{Ceremony, CeremonyKind, ClientRelyingParty, CounterOutcome};
use crate::store::PutKeyOutcome;
use crate::util::{is_hex, now_micros, random_id};

/// Default of `--passkey-ceremony-ttl`: a ceremony expires this many seconds after its begin call.
pub const DEFAULT_CEREMONY_TTL_SECS: u64 = 300;
/// The longest accepted `--passkey-ceremony-ttl`, in seconds (one hour).
pub const MAX_CEREMONY_TTL_SECS: u64 = 3600;
/// The user name a registration shows when begin-registration names none.
pub const DEFAULT_USER_NAME: &str = "Wallet backup";
/// Longest `userName`, in characters.
pub const MAX_USER_NAME_CHARS: usize = 64;
/// Longest relying-party name, in characters.
pub const MAX_RP_NAME_CHARS: usize = 100;
/// Most origins per relying party.
pub const MAX_ORIGINS: usize = 32;
/// The prefix of an Android app's origin.
pub const ANDROID_ORIGIN_PREFIX: &str = "android:apk-key-hash:";

/// Settings of the passkey enclave given to `serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyConfig {
    /// The default relying party (clients without their own use it); `None`: none.
    pub relying_party: Option<RelyingParty>,
    /// How long a ceremony stays valid.
    pub ceremony_ttl: Duration,
}

impl Default for PasskeyConfig {
    fn default() -> Self {
        Self { relying_party: None, ceremony_ttl: Duration::from_secs(DEFAULT_CEREMONY_TTL_SECS) }
    }
}

/// A checked WebAuthn relying party: rp id, name and allowed origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// The rp id: a lower-case domain name (credentials are scoped to it).
    pub id: String,
    /// The name passkey managers show.
    pub name: String,
    /// Allowed `clientDataJSON` origins, matched exactly.
    pub origins: Vec<String>,
}

impl RelyingParty {
    /// Checks an rp id, an optional name (default: the rp id) and the origins
    /// ([`check_rp_id`], [`check_origin`]). At least one origin must be a web
    /// origin webauthn-rs can anchor the rp id to: `https://` on the rp id or
    /// a subdomain, or `http://localhost[:port]` when the rp id is `localhost`.
    pub fn new(id: &str, name: Option<&str>, origins: &[String]) -> Result<Self, String> {
        check_rp_id(id)?;
        let name = match name {
            Some(name) => {
                let name = name.trim();
                if name.is_empty() || name.chars().count() > MAX_RP_NAME_CHARS || name.chars().any(char::is_control) {
                    return Err(format!(
                        "a passkey relying-party name is 1 to {MAX_RP_NAME_CHARS} characters, without control characters"
                    ));
                }
                name.to_owned()
            }
            None => id.to_owned(),
        };
        if origins.is_empty() || origins.len() > MAX_ORIGINS {
            return Err(format!("a passkey relying party needs 1 to {MAX_ORIGINS} origins (--passkey-origin)"));
        }
        let mut checked: Vec<String> = Vec::with_capacity(origins.len());
        for origin in origins {
            check_origin(origin, id)?;
            if !checked.contains(origin) {
                checked.push(origin.clone());
            }
        }
        let rp = Self { id: id.to_owned(), name, origins: checked };
        if rp.anchor().is_none() {
            return Err(format!(
                "the passkey origins need at least one web origin on the rp id: https://{id} (or a subdomain), \
                 or http://localhost[:port] with the rp id localhost"
            ));
        }
        Ok(rp)
    }

    /// A stored client relying party, checked again.
    pub fn from_client(rp: &ClientRelyingParty) -> Result<Self, String> {
        Self::new(&rp.id, rp.name.as_deref(), &rp.origins)
    }

    /// The relying party as a client row stores it.
    pub fn to_client(&self) -> ClientRelyingParty {
        ClientRelyingParty { id: self.id.clone(), name: Some(self.name.clone()), origins: self.origins.clone() }
    }

    /// The first origin whose host is the rp id or a subdomain of it
    /// (webauthn-rs's builder needs one).
    fn anchor(&self) -> Option<Url> {
        self.origins.iter().filter(|o| !o.starts_with(ANDROID_ORIGIN_PREFIX)).find_map(|o| {
            let url = Url::parse(o).ok()?;
            let host = url.domain()?;
            (host == self.id || host.ends_with(&format!(".{}", self.id))).then_some(url)
        })
    }

    /// webauthn-rs for this relying party: its origins only (exact ports, no
    /// other subdomains), `timeout` in the options.
    pub fn webauthn(&self, timeout: Duration) -> Result<Webauthn, String> {
        let anchor = self.anchor().ok_or("no web origin on the rp id")?;
        let mut builder = WebauthnBuilder::new(&self.id, &anchor)
            .map_err(|e| format!("webauthn-rs refused the relying party: {e}"))?
            .rp_name(&self.name)
            .allow_any_port(false)
            .allow_subdomains(false)
            .timeout(timeout);
        for origin in &self.origins {
            let url = Url::parse(origin).map_err(|e| format!("origin {origin}: {e}"))?;
            if url != anchor {
                builder = builder.append_allowed_origin(&url);
            }
        }
        builder.build().map_err(|e| format!("webauthn-rs refused the relying party: {e}"))
    }
}

/// Checks an rp id: a lower-case domain name (labels of 1 to 63 letters,
/// digits and inner hyphens, at most 253 characters; not an IP address).
pub fn check_rp_id(id: &str) -> Result<(), String> {
    let labels_ok = !id.is_empty()
        && id.len() <= 253
        && id.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let numeric_tld = id.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()));
    if labels_ok && !numeric_tld {
        Ok(())
    } else {
        Err(format!(
            "passkey rp id `{id}` is not a lower-case domain name (like wallet.example; no scheme, port or path)"
        ))
    }
}

/// Checks one allowed origin for the rp id `rp_id`: `https://host[:port]`
/// whose host is the rp id or a subdomain of it, `http://localhost[:port]`,
/// or `android:apk-key-hash:<base64url SHA-256, 43 characters>`. Web origins
/// must be written exactly as browsers send them (lower-case, no default
/// port, no path or trailing slash).
pub fn check_origin(origin: &str, rp_id: &str) -> Result<(), String> {
    if let Some(hash) = origin.strip_prefix(ANDROID_ORIGIN_PREFIX) {
        let bytes = Base64UrlUnpadded::decode_vec(hash).unwrap_or_default();
        if hash.len() == 43 && bytes.len() == 32 {
            return Ok(());
        }
        return Err(format!(
            "origin `{origin}`: an Android origin is {ANDROID_ORIGIN_PREFIX} and the unpadded base64url of the \
             signing certificate's SHA-256 (43 characters)"
        ));
    }
    let url = Url::parse(origin).map_err(|e| format!("origin `{origin}` is not a URL: {e}"))?;
    if url.origin().ascii_serialization() != origin {
        return Err(format!(
            "origin `{origin}` must be written as browsers send it: scheme://host[:port], lower-case, \
             no default port, no path or trailing slash"
        ));
    }
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" if host == rp_id || host.ends_with(&format!(".{rp_id}")) => Ok(()),
        "https" => Err(format!("origin `{origin}`: its host is neither the rp id {rp_id} nor a subdomain of it")),
        "http" if host == "localhost" => Ok(()),
        _ => Err(format!(
            "origin `{origin}`: passkey origins are https://, http://localhost (development) or {ANDROID_ORIGIN_PREFIX}…"
        )),
    }
}

// ---------------------------------------------------------------- errors

fn denied(code: &'static str, message: &'static str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

fn ceremony_unknown() -> ApiError {
    denied(
        codes::PASSKEY_CEREMONY_UNKNOWN,
        "no such ceremony for this client (unknown, already used, or of another kind); start again",
    )
}

fn credential_not_allowed() -> ApiError {
    denied(codes::PASSKEY_CREDENTIAL_NOT_ALLOWED, "this credential is not allowed for this ceremony or key")
}

fn verification_failed() -> ApiError {
    denied(codes::PASSKEY_VERIFICATION_FAILED, "the WebAuthn response does not verify")
}

fn not_configured() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        codes::PASSKEY_NOT_CONFIGURED,
        "no passkey relying party for this client; the operator sets one with `serve --passkey-rp-id … \
         --passkey-origin …` or `set-passkey-rp`",
    )
}

fn encryption_key_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, codes::ENCRYPTION_KEY_NOT_FOUND, "no encryption key with this backupId")
}

/// The stable code of a webauthn-rs verification error (all 403) of a
/// response whose clientDataJSON is `client_data_json`.
pub fn webauthn_error(error: &WebauthnError, client_data_json: &[u8]) -> ApiError {
    match error {
        _ if matches!(error, WebauthnError::InvalidRPOrigin) || opaque_origin(client_data_json) => {
            denied(codes::PASSKEY_ORIGIN_MISMATCH, "the clientDataJSON origin is not an allowed origin")
        }
        WebauthnError::UserNotVerified => denied(
            codes::PASSKEY_USER_VERIFICATION_REQUIRED,
            "the authenticator did not verify the user (UV flag clear)",
        ),
        WebauthnError::CredentialNotFound => credential_not_allowed(),
        WebauthnError::CredentialPossibleCompromise => counter_regressed(),
        _ => verification_failed(),
    }
}

/// Whether clientDataJSON names an origin that is no origin at all: `"null"`
/// (an opaque origin: a sandboxed frame, a `data:` page) or another string
/// that is not a URL. webauthn-rs refuses such a response while parsing it,
/// before it compares origins; it is still an origin that is not allowed.
fn opaque_origin(client_data_json: &[u8]) -> bool {
    let client_data: Option<Value> = serde_json::from_slice(client_data_json).ok();
    let origin = client_data.as_ref().and_then(|c| c.get("origin")).and_then(Value::as_str);
    origin.is_some_and(|origin| Url::parse(origin).is_err())
}

fn counter_regressed() -> ApiError {
    denied(
        codes::PASSKEY_COUNTER_REGRESSED,
        "the authenticator's signature counter did not increase (a cloned credential?)",
    )
}

fn internal(what: &str) -> impl FnOnce(String) -> ApiError + '_ {
    move |e| ApiError::internal(&format!("passkey {what}: {e}"))
}

// ---------------------------------------------------------------- shapes

/// `GET /passkeys/status`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatusResponse {
    configured: bool,
    relying_party: Option<RelyingPartyResponse>,
    registered: bool,
    credentials: usize,
}

#[derive(Serialize)]
pub(crate) struct RelyingPartyResponse {
    id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct BeginRegistrationRequest {
    #[serde(default)]
    user_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FinishRegistrationRequest {
    ceremony_id: String,
    credential: RegisterPublicKeyCredential,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct BeginLoginRequest {
    #[serde(default)]
    backup_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FinishWriteRequest {
    ceremony_id: String,
    credential: PublicKeyCredential,
    backup_id: String,
    encryption_key: Zeroizing<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FinishReadRequest {
    ceremony_id: String,
    credential: PublicKeyCredential,
    backup_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BeginResponse {
    ceremony_id: String,
    options: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CredentialIdResponse {
    credential_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EncryptionKeyResponse {
    encryption_key: Zeroizing<String>,
}

// ---------------------------------------------------------------- helpers

/// The relying party that applies to `client`: its own, else the service's.
async fn relying_party(state: &AppState, client: &Client) -> Result<Option<RelyingParty>, ApiError> {
    match state.store.passkey_rp(&client.id).await? {
        Some(own) => RelyingParty::from_client(&own).map(Some).map_err(internal("stored relying party")),
        None => Ok(state.passkey.relying_party.clone()),
    }
}

async fn webauthn_for(state: &AppState, client: &Client) -> Result<(RelyingParty, Webauthn), ApiError> {
    let rp = relying_party(state, client).await?.ok_or_else(not_configured)?;
    let webauthn = rp.webauthn(state.passkey.ceremony_ttl).map_err(internal("relying party"))?;
    Ok((rp, webauthn))
}

fn backup_id(text: &str) -> Result<String, ApiError> {
    if is_hex(text, 32) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(ApiError::invalid("backupId must be 32 hex characters (the envelope's 16-byte backup id)"))
    }
}

fn ceremony_id(text: &str) -> Result<String, ApiError> {
    if is_hex(text, 32) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(ApiError::invalid("ceremonyId must be 32 hex characters (from the begin call)"))
    }
}

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Stores a new ceremony; returns its id.
async fn store_ceremony(
    state: &AppState,
    client: &Client,
    kind: CeremonyKind,
    webauthn_state: String,
    allowed_credentials: Vec<String>,
    backup_id: Option<String>,
) -> Result<String, ApiError> {
    let id = random_id().map_err(|e| ApiError::internal(&e))?;
    let ttl = i64::try_from(state.passkey.ceremony_ttl.as_micros()).unwrap_or(i64::MAX);
    let ceremony = Ceremony {
        id: id.clone(),
        client_id: client.id.clone(),
        kind,
        state: webauthn_state,
        allowed_credentials,
        backup_id,
        expires_at: now_micros().saturating_add(ttl),
    };
    state.store.insert_ceremony(&ceremony).await?;
    Ok(id)
}

/// Takes the client's ceremony `id` of `kind` (it is gone afterwards,
/// whatever happens next) and checks its expiry.
async fn take_ceremony(state: &AppState, client: &Client, id: &str, kind: CeremonyKind) -> Result<Ceremony, ApiError> {
    let ceremony = state.store.take_ceremony(&client.id, id).await?.ok_or_else(ceremony_unknown)?;
    if ceremony.kind != kind {
        return Err(ceremony_unknown());
    }
    if now_micros() > ceremony.expires_at {
        return Err(denied(codes::PASSKEY_CHALLENGE_EXPIRED, "the ceremony has expired; start again"));
    }
    Ok(ceremony)
}

/// The registration's signature counter, from the webauthn-rs record.
fn passkey_counter(passkey: &Passkey) -> i64 {
    serde_json::to_value(passkey).ok().and_then(|v| v["cred"]["counter"].as_i64()).unwrap_or(0)
}

/// Consumes a login ceremony and verifies the assertion: webauthn-rs's
/// checks, the ceremony's allowed credentials, the client's credential and
/// its counter. Returns the asserted credential id.
async fn verify_login(
    state: &AppState,
    client: &Client,
    id: &str,
    credential: &PublicKeyCredential,
) -> Result<(String, Ceremony), ApiError> {
    let ceremony = take_ceremony(state, client, id, CeremonyKind::Login).await?;
    let (_, webauthn) = webauthn_for(state, client).await?;
    if credential.type_ != "public-key" {
        return Err(verification_failed());
    }
    let credential_id = b64(&credential.raw_id);
    if !ceremony.allowed_credentials.contains(&credential_id) {
        return Err(credential_not_allowed());
    }
    let login: PasskeyAuthentication =
        serde_json::from_str(&ceremony.state).map_err(|e| internal("ceremony state")(e.to_string()))?;
    let result = webauthn
        .finish_passkey_authentication(credential, &login)
        .map_err(|e| webauthn_error(&e, &credential.response.client_data_json))?;
    let stored = state.store.passkey_credentials(&client.id).await?;
    let stored = stored.into_iter().find(|c| c.credential_id == credential_id).ok_or_else(credential_not_allowed)?;
    let mut passkey: Passkey =
        serde_json::from_str(&stored.passkey).map_err(|e| internal("stored credential")(e.to_string()))?;
    passkey.update_credential(&result);
    let passkey = serde_json::to_string(&passkey).map_err(|e| internal("credential")(e.to_string()))?;
    let counter = i64::from(result.counter());
    match state.store.advance_passkey_counter(&client.id, &credential_id, counter, &passkey).await? {
        CounterOutcome::Accepted => Ok((credential_id, ceremony)),
        CounterOutcome::Regressed => Err(counter_regressed()),
        CounterOutcome::Missing => Err(credential_not_allowed()),
    }
}

// ---------------------------------------------------------------- handlers

/// `GET /passkeys/status`: the relying party that applies and how many credentials the client has.
pub(crate) async fn status(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
) -> Result<Json<Value>, ApiError> {
    let rp = relying_party(&state, &client).await?;
    let credentials = state.store.passkey_credentials(&client.id).await?.len();
    let response = StatusResponse {
        configured: rp.is_some(),
        relying_party: rp.map(|rp| RelyingPartyResponse { id: rp.id, name: rp.name }),
        registered: credentials > 0,
        credentials,
    };
    serde_json::to_value(response).map(Json).map_err(|e| ApiError::internal(&e))
}

/// `POST /passkeys/begin-registration`: creation options for a new passkey.
pub(crate) async fn begin_registration(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<BeginRegistrationRequest>,
) -> Result<Json<BeginResponse>, ApiError> {
    let user_name = body.user_name.unwrap_or_else(|| DEFAULT_USER_NAME.to_owned());
    let count = user_name.chars().count();
    if count == 0 || count > MAX_USER_NAME_CHARS || user_name.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "userName must be 1 to {MAX_USER_NAME_CHARS} characters, without control characters"
        )));
    }
    let (_, webauthn) = webauthn_for(&state, &client).await?;
    let existing = state.store.passkey_credentials(&client.id).await?;
    let mut user_id = [0u8; 16];
    getrandom::fill(&mut user_id).map_err(|e| ApiError::internal(&e))?;
    // No exclusions in webauthn-rs's state: a duplicate is found by the
    // database (409 PASSKEY_CREDENTIAL_EXISTS) after full verification.
    let (challenge, registration) = webauthn
        .start_passkey_registration(Uuid::from_bytes(user_id), &user_name, &user_name, None)
        .map_err(|e| internal("registration")(e.to_string()))?;
    let mut options = serde_json::to_value(&challenge.public_key).map_err(|e| ApiError::internal(&e))?;
    let exclude: Vec<Value> = existing.iter().map(|c| json!({ "type": "public-key", "id": c.credential_id })).collect();
    options["excludeCredentials"] = Value::Array(exclude);
    let registration = serde_json::to_string(&registration).map_err(|e| ApiError::internal(&e))?;
    let ceremony_id =
        store_ceremony(&state, &client, CeremonyKind::Registration, registration, Vec::new(), None).await?;
    Ok(Json(BeginResponse { ceremony_id, options }))
}

/// `POST /passkeys/finish-registration`: verifies the attestation and stores the credential.
pub(crate) async fn finish_registration(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<FinishRegistrationRequest>,
) -> Result<Json<CredentialIdResponse>, ApiError> {
    let id = ceremony_id(&body.ceremony_id)?;
    let ceremony = take_ceremony(&state, &client, &id, CeremonyKind::Registration).await?;
    let (_, webauthn) = webauthn_for(&state, &client).await?;
    if body.credential.type_ != "public-key" {
        return Err(verification_failed());
    }
    let registration: PasskeyRegistration =
        serde_json::from_str(&ceremony.state).map_err(|e| internal("ceremony state")(e.to_string()))?;
    let passkey = webauthn
        .finish_passkey_registration(&body.credential, &registration)
        .map_err(|e| webauthn_error(&e, &body.credential.response.client_data_json))?;
    let credential_id = b64(passkey.cred_id());
    let record = serde_json::to_string(&passkey).map_err(|e| ApiError::internal(&e))?;
    let inserted =
        state.store.insert_passkey_credential(&client.id, &credential_id, &record, passkey_counter(&passkey)).await?;
    if !inserted {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::PASSKEY_CREDENTIAL_EXISTS,
            "this credential is registered already",
        ));
    }
    Ok(Json(CredentialIdResponse { credential_id }))
}

/// `POST /passkeys/begin-login`: request options for the client's credentials
/// (with `backupId`: only the one its key is bound to).
pub(crate) async fn begin_login(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<BeginLoginRequest>,
) -> Result<Json<BeginResponse>, ApiError> {
    let backup_id = body.backup_id.as_deref().map(backup_id).transpose()?;
    let (_, webauthn) = webauthn_for(&state, &client).await?;
    let mut credentials = state.store.passkey_credentials(&client.id).await?;
    if let Some(backup_id) = &backup_id {
        let bound =
            state.store.passkey_key_credential(&client.id, backup_id).await?.ok_or_else(encryption_key_not_found)?;
        credentials.retain(|c| c.credential_id == bound);
        if credentials.is_empty() {
            return Err(ApiError::internal(&"a passkey key is bound to a credential the client does not have"));
        }
    } else if credentials.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            codes::PASSKEY_NOT_REGISTERED,
            "this client has no passkey yet (begin-registration)",
        ));
    }
    let passkeys = credentials
        .iter()
        .map(|c| serde_json::from_str::<Passkey>(&c.passkey))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| internal("stored credential")(e.to_string()))?;
    let (challenge, login) =
        webauthn.start_passkey_authentication(&passkeys).map_err(|e| internal("login")(e.to_string()))?;
    let options = serde_json::to_value(&challenge.public_key).map_err(|e| ApiError::internal(&e))?;
    let login = serde_json::to_string(&login).map_err(|e| ApiError::internal(&e))?;
    let allowed = credentials.into_iter().map(|c| c.credential_id).collect();
    let ceremony_id = store_ceremony(&state, &client, CeremonyKind::Login, login, allowed, backup_id).await?;
    Ok(Json(BeginResponse { ceremony_id, options }))
}

/// `POST /passkeys/finish-login/write`: after a verified assertion, stores
/// the backup's key bound to the asserted credential (never overwriting).
pub(crate) async fn finish_login_write(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<FinishWriteRequest>,
) -> Result<Json<CredentialIdResponse>, ApiError> {
    let id = ceremony_id(&body.ceremony_id)?;
    let backup_id = backup_id(&body.backup_id)?;
    let key = Zeroizing::new(Base64UrlUnpadded::decode_vec(&body.encryption_key).unwrap_or_default());
    if key.len() != 32 {
        return Err(ApiError::invalid("encryptionKey must be exactly 32 bytes in unpadded base64url (43 characters)"));
    }
    let (credential_id, _) = verify_login(&state, &client, &id, &body.credential).await?;
    let outcome = state.store.put_passkey_key(state.kms.as_ref(), &client.id, &backup_id, &credential_id, &key).await?;
    match outcome {
        PutKeyOutcome::Stored | PutKeyOutcome::AlreadyStored => Ok(Json(CredentialIdResponse { credential_id })),
        PutKeyOutcome::Conflict => Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::BACKUP_ID_EXISTS,
            "a key is stored for this backupId already; keys are never replaced (a new backup gets a new backupId)",
        )),
    }
}

/// `POST /passkeys/finish-login/read`: after a verified assertion by the
/// credential the key is bound to, releases the backup's key.
pub(crate) async fn finish_login_read(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<FinishReadRequest>,
) -> Result<Json<EncryptionKeyResponse>, ApiError> {
    let id = ceremony_id(&body.ceremony_id)?;
    let backup_id = backup_id(&body.backup_id)?;
    let (credential_id, _) = verify_login(&state, &client, &id, &body.credential).await?;
    let bound =
        state.store.passkey_key_credential(&client.id, &backup_id).await?.ok_or_else(encryption_key_not_found)?;
    if bound != credential_id {
        return Err(credential_not_allowed());
    }
    let (bound, key) = state
        .store
        .passkey_key(state.kms.as_ref(), &client.id, &backup_id)
        .await
        .map_err(|e| stored_key_error(&client.id, "passkey", e))?
        .ok_or_else(encryption_key_not_found)?;
    if bound != credential_id {
        return Err(credential_not_allowed());
    }
    Ok(Json(EncryptionKeyResponse { encryption_key: Zeroizing::new(b64(&key)) }))
}
