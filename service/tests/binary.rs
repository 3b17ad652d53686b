//! The real binary: `create-client`, `serve`, restarts (SIGKILL and
//! SIGTERM) on the same data directory, `kms rotate` / `kms rewrap`, the key
//! file's permissions, what the request log contains, and the browser
//! flags (`--allowed-origins`, `--demo-key-file`).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{envelope, new_backup_id, Api};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use wallet_backup_service::{Store, DATABASE_FILE, KMS_FILE};

const BIN: &str = env!("CARGO_BIN_EXE_wallet-backup-service");

/// Runs a one-shot command; returns (success, stdout, stderr).
async fn run(data_dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out =
        Command::new(BIN).arg("--data-dir").arg(data_dir).args(args).env_remove("DATABASE_URL").output().await.unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

async fn create_client(data_dir: &Path, name: &str, managed: bool) -> String {
    let managed = managed.to_string();
    let (ok, stdout, stderr) = run(data_dir, &["create-client", "--name", name, "--managed-backups", &managed]).await;
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout must be the key alone: {stdout:?}");
    let key = lines[0];
    assert!(key.starts_with("wbk_live_") && key.len() == 9 + 43, "{key}");
    assert!(!stderr.contains(key));
    key.to_owned()
}

/// A `serve` process, its stderr going to a file.
struct Service {
    child: Child,
    base: String,
    log: PathBuf,
}

async fn serve(data_dir: &Path, log_name: &str) -> Service {
    serve_with(data_dir, log_name, &[]).await
}

async fn serve_with(data_dir: &Path, log_name: &str, extra: &[&str]) -> Service {
    serve_env(data_dir, log_name, extra, &[]).await
}

async fn serve_env(data_dir: &Path, log_name: &str, extra: &[&str], env: &[(&str, &str)]) -> Service {
    let log = data_dir.parent().unwrap().join(log_name);
    let stderr = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("DATABASE_URL")
        .env_remove("WALLET_BACKUP_ALLOWED_ORIGINS")
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = listening_address(&mut child, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("service exited: {}", std::fs::read_to_string(&log).unwrap_or_default()));
    Service { child, base, log }
}

/// The address of `child`'s `listening on ADDR` line, its first on stdout;
/// `None` when it exits first. Panics when the line takes over `limit`.
async fn listening_address(child: &mut Child, limit: Duration) -> Option<String> {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(limit, lines.next_line()).await.expect("address printed in time").unwrap()?;
    Some(line.strip_prefix("listening on ").expect("listening line").to_owned())
}

impl Service {
    fn api(&self, key: &str) -> Api {
        Api::new(&self.base, Some(key))
    }

    async fn sigkill(mut self) -> String {
        self.child.kill().await.unwrap();
        std::fs::read_to_string(&self.log).unwrap()
    }

    async fn sigterm(mut self) -> String {
        let pid = self.child.id().unwrap().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.unwrap().unwrap();
        assert!(status.success(), "graceful shutdown exits 0: {status}");
        std::fs::read_to_string(&self.log).unwrap()
    }
}

fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    (root, dir)
}

async fn key_ids(data_dir: &Path) -> Vec<(String, i64)> {
    let store = Store::connect(&wallet_backup_service::store::sqlite_url(data_dir)).await.unwrap();
    let counts = store.key_id_counts().await.unwrap();
    store.close().await;
    counts
}

