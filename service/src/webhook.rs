//! Self-managed custodian storage: the operator's two endpoints, Portal's
//! webhook contract, called by the service.
//!
//! A client whose custodian storage is `WEBHOOK` has a base URL and a shared
//! secret (the secret sealed under the KMS like a custodian share). The
//! service does not keep such a client's custodian shares; the operator does:
//!
//! - `POST <base>/backup` with `{ "backupMethod", "clientId", "share" }`,
//!   where `share` is a JSON *string* ([`share_document`]) the operator stores
//!   as it is: `{ "pairId", "backupId", "backupMethod", "custodianShare" }`.
//! - `POST <base>/backup/fetch` with `{ "clientId" }`, answered
//!   `{ "backupShares": [ … ] }`: every share string the operator keeps for
//!   the client, as it stored them.
//!
//! The service fetches right after each delivery and creates the pair only if
//! the share it just delivered is listed, byte for byte; at recovery it
//! fetches again and picks the share of the pair asked for ([`pick_share`]).
//!
//! Every request carries `X-Webhook-Secret: <secret>` (Portal's header; the
//! secret is printable ASCII for that reason) and
//! `X-Wallet-Backup-Signature: t=<unix seconds>,v1=<hex>`, where `v1` is
//! HMAC-SHA256 under the shared secret of `"<t>." ‖ body`. The operator
//! checks both, in constant time, and rejects a `t` too far from its clock
//! (replays). Each attempt is signed afresh.
//!
//! A 2xx answer counts if its body is at most the cap of its endpoint
//! ([`MAX_ANSWER_BYTES`] for `/backup`, [`MAX_FETCH_ANSWER_BYTES`] for
//! `/backup/fetch`; no more of any answer is read). 5xx, 408, 429, a longer
//! 2xx answer, timeouts and network errors are retried with exponential
//! backoff up to [`WebhookPolicy::attempts`] attempts in all; any other
//! answer (4xx, 3xx: redirects are not followed) fails at once. Nothing that
//! could be secret (URL, body, secret, signature, share) is logged.

use std::time::Duration;

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::api::MAX_CUSTODIAN_SHARE;
use crate::model::BackupMethod;

/// Name of the signature header.
pub const SIGNATURE_HEADER: &str = "X-Wallet-Backup-Signature";
/// Name of the shared-secret header (Portal's contract).
pub const SECRET_HEADER: &str = "X-Webhook-Secret";
/// The delivery endpoint, under the base URL.
pub const BACKUP_PATH: &str = "backup";
/// The fetch endpoint, under the base URL.
pub const FETCH_PATH: &str = "backup/fetch";

/// Shortest accepted shared secret, in bytes.
pub const MIN_SECRET_LEN: usize = 32;
/// Longest accepted shared secret, in bytes.
pub const MAX_SECRET_LEN: usize = 1024;
/// Most bytes of a `/backup` answer read; a longer 2xx answer is a failed attempt.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Most shares a `/backup/fetch` answer is sized for: one per method (6) for
/// Portal's schema, a few per method for an operator that keeps the previous
/// backup until the new one is confirmed.
pub const MAX_FETCH_SHARES: usize = 16;
/// Room for one share string besides its custodian share: the ids, the
/// method, the JSON around them and its escaping inside the answer.
pub const SHARE_OVERHEAD: usize = 1024;
/// Most bytes of a `/backup/fetch` answer read: [`MAX_FETCH_SHARES`] shares
/// of the largest size (`api::MAX_CUSTODIAN_SHARE`, 1,398,059 bytes) with
/// their overhead, about 21.4 MiB. A longer answer is a failed attempt.
pub const MAX_FETCH_ANSWER_BYTES: usize = MAX_FETCH_SHARES * (MAX_CUSTODIAN_SHARE + SHARE_OVERHEAD);

/// Purpose label of [`share_digest`].
const LABEL_SHARE_DIGEST: &[u8] = b"wallet-backup/v1/webhook-custodian-share";

/// Timeout and retries of webhook calls.
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

/// What one share string holds: the pair it belongs to and its custodian share.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareDocument {
    /// The pair (this service's id).
    pub pair_id: String,
    /// Its backup id (32 lower-case hex characters).
    pub backup_id: String,
    /// Its backup method.
    pub backup_method: BackupMethod,
    /// The custodian share, as the module sent it.
    pub custodian_share: Zeroizing<String>,
}

