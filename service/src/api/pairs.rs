//! Backup share pairs (`/api/v3/clients/me/…`): create a pair with its
//! custodian share (sealed here, or delivered to the operator's webhook),
//! store its cipherText, confirm it; read a custodian share back (by pair
//! or by backup id) and the newest completed backup of a method. A pair
//! made with `pinGuard` is guess-limited: its custodian share is released
//! only by the guard's unlock ([`super::pin_guard`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::pin_guard::{proof_required, NewPinGuard, PinGuardSummary};
use super::{seal_unavailable, ApiJson, AppState, Caller, MAX_CIPHER_TEXT, MAX_CUSTODIAN_SHARE};
use crate::error::{codes, ApiError};
use crate::model::{BackupMethod, CustodianStorage, PairStatus};
use crate::seal;
use crate::store::{NewCustodianShare, Pair, StoreError, Transition, WebhookSetting};
use crate::util::{is_hex, rfc3339};
use crate::webhook::{self, Delivery, Picked};

/// The pairs' routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v3/clients/me/backup-share-pairs", post(create_pair))
        .route("/api/v3/clients/me/backup-share-pairs/{id}/cipher-text", put(put_cipher_text))
        .route("/api/v3/clients/me/backup-share-pairs/{id}/confirm", post(confirm_pair))
        .route("/api/v3/clients/me/backup-share-pairs/{id}/custodian-share", get(get_custodian_share))
        .route("/api/v3/clients/me/custodian-shares/{backup_id}", get(get_custodian_share_by_backup_id))
        .route("/api/v3/clients/me/backups/{method}", get(get_latest_backup))
}

/// A pair as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PairResponse {
    id: String,
    backup_method: BackupMethod,
    backup_id: String,
    status: PairStatus,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<String>,
}

