//! Guess-limited PINs (`/api/v3/clients/me/pin-guards/{backupId}/…`): the
//! status of a pair's guard, the OPRF evaluation that counts one guess, and
//! the unlock that checks the module's proof, resets the count and releases
//! the custodian share. The protocol is in service/README.md ("Guess-limited
//! PINs") and the cryptography in FORMAT.md; the guard's storage in
//! `store/pin_guard.rs`.
//!
//! Every evaluation is counted (committed) before it is answered: a storage
//! failure answers 503 and sends no evaluation. The OPRF key and the unlock
//! key are unsealed for one request and zeroized when it ends.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64ct::{Base64UrlUnpadded, Encoding};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use voprf::{BlindedElement, OprfServer, Ristretto255};
use zeroize::Zeroizing;

use super::pairs::open_custodian_share;
use super::{backup_id, seal_unavailable, ApiJson, AppState, Caller};
use crate::error::{codes, ApiError};
use crate::model::{BackupMethod, PairStatus};
use crate::seal;
use crate::store::{pin_guard_aad, Guess, Pair, PinGuard, StoreError, CHALLENGE_LEN, PIN_GUARD_KEYS_LEN};

/// The label the unlock proof starts with (FORMAT.md): `HMAC-SHA256(U, label ‖ backup id ‖ challenge)`.
pub const UNLOCK_PROOF_LABEL: &[u8] = b"wallet-backup/v1/pin-guard/unlock";

/// Bytes of an OPRF key, an unlock key, a ristretto255 element and a proof.
const KEY_LEN: usize = 32;

/// The guards' routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v3/clients/me/pin-guards/{backup_id}", get(status))
        .route("/api/v3/clients/me/pin-guards/{backup_id}/evaluate", post(evaluate))
        .route("/api/v3/clients/me/pin-guards/{backup_id}/unlock", post(unlock))
}

/// `pinGuard` of a new pair: the OPRF key and the unlock key, base64url.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct NewPinGuard {
    oprf_key: Zeroizing<String>,
    unlock_key: Zeroizing<String>,
}

impl NewPinGuard {
    /// The keys to seal (`k ‖ U`), checked: 400 `INVALID_REQUEST` unless the
    /// OPRF key is a canonical non-zero ristretto255 scalar and the unlock
    /// key 32 bytes.
    pub(super) fn keys(&self) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        let oprf_key = bytes32(&self.oprf_key, "pinGuard.oprfKey")?;
        OprfServer::<Ristretto255>::new_with_key(&oprf_key[..]).map_err(|_| {
            ApiError::invalid(
                "pinGuard.oprfKey must be a canonical, non-zero ristretto255 scalar (32 bytes, little-endian)",
            )
        })?;
        let unlock_key = bytes32(&self.unlock_key, "pinGuard.unlockKey")?;
        let mut keys = Zeroizing::new(Vec::with_capacity(PIN_GUARD_KEYS_LEN));
        keys.extend_from_slice(&oprf_key[..]);
        keys.extend_from_slice(&unlock_key[..]);
        Ok(keys)
    }
}

/// `pinGuard` in the answer of `GET …/backups/{method}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PinGuardSummary {
    guess_limit: i64,
    guesses_left: i64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    destroyed: bool,
}

