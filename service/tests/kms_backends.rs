//! The KMS backends with the real binary against a real AWS KMS API:
//! moto's server (PyPI `moto[server]`, installed by `scripts/setup.sh`) on a
//! free loopback port, its key made with the AWS SDK. The start-up check
//! (a missing key, a KMS that does not answer), 503
//! `KMS_UNAVAILABLE` while the KMS stalls and recovery after, the
//! encryption context binding, and `kms migrate` from the local backend to
//! AWS while the service serves (custodian shares, a webhook secret, Firebase
//! enclave keys and guess-limited PINs' keys), killed with SIGKILL half way and rerun.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use common::pin_guard::{evaluate, guarded_backup, unlock, Guarded};
use common::Api;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use wallet_backup_service::kms::{self, AwsKms, Kms, KmsError};
use wallet_backup_service::Store;

const BIN: &str = env!("CARGO_BIN_EXE_wallet-backup-service");
const REGION: &str = "us-east-1";

/// A moto server on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    url: String,
    client: aws_sdk_kms::Client,
}

impl Moto {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 with moto[server] (scripts/setup.sh installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "moto_server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .region(Region::new(REGION))
            .endpoint_url(&url)
            .load()
            .await;
        Self { child, url, client: aws_sdk_kms::Client::new(&config) }
    }

    /// A new symmetric key with `alias`; returns its ARN.
    async fn create_key(&self, alias: &str) -> String {
        let key = self.client.create_key().send().await.unwrap();
        let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
        self.client.create_alias().alias_name(alias).target_key_id(&arn).send().await.unwrap();
        arn
    }

    async fn signal(&self, signal: &str) {
        let pid = self.child.id().unwrap().to_string();
        assert!(Command::new("kill").args([signal, &pid]).status().await.unwrap().success());
    }

    /// The global flags that select this server's `alias` as the `aws` backend.
    fn flags(&self, alias: &str) -> Vec<String> {
        ["--aws-kms-key-id", alias, "--aws-region", REGION, "--aws-endpoint-url", &self.url, "--aws-timeout-ms", "800"]
            .map(str::to_owned)
            .to_vec()
    }
}

/// The binary with `args` on `data_dir`, AWS credentials in the environment as the standard chain reads them.
fn command(data_dir: &Path, args: &[String]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("AWS_PROFILE")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .kill_on_drop(true);
    command
}

/// Runs a one-shot command; returns (success, stdout, stderr).
async fn run(data_dir: &Path, args: &[String]) -> (bool, String, String) {
    let out = command(data_dir, args).output().await.unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn with(mut flags: Vec<String>, more: &[&str]) -> Vec<String> {
    flags.extend(more.iter().map(|s| (*s).to_owned()));
    flags
}

async fn create_client(data_dir: &Path, flags: &[String], name: &str) -> String {
    create_client_with(data_dir, flags, name, &[]).await
}

async fn create_client_with(data_dir: &Path, flags: &[String], name: &str, more: &[&str]) -> String {
    let args = with(with(flags.to_vec(), &["create-client", "--name", name]), more);
    let (ok, stdout, stderr) = run(data_dir, &args).await;
    assert!(ok, "{stderr}");
    stdout.trim().to_owned()
}

/// `serve` flags: no rate limit, room for many pending backups.
const SERVE: &[&str] = &[
    "serve",
    "--listen",
    "127.0.0.1:0",
    "--rate-limit",
    "0",
    "--max-pending-pairs",
    "1000",
    "--max-pairs",
    "100000",
    "--keep-completed",
    "1000",
];

/// A `serve` process and its address; killed on drop.
struct Service {
    child: Child,
    base: String,
    log: PathBuf,
}

/// Starts `serve`; `Err(stderr)` if it exits before listening.
async fn serve(data_dir: &Path, flags: &[String]) -> Result<Service, String> {
    serve_with(data_dir, flags, &[]).await
}

/// `serve` with the global `flags` and `serve`'s own `more`.
async fn serve_with(data_dir: &Path, flags: &[String], more: &[&str]) -> Result<Service, String> {
    let log = data_dir.with_extension(format!("serve-{}.log", common::new_backup_id()));
    let mut child = command(data_dir, &with(with(flags.to_vec(), SERVE), more))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.expect("serve in time").unwrap();
    match line {
        Some(line) => Ok(Service { child, base: line.strip_prefix("listening on ").unwrap().to_owned(), log }),
        None => {
            let status = child.wait().await.unwrap();
            assert!(!status.success(), "serve exited 0 without listening");
            Err(std::fs::read_to_string(&log).unwrap())
        }
    }
}

impl Service {
    fn api(&self, key: &str) -> Api {
        Api::new(&self.base, Some(key))
    }

    async fn stop(mut self) -> String {
        self.child.kill().await.unwrap();
        std::fs::read_to_string(&self.log).unwrap()
    }
}

fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    (root, dir)
}