#[tokio::test]
async fn create_client_serve_and_survive_restarts() {
    let (_root, dir) = data_dir();
    let key = create_client(&dir, "demo", true).await;
    // First start created the data directory, database and key file, owner-only.
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(dir.join(KMS_FILE)).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(dir.join(DATABASE_FILE).is_file());

    let service = serve(&dir, "serve1.log").await;
    let api = service.api(&key);
    assert_eq!(api.get("/api/v3/clients/me").await.body["name"], "demo");
    let (completed, backup_id, ct) = api.managed_backup("PASSWORD", "LOGCHECK-CUSTODIAN-SECRET").await;
    let pending_id = new_backup_id();
    let pending =
        api.create_pair("PASSWORD", &pending_id, "pending-share").await.body["id"].as_str().unwrap().to_owned();
    api.put_cipher_text(&pending, &envelope("PASSWORD", &pending_id)).await;
    let client_id = api.get("/api/v3/clients/me").await.body["id"].as_str().unwrap().to_owned();
    let log = service.sigkill().await;

    // The request log: route templates, statuses, client ids; no secrets.
    assert!(log.contains("/api/v3/clients/me/backup-share-pairs/{id}/confirm"), "{log}");
    assert!(log.contains("status=201"), "{log}");
    assert!(log.contains(&format!("client={client_id}")), "{log}");
    for secret in [&key[9..], "LOGCHECK-CUSTODIAN-SECRET", &ct[5..40], &completed] {
        assert!(!log.contains(secret), "log leaks {secret}: {log}");
    }

    // SIGKILL lost nothing acknowledged, and the unconfirmed pair is still not the one recovery uses.
    let service = serve(&dir, "serve2.log").await;
    let api = service.api(&key);
    let latest = api.latest("PASSWORD").await;
    assert_eq!(latest.status, 200);
    assert_eq!(latest.body["id"], completed.as_str());
    assert_eq!(latest.body["backupId"], backup_id.as_str());
    assert_eq!(latest.body["cipherText"], ct.as_str());
    assert_eq!(api.custodian_share(&completed).await.body["custodianShare"], "LOGCHECK-CUSTODIAN-SECRET");
    assert_eq!(api.confirm(&pending).await.body["status"], "COMPLETED");
    let log = service.sigterm().await;
    assert!(log.contains("shutting down"), "{log}");

    let service = serve(&dir, "serve3.log").await;
    let api = service.api(&key);
    assert_eq!(api.latest("PASSWORD").await.body["id"], pending.as_str());
    assert_eq!(api.custodian_share(&pending).await.body["custodianShare"], "pending-share");
    service.sigkill().await;
}

#[tokio::test]
async fn kms_rotate_and_rewrap() {
    let (_root, dir) = data_dir();
    let key = create_client(&dir, "kms", true).await;
    let service = serve(&dir, "kms1.log").await;
    let api = service.api(&key);
    let (old_pair, _, _) = api.managed_backup("PASSWORD", "old-share").await;
    let first_key = key_ids(&dir).await;
    assert_eq!(first_key.len(), 1);

    // Rotate while the service runs: it picks the new key up for new records.
    let (ok, new_key, stderr) = run(&dir, &["kms", "rotate"]).await;
    assert!(ok, "{stderr}");
    let new_key = new_key.trim().to_owned();
    assert_ne!(new_key, first_key[0].0);
    assert_eq!(std::fs::metadata(dir.join(KMS_FILE)).unwrap().permissions().mode() & 0o777, 0o600);
    let (new_pair, _, _) = api.managed_backup("GDRIVE", "new-share").await;
    let counts = key_ids(&dir).await;
    assert!(counts.contains(&(first_key[0].0.clone(), 1)) && counts.contains(&(new_key.clone(), 1)), "{counts:?}");
    // Old records still open.
    assert_eq!(api.custodian_share(&old_pair).await.body["custodianShare"], "old-share");

    // Re-wrap every record under the current key; everything still opens.
    let (ok, _, stderr) = run(&dir, &["kms", "rewrap"]).await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("re-wrapped 1 record"), "{stderr}");
    assert_eq!(key_ids(&dir).await, vec![(new_key.clone(), 2)]);
    assert_eq!(api.custodian_share(&old_pair).await.body["custodianShare"], "old-share");
    assert_eq!(api.custodian_share(&new_pair).await.body["custodianShare"], "new-share");
    service.sigkill().await;

    // After a restart too.
    let service = serve(&dir, "kms2.log").await;
    let api = service.api(&key);
    assert_eq!(api.custodian_share(&old_pair).await.body["custodianShare"], "old-share");

    // Tampering: a changed sealed share, or a changed wrapped key, does not open.
    let store = Store::connect(&wallet_backup_service::store::sqlite_url(&dir)).await.unwrap();
    let flip = |s: String| {
        let mut b = s.into_bytes();
        let i = b.len() / 2;
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    for (column, pair) in [("custodian_share_sealed", &old_pair), ("custodian_wrapped_key", &new_pair)] {
        let value: String =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {column} FROM backup_share_pairs WHERE id = $1")))
                .bind(pair.clone())
                .fetch_one(store.pool())
                .await
                .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE backup_share_pairs SET {column} = $1 WHERE id = $2")))
            .bind(flip(value))
            .bind(pair.clone())
            .execute(store.pool())
            .await
            .unwrap();
        let reply = api.custodian_share(pair).await;
        assert_eq!((reply.status, reply.code()), (500, "CUSTODIAN_SHARE_UNAVAILABLE"), "{column}");
    }
    store.close().await;

    // A rewrap after another rotation reports the record it cannot unwrap and fails.
    let (ok, _, _) = run(&dir, &["kms", "rotate"]).await;
    assert!(ok);
    let (ok, _, stderr) = run(&dir, &["kms", "rewrap"]).await;
    assert!(!ok);
    assert!(stderr.contains(&new_pair), "{stderr}");
    service.sigkill().await;
}

