//! Prometheus metrics: what the service counts and times, and the small
//! listener that serves them (`serve --metrics-listen ADDR`, off by default).
//!
//! The `metrics` facade records; `metrics-exporter-prometheus` keeps the
//! registry and renders it, and [`router`] serves the text at `GET /metrics`
//! on the service's own accept loop ([`crate::listener`], with its limits),
//! apart from the API's address. Without `--metrics-listen` no recorder is
//! installed and every call here does nothing.
//!
//! | metric | labels |
//! |---|---|
//! | `wallet_backup_http_requests_total` | `route` (the route template, never the raw path), `method`, `status`, `code` (the error code, empty on success) |
//! | `wallet_backup_http_request_duration_seconds` (histogram) | `route`, `method` |
//! | `wallet_backup_backups_total` | `method` (the backup method), `outcome`: `created` (pair stored, 201), `failed` (the create call answered anything else), `confirmed` (confirm answered 200) |
//! | `wallet_backup_webhook_deliveries_total` | `outcome` |
//! | `wallet_backup_kms_call_duration_seconds` (histogram) | `operation` (`wrap`, `unwrap`) |
//! | `wallet_backup_kms_errors_total` | `operation`, `error` (`unavailable`, `unknown_key`, `unwrap`, `other`) |
//! | `wallet_backup_tls_handshakes_total` | `outcome` (`ok`, `failed`, `timeout`) |
//! | `wallet_backup_pin_guard_evaluations_total` | `outcome`: `evaluated` (counted, 200), `destroyed` (this request found the guesses used up and destroyed the key, 410), `exhausted` (destroyed before, 410) |
//! | `wallet_backup_pin_guard_unlocks_total` | `outcome`: `unlocked` (200), `wrong_proof` (403 `WRONG_PASSWORD`), `challenge_invalid` (409) |
//!
//! # Security
//!
//! Every label value is from a small fixed set (route templates, methods,
//! status numbers, codes, outcomes): never a client id, pair id, backup id,
//! API key, share or URL, so nothing here identifies a client or holds a
//! secret, and a stranger cannot grow the registry by sending new paths or
//! methods. The metrics listener has no authentication: bind it to an
//! address only the scraper reaches.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::{header, HeaderValue, Method};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics::{counter, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use zeroize::Zeroizing;

use crate::kms::{Kms, KmsError, WrappedKey};
use crate::model::BackupMethod;

/// Requests answered, by route, method, status and error code.
pub const HTTP_REQUESTS: &str = "wallet_backup_http_requests_total";
/// Request latency, from the head parsed to the answer's head built.
pub const HTTP_DURATION: &str = "wallet_backup_http_request_duration_seconds";
/// Backups by method and outcome.
pub const BACKUPS: &str = "wallet_backup_backups_total";
/// Custodian webhook deliveries by outcome.
pub const WEBHOOK_DELIVERIES: &str = "wallet_backup_webhook_deliveries_total";
/// KMS call latency by operation.
pub const KMS_DURATION: &str = "wallet_backup_kms_call_duration_seconds";
/// KMS errors by operation and kind.
pub const KMS_ERRORS: &str = "wallet_backup_kms_errors_total";
/// TLS handshakes by outcome.
pub const TLS_HANDSHAKES: &str = "wallet_backup_tls_handshakes_total";
/// Guess-limited PIN evaluations by outcome.
pub const PIN_GUARD_EVALUATIONS: &str = "wallet_backup_pin_guard_evaluations_total";
/// Guess-limited PIN unlocks by outcome.
pub const PIN_GUARD_UNLOCKS: &str = "wallet_backup_pin_guard_unlocks_total";

/// Histogram buckets (seconds) of every `_seconds` metric: 1 ms to 10 s.
pub const BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Installs the Prometheus recorder as the process's metrics recorder (once;
/// later calls return the same handle) and returns the handle that renders it.
pub fn install() -> Result<PrometheusHandle, String> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .map_err(|e| format!("metrics: {e}"))?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|e| format!("metrics: {e}"))?;
            describe();
            Ok(handle)
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(HTTP_REQUESTS, "Requests answered, by route template, method, status and error code.");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "Time to answer a request, by route template and method.");
    describe_counter!(BACKUPS, "Backup share pairs: created, failed to create, confirmed; by backup method.");
    describe_counter!(WEBHOOK_DELIVERIES, "Custodian share deliveries to operators' webhooks, by outcome.");
    describe_histogram!(KMS_DURATION, Unit::Seconds, "KMS wrap and unwrap calls, by operation.");
    describe_counter!(KMS_ERRORS, "KMS calls that failed, by operation and kind.");
    describe_counter!(TLS_HANDSHAKES, "TLS handshakes on the API listener, by outcome.");
    describe_counter!(PIN_GUARD_EVALUATIONS, "Guess-limited PIN evaluations, by outcome.");
    describe_counter!(PIN_GUARD_UNLOCKS, "Guess-limited PIN unlocks, by outcome.");
}

/// The metrics listener's router: `GET /metrics` in Prometheus's text format.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                let mut response = handle.render().into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
                response
            }
        }),
    )
}

