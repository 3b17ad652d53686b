//! [`LocalKms`], the built-in KMS backend: master keys in a local file, for
//! one machine, development and the demo (the embedded default).
//!
//! `LocalKms` file (JSON, owner-only permissions, refused otherwise):
//!
//! ```json
//! { "format": "wallet-backup-service/local-kms/v1",
//!   "current": "lk-…",
//!   "keys": [ { "id": "lk-…", "createdAt": "…", "key": "<base64url, 32 bytes>" } ] }
//! ```
//!
//! [`LocalKms::rotate`] adds a key and makes it current; older keys stay so
//! data keys they wrapped still unwrap, until `kms rewrap` moved every record
//! to the current key. The file is rewritten atomically (temporary file,
//! fsync, rename, fsync of the directory) under an exclusive lock on a
//! sibling `.lock` file, so two `rotate`s never lose a key. A running service
//! notices a rotation by another process: it re-reads the file when it
//! changed (checked on every wrap, and on an unwrap that names an unknown key).
//! Its key ids start with `lk-`; an unwrap of any other id is
//! [`KmsError::UnknownKey`], so a [`super::KmsChain`] asks the next backend.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Kms, KmsError, WrappedKey};

const FORMAT: &str = "wallet-backup-service/local-kms/v1";
const WRAP_LABEL: &[u8] = b"wallet-backup-service/local-kms/v1/wrap";
const NONCE_LEN: usize = 12;
/// nonce ‖ AES-256-GCM(data key) ‖ tag
const WRAPPED_LEN: usize = NONCE_LEN + 32 + 16;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyFile {
    format: String,
    current: String,
    keys: Vec<KeyEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyEntry {
    id: String,
    created_at: String,
    key: Zeroizing<String>,
}

/// Identity of the key file's current version, to notice a rewrite.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

struct Loaded {
    stamp: Stamp,
    current: String,
    keys: HashMap<String, Zeroizing<[u8; 32]>>,
}

/// The built-in KMS: master keys in a local file readable only by its owner.
pub struct LocalKms {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

impl std::fmt::Debug for LocalKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKms").field("path", &self.path).finish_non_exhaustive()
    }
}

fn unavailable(path: &Path, what: &str, e: impl std::fmt::Display) -> KmsError {
    KmsError::Unavailable(format!("{what} {}: {e}", path.display()))
}

fn new_key_id() -> Result<String, KmsError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| KmsError::Unavailable(format!("random source: {e}")))?;
    Ok(format!("lk-{}", hex::encode(bytes)))
}

fn new_entry() -> Result<KeyEntry, KmsError> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut()).map_err(|e| KmsError::Unavailable(format!("random source: {e}")))?;
    Ok(KeyEntry {
        id: new_key_id()?,
        created_at: crate::util::rfc3339(crate::util::now_micros()),
        key: Zeroizing::new(Base64UrlUnpadded::encode_string(key.as_ref())),
    })
}

/// An exclusive lock on `<key file>.lock`, released on drop.
struct FileLock(File);