#[tokio::test]
async fn serve_allowed_origins_and_demo_key_file() {
    let (root, dir) = data_dir();
    let key = create_client(&dir, "demo", true).await;
    let key_file = root.path().join("demo-client.key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let key_arg = key_file.to_str().unwrap();

    let service = serve_with(
        &dir,
        "web1.log",
        &["--allowed-origins", "https://wallet.example,http://localhost:5173", "--demo-key-file", key_arg],
    )
    .await;
    let anonymous = Api::new(&service.base, None);
    let config = anonymous.get("/demo-config.json").await;
    assert_eq!((config.status, config.body["apiKey"].as_str()), (200, Some(key.as_str())));
    assert_eq!(config.headers["cache-control"], "no-store");
    let allowed = anonymous.preflight("/api/v3/clients/me", "http://localhost:5173", "GET").await;
    assert_eq!(allowed.headers["access-control-allow-origin"], "http://localhost:5173");
    let other = anonymous.preflight("/api/v3/clients/me", "https://evil.example", "GET").await;
    assert!(other.headers.get("access-control-allow-origin").is_none());
    assert_eq!(service.api(&key).get("/api/v3/clients/me").await.body["name"], "demo");
    let log = service.sigterm().await;
    assert!(log.contains("route=/demo-config.json") && log.contains("route=/api/v3/clients/me"), "{log}");
    assert!(!log.contains(&key[9..]), "the log leaks the demo key: {log}");

    // WALLET_BACKUP_ALLOWED_ORIGINS when the flag is not given; no demo route without its flag.
    let service = serve_env(&dir, "web2.log", &[], &[("WALLET_BACKUP_ALLOWED_ORIGINS", "https://env.example")]).await;
    let anonymous = Api::new(&service.base, None);
    let allowed = anonymous.preflight("/api/v3/clients/me", "https://env.example", "GET").await;
    assert_eq!(allowed.headers["access-control-allow-origin"], "https://env.example");
    let other = anonymous.preflight("/api/v3/clients/me", "https://wallet.example", "GET").await;
    assert!(other.headers.get("access-control-allow-origin").is_none());
    assert_eq!(anonymous.get("/demo-config.json").await.code(), "NOT_FOUND");
    service.sigkill().await;

    // Default: any origin.
    let service = serve(&dir, "web3.log").await;
    let any = Api::new(&service.base, None).preflight("/api/v3/clients/me", "https://any.example", "GET").await;
    assert_eq!(any.headers["access-control-allow-origin"], "*");
    service.sigkill().await;

    // Refused at start, with a clear message and without quoting the key.
    for (args, expect) in [
        (vec!["serve", "--listen", "0.0.0.0:0", "--demo-key-file", key_arg], "loopback"),
        (vec!["serve", "--listen", "[::]:0", "--demo-key-file", key_arg], "loopback"),
        (vec!["serve", "--listen", "127.0.0.1:0", "--allowed-origins", "https://wallet.example/"], "--allowed-origins"),
        (vec!["serve", "--listen", "127.0.0.1:0", "--allowed-origins", "*,https://a.example"], "--allowed-origins"),
        (vec!["serve", "--listen", "127.0.0.1:0", "--www", "/nonexistent/www"], "not a directory"),
        // The demo's stand-ins are named only with the demo key file (the demo page).
        (vec!["serve", "--demo-firebase-issuer", "http://127.0.0.1:4000"], "--demo-key-file"),
        (vec!["serve", "--demo-stand-in", "gdrive=http://127.0.0.1:4001"], "--demo-key-file"),
    ] {
        let (ok, stdout, stderr) = run(&dir, &args).await;
        assert!(!ok && stdout.is_empty(), "{args:?} must not start: {stdout}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(!stderr.contains(&key[9..]), "{stderr}");
    }
}

#[tokio::test]
async fn refuses_a_key_file_others_can_read() {
    let (_root, dir) = data_dir();
    create_client(&dir, "perm", true).await;
    let file = dir.join(KMS_FILE);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, _, stderr) = run(&dir, &["serve", "--listen", "127.0.0.1:0"]).await;
    assert!(!ok);
    assert!(stderr.contains("chmod 600"), "{stderr}");
    let (ok, _, stderr) = run(&dir, &["create-client", "--name", "x"]).await;
    assert!(!ok, "{stderr}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    create_client(&dir, "ok-again", false).await;
}

#[tokio::test]
async fn webhook_custodian_storage_from_the_cli() {
    let (root, dir) = data_dir();
    let secret = b"cli-webhook-secret-0123456789abcdef-XYZ";
    let receiver = common::Receiver::start(secret).await;
    let secret_file = root.path().join("webhook-secret");
    std::fs::write(&secret_file, [&secret[..], b"\n"].concat()).unwrap();
    let secret_arg = secret_file.to_str().unwrap();

    // Bad settings are refused before anything is created.
    let (ok, _, stderr) = run(
        &dir,
        &[
            "create-client",
            "--name",
            "x",
            "--custodian-webhook-url",
            "http://ops.example/h",
            "--custodian-webhook-secret-file",
            secret_arg,
        ],
    )
    .await;
    assert!(!ok && stderr.contains("https"), "{stderr}");
    let short = root.path().join("short");
    std::fs::write(&short, "too-short").unwrap();
    let (ok, _, stderr) = run(
        &dir,
        &[
            "create-client",
            "--name",
            "x",
            "--custodian-webhook-url",
            &receiver.url,
            "--custodian-webhook-secret-file",
            short.to_str().unwrap(),
        ],
    )
    .await;
    assert!(!ok && stderr.contains("32"), "{stderr}");

    let (ok, stdout, stderr) = run(
        &dir,
        &[
            "create-client",
            "--name",
            "ops",
            "--custodian-webhook-url",
            &receiver.url,
            "--custodian-webhook-secret-file",
            secret_arg,
        ],
    )
    .await;
    assert!(ok && stderr.contains("custodian storage WEBHOOK"), "{stderr}");
    let key = stdout.trim().to_owned();

    let service = serve(&dir, "webhook.log").await;
    let api = service.api(&key);
    let client_id = api.get("/api/v3/clients/me").await.body["id"].as_str().unwrap().to_owned();
    let share = "CLI-WEBHOOK-CUSTODIAN-SHARE";
    let created = api.create_pair("PASSWORD", &new_backup_id(), share).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(receiver.kept_shares()[0]["custodianShare"], share);
    receiver.script(&[common::Answer::Fail; 3]);
    let failed = api.create_pair("PASSWORD", &new_backup_id(), share).await;
    assert_eq!((failed.status, failed.code()), (502, "CUSTODIAN_WEBHOOK_FAILED"));
    assert_eq!(receiver.attempts(), 4);

    // Back to MANAGED while serving: the next pair's share is kept by the service.
    let (ok, _, stderr) = run(&dir, &["set-managed-custodian", "--client-id", &client_id]).await;
    assert!(ok, "{stderr}");
    let (pair, _, _) = api.managed_backup("GDRIVE", "managed-again").await;
    assert_eq!(api.custodian_share(&pair).await.body["custodianShare"], "managed-again");
    assert_eq!(receiver.attempts(), 4);
    let (ok, _, stderr) = run(
        &dir,
        &[
            "set-custodian-webhook",
            "--client-id",
            &client_id,
            "--custodian-webhook-url",
            &receiver.url,
            "--custodian-webhook-secret-file",
            secret_arg,
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(api.create_pair("PASSWORD", &new_backup_id(), share).await.status, 201);
    assert_eq!(receiver.deliveries().len(), 2);
    let (ok, _, _) = run(&dir, &["set-managed-custodian", "--client-id", &"0".repeat(32)]).await;
    assert!(!ok);

    // The webhook secret survives a key rotation and re-wrap.
    run(&dir, &["kms", "rotate"]).await;
    let (ok, _, stderr) = run(&dir, &["kms", "rewrap"]).await;
    assert!(ok && stderr.contains("re-wrapped 2 record"), "{stderr}");
    assert_eq!(api.create_pair("PASSWORD", &new_backup_id(), share).await.status, 201);

    let log = service.sigkill().await;
    assert!(log.contains("custodian webhook call failed"), "{log}");
    let secret_text = std::str::from_utf8(secret).unwrap();
    for leak in [secret_text, share, receiver.url.as_str(), &key[9..]] {
        assert!(!log.contains(leak), "log leaks {leak}: {log}");
    }
}

#[tokio::test]
async fn webhook_urls_with_credentials_are_refused() {
    let (root, dir) = data_dir();
    let secret_file = root.path().join("webhook-secret");
    std::fs::write(&secret_file, "cli-webhook-secret-0123456789abcdef-XYZ").unwrap();
    let secret_arg = secret_file.to_str().unwrap();
    for url in ["https://u:p4ss@ops.example/custody", "https://u@ops.example/custody"] {
        let args = ["create-client", "--name", "x", "--custodian-webhook-url", url, "--custodian-webhook-secret-file"];
        let (ok, stdout, stderr) = run(&dir, &[&args[..], &[secret_arg]].concat()).await;
        assert!(!ok && stdout.is_empty(), "{url}: {stderr}");
        assert!(stderr.contains("user name or password"), "{stderr}");
        assert!(!stderr.contains("p4ss"), "the error quotes the password: {stderr}");
    }
    let id = {
        let key = create_client(&dir, "managed", true).await;
        let store = Store::connect(&wallet_backup_service::store::sqlite_url(&dir)).await.unwrap();
        let client = store.client_by_key_hash(&wallet_backup_service::apikey::hash(&key)).await.unwrap().unwrap();
        store.close().await;
        client.id
    };
    let (ok, _, stderr) = run(
        &dir,
        &[
            "set-custodian-webhook",
            "--client-id",
            &id,
            "--custodian-webhook-url",
            "https://u:p4ss@ops.example/custody",
            "--custodian-webhook-secret-file",
            secret_arg,
        ],
    )
    .await;
    assert!(!ok && stderr.contains("user name or password"), "{stderr}");
}

#[tokio::test]
async fn serve_takes_the_connection_limits_and_logs_the_open_file_budget() {
    let (_root, dir) = data_dir();
    let key = create_client(&dir, "limits", true).await;
    let flags = [
        "--header-timeout-ms",
        "2000",
        "--body-timeout-ms",
        "3000",
        "--idle-timeout-ms",
        "1000",
        "--max-connections",
        "100",
        "--max-connections-per-ip",
        "10",
        "--max-requests-in-flight",
        "20",
        "--max-body-memory-mib",
        "64",
        "--max-header-bytes",
        "16384",
        "--shutdown-grace-ms",
        "2000",
        "--anonymous-rate-limit",
        "1",
        "--anonymous-rate-burst",
        "2",
    ];
    let service = serve_with(&dir, "limits.log", &flags).await;
    assert_eq!(service.api(&key).get("/api/v3/clients/me").await.status, 200);
    let anonymous = Api::new(&service.base, None);
    assert_eq!(anonymous.get("/api/v3/clients/me").await.status, 401);
    assert_eq!(anonymous.get("/api/v3/clients/me").await.status, 401);
    assert_eq!(anonymous.get("/api/v3/clients/me").await.code(), "RATE_LIMITED");
    let log = service.sigterm().await;
    let serving = log.lines().find(|l| l.contains("serving")).unwrap_or_else(|| panic!("{log}"));
    for field in ["max_connections=100", "max_connections_per_ip=10", "open_file_limit=", "reserved_files=148"] {
        assert!(serving.contains(field), "{field} missing: {serving}");
    }

    for bad in [
        &["--max-connections", "0"][..],
        &["--idle-timeout-ms", "0"],
        &["--max-body-memory-mib", "1"],
        &["--anonymous-rate-limit", "-1"],
    ] {
        let (ok, _, stderr) = run(&dir, &[&["serve", "--listen", "127.0.0.1:0"][..], bad].concat()).await;
        assert!(!ok, "{bad:?} accepted: {stderr}");
    }
}

/// One step of the load: `Ok((status, body))`, or `Err` when no answer came.
async fn call(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<(u16, serde_json::Value), ()> {
    let mut request = http.request(method, format!("{base}{path}")).header("authorization", format!("Bearer {key}"));
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(serde_json::to_vec(&body).unwrap());
    }
    let response = request.send().await.map_err(|_| ())?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|_| ())?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)))
}