impl From<&PinGuard> for PinGuardSummary {
    fn from(guard: &PinGuard) -> Self {
        Self { guess_limit: guard.guess_limit, guesses_left: guard.guesses_left(), destroyed: guard.destroyed() }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusResponse {
    backup_id: String,
    pair_id: String,
    status: PairStatus,
    guess_limit: i64,
    guesses_left: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EvaluateRequest {
    blinded_element: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EvaluateResponse {
    evaluated_element: String,
    challenge: String,
    guess_limit: i64,
    guesses_left: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UnlockRequest {
    challenge: String,
    proof: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UnlockResponse {
    pair_id: String,
    backup_method: BackupMethod,
    backup_id: String,
    status: PairStatus,
    custodian_share: Zeroizing<String>,
    guess_limit: i64,
    guesses_left: i64,
}

/// 32 bytes from base64url without padding (43 characters); else 400 `INVALID_REQUEST` naming `what`.
fn bytes32(text: &str, what: &str) -> Result<Zeroizing<[u8; KEY_LEN]>, ApiError> {
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    let ok = text.len() == 43 && matches!(Base64UrlUnpadded::decode(text, &mut out[..]), Ok(b) if b.len() == KEY_LEN);
    if ok {
        Ok(out)
    } else {
        Err(ApiError::invalid(format!("{what} must be 32 bytes in base64url without padding (43 characters)")))
    }
}

/// 403 `PIN_PROOF_REQUIRED`: what a custodian-share read of a guarded pair answers.
pub(super) fn proof_required() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        codes::PIN_PROOF_REQUIRED,
        "this backup is guess-limited: its custodian share is released only by \
         POST /api/v3/clients/me/pin-guards/{backupId}/unlock",
    )
}

fn exhausted() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        codes::PIN_GUESSES_EXHAUSTED,
        "the guesses of this guess-limited backup ran out and its key is destroyed: it cannot be opened any more",
    )
    .with_guesses_left(0)
}

fn challenge_invalid() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        codes::PIN_CHALLENGE_INVALID,
        "this challenge is not the open one (used, or replaced by a newer evaluation): evaluate again",
    )
}

/// The client's pair with this backup id and its live guard: 404
/// `PAIR_NOT_FOUND` (no pair, or a `FAILED` one), 409 `NOT_GUESS_LIMITED`
/// (no guard), 410 `PIN_GUESSES_EXHAUSTED` (destroyed).
async fn live_guard(state: &AppState, client_id: &str, backup_id_text: &str) -> Result<(Pair, PinGuard), ApiError> {
    let backup_id = backup_id(backup_id_text)?;
    let pair = state.store.pair_by_backup_id(client_id, &backup_id).await?;
    let pair = pair.filter(|p| p.status != PairStatus::Failed).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, codes::PAIR_NOT_FOUND, "no backup share pair with this backupId")
    })?;
    let guard = state.store.pin_guard(client_id, &pair.id).await?.ok_or_else(|| {
        ApiError::new(StatusCode::CONFLICT, codes::NOT_GUESS_LIMITED, "this backup is not guess-limited")
    })?;
    if guard.destroyed() {
        return Err(exhausted());
    }
    Ok((pair, guard))
}

/// The guard's keys, unsealed: (OPRF key, unlock key). 503 when the KMS
/// cannot serve; 500 when they do not open (logged).
async fn open_keys(state: &AppState, guard: &PinGuard) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let Some(sealed) = &guard.sealed_keys else { return Err(exhausted()) };
    let aad = pin_guard_aad(&guard.client_id, &guard.pair_id);
    let keys = seal::open(state.kms.as_ref(), sealed, &aad).await.map_err(|e| {
        if seal_unavailable(&e) {
            return ApiError::from(StoreError::Seal(e));
        }
        tracing::error!(pair_id = %guard.pair_id, error = %e, "pin guard keys do not open");
        ApiError::internal_opaque()
    })?;
    if keys.len() != PIN_GUARD_KEYS_LEN {
        return Err(ApiError::internal(&"pin guard keys of the wrong length"));
    }
    Ok(keys)
}

/// `GET /api/v3/clients/me/pin-guards/{backupId}`.
async fn status(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    Path(backup_id): Path<String>,
) -> Result<Json<StatusResponse>, ApiError> {
    let (pair, guard) = live_guard(&state, &client.id, &backup_id).await?;
    Ok(Json(StatusResponse {
        backup_id: pair.backup_id,
        pair_id: pair.id,
        status: pair.status,
        guess_limit: guard.guess_limit,
        guesses_left: guard.guesses_left(),
    }))
}

