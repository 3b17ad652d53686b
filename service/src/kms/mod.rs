//! Key management: the [`Kms`] trait that wraps and unwraps data keys, its
//! backends, and [`KmsChain`], the set of backends one process uses.
//!
//! Envelope encryption (see [`crate::seal`]): every stored secret is sealed
//! with its own random 256-bit data key; only the data key goes to the KMS,
//! which wraps it under a master key that never leaves the KMS. The trait is
//! the shape of a cloud KMS's `Encrypt`/`Decrypt` with an encryption context
//! (AWS KMS `EncryptionContext`, Google Cloud KMS `additionalAuthenticatedData`,
//! Azure Key Vault `wrapKey`): a wrapped key names the master key that wrapped
//! it, and it only unwraps with the same context.
//!
//! Backends, one file each: [`local`] (master keys in a file, the default),
//! [`aws`] (AWS KMS) and [`pkcs11`] (a key on a PKCS#11 token: an HSM). [`KmsBackend`] names them on the command line;
//! [`open`] opens the selected ones as a [`KmsChain`]: new keys are wrapped
//! by one backend, and a wrapped key is unwrapped by whichever configured
//! backend holds its `key_id` (each backend answers [`KmsError::UnknownKey`]
//! for ids that are not its own). That is what lets `kms migrate` move
//! records from one backend to another while the service serves.
//! [`check`] is the start-up round trip.

pub mod aws;
pub mod local;
pub mod pkcs11;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use zeroize::Zeroizing;

pub use aws::{AwsKms, AwsSettings};
pub use local::LocalKms;
pub use pkcs11::{Pkcs11Args, Pkcs11Kms};

/// A data key wrapped by a KMS master key.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Id of the master key that wrapped it.
    pub key_id: String,
    /// The KMS's ciphertext of the data key (opaque to the service).
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedKey").field("key_id", &self.key_id).field("len", &self.ciphertext.len()).finish()
    }
}

/// KMS failures. None of them carries key material.
#[derive(Debug)]
pub enum KmsError {
    /// The wrapped key names a master key this KMS does not have.
    UnknownKey(String),
    /// The wrapped key does not open under its master key and context
    /// (changed bytes, or another record's context).
    Unwrap,
    /// The key file (or the cloud KMS) could not be used.
    Unavailable(String),
}

impl std::fmt::Display for KmsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownKey(id) => write!(f, "KMS has no master key `{id}`"),
            Self::Unwrap => f.write_str("wrapped data key does not open (tampered, or wrong context)"),
            Self::Unavailable(why) => write!(f, "KMS unavailable: {why}"),
        }
    }
}

impl std::error::Error for KmsError {}

impl KmsError {
    /// What went wrong, without the "KMS unavailable" prefix of [`KmsError::Unavailable`].
    pub fn reason(&self) -> String {
        match self {
            Self::Unavailable(why) => why.clone(),
            other => other.to_string(),
        }
    }
}

/// A key management service that wraps 256-bit data keys under master keys
/// it never reveals. `context` is authenticated, not encrypted: a key wrapped
/// with one context does not unwrap with another.
#[async_trait]
pub trait Kms: Send + Sync {
    /// The id of the master key new wraps use.
    fn current_key_id(&self) -> Result<String, KmsError>;

    /// Wraps `data_key` under the current master key.
    async fn wrap(&self, data_key: &[u8; 32], context: &[u8]) -> Result<WrappedKey, KmsError>;

    /// Unwraps a key wrapped by [`Kms::wrap`] (under any master key still held).
    async fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<Zeroizing<[u8; 32]>, KmsError>;
}

/// A KMS backend the service can use (`--kms`, `--kms-also`, `kms migrate --to`).
/// A new backend is a variant here, its settings in [`KmsSelection`], and
/// its arm in [`open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum KmsBackend {
    /// [`LocalKms`]: master keys in a file (`--kms-file`).
    #[default]
    Local,
    /// [`AwsKms`]: a key in AWS KMS (`--aws-kms-key-id`, `--aws-region`, `--aws-endpoint-url`).
    Aws,
    /// [`Pkcs11Kms`]: an AES key on a PKCS#11 token (`--pkcs11-token`, `--pkcs11-pin-file`, `--pkcs11-key-label`).
    Pkcs11,
}

impl std::fmt::Display for KmsBackend {
    /// The name the command line takes (`local`, `aws`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = clap::ValueEnum::to_possible_value(self);
        f.write_str(value.as_ref().map_or("?", |v| v.get_name()))
    }
}

/// Which backends a process uses, and their settings.
#[derive(Debug, Clone, Default)]
pub struct KmsSelection {
    /// The backend that wraps new data keys.
    pub wrap_with: KmsBackend,
    /// More backends whose wrapped keys this process also unwraps (during
    /// and after a `kms migrate`). Duplicates and `wrap_with` are ignored.
    pub unwrap_also: Vec<KmsBackend>,
    /// The AWS KMS key and client settings (needed when `Aws` is selected).
    pub aws: Option<AwsSettings>,
    /// The PKCS#11 module, token, PIN file and key (used when `Pkcs11` is selected).
    pub pkcs11: Option<Pkcs11Args>,
}

impl KmsSelection {
    /// The same selection, wrapping with `to` and unwrapping with every
    /// backend of `self` too: what `kms migrate --to` uses.
    pub fn migrating_to(&self, to: KmsBackend) -> Self {
        let mut also = vec![self.wrap_with];
        also.extend(self.unwrap_also.iter().copied());
        Self { wrap_with: to, unwrap_also: also, ..self.clone() }
    }

