//! The PKCS#11 KMS against a real SoftHSM2 token (Debian `softhsm2`).
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` and its token directory when the module is
//! initialised, once per process, so this binary makes all its tokens up
//! front (`softhsm2-util --init-token`) in one directory under the target's
//! temporary directory, before any test loads the module; each test works on
//! its own key labels, and the tests that log in wrongly or log out get a
//! token of their own.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

mod common;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use wallet_backup_service::kms::pkcs11::{create_key, Pkcs11Args, Pkcs11Kms, DEFAULT_MODULE};
use wallet_backup_service::kms::{Kms, KmsError, WrappedKey};

const SO_PIN: &str = "so-pin-5517";
const PIN: &str = "user-pin-8302";
/// Most tests.
const MAIN: &str = "wb-main";
/// Only the wrong-PIN test logs in here, so no other login hides its error.
const PIN_TOKEN: &str = "wb-pin";
/// The log-out test's token: its log-out would disturb the others.
const RELOGIN: &str = "wb-relogin";
/// Set in the child process of `another_process_unwraps`: `<key id> <key label> <ciphertext hex>`.
const CHILD_ENV: &str = "WALLET_BACKUP_TEST_PKCS11_CHILD";

struct Hsm {
    pin_file: PathBuf,
}

/// The token directory, its configuration (in `SOFTHSM2_CONF`) and the PIN
/// file; made once per process (the child of `another_process_unwraps`
/// inherits the parent's).
fn hsm() -> &'static Hsm {
    static HSM: OnceLock<Hsm> = OnceLock::new();
    HSM.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pkcs11-tokens");
        if std::env::var_os(CHILD_ENV).is_some() {
            return Hsm { pin_file: dir.join("pin") };
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tokens")).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                dir.join("tokens").display()
            ),
        )
        .unwrap();
        for label in [MAIN, PIN_TOKEN, RELOGIN] {
            let out = Command::new("softhsm2-util")
                .args(["--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", PIN])
                .env("SOFTHSM2_CONF", &conf)
                .output()
                .expect("softhsm2-util (Debian package softhsm2, installed by scripts/setup.sh)");
            assert!(out.status.success(), "softhsm2-util: {}", String::from_utf8_lossy(&out.stderr));
        }
        let pin_file = write_secret(&dir.join("pin"), &format!("{PIN}\n"));
        // Before any test loads the module: every test calls hsm() first.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        Hsm { pin_file }
    })
}

/// Taken by every test: SoftHSM2 keeps each token in files that one process
/// may be rewriting while another (`another_process_unwraps`' child, the
/// binary in `the_service_moves_to_the_token_and_serves_from_it`) reads
/// them, which fails the reader's `C_GetTokenInfo`. One test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn write_secret(path: &Path, text: &str) -> PathBuf {
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
    path.to_path_buf()
}

fn args(token: &str, key_label: &str) -> Pkcs11Args {
    Pkcs11Args {
        module: DEFAULT_MODULE.into(),
        token: Some(token.into()),
        slot: None,
        pin_file: Some(hsm().pin_file.clone()),
        key_label: Some(key_label.into()),
        max_sessions: 4,
    }
}

fn unavailable(result: Result<impl Sized, KmsError>) -> String {
    match result {
        Err(KmsError::Unavailable(message)) => message,
        Err(other) => panic!("expected Unavailable, got {other:?}"),
        Ok(_) => panic!("expected Unavailable, got Ok"),
    }
}

fn data_key(seed: u8) -> [u8; 32] {
    std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
}

/// A session of the test's own on `token`, logged in, outside the KMS.
fn own_session(token: &str) -> Session {
    let module = Pkcs11::new(DEFAULT_MODULE).unwrap();
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => panic!("{e}"),
    }
    let slot = module
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|slot| module.get_token_info(*slot).unwrap().label() == token)
        .unwrap();
    let session = module.open_rw_session(slot).unwrap();
    match session.login(UserType::User, Some(&AuthPin::from(PIN))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("{e}"),
    }
    session
}

fn find_label(session: &Session, label: &str) -> Vec<ObjectHandle> {
    session.find_objects(&[Attribute::Label(label.as_bytes().into())]).unwrap()
}

#[tokio::test]
async fn wraps_and_unwraps_with_the_context_authenticated() {
    let _serial = SERIAL.lock().await;
    hsm();
    let key_id = create_key(&args(MAIN, "round-trip")).unwrap();
    assert!(key_id.starts_with("pkcs11:token=wb-main;object=round-trip;id=%"), "{key_id}");
    let kms = Pkcs11Kms::open(&args(MAIN, "round-trip")).unwrap();
    assert_eq!(kms.current_key_id().unwrap(), key_id);

    let dk = data_key(1);
    let wrapped = kms.wrap(&dk, b"custodian-share/pair-1").await.unwrap();
    assert_eq!(wrapped.key_id, key_id);
    assert_eq!(wrapped.ciphertext.len(), 12 + 32 + 16);
    assert!(!wrapped.ciphertext.windows(32).any(|w| w == dk), "the data key shows in its wrapping");
    assert_eq!(*kms.unwrap(&wrapped, b"custodian-share/pair-1").await.unwrap(), dk);
    // A random IV: the same key wraps differently each time.
    let again = kms.wrap(&dk, b"custodian-share/pair-1").await.unwrap();
    assert_ne!(again.ciphertext, wrapped.ciphertext);
    assert_eq!(*kms.unwrap(&again, b"custodian-share/pair-1").await.unwrap(), dk);

    assert!(matches!(kms.unwrap(&wrapped, b"custodian-share/pair-2").await, Err(KmsError::Unwrap)));
    assert!(matches!(kms.unwrap(&wrapped, b"").await, Err(KmsError::Unwrap)));
}

#[tokio::test]
async fn changed_or_cut_wrappings_do_not_unwrap() {
    let _serial = SERIAL.lock().await;
    hsm();
    create_key(&args(MAIN, "tamper")).unwrap();
    let kms = Pkcs11Kms::open(&args(MAIN, "tamper")).unwrap();
    let wrapped = kms.wrap(&data_key(2), b"ctx").await.unwrap();
    // A bit of the IV, of the encrypted key, of the tag.
    for at in [0, 11, 12, 30, 43, 44, 59] {
        let mut bad = wrapped.clone();
        bad.ciphertext[at] ^= 0x10;
        let r = kms.unwrap(&bad, b"ctx").await;
        assert!(matches!(r, Err(KmsError::Unwrap)), "byte {at} changed: {r:?}");
    }
    for len in [0, 12, 44, 59] {
        let cut = WrappedKey { key_id: wrapped.key_id.clone(), ciphertext: wrapped.ciphertext[..len].to_vec() };
        assert!(matches!(kms.unwrap(&cut, b"ctx").await, Err(KmsError::Unwrap)), "cut to {len}");
    }
    let mut longer = wrapped.clone();
    longer.ciphertext.push(0);
    assert!(matches!(kms.unwrap(&longer, b"ctx").await, Err(KmsError::Unwrap)));
    // Another master key's wrapping is not this KMS's to open.
    let other = WrappedKey { key_id: "pkcs11:token=wb-main;object=other".into(), ..wrapped.clone() };
    assert!(matches!(kms.unwrap(&other, b"ctx").await, Err(KmsError::UnknownKey(id)) if id == other.key_id));
    // The session that saw the failures still serves.
    assert_eq!(*kms.unwrap(&wrapped, b"ctx").await.unwrap(), data_key(2));
}

#[tokio::test]
async fn clear_errors_that_never_show_the_pin() {
    let _serial = SERIAL.lock().await;
    let hsm = hsm();
    let mut messages = Vec::new();

    let message = unavailable(Pkcs11Kms::open(&args(MAIN, "no-such-key")));
    assert!(message.contains("no secret key labelled `no-such-key` on token `wb-main`"), "{message}");
    messages.push(message);

    let message = unavailable(Pkcs11Kms::open(&args("no-such-token", "k")));
    assert!(message.contains("token `no-such-token`") && message.contains("`wb-main` (slot"), "{message}");
    messages.push(message);

    let mut missing = args(MAIN, "k");
    missing.module = "/nonexistent/libpkcs11.so".into();
    let message = unavailable(Pkcs11Kms::open(&missing));
    assert!(message.contains("cannot load the PKCS#11 module /nonexistent/libpkcs11.so"), "{message}");
    messages.push(message);

    let dir = tempfile::tempdir().unwrap();
    let mut wrong_pin = args(PIN_TOKEN, "k");
    wrong_pin.pin_file = Some(write_secret(&dir.path().join("pin"), "wrong-pin-4720\n"));
    let message = unavailable(Pkcs11Kms::open(&wrong_pin));
    assert!(message.contains("PIN in the PIN file is incorrect for token `wb-pin`"), "{message}");
    messages.push(message);
    let message = unavailable(create_key(&wrong_pin));
    assert!(message.contains("incorrect"), "{message}");
    messages.push(message);
    // The right PIN on the same token works.
    create_key(&args(PIN_TOKEN, "k")).unwrap();
    Pkcs11Kms::open(&args(PIN_TOKEN, "k")).unwrap();

    let loose = dir.path().join("loose-pin");
    std::fs::write(&loose, format!("{PIN}\n")).unwrap();
    std::fs::set_permissions(&loose, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let mut loose_args = args(MAIN, "k");
    loose_args.pin_file = Some(loose);
    let message = unavailable(Pkcs11Kms::open(&loose_args));
    assert!(message.contains("mode 644") && message.contains("chmod 600"), "{message}");
    messages.push(message);

    let mut no_pin = args(MAIN, "k");
    no_pin.pin_file = None;
    assert!(unavailable(Pkcs11Kms::open(&no_pin)).contains("--pkcs11-pin-file is required"));
    let mut no_label = args(MAIN, "k");
    no_label.key_label = None;
    assert!(unavailable(create_key(&no_label)).contains("--pkcs11-key-label is required"));

    for message in &messages {
        assert!(!message.contains(PIN) && !message.contains("wrong-pin-4720"), "a PIN in: {message}");
    }
    assert!(hsm.pin_file.exists());
}

#[tokio::test]
async fn create_key_refuses_a_label_in_use() {
    let _serial = SERIAL.lock().await;
    hsm();
    let first = create_key(&args(MAIN, "taken")).unwrap();
    let message = unavailable(create_key(&args(MAIN, "taken")));
    assert!(message.contains("a secret key labelled `taken` already exists"), "{message}");
    // Still one key, the first.
    let session = own_session(MAIN);
    assert_eq!(find_label(&session, "taken").len(), 1);
    let kms = Pkcs11Kms::open(&args(MAIN, "taken")).unwrap();
    assert_eq!(kms.current_key_id().unwrap(), first);
}

#[tokio::test]
async fn the_master_key_never_leaves_the_token() {
    let _serial = SERIAL.lock().await;
    hsm();
    create_key(&args(MAIN, "kept-in")).unwrap();
    let session = own_session(MAIN);
    let [key] = find_label(&session, "kept-in")[..] else { panic!("one key expected") };
    let attributes = session
        .get_attributes(
            key,
            &[
                AttributeType::KeyType,
                AttributeType::ValueLen,
                AttributeType::Token,
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::AlwaysSensitive,
                AttributeType::NeverExtractable,
                AttributeType::Wrap,
                AttributeType::Value,
            ],
        )
        .unwrap();
    for expected in [
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Token(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::AlwaysSensitive(true),
        Attribute::NeverExtractable(true),
        Attribute::Wrap(false),
    ] {
        assert!(attributes.contains(&expected), "{expected:?} not in {attributes:?}");
    }
    // The token refuses CKA_VALUE (cryptoki leaves a sensitive attribute out).
    assert!(!attributes.iter().any(|a| matches!(a, Attribute::Value(_))), "CKA_VALUE was read");

    // Nor does it export it wrapped under another key.
    let wrapping = session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::ValueLen(32.into()),
                Attribute::Token(false),
                Attribute::Wrap(true),
            ],
        )
        .unwrap();
    let exported = session.wrap_key(&Mechanism::AesKeyWrapPad, wrapping, key);
    assert!(matches!(exported, Err(CkError::Pkcs11(RvError::KeyUnextractable, _))), "{exported:?}");
    // And it cannot be made extractable.
    assert!(session.update_attributes(key, &[Attribute::Extractable(true)]).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wraps_all_round_trip() {
    let _serial = SERIAL.lock().await;
    hsm();
    create_key(&args(MAIN, "concurrent")).unwrap();
    let kms = Arc::new(Pkcs11Kms::open(&args(MAIN, "concurrent")).unwrap());
    let tasks: Vec<_> = (0..64u8)
        .map(|i| {
            let kms = kms.clone();
            tokio::spawn(async move {
                let context = format!("record-{i}");
                let wrapped = kms.wrap(&data_key(i), context.as_bytes()).await.unwrap();
                let unwrapped = kms.unwrap(&wrapped, context.as_bytes()).await.unwrap();
                (i, wrapped, *unwrapped)
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        let (i, wrapped, unwrapped) = task.await.unwrap();
        assert_eq!(unwrapped, data_key(i), "task {i}");
        results.push((i, wrapped));
    }
    // Each wrapping belongs to its own context only.
    let (_, first) = &results[0];
    assert!(matches!(kms.unwrap(first, b"record-1").await, Err(KmsError::Unwrap)));
}

#[tokio::test]
async fn a_second_handle_unwraps_and_outlives_the_first() {
    let _serial = SERIAL.lock().await;
    hsm();
    create_key(&args(MAIN, "two-handles")).unwrap();
    let first = Pkcs11Kms::open(&args(MAIN, "two-handles")).unwrap();
    let wrapped = first.wrap(&data_key(3), b"ctx").await.unwrap();
    let second = Pkcs11Kms::open(&args(MAIN, "two-handles")).unwrap();
    assert_eq!(second.current_key_id().unwrap(), first.current_key_id().unwrap());
    assert_eq!(*second.unwrap(&wrapped, b"ctx").await.unwrap(), data_key(3));
    // Closing the first handle's sessions does not log the second out.
    drop(first);
    assert_eq!(*second.unwrap(&wrapped, b"ctx").await.unwrap(), data_key(3));

    // The token named by its slot instead of its label: the same key.
    let slot = own_session(MAIN).get_session_info().unwrap().slot_id();
    let mut by_slot = args(MAIN, "two-handles");
    by_slot.token = None;
    by_slot.slot = Some(slot.id());
    let third = Pkcs11Kms::open(&by_slot).unwrap();
    assert_eq!(third.current_key_id().unwrap(), second.current_key_id().unwrap());
    assert_eq!(*third.unwrap(&wrapped, b"ctx").await.unwrap(), data_key(3));
}

/// Runs twice: in the test run it wraps, then runs this same test binary
/// again as a child process (its own module instance, its own login) which
/// unwraps and prints the key.
#[tokio::test]
async fn another_process_unwraps() {
    let _serial = SERIAL.lock().await;
    hsm();
    if let Ok(job) = std::env::var(CHILD_ENV) {
        let mut parts = job.split(' ');
        let (key_id, label, ciphertext) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let kms = Pkcs11Kms::open(&args(MAIN, label)).unwrap();
        let wrapped = WrappedKey { key_id: key_id.into(), ciphertext: hex::decode(ciphertext).unwrap() };
        let key = kms.unwrap(&wrapped, b"cross-process").await.unwrap();
        println!("UNWRAPPED={}", hex::encode(*key));
        return;
    }
    create_key(&args(MAIN, "cross-process")).unwrap();
    let kms = Pkcs11Kms::open(&args(MAIN, "cross-process")).unwrap();
    let wrapped = kms.wrap(&data_key(4), b"cross-process").await.unwrap();
    let job = format!("{} cross-process {}", wrapped.key_id, hex::encode(&wrapped.ciphertext));
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "another_process_unwraps", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, job)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("UNWRAPPED={}", hex::encode(data_key(4)))), "child: {stdout}");
}

#[tokio::test]
async fn logs_in_again_after_the_token_logged_out() {
    let _serial = SERIAL.lock().await;
    hsm();
    create_key(&args(RELOGIN, "relogin")).unwrap();
    let kms = Pkcs11Kms::open(&args(RELOGIN, "relogin")).unwrap();
    let wrapped = kms.wrap(&data_key(5), b"ctx").await.unwrap();

    // Log-out is per application and token: it ends the KMS's login too.
    let session = own_session(RELOGIN);
    session.logout().unwrap();
    assert!(find_label(&session, "relogin").is_empty(), "private key still visible after logout");

    assert_eq!(*kms.unwrap(&wrapped, b"ctx").await.unwrap(), data_key(5));
    let again = kms.wrap(&data_key(6), b"ctx").await.unwrap();
    assert_eq!(*kms.unwrap(&again, b"ctx").await.unwrap(), data_key(6));
    assert_eq!(find_label(&session, "relogin").len(), 1, "the KMS logged the application in again");
}

#[tokio::test]
async fn a_key_gone_while_serving_is_unavailable_and_a_new_one_is_not_taken_for_it() {
    let _serial = SERIAL.lock().await;
    hsm();
    create_key(&args(MAIN, "deleted")).unwrap();
    let kms = Pkcs11Kms::open(&args(MAIN, "deleted")).unwrap();
    let wrapped = kms.wrap(&data_key(7), b"ctx").await.unwrap();

    let session = own_session(MAIN);
    let [key] = find_label(&session, "deleted")[..] else { panic!("one key expected") };
    session.destroy_object(key).unwrap();
    let message = unavailable(kms.unwrap(&wrapped, b"ctx").await);
    assert!(message.contains("no secret key labelled `deleted` on token `wb-main`"), "{message}");
    let message = unavailable(kms.wrap(&data_key(7), b"ctx").await);
    assert!(message.contains("no secret key labelled `deleted`"), "{message}");

    // A new key under the old label is another key: not used in its place.
    create_key(&args(MAIN, "deleted")).unwrap();
    let message = unavailable(kms.wrap(&data_key(7), b"ctx").await);
    assert!(message.contains("was replaced (its CKA_ID changed)"), "{message}");
}

/// The binary with the global `flags` on `data_dir`, then `args`: (success, stdout, stderr).
fn binary(data_dir: &Path, flags: &[String], args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wallet-backup-service"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(flags)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// `serve` on a free loopback port; killed on drop.
struct Serving {
    child: std::process::Child,
    base: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data_dir: &Path, flags: &[String]) -> Serving {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_wallet-backup-service"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(flags)
        .args(["serve", "--listen", "127.0.0.1:0", "--rate-limit", "0"])
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base =
        line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("serve did not start: {line:?}")).to_owned();
    Serving { child, base }
}

/// The service itself on the token: `kms pkcs11 create-key`, the start-up
/// check, records moved from the key file with `kms migrate --to pkcs11`,
/// then served with the token alone.
#[tokio::test]
async fn the_service_moves_to_the_token_and_serves_from_it() {
    let _serial = SERIAL.lock().await;
    let pin = hsm().pin_file.to_str().unwrap().to_owned();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let token = |label: &str| -> Vec<String> {
        ["--pkcs11-token", MAIN, "--pkcs11-pin-file", &pin, "--pkcs11-key-label", label].map(String::from).to_vec()
    };
    let flags = token("service-master");
    let (ok, key_id, stderr) = binary(&dir, &flags, &["kms", "pkcs11", "create-key"]);
    assert!(ok, "{stderr}");
    let key_id = key_id.trim().to_owned();
    assert!(key_id.starts_with(&format!("pkcs11:token={MAIN};object=service-master;id=")), "{key_id}");
    let (ok, _, stderr) = binary(&dir, &flags, &["kms", "pkcs11", "create-key"]);
    assert!(!ok && stderr.contains("service-master"), "a second key under the label: {stderr}");

    // The start-up check refuses a key the token does not have, naming it.
    let (ok, _, stderr) = binary(
        &dir,
        &[&["--kms".into(), "pkcs11".into()], &token("no-such-key")[..]].concat(),
        &["create-client", "--name", "x"],
    );
    assert!(!ok && stderr.contains("no-such-key") && !stderr.contains(PIN), "{stderr}");

    // Records under the local key file…
    let (ok, api_key, stderr) = binary(&dir, &[], &["create-client", "--name", "moving"]);
    assert!(ok, "{stderr}");
    let api_key = api_key.trim().to_owned();
    let mut pairs = Vec::new();
    {
        let service = serve(&dir, &[]);
        let api = common::Api::new(&service.base, Some(&api_key));
        for i in 0..12 {
            let share = format!("share-{i}");
            let created = api.create_pair("PASSWORD", &common::new_backup_id(), &share).await;
            assert_eq!(created.status, 201, "{}", created.body);
            pairs.push((created.body["id"].as_str().unwrap().to_owned(), share));
        }
    }
    // …moved to the token.
    let (ok, _, stderr) = binary(&dir, &flags, &["kms", "migrate", "--to", "pkcs11"]);
    assert!(ok, "{stderr}");
    let store = wallet_backup_service::Store::connect(&wallet_backup_service::store::sqlite_url(&dir)).await.unwrap();
    let counts = store.key_id_counts().await.unwrap();
    store.close().await;
    assert_eq!(counts, vec![(key_id.clone(), 12)], "every share under the token's key");

    // Served from the token alone, the key file gone.
    std::fs::remove_file(dir.join("kms-master-keys.json")).unwrap();
    let service = serve(&dir, &[&["--kms".into(), "pkcs11".into()], &flags[..]].concat());
    let api = common::Api::new(&service.base, Some(&api_key));
    for (pair, share) in &pairs {
        let read = api.custodian_share(pair).await;
        assert_eq!(read.status, 200, "{}", read.body);
        assert_eq!(read.body["custodianShare"], share.as_str());
    }
    let (pair, _, _) = api.managed_backup("PASSWORD", "share-new").await;
    assert_eq!(api.custodian_share(&pair).await.body["custodianShare"], "share-new");
}
