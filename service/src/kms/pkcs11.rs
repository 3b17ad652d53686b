//! The PKCS#11 KMS: a master key held in an HSM (or SoftHSM2), behind the
//! [`Kms`] trait, through the `cryptoki` binding.
//!
//! The master key is an AES-256 secret key on a token, made by
//! [`create_key`] sensitive and non-extractable: it never leaves the token.
//! [`Pkcs11Kms::wrap`] encrypts a data key inside the token with
//! `CKM_AES_GCM` under a random 12-byte IV, with the wrap context in the
//! additional authenticated data; the wrapped key is
//! `IV ‖ ciphertext ‖ 16-byte tag` (60 bytes). The AAD is
//! `"wallet-backup-service/pkcs11-kms/v1/wrap" ‖ 0 ‖ key id ‖ 0 ‖ context`,
//! the layout [`crate::kms::LocalKms`] uses, so a key wrapped with one
//! context (or under another key id) does not unwrap with another.
//!
//! Key ids are RFC 7512 PKCS#11 URIs naming the token, the key's label and
//! its `CKA_ID`: `pkcs11:token=wallet-backup;object=master;id=%3f%a0…`.
//!
//! # Sessions
//!
//! PKCS#11 calls block, so they run on [`tokio::task::spawn_blocking`].
//! A module is loaded and initialised once per process (a registry keyed by
//! its path) and never finalised: every [`Pkcs11Kms`] in the process shares
//! it. Each [`Pkcs11Kms`] keeps up to `--pkcs11-max-sessions` read-only
//! sessions; a call takes an idle one (or opens one) and gives it back.
//! Login state belongs to the application and the token, not to a session
//! (PKCS#11 §5.6): the first session logs in, `CKR_USER_ALREADY_LOGGED_IN`
//! counts as success, and the user stays logged in while any session of the
//! process is open. A call that finds the user logged out, its session gone
//! (token reset or removed) or its key handle stale reconnects — finds the
//! token again, opens a session, logs in, finds the key by label and
//! `CKA_ID` — and retries once.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use async_trait::async_trait;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use zeroize::Zeroizing;

use crate::kms::{Kms, KmsError, WrappedKey};

/// Where Debian's `softhsm2` package puts SoftHSM2's module.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// Default of `--pkcs11-max-sessions`.
pub const DEFAULT_MAX_SESSIONS: usize = 4;

const WRAP_LABEL: &[u8] = b"wallet-backup-service/pkcs11-kms/v1/wrap";
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// IV ‖ AES-256-GCM(data key) ‖ tag
const WRAPPED_LEN: usize = IV_LEN + 32 + TAG_LEN;
/// Bytes of the random `CKA_ID` [`create_key`] gives a key.
const CKA_ID_LEN: usize = 8;
/// A PIN file larger than this is not a PIN file.
const MAX_PIN_FILE: u64 = 1024;
/// Characters RFC 7512 lets through unencoded in a URI's path attributes
/// that we keep (the unreserved set).
const URI_KEEP: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Settings of the PKCS#11 KMS. Every field is optional on the command line
/// so the struct can sit beside the other backends' flags (its argument ids
/// are prefixed `pkcs11_` not to clash with theirs); [`Pkcs11Kms::open`] and
/// [`create_key`] say which one is missing.
#[derive(clap::Args, Debug, Clone)]
pub struct Pkcs11Args {
    /// PKCS#11 module: the HSM vendor's library.
    #[arg(
        id = "pkcs11_module",
        long = "pkcs11-module",
        global = true,
        env = "WALLET_BACKUP_PKCS11_MODULE",
        default_value = DEFAULT_MODULE
    )]
    pub module: PathBuf,
    /// Label of the token holding the master key (or --pkcs11-slot).
    #[arg(
        id = "pkcs11_token",
        long = "pkcs11-token",
        global = true,
        env = "WALLET_BACKUP_PKCS11_TOKEN",
        conflicts_with = "pkcs11_slot"
    )]
    pub token: Option<String>,
    /// Slot id of the token holding the master key (instead of --pkcs11-token).
    #[arg(id = "pkcs11_slot", long = "pkcs11-slot", global = true, env = "WALLET_BACKUP_PKCS11_SLOT")]
    pub slot: Option<u64>,
    /// File holding the token's user PIN (owner-only permissions; a trailing newline is ignored).
    #[arg(id = "pkcs11_pin_file", long = "pkcs11-pin-file", global = true, env = "WALLET_BACKUP_PKCS11_PIN_FILE")]
    pub pin_file: Option<PathBuf>,
    /// Label (CKA_LABEL) of the AES-256 master key on the token.
    #[arg(id = "pkcs11_key_label", long = "pkcs11-key-label", global = true, env = "WALLET_BACKUP_PKCS11_KEY_LABEL")]
    pub key_label: Option<String>,
    /// Most PKCS#11 sessions open at once: wraps and unwraps beyond it wait.
    #[arg(
        id = "pkcs11_max_sessions",
        long = "pkcs11-max-sessions",
        global = true,
        env = "WALLET_BACKUP_PKCS11_MAX_SESSIONS",
        default_value_t = DEFAULT_MAX_SESSIONS,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024)
    )]
    pub max_sessions: usize,
}

