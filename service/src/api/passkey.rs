//! The passkey key enclave's routes (`/passkeys/…`, the paths of Portal's
//! passkey enclave): registration and login ceremonies, and a backup's key
//! written or read after a verified assertion. The relying party and the
//! rules are in [`crate::passkey`]; its errors map to the stable
//! `PASSKEY_*` codes ([`webauthn_error`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid,
    Webauthn, WebauthnError,
};
use zeroize::Zeroizing;

use super::{backup_id, stored_key_error, ApiJson, AppState, Caller};
use crate::error::{codes, ApiError};
use crate::model::Client;
use crate::passkey::{RelyingParty, DEFAULT_USER_NAME, MAX_USER_NAME_CHARS};
use crate::store::passkey::{Ceremony, CeremonyKind, CounterOutcome};
use crate::store::PutKeyOutcome;
use crate::util::{is_hex, now_micros, random_id};

/// The passkey enclave's routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/passkeys/status", get(status))
        .route("/passkeys/begin-registration", post(begin_registration))
        .route("/passkeys/finish-registration", post(finish_registration))
        .route("/passkeys/begin-login", post(begin_login))
        .route("/passkeys/finish-login/write", post(finish_login_write))
        .route("/passkeys/finish-login/read", post(finish_login_read))
}

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

/// `GET /passkeys/status`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusResponse {
    configured: bool,
    relying_party: Option<RelyingPartyResponse>,
    registered: bool,
    credentials: usize,
}

#[derive(Serialize)]
struct RelyingPartyResponse {
    id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BeginRegistrationRequest {
    #[serde(default)]
    user_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FinishRegistrationRequest {
    ceremony_id: String,
    credential: RegisterPublicKeyCredential,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BeginLoginRequest {
    #[serde(default)]
    backup_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FinishWriteRequest {
    ceremony_id: String,
    credential: PublicKeyCredential,
    backup_id: String,
    encryption_key: Zeroizing<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FinishReadRequest {
    ceremony_id: String,
    credential: PublicKeyCredential,
    backup_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BeginResponse {
    ceremony_id: String,
    options: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CredentialIdResponse {
    credential_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EncryptionKeyResponse {
    encryption_key: Zeroizing<String>,
}

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

/// `GET /passkeys/status`: the relying party that applies and how many credentials the client has.
async fn status(Caller(client): Caller, State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
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
async fn begin_registration(
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
async fn finish_registration(
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
async fn begin_login(
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
async fn finish_login_write(
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
async fn finish_login_read(
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