impl From<&Pair> for PairResponse {
    fn from(p: &Pair) -> Self {
        Self {
            id: p.id.clone(),
            backup_method: p.backup_method,
            backup_id: p.backup_id.clone(),
            status: p.status,
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
            completed_at: p.completed_at.map(rfc3339),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreatePairRequest {
    backup_method: BackupMethod,
    backup_id: String,
    custodian_share: Zeroizing<String>,
    /// A guess-limited PIN's keys (`PASSWORD` only).
    #[serde(default)]
    pin_guard: Option<NewPinGuard>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CipherTextRequest {
    cipher_text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CustodianShareResponse {
    custodian_share: Zeroizing<String>,
}

/// `GET /api/v3/clients/me/custodian-shares/{backupId}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CustodianShareByBackupIdResponse {
    pair_id: String,
    backup_method: BackupMethod,
    backup_id: String,
    status: PairStatus,
    custodian_share: Zeroizing<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BackupResponse {
    id: String,
    backup_method: BackupMethod,
    backup_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cipher_text: Option<String>,
    created_at: String,
    completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pin_guard: Option<PinGuardSummary>,
}

/// A pair id from the path: ours are 32 lower-case hex characters; anything
/// else cannot exist, so it is "not found" without asking the database.
fn pair_id(id: &str) -> Result<&str, ApiError> {
    if is_hex(id, 32) && !id.bytes().any(|b| b.is_ascii_uppercase()) {
        Ok(id)
    } else {
        Err(ApiError::pair_not_found())
    }
}

fn invalid_cipher_text(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_CIPHERTEXT, message)
}

/// Checks that `text` is a `wbk1.` envelope (FORMAT.md §3) of this pair:
/// canonical base64url, magic `wbk`, version 1, the pair's method byte and
/// backup id, as wallet-backup-core reads them. The rest (checksum, AEAD) is
/// the client's to verify: the service cannot open the envelope and does
/// not need to.
fn check_cipher_text(text: &str, pair: &Pair) -> Result<(), ApiError> {
    if text.len() > MAX_CIPHER_TEXT {
        return Err(ApiError::invalid(format!("cipherText is longer than {MAX_CIPHER_TEXT} bytes")));
    }
    let (method, backup_id) = wallet_backup_core::method_and_backup_id(text)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_CIPHERTEXT, format!("cipherText: {e}")))?;
    if BackupMethod::from(method) != pair.backup_method {
        return Err(invalid_cipher_text("cipherText was made with another backup method than the pair's"));
    }
    if hex::encode(backup_id) != pair.backup_id {
        return Err(invalid_cipher_text("cipherText belongs to another backup than the pair's backupId"));
    }
    Ok(())
}

fn transition_response(
    outcome: Transition,
    conflict: impl FnOnce(&Pair) -> ApiError,
) -> Result<Json<PairResponse>, ApiError> {
    match outcome {
        Transition::Done(pair) => Ok(Json(PairResponse::from(&pair))),
        Transition::NotFound => Err(ApiError::pair_not_found()),
        Transition::Conflict(pair) => Err(conflict(&pair)),
    }
}

fn wrong_state(pair: &Pair, what: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        codes::INVALID_PAIR_STATE,
        format!("{what}: the pair is {}", pair.status.as_str()),
    )
}

async fn create_pair(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<CreatePairRequest>,
) -> Result<(StatusCode, Json<PairResponse>), ApiError> {
    let attempt = crate::metrics::BackupAttempt::start(body.backup_method);
    if !is_hex(&body.backup_id, 32) {
        return Err(ApiError::invalid("backupId must be 32 hex characters (the envelope's 16-byte backup id)"));
    }
    let backup_id = body.backup_id.to_ascii_lowercase();
    let pin_guard_keys = match &body.pin_guard {
        None => None,
        Some(_) if body.backup_method != BackupMethod::from(wallet_backup_core::MethodId::Password) => {
            return Err(ApiError::invalid("pinGuard is only for backupMethod PASSWORD"));
        }
        Some(guard) => Some(guard.keys()?),
    };
    if body.custodian_share.is_empty() || body.custodian_share.len() > MAX_CUSTODIAN_SHARE {
        return Err(ApiError::invalid(format!(
            "custodianShare must be 1 to {MAX_CUSTODIAN_SHARE} bytes (the base64url text of the largest custodian half)"
        )));
    }
    let webhook = match client.custodian_storage {
        CustodianStorage::Managed => None,
        CustodianStorage::Webhook => Some(
            state
                .store
                .custodian_webhook(state.kms.as_ref(), &client.id)
                .await?
                .ok_or_else(|| ApiError::internal(&"WEBHOOK client without a webhook setting"))?,
        ),
    };
    // A WEBHOOK pair is inserted first (with only the share's digest): the
    // backupId's uniqueness is settled before anything leaves the service,
    // and the share string names the pair.
    let digest = webhook::share_digest(body.custodian_share.as_bytes());
    let share = match webhook {
        None => NewCustodianShare::Sealed(body.custodian_share.as_bytes()),
        Some(_) => NewCustodianShare::Webhook { digest: &digest },
    };
    let created = state
        .store
        .create_pair(
            state.kms.as_ref(),
            &client.id,
            body.backup_method,
            &backup_id,
            share,
            pin_guard_keys.as_deref().map(|k| &k[..]),
        )
        .await?;
    let Some(pair) = created else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::BACKUP_ID_EXISTS,
            "this client already has a backup share pair with this backupId",
        ));
    };
    if let Some(webhook) = webhook {
        if let Err(why) = deliver_and_check(&state, &webhook, &pair, &body.custodian_share).await {
            tracing::warn!(client = %client.id, pair_id = %pair.id, error = %why, "custodian share not kept by the operator; pair FAILED");
            state.store.mark_failed(&client.id, &pair.id).await?;
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                codes::CUSTODIAN_WEBHOOK_FAILED,
                format!("{why}; the pair is FAILED, start the backup again with a new backupId"),
            ));
        }
    }
    attempt.created();
    Ok((StatusCode::CREATED, Json(PairResponse::from(&pair))))
}

