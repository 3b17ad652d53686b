//! Self-managed custodian storage: delivering a custodian share to the
//! operator's webhook.
//!
//! A client whose custodian storage is `WEBHOOK` has a URL and a shared
//! secret (the secret sealed under the KMS like a custodian share). When such
//! a client creates a backup share pair, the service does not keep the
//! custodian share: it POSTs it to the URL as
//!
//! ```json
//! { "clientId": "…", "pairId": "…", "backupMethod": "PASSWORD", "backupId": "…", "custodianShare": "…" }
//! ```
//!
//! with the header `X-Wallet-Backup-Signature: t=<unix seconds>,v1=<hex>`,
//! where `v1` is HMAC-SHA256 under the shared secret of `"<t>." ‖ body`. The
//! operator recomputes it, compares in constant time and rejects a `t` too
//! far from its clock (replays). Each attempt is signed afresh.
//!
//! A 2xx answer is a delivery, if its body is at most [`MAX_ANSWER_BYTES`]
//! (no more of any answer is read). 5xx, 408, 429, a longer 2xx answer,
//! timeouts and network errors are retried with exponential backoff up to
//! [`WebhookPolicy::attempts`] attempts in all; any other answer (4xx, 3xx:
//! redirects are not followed) fails at once. Nothing about the delivery
//! that could be secret (URL, body, secret, signature) is logged.

use std::time::Duration;

use hmac::{KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::model::BackupMethod;

/// Name of the signature header.
pub const SIGNATURE_HEADER: &str = "X-Wallet-Backup-Signature";

/// Shortest accepted shared secret, in bytes.
pub const MIN_SECRET_LEN: usize = 32;
/// Longest accepted shared secret, in bytes.
pub const MAX_SECRET_LEN: usize = 1024;
/// Most bytes of a webhook's answer read; a longer 2xx answer is a failed attempt.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Timeout and retries of webhook deliveries.
#[derive(Debug, Clone, Copy)]
pub struct WebhookPolicy {
    /// Time limit of one attempt (connect, send, answer).
    pub timeout: Duration,
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each further one.
    pub backoff: Duration,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(5), attempts: 3, backoff: Duration::from_millis(250) }
    }
}

/// The JSON body POSTed to the webhook.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery<'a> {
    /// The client the pair belongs to.
    pub client_id: &'a str,
    /// The pair.
    pub pair_id: &'a str,
    /// Its backup method.
    pub backup_method: BackupMethod,
    /// Its backup id (32 lower-case hex characters).
    pub backup_id: &'a str,
    /// The custodian share, as the module sent it.
    pub custodian_share: &'a str,
}

/// Why a delivery failed. Carries no URL and nothing secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookError {
    /// The webhook answered with a status that is not retried (4xx, 3xx).
    Rejected(u16),
    /// Every attempt failed with a retryable error; the last one is described.
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// The last failure: `status 503`, `timeout`, `connect`, `network`.
        last: String,
    },
    /// The HTTP client could not be built or the request not formed.
    Setup(String),
}

impl std::fmt::Display for WebhookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rejected(status) => write!(f, "the custodian webhook rejected the delivery with status {status}"),
            Self::Exhausted { attempts, last } => {
                write!(f, "the custodian webhook failed {attempts} attempt(s); last: {last}")
            }
            Self::Setup(why) => write!(f, "custodian webhook client: {why}"),
        }
    }
}

impl std::error::Error for WebhookError {}

/// Checks a webhook URL: `https://…`, or `http://` to a loopback host
/// (127.0.0.0/8, `::1`, `localhost`) for local receivers and tests; never
/// with a user name or password (the URL is stored in the clear).
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Says nothing of what the URL holds: the error may be printed or logged.
        return Err("the URL must not carry a user name or password (it is stored in the clear); \
                    authenticate the webhook with its shared secret"
            .into());
    }
    let host = parsed.host_str().unwrap_or_default();
    match parsed.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if crate::util::is_loopback_host(host) => Ok(()),
        "http" => Err("plain http is allowed only to a loopback host; use https".into()),
        _ => Err("the URL must be https://".into()),
    }
}

/// Checks a shared secret's length.
pub fn check_secret(secret: &[u8]) -> Result<(), String> {
    if (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.len()) {
        Ok(())
    } else {
        Err(format!("the webhook secret must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} bytes"))
    }
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> hmac::Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header's value for `body` sent at `timestamp` (Unix seconds).
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

/// What an operator's receiver does: checks the header against `body`, in
/// constant time, and that its timestamp is within `tolerance_secs` of `now`.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(timestamp), Some(v1)) = (timestamp, v1) else { return false };
    if (now - timestamp).abs() > tolerance_secs {
        return false;
    }
    mac(secret, timestamp, body).verify_slice(&v1).is_ok()
}

