//! The real binary: `create-client`, `serve`, restarts (SIGKILL and
//! SIGTERM) on the same data directory, `kms rotate` / `kms rewrap`, the key
//! file's permissions, and what the request log contains.

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
    let log = data_dir.parent().unwrap().join(log_name);
    let stderr = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("service printed its address in time")
        .unwrap()
        .unwrap_or_else(|| panic!("service exited: {}", std::fs::read_to_string(&log).unwrap_or_default()));
    let base = line.strip_prefix("listening on ").expect("listening line").to_owned();
    Service { child, base, log }
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