    /// Every selected backend once, the wrapping one first.
    pub fn backends(&self) -> Vec<KmsBackend> {
        let mut all = vec![self.wrap_with];
        for b in &self.unwrap_also {
            if !all.contains(b) {
                all.push(*b);
            }
        }
        all
    }
}

/// The backends of one process: the first wraps, any unwraps the keys it holds.
pub struct KmsChain {
    backends: Vec<(KmsBackend, Arc<dyn Kms>)>,
    local: Option<Arc<LocalKms>>,
}

impl std::fmt::Debug for KmsChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.backends.iter().map(|(b, _)| b)).finish()
    }
}

impl KmsChain {
    /// The local backend, if selected (`kms rotate` rotates its file).
    pub fn local(&self) -> Option<&LocalKms> {
        self.local.as_deref()
    }

    /// The selected backends, the wrapping one first.
    pub fn backends(&self) -> Vec<KmsBackend> {
        self.backends.iter().map(|(b, _)| *b).collect()
    }
}

/// Opens every backend `selection` names (each once, the wrapping one
/// first), the local one with its key file at `local_file`. Opening does
/// not call a remote KMS; [`check`] does.
pub async fn open(selection: &KmsSelection, local_file: &Path) -> Result<KmsChain, KmsError> {
    let mut chain = KmsChain { backends: Vec::new(), local: None };
    for backend in selection.backends() {
        let kms: Arc<dyn Kms> = match backend {
            KmsBackend::Local => {
                let local = Arc::new(LocalKms::open_or_create(local_file)?);
                chain.local = Some(local.clone());
                local
            }
            KmsBackend::Aws => {
                let settings = selection.aws.as_ref().ok_or_else(|| {
                    KmsError::Unavailable("the aws backend needs --aws-kms-key-id (a key ARN, id or alias)".into())
                })?;
                Arc::new(AwsKms::connect(settings).await?)
            }
            KmsBackend::Pkcs11 => {
                let args = selection.pkcs11.clone().ok_or_else(|| {
                    KmsError::Unavailable(
                        "the pkcs11 backend needs --pkcs11-token, --pkcs11-pin-file and --pkcs11-key-label".into(),
                    )
                })?;
                // Loading the module and logging in block.
                let opened = tokio::task::spawn_blocking(move || Pkcs11Kms::open(&args))
                    .await
                    .map_err(|e| KmsError::Unavailable(format!("opening the PKCS#11 token: {e}")))??;
                Arc::new(opened)
            }
        };
        chain.backends.push((backend, kms));
    }
    Ok(chain)
}

/// The associated data a backend that encrypts data keys itself (the key
/// file, a PKCS#11 token) authenticates: `label ‖ 0 ‖ key id ‖ 0 ‖ context`,
/// so a wrapped key opens only under its own master key and context.
fn wrap_aad(label: &[u8], key_id: &str, context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(label.len() + key_id.len() + context.len() + 2);
    aad.extend_from_slice(label);
    aad.push(0);
    aad.extend_from_slice(key_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(context);
    aad
}

/// The context of the start-up round trip (no record uses it).
const CHECK_CONTEXT: &[u8] = b"wallet-backup-service/kms-check/v1";

/// The start-up check of every backend of `chain`: wraps a random key,
/// unwraps it, and checks that it does not unwrap under another context.
/// The error names the backend and says what failed, in one line.
pub async fn check(chain: &KmsChain) -> Result<(), KmsError> {
    for (backend, kms) in &chain.backends {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            KmsError::Unavailable(format!("start-up check of the {backend} backend failed: {what}: {e}"))
        };
        let mut data_key = Zeroizing::new([0u8; 32]);
        getrandom::fill(data_key.as_mut()).map_err(|e| fail("random source", &e))?;
        let wrapped = kms.wrap(&data_key, CHECK_CONTEXT).await.map_err(|e| fail("wrap", &e.reason()))?;
        let back = kms.unwrap(&wrapped, CHECK_CONTEXT).await.map_err(|e| fail("unwrap", &e.reason()))?;
        if *back != *data_key {
            return Err(fail("unwrap", &"returned another key"));
        }
        match kms.unwrap(&wrapped, b"wallet-backup-service/kms-check/other").await {
            Err(KmsError::Unwrap) => {}
            Ok(_) => return Err(fail("context", &"a key unwrapped under another context")),
            Err(e) => return Err(fail("unwrap under another context", &e.reason())),
        }
    }
    Ok(())
}

#[async_trait]
impl Kms for KmsChain {
    fn current_key_id(&self) -> Result<String, KmsError> {
        let (_, kms) = self.backends.first().ok_or_else(|| KmsError::Unavailable("no KMS backend".into()))?;
        kms.current_key_id()
    }

    async fn wrap(&self, data_key: &[u8; 32], context: &[u8]) -> Result<WrappedKey, KmsError> {
        let (_, kms) = self.backends.first().ok_or_else(|| KmsError::Unavailable("no KMS backend".into()))?;
        kms.wrap(data_key, context).await
    }

    /// Asks each backend in turn; one that does not hold `key_id` answers
    /// [`KmsError::UnknownKey`] without a remote call, and the next is asked.
    async fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<Zeroizing<[u8; 32]>, KmsError> {
        for (_, kms) in &self.backends {
            match kms.unwrap(wrapped, context).await {
                Err(KmsError::UnknownKey(_)) => continue,
                other => return other,
            }
        }
        Err(KmsError::UnknownKey(wrapped.key_id.clone()))
    }
}
