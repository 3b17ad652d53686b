//! The passkey key enclave: a backup's 32-byte key is stored here and
//! released only after a WebAuthn assertion, with user verification, by
//! the passkey it is bound to (for authenticators without the PRF
//! extension; with PRF the key never leaves the device).
//!
//! - **Relying party.** The service's default (`serve --passkey-rp-id …`),
//!   or a client's own (`create-client --passkey-rp-id …`, `set-passkey-rp`).
//!   Origins are checked when configured ([`check_origin`]) and matched
//!   exactly by webauthn-rs (no other port, no other subdomain). A
//!   `webauthn_rs::Webauthn` is built per request from the effective relying
//!   party ([`RelyingParty::webauthn`]).
//! - **Ceremonies.** Each begin call stores webauthn-rs's state (challenge,
//!   allowed credentials) in the database with an expiry; the finish call
//!   deletes it before verifying anything, so a ceremony is used once, even
//!   when its verification fails.
//! - **Verification** is webauthn-rs's passkey API (user verification
//!   required); its errors map to the stable `PASSKEY_*` codes
//!   ([`webauthn_error`]). After each verified assertion the credential's
//!   signature counter moves forward in one conditional update, or the
//!   request is refused (`PASSKEY_COUNTER_REGRESSED`).
//! - **Keys** are sealed under the KMS, bound to (client, backupId,
//!   credential id), never overwritten, and re-wrapped by `kms rewrap`.
//!
//! The routes are in [`crate::api`]'s passkey module. Nothing here or there
//! logs keys, challenges, ceremony states or credential bodies.

use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

use crate::store::passkey::ClientRelyingParty;

/// Default of `--passkey-ceremony-ttl`: a ceremony expires this many seconds after its begin call.
pub const DEFAULT_CEREMONY_TTL_SECS: u64 = 300;
/// The longest accepted `--passkey-ceremony-ttl`, in seconds (one hour).
pub const MAX_CEREMONY_TTL_SECS: u64 = 3600;
/// The user name a registration shows when begin-registration names none.
pub const DEFAULT_USER_NAME: &str = "Wallet backup";
/// Longest `userName`, in characters.
pub const MAX_USER_NAME_CHARS: usize = 64;
/// Longest relying-party name, in characters.
pub const MAX_RP_NAME_CHARS: usize = 100;
/// Most origins per relying party.
pub const MAX_ORIGINS: usize = 32;
/// The prefix of an Android app's origin.
pub const ANDROID_ORIGIN_PREFIX: &str = "android:apk-key-hash:";

/// Settings of the passkey enclave given to `serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyConfig {
    /// The default relying party (clients without their own use it); `None`: none.
    pub relying_party: Option<RelyingParty>,
    /// How long a ceremony stays valid.
    pub ceremony_ttl: Duration,
}

impl Default for PasskeyConfig {
    fn default() -> Self {
        Self { relying_party: None, ceremony_ttl: Duration::from_secs(DEFAULT_CEREMONY_TTL_SECS) }
    }
}

/// A checked WebAuthn relying party: rp id, name and allowed origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// The rp id: a lower-case domain name (credentials are scoped to it).
    pub id: String,
    /// The name passkey managers show.
    pub name: String,
    /// Allowed `clientDataJSON` origins, matched exactly.
    pub origins: Vec<String>,
}

impl RelyingParty {
    /// Checks an rp id, an optional name (default: the rp id) and the origins
    /// ([`check_rp_id`], [`check_origin`]). At least one origin must be a web
    /// origin webauthn-rs can anchor the rp id to: `https://` on the rp id or
    /// a subdomain, or `http://localhost[:port]` when the rp id is `localhost`.
    pub fn new(id: &str, name: Option<&str>, origins: &[String]) -> Result<Self, String> {
        check_rp_id(id)?;
        let name = match name {
            Some(name) => {
                let name = name.trim();
                if name.is_empty() || name.chars().count() > MAX_RP_NAME_CHARS || name.chars().any(char::is_control) {
                    return Err(format!(
                        "a passkey relying-party name is 1 to {MAX_RP_NAME_CHARS} characters, without control characters"
                    ));
                }
                name.to_owned()
            }
            None => id.to_owned(),
        };
        if origins.is_empty() || origins.len() > MAX_ORIGINS {
            return Err(format!("a passkey relying party needs 1 to {MAX_ORIGINS} origins (--passkey-origin)"));
        }
        let mut checked: Vec<String> = Vec::with_capacity(origins.len());
        for origin in origins {
            check_origin(origin, id)?;
            if !checked.contains(origin) {
                checked.push(origin.clone());
            }
        }
        let rp = Self { id: id.to_owned(), name, origins: checked };
        if rp.anchor().is_none() {
            return Err(format!(
                "the passkey origins need at least one web origin on the rp id: https://{id} (or a subdomain), \
                 or http://localhost[:port] with the rp id localhost"
            ));
        }
        Ok(rp)
    }