/// Folds histogram samples into buckets every few seconds, so memory stays
/// bounded when nobody scrapes; ends with the runtime (or when aborted).
pub fn spawn_upkeep(handle: PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            handle.run_upkeep();
        }
    })
}

// ---------------------------------------------------------------- what is counted

/// The method as a label: the standard ones by name, any other as `OTHER`
/// (hyper accepts any token, and labels must stay few).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// One answered request. `route` is a route template (axum's `MatchedPath`)
/// or a fixed placeholder, never a raw path; `code` is the error code.
pub fn request(method: &Method, route: &str, status: u16, code: Option<&'static str>, latency: Duration) {
    let method = method_label(method);
    counter!(
        HTTP_REQUESTS,
        "route" => route.to_owned(),
        "method" => method,
        "status" => status.to_string(),
        "code" => code.unwrap_or(""),
    )
    .increment(1);
    histogram!(HTTP_DURATION, "route" => route.to_owned(), "method" => method).record(latency.as_secs_f64());
}

/// Counts a guess-limited PIN evaluation (`outcome`: see the module doc).
pub fn pin_guard_evaluation(outcome: &'static str) {
    counter!(PIN_GUARD_EVALUATIONS, "outcome" => outcome).increment(1);
}

/// Counts a guess-limited PIN unlock (`outcome`: see the module doc).
pub fn pin_guard_unlock(outcome: &'static str) {
    counter!(PIN_GUARD_UNLOCKS, "outcome" => outcome).increment(1);
}

/// What became of a backup (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupOutcome {
    /// The pair was stored (201).
    Created,
    /// Creating the pair answered anything but 201 (or was abandoned).
    Failed,
    /// The pair was confirmed (200).
    Confirmed,
}

impl BackupOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Failed => "failed",
            Self::Confirmed => "confirmed",
        }
    }
}

/// Counts a backup of `method` with `outcome`.
pub fn backup(method: BackupMethod, outcome: BackupOutcome) {
    counter!(BACKUPS, "method" => method.as_str(), "outcome" => outcome.label()).increment(1);
}

/// A pair being created: counted `failed` when dropped, unless
/// [`BackupAttempt::created`] was called first.
pub struct BackupAttempt {
    method: BackupMethod,
    created: bool,
}

impl BackupAttempt {
    /// A create call for a pair of `method`.
    pub fn start(method: BackupMethod) -> Self {
        Self { method, created: false }
    }

    /// The pair was stored: counted `created`.
    pub fn created(mut self) {
        self.created = true;
        backup(self.method, BackupOutcome::Created);
    }
}

impl Drop for BackupAttempt {
    fn drop(&mut self) {
        if !self.created {
            backup(self.method, BackupOutcome::Failed);
        }
    }
}

/// Counts one call to the operator's custodian webhook (`call`: `backup`, a
/// delivery, or `fetch`) by `outcome`, a fixed word (`ok`, `rejected`,
/// `failed`, `unreadable`, `setup`), never a URL or the operator's text.
/// Called by [`crate::webhook::Deliverer`] where a call ends.
pub fn webhook_delivery(call: &'static str, outcome: &'static str) {
    counter!(WEBHOOK_DELIVERIES, "call" => call, "outcome" => outcome).increment(1);
}

/// Counts one TLS handshake on the API listener by `outcome`.
pub fn tls_handshake(outcome: &'static str) {
    counter!(TLS_HANDSHAKES, "outcome" => outcome).increment(1);
}

// ---------------------------------------------------------------- the KMS, timed

/// A [`Kms`] that times each wrap and unwrap of the one it wraps and counts
/// its errors; installed around the service's KMS at start.
pub struct MeteredKms {
    inner: Arc<dyn Kms>,
}

impl MeteredKms {
    /// Meters `inner`.
    pub fn new(inner: Arc<dyn Kms>) -> Self {
        Self { inner }
    }

    fn record<T>(operation: &'static str, started: Instant, result: &Result<T, KmsError>) {
        histogram!(KMS_DURATION, "operation" => operation).record(started.elapsed().as_secs_f64());
        if let Err(e) = result {
            let kind = match e {
                KmsError::Unavailable(_) => "unavailable",
                KmsError::UnknownKey(_) => "unknown_key",
                KmsError::Unwrap => "unwrap",
                #[allow(unreachable_patterns)]
                _ => "other",
            };
            counter!(KMS_ERRORS, "operation" => operation, "error" => kind).increment(1);
        }
    }
}

#[async_trait]
impl Kms for MeteredKms {
    fn current_key_id(&self) -> Result<String, KmsError> {
        self.inner.current_key_id()
    }

    async fn wrap(&self, data_key: &[u8; 32], context: &[u8]) -> Result<WrappedKey, KmsError> {
        let started = Instant::now();
        let result = self.inner.wrap(data_key, context).await;
        Self::record("wrap", started, &result);
        result
    }

    async fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<Zeroizing<[u8; 32]>, KmsError> {
        let started = Instant::now();
        let result = self.inner.unwrap(wrapped, context).await;
        Self::record("unwrap", started, &result);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_ones_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
        assert_eq!(method_label(&Method::from_bytes(b"X-1234").unwrap()), "OTHER");
    }
}
