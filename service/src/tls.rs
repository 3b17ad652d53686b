//! TLS for `serve --tls-cert FILE --tls-key FILE`: the rustls server
//! configuration, with a certificate that is re-read when its files change.
//!
//! Certificates rotate (ACME clients renew every 60 days or so), and the
//! service must not need a restart for it. [`ReloadingCert`] is the
//! configuration's certificate resolver: on a handshake at least
//! [`RELOAD_CHECK_INTERVAL`] after its last look, it compares the two files'
//! inode, length and modification time with those of the pair it serves
//! (two `stat`s), and only when one changed reads and parses them again. A
//! new pair is swapped in whole, for the handshakes that follow; connections
//! already open keep theirs. A new pair that does not load (unreadable,
//! not PEM, no certificate, a key of another certificate: the moment between
//! an operator's two writes, say) leaves the current one in service and logs
//! one warning, once per change of the files.
//!
//! At start the pair must load, or the service refuses to start. Only TLS 1.2
//! and 1.3 (rustls's safe defaults, the ring provider), no client
//! certificates, and ALPN `http/1.1` only: the service speaks HTTP/1.1
//! ([`crate::listener`]).
//!
//! # Security
//!
//! The key file is read into memory that is zeroized when dropped, and
//! nothing of it is logged: log lines name the files and the SHA-256
//! fingerprint of the certificate (as `openssl x509 -fingerprint -sha256`
//! shows it).

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A handshake looks at the files at most this often.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Largest certificate or key file read (a chain of a few certificates is a few KiB).
pub const MAX_PEM_FILE: u64 = 1024 * 1024;

/// The PEM files of `serve --tls-cert` and `--tls-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain: the service's certificate first, then intermediates.
    pub cert: PathBuf,
    /// The private key of the first certificate (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The rustls server configuration of `files`: loads the pair now (an error
/// says what is wrong with which file) and serves it with a
/// [`ReloadingCert`].
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = ReloadingCert::load(files.clone(), provider.clone())?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What identifies a version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = fs::metadata(path).ok()?;
    Some(Stamp { ino: meta.ino(), len: meta.len(), mtime: meta.mtime(), mtime_nsec: meta.mtime_nsec() })
}

struct Current {
    key: Arc<CertifiedKey>,
    /// The files' stamps when last looked at (loaded, or found bad).
    seen: (Option<Stamp>, Option<Stamp>),
    checked: Instant,
}

/// A certificate resolver serving the pair in [`TlsFiles`], re-read when the
/// files change (see the module doc).
pub struct ReloadingCert {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: Mutex<Current>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert").field("files", &self.files).finish_non_exhaustive()
    }
}

impl ReloadingCert {
    /// Loads the pair; an error names the file and what is wrong with it.
    pub fn load(files: TlsFiles, provider: Arc<CryptoProvider>) -> Result<Self, String> {
        let seen = (stamp(&files.cert), stamp(&files.key));
        let key = load_pair(&files, &provider)?;
        tracing::info!(
            cert = %files.cert.display(),
            sha256 = %fingerprint(&key),
            "TLS certificate loaded"
        );
        Ok(Self { files, provider, current: Mutex::new(Current { key, seen, checked: Instant::now() }) })
    }

    /// The pair to serve: the current one, after a look at the files if the
    /// last look is [`RELOAD_CHECK_INTERVAL`] old.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.checked.elapsed() < RELOAD_CHECK_INTERVAL {
            return current.key.clone();
        }
        current.checked = Instant::now();
        let seen = (stamp(&self.files.cert), stamp(&self.files.key));
        if seen == current.seen {
            return current.key.clone();
        }
        // Remembered either way: a bad pair is reported once, not at every handshake.
        current.seen = seen;
        match load_pair(&self.files, &self.provider) {
            Ok(key) => {
                tracing::info!(
                    cert = %self.files.cert.display(),
                    sha256 = %fingerprint(&key),
                    "TLS certificate reloaded: new connections get the new one"
                );
                current.key = key;
            }
            Err(e) => tracing::warn!(
                error = %e,
                sha256 = %fingerprint(&current.key),
                "TLS certificate files changed but do not load; still serving the previous certificate"
            ),
        }
        current.key.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The SHA-256 fingerprint of the pair's first certificate, hex with colons.
fn fingerprint(key: &CertifiedKey) -> String {
    let Some(cert) = key.cert.first() else { return String::new() };
    let digest = Sha256::digest(cert.as_ref());
    digest.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Reads a file of at most [`MAX_PEM_FILE`] bytes.
fn read_small(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let file = fs::File::open(path).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_PEM_FILE + 1).read_to_end(&mut bytes).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(format!("{what} {}: larger than {MAX_PEM_FILE} bytes", path.display()));
    }
    Ok(bytes)
}

fn load_pair(files: &TlsFiles, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, String> {
    let cert_pem = read_small(&files.cert, "--tls-cert")?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--tls-cert {}: not a PEM certificate chain: {e}", files.cert.display()))?;
    if chain.is_empty() {
        return Err(format!("--tls-cert {}: no CERTIFICATE in the file", files.cert.display()));
    }
    let key_pem = read_small(&files.key, "--tls-key")?;
    // The parser's error is not passed on: it could quote a line of the key file.
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        format!("--tls-key {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in the file", files.key.display())
    })?;
    let key = CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        format!("--tls-key {} does not go with --tls-cert {}: {e}", files.key.display(), files.cert.display())
    })?;
    Ok(Arc::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str) -> (TlsFiles, String) {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let files = TlsFiles { cert: dir.join(format!("{name}.pem")), key: dir.join(format!("{name}.key")) };
        fs::write(&files.cert, cert.pem()).unwrap();
        fs::write(&files.key, key.serialize_pem()).unwrap();
        (files, key.serialize_pem())
    }

    #[test]
    fn loads_a_pair_and_says_what_is_wrong_with_a_bad_one() {
        let dir = tempfile::tempdir().unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (good, _) = pair(dir.path(), "good");
        assert!(server_config(&good).is_ok());
        let loaded = ReloadingCert::load(good.clone(), provider.clone()).unwrap();
        assert_eq!(fingerprint(&loaded.current()).len(), 32 * 3 - 1);

        let (other, other_key) = pair(dir.path(), "other");
        let mismatched = TlsFiles { cert: good.cert.clone(), key: other.key.clone() };
        let error = ReloadingCert::load(mismatched, provider.clone()).unwrap_err();
        assert!(error.contains("does not go with"), "{error}");

        fs::write(&other.key, "-----BEGIN PRIVATE KEY-----\nc2VjcmV0IGtleSBieXRlcw\n").unwrap();
        let error = ReloadingCert::load(other.clone(), provider.clone()).unwrap_err();
        assert!(error.contains("--tls-key") && !error.contains("c2VjcmV0"), "{error}");
        assert!(!error.contains(other_key.lines().nth(1).unwrap()), "{error}");

        fs::write(&other.cert, "").unwrap();
        let error = ReloadingCert::load(other.clone(), provider.clone()).unwrap_err();
        assert!(error.contains("no CERTIFICATE"), "{error}");
        let missing = TlsFiles { cert: dir.path().join("missing.pem"), key: other.key.clone() };
        assert!(ReloadingCert::load(missing, provider).unwrap_err().contains("missing.pem"));
    }
}