/// `POST /api/v3/clients/me/pin-guards/{backupId}/evaluate` `{ blindedElement }`.
async fn evaluate(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    Path(backup_id): Path<String>,
    ApiJson(body): ApiJson<EvaluateRequest>,
) -> Result<Json<EvaluateResponse>, ApiError> {
    // The input first: a malformed one costs neither a KMS call nor a guess.
    let blinded = bytes32(&body.blinded_element, "blindedElement")?;
    let blinded = BlindedElement::<Ristretto255>::deserialize(&blinded[..]).map_err(|_| {
        ApiError::invalid("blindedElement must be a canonical ristretto255 element other than the identity")
    })?;
    let (pair, guard) = live_guard(&state, &client.id, &backup_id).await.inspect_err(|e| {
        if e.code() == codes::PIN_GUESSES_EXHAUSTED {
            crate::metrics::pin_guard_evaluation("exhausted");
        }
    })?;
    if guard.guesses_used >= guard.guess_limit {
        let destroyed = state.store.destroy_exhausted_pin_guard(&client.id, &pair.id).await?;
        crate::metrics::pin_guard_evaluation(if destroyed { "destroyed" } else { "exhausted" });
        return Err(exhausted());
    }
    let keys = open_keys(&state, &guard).await?;
    let server = OprfServer::<Ristretto255>::new_with_key(&keys[..KEY_LEN])
        .map_err(|_| ApiError::internal(&"stored OPRF key is not a valid scalar"))?;
    let evaluated = server.blind_evaluate(&blinded);
    drop(server);
    drop(keys);
    let mut challenge = [0u8; CHALLENGE_LEN];
    getrandom::fill(&mut challenge).map_err(|_| ApiError::from(StoreError::Random))?;
    let challenge = Base64UrlUnpadded::encode_string(&challenge);
    match state.store.count_pin_guess(&client.id, &pair.id, &challenge).await? {
        Guess::Counted { used, limit } => {
            crate::metrics::pin_guard_evaluation("evaluated");
            Ok(Json(EvaluateResponse {
                evaluated_element: Base64UrlUnpadded::encode_string(&evaluated.serialize()),
                challenge,
                guess_limit: limit,
                guesses_left: (limit - used).max(0),
            }))
        }
        Guess::Exhausted => {
            crate::metrics::pin_guard_evaluation("destroyed");
            Err(exhausted())
        }
        Guess::Gone => Err(ApiError::pair_not_found()),
    }
}

/// `POST /api/v3/clients/me/pin-guards/{backupId}/unlock` `{ challenge, proof }`.
async fn unlock(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    Path(backup_id): Path<String>,
    ApiJson(body): ApiJson<UnlockRequest>,
) -> Result<Json<UnlockResponse>, ApiError> {
    let challenge = bytes32(&body.challenge, "challenge")?;
    let proof = bytes32(&body.proof, "proof")?;
    let (pair, guard) = live_guard(&state, &client.id, &backup_id).await?;
    let challenge_text = Base64UrlUnpadded::encode_string(&challenge[..]);
    if guard.challenge.as_deref() != Some(challenge_text.as_str()) {
        crate::metrics::pin_guard_unlock("challenge_invalid");
        return Err(challenge_invalid());
    }
    let keys = open_keys(&state, &guard).await?;
    let backup_id_bytes =
        hex::decode(&pair.backup_id).map_err(|_| ApiError::internal(&"stored backup id is not hex"))?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&keys[KEY_LEN..])
        .map_err(|_| ApiError::internal(&"unlock key of the wrong length"))?;
    drop(keys);
    mac.update(UNLOCK_PROOF_LABEL);
    mac.update(&backup_id_bytes);
    mac.update(&challenge[..]);
    if mac.verify_slice(&proof[..]).is_err() {
        crate::metrics::pin_guard_unlock("wrong_proof");
        let now = state.store.refuse_pin_proof(&client.id, &pair.id, &challenge_text).await?;
        let left = now.as_ref().map_or(0, PinGuard::guesses_left);
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::WRONG_PASSWORD,
            "the proof does not match: the PIN was wrong (the challenge is used up; evaluate again)",
        )
        .with_guesses_left(left));
    }
    let Some(limit) = state.store.reset_pin_guard(&client.id, &pair.id, &challenge_text).await? else {
        crate::metrics::pin_guard_unlock("challenge_invalid");
        return Err(challenge_invalid());
    };
    crate::metrics::pin_guard_unlock("unlocked");
    let custodian_share = open_custodian_share(&state, &pair).await?;
    Ok(Json(UnlockResponse {
        pair_id: pair.id,
        backup_method: pair.backup_method,
        backup_id: pair.backup_id,
        status: pair.status,
        custodian_share,
        guess_limit: limit,
        guesses_left: limit,
    }))
}
