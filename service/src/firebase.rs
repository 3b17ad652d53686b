//! Firebase Auth: verifying a user's Firebase ID token as Google specifies
//! (<https://firebase.google.com/docs/auth/admin/verify-id-tokens>), and the
//! public keys it is checked against.
//!
//! A token is accepted only if, in this order:
//!
//! 1. it is three base64url parts, at most [`MAX_TOKEN_LEN`] bytes, and its
//!    header says `alg` = `RS256` exactly (`none`, `HS256`, … are refused
//!    before any key is looked up) and names a `kid`;
//! 2. the `kid` is one of the current public keys (see [`KeyStore`]);
//! 3. the RS256 signature verifies under that key (the `jsonwebtoken`
//!    crate, RustCrypto backend), and `exp`, `aud`, `iss` pass its checks;
//! 4. our own checks pass too: `aud` is the client's project id, `iss` is
//!    `https://securetoken.google.com/<projectId>`, `sub` is 1 to 128
//!    characters, `exp` is in the future, and `iat` and `auth_time` are not in
//!    the future. Only `iat` and `auth_time` get [`CLOCK_SKEW_SECS`] (60 s)
//!    of tolerance for a clock running ahead; `exp` gets none.
//!
//! Releasing a key also needs a recent sign-in: `auth_time` at most
//! `max_auth_age` seconds ago ([`Verified::check_fresh`]).
//!
//! Tokens are never logged, and error messages say which check failed
//! without quoting the token.
//!
//! [`dev`] is the local development stand-in for Google's token issuer.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64ct::{Base64UrlUnpadded, Encoding};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

#[cfg(feature = "dev")]
pub mod dev;

/// Google's JWK Set of the keys that sign Firebase ID tokens.
pub const GOOGLE_JWKS_URL: &str =
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";
/// Tolerance for `iat` and `auth_time` lying in the future (a clock running ahead), in seconds.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// Default of `--firebase-max-auth-age`: a key is released only within this many seconds of a sign-in.
pub const DEFAULT_MAX_AUTH_AGE_SECS: u64 = 300;
/// Longest accepted `sub` (Firebase uid), in characters.
pub const MAX_SUB_LEN: usize = 128;
/// Longest accepted token, in bytes (Firebase ID tokens are about 1 KB).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// How long keys are cached when the response has no `Cache-Control: max-age`.
pub const FALLBACK_MAX_AGE: Duration = Duration::from_secs(3600);
/// The longest keys are cached, whatever `max-age` says.
pub const MAX_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The shortest keys are cached (a `max-age` of 0 counts as this).
pub const MIN_MAX_AGE: Duration = Duration::from_secs(1);
/// A token with an unknown `kid` triggers a refetch at most this often.
pub const UNKNOWN_KID_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// After a failed fetch with no usable keys, the next attempt waits this long (503 meanwhile).
pub const FAILED_FETCH_RETRY: Duration = Duration::from_secs(5);
/// Largest JWK Set response read, in bytes; no more of any answer is read.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Settings of the Firebase token checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirebaseConfig {
    /// Where the public keys (JWK Set) are fetched.
    pub jwks_url: String,
    /// Key release needs `auth_time` at most this many seconds ago.
    pub max_auth_age_secs: u64,
    /// Timeout of one key fetch.
    pub fetch_timeout: Duration,
    /// An unknown `kid` triggers a refetch at most this often
    /// ([`UNKNOWN_KID_REFETCH_INTERVAL`]; tests shorten it).
    pub unknown_kid_refetch_interval: Duration,
}

impl Default for FirebaseConfig {
    fn default() -> Self {
        Self {
            jwks_url: GOOGLE_JWKS_URL.to_owned(),
            max_auth_age_secs: DEFAULT_MAX_AUTH_AGE_SECS,
            fetch_timeout: Duration::from_secs(10),
            unknown_kid_refetch_interval: UNKNOWN_KID_REFETCH_INTERVAL,
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Malformed, wrong algorithm, unknown key, bad signature, wrong `aud`/`iss`/`sub`, bad times.
    Invalid(String),
    /// `exp` is past.
    Expired,
    /// Valid, but the sign-in (`auth_time`) is older than allowed for key release.
    Reauthenticate(String),
    /// No usable public keys (the key endpoint failed and nothing valid is cached).
    KeysUnavailable(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(m) | Self::Reauthenticate(m) | Self::KeysUnavailable(m) => f.write_str(m),
            Self::Expired => f.write_str("the Firebase ID token has expired (exp is past)"),
        }
    }
}

fn invalid(message: impl Into<String>) -> TokenError {
    TokenError::Invalid(message.into())
}

/// A verified token's user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The Firebase uid (`sub`).
    pub uid: String,
    /// When the user signed in (`auth_time`), seconds since the epoch.
    pub auth_time: i64,
}

