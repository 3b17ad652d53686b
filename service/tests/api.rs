//! The HTTP API over real HTTP on loopback, against the real router and a
//! temporary SQLite file: every endpoint, authentication, client isolation,
//! strict input, pending-vs-completed, rate limit.

mod common;

use common::{envelope, new_backup_id, serve, serve_in, Api};
use serde_json::{json, Value};
use wallet_backup_service::RateLimit;

const PAIRS: &str = "/api/v3/clients/me/backup-share-pairs";

#[tokio::test]
async fn managed_backup_happy_path() {
    let server = serve().await;
    let api = server.client("alice", true).await;

    let me = api.get("/api/v3/clients/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["name"], "alice");
    assert_eq!(me.body["managedBackups"], true);
    assert_eq!(me.body["id"].as_str().unwrap().len(), 32);

    let wallet = api.get("/api/v3/clients/me/wallet").await;
    assert_eq!(wallet.body, json!({ "isBackedUp": false, "isRecoverable": false, "availableRecoveryMethods": [] }));
    assert_eq!(api.latest("PASSWORD").await.code(), "NO_BACKUP");

    // Upper-case hex is accepted and normalised.
    let backup_id = new_backup_id().to_ascii_uppercase();
    let created = api.create_pair("PASSWORD", &backup_id, "custodian-half-1").await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["status"], "PENDING");
    assert_eq!(created.body["backupMethod"], "PASSWORD");
    assert_eq!(created.body["backupId"], backup_id.to_ascii_lowercase());
    let id = created.body["id"].as_str().unwrap().to_owned();

    // Readable back before completion (the module's read-back check).
    let share = api.custodian_share(&id).await;
    assert_eq!(share.status, 200);
    assert_eq!(share.body, json!({ "custodianShare": "custodian-half-1" }));

    // Not confirmable before the cipherText is there.
    let early = api.confirm(&id).await;
    assert_eq!((early.status, early.code()), (409, "INVALID_PAIR_STATE"));

    let ct = envelope("PASSWORD", &backup_id.to_ascii_lowercase());
    let stored = api.put_cipher_text(&id, &ct).await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(stored.body["status"], "STORED_CLIENT_BACKUP_SHARE");
    // Still not visible to recovery.
    assert_eq!(api.latest("PASSWORD").await.code(), "NO_BACKUP");

    let confirmed = api.confirm(&id).await;
    assert_eq!(confirmed.status, 200);
    assert_eq!(confirmed.body["status"], "COMPLETED");
    assert!(confirmed.body["completedAt"].is_string());
    // Confirming twice is harmless: same state.
    let again = api.confirm(&id).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, confirmed.body);
    // Re-sending the same cipherText is harmless; another one is refused.
    assert_eq!(api.put_cipher_text(&id, &ct).await.status, 200);
    let other = api.put_cipher_text(&id, &envelope("PASSWORD", &backup_id.to_ascii_lowercase())).await;
    assert_eq!((other.status, other.code()), (409, "INVALID_PAIR_STATE"));

    let latest = api.latest("PASSWORD").await;
    assert_eq!(latest.status, 200);
    assert_eq!(latest.body["id"], id.as_str());
    assert_eq!(latest.body["backupId"], backup_id.to_ascii_lowercase());
    assert_eq!(latest.body["cipherText"], ct.as_str());
    assert!(latest.body["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(api.latest("GDRIVE").await.code(), "NO_BACKUP");

    let wallet = api.get("/api/v3/clients/me/wallet").await;
    assert_eq!(
        wallet.body,
        json!({ "isBackedUp": true, "isRecoverable": true, "availableRecoveryMethods": ["PASSWORD"] })
    );
    api.managed_backup("CUSTOM", "c2").await;
    api.managed_backup("GDRIVE", "c3").await;
    let wallet = api.get("/api/v3/clients/me/wallet").await;
    assert_eq!(wallet.body["availableRecoveryMethods"], json!(["PASSWORD", "GDRIVE", "CUSTOM"]));
}

#[tokio::test]
async fn pending_backup_never_replaces_the_completed_one() {
    let server = serve().await;
    let api = server.client("bob", true).await;
    let (first, _, first_ct) = api.managed_backup("PASSWORD", "share-1").await;

    let backup_id = new_backup_id();
    let second = api.create_pair("PASSWORD", &backup_id, "share-2").await.body["id"].as_str().unwrap().to_owned();
    assert_eq!(api.latest("PASSWORD").await.body["id"], first.as_str());
    let second_ct = envelope("PASSWORD", &backup_id);
    api.put_cipher_text(&second, &second_ct).await;
    let latest = api.latest("PASSWORD").await;
    assert_eq!(latest.body["id"], first.as_str(), "stored but unconfirmed must not be used");
    assert_eq!(latest.body["cipherText"], first_ct.as_str());

    api.confirm(&second).await;
    let latest = api.latest("PASSWORD").await;
    assert_eq!(latest.body["id"], second.as_str());
    assert_eq!(latest.body["cipherText"], second_ct.as_str());
    // The older pair still opens (a cipherText kept elsewhere can still recover).
    assert_eq!(api.custodian_share(&first).await.body["custodianShare"], "share-1");
}

#[tokio::test]
async fn self_managed_flow() {
    let server = serve().await;
    let api = server.client("carol", false).await;
    assert_eq!(api.get("/api/v3/clients/me").await.body["managedBackups"], false);
    assert_eq!(api.report_stored("PASSWORD", true).await.code(), "NO_PENDING_BACKUP");

    let backup_id = new_backup_id();
    let id = api.create_pair("PASSWORD", &backup_id, "s").await.body["id"].as_str().unwrap().to_owned();
    // The service keeps no cipherTexts for this client.
    let refused = api.put_cipher_text(&id, &envelope("PASSWORD", &backup_id)).await;
    assert_eq!((refused.status, refused.code()), (409, "MANAGED_BACKUPS_DISABLED"));
    assert_eq!(api.confirm(&id).await.code(), "INVALID_PAIR_STATE");

    let reported = api.report_stored("PASSWORD", true).await;
    assert_eq!(reported.status, 200, "{}", reported.body);
    assert_eq!(reported.body["id"], id.as_str());
    assert_eq!(reported.body["status"], "STORED_CLIENT_BACKUP_SHARE");
    // Reporting again is harmless.
    let again = api.report_stored("PASSWORD", true).await;
    assert_eq!((again.status, again.body["id"].as_str()), (200, Some(id.as_str())));

    assert_eq!(api.confirm(&id).await.body["status"], "COMPLETED");
    let latest = api.latest("PASSWORD").await;
    assert_eq!(latest.body["id"], id.as_str());
    assert!(latest.body.get("cipherText").is_none(), "{}", latest.body);

    // A failed store marks the newest pending pair FAILED; it can never complete.
    let failed = api.create_pair("PASSWORD", &new_backup_id(), "s2").await.body["id"].as_str().unwrap().to_owned();
    let reported = api.report_stored("PASSWORD", false).await;
    assert_eq!((reported.body["id"].as_str(), reported.body["status"].as_str()), (Some(&*failed), Some("FAILED")));
    assert_eq!(api.confirm(&failed).await.code(), "INVALID_PAIR_STATE");
    assert_eq!(api.latest("PASSWORD").await.body["id"], id.as_str());
    // Only the newest pending pair of the method is touched.
    assert_eq!(api.report_stored("GDRIVE", true).await.code(), "NO_PENDING_BACKUP");
}

#[tokio::test]
async fn unauthenticated_requests_get_401() {
    let server = serve().await;
    let real = server.client("dave", true).await;
    let anonymous = server.anonymous();
    let unknown = anonymous.with_key(&format!("wbk_live_{}", "A".repeat(43)));
    let malformed = anonymous.with_key("not-a-key");
    let id = "0".repeat(32);
    for api in [&anonymous, &unknown, &malformed] {
        for reply in [
            api.get("/api/v3/clients/me").await,
            api.get("/api/v3/clients/me/wallet").await,
            api.create_pair("PASSWORD", &new_backup_id(), "x").await,
            api.put_cipher_text(&id, "wbk1.AAAA").await,
            api.confirm(&id).await,
            api.custodian_share(&id).await,
            api.latest("PASSWORD").await,
            api.report_stored("PASSWORD", true).await,
            // Authentication comes before validation: no probing without a key.
            api.send("POST", PAIRS, Some(("application/json", b"{not json".to_vec()))).await,
        ] {
            assert_eq!((reply.status, reply.code()), (401, "UNAUTHORIZED"));
            assert_eq!(reply.headers["www-authenticate"], "Bearer");
        }
    }
    assert_eq!(real.get("/api/v3/clients/me").await.status, 200);
}

#[tokio::test]
async fn clients_cannot_see_each_others_pairs() {
    let server = serve().await;
    let a = server.client("a", true).await;
    let b = server.client("b", true).await;
    let (completed, backup_id, _) = a.managed_backup("PASSWORD", "a-secret").await;
    let pending_id = new_backup_id();
    let pending = a.create_pair("PASSWORD", &pending_id, "a-pending").await.body["id"].as_str().unwrap().to_owned();

    for id in [&completed, &pending] {
        let share = b.custodian_share(id).await;
        assert_eq!((share.status, share.code()), (404, "PAIR_NOT_FOUND"));
        assert_eq!(b.confirm(id).await.code(), "PAIR_NOT_FOUND");
        let put = b.put_cipher_text(id, &envelope("PASSWORD", &pending_id)).await;
        assert_eq!(put.code(), "PAIR_NOT_FOUND");
    }
    // Same answer as an id that does not exist at all.
    assert_eq!(b.custodian_share(&"1".repeat(32)).await.code(), "PAIR_NOT_FOUND");
    assert_eq!(b.custodian_share("not-an-id").await.code(), "PAIR_NOT_FOUND");
    assert_eq!(b.latest("PASSWORD").await.code(), "NO_BACKUP");
    assert_eq!(b.get("/api/v3/clients/me/wallet").await.body["isBackedUp"], false);
    assert_eq!(b.report_stored("PASSWORD", false).await.code(), "NO_PENDING_BACKUP");
    // Backup ids are per client: B may use the same one.
    assert_eq!(b.create_pair("PASSWORD", &backup_id, "b").await.status, 201);

    // A's data is untouched.
    assert_eq!(a.custodian_share(&completed).await.body["custodianShare"], "a-secret");
    assert_eq!(a.custodian_share(&pending).await.body["custodianShare"], "a-pending");
    assert_eq!(a.latest("PASSWORD").await.body["id"], completed.as_str());
    assert_eq!(a.get("/api/v3/clients/me").await.body["name"], "a");
    assert_eq!(b.get("/api/v3/clients/me").await.body["name"], "b");
}

#[tokio::test]
async fn strict_input() {
    let server = serve().await;
    let api = server.client("eve", true).await;
    let good = || json!({ "backupMethod": "PASSWORD", "backupId": new_backup_id(), "custodianShare": "x" });
    let with = |field: &str, value: Value| {
        let mut body = good();
        body[field] = value;
        body
    };

    let cases: Vec<(Value, u16, &str)> = vec![
        (with("extra", json!(1)), 400, "INVALID_REQUEST"),
        (with("backupMethod", json!("password")), 400, "INVALID_REQUEST"),
        (with("backupMethod", json!("SMOKE_SIGNALS")), 400, "INVALID_REQUEST"),
        (with("backupId", json!(12)), 400, "INVALID_REQUEST"),
        (with("backupId", json!("zz".repeat(16))), 400, "INVALID_REQUEST"),
        (with("backupId", json!("ab".repeat(15))), 400, "INVALID_REQUEST"),
        (with("custodianShare", json!("")), 400, "INVALID_REQUEST"),
        (with("custodianShare", json!(null)), 400, "INVALID_REQUEST"),
        (with("custodianShare", json!("s".repeat((1 << 20) + 1))), 400, "INVALID_REQUEST"),
        (json!({ "backupMethod": "PASSWORD" }), 400, "INVALID_REQUEST"),
        (json!([]), 400, "INVALID_REQUEST"),
    ];
    for (body, status, code) in cases {
        let reply = api.post(PAIRS, body.clone()).await;
        assert_eq!((reply.status, reply.code()), (status, code), "{}", reply.body);
    }
    // Largest custodian share is fine.
    assert_eq!(api.post(PAIRS, with("custodianShare", json!("s".repeat(1 << 20)))).await.status, 201);

    let bad_json = api.send("POST", PAIRS, Some(("application/json", b"{\"backupMethod\":".to_vec()))).await;
    assert_eq!((bad_json.status, bad_json.code()), (400, "MALFORMED_JSON"));
    let no_type = api.send("POST", PAIRS, Some(("text/plain", serde_json::to_vec(&good()).unwrap()))).await;
    assert_eq!((no_type.status, no_type.code()), (415, "UNSUPPORTED_MEDIA_TYPE"));
    let huge = vec![b' '; wallet_backup_service::api::BODY_LIMIT + 1];
    let too_large = api.send("POST", PAIRS, Some(("application/json", huge))).await;
    assert_eq!((too_large.status, too_large.code()), (413, "PAYLOAD_TOO_LARGE"));

    // cipherText checks.
    let backup_id = new_backup_id();
    let id = api.create_pair("PASSWORD", &backup_id, "x").await.body["id"].as_str().unwrap().to_owned();
    let path = format!("{PAIRS}/{id}/cipher-text");
    for (text, code) in [
        ("hello".to_owned(), "INVALID_CIPHERTEXT"),
        ("wbk1.!!!".to_owned(), "INVALID_CIPHERTEXT"),
        ("wbk1.AAAA".to_owned(), "INVALID_CIPHERTEXT"),
        (envelope("GDRIVE", &backup_id), "INVALID_CIPHERTEXT"),
        (envelope("PASSWORD", &new_backup_id()), "INVALID_CIPHERTEXT"),
        (format!("{}=", envelope("PASSWORD", &backup_id)), "INVALID_CIPHERTEXT"),
        (format!("wbk1.{}", "A".repeat(2 * 1024 * 1024)), "INVALID_REQUEST"),
    ] {
        let reply = api.put(&path, json!({ "cipherText": text })).await;
        assert_eq!((reply.status, reply.code()), (400, code), "{}", reply.body);
    }
    let extra = api.put(&path, json!({ "cipherText": envelope("PASSWORD", &backup_id), "x": 1 })).await;
    assert_eq!(extra.code(), "INVALID_REQUEST");
    let wrong_type = api.put(&path, json!({ "cipherText": 5 })).await;
    assert_eq!(wrong_type.code(), "INVALID_REQUEST");
    assert_eq!(api.get(&format!("{PAIRS}/{id}/custodian-share")).await.status, 200, "nothing changed");

    let stored = "/api/v2/clients/me/wallet/stored-client-backup-share";
    let reply = api.put(stored, json!({ "backupMethod": "PASSWORD", "success": "yes" })).await;
    assert_eq!(reply.code(), "INVALID_REQUEST");
    let reply = api.put(stored, json!({ "backupMethod": "PASSWORD", "success": true, "more": 1 })).await;
    assert_eq!(reply.code(), "INVALID_REQUEST");

    // Path parameters, routes, methods.
    let reply = api.get("/api/v3/clients/me/backups/password").await;
    assert_eq!((reply.status, reply.code()), (400, "INVALID_BACKUP_METHOD"));
    let reply = api.get("/api/v3/clients/me/nothing").await;
    assert_eq!((reply.status, reply.code()), (404, "NOT_FOUND"));
    let reply = api.get("/nothing").await;
    assert_eq!((reply.status, reply.code()), (404, "NOT_FOUND"));
    let reply = api.send("DELETE", "/api/v3/clients/me", None).await;
    assert_eq!((reply.status, reply.code()), (405, "METHOD_NOT_ALLOWED"));
    let reply = api.get(PAIRS).await;
    assert_eq!((reply.status, reply.code()), (405, "METHOD_NOT_ALLOWED"));
}

#[tokio::test]
async fn duplicate_backup_id_is_refused() {
    let server = serve().await;
    let api = server.client("frank", true).await;
    let backup_id = new_backup_id();
    assert_eq!(api.create_pair("PASSWORD", &backup_id, "x").await.status, 201);
    let again = api.create_pair("PASSWORD", &backup_id, "x").await;
    assert_eq!((again.status, again.code()), (409, "BACKUP_ID_EXISTS"));
    let upper = api.create_pair("GDRIVE", &backup_id.to_ascii_uppercase(), "y").await;
    assert_eq!(upper.code(), "BACKUP_ID_EXISTS");
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_in(dir, RateLimit { per_second: 0.5, burst: 3 }).await;
    let a = server.client("a", true).await;
    let b = server.client("b", true).await;
    for _ in 0..3 {
        assert_eq!(a.get("/api/v3/clients/me").await.status, 200);
    }
    let limited = a.get("/api/v3/clients/me").await;
    assert_eq!((limited.status, limited.code()), (429, "RATE_LIMITED"));
    let retry: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Per key: another client is not affected.
    assert_eq!(b.get("/api/v3/clients/me").await.status, 200);
    // Unauthenticated requests never consume a client's budget.
    assert_eq!(server.anonymous().get("/api/v3/clients/me").await.status, 401);
}

#[tokio::test]
async fn api_keys_are_stored_hashed_only() {
    let server = serve().await;
    let (_, key) = server.running.store().create_client("grace", true).await.unwrap();
    let api = Api::new(&server.base, Some(key.expose()));
    api.managed_backup("PASSWORD", "CUSTODIAN-PLAINTEXT-MARKER-7f3a").await;
    let hashes: Vec<String> =
        sqlx::query_scalar("SELECT key_hash FROM api_keys").fetch_all(server.running.store().pool()).await.unwrap();
    assert_eq!(hashes, vec![wallet_backup_service::apikey::hash(key.expose())]);

    if common::on_postgres() {
        return;
    }
    // No byte of the database files holds the key (nor the secret part alone).
    let secret = &key.expose()[wallet_backup_service::apikey::PREFIX.len()..];
    let mut seen = 0;
    for entry in std::fs::read_dir(server.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with(wallet_backup_service::DATABASE_FILE) {
            let bytes = std::fs::read(&path).unwrap();
            seen += bytes.len();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "key in {}", path.display());
            // The custodian share is sealed, not stored in the clear.
            let marker = b"CUSTODIAN-PLAINTEXT-MARKER-7f3a";
            assert!(!bytes.windows(marker.len()).any(|w| w == marker), "custodian share in {}", path.display());
        }
    }
    assert!(seen > 0);
}

