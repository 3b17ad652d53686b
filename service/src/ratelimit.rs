//! Per-API-key rate limit: a token bucket per key (by key hash), refilled at
//! `per_second` tokens a second up to `burst`. A request takes one token; an
//! empty bucket answers 429 `RATE_LIMITED` with `Retry-After`.
//!
//! Buckets live in memory, per process: a restart refills them, and several
//! service processes behind one database each apply the limit on their own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets keyed by API key hash.
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Buckets kept before idle, full ones are dropped.
const PRUNE_AT: usize = 10_000;

impl RateLimiter {
    /// A limiter with these settings.
    pub fn new(limit: RateLimit) -> Self {
        Self { limit, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token for `key`; `Err(wait)` when none is left, with the time
    /// until one is.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        if self.limit.per_second <= 0.0 {
            return Ok(());
        }
        let burst = f64::from(self.limit.burst.max(1));
        let rate = self.limit.per_second;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= PRUNE_AT {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket { tokens: burst, last: now });
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
        let limiter = RateLimiter::new(RateLimit { per_second: 0.0, burst: 0 });
        for _ in 0..100 {
            limiter.check("a").unwrap();
        }
    }
}
