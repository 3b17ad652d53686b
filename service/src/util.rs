//! Small helpers: random ids, clock, timestamps, loopback hosts.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A random 128-bit id, 32 lower-case hex characters.
pub fn random_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Microseconds since the Unix epoch (the service's stored timestamp).
pub fn now_micros() -> i64 {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1000).unwrap_or(i64::MAX)
}

/// A stored timestamp as RFC 3339 (UTC), e.g. `2026-05-01T12:00:00.123456Z`.
pub fn rfc3339(micros: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Whether `s` is exactly `len` lower- or upper-case hex digits.
pub fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `host` (a URL's or `Host` header's host, without port; IPv6 in
/// brackets or not) is `localhost` or a loopback address (127.0.0.0/8, `::1`).
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    host.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.9.9.9", "::1", "[::1]"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["", "0.0.0.0", "10.0.0.1", "[::]", "localhost.evil.example", "evil.example", "[127.0.0.1]x"] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
