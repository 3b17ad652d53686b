//! The HTTP API: router, authentication, request validation, handlers and
//! the request log.
//!
//! Every `/api` route needs `Authorization: Bearer <key>`; authentication
//! runs before the path and the body are looked at, so a caller without a
//! key learns nothing but 401. Every query is scoped to the caller's client:
//! another client's pair id answers exactly like an unknown id (404).
//!
//! Request bodies are JSON with camelCase fields; unknown fields are
//! rejected (`INVALID_REQUEST`), never ignored, so a misspelt field cannot
//! silently fall back to a default.
//!
//! CORS, the static demo page and the demo key are in [`crate::web`].

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::{Json, Router};
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use wallet_backup_core::format;
use zeroize::Zeroizing;

use crate::apikey;
use crate::error::{codes, ApiError, ErrorCode};
use crate::firebase::{self, TokenError};
use crate::kms::Kms;
use crate::model::{BackupMethod, Client, CustodianStorage, PairStatus};
use crate::passkey;
use crate::ratelimit::RateLimiter;
use crate::seal;
use crate::store::{Pair, PutKeyOutcome, Store, StoreError, Transition};
use crate::util::{is_hex, rfc3339};
use crate::web::{self, AllowedOrigins, DemoKey, Statics};
use crate::webhook::{Deliverer, Delivery};

/// Largest accepted `cipherText`, in bytes: the longest a valid envelope can
/// be (wallet-backup-core's `MAX_TEXT_LEN`, FORMAT.md §7).
pub const MAX_CIPHER_TEXT: usize = format::MAX_TEXT_LEN;
/// Largest custodian half the module backs up, in bytes (core's largest plaintext, 1 MiB).
pub const MAX_CUSTODIAN_HALF: usize = format::MAX_PLAINTEXT_LEN;
/// Largest accepted `custodianShare`, in bytes: the base64url text
/// (unpadded) of the largest half, 1,398,102 characters.
pub const MAX_CUSTODIAN_SHARE: usize = (4 * MAX_CUSTODIAN_HALF).div_ceil(3);
/// Largest accepted request body: a maximal cipherText or custodian share,
/// plus room for the JSON around it.
pub const BODY_LIMIT: usize =
    if MAX_CIPHER_TEXT > MAX_CUSTODIAN_SHARE { MAX_CIPHER_TEXT } else { MAX_CUSTODIAN_SHARE } + 64 * 1024;

const _: () = assert!(MAX_CUSTODIAN_SHARE == 1_398_102);

/// What every handler shares.
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The KMS sealing custodian shares.
    pub kms: Arc<dyn Kms>,
    /// Per-key rate limit.
    pub limiter: RateLimiter,
    /// Per-source rate limit of requests without a valid key ([`crate::ratelimit::limit_anonymous`]).
    pub anonymous_limiter: Arc<RateLimiter<crate::listener::Source>>,
    /// Delivers custodian shares of `WEBHOOK` clients.
    pub webhook: Deliverer,
    /// Firebase's public keys, for the Firebase enclave's ID tokens.
    pub firebase_keys: firebase::KeyStore,
    /// Key release needs a Firebase sign-in at most this many seconds old.
    pub firebase_max_auth_age_secs: u64,
    /// The passkey enclave's default relying party and ceremony lifetime.
    pub passkey: crate::passkey::PasskeyConfig,
}

/// What the router serves beside the API.
#[derive(Debug, Clone, Default)]
pub struct Web {
    /// Static files (the demo page).
    pub statics: Option<Statics>,
    /// Origins whose pages may call the API (CORS).
    pub allowed_origins: AllowedOrigins,
    /// The key `GET /demo-config.json` gives out; without it that path is unknown.
    pub demo_key: Option<DemoKey>,
    /// The development stand-ins' origins (Firebase issuer, Drive, …): named in
    /// `/demo-config.json` and allowed in the page's `connect-src`.
    pub demo_origins: web::DemoOrigins,
}