/// The share string of a pair: the JSON text of a [`ShareDocument`].
pub fn share_document(
    pair_id: &str,
    backup_id: &str,
    method: BackupMethod,
    custodian_share: &str,
) -> Zeroizing<String> {
    let document = ShareDocument {
        pair_id: pair_id.to_owned(),
        backup_id: backup_id.to_owned(),
        backup_method: method,
        custodian_share: Zeroizing::new(custodian_share.to_owned()),
    };
    // A struct of strings always serializes.
    Zeroizing::new(serde_json::to_string(&document).unwrap_or_default())
}

/// The labelled SHA-256 (hex) of a custodian share, kept with a `WEBHOOK`
/// pair so that recovery hands over only the bytes that were delivered. A
/// custodian share is the shares XOR a random pad as long as them: its
/// digest tells nothing about the shares.
pub fn share_digest(custodian_share: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(LABEL_SHARE_DIGEST);
    h.update([0u8]);
    h.update(custodian_share);
    hex::encode(h.finalize())
}

/// The body POSTed to `<base>/backup`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery<'a> {
    /// The pair's backup method.
    pub backup_method: BackupMethod,
    /// The client the pair belongs to.
    pub client_id: &'a str,
    /// The share string ([`share_document`]).
    pub share: &'a str,
}

/// The body POSTed to `<base>/backup/fetch`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FetchRequest<'a> {
    client_id: &'a str,
}

/// A `/backup/fetch` answer: only `backupShares` is read; entries that are
/// not strings are kept as `None` (skipped, not fatal).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FetchAnswer {
    backup_shares: Vec<Entry>,
}

/// One entry of `backupShares`: a string, or anything else (ignored).
struct Entry(Option<Zeroizing<String>>);

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a share string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Entry, E> {
                Ok(Entry(Some(Zeroizing::new(v.to_owned()))))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Entry, E> {
                Ok(Entry(Some(Zeroizing::new(v))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_unit<E>(self) -> Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Entry, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Entry(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
                while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
                Ok(Entry(None))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// The share strings of a `/backup/fetch` answer's body: the strings of
/// `backupShares`, in order; `None` when the body is not such an object.
pub fn parse_fetch_answer(body: &[u8]) -> Option<Vec<Zeroizing<String>>> {
    let answer: FetchAnswer = serde_json::from_slice(body).ok()?;
    Some(answer.backup_shares.into_iter().filter_map(|e| e.0).collect())
}

/// What [`pick_share`] found among the operator's shares.
#[derive(Debug, PartialEq, Eq)]
pub enum Picked {
    /// The pair's custodian share.
    Found(Zeroizing<String>),
    /// No share of this pair.
    Missing,
    /// Shares naming this pair, but none with the bytes that were delivered.
    Altered,
}

/// Picks the custodian share of the pair (`pair_id`, `backup_id`, `method`)
/// among `shares`: the entry that parses as a [`ShareDocument`] naming this
/// pair and backup id, whose custodian share has `digest` ([`share_digest`];
/// `None` for a pair made before digests were kept: the ids alone decide).
/// Entries that do not parse, are too long or name another pair are skipped.
pub fn pick_share(
    shares: &[Zeroizing<String>],
    pair_id: &str,
    backup_id: &str,
    method: BackupMethod,
    digest: Option<&str>,
) -> Picked {
    let mut named = false;
    for text in shares {
        if text.len() > MAX_CUSTODIAN_SHARE + SHARE_OVERHEAD {
            continue;
        }
        let Ok(doc) = serde_json::from_str::<ShareDocument>(text) else { continue };
        if doc.pair_id != pair_id || doc.backup_id != backup_id || doc.backup_method != method {
            continue;
        }
        named = true;
        let share = &doc.custodian_share;
        if share.is_empty() || share.len() > MAX_CUSTODIAN_SHARE {
            continue;
        }
        if digest.is_none_or(|d| share_digest(share.as_bytes()) == d) {
            return Picked::Found(doc.custodian_share);
        }
    }
    if named {
        Picked::Altered
    } else {
        Picked::Missing
    }
}

/// The metrics' word for how a call to the operator ended.
fn outcome<T>(result: &Result<T, WebhookError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(WebhookError::Rejected(_)) => "rejected",
        Err(WebhookError::Exhausted { .. }) => "failed",
        Err(WebhookError::Unreadable) => "unreadable",
        Err(WebhookError::Setup(_)) => "setup",
    }
}

/// Why a call to the operator failed. Carries no URL and nothing secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookError {
    /// The operator answered with a status that is not retried (4xx, 3xx).
    Rejected(u16),
    /// Every attempt failed with a retryable error; the last one is described.
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// The last failure: `status 503`, `timeout`, `connect`, `network`.
        last: String,
    },
    /// The `/backup/fetch` answer is not `{ "backupShares": [ … ] }`.
    Unreadable,
    /// The HTTP client could not be built or the request not formed.
    Setup(String),
}

impl std::fmt::Display for WebhookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rejected(status) => write!(f, "the custodian webhook answered with status {status}"),
            Self::Exhausted { attempts, last } => {
                write!(f, "the custodian webhook failed {attempts} attempt(s); last: {last}")
            }
            Self::Unreadable => {
                f.write_str("the custodian webhook's /backup/fetch answer is not { backupShares: [...] }")
            }
            Self::Setup(why) => write!(f, "custodian webhook client: {why}"),
        }
    }
}