/// Portal's contract, step by step: POST the share string to
/// `<base>/backup`, then `<base>/backup/fetch` must list it byte for byte.
/// Anything else is why the operator did not keep it.
async fn deliver_and_check(
    state: &AppState,
    webhook: &WebhookSetting,
    pair: &Pair,
    custodian_share: &str,
) -> Result<(), String> {
    let share = webhook::share_document(&pair.id, &pair.backup_id, pair.backup_method, custodian_share);
    let delivery = Delivery { backup_method: pair.backup_method, client_id: &pair.client_id, share: &share };
    state.webhook.deliver(&webhook.url, &webhook.secret, &delivery).await.map_err(|e| e.to_string())?;
    let kept = state
        .webhook
        .fetch(&webhook.url, &webhook.secret, &pair.client_id)
        .await
        .map_err(|e| format!("the custodian webhook took the share, but /backup/fetch failed: {e}"))?;
    if kept.iter().any(|s| s.as_bytes() == share.as_bytes()) {
        Ok(())
    } else {
        Err("the custodian webhook took the share, but /backup/fetch does not list it as delivered".into())
    }
}

async fn put_cipher_text(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CipherTextRequest>,
) -> Result<Json<PairResponse>, ApiError> {
    let id = pair_id(&id)?;
    if !client.managed_backups {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::MANAGED_BACKUPS_DISABLED,
            "managed backups are off for this client: the app keeps the cipherText and reports it \
             with PUT /api/v2/clients/me/wallet/stored-client-backup-share",
        ));
    }
    let pair = state.store.pair(&client.id, id).await?;
    let pair = pair.ok_or_else(ApiError::pair_not_found)?;
    check_cipher_text(&body.cipher_text, &pair)?;
    let outcome = state.store.attach_cipher_text(&client.id, id, &body.cipher_text).await?;
    transition_response(outcome, |p| wrong_state(p, "the cipherText can no longer be changed"))
}

async fn confirm_pair(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<PairResponse>, ApiError> {
    let id = pair_id(&id)?;
    let outcome = state.store.confirm(&client.id, id, client.managed_backups).await?;
    if let Transition::Done(pair) = &outcome {
        crate::metrics::backup(pair.backup_method, crate::metrics::BackupOutcome::Confirmed);
    }
    transition_response(outcome, |p| {
        let need = if client.managed_backups {
            "cannot confirm before the cipherText is stored (PUT …/cipher-text)"
        } else {
            "cannot confirm before the app reported the cipherText stored"
        };
        wrong_state(p, need)
    })
}

async fn get_custodian_share(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<CustodianShareResponse>, ApiError> {
    let id = pair_id(&id)?;
    let pair = state.store.pair(&client.id, id).await?;
    let pair = pair.ok_or_else(ApiError::pair_not_found)?;
    refuse_guarded(&state, &pair).await?;
    let custodian_share = open_custodian_share(&state, &pair).await?;
    Ok(Json(CustodianShareResponse { custodian_share }))
}

/// The custodian share of the client's pair with this backup id: what the
/// module needs when it holds an envelope (whose header names the backup
/// id) but not the pair id. Any status but `FAILED`.
async fn get_custodian_share_by_backup_id(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    Path(backup_id): Path<String>,
) -> Result<Json<CustodianShareByBackupIdResponse>, ApiError> {
    if !is_hex(&backup_id, 32) {
        return Err(ApiError::invalid("backupId must be 32 hex characters (the envelope's 16-byte backup id)"));
    }
    let backup_id = backup_id.to_ascii_lowercase();
    let pair = state.store.pair_by_backup_id(&client.id, &backup_id).await?;
    let pair = pair.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, codes::PAIR_NOT_FOUND, "no backup share pair with this backupId")
    })?;
    if pair.status == PairStatus::Failed {
        return Err(wrong_state(&pair, "a FAILED pair is never used for recovery"));
    }
    refuse_guarded(&state, &pair).await?;
    let custodian_share = open_custodian_share(&state, &pair).await?;
    Ok(Json(CustodianShareByBackupIdResponse {
        pair_id: pair.id,
        backup_method: pair.backup_method,
        backup_id: pair.backup_id,
        status: pair.status,
        custodian_share,
    }))
}

/// 403 `PIN_PROOF_REQUIRED` for a guess-limited pair: its custodian share
/// is released only by the guard's unlock.
async fn refuse_guarded(state: &AppState, pair: &Pair) -> Result<(), ApiError> {
    match state.store.pin_guard(&pair.client_id, &pair.id).await? {
        Some(_) => Err(proof_required()),
        None => Ok(()),
    }
}