/// How many custodian shares each master key wraps.
async fn key_ids(data_dir: &Path) -> Vec<(String, i64)> {
    let store = Store::connect(&wallet_backup_service::store::sqlite_url(data_dir)).await.unwrap();
    let counts = store.key_id_counts().await.unwrap();
    store.close().await;
    counts
}

/// One line of stderr that says why, and a failure exit.
fn assert_refused(ok: bool, stderr: &str, why: &[&str]) {
    assert!(!ok, "started: {stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: KMS unavailable: start-up check of the aws backend failed"), "{stderr}");
    for word in why {
        assert!(last.contains(word), "{word:?} not in {last:?}");
    }
}

#[tokio::test]
async fn start_up_check_refuses_a_missing_or_silent_key() {
    let moto = Moto::start().await;
    let arn = moto.create_key("alias/backups").await;
    let (_root, dir) = data_dir();

    // The alias works, and so does the key ARN.
    let flags = with(moto.flags("alias/backups"), &["--kms", "aws"]);
    create_client(&dir, &flags, "by-alias").await;
    create_client(&dir, &with(moto.flags(&arn), &["--kms", "aws"]), "by-arn").await;

    // A key that does not exist: create-client and serve both refuse, saying so.
    let missing = with(moto.flags("alias/missing"), &["--kms", "aws"]);
    let (ok, _, stderr) = run(&dir, &with(missing.clone(), &["create-client", "--name", "x"])).await;
    assert_refused(ok, &stderr, &["wrap", "NotFoundException"]);
    let stderr = serve(&dir, &missing).await.err().expect("serve refuses a missing key");
    assert_refused(false, &stderr, &["NotFoundException"]);

    // Nothing listening at the endpoint: refused in seconds.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut dead = moto.flags("alias/backups");
    dead[5] = format!("http://127.0.0.1:{closed}");
    let started = Instant::now();
    let (ok, _, stderr) = run(&dir, &with(dead, &["--kms", "aws", "create-client", "--name", "x"])).await;
    assert_refused(ok, &stderr, &["wrap", "AWS KMS Encrypt"]);
    assert!(started.elapsed() < Duration::from_secs(30), "a dead KMS took {:?}", started.elapsed());

    // No key given at all.
    let (ok, _, stderr) = run(&dir, &strings(&["--kms", "aws", "create-client", "--name", "x"])).await;
    assert!(!ok && stderr.contains("--aws-kms-key-id"), "{stderr}");
    // kms rotate is the local key file's: refused when the local backend is not selected.
    let (ok, _, stderr) = run(&dir, &with(flags, &["kms", "rotate"])).await;
    assert!(!ok && stderr.contains("local backend is not selected"), "{stderr}");
}

