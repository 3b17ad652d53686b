//! Health endpoints for load balancers and orchestrators, without a key:
//!
//! - `GET /healthz`: the process serves HTTP. Always 200 `{"status":"ok"}`;
//!   it touches neither the database nor the KMS.
//! - `GET /readyz`: the service can take backups now. It writes and reads
//!   back a row through the database's checked write path
//!   ([`Store::check_ready`](crate::store::Store::check_ready)) and wraps and
//!   unwraps a random key through the KMS, each within
//!   [`READY_CHECK_TIMEOUT`]. 200 `{"status":"ready"}`, or 503 with the usual
//!   error body and code `DATABASE_UNAVAILABLE` or `KMS_UNAVAILABLE` (the
//!   database is checked first).
//!
//! Bounded: probes are not under the per-address limit on requests without
//! a key (a load balancer probing every second from one address must never
//! see 429), but one `/readyz` check runs at a time, and its outcome answers
//! every probe for [`READY_REUSE`]: however often strangers call it, the
//! database and the KMS see at most about one check a second. The
//! listener's connection and in-flight limits apply as to every request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::AppState;
use crate::error::{codes, ApiError};

/// The longest the database check, and then the KMS check, may take before
/// the probe answers 503 (a load balancer's probe usually waits 2 to 5 s).
pub const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// A `/readyz` outcome answers the probes that arrive within this long of it.
pub const READY_REUSE: Duration = Duration::from_secs(1);
/// The KMS context of the readiness round trip (no stored record uses it).
const READY_CONTEXT: &[u8] = b"wallet-backup-service/v1/readiness";

/// The paths of the health endpoints (not under the per-address limit of
/// requests without a key, and logged at debug level when they answer 200).
pub const PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// The readiness check's state: this instance's row id, and the last outcome.
pub struct Readiness {
    instance: String,
    last: Mutex<Option<(Instant, Result<(), ApiError>)>>,
}

impl Readiness {
    /// A new instance (its own row in `service_health`).
    pub fn new() -> Result<Self, getrandom::Error> {
        Ok(Self { instance: crate::util::random_id()?, last: Mutex::new(None) })
    }
}

/// The health routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    // One check at a time: the others wait for it and take its outcome.
    let mut last = state.readiness.last.lock().await;
    if let Some((at, outcome)) = last.as_ref() {
        if at.elapsed() < READY_REUSE {
            return outcome.clone().map(|()| ready());
        }
    }
    let outcome = check(&state).await;
    *last = Some((Instant::now(), outcome.clone()));
    outcome.map(|()| ready())
}

fn ready() -> Json<Value> {
    Json(json!({ "status": "ready" }))
}

async fn check(state: &AppState) -> Result<(), ApiError> {
    let database = tokio::time::timeout(READY_CHECK_TIMEOUT, state.store.check_ready(&state.readiness.instance));
    match database.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(unavailable(codes::DATABASE_UNAVAILABLE, "the database is unavailable", &e)),
        Err(_) => {
            return Err(unavailable(
                codes::DATABASE_UNAVAILABLE,
                "the database is unavailable",
                &"no answer within the readiness timeout",
            ))
        }
    }
    let kms = tokio::time::timeout(READY_CHECK_TIMEOUT, kms_round_trip(state));
    match kms.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(unavailable(codes::KMS_UNAVAILABLE, "the KMS is unavailable", &e)),
        Err(_) => Err(unavailable(
            codes::KMS_UNAVAILABLE,
            "the KMS is unavailable",
            &"no answer within the readiness timeout",
        )),
    }
}

fn unavailable(code: &'static str, message: &'static str, cause: &dyn std::fmt::Display) -> ApiError {
    ApiError::unavailable(code, message, &format_args!("readiness: {cause}"))
}

/// Wraps a random key and unwraps it again: the KMS's master key is there and works.
async fn kms_round_trip(state: &AppState) -> Result<(), String> {
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut()).map_err(|e| format!("random source: {e}"))?;
    let wrapped = state.kms.wrap(&key, READY_CONTEXT).await.map_err(|e| e.to_string())?;
    let unwrapped = state.kms.unwrap(&wrapped, READY_CONTEXT).await.map_err(|e| e.to_string())?;
    if *unwrapped != *key {
        return Err("a key unwrapped to other bytes than were wrapped".into());
    }
    Ok(())
}
