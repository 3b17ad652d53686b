//! Rate limits: token buckets refilled at `per_second` tokens a second up
//! to `burst`. A request takes one token; an empty bucket answers 429
//! `RATE_LIMITED` with `Retry-After`.
//!
//! - **Per API key** (by key hash, [`crate::api::Caller`]): requests with a
//!   valid key.
//! - **Per source address** ([`limit_anonymous`], by [`Source`]: an IPv4
//!   address or an IPv6 /64): every request that is not authenticated by a
//!   valid key: no key, a malformed or unknown key, static files,
//!   preflights, unknown routes. A request without a well-formed key takes
//!   its token before anything else runs; one with a well-formed key runs
//!   (its key has to be looked up) and, if the key turned out unknown or the
//!   route needs none, takes its token afterwards, its answer replaced by the
//!   429 when the bucket was empty. A keyed client behind the same address
//!   is never limited by strangers there.
//!
//! Buckets live in memory, per process: a restart refills them, and several
//! service processes behind one database each apply the limit on their own.
//! Memory is bounded: at most [`MAX_BUCKETS`] buckets; full (idle) ones are
//! dropped when the table is full (at most once a second), and while it is
//! still full a source without a bucket is refused, not given a new one.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{codes, ApiError};
use crate::listener::Source;

/// Rate-limit settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second per key; 0 disables the limit.
    pub per_second: f64,
    /// Requests a key may make at once after being idle.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self { per_second: 20.0, burst: 40 }
    }
}

impl RateLimit {
    /// Default of the per-source limit on requests without a valid key
    /// (`--anonymous-rate-limit`, `--anonymous-rate-burst`): enough for a
    /// demo page's files and a wallet page's preflights behind one address.
    pub const ANONYMOUS: Self = Self { per_second: 10.0, burst: 50 };
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The most buckets a limiter keeps (about 64 bytes each).
pub const MAX_BUCKETS: usize = 100_000;

/// Token buckets keyed by `K`: API key hashes, or [`Source`]s.
pub struct RateLimiter<K = String> {
    limit: RateLimit,
    max_buckets: usize,
    table: Mutex<Table<K>>,
}

struct Table<K> {
    buckets: HashMap<K, Bucket>,
    last_prune: Option<Instant>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// A limiter with these settings.
    pub fn new(limit: RateLimit) -> Self {
        Self::with_capacity(limit, MAX_BUCKETS)
    }

    /// A limiter keeping at most `max_buckets` buckets.
    pub fn with_capacity(limit: RateLimit, max_buckets: usize) -> Self {
        Self {
            limit,
            max_buckets: max_buckets.max(1),
            table: Mutex::new(Table { buckets: HashMap::new(), last_prune: None }),
        }
    }

    /// Takes a token for `key`; `Err(wait)` when none is left, with the time
    /// until one is.
    pub fn check<Q>(&self, key: &Q) -> Result<(), Duration>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if self.limit.per_second <= 0.0 {
            return Ok(());
        }
        let burst = f64::from(self.limit.burst.max(1));
        let rate = self.limit.per_second;
        let now = Instant::now();
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if !table.buckets.contains_key(key) && table.buckets.len() >= self.max_buckets {
            if table.last_prune.is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1)) {
                table.last_prune = Some(now);
                table.buckets.retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < burst);
            }
            if table.buckets.len() >= self.max_buckets {
                // Every bucket is in use: a newcomer waits for one to fill up.
                return Err(Duration::from_secs_f64(burst / rate));
            }
        }
        if !table.buckets.contains_key(key) {
            table.buckets.insert(key.to_owned(), Bucket { tokens: burst, last: now });
        }
        let Some(bucket) = table.buckets.get_mut(key) else { return Ok(()) };
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.last).as_secs_f64() * rate).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

/// Whether a request was authenticated by a valid key; set by [`crate::api::Caller`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Authenticated(Arc<std::sync::atomic::AtomicBool>);

impl Authenticated {
    pub(crate) fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }

    fn get(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
fn is_preflight(request: &Request) -> bool {
    request.method() == axum::http::Method::OPTIONS
        && request.headers().contains_key(header::ORIGIN)
        && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// 429 `RATE_LIMITED` for a source without a valid key.
fn anonymous_rate_limited(wait: Duration) -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        codes::RATE_LIMITED,
        "too many requests without a valid API key from this address",
    )
    .into_response();
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// Router middleware: the per-source limit on requests without a valid API
/// key (see the module doc). Requests that did not come through the
/// [`crate::listener`] (no [`Source`]), health probes and CORS preflights
/// are not limited here.
pub async fn limit_anonymous(
    State(limiter): State<Arc<RateLimiter<Source>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(source) = request.extensions().get::<Source>().copied() else {
        return next.run(request).await;
    };
    // Health probes are bounded otherwise (see `crate::api::health`): a load
    // balancer's probes never compete with strangers for the address's tokens.
    if crate::api::health::PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    // CORS preflights never carry a key (browsers send none), so every honest
    // page's would count here, and users behind one carrier NAT share an
    // address: a busy wallet page would be throttled into CORS errors. The
    // CORS layer answers them from memory; the connection caps bound them.
    if is_preflight(&request) {
        return next.run(request).await;
    }
    let has_key = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::apikey::from_authorization)
        .is_some();
    if !has_key {
        if let Err(wait) = limiter.check(&source) {
            return anonymous_rate_limited(wait);
        }
        return next.run(request).await;
    }
    let authenticated = Authenticated::default();
    request.extensions_mut().insert(authenticated.clone());
    let response = next.run(request).await;
    if authenticated.get() {
        return response;
    }
    match limiter.check(&source) {
        Ok(()) => response,
        Err(wait) => {
            // Keep the CORS headers the answer had, so a page can read the 429.
            let mut limited = anonymous_rate_limited(wait);
            for (name, value) in response.headers() {
                if name.as_str().starts_with("access-control-") || name == header::VARY {
                    limited.headers_mut().append(name.clone(), value.clone());
                }
            }
            limited
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_then_refill() {
        let limiter = RateLimiter::new(RateLimit { per_second: 1000.0, burst: 3 });
        for _ in 0..3 {
            limiter.check("a").unwrap();
        }
        let wait = limiter.check("a").unwrap_err();
        assert!(wait <= Duration::from_millis(2));
        limiter.check("b").unwrap();
        std::thread::sleep(Duration::from_millis(5));
        limiter.check("a").unwrap();
    }

    #[test]
    fn zero_rate_disables() {
        let limiter = RateLimiter::<String>::new(RateLimit { per_second: 0.0, burst: 0 });
        for _ in 0..100 {
            limiter.check("a").unwrap();
        }
    }

    #[test]
    fn the_table_is_bounded() {
        let limiter = RateLimiter::<u32>::with_capacity(RateLimit { per_second: 1.0, burst: 2 }, 3);
        for key in 0..3 {
            limiter.check(&key).unwrap();
        }
        // Full of buckets in use: a newcomer is refused rather than stored.
        assert!(limiter.check(&3).is_err());
        assert_eq!(limiter.table.lock().unwrap().buckets.len(), 3);
        // Known keys still get their tokens.
        limiter.check(&0).unwrap();
    }

    #[test]
    fn full_buckets_make_room() {
        let limiter = RateLimiter::<u32>::with_capacity(RateLimit { per_second: 1000.0, burst: 1 }, 2);
        limiter.check(&0).unwrap();
        limiter.check(&1).unwrap();
        std::thread::sleep(Duration::from_millis(10));
        // Both refilled: pruned, and the newcomer gets a bucket.
        limiter.check(&2).unwrap();
    }
}