impl FileLock {
    fn acquire(path: &Path) -> Result<Self, KmsError> {
        let lock_path = sibling(path, "lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| unavailable(&lock_path, "cannot open lock file", e))?;
        file.lock().map_err(|e| unavailable(&lock_path, "cannot lock", e))?;
        Ok(Self(file))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn sibling(path: &Path, ext: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".");
    name.push(ext);
    path.with_file_name(name)
}

/// Reads and checks the key file: a regular file, owner-only permissions.
fn read_file(path: &Path) -> Result<(KeyFile, Stamp), KmsError> {
    let file = File::open(path).map_err(|e| unavailable(path, "cannot open key file", e))?;
    let meta = file.metadata().map_err(|e| unavailable(path, "cannot stat key file", e))?;
    if !meta.is_file() {
        return Err(unavailable(path, "key file", "not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KmsError::Unavailable(format!(
            "key file {} has mode {mode:03o}: it must be readable by its owner only (chmod 600)",
            path.display()
        )));
    }
    let text =
        Zeroizing::new(std::io::read_to_string(&file).map_err(|e| unavailable(path, "cannot read key file", e))?);
    let parsed: KeyFile =
        serde_json::from_str(&text).map_err(|e| unavailable(path, "malformed key file", e.to_string()))?;
    if parsed.format != FORMAT {
        return Err(unavailable(path, "key file", format!("unknown format `{}`", parsed.format)));
    }
    Ok((parsed, stamp(&meta)))
}

fn stamp(meta: &fs::Metadata) -> Stamp {
    Stamp { ino: meta.ino(), len: meta.len(), mtime: meta.mtime(), mtime_nsec: meta.mtime_nsec() }
}

fn decode(path: &Path, file: &KeyFile, stamp: Stamp) -> Result<Loaded, KmsError> {
    let mut keys = HashMap::new();
    for entry in &file.keys {
        let mut key = Zeroizing::new([0u8; 32]);
        let ok = Base64UrlUnpadded::decode(entry.key.as_bytes(), key.as_mut()).is_ok_and(|k| k.len() == 32);
        if !ok || entry.id.is_empty() {
            return Err(unavailable(path, "key file", format!("key `{}` is malformed", entry.id)));
        }
        if keys.insert(entry.id.clone(), key).is_some() {
            return Err(unavailable(path, "key file", format!("key id `{}` appears twice", entry.id)));
        }
    }
    if !keys.contains_key(&file.current) {
        return Err(unavailable(path, "key file", "the current key is not in the file"));
    }
    Ok(Loaded { stamp, current: file.current.clone(), keys })
}

/// Writes `file` to `path` atomically with mode 0600.
fn write_file(path: &Path, file: &KeyFile) -> Result<(), KmsError> {
    let text =
        Zeroizing::new(serde_json::to_string_pretty(file).map_err(|e| unavailable(path, "cannot encode key file", e))?);
    let tmp = sibling(path, "tmp");
    let _ = fs::remove_file(&tmp);
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| unavailable(&tmp, "cannot create", e))?;
    out.write_all(text.as_bytes()).map_err(|e| unavailable(&tmp, "cannot write", e))?;
    out.write_all(b"\n").map_err(|e| unavailable(&tmp, "cannot write", e))?;
    out.sync_all().map_err(|e| unavailable(&tmp, "cannot sync", e))?;
    drop(out);
    fs::rename(&tmp, path).map_err(|e| unavailable(path, "cannot replace", e))?;
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| unavailable(dir, "cannot sync directory", e))?;
    }
    Ok(())
}

impl LocalKms {
    /// Opens the key file at `path`, creating it (with one new master key,
    /// mode 0600) if it does not exist. Refuses a file that its group or
    /// others can access.
    pub fn open_or_create(path: &Path) -> Result<Self, KmsError> {
        let _lock = FileLock::acquire(path)?;
        if !path.exists() {
            let entry = new_entry()?;
            let file = KeyFile { format: FORMAT.into(), current: entry.id.clone(), keys: vec![entry] };
            write_file(path, &file)?;
            tracing::info!(path = %path.display(), key_id = %file.current, "created KMS key file");
        }
        Self::open(path)
    }

    /// Opens an existing key file.
    pub fn open(path: &Path) -> Result<Self, KmsError> {
        let (file, stamp) = read_file(path)?;
        let loaded = decode(path, &file, stamp)?;
        Ok(Self { path: path.to_path_buf(), loaded: Mutex::new(loaded) })
    }

    /// The key file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds a new master key and makes it current; returns its id. Existing
    /// keys are kept, so everything they wrapped still unwraps.
    pub fn rotate(&self) -> Result<String, KmsError> {
        let _lock = FileLock::acquire(&self.path)?;
        let (mut file, _) = read_file(&self.path)?;
        let entry = new_entry()?;
        let id = entry.id.clone();
        file.keys.push(entry);
        file.current = id.clone();
        write_file(&self.path, &file)?;
        self.reload(true)?;
        Ok(id)
    }

    /// Ids of all master keys held, current one included.
    pub fn key_ids(&self) -> Result<Vec<String>, KmsError> {
        self.reload(false)?;
        let loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<String> = loaded.keys.keys().cloned().collect();
        ids.sort();
        Ok(ids)
    }