/// Builds the service's router.
pub fn router(state: Arc<AppState>, web: Web) -> Router {
    let api = Router::new()
        .route("/api/v3/clients/me", get(get_me))
        .route("/api/v3/clients/me/wallet", get(get_wallet))
        .route("/api/v3/clients/me/backup-share-pairs", post(create_pair))
        .route("/api/v3/clients/me/backup-share-pairs/{id}/cipher-text", put(put_cipher_text))
        .route("/api/v3/clients/me/backup-share-pairs/{id}/confirm", post(confirm_pair))
        .route("/api/v3/clients/me/backup-share-pairs/{id}/custodian-share", get(get_custodian_share))
        .route("/api/v3/clients/me/custodian-shares/{backup_id}", get(get_custodian_share_by_backup_id))
        .route("/api/v3/clients/me/backups/{method}", get(get_latest_backup))
        .route("/api/v2/clients/me/wallet/stored-client-backup-share", put(put_stored_client_backup_share))
        .route("/v1/backup/encrypt-key", put(put_encryption_key).get(get_encryption_key))
        .route("/passkeys/status", get(passkey::status))
        .route("/passkeys/begin-registration", post(passkey::begin_registration))
        .route("/passkeys/finish-registration", post(passkey::finish_registration))
        .route("/passkeys/begin-login", post(passkey::begin_login))
        .route("/passkeys/finish-login/write", post(passkey::finish_login_write))
        .route("/passkeys/finish-login/read", post(passkey::finish_login_read))
        .route("/api/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed);
    let app = match web.statics {
        Some(statics) => api.fallback_service(web::static_files(statics, &web.demo_origins.origins())),
        None => api.fallback(not_found),
    };
    let app = web::with_cors(app, &web.allowed_origins);
    // Added after the CORS layer, so other origins cannot read the key.
    let origins = Arc::new(web.demo_origins);
    let app = match web.demo_key {
        Some(key) => app.route(
            "/demo-config.json",
            get(move |headers, uri| web::demo_config(key.clone(), origins.clone(), headers, uri))
                .fallback(method_not_allowed),
        ),
        None => app,
    };
    let anonymous_limiter = state.anonymous_limiter.clone();
    app.layer(middleware::from_fn(crate::listener::answer_body_timeouts))
        .layer(middleware::from_fn_with_state(anonymous_limiter, crate::ratelimit::limit_anonymous))
        .layer(middleware::from_fn(log_request))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::internal(&"request handler panicked").into_response()
        }))
        // Answers carry shares, cipherTexts and keys: no cache (browser, proxy) may keep one.
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::route_not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

// ---------------------------------------------------------------- logging

/// Filled in by authentication, read by the request log.
#[derive(Clone, Default)]
struct ClientSlot(Arc<OnceLock<String>>);

/// Logs one line per request: method, route template (never the raw path),
/// status, error code, latency, client id. Never headers, keys or bodies.
async fn log_request(mut request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let slot = ClientSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
    let client = slot.0.get().map_or("-", String::as_str);
    tracing::info!(
        target: "wallet_backup_service::request",
        %method,
        route = %route.as_deref().unwrap_or("<unmatched>"),
        status,
        code,
        latency_ms = start.elapsed().as_secs_f64() * 1000.0,
        %client,
        "request"
    );
    response
}

// ---------------------------------------------------------------- extractors

/// The authenticated caller. Extracting it checks the API key and takes a
/// rate-limit token.
pub struct Caller(pub Client);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let key = header.and_then(apikey::from_authorization).ok_or_else(ApiError::unauthorized)?;
        let key_hash = apikey::hash(key);
        let client = state.store.client_by_key_hash(&key_hash).await?.ok_or_else(ApiError::unauthorized)?;
        if let Some(slot) = parts.extensions.get::<ClientSlot>() {
            let _ = slot.0.set(client.id.clone());
        }
        if let Some(authenticated) = parts.extensions.get::<crate::ratelimit::Authenticated>() {
            authenticated.set();
        }
        state.limiter.check(&key_hash).map_err(|wait| ApiError::rate_limited(wait.as_secs_f64().ceil() as u64))?;
        Ok(Self(client))
    }
}

/// `Json<T>` whose rejections are [`ApiError`]s.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(rejection.into()),
        }
    }
}

// ---------------------------------------------------------------- shapes

/// `GET /api/v3/clients/me`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MeResponse {
    id: String,
    name: String,
    managed_backups: bool,
    custodian_storage: CustodianStorage,
}

/// A pair as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PairResponse {
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
}

// ---------------------------------------------------------------- validation

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
    let (method, backup_id) = format::method_and_backup_id(text)
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

// ---------------------------------------------------------------- handlers

async fn get_me(Caller(client): Caller) -> Json<MeResponse> {
    Json(MeResponse {
        id: client.id,
        name: client.name,
        managed_backups: client.managed_backups,
        custodian_storage: client.custodian_storage,
    })
}