impl Verified {
    /// `Err(Reauthenticate)` unless the sign-in is at most `max_age_secs` old at `now`.
    pub fn check_fresh(&self, now: i64, max_age_secs: u64) -> Result<(), TokenError> {
        let age = now.saturating_sub(self.auth_time);
        if age > i64::try_from(max_age_secs).unwrap_or(i64::MAX) {
            return Err(TokenError::Reauthenticate(format!(
                "releasing a key needs a recent sign-in: auth_time is {age} s old, more than {max_age_secs} s; \
                 sign the user in again and send the new ID token"
            )));
        }
        Ok(())
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    crate::util::now_micros() / 1_000_000
}

/// The token's header, checked before any key lookup: `(kid)`.
fn check_header(token: &str) -> Result<String, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid(format!("the Firebase ID token is longer than {MAX_TOKEN_LEN} bytes")));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(invalid("the Firebase ID token is not a JWT (three base64url parts)"));
    }
    let header = Base64UrlUnpadded::decode_vec(parts[0])
        .map_err(|_| invalid("the Firebase ID token's header is not base64url"))?;
    let header: Value =
        serde_json::from_slice(&header).map_err(|_| invalid("the Firebase ID token's header is not JSON"))?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(invalid("the Firebase ID token's header alg is not RS256"));
    }
    let kid = match header.get("kid").and_then(Value::as_str) {
        Some(kid) if !kid.is_empty() && kid.len() <= 256 => kid.to_owned(),
        _ => return Err(invalid("the Firebase ID token's header has no kid")),
    };
    if parts[1].is_empty() || parts[2].is_empty() {
        return Err(invalid("the Firebase ID token has no claims or no signature"));
    }
    Ok(kid)
}

/// Verifies `token` for the Firebase project `project_id` at time `now`
/// (seconds since the epoch), with the keys of `keys`.
pub async fn verify(keys: &KeyStore, token: &str, project_id: &str, now: i64) -> Result<Verified, TokenError> {
    let kid = check_header(token)?;
    let key = keys.key(&kid).await?;
    verify_with_key(token, &key, project_id, now)
}

/// Steps 3 and 4 of the checks, with the key the header's `kid` named.
fn verify_with_key(token: &str, key: &DecodingKey, project_id: &str, now: i64) -> Result<Verified, TokenError> {
    use jsonwebtoken::errors::ErrorKind;
    let issuer = format!("https://securetoken.google.com/{project_id}");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[project_id]);
    validation.set_issuer(&[issuer.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.leeway = 0;
    validation.validate_exp = true;
    validation.validate_nbf = false;
    let data = jsonwebtoken::decode::<Value>(token.as_bytes(), key, &validation).map_err(|e| match e.kind() {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::InvalidSignature => invalid("the Firebase ID token's signature does not verify"),
        ErrorKind::InvalidAudience => invalid("the Firebase ID token's aud is not this client's Firebase project"),
        ErrorKind::InvalidIssuer => {
            invalid("the Firebase ID token's iss is not https://securetoken.google.com/<this client's project>")
        }
        ErrorKind::MissingRequiredClaim(claim) => invalid(format!("the Firebase ID token has no {claim} claim")),
        ErrorKind::InvalidAlgorithm => invalid("the Firebase ID token's header alg is not RS256"),
        _ => invalid("the Firebase ID token is malformed"),
    })?;
    let claims = data.claims;
    // Our own checks, on top of the library's.
    if claims.get("aud").and_then(Value::as_str) != Some(project_id) {
        return Err(invalid("the Firebase ID token's aud is not this client's Firebase project"));
    }
    if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
        return Err(invalid(
            "the Firebase ID token's iss is not https://securetoken.google.com/<this client's project>",
        ));
    }
    let time = |name: &str| -> Result<i64, TokenError> {
        claims
            .get(name)
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid(format!("the Firebase ID token's {name} claim is missing or not an integer")))
    };
    if time("exp")? <= now {
        return Err(TokenError::Expired);
    }
    if time("iat")? > now + CLOCK_SKEW_SECS {
        return Err(invalid("the Firebase ID token's iat is in the future"));
    }
    let auth_time = time("auth_time")?;
    if auth_time > now + CLOCK_SKEW_SECS {
        return Err(invalid("the Firebase ID token's auth_time is in the future"));
    }
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    if sub.is_empty() || sub.chars().count() > MAX_SUB_LEN {
        return Err(invalid(format!("the Firebase ID token's sub must be 1 to {MAX_SUB_LEN} characters")));
    }
    Ok(Verified { uid: sub.to_owned(), auth_time })
}