#[tokio::test]
async fn sqlite_is_in_wal_mode_with_full_sync() {
    if common::on_postgres() {
        return;
    }
    let server = serve().await;
    let pool = server.running.store().pool();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await.unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
}

#[tokio::test]
async fn serves_static_files_beside_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    let pkg = dir.path().join("pkg");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(www.join("index.html"), "<h1>demo</h1>").unwrap();
    std::fs::write(pkg.join("module.js"), "export {}").unwrap();
    let config = wallet_backup_service::ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        backend: common::backend_for(&dir.path().join("data")).await,
        statics: Some(wallet_backup_service::Statics { www, pkg: Some(pkg) }),
        rate_limit: RateLimit::default(),
        webhook: wallet_backup_service::WebhookPolicy::default(),
    };
    let running = wallet_backup_service::start(config).await.unwrap();
    let base = format!("http://{}", running.addr());
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.text().await.unwrap(), "<h1>demo</h1>");
    let module = reqwest::get(format!("{base}/pkg/module.js")).await.unwrap();
    assert_eq!(module.status(), 200);
    assert!(module.headers()["content-type"].to_str().unwrap().contains("javascript"));
    let (_, key) = running.store().create_client("web", true).await.unwrap();
    let api = Api::new(&base, Some(key.expose()));
    assert_eq!(api.get("/api/v3/clients/me").await.status, 200);
    assert_eq!(api.get("/api/v3/unknown").await.code(), "NOT_FOUND");
    running.shutdown().await.unwrap();
}
