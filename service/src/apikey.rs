//! Client API keys: `wbk_live_` followed by 32 random bytes in unpadded
//! base64url (43 characters).
//!
//! The service stores only the SHA-256 of the whole key string (hex). Keys
//! are 256-bit random, so an unsalted hash is enough and lets the key be
//! looked up by its hash with an ordinary index; no key can be recovered
//! from the database.

use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// What every API key starts with.
pub const PREFIX: &str = "wbk_live_";

/// Length of the base64url part of a key (32 bytes, unpadded).
const BODY_LEN: usize = 43;

/// A freshly generated API key. Shown once; only its hash is kept.
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    /// Draws a new key from the operating system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut())?;
        Ok(Self(Zeroizing::new(format!("{PREFIX}{}", Base64UrlUnpadded::encode_string(bytes.as_ref())))))
    }

    /// The key as the client sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash stored in the database.
    pub fn hash(&self) -> String {
        hash(&self.0)
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// SHA-256 of a key string, lower-case hex.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The key in an `Authorization` header value, if the value is
/// `Bearer <key>` (scheme case-insensitive) and the key is well-formed.
/// Malformed keys are refused here, before any database lookup.
pub fn from_authorization(value: &str) -> Option<&str> {
    let (scheme, key) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    parse(key.trim_start_matches(' '))
}

/// `key` if it is a well-formed key (`wbk_live_` and 43 base64url
/// characters encoding 32 bytes), else `None`.
pub fn parse(key: &str) -> Option<&str> {
    let body = key.strip_prefix(PREFIX)?;
    let well_formed = body.len() == BODY_LEN
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && Base64UrlUnpadded::decode_vec(body).is_ok_and(|v| v.len() == 32);
    well_formed.then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_differ() {
        let a = ApiKey::generate().unwrap();
        let b = ApiKey::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), PREFIX.len() + BODY_LEN);
        let header = format!("Bearer {}", a.expose());
        assert_eq!(from_authorization(&header), Some(a.expose()));
        let header = format!("bearer {}", a.expose());
        assert_eq!(from_authorization(&header), Some(a.expose()));
        assert_eq!(a.hash(), hash(a.expose()));
        assert_eq!(a.hash().len(), 64);
        assert!(!format!("{a:?}").contains(PREFIX));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let key = ApiKey::generate().unwrap();
        for bad in [
            String::new(),
            "Bearer".into(),
            format!("Basic {}", key.expose()),
            format!("Bearer {}x", key.expose()),
            format!("Bearer wbk_test_{}", &key.expose()[PREFIX.len()..]),
            format!("Bearer {}", &key.expose()[..key.expose().len() - 1]),
            format!("Bearer {}=", &key.expose()[..key.expose().len() - 1]),
        ] {
            assert_eq!(from_authorization(&bad), None, "{bad}");
        }
    }
}