fn unavailable(why: impl Into<String>) -> KmsError {
    KmsError::Unavailable(why.into())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Modules loaded and initialised in this process, by path. Never finalised:
/// `C_Finalize` would end every other user's sessions, and a module is
/// initialised once per process (a second `C_Initialize` is an error).
static MODULES: LazyLock<Mutex<HashMap<PathBuf, Pkcs11>>> = LazyLock::new(Default::default);

fn load_module(path: &Path) -> Result<Pkcs11, KmsError> {
    let mut modules = lock(&MODULES);
    if let Some(module) = modules.get(path) {
        return Ok(module.clone());
    }
    let module = Pkcs11::new(path)
        .map_err(|e| unavailable(format!("cannot load the PKCS#11 module {}: {e}", path.display())))?;
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Someone else in the process (another binding) initialised it first.
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(unavailable(format!("the PKCS#11 module {} does not initialise: {e}", path.display())));
        }
    }
    modules.insert(path.to_path_buf(), module.clone());
    Ok(module)
}

/// Reads the PIN file: a regular file only its owner can read, at most
/// 1 KiB, one trailing newline (`\n` or `\r\n`) dropped.
fn read_pin(path: &Path) -> Result<Zeroizing<String>, KmsError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| unavailable(format!("{what} PIN file {}: {e}", path.display()));
    let mut file = File::open(path).map_err(|e| fail("cannot open", &e))?;
    let meta = file.metadata().map_err(|e| fail("cannot stat", &e))?;
    if !meta.is_file() {
        return Err(fail("the", &"not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(unavailable(format!(
            "PIN file {} has mode {mode:03o}: it must be readable by its owner only (chmod 600)",
            path.display()
        )));
    }
    if meta.len() > MAX_PIN_FILE {
        return Err(fail("the", &format!("larger than {MAX_PIN_FILE} bytes")));
    }
    // Sized up front so reading never reallocates (and leaves a copy behind).
    let mut pin = Zeroizing::new(String::with_capacity(MAX_PIN_FILE as usize + 1));
    file.by_ref().take(MAX_PIN_FILE + 1).read_to_string(&mut pin).map_err(|e| fail("cannot read", &e))?;
    if pin.ends_with('\n') {
        pin.pop();
        if pin.ends_with('\r') {
            pin.pop();
        }
    }
    if pin.is_empty() {
        return Err(fail("empty", &"write the user PIN in it"));
    }
    Ok(pin)
}

/// What `open` and `create_key` need, checked.
struct Target {
    module_path: PathBuf,
    module: Pkcs11,
    token: TokenRef,
    pin: Zeroizing<String>,
    key_label: String,
}

/// How the operator named the token.
#[derive(Clone)]
enum TokenRef {
    Label(String),
    Slot(u64),
}

