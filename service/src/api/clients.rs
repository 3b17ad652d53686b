//! The client itself: who it is (`GET /api/v3/clients/me`), whether it is
//! backed up (`GET /api/v3/clients/me/wallet`, with the newest password
//! backup's guess count when it is guess-limited), and the self-managed report
//! that the app stored the cipherText (`PUT
//! /api/v2/clients/me/wallet/stored-client-backup-share`, Portal's v2 path).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::pairs::PairResponse;
use super::pin_guard::PinGuardSummary;
use super::{ApiJson, AppState, Caller};
use crate::error::{codes, ApiError};
use crate::model::{BackupMethod, CustodianStorage};

/// The client's routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v3/clients/me", get(get_me))
        .route("/api/v3/clients/me/wallet", get(get_wallet))
        .route("/api/v2/clients/me/wallet/stored-client-backup-share", put(put_stored_client_backup_share))
}

/// `GET /api/v3/clients/me`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MeResponse {
    id: String,
    name: String,
    managed_backups: bool,
    custodian_storage: CustodianStorage,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StoredRequest {
    backup_method: BackupMethod,
    success: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WalletResponse {
    is_backed_up: bool,
    is_recoverable: bool,
    available_recovery_methods: Vec<BackupMethod>,
    /// The newest completed password backup's guess count, when it is guess-limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pin_guard: Option<PinGuardSummary>,
}

async fn get_me(Caller(client): Caller) -> Json<MeResponse> {
    Json(MeResponse {
        id: client.id,
        name: client.name,
        managed_backups: client.managed_backups,
        custodian_storage: client.custodian_storage,
    })
}

async fn get_wallet(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
) -> Result<Json<WalletResponse>, ApiError> {
    let methods = state.store.completed_methods(&client.id).await?;
    let mut pin_guard = None;
    if methods.contains(&BackupMethod::from(wallet_backup_core::MethodId::Password)) {
        pin_guard = state.store.newest_password_guard(&client.id).await?.as_ref().map(PinGuardSummary::from);
    }
    // A completed pair is recoverable by construction: its custodian share
    // is held here (or, for a WEBHOOK pair, was acknowledged by the
    // operator's webhook before the pair was created) and its cipherText is stored (by the service when
    // managed, which `confirm` enforces; by the app, as it reported, when not).
    Ok(Json(WalletResponse {
        is_backed_up: !methods.is_empty(),
        is_recoverable: !methods.is_empty(),
        available_recovery_methods: methods,
        pin_guard,
    }))
}

async fn put_stored_client_backup_share(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<StoredRequest>,
) -> Result<Json<PairResponse>, ApiError> {
    let pair = state.store.report_stored(&client.id, body.backup_method, body.success).await?.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, codes::NO_PENDING_BACKUP, "no pending backup with this method")
    })?;
    // A WEBHOOK client's custodian share was delivered when its pair was
    // created (see `create_pair`); nothing is left to send here.
    Ok(Json(PairResponse::from(&pair)))
}