/// A pair's custodian share: opened here, or fetched from the operator's
/// webhook. 500 `CUSTODIAN_SHARE_UNAVAILABLE` when a sealed one does not
/// open; for a `WEBHOOK` pair, see [`fetch_custodian_share`].
pub(super) async fn open_custodian_share(state: &AppState, pair: &Pair) -> Result<Zeroizing<String>, ApiError> {
    let Some(sealed) = &pair.custodian_share else {
        return fetch_custodian_share(state, pair).await;
    };
    let aad = seal::associated_data(seal::PURPOSE_CUSTODIAN_SHARE, &pair.client_id, &pair.id);
    let plain = seal::open(state.kms.as_ref(), sealed, &aad).await.map_err(|e| {
        if seal_unavailable(&e) {
            return ApiError::from(StoreError::Seal(e));
        }
        tracing::error!(pair_id = %pair.id, error = %e, "custodian share does not open");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::CUSTODIAN_SHARE_UNAVAILABLE,
            "the stored custodian share cannot be opened",
        )
    })?;
    let text = std::str::from_utf8(&plain).map_err(|_| ApiError::internal(&"custodian share is not UTF-8"))?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// A `WEBHOOK` pair's custodian share, from the operator's
/// `/backup/fetch`: the entry naming this pair and backup id with the bytes
/// that were delivered. 503 `CUSTODIAN_WEBHOOK_FAILED` when the operator
/// cannot be asked (down, slow, 4xx, an answer that is not
/// `{ backupShares }`); 404 `CUSTODIAN_SHARE_NOT_FOUND` when it answers
/// without this pair's share; 409 `CUSTODIAN_SELF_MANAGED` when the client
/// has no webhook any more.
async fn fetch_custodian_share(state: &AppState, pair: &Pair) -> Result<Zeroizing<String>, ApiError> {
    let Some(webhook) = state.store.custodian_webhook(state.kms.as_ref(), &pair.client_id).await? else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::CUSTODIAN_SELF_MANAGED,
            "this pair's custodian share was delivered to the operator's custodian webhook, and the client \
             has no webhook any more; ask the operator's backend",
        ));
    };
    let shares = state.webhook.fetch(&webhook.url, &webhook.secret, &pair.client_id).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::CUSTODIAN_WEBHOOK_FAILED,
            format!("the custodian share is kept by the operator, who could not be asked: {e}"),
        )
        .retry_after(5)
    })?;
    let digest = pair.custodian_share_digest.as_deref();
    match webhook::pick_share(&shares, &pair.id, &pair.backup_id, pair.backup_method, digest) {
        Picked::Found(share) => Ok(share),
        Picked::Missing => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            codes::CUSTODIAN_SHARE_NOT_FOUND,
            "the operator's custodian webhook no longer keeps this backup's custodian share",
        )),
        Picked::Altered => {
            tracing::warn!(client = %pair.client_id, pair_id = %pair.id,
                "the operator's /backup/fetch names this pair, but not with the share delivered");
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                codes::CUSTODIAN_SHARE_NOT_FOUND,
                "the operator's custodian webhook keeps no intact custodian share of this backup \
                 (it names the pair, with other bytes than were delivered)",
            ))
        }
    }
}

async fn get_latest_backup(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    Path(method): Path<String>,
) -> Result<Json<BackupResponse>, ApiError> {
    let method = BackupMethod::parse(&method).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_BACKUP_METHOD,
            "backup method must be one of PASSWORD, PASSKEY, GDRIVE, ICLOUD, FIREBASE, CUSTOM",
        )
    })?;
    let latest = state.store.latest_completed(&client.id, method).await?;
    let (pair, cipher_text) = latest.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, codes::NO_BACKUP, "no completed backup with this method")
    })?;
    let pin_guard = state.store.pin_guard(&client.id, &pair.id).await?;
    Ok(Json(BackupResponse {
        pin_guard: pin_guard.as_ref().map(PinGuardSummary::from),
        id: pair.id,
        backup_method: pair.backup_method,
        backup_id: pair.backup_id,
        cipher_text,
        created_at: rfc3339(pair.created_at),
        completed_at: pair.completed_at.map(rfc3339),
    }))
}
