//! The pure parts of talking to the backup service: its base URL from the
//! app's `apiHost`, and how backup ids and custodian halves are written on
//! the wire (FORMAT.md §8). The HTTP itself lives in the wasm binding.

use base64ct::{Base64UrlUnpadded, Encoding};
use zeroize::Zeroizing;

use crate::flow::MAX_SHARES_LEN;
use crate::store::BackupId;
use crate::Error;

/// Longest `apiHost` accepted.
pub const MAX_API_HOST_LEN: usize = 2048;

/// The service's base URL (no trailing `/`) for the app's `apiHost`.
///
/// A bare host (`api.example.com`, `example.com:8443`, optionally with a
/// path prefix) means `https://`. A full `https://` URL is taken as is;
/// `http://` only for a loopback host (`localhost`, `127.x.y.z`, `[::1]`),
/// because the API key travels in every request. Query strings, fragments,
/// user info and whitespace are refused.
pub fn api_base(api_host: &str) -> Result<String, Error> {
    // Byte-wise on purpose: `str` patterns and slicing pull kilobytes of
    // searcher and panic-formatting code into the wasm.
    let bad = Error::InvalidArgument;
    let mut url = api_host.as_bytes();
    while let [rest @ .., b'/'] = url {
        url = rest;
    }
    if url.is_empty() || url.len() > MAX_API_HOST_LEN {
        return Err(bad("apiHost must be a host name or an https:// URL"));
    }
    if url.iter().any(|&b| b <= b' ' || b >= 0x7f || matches!(b, b'?' | b'#' | b'@' | b'\\')) {
        return Err(bad("apiHost must be a plain host or URL, without query, fragment, credentials or spaces"));
    }
    let (https, rest) = if let Some(rest) = url.strip_prefix(b"https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix(b"http://") {
        (false, rest)
    } else if url.windows(3).any(|w| w == b"://") {
        return Err(bad("apiHost must be an https:// URL"));
    } else {
        (true, url)
    };
    let authority = rest.split(|&b| b == b'/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(bad("apiHost has no host"));
    }
    if !https && !is_loopback(authority) {
        return Err(bad("apiHost may use http:// only for localhost; use https://"));
    }
    // Every byte was checked to be ASCII above.
    let rest = core::str::from_utf8(rest).map_err(|_| bad("apiHost is not ASCII"))?;
    let mut base = String::from(if https { "https://" } else { "http://" });
    base.push_str(rest);
    Ok(base)
}

/// Whether `authority` (`host[:port]`) names this machine.
fn is_loopback(authority: &[u8]) -> bool {
    let host = match authority.strip_prefix(b"[") {
        Some(v6) => v6.split(|&b| b == b']').next().unwrap_or_default(),
        None => authority.rsplitn(2, |&b| b == b':').last().unwrap_or_default(),
    };
    if host.eq_ignore_ascii_case(b"localhost") || host == b"::1" {
        return true;
    }
    let mut parts = host.split(|&b| b == b'.');
    parts.next() == Some(b"127".as_slice())
        && parts.clone().count() == 3
        && parts.all(|p| (1..=3).contains(&p.len()) && p.iter().all(u8::is_ascii_digit))
}

/// A backup id as the service writes it: 32 lower-case hex characters.
pub fn backup_id_hex(backup_id: &BackupId) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(backup_id.len() * 2);
    for b in backup_id {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

/// A custodian half as sent to the service: unpadded base64url.
pub fn encode_custodian_half(half: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(Base64UrlUnpadded::encode_string(half))
}

/// A custodian half as the service returns it: 1 to 2^20 - 32 bytes, the
/// sizes shares can have (FORMAT.md §2, §8.1), so at most 1,398,059 characters.
pub fn decode_custodian_half(text: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let bad = Error::InvalidCustodianShare;
    if text.is_empty() || text.len() > (MAX_SHARES_LEN * 4).div_ceil(3) {
        return Err(bad("the service's custodian share has an impossible length"));
    }
    Base64UrlUnpadded::decode_vec(text)
        .map(Zeroizing::new)
        .map_err(|_| bad("the service's custodian share is not base64url"))
}

/// Bytes as unpadded base64url (WebAuthn's JSON encoding).
pub fn base64url(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Unpadded (or `=`-padded) base64url of at most `max_len` decoded bytes.
pub fn from_base64url(text: &str, max_len: usize) -> Option<Zeroizing<Vec<u8>>> {
    let text = text.trim_end_matches('=');
    if text.len() > max_len.div_ceil(3) * 4 {
        return None;
    }
    Base64UrlUnpadded::decode_vec(text).ok().filter(|bytes| bytes.len() <= max_len).map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips_and_bounds_length() {
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(from_base64url("-_8", 2).unwrap().as_slice(), &[0xfb, 0xff]);
        assert_eq!(from_base64url("-_8=", 2).unwrap().as_slice(), &[0xfb, 0xff]);
        assert!(from_base64url("-_8", 1).is_none());
        assert!(from_base64url("+/8", 2).is_none());
    }

    #[test]
    fn api_base_accepts_hosts_and_https_and_loopback_http() {
        assert_eq!(api_base("api.example.com").unwrap(), "https://api.example.com");
        assert_eq!(api_base("api.example.com:8443/backup/").unwrap(), "https://api.example.com:8443/backup");
        assert_eq!(api_base("https://api.example.com/").unwrap(), "https://api.example.com");
        assert_eq!(api_base("http://127.0.0.1:8787").unwrap(), "http://127.0.0.1:8787");
        assert_eq!(api_base("http://localhost:8787").unwrap(), "http://localhost:8787");
        assert_eq!(api_base("http://[::1]:8787").unwrap(), "http://[::1]:8787");
    }

    #[test]
    fn api_base_refuses_cleartext_and_odd_urls() {
        for bad in [
            "",
            "/",
            "http://api.example.com",
            "http://127.0.0.1.evil.com",
            "http://localhost.evil.com:80",
            "ftp://api.example.com",
            "https://user:pw@api.example.com",
            "https://api.example.com/?k=v",
            "https://api.example.com/#x",
            "https:///path",
            "api example.com",
        ] {
            assert_eq!(api_base(bad).map_err(|e| e.code()), Err("INVALID_ARGUMENT"), "{bad}");
        }
    }

    #[test]
    fn wire_encodings_round_trip() {
        assert_eq!(backup_id_hex(&[0xab; 16]), "ab".repeat(16));
        assert_eq!(backup_id_hex(&[0x01; 16]), "01".repeat(16));
        let half = [0u8, 1, 2, 250, 251, 255];
        assert_eq!(&decode_custodian_half(&encode_custodian_half(&half)).unwrap()[..], &half);
        assert!(decode_custodian_half("").is_err());
        assert!(decode_custodian_half("a+b/").is_err());
        let max = vec![7u8; MAX_SHARES_LEN];
        assert_eq!(encode_custodian_half(&max).len(), 1_398_059);
        assert_eq!(decode_custodian_half(&encode_custodian_half(&max)).unwrap().len(), MAX_SHARES_LEN);
        let over = vec![7u8; MAX_SHARES_LEN + 1];
        assert_eq!(decode_custodian_half(&encode_custodian_half(&over)).unwrap_err().code(), "INVALID_CUSTODIAN_SHARE");
    }
}