impl std::error::Error for WebhookError {}

/// Checks a webhook base URL: `https://…`, or `http://` to a loopback host
/// (127.0.0.0/8, `::1`, `localhost`) for local receivers and tests; never
/// with a user name or password (the URL is stored in the clear). The
/// service calls `<url>/backup` and `<url>/backup/fetch`.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Says nothing of what the URL holds: the error may be printed or logged.
        return Err("the URL must not carry a user name or password (it is stored in the clear); \
                    authenticate the webhook with its shared secret"
            .into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("the URL is the operator's base URL: no query or fragment (the service appends /backup)".into());
    }
    let host = parsed.host_str().unwrap_or_default();
    match parsed.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if crate::util::is_loopback_host(host) => Ok(()),
        "http" => Err("plain http is allowed only to a loopback host; use https".into()),
        _ => Err("the URL must be https://".into()),
    }
}

/// `<base>/<endpoint>`: the base URL's path with `endpoint` appended.
fn endpoint_url(base: &str, endpoint: &str) -> Result<reqwest::Url, WebhookError> {
    let mut url = reqwest::Url::parse(base).map_err(|_| WebhookError::Setup("the stored URL does not parse".into()))?;
    let path = format!("{}/{endpoint}", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

/// Checks a shared secret: 32 to 1024 bytes of printable ASCII (it travels
/// in the `X-Webhook-Secret` header).
pub fn check_secret(secret: &[u8]) -> Result<(), String> {
    if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.len()) {
        return Err(format!("the webhook secret must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} bytes"));
    }
    if !secret.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err("the webhook secret must be printable ASCII without spaces (it is sent in the \
                    X-Webhook-Secret header); `openssl rand -hex 32` makes one"
            .into());
    }
    Ok(())
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

/// Calls operators' endpoints under a [`WebhookPolicy`].
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

    /// POSTs `delivery` to `<base>/backup`, with the secret and the
    /// signature: returns the number of attempts it took, or why it failed.
    pub async fn deliver(&self, base: &str, secret: &[u8], delivery: &Delivery<'_>) -> Result<u32, WebhookError> {
        let body =
            Zeroizing::new(serde_json::to_vec(delivery).map_err(|e| WebhookError::Setup(format!("payload: {e}")))?);
        let called = self.call(base, secret, BACKUP_PATH, &body, MAX_ANSWER_BYTES, delivery.client_id).await;
        crate::metrics::webhook_delivery("backup", outcome(&called));
        Ok(called?.0)
    }

    /// POSTs `{ clientId }` to `<base>/backup/fetch`: the share strings the
    /// operator keeps for the client (entries that are not strings left
    /// out), or why it failed.
    pub async fn fetch(
        &self,
        base: &str,
        secret: &[u8],
        client_id: &str,
    ) -> Result<Vec<Zeroizing<String>>, WebhookError> {
        let body = serde_json::to_vec(&FetchRequest { client_id })
            .map_err(|e| WebhookError::Setup(format!("payload: {e}")))?;
        let called = self.call(base, secret, FETCH_PATH, &body, MAX_FETCH_ANSWER_BYTES, client_id).await;
        let parsed = called.and_then(|(_, answer)| {
            parse_fetch_answer(&answer).ok_or_else(|| {
                tracing::warn!(
                    client = client_id,
                    "custodian webhook's /backup/fetch answer is not a backupShares list"
                );
                WebhookError::Unreadable
            })
        });
        crate::metrics::webhook_delivery("fetch", outcome(&parsed));
        parsed
    }

    /// One call with retries: the 2xx answer's body (at most `cap` bytes)
    /// and the attempts it took.
    async fn call(
        &self,
        base: &str,
        secret: &[u8],
        endpoint: &str,
        body: &[u8],
        cap: usize,
        client_id: &str,
    ) -> Result<(u32, Zeroizing<Vec<u8>>), WebhookError> {
        let url = endpoint_url(base, endpoint)?;
        let mut secret_value = reqwest::header::HeaderValue::from_bytes(secret).map_err(|_| {
            WebhookError::Setup("the stored webhook secret cannot be sent in a header: set a printable one".into())
        })?;
        secret_value.set_sensitive(true);
        let attempts = self.policy.attempts.max(1);
        let mut wait = self.policy.backoff;
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
            let mut signed = reqwest::header::HeaderValue::from_str(&signature(secret, unix_now(), body))
                .map_err(|_| WebhookError::Setup("signature header".into()))?;
            signed.set_sensitive(true);
            let sent = self
                .http
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SECRET_HEADER, secret_value.clone())
                .header(SIGNATURE_HEADER, signed)
                .body(body.to_vec())
                .send()
                .await;
            let outcome = match sent {
                Ok(response) => {
                    let status = response.status();
                    // Read the answer (so the connection can be reused), never more of it than `cap`.
                    let read = crate::http_client::read_capped(response, cap).await.map(Zeroizing::new);
                    if status.is_success() {
                        if let Ok(answer) = read {
                            return Ok((attempt, answer));
                        }
                    }
                    let code = status.as_u16();
                    if !(status.is_server_error() || code == 408 || code == 429 || status.is_success()) {
                        tracing::warn!(
                            client = client_id,
                            endpoint,
                            attempt,
                            status = code,
                            "custodian webhook refused the request"
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
            tracing::warn!(client = client_id, endpoint, attempt, failure = %outcome, "custodian webhook call failed");
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
        assert!(check_url("https://ops.example/hook?x=1").is_err());
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
        let join = |base, e| endpoint_url(base, e).unwrap().to_string();
        assert_eq!(join("https://ops.example", FETCH_PATH), "https://ops.example/backup/fetch");
        assert_eq!(join("https://ops.example/custody/", BACKUP_PATH), "https://ops.example/custody/backup");
        assert_eq!(join("http://127.0.0.1:9/a/b", FETCH_PATH), "http://127.0.0.1:9/a/b/backup/fetch");
    }

    #[test]
    fn secrets() {
        assert!(check_secret(b"0123456789abcdef0123456789abcdef").is_ok());
        assert!(check_secret(b"0123456789abcdef").is_err());
        assert!(check_secret(&[7u8; 32]).is_err());
        assert!(check_secret(b"0123456789abcdef 0123456789abcdef").is_err());
    }

    #[test]
    fn fetch_answers_are_read_defensively() {
        let shares = parse_fetch_answer(br#"{"backupShares":["a",1,null,{"x":[1]},["b"],"c"],"more":true}"#).unwrap();
        assert_eq!(shares.iter().map(|s| s.as_str()).collect::<Vec<_>>(), ["a", "c"]);
        assert!(parse_fetch_answer(b"{}").is_none());
        assert!(parse_fetch_answer(br#"{"backupShares":"a"}"#).is_none());
        assert!(parse_fetch_answer(b"<html>").is_none());
        assert!(parse_fetch_answer(br#"{"backupShares":[]}"#).unwrap().is_empty());
    }

    #[test]
    fn picks_only_the_pairs_delivered_share() {
        let (pair, backup, method) = ("p1".repeat(16), "b1".repeat(16), BackupMethod::parse("PASSWORD").unwrap());
        let mine = share_document(&pair, &backup, method, "MINE");
        let digest = share_digest(b"MINE");
        let other_pair = share_document(&"p2".repeat(16), &backup, method, "MINE");
        let other_backup = share_document(&pair, &"b2".repeat(16), method, "MINE");
        let other_method = share_document(&pair, &backup, BackupMethod::parse("GDRIVE").unwrap(), "MINE");
        let swapped = share_document(&pair, &backup, method, "THEIRS");
        let garbage = Zeroizing::new("{not json".to_owned());
        let pick = |list: &[&Zeroizing<String>]| {
            let list: Vec<_> = list.iter().map(|s| (*s).clone()).collect();
            pick_share(&list, &pair, &backup, method, Some(&digest))
        };
        assert_eq!(pick(&[&garbage, &other_pair, &mine]), Picked::Found(Zeroizing::new("MINE".into())));
        assert_eq!(pick(&[&other_pair, &other_backup, &other_method, &garbage]), Picked::Missing);
        assert_eq!(pick(&[&swapped]), Picked::Altered);
        assert_eq!(pick(&[&swapped, &mine]), Picked::Found(Zeroizing::new("MINE".into())));
        assert_eq!(pick(&[]), Picked::Missing);
        // Without a digest (a pair made before digests were kept), the ids decide.
        let list = vec![swapped.clone()];
        assert_eq!(pick_share(&list, &pair, &backup, method, None), Picked::Found(Zeroizing::new("THEIRS".into())));
    }
}