/// A backup the load started.
#[derive(Debug, Clone)]
struct Attempt {
    client: usize,
    pair_id: String,
    share: String,
    cipher_text: String,
    /// The confirm got a 200 before the kill.
    acked: bool,
    /// The confirm was sent but got no answer (in flight at the kill).
    in_flight: bool,
}

/// `serve` flags for the load test: no rate limit, and no limit or
/// retention that would remove an acknowledged backup the test checks.
const UNLIMITED: &[&str] = &[
    "--rate-limit",
    "0",
    "--keep-completed",
    "100000",
    "--max-pairs",
    "1000000",
    "--max-pending-pairs",
    "1000",
    "--max-stored-bytes",
    "100000000000",
];

/// Kill under load: concurrent backups for ~1.5 s, SIGKILL, restart on the
/// same data directory. Every acknowledged confirm is COMPLETED and opens;
/// no pair is half-written; recovery picks a whole, acknowledged-or-in-flight
/// pair; each client's untouched earlier backup still recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_no_acknowledged_backup() {
    const CLIENTS: usize = 4;
    const WORKERS_PER_CLIENT: usize = 4;
    const MAX_ROUNDS: usize = 400;
    let (_root, dir) = data_dir();
    let mut keys = Vec::new();
    for i in 0..CLIENTS {
        keys.push(create_client(&dir, &format!("load-{i}"), true).await);
    }
    let service = serve_with(&dir, "load1.log", UNLIMITED).await;
    // Each client's earlier backups: GDRIVE is never touched by the load, PASSWORD is superseded.
    let mut earlier = Vec::new();
    for key in &keys {
        let api = service.api(key);
        let gdrive = api.managed_backup("GDRIVE", "earlier-gdrive").await;
        let password = api.managed_backup("PASSWORD", "earlier-password").await;
        earlier.push((gdrive, password));
    }

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Confirmed backups so far: the kill waits for enough of them, however slow the machine.
    let confirmed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for (client, key) in keys.iter().enumerate() {
        for worker in 0..WORKERS_PER_CLIENT {
            let (base, key, stop, confirmed) = (service.base.clone(), key.clone(), stop.clone(), confirmed.clone());
            workers.push(tokio::spawn(async move {
                let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
                let mut attempts = Vec::new();
                let mut errors = 0;
                for round in 0..MAX_ROUNDS {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let backup_id = new_backup_id();
                    let share = format!("load-share-{client}-{worker}-{round}");
                    let body = serde_json::json!({ "backupMethod": "PASSWORD", "backupId": backup_id, "custodianShare": share });
                    let Ok((201, created)) = call(&http, &base, &key, reqwest::Method::POST, "/api/v3/clients/me/backup-share-pairs", Some(body)).await else {
                        errors += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let pair_id = created["id"].as_str().unwrap().to_owned();
                    let cipher_text = envelope("PASSWORD", &backup_id);
                    let path = format!("/api/v3/clients/me/backup-share-pairs/{pair_id}");
                    let put = call(&http, &base, &key, reqwest::Method::PUT, &format!("{path}/cipher-text"), Some(serde_json::json!({ "cipherText": cipher_text }))).await;
                    let mut attempt = Attempt { client, pair_id, share, cipher_text, acked: false, in_flight: false };
                    if !matches!(put, Ok((200, _))) {
                        // No cipherText acknowledged: the pair may be PENDING or STORED, never COMPLETED.
                        errors += 1;
                        attempts.push(attempt);
                        continue;
                    }
                    match call(&http, &base, &key, reqwest::Method::POST, &format!("{path}/confirm"), None).await {
                        Ok((200, body)) => {
                            assert_eq!(body["status"], "COMPLETED");
                            attempt.acked = true;
                            confirmed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Ok((status, body)) => panic!("confirm answered {status} {body}"),
                        Err(()) => {
                            attempt.in_flight = true;
                            errors += 1;
                        }
                    }
                    attempts.push(attempt);
                }
                (attempts, errors)
            }));
        }
    }
    // Load for at least 1.5 s and until 40 backups were confirmed (at most 60 s), then kill.
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    while confirmed.load(std::sync::atomic::Ordering::SeqCst) < 40 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    service.sigkill().await;
    // Let every worker run into the dead service at least once, then stop them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut attempts = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (a, e) = worker.await.unwrap();
        attempts.extend(a);
        errors += e;
    }
    let acked = attempts.iter().filter(|a| a.acked).count();
    eprintln!("load: {} backups started, {acked} confirmed before the kill, {errors} failed calls", attempts.len());
    assert!(acked >= 20, "too little load before the kill: {acked} confirmed");
    assert!(errors >= CLIENTS * WORKERS_PER_CLIENT, "the kill happened after the load: {errors} errors");

    let service = serve_with(&dir, "load2.log", UNLIMITED).await;
    let store = Store::connect(&wallet_backup_service::store::sqlite_url(&dir)).await.unwrap();
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT id, status, cipher_text FROM backup_share_pairs").fetch_all(store.pool()).await.unwrap();
    store.close().await;
    // One HTTP client per API key (building one loads the system's root certificates).
    let apis: Vec<Api> = keys.iter().map(|key| service.api(key)).collect();
    let by_id: std::collections::HashMap<_, _> =
        rows.iter().map(|(id, status, ct)| (id.clone(), (status.clone(), ct.clone()))).collect();

    // Every acknowledged confirm survived, whole.
    for a in attempts.iter().filter(|a| a.acked) {
        let (status, ct) = &by_id[&a.pair_id];
        assert_eq!(status, "COMPLETED", "{a:?}");
        assert_eq!(ct.as_deref(), Some(a.cipher_text.as_str()), "{a:?}");
        let api = &apis[a.client];
        assert_eq!(api.custodian_share(&a.pair_id).await.body["custodianShare"], a.share.as_str());
    }
    // No half-written pair: every row's custodian share opens, and a
    // completed or stored pair has its cipherText.
    for (id, (status, ct)) in &by_id {
        assert!(status == "PENDING" || ct.is_some(), "{id} is {status} without cipherText");
    }
    for a in &attempts {
        if let Some((status, _)) = by_id.get(&a.pair_id) {
            let reply = apis[a.client].custodian_share(&a.pair_id).await;
            assert_eq!(reply.body["custodianShare"], a.share.as_str(), "{status} {a:?}");
            assert!(status != "COMPLETED" || a.acked || a.in_flight, "completed without a confirm: {a:?}");
        }
    }
    for (client, api) in apis.iter().enumerate() {
        // Recovery picks a whole pair: the newest acknowledged confirm, or one in flight at the kill.
        let latest = api.latest("PASSWORD").await;
        assert_eq!(latest.status, 200);
        let id = latest.body["id"].as_str().unwrap();
        let mine: Vec<&Attempt> = attempts.iter().filter(|a| a.client == client).collect();
        match mine.iter().find(|a| a.pair_id == id) {
            Some(a) => {
                assert!(a.acked || a.in_flight, "{a:?}");
                assert_eq!(latest.body["cipherText"], a.cipher_text.as_str());
                assert_eq!(api.custodian_share(id).await.body["custodianShare"], a.share.as_str());
            }
            None => {
                assert!(!mine.iter().any(|a| a.acked), "recovery went back behind an acknowledged backup");
                assert_eq!(id, earlier[client].1 .0);
            }
        }
        // The earlier backup the load never touched still recovers, as it was.
        let (gdrive_id, _, gdrive_ct) = &earlier[client].0;
        let gdrive = api.latest("GDRIVE").await;
        assert_eq!(gdrive.body["id"], gdrive_id.as_str());
        assert_eq!(gdrive.body["cipherText"], gdrive_ct.as_str());
        assert_eq!(api.custodian_share(gdrive_id).await.body["custodianShare"], "earlier-gdrive");
        let (password_id, _, _) = &earlier[client].1;
        assert_eq!(api.custodian_share(password_id).await.body["custodianShare"], "earlier-password");
    }
    service.sigkill().await;
}