/// Sends deliveries under a [`WebhookPolicy`].
#[derive(Clone)]
pub struct Deliverer {
    http: reqwest::Client,
    policy: WebhookPolicy,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer").field("policy", &self.policy).finish()
    }
}

fn unix_now() -> i64 {
    crate::util::now_micros() / 1_000_000
}

impl Deliverer {
    /// An HTTP client (rustls with the ring provider, no redirects, no proxy from the environment).
    pub fn new(policy: WebhookPolicy) -> Result<Self, WebhookError> {
        // Installing fails only when a provider is installed already, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("wallet-backup-service/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WebhookError::Setup(e.without_url().to_string()))?;
        Ok(Self { http, policy })
    }

    /// Delivers `delivery` to `url`, signed with `secret`: returns the number
    /// of attempts it took, or why it failed.
    pub async fn deliver(&self, url: &str, secret: &[u8], delivery: &Delivery<'_>) -> Result<u32, WebhookError> {
        let body = zeroize::Zeroizing::new(
            serde_json::to_vec(delivery).map_err(|e| WebhookError::Setup(format!("payload: {e}")))?,
        );
        let attempts = self.policy.attempts.max(1);
        let mut wait = self.policy.backoff;
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
            let sent = self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, signature(secret, unix_now(), &body))
                .body(body.to_vec())
                .send()
                .await;
            let outcome = match sent {
                Ok(response) => {
                    let status = response.status();
                    // Read (and drop) the answer so the connection can be reused, but never
                    // more of it than MAX_ANSWER_BYTES.
                    let read = crate::http_client::read_capped(response, MAX_ANSWER_BYTES).await;
                    if status.is_success() && read.is_ok() {
                        return Ok(attempt);
                    }
                    let code = status.as_u16();
                    if !(status.is_server_error() || code == 408 || code == 429 || status.is_success()) {
                        tracing::warn!(
                            client = delivery.client_id,
                            pair_id = delivery.pair_id,
                            attempt,
                            status = code,
                            "custodian webhook rejected the delivery"
                        );
                        return Err(WebhookError::Rejected(code));
                    }
                    match read {
                        Err(e) if e.is_timeout() => "timeout".to_owned(),
                        Err(crate::http_client::ReadError::TooLarge(cap)) => {
                            format!("status {code} with an answer over {cap} bytes")
                        }
                        Err(_) => "network".to_owned(),
                        Ok(_) => format!("status {code}"),
                    }
                }
                Err(e) if e.is_timeout() => "timeout".to_owned(),
                Err(e) if e.is_connect() => "connect".to_owned(),
                Err(e) if e.is_builder() => return Err(WebhookError::Setup(e.without_url().to_string())),
                Err(_) => "network".to_owned(),
            };
            tracing::warn!(client = delivery.client_id, pair_id = delivery.pair_id, attempt, failure = %outcome,
                "custodian webhook delivery failed");
            last = outcome;
        }
        Err(WebhookError::Exhausted { attempts, last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let header = signature(secret, 1_700_000_000, b"{}");
        assert!(verify(secret, &header, b"{}", 1_700_000_010, 300));
        assert!(!verify(secret, &header, b"{ }", 1_700_000_010, 300));
        assert!(!verify(b"another secret, 32 bytes long...", &header, b"{}", 1_700_000_010, 300));
        assert!(!verify(secret, &header, b"{}", 1_700_001_000, 300), "replayed too late");
        assert!(!verify(secret, "t=1700000000", b"{}", 1_700_000_000, 300));
    }

    #[test]
    fn urls() {
        assert!(check_url("https://ops.example/custody").is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(check_url("http://[::1]:9000/hook").is_ok());
        assert!(check_url("http://localhost/hook").is_ok());
        assert!(check_url("http://ops.example/hook").is_err());
        assert!(check_url("ftp://ops.example/hook").is_err());
        assert!(check_url("not a url").is_err());
        for with_credentials in [
            "https://user:pw@ops.example/custody",
            "https://user@ops.example/custody",
            "https://:pw@ops.example/custody",
            "http://user:pw@127.0.0.1:9000/hook",
        ] {
            let error = check_url(with_credentials).unwrap_err();
            assert!(error.contains("user name or password"), "{with_credentials}: {error}");
            assert!(!error.contains("pw"), "the error quotes the URL: {error}");
        }
    }
}