impl Target {
    fn from_args(args: &Pkcs11Args) -> Result<Self, KmsError> {
        let token = match (&args.token, args.slot) {
            (Some(label), None) => TokenRef::Label(label.clone()),
            (None, Some(slot)) => TokenRef::Slot(slot),
            (Some(_), Some(_)) => return Err(unavailable("give --pkcs11-token or --pkcs11-slot, not both")),
            (None, None) => return Err(unavailable("--pkcs11-token (or --pkcs11-slot) is required")),
        };
        let pin_file = args.pin_file.as_deref().ok_or_else(|| unavailable("--pkcs11-pin-file is required"))?;
        let key_label = match args.key_label.as_deref() {
            Some(label) if !label.is_empty() => label.to_owned(),
            _ => return Err(unavailable("--pkcs11-key-label is required")),
        };
        let pin = read_pin(pin_file)?;
        let module = load_module(&args.module)?;
        Ok(Self { module_path: args.module.clone(), module, token, pin, key_label })
    }

    /// "token `x` of module /path" for messages.
    fn describe(&self) -> String {
        let token = match &self.token {
            TokenRef::Label(label) => format!("token `{label}`"),
            TokenRef::Slot(slot) => format!("the token in slot {slot}"),
        };
        format!("{token} of PKCS#11 module {}", self.module_path.display())
    }

    /// Finds the token's slot; returns it with the token's label.
    fn find_slot(&self) -> Result<(Slot, String), KmsError> {
        let slots = self
            .module
            .get_slots_with_token()
            .map_err(|e| unavailable(format!("cannot list the slots of {}: {e}", self.describe())))?;
        let mut labelled = Vec::new();
        for slot in slots {
            let info = self
                .module
                .get_token_info(slot)
                .map_err(|e| unavailable(format!("cannot read the token in slot {}: {e}", slot.id())))?;
            labelled.push((slot, info.label().to_owned()));
        }
        let mut found: Vec<(Slot, String)> = labelled
            .iter()
            .filter(|(slot, label)| match &self.token {
                TokenRef::Label(want) => label == want,
                TokenRef::Slot(id) => slot.id() == *id,
            })
            .cloned()
            .collect();
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => {
                let present: Vec<String> =
                    labelled.iter().map(|(slot, label)| format!("`{label}` (slot {})", slot.id())).collect();
                let present = if present.is_empty() { "none".to_owned() } else { present.join(", ") };
                Err(unavailable(format!("{} not found; tokens present: {present}", self.describe())))
            }
            n => Err(unavailable(format!("{n} tokens match {}: name it by --pkcs11-slot", self.describe()))),
        }
    }

    /// Opens a session on `slot` and logs the user in (already logged in,
    /// by another session of this process, is fine).
    fn session(&self, slot: Slot, read_write: bool) -> Result<Session, KmsError> {
        let opened = if read_write { self.module.open_rw_session(slot) } else { self.module.open_ro_session(slot) };
        let session = opened.map_err(|e| unavailable(format!("cannot open a session on {}: {e}", self.describe())))?;
        self.login(&session)?;
        Ok(session)
    }

    fn login(&self, session: &Session) -> Result<(), KmsError> {
        let pin = AuthPin::from(self.pin.as_str());
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                Err(unavailable(format!("the PIN in the PIN file is incorrect for {}", self.describe())))
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                Err(unavailable(format!("the user PIN of {} is locked", self.describe())))
            }
            Err(e) => Err(unavailable(format!("cannot log in to {}: {}", self.describe(), rv_name(&e)))),
        }
    }

    /// Secret keys on the token labelled `key_label`.
    fn keys_labelled(&self, session: &Session) -> Result<Vec<ObjectHandle>, KmsError> {
        session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(self.key_label.as_bytes().into()),
            ])
            .map_err(|e| unavailable(format!("cannot search {}: {e}", self.describe())))
    }
}

/// The PKCS#11 error without its (long) explanation, for messages.
fn rv_name(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{function}: {rv:?}"),
        other => other.to_string(),
    }
}

/// RFC 7512 URI naming the key: token label, object label, `CKA_ID`.
fn key_uri(token: &str, label: &str, id: &[u8]) -> String {
    let mut uri = format!(
        "pkcs11:token={};object={}",
        utf8_percent_encode(token, URI_KEEP),
        utf8_percent_encode(label, URI_KEEP)
    );
    if !id.is_empty() {
        uri.push_str(";id=");
        for byte in id {
            uri.push_str(&format!("%{byte:02x}"));
        }
    }
    uri
}