#[tokio::test]
async fn aws_wraps_under_the_encryption_context() {
    let moto = Moto::start().await;
    let arn = moto.create_key("alias/ctx").await;
    let aws = AwsKms::from_client(moto.client.clone(), "alias/ctx");
    let data_key = [9u8; 32];
    let wrapped = aws.wrap(&data_key, b"client-1\0record-1").await.unwrap();
    assert_eq!(wrapped.key_id, arn, "a wrapped key names the key ARN, not the alias");
    assert_eq!(aws.current_key_id().unwrap(), arn);
    assert_eq!(*aws.unwrap(&wrapped, b"client-1\0record-1").await.unwrap(), data_key);
    // Another record's context, changed bytes: AWS refuses to decrypt.
    assert!(matches!(aws.unwrap(&wrapped, b"client-1\0record-2").await, Err(KmsError::Unwrap)));
    let mut tampered = wrapped.clone();
    let last = tampered.ciphertext.len() - 1;
    tampered.ciphertext[last] ^= 1;
    assert!(matches!(aws.unwrap(&tampered, b"client-1\0record-1").await, Err(KmsError::Unwrap)));
    // A local key id is not AWS's: UnknownKey, so a chain asks the next backend.
    let local_id = kms::WrappedKey { key_id: "lk-0011223344556677".into(), ciphertext: vec![0; 60] };
    assert!(matches!(aws.unwrap(&local_id, b"x").await, Err(KmsError::UnknownKey(_))));
}

#[tokio::test]
async fn a_stalled_kms_gives_503_and_the_service_recovers() {
    let moto = Moto::start().await;
    moto.create_key("alias/serve").await;
    let (_root, dir) = data_dir();
    let flags = with(moto.flags("alias/serve"), &["--kms", "aws"]);
    let key = create_client(&dir, &flags, "stall").await;
    let service = serve(&dir, &flags).await.unwrap();
    let api = service.api(&key);
    let (pair, _, _) = api.managed_backup("PASSWORD", "share-before").await;

    // The KMS stops answering (the process is stopped, its socket still accepts).
    moto.signal("-STOP").await;
    let started = Instant::now();
    let created = api.create_pair("PASSWORD", &common::new_backup_id(), "share-during").await;
    assert_eq!((created.status, created.code()), (503, "KMS_UNAVAILABLE"), "{}", created.body);
    assert!(created.headers.contains_key("retry-after"));
    let read = api.custodian_share(&pair).await;
    assert_eq!((read.status, read.code()), (503, "KMS_UNAVAILABLE"), "{}", read.body);
    assert!(started.elapsed() < Duration::from_secs(30), "a stalled KMS held requests for {:?}", started.elapsed());

    // Back: the failed backup left nothing, backups work again, the earlier share opens.
    moto.signal("-CONT").await;
    let latest = api.latest("PASSWORD").await;
    assert_eq!(latest.body["id"], pair.as_str(), "the failed backup left nothing: {}", latest.body);
    api.managed_backup("PASSWORD", "share-after").await;
    let read = api.custodian_share(&pair).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["custodianShare"], "share-before");
    let log = service.stop().await;
    assert!(log.contains("KMS"), "the 503s are logged: {log}");
    assert!(!log.contains("share-during") && !log.contains("share-before"), "a share reached the log");
}