    /// A stored client relying party, checked again.
    pub fn from_client(rp: &ClientRelyingParty) -> Result<Self, String> {
        Self::new(&rp.id, rp.name.as_deref(), &rp.origins)
    }

    /// The relying party as a client row stores it.
    pub fn to_client(&self) -> ClientRelyingParty {
        ClientRelyingParty { id: self.id.clone(), name: Some(self.name.clone()), origins: self.origins.clone() }
    }

    /// The first origin whose host is the rp id or a subdomain of it
    /// (webauthn-rs's builder needs one).
    fn anchor(&self) -> Option<Url> {
        self.origins.iter().filter(|o| !o.starts_with(ANDROID_ORIGIN_PREFIX)).find_map(|o| {
            let url = Url::parse(o).ok()?;
            let host = url.domain()?;
            (host == self.id || host.ends_with(&format!(".{}", self.id))).then_some(url)
        })
    }

    /// webauthn-rs for this relying party: its origins only (exact ports, no
    /// other subdomains), `timeout` in the options.
    pub fn webauthn(&self, timeout: Duration) -> Result<Webauthn, String> {
        let anchor = self.anchor().ok_or("no web origin on the rp id")?;
        let mut builder = WebauthnBuilder::new(&self.id, &anchor)
            .map_err(|e| format!("webauthn-rs refused the relying party: {e}"))?
            .rp_name(&self.name)
            .allow_any_port(false)
            .allow_subdomains(false)
            .timeout(timeout);
        for origin in &self.origins {
            let url = Url::parse(origin).map_err(|e| format!("origin {origin}: {e}"))?;
            if url != anchor {
                builder = builder.append_allowed_origin(&url);
            }
        }
        builder.build().map_err(|e| format!("webauthn-rs refused the relying party: {e}"))
    }
}

/// Checks an rp id: a lower-case domain name (labels of 1 to 63 letters,
/// digits and inner hyphens, at most 253 characters; not an IP address).
pub fn check_rp_id(id: &str) -> Result<(), String> {
    let labels_ok = !id.is_empty()
        && id.len() <= 253
        && id.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let numeric_tld = id.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()));
    if labels_ok && !numeric_tld {
        Ok(())
    } else {
        Err(format!(
            "passkey rp id `{id}` is not a lower-case domain name (like wallet.example; no scheme, port or path)"
        ))
    }
}

/// Checks one allowed origin for the rp id `rp_id`: `https://host[:port]`
/// whose host is the rp id or a subdomain of it, `http://localhost[:port]`,
/// or `android:apk-key-hash:<base64url SHA-256, 43 characters>`. Web origins
/// must be written exactly as browsers send them (lower-case, no default
/// port, no path or trailing slash).
pub fn check_origin(origin: &str, rp_id: &str) -> Result<(), String> {
    if let Some(hash) = origin.strip_prefix(ANDROID_ORIGIN_PREFIX) {
        let bytes = Base64UrlUnpadded::decode_vec(hash).unwrap_or_default();
        if hash.len() == 43 && bytes.len() == 32 {
            return Ok(());
        }
        return Err(format!(
            "origin `{origin}`: an Android origin is {ANDROID_ORIGIN_PREFIX} and the unpadded base64url of the \
             signing certificate's SHA-256 (43 characters)"
        ));
    }
    let url = Url::parse(origin).map_err(|e| format!("origin `{origin}` is not a URL: {e}"))?;
    if url.origin().ascii_serialization() != origin {
        return Err(format!(
            "origin `{origin}` must be written as browsers send it: scheme://host[:port], lower-case, \
             no default port, no path or trailing slash"
        ));
    }
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" if host == rp_id || host.ends_with(&format!(".{rp_id}")) => Ok(()),
        "https" => Err(format!("origin `{origin}`: its host is neither the rp id {rp_id} nor a subdomain of it")),
        "http" if host == "localhost" => Ok(()),
        _ => Err(format!(
            "origin `{origin}`: passkey origins are https://, http://localhost (development) or {ANDROID_ORIGIN_PREFIX}…"
        )),
    }
}
