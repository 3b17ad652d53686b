//! The HTTP API: one router per resource, merged here; authentication, the
//! request log, and the limits every route shares.
//!
//! Every API route needs `Authorization: Bearer <key>`; authentication
//! runs before the path and the body are looked at, so a caller without a
//! key learns nothing but 401. Every query is scoped to the caller's client:
//! another client's pair id answers exactly like an unknown id (404).
//!
//! Request bodies are JSON with camelCase fields; unknown fields are
//! rejected (`INVALID_REQUEST`), never ignored, so a misspelt field cannot
//! silently fall back to a default.
//!
//! The resources ([`clients`], [`pairs`], [`pin_guard`], [`firebase`], [`passkey`]) keep
//! the paths of Portal's API that apps already call, which is why the
//! prefixes differ (see [`router`]). CORS, the static demo page and the demo
//! key are in [`crate::web`].

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use wallet_backup_core::{MAX_SHARES_LEN, MAX_TEXT_LEN};

use crate::apikey;
use crate::error::{codes, ApiError, ErrorCode};
use crate::kms::Kms;
use crate::model::Client;
use crate::ratelimit::RateLimiter;
use crate::seal;
use crate::store::{Store, StoreError};
use crate::util::is_hex;
use crate::web::{self, AllowedOrigins, Statics};
use crate::webhook::Deliverer;

mod clients;
mod firebase;
pub mod health;
mod pairs;
mod passkey;
mod pin_guard;

pub use firebase::{FirebaseCaller, FIREBASE_TOKEN_HEADER};

/// Largest accepted `cipherText`, in bytes: the longest a valid envelope can
/// be (wallet-backup-core's `MAX_TEXT_LEN`, FORMAT.md §7).
pub const MAX_CIPHER_TEXT: usize = MAX_TEXT_LEN;
/// Largest custodian half the module backs up, in bytes: as long as the
/// largest shares (core's `MAX_SHARES_LEN`, 2^20 − 32, FORMAT.md §2).
pub const MAX_CUSTODIAN_HALF: usize = MAX_SHARES_LEN;
/// Largest accepted `custodianShare`, in bytes: the base64url text
/// (unpadded) of the largest half, 1,398,059 characters (FORMAT.md §8.1).
pub const MAX_CUSTODIAN_SHARE: usize = (4 * MAX_CUSTODIAN_HALF).div_ceil(3);
/// Largest accepted request body: a maximal cipherText or custodian share,
/// plus room for the JSON around it.
pub const BODY_LIMIT: usize =
    if MAX_CIPHER_TEXT > MAX_CUSTODIAN_SHARE { MAX_CIPHER_TEXT } else { MAX_CUSTODIAN_SHARE } + 64 * 1024;

const _: () = assert!(MAX_CUSTODIAN_SHARE == 1_398_059);

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
    pub firebase_keys: crate::firebase::KeyStore,
    /// Key release needs a Firebase sign-in at most this many seconds old.
    pub firebase_max_auth_age_secs: u64,
    /// The passkey enclave's default relying party and ceremony lifetime.
    pub passkey: crate::passkey::PasskeyConfig,
    /// `GET /readyz`'s state.
    pub readiness: health::Readiness,
}

/// What the router serves beside the API.
#[derive(Debug, Clone, Default)]
pub struct Web {
    /// Static files (the demo page).
    pub statics: Option<Statics>,
    /// Origins whose pages may call the API (CORS).
    pub allowed_origins: AllowedOrigins,
    /// Development only: `GET /demo-config.json` and the stand-ins the demo page may connect to.
    #[cfg(feature = "dev")]
    pub demo: Option<crate::demo::Demo>,
}

/// Builds the service's router: the resources' routers merged, and what
/// every request goes through (the request log, limits, CORS, no caching).
///
/// The prefixes are the ones apps integrating Portal's managed backups
/// already call, kept so that no app path changes:
/// - `/api/v3/clients/me/…` ([`clients`], [`pairs`], [`pin_guard`]): the
///   client, its backup share pairs (Portal's v3 API) and their guess
///   limits (ours, beside them);
/// - `/api/v2/clients/me/wallet/stored-client-backup-share` ([`clients`]):
///   the self-managed report, still on Portal's v2 path;
/// - `/v1/backup/encrypt-key` ([`firebase`]): the Firebase key enclave,
///   on the path of Portal's Firebase enclave;
/// - `/passkeys/…` ([`passkey`]): the passkey key enclave, on the paths of
///   Portal's passkey enclave;
/// - `/healthz`, `/readyz` ([`health`]): for load balancers, without a key,
///   at the paths they usually probe.
pub fn router(state: Arc<AppState>, web: Web) -> Router {
    let api = Router::new()
        .merge(health::routes())
        .merge(clients::routes())
        .merge(pairs::routes())
        .merge(pin_guard::routes())
        .merge(firebase::routes())
        .merge(passkey::routes())
        .route("/api/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed);
    #[cfg(feature = "dev")]
    let connect_also = web.demo.as_ref().map(crate::demo::Demo::connect_also).unwrap_or_default();
    #[cfg(not(feature = "dev"))]
    let connect_also: Vec<String> = Vec::new();
    let app = match web.statics {
        Some(statics) => {
            let connect_also: Vec<&str> = connect_also.iter().map(String::as_str).collect();
            api.fallback_service(web::static_files(statics, &connect_also))
        }
        None => api.fallback(not_found),
    };
    let app = web::with_cors(app, &web.allowed_origins);
    #[cfg(feature = "dev")]
    let app = match web.demo {
        Some(demo) => demo.route(app),
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
/// Health probes answered 200 are logged at debug level (a load balancer
/// probes every few seconds). Also counts the request in the metrics.
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
    let route = route.as_deref().unwrap_or("<unmatched>");
    let latency = start.elapsed();
    crate::metrics::request(&method, route, status, code, latency);
    if status == 200 && health::PATHS.contains(&route) {
        tracing::debug!(target: "wallet_backup_service::request", %method, route, status, "request");
        return response;
    }
    tracing::info!(
        target: "wallet_backup_service::request",
        %method,
        route = %route,
        status,
        code,
        latency_ms = latency.as_secs_f64() * 1000.0,
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

// ---------------------------------------------------------------- shared by the resources

/// A backup id (32 hex characters), lower-cased.
fn backup_id(text: &str) -> Result<String, ApiError> {
    if is_hex(text, 32) {
        Ok(text.to_ascii_lowercase())
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