/// The development Firebase issuer (`dev-firebase-issuer`) for `demo-project`; killed on drop.
async fn dev_issuer() -> (Child, Api) {
    let mut child = Command::new(BIN)
        .args(["dev-firebase-issuer", "--listen", "127.0.0.1:0", "--project-id", "demo-project"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.unwrap().unwrap().unwrap();
    let base = line.strip_prefix("listening on ").unwrap().to_owned();
    (child, Api::new(&base, None))
}

/// A Firebase enclave call (`PUT` with `key`, `GET` without) for `backup_id` with `token`.
async fn enclave(api: &Api, token: &str, backup_id: &str, key: Option<&str>) -> common::Reply {
    let headers = [("x-firebase-token", token)];
    match key {
        Some(key) => {
            let body = serde_json::to_vec(&serde_json::json!({ "backupId": backup_id, "encryptionKey": key })).unwrap();
            api.send_with("PUT", "/v1/backup/encrypt-key", &headers, Some(("application/json", body))).await
        }
        None => api.send_with("GET", &format!("/v1/backup/encrypt-key?backupId={backup_id}"), &headers, None).await,
    }
}

/// Every Firebase enclave key in `keys` (backup id, key) opens through `api`.
async fn all_keys_open(api: &Api, token: &str, keys: &[(String, String)]) {
    for (backup_id, key) in keys {
        let got = enclave(api, token, backup_id, None).await;
        assert_eq!(got.body["encryptionKey"], key.as_str(), "{}", got.body);
    }
}

/// Every pair in `pairs` opens through `api` and gives its share back.
async fn all_open(api: &Api, pairs: &[(String, String)]) {
    for (pair, share) in pairs {
        let read = api.custodian_share(pair).await;
        assert_eq!(read.status, 200, "pair {pair}: {}", read.body);
        assert_eq!(read.body["custodianShare"], share.as_str());
    }
}

/// Every guess-limited PIN still gives its OPRF output for the right PIN,
/// and its proof releases the custodian share.
async fn all_guards_open(api: &Api, guarded: &[Guarded]) {
    for g in guarded {
        let right = evaluate(api, &g.backup_id, GUARDED_PIN).await;
        assert_eq!(right.reply.status, 200, "guard {}: {}", g.pair_id, right.reply.body);
        assert_eq!(right.output, g.output, "guard {}: another OPRF output after the migration", g.pair_id);
        let unlocked = unlock(api, &g.backup_id, &right.challenge, &right.proof(&g.backup_id)).await;
        assert_eq!(unlocked.status, 200, "guard {}: {}", g.pair_id, unlocked.body);
        assert_eq!(unlocked.body["custodianShare"], g.share.as_str());
    }
}

const GUARDED_PIN: &str = "0421";

#[tokio::test]
async fn kms_migrate_to_aws_while_serving_survives_sigkill_and_finishes_on_rerun() {
    const PAIRS: usize = 400;
    const ENCLAVE_KEYS: usize = 20;
    // Every 50th pair is a guess-limited PIN's, whose OPRF and unlock keys move too.
    const GUARDS: usize = PAIRS / 50;
    let moto = Moto::start().await;
    let arn = moto.create_key("alias/migrate").await;
    let (root, dir) = data_dir();
    let local = strings(&["--kms", "local"]);
    let key = create_client_with(&dir, &local, "migrating", &["--firebase-project-id", "demo-project"]).await;
    // Firebase enclave keys: the development issuer signs the ID tokens.
    let (_issuer_process, issuer) = dev_issuer().await;
    let minted = issuer.post("/token", serde_json::json!({ "sub": "alice" })).await;
    let token = minted.body["idToken"].as_str().unwrap().to_owned();
    let jwks = format!("{}/jwks", issuer.base);
    let jwks = ["--firebase-jwks-url", &jwks];
    // A webhook client: its sealed webhook secret moves too.
    let secret = root.path().join("webhook-secret");
    std::fs::write(&secret, [b'w'; 40]).unwrap();
    let webhook = ["--custodian-webhook-url", "http://127.0.0.1:9/hook", "--custodian-webhook-secret-file"];
    create_client_with(
        &dir,
        &strings(&["--kms", "local"]),
        "webhook",
        &[&webhook[..], &[secret.to_str().unwrap()]].concat(),
    )
    .await;

    // Many records under the local backend.
    let service = serve_with(&dir, &local, &jwks).await.unwrap();
    let api = service.api(&key);
    let mut pairs = Vec::new();
    let mut guarded = Vec::new();
    for i in 0..PAIRS {
        let share = format!("share-{i}");
        if i % 50 == 5 {
            guarded.push(guarded_backup(&api, GUARDED_PIN, true).await);
        } else if i % 10 == 0 {
            let (pair, _, _) = api.managed_backup("GDRIVE", &share).await;
            pairs.push((pair, share));
        } else {
            let created = api.create_pair("PASSWORD", &common::new_backup_id(), &share).await;
            assert_eq!(created.status, 201, "{}", created.body);
            pairs.push((created.body["id"].as_str().unwrap().to_owned(), share));
        }
    }
    let mut enclave_keys = Vec::new();
    for i in 0..ENCLAVE_KEYS {
        let (backup_id, secret_key) = (common::new_backup_id(), format!("{:A<43}", format!("key{i:02}")));
        let put = enclave(&api, &token, &backup_id, Some(&secret_key)).await;
        assert_eq!(put.status, 200, "{}", put.body);
        enclave_keys.push((backup_id, secret_key));
    }
    service.stop().await;

    // Step 1 of the procedure: serve with both backends, new keys wrapped by AWS.
    let both = with(moto.flags("alias/migrate"), &["--kms", "aws", "--kms-also", "local"]);
    let service = serve_with(&dir, &both, &jwks).await.unwrap();
    let api = service.api(&key);
    let (new_pair, _, _) = api.managed_backup("PASSWORD", "share-new").await;
    pairs.push((new_pair, "share-new".into()));

    // Step 2: migrate, killed with SIGKILL once some records moved and some have not.
    let mut migrate = command(&dir, &with(both.clone(), &["kms", "migrate", "--to", "aws"]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let counts = key_ids(&dir).await;
        let moved = counts.iter().filter(|(id, _)| *id == arn).map(|(_, n)| *n).sum::<i64>();
        if moved > 10 {
            migrate.kill().await.unwrap();
            break;
        }
        assert!(migrate.try_wait().unwrap().is_none(), "migrate ended before the kill: raise PAIRS");
        assert!(started.elapsed() < Duration::from_secs(120), "migrate made no progress: {counts:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let counts = key_ids(&dir).await;
    assert_eq!(counts.len(), 2, "half way, both backends hold records: {counts:?}");
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<i64>(), PAIRS as i64 + 1, "{counts:?}");
    // Nothing lost: every record opens through the serving process, which keeps taking backups.
    all_open(&api, &pairs).await;
    all_keys_open(&api, &token, &enclave_keys).await;
    all_guards_open(&api, &guarded).await;
    let (during, _, _) = api.managed_backup("PASSWORD", "share-during").await;
    pairs.push((during, "share-during".into()));

    // Rerun: it finishes the rest and says how many it moved and where everything is.
    let left = counts.iter().filter(|(id, _)| id.starts_with("lk-")).map(|(_, n)| *n).sum::<i64>();
    let (ok, _, stderr) = run(&dir, &with(both.clone(), &["kms", "migrate", "--to", "aws"])).await;
    assert!(ok, "{stderr}");
    // The walk goes pairs first: the webhook secret, the enclave keys and the guards were all left.
    let rest = left as usize + 1 + ENCLAVE_KEYS + GUARDS;
    assert!(stderr.contains(&format!("re-wrapped {rest} record(s) under {arn}")), "{stderr}");
    assert!(stderr.contains(&format!("{arn}: {} record(s)", PAIRS + 2)), "{stderr}");
    assert!(stderr.contains(&format!("{arn}: 1 webhook secret(s)")), "{stderr}");
    assert!(stderr.contains(&format!("{arn}: {ENCLAVE_KEYS} Firebase enclave key(s)")), "{stderr}");
    assert!(stderr.contains(&format!("{arn}: {GUARDS} guess-limited PIN key(s)")), "{stderr}");
    assert!(!stderr.contains("lk-"), "a record is left under the local key: {stderr}");
    assert_eq!(key_ids(&dir).await, vec![(arn.clone(), PAIRS as i64 + 2)]);
    // A second rerun has nothing to do.
    let (ok, _, stderr) = run(&dir, &with(both, &["kms", "migrate", "--to", "aws"])).await;
    assert!(ok && stderr.contains("re-wrapped 0 record(s)"), "{stderr}");
    all_open(&api, &pairs).await;
    all_keys_open(&api, &token, &enclave_keys).await;
    all_guards_open(&api, &guarded).await;
    service.stop().await;

    // Step 3: serve with AWS alone; the local key file is no longer needed.
    std::fs::remove_file(dir.join(wallet_backup_service::KMS_FILE)).unwrap();
    let aws_only = with(moto.flags("alias/migrate"), &["--kms", "aws"]);
    let service = serve_with(&dir, &aws_only, &jwks).await.unwrap();
    all_open(&service.api(&key), &pairs).await;
    all_keys_open(&service.api(&key), &token, &enclave_keys).await;
    all_guards_open(&service.api(&key), &guarded).await;
    service.stop().await;
}