/// Generates the master key on the token: AES-256, labelled
/// `--pkcs11-key-label`, sensitive, non-extractable, allowed only to encrypt
/// and decrypt, with a random `CKA_ID`. Refuses if a secret key with that
/// label exists. Returns the key id new wraps will carry.
///
/// Blocking (it talks to the token): for the operator's command, not for a
/// running service's request path. Two `create_key` at once with one label
/// can both pass the check; run it once.
pub fn create_key(args: &Pkcs11Args) -> Result<String, KmsError> {
    let target = Target::from_args(args)?;
    let (slot, token_label) = target.find_slot()?;
    let session = target.session(slot, true)?;
    if !target.keys_labelled(&session)?.is_empty() {
        return Err(unavailable(format!(
            "a secret key labelled `{}` already exists on {}; choose another label",
            target.key_label,
            target.describe()
        )));
    }
    let mut id = [0u8; CKA_ID_LEN];
    getrandom::fill(&mut id).map_err(|e| unavailable(format!("random source: {e}")))?;
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Label(target.key_label.as_bytes().into()),
        Attribute::Id(id.to_vec()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Modifiable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Derive(false),
    ];
    session
        .generate_key(&Mechanism::AesKeyGen, &template)
        .map_err(|e| unavailable(format!("cannot generate the key on {}: {}", target.describe(), rv_name(&e))))?;
    let key_id = key_uri(&token_label, &target.key_label, &id);
    tracing::info!(key_id = %key_id, "created the PKCS#11 master key");
    Ok(key_id)
}

/// Where the key is now: re-found after a token reset.
#[derive(Clone, Copy)]
struct Located {
    slot: Slot,
    key: ObjectHandle,
}

struct Inner {
    target: Target,
    /// `CKA_ID` of the key found at open: a reconnect must find the same key.
    cka_id: Vec<u8>,
    key_id: String,
    located: Mutex<Located>,
    idle: Mutex<Vec<Session>>,
}

/// A [`Kms`] whose master key is an AES-256 key on a PKCS#11 token.
pub struct Pkcs11Kms {
    inner: Arc<Inner>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Pkcs11Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Kms").field("key_id", &self.inner.key_id).finish_non_exhaustive()
    }
}

impl Pkcs11Kms {
    /// Loads the module, finds the token, logs in with the PIN from the PIN
    /// file and finds the master key (exactly one AES-256 secret key with the
    /// label). Blocking. Every failure is [`KmsError::Unavailable`] saying
    /// what is missing; none names the PIN.
    pub fn open(args: &Pkcs11Args) -> Result<Self, KmsError> {
        let target = Target::from_args(args)?;
        let (slot, token_label) = target.find_slot()?;
        let session = target.session(slot, false)?;
        let (key, cka_id) = find_key(&target, &session, None)?;
        let key_id = key_uri(&token_label, &target.key_label, &cka_id);
        let inner = Inner {
            target,
            cka_id,
            key_id,
            located: Mutex::new(Located { slot, key }),
            idle: Mutex::new(vec![session]),
        };
        Ok(Self { inner: Arc::new(inner), permits: Arc::new(tokio::sync::Semaphore::new(args.max_sessions)) })
    }

    /// Runs `op` on a pooled session on a blocking thread, at most
    /// `max_sessions` at once.
    async fn run<T: Send + 'static>(
        &self,
        op: impl Fn(&Session, ObjectHandle) -> Result<T, Failure> + Send + 'static,
    ) -> Result<T, KmsError> {
        // Owned, and moved into the task: a caller that gives up does not
        // free the slot of a call still running on the token.
        let permit =
            self.permits.clone().acquire_owned().await.map_err(|_| unavailable("the PKCS#11 KMS is closed"))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            inner.call(&op)
        })
        .await
        .map_err(|e| unavailable(format!("PKCS#11 call failed: {e}")))?
    }
}