// ---------------------------------------------------------------- public keys

/// Firebase's public keys, fetched from a JWK Set URL and cached.
///
/// - Cached for the response's `Cache-Control: max-age` ([`FALLBACK_MAX_AGE`]
///   without one, at most [`MAX_MAX_AGE`], at least [`MIN_MAX_AGE`]).
/// - A `kid` not in a still-valid cache triggers a refetch, at most once per
///   [`UNKNOWN_KID_REFETCH_INTERVAL`]: tokens with made-up kids cannot make
///   the service hammer the endpoint.
/// - A failed fetch keeps a still-valid cache in use. With nothing valid
///   cached, the answer is [`TokenError::KeysUnavailable`] (503), and the next
///   attempt comes at most every [`FAILED_FETCH_RETRY`].
/// - Fetches are serialised: concurrent requests wait for one fetch.
pub struct KeyStore {
    http: reqwest::Client,
    url: String,
    unknown_kid_refetch_interval: Duration,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, DecodingKey>,
    /// Until when `keys` may be used.
    valid_until: Option<Instant>,
    /// The last fetch attempt, and whether it failed.
    last_attempt: Option<(Instant, bool)>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").field("url", &self.url).finish()
    }
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Value>,
}

impl KeyStore {
    /// A key store for `config.jwks_url` (https, or http for tests on loopback).
    pub fn new(config: &FirebaseConfig) -> Result<Self, String> {
        let url = reqwest::Url::parse(&config.jwks_url).map_err(|e| format!("--firebase-jwks-url: {e}"))?;
        if !(url.scheme() == "https"
            || url.scheme() == "http" && url.host_str().is_some_and(crate::util::is_loopback_host))
        {
            return Err("--firebase-jwks-url must be https:// (or http:// to a loopback host)".into());
        }
        // reqwest is built on rustls without a default crypto provider: install ring
        // (fails only when one is installed already, which is fine).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(config.fetch_timeout)
            .connect_timeout(config.fetch_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            // Fetches are rare: no idle connections kept.
            .pool_max_idle_per_host(0)
            .user_agent(concat!("wallet-backup-service/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("Firebase key client: {}", e.without_url()))?;
        Ok(Self {
            http,
            url: config.jwks_url.clone(),
            unknown_kid_refetch_interval: config.unknown_kid_refetch_interval,
            cache: Mutex::new(Cache::default()),
        })
    }

    /// The public key with this `kid`.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, TokenError> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        let valid = cache.valid_until.is_some_and(|until| now < until);
        if valid {
            if let Some(key) = cache.keys.get(kid) {
                return Ok(key.clone());
            }
            let recently =
                cache.last_attempt.is_some_and(|(at, _)| now.duration_since(at) < self.unknown_kid_refetch_interval);
            if recently {
                return Err(unknown_kid());
            }
        } else if cache.last_attempt.is_some_and(|(at, failed)| failed && now.duration_since(at) < FAILED_FETCH_RETRY) {
            return Err(TokenError::KeysUnavailable("Firebase's public keys are unavailable; retry later".into()));
        }
        match self.fetch().await {
            Ok((keys, max_age)) => {
                cache.keys = keys;
                cache.valid_until = Some(Instant::now() + max_age);
                cache.last_attempt = Some((Instant::now(), false));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot fetch Firebase public keys");
                cache.last_attempt = Some((Instant::now(), true));
                if !valid {
                    return Err(TokenError::KeysUnavailable(
                        "Firebase's public keys are unavailable; retry later".into(),
                    ));
                }
            }
        }
        cache.keys.get(kid).cloned().ok_or_else(unknown_kid)
    }

    async fn fetch(&self) -> Result<(HashMap<String, DecodingKey>, Duration), String> {
        let response = self.http.get(&self.url).send().await.map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("the key endpoint answered {}", response.status()));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .map_or(FALLBACK_MAX_AGE, |age| age.clamp(MIN_MAX_AGE, MAX_MAX_AGE));
        let body = crate::http_client::read_capped(response, MAX_JWKS_BYTES).await.map_err(|e| match e {
            crate::http_client::ReadError::TooLarge(_) => "the key endpoint's answer is too large".to_owned(),
            other => other.to_string(),
        })?;
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("not a JWK Set: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let field = |name: &str| jwk.get(name).and_then(Value::as_str);
            let usable = field("kty") == Some("RSA")
                && field("alg").is_none_or(|a| a == "RS256")
                && field("use").is_none_or(|u| u == "sig");
            let (Some(kid), Some(n), Some(e)) = (field("kid"), field("n"), field("e")) else { continue };
            if !usable {
                continue;
            }
            if let Ok(key) = DecodingKey::from_rsa_components(n, e) {
                keys.insert(kid.to_owned(), key);
            }
        }
        if keys.is_empty() {
            return Err("the JWK Set holds no RS256 key".into());
        }
        Ok((keys, max_age))
    }
}

fn unknown_kid() -> TokenError {
    invalid("the Firebase ID token's kid is not one of Firebase's current public keys")
}

/// The `max-age` of a `Cache-Control` value.
fn max_age(value: &str) -> Option<Duration> {
    value.split(',').find_map(|directive| {
        let (name, secs) = directive.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("max-age") {
            return None;
        }
        secs.trim().trim_matches('"').parse::<u64>().ok().map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age() {
        assert_eq!(max_age("public, max-age=19766, must-revalidate, no-transform"), Some(Duration::from_secs(19766)));
        assert_eq!(max_age("MAX-AGE = 5"), Some(Duration::from_secs(5)));
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=-1"), None);
        assert_eq!(max_age("s-maxage=5"), None);
    }

    #[test]
    fn header_checks_come_first() {
        let b = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
        let claims = b(&serde_json::json!({ "sub": "u" }));
        let token = |header: Value| format!("{}.{claims}.c2ln", b(&header));
        assert_eq!(check_header(&token(serde_json::json!({ "alg": "RS256", "kid": "k" }))), Ok("k".into()));
        for header in [
            serde_json::json!({ "alg": "none", "kid": "k" }),
            serde_json::json!({ "alg": "HS256", "kid": "k" }),
            serde_json::json!({ "alg": "rs256", "kid": "k" }),
            serde_json::json!({ "alg": "RS256" }),
            serde_json::json!({ "alg": "RS256", "kid": "" }),
        ] {
            assert!(check_header(&token(header.clone())).is_err(), "{header}");
        }
        for bad in ["", "a.b", "a.b.c.d", "a..c", "!!.b.c", &"a".repeat(MAX_TOKEN_LEN + 1)] {
            assert!(check_header(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn key_store_refuses_plain_http_off_loopback() {
        for url in ["http://example.com/jwks", "ftp://127.0.0.1/x", "not a url"] {
            let config = FirebaseConfig { jwks_url: url.into(), ..FirebaseConfig::default() };
            assert!(KeyStore::new(&config).is_err(), "{url}");
        }
        // Google's https URL builds (rustls with the ring provider installed).
        assert!(KeyStore::new(&FirebaseConfig::default()).is_ok());
        let config = FirebaseConfig { jwks_url: "http://127.0.0.1:9/jwks".into(), ..FirebaseConfig::default() };
        assert!(KeyStore::new(&config).is_ok());
    }

    #[test]
    fn freshness() {
        let v = Verified { uid: "u".into(), auth_time: 1000 };
        assert!(v.check_fresh(1300, 300).is_ok());
        assert!(matches!(v.check_fresh(1301, 300), Err(TokenError::Reauthenticate(_))));
    }
}