// ---------------------------------------------------------------- Firebase enclave

/// A `dev-firebase-issuer` process; returns it and its base URL.
async fn dev_issuer(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("dev-firebase-issuer")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = listening_address(&mut child, Duration::from_secs(60)).await.expect("issuer exited");
    (child, base)
}

async fn mint(issuer: &Api, sub: &str, auth_age: i64) -> String {
    let reply = issuer.post("/token", serde_json::json!({ "sub": sub, "authAgeSeconds": auth_age })).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["idToken"].as_str().unwrap().to_owned()
}

async fn enclave_call(api: &Api, method: &str, token: &str, backup_id: &str, key: Option<&str>) -> common::Reply {
    let headers = [("x-firebase-token", token)];
    match key {
        Some(key) => {
            let body = serde_json::json!({ "backupId": backup_id, "encryptionKey": key });
            let body = serde_json::to_vec(&body).unwrap();
            api.send_with(method, "/v1/backup/encrypt-key", &headers, Some(("application/json", body))).await
        }
        None => api.send_with(method, &format!("/v1/backup/encrypt-key?backupId={backup_id}"), &headers, None).await,
    }
}

#[tokio::test]
async fn dev_firebase_issuer_refuses_a_non_loopback_listen() {
    for listen in ["0.0.0.0:0", "[::]:0", "192.0.2.1:0"] {
        let out = Command::new(BIN)
            .args(["dev-firebase-issuer", "--project-id", "demo-project", "--listen", listen])
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{listen} must be refused");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("loopback"), "{stderr}");
        assert!(out.stdout.is_empty(), "nothing listens: {:?}", String::from_utf8_lossy(&out.stdout));
    }
    let out = Command::new(BIN).args(["dev-firebase-issuer", "--project-id", "Not A Project"]).output().await.unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn firebase_enclave_from_the_cli_with_the_dev_issuer() {
    let (root, dir) = data_dir();
    let key_file = root.path().join("issuer-key.der");
    let key_arg = key_file.to_str().unwrap();
    let issuer_args =
        ["--listen", "127.0.0.1:0", "--project-id", "demo-project", "--key-file", key_arg, "--max-age", "600"];
    let (issuer_process, issuer_base) = dev_issuer(&issuer_args).await;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    let issuer = Api::new(&issuer_base, None);
    let jwks = issuer.get("/jwks").await;
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.headers["cache-control"], "public, max-age=600");
    assert_eq!(jwks.body["keys"][0]["kty"], "RSA");
    assert_eq!(jwks.body["keys"][0]["alg"], "RS256");
    let bad = issuer.post("/token", serde_json::json!({ "sub": "a", "extra": 1 })).await;
    assert_eq!(bad.code(), "INVALID_REQUEST");

    // Clients: one with a project from the start, one set later; a bad project id is refused.
    let (ok, _, stderr) = run(&dir, &["create-client", "--name", "x", "--firebase-project-id", "Bad Project"]).await;
    assert!(!ok, "{stderr}");
    let (ok, key, stderr) =
        run(&dir, &["create-client", "--name", "fb", "--firebase-project-id", "demo-project"]).await;
    assert!(ok && stderr.contains("Firebase project demo-project"), "{stderr}");
    let key = key.trim().to_owned();
    let (ok, plain_key, stderr) = run(&dir, &["create-client", "--name", "plain"]).await;
    assert!(ok, "{stderr}");
    let plain_key = plain_key.trim().to_owned();
    let plain_id = stderr.split_whitespace().nth(2).unwrap().to_owned();

    let jwks_url = format!("{issuer_base}/jwks");
    let service = serve_env(
        &dir,
        "firebase.log",
        &["--firebase-max-auth-age", "100"],
        &[("WALLET_BACKUP_FIREBASE_JWKS_URL", jwks_url.as_str())],
    )
    .await;
    let api = service.api(&key);
    let token = mint(&issuer, "alice", 0).await;
    let backup_id = new_backup_id();
    let secret_key = "S0VZLWZvci1hLWJhY2t1cC0zMi1ieXRlcy1sb25nISE"; // 32 bytes, base64url
    let put = enclave_call(&api, "PUT", &token, &backup_id, Some(secret_key)).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let got = enclave_call(&api, "GET", &token, &backup_id, None).await;
    assert_eq!(got.body["encryptionKey"], secret_key, "{}", got.body);
    // --firebase-max-auth-age 100: a sign-in 150 s ago is too old to release a key; 50 s is fine.
    let stale = mint(&issuer, "alice", 150).await;
    let reply = enclave_call(&api, "GET", &stale, &backup_id, None).await;
    assert_eq!((reply.status, reply.code()), (401, "FIREBASE_REAUTHENTICATION_REQUIRED"));
    let recent = mint(&issuer, "alice", 50).await;
    assert_eq!(enclave_call(&api, "GET", &recent, &backup_id, None).await.status, 200);

    // The client without a project, until set-firebase-project.
    let plain = service.api(&plain_key);
    let reply = enclave_call(&plain, "PUT", &token, &backup_id, Some(secret_key)).await;
    assert_eq!((reply.status, reply.code()), (409, "FIREBASE_NOT_CONFIGURED"));
    let (ok, _, stderr) =
        run(&dir, &["set-firebase-project", "--client-id", &plain_id, "--firebase-project-id", "demo-project"]).await;
    assert!(ok, "{stderr}");
    let (ok, _, _) =
        run(&dir, &["set-firebase-project", "--client-id", &"0".repeat(32), "--firebase-project-id", "demo-project"])
            .await;
    assert!(!ok, "unknown client");
    assert_eq!(enclave_call(&plain, "PUT", &token, &backup_id, Some(secret_key)).await.status, 200);

    // kms rotate + rewrap move the enclave keys too, while the service runs.
    let (ok, new_master, _) = run(&dir, &["kms", "rotate"]).await;
    assert!(ok);
    let (ok, _, stderr) = run(&dir, &["kms", "rewrap"]).await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("re-wrapped 2 record"), "{stderr}");
    assert!(stderr.contains(&format!("{}: 2 Firebase enclave key(s)", new_master.trim())), "{stderr}");
    assert_eq!(enclave_call(&api, "GET", &token, &backup_id, None).await.body["encryptionKey"], secret_key);
    assert_eq!(enclave_call(&plain, "GET", &token, &backup_id, None).await.body["encryptionKey"], secret_key);

    // The issuer restarted on the same key file serves the same key: old tokens still verify.
    drop(issuer_process);
    let (_issuer_process, issuer_base2) = dev_issuer(&issuer_args).await;
    assert_eq!(Api::new(&issuer_base2, None).get("/jwks").await.body, jwks.body);

    let log = service.sigkill().await;
    assert!(log.contains("/v1/backup/encrypt-key"), "{log}");
    let signature = token.rsplit('.').next().unwrap();
    for leak in [token.as_str(), signature, secret_key, &key[9..]] {
        assert!(!log.contains(leak), "log leaks {leak}: {log}");
    }
}