/// Finds the one AES-256 secret key labelled `key_label` (with `CKA_ID`
/// `want_id`, when given); returns its handle and `CKA_ID`.
fn find_key(target: &Target, session: &Session, want_id: Option<&[u8]>) -> Result<(ObjectHandle, Vec<u8>), KmsError> {
    let found = target.keys_labelled(session)?;
    let key = match found.as_slice() {
        [key] => *key,
        [] => {
            return Err(unavailable(format!(
                "no secret key labelled `{}` on {} (create it with `kms pkcs11 create-key`)",
                target.key_label,
                target.describe()
            )));
        }
        _ => {
            return Err(unavailable(format!(
                "{} secret keys are labelled `{}` on {}: keep one",
                found.len(),
                target.key_label,
                target.describe()
            )));
        }
    };
    let wanted = [AttributeType::KeyType, AttributeType::ValueLen, AttributeType::Id, AttributeType::Extractable];
    let attributes = session.get_attributes(key, &wanted).map_err(|e| {
        unavailable(format!("cannot read the key's attributes on {}: {}", target.describe(), rv_name(&e)))
    })?;
    let (mut aes, mut len, mut id, mut extractable) = (false, 0u64, Vec::new(), true);
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(kind) => aes = kind == KeyType::AES,
            Attribute::ValueLen(n) => len = n.into(),
            Attribute::Id(bytes) => id = bytes,
            Attribute::Extractable(flag) => extractable = flag,
            _ => {}
        }
    }
    if !aes || len != 32 {
        return Err(unavailable(format!(
            "the key labelled `{}` on {} is not an AES-256 key",
            target.key_label,
            target.describe()
        )));
    }
    if let Some(want) = want_id {
        if want != id.as_slice() {
            return Err(unavailable(format!(
                "the key labelled `{}` on {} was replaced (its CKA_ID changed); restart with the right key",
                target.key_label,
                target.describe()
            )));
        }
    }
    if extractable {
        tracing::warn!(
            label = %target.key_label,
            "the PKCS#11 master key is extractable: the token will export it on request (make it with create-key)"
        );
    }
    Ok((key, id))
}

/// How a token call failed.
enum Failure {
    /// The token said no; retrying after a reconnect may help when
    /// [`recoverable`] says so.
    Token(CkError),
    /// The wrapped key does not open.
    Unwrap,
    /// Anything else, said as it will be reported.
    Kms(KmsError),
}

impl From<CkError> for Failure {
    fn from(e: CkError) -> Self {
        Self::Token(e)
    }
}

/// Errors after which a fresh session, login and key lookup may succeed.
fn recoverable(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::UserNotLoggedIn
                | RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::KeyHandleInvalid
                | RvError::ObjectHandleInvalid,
            _
        )
    )
}

impl Inner {
    fn call<T>(&self, op: &dyn Fn(&Session, ObjectHandle) -> Result<T, Failure>) -> Result<T, KmsError> {
        let (session, key) = match lock(&self.idle).pop() {
            Some(session) => (session, lock(&self.located).key),
            None => self.connect(false)?,
        };
        let (session, result) = match op(&session, key) {
            Err(Failure::Token(e)) if recoverable(&e) => {
                tracing::warn!(error = %rv_name(&e), "PKCS#11 session lost; reconnecting");
                drop(session);
                let (session, key) = self.connect(true)?;
                let result = op(&session, key);
                (session, result)
            }
            result => (session, result),
        };
        match result {
            Ok(value) => {
                lock(&self.idle).push(session);
                Ok(value)
            }
            Err(Failure::Unwrap) => {
                lock(&self.idle).push(session);
                Err(KmsError::Unwrap)
            }
            Err(Failure::Kms(e)) => {
                lock(&self.idle).push(session);
                Err(e)
            }
            Err(Failure::Token(e)) => {
                Err(unavailable(format!("PKCS#11 call on {} failed: {}", self.target.describe(), rv_name(&e))))
            }
        }
    }

    /// Opens a new logged-in session; after a failure (`again`), first finds
    /// the token and the key anew and drops the idle sessions, which are
    /// likely gone with the one that failed.
    fn connect(&self, again: bool) -> Result<(Session, ObjectHandle), KmsError> {
        if !again {
            let located = *lock(&self.located);
            let session = self.target.session(located.slot, false)?;
            return Ok((session, located.key));
        }
        lock(&self.idle).clear();
        let (slot, _) = self.target.find_slot()?;
        let session = self.target.session(slot, false)?;
        let (key, _) = find_key(&self.target, &session, Some(&self.cka_id))?;
        *lock(&self.located) = Located { slot, key };
        Ok((session, key))
    }
}

#[async_trait]
impl Kms for Pkcs11Kms {
    fn current_key_id(&self) -> Result<String, KmsError> {
        Ok(self.inner.key_id.clone())
    }