    /// Re-reads the file if it changed since it was loaded (or always, with `force`).
    fn reload(&self, force: bool) -> Result<(), KmsError> {
        let meta = fs::metadata(&self.path).map_err(|e| unavailable(&self.path, "cannot stat key file", e))?;
        let now = stamp(&meta);
        {
            let loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
            if !force && loaded.stamp == now {
                return Ok(());
            }
        }
        let (file, stamp) = read_file(&self.path)?;
        let fresh = decode(&self.path, &file, stamp)?;
        *self.loaded.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }
}

#[async_trait]
impl Kms for LocalKms {
    fn current_key_id(&self) -> Result<String, KmsError> {
        self.reload(false)?;
        Ok(self.loaded.lock().unwrap_or_else(|p| p.into_inner()).current.clone())
    }

    async fn wrap(&self, data_key: &[u8; 32], context: &[u8]) -> Result<WrappedKey, KmsError> {
        self.reload(false)?;
        let (key_id, cipher) = {
            let loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
            let key = loaded.keys.get(&loaded.current).ok_or_else(|| KmsError::UnknownKey(loaded.current.clone()))?;
            (loaded.current.clone(), Aes256Gcm::new((&**key).into()))
        };
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| KmsError::Unavailable(format!("random source: {e}")))?;
        let aad = super::wrap_aad(WRAP_LABEL, &key_id, context);
        let ct = cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: data_key, aad: &aad })
            .map_err(|_| KmsError::Unavailable("AES-GCM encryption failed".into()))?;
        let mut ciphertext = Vec::with_capacity(WRAPPED_LEN);
        ciphertext.extend_from_slice(&nonce);
        ciphertext.extend_from_slice(&ct);
        Ok(WrappedKey { key_id, ciphertext })
    }

    async fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<Zeroizing<[u8; 32]>, KmsError> {
        let held = self.loaded.lock().unwrap_or_else(|p| p.into_inner()).keys.contains_key(&wrapped.key_id);
        if !held {
            self.reload(false)?;
        }
        let cipher = {
            let loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
            let key = loaded.keys.get(&wrapped.key_id).ok_or_else(|| KmsError::UnknownKey(wrapped.key_id.clone()))?;
            Aes256Gcm::new((&**key).into())
        };
        if wrapped.ciphertext.len() != WRAPPED_LEN {
            return Err(KmsError::Unwrap);
        }
        let (nonce, ct) = wrapped.ciphertext.split_at(NONCE_LEN);
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(nonce);
        let aad = super::wrap_aad(WRAP_LABEL, &wrapped.key_id, context);
        let plain = Zeroizing::new(
            cipher.decrypt(&Nonce::from(nonce_bytes), Payload { msg: ct, aad: &aad }).map_err(|_| KmsError::Unwrap)?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        if plain.len() != 32 {
            return Err(KmsError::Unwrap);
        }
        key.copy_from_slice(&plain);
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wrap_unwrap_rotate_and_context_binding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kms.json");
        let kms = LocalKms::open_or_create(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let first = kms.current_key_id().unwrap();
        let dk = [7u8; 32];
        let w = kms.wrap(&dk, b"ctx").await.unwrap();
        assert_eq!(w.key_id, first);
        assert_eq!(*kms.unwrap(&w, b"ctx").await.unwrap(), dk);
        assert!(matches!(kms.unwrap(&w, b"other").await, Err(KmsError::Unwrap)));
        let mut bad = w.clone();
        bad.ciphertext[20] ^= 1;
        assert!(matches!(kms.unwrap(&bad, b"ctx").await, Err(KmsError::Unwrap)));

        // A second handle (another process) rotates; the first notices.
        let other = LocalKms::open(&path).unwrap();
        let second = other.rotate().unwrap();
        assert_ne!(first, second);
        assert_eq!(kms.current_key_id().unwrap(), second);
        assert_eq!(kms.wrap(&dk, b"ctx").await.unwrap().key_id, second);
        assert_eq!(*kms.unwrap(&w, b"ctx").await.unwrap(), dk, "old key still opens");
        assert_eq!(kms.key_ids().unwrap().len(), 2);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn refuses_group_or_world_readable_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kms.json");
        drop(LocalKms::open_or_create(&path).unwrap());
        for mode in [0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = LocalKms::open_or_create(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        LocalKms::open(&path).unwrap();
    }
}