async fn create_pair(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<CreatePairRequest>,
) -> Result<(StatusCode, Json<PairResponse>), ApiError> {
    if !is_hex(&body.backup_id, 32) {
        return Err(ApiError::invalid("backupId must be 32 hex characters (the envelope's 16-byte backup id)"));
    }
    let backup_id = body.backup_id.to_ascii_lowercase();
    if body.custodian_share.is_empty() || body.custodian_share.len() > MAX_CUSTODIAN_SHARE {
        return Err(ApiError::invalid(format!(
            "custodianShare must be 1 to {MAX_CUSTODIAN_SHARE} bytes (the base64url text of a 1 MiB half)"
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
    // A WEBHOOK pair is inserted first (without the share): the backupId's
    // uniqueness is settled before anything leaves the service, and the
    // delivery names the pair.
    let share = webhook.is_none().then(|| body.custodian_share.as_bytes());
    let created =
        state.store.create_pair(state.kms.as_ref(), &client.id, body.backup_method, &backup_id, share).await?;
    let Some(pair) = created else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::BACKUP_ID_EXISTS,
            "this client already has a backup share pair with this backupId",
        ));
    };
    if let Some(webhook) = webhook {
        let delivery = Delivery {
            client_id: &client.id,
            pair_id: &pair.id,
            backup_method: pair.backup_method,
            backup_id: &pair.backup_id,
            custodian_share: &body.custodian_share,
        };
        if let Err(e) = state.webhook.deliver(&webhook.url, &webhook.secret, &delivery).await {
            tracing::warn!(client = %client.id, pair_id = %pair.id, error = %e, "custodian share not delivered; pair FAILED");
            state.store.mark_failed(&client.id, &pair.id).await?;
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                codes::CUSTODIAN_WEBHOOK_FAILED,
                format!("{e}; the pair is FAILED, start the backup again with a new backupId"),
            ));
        }
    }
    Ok((StatusCode::CREATED, Json(PairResponse::from(&pair))))
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
    let custodian_share = open_custodian_share(&state, &pair).await?;
    Ok(Json(CustodianShareByBackupIdResponse {
        pair_id: pair.id,
        backup_method: pair.backup_method,
        backup_id: pair.backup_id,
        status: pair.status,
        custodian_share,
    }))
}

/// Opens a pair's sealed custodian share: 409 `CUSTODIAN_SELF_MANAGED` when
/// it went to the operator's webhook, 500 `CUSTODIAN_SHARE_UNAVAILABLE` when
/// it does not open.
async fn open_custodian_share(state: &AppState, pair: &Pair) -> Result<Zeroizing<String>, ApiError> {
    let Some(sealed) = &pair.custodian_share else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::CUSTODIAN_SELF_MANAGED,
            "this pair's custodian share was delivered to the operator's custodian webhook; \
             the service does not hold it, ask the operator's backend",
        ));
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
    Ok(Json(BackupResponse {
        id: pair.id,
        backup_method: pair.backup_method,
        backup_id: pair.backup_id,
        cipher_text,
        created_at: rfc3339(pair.created_at),
        completed_at: pair.completed_at.map(rfc3339),
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

async fn get_wallet(
    Caller(client): Caller,
    State(state): State<Arc<AppState>>,
) -> Result<Json<WalletResponse>, ApiError> {
    let methods = state.store.completed_methods(&client.id).await?;
    // A completed pair is recoverable by construction: its custodian share
    // is held here (or, for a WEBHOOK pair, was acknowledged by the
    // operator's webhook before the pair was created) and its cipherText is stored (by the service when
    // managed, which `confirm` enforces; by the app, as it reported, when not).
    Ok(Json(WalletResponse {
        is_backed_up: !methods.is_empty(),
        is_recoverable: !methods.is_empty(),
        available_recovery_methods: methods,
    }))
}

// ---------------------------------------------------------------- Firebase enclave

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

/// A backup id (32 hex characters), lower-cased.
fn enclave_backup_id(backup_id: &str) -> Result<String, ApiError> {
    if is_hex(backup_id, 32) {
        Ok(backup_id.to_ascii_lowercase())
    } else {
        Err(ApiError::invalid("backupId must be 32 hex characters (the envelope's 16-byte backup id)"))
    }
}

/// The answer when reading an enclave key (`enclave`: "Firebase" or
/// "passkey") failed: 500 `ENCRYPTION_KEY_UNAVAILABLE` when the stored key
/// does not open (logged, without the key); a database or KMS that cannot
/// serve is 503 as everywhere ([`ApiError`]'s `From<StoreError>`).
pub(crate) fn stored_key_error(client_id: &str, enclave: &str, error: StoreError) -> ApiError {
    match error {
        StoreError::Seal(e) if !seal_unavailable(&e) => {
            tracing::error!(client = %client_id, error = %e, "{enclave} enclave key does not open");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                codes::ENCRYPTION_KEY_UNAVAILABLE,
                "the stored encryption key cannot be opened",
            )
        }
        other => other.into(),
    }
}

/// Whether a seal failure is the KMS being unavailable (503), not a record that does not open.
fn seal_unavailable(error: &seal::SealError) -> bool {
    matches!(error, seal::SealError::Kms(crate::kms::KmsError::Unavailable(_)))
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
    let backup_id = enclave_backup_id(&body.backup_id)?;
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
    let backup_id = enclave_backup_id(&query.backup_id)?;
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
