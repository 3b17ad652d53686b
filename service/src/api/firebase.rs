//! The Firebase key enclave (`/v1/backup/encrypt-key`, the path of Portal's
//! Firebase enclave): a backup's key stored for the Firebase user of a
//! verified ID token, and released only to that user after a recent sign-in.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::put;
use axum::{Json, Router};
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{backup_id, stored_key_error, ApiJson, AppState, Caller};
use crate::error::{codes, ApiError};
use crate::firebase::{self, TokenError};
use crate::model::Client;
use crate::store::PutKeyOutcome;

/// The Firebase enclave's routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/backup/encrypt-key", put(put_encryption_key).get(get_encryption_key))
}

/// The header carrying the user's Firebase ID token on the enclave routes.
pub const FIREBASE_TOKEN_HEADER: &str = "x-firebase-token";

/// An authenticated client whose request carries a valid Firebase ID token
/// for the client's Firebase project. Extracting it checks, in order: the
/// API key (and rate limit), that the client has a Firebase project, the token.
pub struct FirebaseCaller {
    /// The client.
    pub client: Client,
    /// The verified token's user.
    pub user: firebase::Verified,
}

fn token_error(error: TokenError) -> ApiError {
    match error {
        TokenError::Invalid(m) => ApiError::new(StatusCode::UNAUTHORIZED, codes::FIREBASE_TOKEN_INVALID, m),
        TokenError::Expired => ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::FIREBASE_TOKEN_EXPIRED,
            "the Firebase ID token has expired (exp is past); get a fresh one from Firebase Auth",
        ),
        TokenError::Reauthenticate(m) => {
            ApiError::new(StatusCode::UNAUTHORIZED, codes::FIREBASE_REAUTHENTICATION_REQUIRED, m)
        }
        TokenError::KeysUnavailable(m) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, codes::FIREBASE_KEYS_UNAVAILABLE, m)
        }
    }
}

impl FromRequestParts<Arc<AppState>> for FirebaseCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let Caller(client) = Caller::from_request_parts(parts, state).await?;
        let Some(project_id) = client.firebase_project_id.clone() else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                codes::FIREBASE_NOT_CONFIGURED,
                "this client has no Firebase project; the operator sets one with \
                 `set-firebase-project --client-id … --firebase-project-id …`",
            ));
        };
        let token = match parts.headers.get(FIREBASE_TOKEN_HEADER) {
            None => None,
            Some(value) => Some(value.to_str().map_err(|_| {
                token_error(TokenError::Invalid("the X-Firebase-Token header is not ASCII text".into()))
            })?),
        };
        let token = token.map(str::trim).filter(|t| !t.is_empty()).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                codes::FIREBASE_TOKEN_MISSING,
                "send the user's Firebase ID token in the X-Firebase-Token header",
            )
        })?;
        let user = firebase::verify(&state.firebase_keys, token, &project_id, firebase::unix_now())
            .await
            .map_err(token_error)?;
        Ok(Self { client, user })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PutEncryptionKeyRequest {
    backup_id: String,
    encryption_key: Zeroizing<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EncryptionKeyQuery {
    backup_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BackupIdResponse {
    backup_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EncryptionKeyResponse {
    backup_id: String,
    encryption_key: Zeroizing<String>,
}

fn encryption_key_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::ENCRYPTION_KEY_NOT_FOUND,
        "no encryption key with this backupId for this Firebase user",
    )
}

/// `PUT /v1/backup/encrypt-key`: stores a backup's 32-byte key for the
/// token's user. The same key again is harmless; another key for a stored
/// backup id is 409 `BACKUP_ID_EXISTS` (keys are never overwritten).
async fn put_encryption_key(
    caller: FirebaseCaller,
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<PutEncryptionKeyRequest>,
) -> Result<Json<BackupIdResponse>, ApiError> {
    let backup_id = backup_id(&body.backup_id)?;
    let key = Zeroizing::new(Base64UrlUnpadded::decode_vec(&body.encryption_key).unwrap_or_default());
    if key.len() != 32 {
        return Err(ApiError::invalid("encryptionKey must be exactly 32 bytes in unpadded base64url (43 characters)"));
    }
    let outcome =
        state.store.put_firebase_key(state.kms.as_ref(), &caller.client.id, &caller.user.uid, &backup_id, &key).await?;
    match outcome {
        PutKeyOutcome::Stored | PutKeyOutcome::AlreadyStored => Ok(Json(BackupIdResponse { backup_id })),
        PutKeyOutcome::Conflict => Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::BACKUP_ID_EXISTS,
            "another encryption key is stored for this backupId; keys are never replaced (a new backup gets a new backupId)",
        )),
    }
}

/// `GET /v1/backup/encrypt-key?backupId=…`: the token's user's key for
/// this backup id; needs a sign-in within `--firebase-max-auth-age`.
async fn get_encryption_key(
    caller: FirebaseCaller,
    State(state): State<Arc<AppState>>,
    query: Result<Query<EncryptionKeyQuery>, QueryRejection>,
) -> Result<Json<EncryptionKeyResponse>, ApiError> {
    caller.user.check_fresh(firebase::unix_now(), state.firebase_max_auth_age_secs).map_err(token_error)?;
    let Query(query) = query.map_err(|e| ApiError::invalid(format!("query: {}", e.body_text())))?;
    let backup_id = backup_id(&query.backup_id)?;
    let key = state
        .store
        .firebase_key(state.kms.as_ref(), &caller.client.id, &caller.user.uid, &backup_id)
        .await
        .map_err(|e| stored_key_error(&caller.client.id, "Firebase", e))?
        .ok_or_else(encryption_key_not_found)?;
    Ok(Json(EncryptionKeyResponse {
        backup_id,
        encryption_key: Zeroizing::new(Base64UrlUnpadded::encode_string(&key)),
    }))
}