    async fn wrap(&self, data_key: &[u8; 32], context: &[u8]) -> Result<WrappedKey, KmsError> {
        let data_key = Zeroizing::new(*data_key);
        let aad = super::wrap_aad(WRAP_LABEL, &self.inner.key_id, context);
        let ciphertext = self
            .run(move |session, key| {
                // A fresh IV for each attempt, a retry included.
                let mut iv = [0u8; IV_LEN];
                getrandom::fill(&mut iv).map_err(|e| Failure::Kms(unavailable(format!("random source: {e}"))))?;
                let mut ciphertext = Vec::with_capacity(WRAPPED_LEN);
                ciphertext.extend_from_slice(&iv);
                let params = GcmParams::new(&mut iv, &aad, (TAG_LEN as u64 * 8).into())?;
                ciphertext.extend_from_slice(&session.encrypt(&Mechanism::AesGcm(params), key, data_key.as_ref())?);
                Ok(ciphertext)
            })
            .await?;
        if ciphertext.len() != WRAPPED_LEN {
            return Err(unavailable(format!(
                "the token returned {} bytes for AES-GCM of a data key",
                ciphertext.len() - IV_LEN
            )));
        }
        Ok(WrappedKey { key_id: self.inner.key_id.clone(), ciphertext })
    }

    async fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<Zeroizing<[u8; 32]>, KmsError> {
        if wrapped.key_id != self.inner.key_id {
            return Err(KmsError::UnknownKey(wrapped.key_id.clone()));
        }
        if wrapped.ciphertext.len() != WRAPPED_LEN {
            return Err(KmsError::Unwrap);
        }
        let aad = super::wrap_aad(WRAP_LABEL, &self.inner.key_id, context);
        let ciphertext = wrapped.ciphertext.clone();
        self.run(move |session, key| {
            let (iv, sealed) = ciphertext.split_at(IV_LEN);
            let mut iv = <[u8; IV_LEN]>::try_from(iv).map_err(|_| Failure::Unwrap)?;
            let params = GcmParams::new(&mut iv, &aad, (TAG_LEN as u64 * 8).into())?;
            let plain = match session.decrypt(&Mechanism::AesGcm(params), key, sealed) {
                Ok(plain) => Zeroizing::new(plain),
                // A tag that does not verify: CKR_ENCRYPTED_DATA_INVALID by
                // the spec; SoftHSM2 (2.6) says CKR_GENERAL_ERROR. The key
                // was just found usable by C_DecryptInit, and a token that
                // is really broken fails wraps and the start-up check too.
                Err(CkError::Pkcs11(
                    RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange | RvError::GeneralError,
                    cryptoki::context::Function::Decrypt,
                )) => return Err(Failure::Unwrap),
                Err(e) => return Err(e.into()),
            };
            let mut data_key = Zeroizing::new([0u8; 32]);
            if plain.len() != 32 {
                return Err(Failure::Unwrap);
            }
            data_key.copy_from_slice(&plain);
            Ok(data_key)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        pkcs11: Pkcs11Args,
    }

    #[test]
    fn flags_defaults_and_conflicts() {
        let cli =
            Cli::try_parse_from(["x", "--pkcs11-token", "t", "--pkcs11-pin-file", "/p", "--pkcs11-key-label", "k"])
                .unwrap();
        assert_eq!(cli.pkcs11.module, Path::new(DEFAULT_MODULE));
        assert_eq!(cli.pkcs11.max_sessions, DEFAULT_MAX_SESSIONS);
        assert_eq!(cli.pkcs11.token.as_deref(), Some("t"));
        assert!(Cli::try_parse_from(["x", "--pkcs11-token", "t", "--pkcs11-slot", "1"]).is_err());
        assert!(Cli::try_parse_from(["x", "--pkcs11-max-sessions", "0"]).is_err());
    }

    #[test]
    fn key_uri_is_rfc7512() {
        assert_eq!(
            key_uri("wallet backup", "master;1", &[0x3f, 0xa0]),
            "pkcs11:token=wallet%20backup;object=master%3B1;id=%3f%a0"
        );
        assert_eq!(key_uri("t", "k", &[]), "pkcs11:token=t;object=k");
    }
}
