//! The HTTP API over real HTTP on loopback, against the real router and a
//! temporary SQLite file: every endpoint, authentication, client isolation,
//! strict input, pending-vs-completed, rate limit; CORS, the static demo
//! page's headers and the demo key; and the Firebase and passkey enclaves
//! (`enclave/firebase.rs`, `enclave/passkey.rs`).

mod common;
// The Firebase enclave's routes: in this binary, so they also run on PostgreSQL with the API suite.
#[path = "enclave/firebase.rs"]
mod firebase_enclave;
// The passkey enclave's routes, with a software authenticator: here for the same reason.
#[path = "enclave/passkey.rs"]
mod passkey_enclave;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::{envelope, new_backup_id, serve, serve_config, serve_in, Api, Reply};
use serde_json::{json, Value};
use wallet_backup_service::api::{MAX_CIPHER_TEXT, MAX_CUSTODIAN_SHARE};
use wallet_backup_service::demo::DemoSettings;
use wallet_backup_service::store::NewClient;
use wallet_backup_service::{RateLimit, ServeConfig, StartError, Statics};

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
            api.custodian_share_by_backup_id(&id).await,
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
    // By backup id too: the same 404 as a backup id nobody has.
    let unknown = b.custodian_share_by_backup_id(&new_backup_id()).await;
    assert_eq!((unknown.status, unknown.code()), (404, "PAIR_NOT_FOUND"));
    for a_backup_id in [&backup_id, &pending_id] {
        let reply = b.custodian_share_by_backup_id(a_backup_id).await;
        assert_eq!((reply.status, &reply.body), (404, &unknown.body));
        let upper = b.custodian_share_by_backup_id(&a_backup_id.to_ascii_uppercase()).await;
        assert_eq!((upper.status, &upper.body), (404, &unknown.body));
    }
    // Same answer as an id that does not exist at all.
    assert_eq!(b.custodian_share(&"1".repeat(32)).await.code(), "PAIR_NOT_FOUND");
    assert_eq!(b.custodian_share("not-an-id").await.code(), "PAIR_NOT_FOUND");
    assert_eq!(b.latest("PASSWORD").await.code(), "NO_BACKUP");
    assert_eq!(b.get("/api/v3/clients/me/wallet").await.body["isBackedUp"], false);
    assert_eq!(b.report_stored("PASSWORD", false).await.code(), "NO_PENDING_BACKUP");
    // Backup ids are per client: B may use the same one, and each reads its own share.
    assert_eq!(b.create_pair("PASSWORD", &backup_id, "b").await.status, 201);
    assert_eq!(b.custodian_share_by_backup_id(&backup_id).await.body["custodianShare"], "b");
    let a_share = a.custodian_share_by_backup_id(&backup_id).await;
    assert_eq!(
        (a_share.body["pairId"].as_str(), a_share.body["custodianShare"].as_str()),
        (Some(&*completed), Some("a-secret"))
    );

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
        // Valid JSON of the wrong type is a data error, not MALFORMED_JSON.
        (with("backupMethod", json!(1)), 400, "INVALID_REQUEST"),
        (with("backupMethod", json!(null)), 400, "INVALID_REQUEST"),
        (with("backupMethod", json!(["PASSWORD"])), 400, "INVALID_REQUEST"),
        (with("backupMethod", json!({ "PASSWORD": null })), 400, "INVALID_REQUEST"),
        (with("backupId", json!(12)), 400, "INVALID_REQUEST"),
        (with("backupId", json!("zz".repeat(16))), 400, "INVALID_REQUEST"),
        (with("backupId", json!("ab".repeat(15))), 400, "INVALID_REQUEST"),
        (with("custodianShare", json!("")), 400, "INVALID_REQUEST"),
        (with("custodianShare", json!(null)), 400, "INVALID_REQUEST"),
        (with("custodianShare", json!("s".repeat(MAX_CUSTODIAN_SHARE + 1))), 400, "INVALID_REQUEST"),
        (json!({ "backupMethod": "PASSWORD" }), 400, "INVALID_REQUEST"),
        (json!([]), 400, "INVALID_REQUEST"),
    ];
    for (body, status, code) in cases {
        let reply = api.post(PAIRS, body.clone()).await;
        assert_eq!((reply.status, reply.code()), (status, code), "{}", reply.body);
    }
    // Largest custodian share is fine.
    assert_eq!(api.post(PAIRS, with("custodianShare", json!("s".repeat(MAX_CUSTODIAN_SHARE)))).await.status, 201);

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
        // Longer than any envelope can be.
        (format!("wbk1.{}", "A".repeat(MAX_CIPHER_TEXT)), "INVALID_REQUEST"),
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
    let (_, key) = server.running.store().create_client(server.running.kms(), &NewClient::new("grace")).await.unwrap();
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
async fn custodian_share_by_backup_id_in_every_usable_status() {
    let server = serve().await;
    let api = server.client("heidi", true).await;
    let backup_id = new_backup_id();
    let share = "SGVpZGlzLWN1c3RvZGlhbi1oYWxm";
    let id = api.create_pair("GDRIVE", &backup_id, share).await.body["id"].as_str().unwrap().to_owned();
    let expect = |status: &str| json!({ "pairId": id, "backupMethod": "GDRIVE", "backupId": backup_id, "status": status, "custodianShare": share });

    // PENDING: the module reads the share back before it stores the cipherText.
    let pending = api.custodian_share_by_backup_id(&backup_id).await;
    assert_eq!((pending.status, &pending.body), (200, &expect("PENDING")));
    // Upper-case hex finds the same pair.
    let upper = api.custodian_share_by_backup_id(&backup_id.to_ascii_uppercase()).await;
    assert_eq!((upper.status, &upper.body), (200, &expect("PENDING")));

    // STORED_CLIENT_BACKUP_SHARE: a cipherText of a pair not yet confirmed still recovers.
    assert_eq!(api.put_cipher_text(&id, &envelope("GDRIVE", &backup_id)).await.status, 200);
    assert_eq!(api.custodian_share_by_backup_id(&backup_id).await.body, expect("STORED_CLIENT_BACKUP_SHARE"));

    assert_eq!(api.confirm(&id).await.status, 200);
    assert_eq!(api.custodian_share_by_backup_id(&backup_id).await.body, expect("COMPLETED"));
    // A later backup does not change what an older backup id answers.
    let (_, newer_backup_id, _) = api.managed_backup("GDRIVE", "newer").await;
    assert_eq!(api.custodian_share_by_backup_id(&backup_id).await.body, expect("COMPLETED"));
    assert_eq!(api.custodian_share_by_backup_id(&newer_backup_id).await.body["custodianShare"], "newer");

    let unknown = api.custodian_share_by_backup_id(&new_backup_id()).await;
    assert_eq!((unknown.status, unknown.code()), (404, "PAIR_NOT_FOUND"));
    for bad in [
        "zz".repeat(16),
        "ab".repeat(15),
        format!("{backup_id}0"),
        "not-hex".into(),
        format!("{}%20", &backup_id[..29]),
    ] {
        let reply = api.custodian_share_by_backup_id(&bad).await;
        assert_eq!((reply.status, reply.code()), (400, "INVALID_REQUEST"), "{bad}: {}", reply.body);
    }
    let reply = api.send("POST", &format!("/api/v3/clients/me/custodian-shares/{backup_id}"), None).await;
    assert_eq!((reply.status, reply.code()), (405, "METHOD_NOT_ALLOWED"));
}

#[tokio::test]
async fn custodian_share_by_backup_id_refuses_failed_pairs() {
    let server = serve().await;
    let api = server.client("ivan", false).await;
    let backup_id = new_backup_id();
    let id = api.create_pair("PASSWORD", &backup_id, "c2hhcmU").await.body["id"].as_str().unwrap().to_owned();
    assert_eq!(api.custodian_share_by_backup_id(&backup_id).await.body["status"], "PENDING");
    let reported = api.report_stored("PASSWORD", false).await;
    assert_eq!((reported.body["id"].as_str(), reported.body["status"].as_str()), (Some(&*id), Some("FAILED")));
    let reply = api.custodian_share_by_backup_id(&backup_id).await;
    assert_eq!((reply.status, reply.code()), (409, "INVALID_PAIR_STATE"), "{}", reply.body);
    assert!(reply.body.to_string().find("c2hhcmU").is_none(), "no share in the error: {}", reply.body);
}

#[tokio::test]
async fn custodian_share_size_limit_is_the_largest_half_in_base64url() {
    assert_eq!(MAX_CUSTODIAN_SHARE, 1_398_059);
    // The base64url text (unpadded) of the largest half (2^20 - 32 bytes, FORMAT.md §2) is exactly that long.
    assert_eq!(Base64UrlUnpadded::encoded_len(&vec![0u8; (1 << 20) - 32]), MAX_CUSTODIAN_SHARE);

    let server = serve().await;
    let api = server.client("judy", true).await;
    let mut half = vec![0u8; (1 << 20) - 32];
    getrandom::fill(&mut half).unwrap();
    let largest = Base64UrlUnpadded::encode_string(&half);
    assert_eq!(largest.len(), MAX_CUSTODIAN_SHARE);

    let backup_id = new_backup_id();
    let created = api.create_pair("PASSWORD", &backup_id, &largest).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let back = api.custodian_share_by_backup_id(&backup_id).await;
    assert_eq!(back.status, 200);
    assert!(back.body["custodianShare"] == largest.as_str(), "the largest share reads back intact");
    assert!(api.custodian_share(id).await.body["custodianShare"] == largest.as_str());

    let one_more = format!("{largest}A");
    let refused = api.create_pair("PASSWORD", &new_backup_id(), &one_more).await;
    assert_eq!((refused.status, refused.code()), (400, "INVALID_REQUEST"));
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("1398059") && !message.contains(&largest[..64]), "{message}");
}

// ---------------------------------------------------------------- CORS

const WALLET_ORIGIN: &str = "https://wallet.example";

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply.headers.get(name).map(|v| v.to_str().unwrap())
}

/// The comma-separated, lower-cased items of a header.
fn items(reply: &Reply, name: &str) -> Vec<String> {
    let mut items: Vec<String> = header(reply, name)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    items.sort();
    items
}

fn assert_preflight_allows(reply: &Reply, origin: &str) {
    assert_eq!(reply.status, 200, "{:?}", reply.headers);
    assert_eq!(header(reply, "access-control-allow-origin"), Some(origin));
    assert_eq!(items(reply, "access-control-allow-methods"), ["get", "post", "put"]);
    assert_eq!(items(reply, "access-control-allow-headers"), ["authorization", "content-type", "x-firebase-token"]);
    assert_eq!(header(reply, "access-control-max-age"), Some("600"));
    assert_eq!(header(reply, "access-control-allow-credentials"), None, "no credentials");
}

#[tokio::test]
async fn cors_allows_any_origin_by_default() {
    let server = serve().await;
    let api = server.client("kim", true).await;
    let origin = "http://localhost:5173";
    for (path, method) in [
        ("/api/v3/clients/me", "GET"),
        (PAIRS, "POST"),
        ("/api/v3/clients/me/backup-share-pairs/00000000000000000000000000000000/cipher-text", "PUT"),
        ("/api/v3/clients/me/custodian-shares/00000000000000000000000000000000", "GET"),
    ] {
        assert_preflight_allows(&api.preflight(path, origin, method).await, "*");
    }

    // The actual requests, answers and errors alike, are readable by the page.
    let me = api.send_with("GET", "/api/v3/clients/me", &[("origin", origin)], None).await;
    assert_eq!((me.status, header(&me, "access-control-allow-origin")), (200, Some("*")));
    let anonymous = server.anonymous().send_with("GET", "/api/v3/clients/me", &[("origin", origin)], None).await;
    assert_eq!((anonymous.status, header(&anonymous, "access-control-allow-origin")), (401, Some("*")));
    assert_eq!(items(&anonymous, "access-control-expose-headers"), ["retry-after", "www-authenticate"]);
    assert_eq!(header(&anonymous, "access-control-allow-credentials"), None);
}

#[tokio::test]
async fn cors_with_an_origin_list_answers_only_those_origins() {
    let server = serve_config(tempfile::tempdir().unwrap(), |config| {
        config.allowed_origins = format!("{WALLET_ORIGIN},http://localhost:5173").parse().unwrap();
        config.rate_limit = RateLimit { per_second: 0.0, burst: 0 };
    })
    .await;
    let api = server.client("lee", true).await;
    let path = "/api/v3/clients/me";
    assert_preflight_allows(&api.preflight(path, WALLET_ORIGIN, "GET").await, WALLET_ORIGIN);
    assert_preflight_allows(&api.preflight(path, "http://localhost:5173", "PUT").await, "http://localhost:5173");
    let me = api.send_with("GET", path, &[("origin", WALLET_ORIGIN)], None).await;
    assert_eq!(header(&me, "access-control-allow-origin"), Some(WALLET_ORIGIN));
    assert!(items(&me, "vary").contains(&"origin".to_owned()), "caches must key on Origin: {:?}", me.headers);

    // Any other origin (even one differing only in scheme or port) gets no CORS header at all.
    for other in ["https://evil.example", "http://wallet.example", "https://wallet.example:8443", "null"] {
        let preflight = api.preflight(path, other, "GET").await;
        let cors: Vec<_> = preflight.headers.keys().filter(|k| k.as_str().starts_with("access-control-")).collect();
        assert!(cors.is_empty(), "{other}: {cors:?}");
        let me = api.send_with("GET", path, &[("origin", other)], None).await;
        assert_eq!(me.status, 200, "the API itself still answers; the browser withholds it");
        assert_eq!(header(&me, "access-control-allow-origin"), None, "{other}");
    }
    // Requests without Origin (not from a browser page) are unaffected.
    assert_eq!(api.get(path).await.status, 200);
}

#[tokio::test]
async fn preflights_need_no_key_and_do_not_use_the_rate_limit() {
    let server = serve_in(tempfile::tempdir().unwrap(), RateLimit { per_second: 0.01, burst: 2 }).await;
    let api = server.client("mia", true).await;
    let key = api.key.clone().unwrap();
    let bearer = format!("Bearer {key}");
    for _ in 0..10 {
        let reply = api.preflight("/api/v3/clients/me", WALLET_ORIGIN, "GET").await;
        assert_preflight_allows(&reply, "*");
        // Even one carrying the key (browsers never send it on a preflight).
        let with_key = server
            .anonymous()
            .send_with(
                "OPTIONS",
                PAIRS,
                &[("origin", WALLET_ORIGIN), ("access-control-request-method", "POST"), ("authorization", &bearer)],
                None,
            )
            .await;
        assert_eq!(with_key.status, 200);
    }
    // The key's whole burst is still there.
    assert_eq!(api.get("/api/v3/clients/me").await.status, 200);
    assert_eq!(api.get("/api/v3/clients/me").await.status, 200);
    assert_eq!(api.get("/api/v3/clients/me").await.code(), "RATE_LIMITED");
}

// ---------------------------------------------------------------- static files and the demo key

/// `www/` with a page and `pkg/` with a module and a wasm file, in `dir`.
fn demo_dirs(dir: &std::path::Path) -> Statics {
    let www = dir.join("www");
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::create_dir_all(pkg.join("web")).unwrap();
    std::fs::write(www.join("index.html"), "<h1>demo</h1>").unwrap();
    std::fs::write(pkg.join("module.js"), "export {}").unwrap();
    std::fs::write(pkg.join("web").join("wallet_backup_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    Statics { www, pkg: Some(pkg) }
}

/// The Content-Security-Policy the demo page runs under, as service/README.md states it:
/// scripts only from this origin plus 'wasm-unsafe-eval', requests only to this origin.
const DEMO_PAGE_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

#[tokio::test]
async fn serves_static_files_beside_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let statics = demo_dirs(dir.path());
    let server = serve_config(dir, |config| config.statics = Some(statics)).await;
    let base = &server.base;

    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert_eq!(csp, DEMO_PAGE_POLICY, "the policy service/README.md states");
    assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval'") && csp.contains("connect-src 'self'"), "{csp}");
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(page.headers()[name], value, "{name}");
    }
    assert_eq!(page.text().await.unwrap(), "<h1>demo</h1>");

    let module = reqwest::get(format!("{base}/pkg/module.js")).await.unwrap();
    assert_eq!(module.status(), 200);
    assert!(module.headers()["content-type"].to_str().unwrap().contains("javascript"));
    assert_eq!(module.headers()["content-security-policy"].to_str().unwrap(), csp);
    let wasm = reqwest::get(format!("{base}/pkg/web/wallet_backup_bg.wasm")).await.unwrap();
    assert_eq!(wasm.status(), 200);
    assert_eq!(wasm.headers()["content-type"], "application/wasm", "streaming compilation needs it");
    assert_eq!(&wasm.bytes().await.unwrap()[..4], b"\0asm");

    // Errors of the file server have the API's JSON shape too.
    let anonymous = server.anonymous();
    for path in ["/missing.html", "/pkg/missing.js", "/demo-config.json", "/../Cargo.toml"] {
        let reply = anonymous.get(path).await;
        assert_eq!((reply.status, reply.code()), (404, "NOT_FOUND"), "{path}");
    }
    let post = anonymous.send("POST", "/index.html", Some(("text/plain", b"x".to_vec()))).await;
    assert_eq!((post.status, post.code()), (405, "METHOD_NOT_ALLOWED"));

    let api = server.client("web", true).await;
    assert_eq!(api.get("/api/v3/clients/me").await.status, 200);
    assert_eq!(api.get("/api/v3/unknown").await.code(), "NOT_FOUND");
    assert_eq!(api.get("/api/v3/clients/me").await.headers.get("content-security-policy"), None);
}

#[tokio::test]
async fn static_directories_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let backend = common::backend_for(dir.path()).await;
    let config = ServeConfig {
        statics: Some(Statics { www: dir.path().join("www"), pkg: None }),
        ..ServeConfig::new("127.0.0.1:0".parse().unwrap(), backend)
    };
    let Err(StartError::Config(message)) = wallet_backup_service::start(config).await else {
        panic!("a missing --www directory must be refused");
    };
    assert!(message.contains("--www") && message.contains("not a directory"), "{message}");
}

/// A backend with one client in it; returns its key.
async fn backend_with_client(dir: &std::path::Path) -> (wallet_backup_service::Backend, String) {
    let backend = common::backend_for(&dir.join("data")).await;
    let (store, kms) = wallet_backup_service::open_backend(&backend).await.unwrap();
    let (_, key) = store.create_client(&kms, &NewClient::new("demo")).await.unwrap();
    store.close().await;
    (backend, key.expose().to_owned())
}

#[tokio::test]
async fn demo_config_serves_the_key_from_the_demo_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let statics = demo_dirs(dir.path());
    let (backend, key) = backend_with_client(dir.path()).await;
    let key_file = dir.path().join("demo-client.key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let config = ServeConfig {
        statics: Some(statics),
        demo: Some(DemoSettings { key_file, ..DemoSettings::default() }),
        rate_limit: RateLimit { per_second: 0.0, burst: 0 },
        ..ServeConfig::new("127.0.0.1:0".parse().unwrap(), backend)
    };
    let running = wallet_backup_service::start(config).await.unwrap();
    let base = format!("http://{}", running.addr());
    let anonymous = Api::new(&base, None);

    let config = anonymous.get("/demo-config.json").await;
    assert_eq!(config.status, 200);
    assert_eq!(config.body, json!({ "apiKey": key }));
    assert_eq!(header(&config, "cache-control"), Some("no-store"));
    assert!(header(&config, "content-type").unwrap().starts_with("application/json"));
    // The key it gives works.
    assert_eq!(Api::new(&base, Some(&key)).get("/api/v3/clients/me").await.body["name"], "demo");

    // Other origins cannot read it: no CORS header, even though the API allows any origin.
    let cross = anonymous.send_with("GET", "/demo-config.json", &[("origin", "https://evil.example")], None).await;
    assert_eq!(cross.status, 200);
    assert_eq!(header(&cross, "access-control-allow-origin"), None);
    let api_cross = anonymous.send_with("GET", "/api/v3/clients/me", &[("origin", "https://evil.example")], None).await;
    assert_eq!(header(&api_cross, "access-control-allow-origin"), Some("*"));
    // A name that resolves to loopback but is not a loopback name (DNS rebinding) gets nothing.
    let port = running.addr().port();
    for host in [format!("evil.example:{port}"), format!("localhost.evil.example:{port}"), "".into()] {
        let reply = anonymous.send_with("GET", "/demo-config.json", &[("host", &host)], None).await;
        assert_eq!((reply.status, reply.code()), (404, "NOT_FOUND"), "Host {host:?}");
        assert!(!reply.body.to_string().contains(&key));
    }
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}"), "localhost".into()] {
        let reply = anonymous.send_with("GET", "/demo-config.json", &[("host", &host)], None).await;
        assert_eq!(reply.body["apiKey"], key.as_str(), "Host {host:?}");
    }
    let post = anonymous.post("/demo-config.json", json!({})).await;
    assert_eq!((post.status, post.code()), (405, "METHOD_NOT_ALLOWED"));
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn demo_config_is_unknown_without_the_flag() {
    // Without static files.
    let server = serve().await;
    let reply = server.anonymous().get("/demo-config.json").await;
    assert_eq!((reply.status, reply.code()), (404, "NOT_FOUND"));
    // With them (the demo page's setup), it is an unknown file.
    let dir = tempfile::tempdir().unwrap();
    let statics = demo_dirs(dir.path());
    let server = serve_config(dir, |config| config.statics = Some(statics)).await;
    let reply = server.anonymous().get("/demo-config.json").await;
    assert_eq!((reply.status, reply.code()), (404, "NOT_FOUND"));
}

#[tokio::test]
async fn demo_key_file_needs_loopback_and_a_known_key() {
    let dir = tempfile::tempdir().unwrap();
    let (backend, key) = backend_with_client(dir.path()).await;
    let key_file = dir.path().join("demo-client.key");
    std::fs::write(&key_file, &key).unwrap();
    let with = |listen: &str, backend: &wallet_backup_service::Backend| ServeConfig {
        demo: Some(DemoSettings { key_file: key_file.clone(), ..DemoSettings::default() }),
        ..ServeConfig::new(listen.parse().unwrap(), backend.clone())
    };
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let Err(StartError::Config(message)) = wallet_backup_service::start(with(listen, &backend)).await else {
            panic!("--demo-key-file on {listen} must be refused");
        };
        assert!(message.contains("loopback") && !message.contains(&key), "{message}");
    }

    // A key that is not in this database (e.g. a stale key file) is refused too.
    std::fs::write(&key_file, wallet_backup_service::apikey::ApiKey::generate().unwrap().expose()).unwrap();
    let Err(StartError::Config(message)) = wallet_backup_service::start(with("127.0.0.1:0", &backend)).await else {
        panic!("an unknown key must be refused");
    };
    assert!(message.contains("not a key of any client"), "{message}");
    std::fs::write(&key_file, "not a key\n").unwrap();
    assert!(matches!(wallet_backup_service::start(with("127.0.0.1:0", &backend)).await, Err(StartError::Config(_))));

    std::fs::write(&key_file, &key).unwrap();
    let running = wallet_backup_service::start(with("127.0.0.1:0", &backend)).await.unwrap();
    running.shutdown().await.unwrap();
}

/// Answers carry shares, cipherTexts and keys: every API answer, success or
/// error, tells caches not to keep it.
#[tokio::test]
async fn every_api_answer_says_no_store() {
    let server = serve().await;
    let api = server.client("no-store", true).await;
    let (pair_id, _, _) = api.managed_backup("PASSWORD", "share").await;
    let replies = [
        api.get("/api/v3/clients/me").await,
        api.custodian_share(&pair_id).await,
        api.latest("PASSWORD").await,
        api.create_pair("PASSWORD", &new_backup_id(), "share").await,
        api.latest("GDRIVE").await,
        api.create_pair("PASSWORD", "not hex", "share").await,
        api.get("/api/v3/no-such-route").await,
        api.send("DELETE", "/api/v3/clients/me", None).await,
        server.anonymous().get("/api/v3/clients/me").await,
        api.preflight(PAIRS, "https://wallet.example", "POST").await,
    ];
    for reply in replies {
        assert_eq!(
            reply.headers.get("cache-control").map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{} {}",
            reply.status,
            reply.body
        );
    }
}

/// The database and its WAL and shared-memory files are the owner's only,
/// whatever the mode of the data directory (created 0755 here) or of a
/// database file made before (0644 here).
#[tokio::test]
async fn database_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    if common::on_postgres() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mode = |name: &str| std::fs::metadata(data.join(name)).unwrap().permissions().mode() & 0o777;
    let files = ["wallet-backup.db", "wallet-backup.db-wal", "wallet-backup.db-shm"];

    for restart in 0..2 {
        let backend = common::backend(&data);
        let running =
            wallet_backup_service::start(ServeConfig::new("127.0.0.1:0".parse().unwrap(), backend)).await.unwrap();
        let (_, key) = running.store().create_client(running.kms(), &NewClient::new("modes")).await.unwrap();
        let api = Api::new(&format!("http://{}", running.addr()), Some(key.expose()));
        api.managed_backup("PASSWORD", "share").await;
        for name in files {
            assert_eq!(mode(name), 0o600, "{name} (start {restart})");
        }
        running.shutdown().await.unwrap();
        // A database file someone made readable to others is made owner-only again at the next start.
        std::fs::set_permissions(data.join(files[0]), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

// ---------------------------------------------------------------- limits and retention

fn assert_quota(reply: &Reply, what: &str) {
    assert_eq!((reply.status, reply.code()), (409, "QUOTA_EXCEEDED"), "{what}: {}", reply.body);
}

/// A server whose clients may keep little, without rate limit or scheduled prunes.
async fn small_quota_server(edit: impl FnOnce(&mut wallet_backup_service::ClientLimits)) -> common::TestServer {
    serve_config(tempfile::tempdir().unwrap(), |config| {
        config.rate_limit = RateLimit { per_second: 0.0, burst: 0 };
        config.retention.keep_completed = 1;
        config.retention.prune_interval = std::time::Duration::ZERO;
        config.limits.max_pending_pairs = 2;
        config.limits.max_pairs = 10;
        edit(&mut config.limits);
    })
    .await
}

/// Per-client limits: a write past one is 409 `QUOTA_EXCEEDED` and leaves
/// nothing behind; another client is not affected; room made (a backup
/// completed) lets the client go on.
#[tokio::test]
async fn client_limits_refuse_writes_past_them() {
    let server = small_quota_server(|limits| limits.max_stored_bytes = 200_000).await;
    let api = server.client("limited", true).await;
    let other = server.client("other", true).await;

    // Pending pairs.
    let first = new_backup_id();
    let created = api.create_pair("PASSWORD", &first, "one").await;
    assert_eq!(created.status, 201);
    assert_eq!(api.create_pair("GDRIVE", &new_backup_id(), "two").await.status, 201);
    let refused = new_backup_id();
    assert_quota(&api.create_pair("CUSTOM", &refused, "three").await, "a third pending pair");
    assert_eq!(api.custodian_share_by_backup_id(&refused).await.status, 404, "a refused pair was stored");
    assert_eq!(other.create_pair("CUSTOM", &new_backup_id(), "other client").await.status, 201);
    let pair_id = created.body["id"].as_str().unwrap();
    assert_eq!(api.put_cipher_text(pair_id, &envelope("PASSWORD", &first)).await.status, 200);
    assert_eq!(api.confirm(pair_id).await.status, 200);
    assert_eq!(api.create_pair("CUSTOM", &refused, "three").await.status, 201, "room was made");

    // Stored bytes: a cipherText that would pass the limit leaves the pair as it was.
    let big = server.client("big", true).await;
    let backup_id = new_backup_id();
    let created = big.create_pair("PASSWORD", &backup_id, &"s".repeat(100_000)).await;
    assert_eq!(created.status, 201);
    let pair_id = created.body["id"].as_str().unwrap();
    let too_big = envelope("PASSWORD", &backup_id) + &"A".repeat(70_000);
    assert_quota(&big.put_cipher_text(pair_id, &too_big).await, "a cipherText past the byte limit");
    assert_eq!(big.custodian_share_by_backup_id(&backup_id).await.body["status"], "PENDING");
    assert_eq!(big.put_cipher_text(pair_id, &envelope("PASSWORD", &backup_id)).await.status, 200);
    assert_quota(&big.create_pair("GDRIVE", &new_backup_id(), &"s".repeat(60_000)).await, "a share past the limit");

    // Pairs of any status: failed ones count until they are pruned.
    let self_managed = server.client("self-managed", false).await;
    for round in 0..10 {
        assert_eq!(self_managed.create_pair("PASSWORD", &new_backup_id(), "s").await.status, 201, "round {round}");
        assert_eq!(self_managed.report_stored("PASSWORD", false).await.body["status"], "FAILED");
    }
    assert_quota(&self_managed.create_pair("PASSWORD", &new_backup_id(), "s").await, "an eleventh pair");
}

/// Retention: a confirm lets go of the method's completed pairs beyond the
/// newest kept; `prune` removes failed, abandoned and superseded pairs and
/// keys without a pair. Every kept backup still recovers (its custodian
/// share opens, its cipherText is served), and the newest of each method
/// is the one recovery picks, for each client.
#[tokio::test]
async fn retention_keeps_the_newest_and_every_kept_backup_recovers() {
    let server = serve_config(tempfile::tempdir().unwrap(), |config| {
        config.rate_limit = RateLimit { per_second: 0.0, burst: 0 };
        config.retention.keep_completed = 2;
        config.retention.prune_interval = std::time::Duration::ZERO;
    })
    .await;
    let api = server.client("retained", true).await;
    let bystander = server.client("bystander", true).await;
    let mut password = Vec::new();
    for round in 0..4 {
        password.push(api.managed_backup("PASSWORD", &format!("password-{round}")).await);
    }
    let gdrive = api.managed_backup("GDRIVE", "gdrive-0").await;
    let mut kept_elsewhere = Vec::new();
    for round in 0..3 {
        kept_elsewhere.push(bystander.managed_backup("PASSWORD", &format!("bystander-{round}")).await);
    }

    // The confirms kept the newest two PASSWORD backups.
    for (round, (_, backup_id, _)) in password.iter().enumerate() {
        let status = api.custodian_share_by_backup_id(backup_id).await.status;
        assert_eq!(status, if round < 2 { 404 } else { 200 }, "PASSWORD backup {round}");
    }

    // An abandoned pending pair, a failed pair, a fresh pending pair.
    let abandoned = new_backup_id();
    assert_eq!(api.create_pair("ICLOUD", &abandoned, "abandoned").await.status, 201);
    let self_managed = server.client("self-managed", false).await;
    let failed = new_backup_id();
    assert_eq!(self_managed.create_pair("CUSTOM", &failed, "failed").await.status, 201);
    assert_eq!(self_managed.report_stored("CUSTOM", false).await.status, 200);
    let store = server.running.store();
    // Eight days pass for those two.
    for backup_id in [&abandoned, &failed] {
        sqlx::query("UPDATE backup_share_pairs SET updated_at = updated_at - 691200000000 WHERE backup_id = $1")
            .bind(backup_id.clone())
            .execute(store.pool())
            .await
            .unwrap();
    }
    let fresh = new_backup_id();
    assert_eq!(api.create_pair("ICLOUD", &fresh, "fresh").await.status, 201);

    // A stricter retention run by the operator: keep one completed pair per method.
    let strict = wallet_backup_service::Retention { keep_completed: 1, ..store.retention() };
    let report = store.clone().with_limits(Default::default(), strict).prune().await.unwrap();
    assert_eq!((report.failed, report.abandoned, report.superseded), (1, 1, 2), "{report:?}");
    let report = store.clone().with_limits(Default::default(), strict).prune().await.unwrap();
    assert_eq!(report, Default::default(), "pruning again removes nothing");

    assert_eq!(api.custodian_share_by_backup_id(&abandoned).await.status, 404);
    assert_eq!(self_managed.custodian_share_by_backup_id(&failed).await.status, 404);
    assert_eq!(api.custodian_share_by_backup_id(&fresh).await.body["status"], "PENDING");
    assert_eq!(api.custodian_share_by_backup_id(&password[2].1).await.status, 404, "superseded");
    // What is kept recovers, as it was: the newest of each method, each client.
    for (api, (pair_id, backup_id, cipher_text), share, method) in [
        (&api, &password[3], "password-3", "PASSWORD"),
        (&api, &gdrive, "gdrive-0", "GDRIVE"),
        (&bystander, &kept_elsewhere[2], "bystander-2", "PASSWORD"),
    ] {
        let latest = api.latest(method).await;
        assert_eq!(
            (latest.body["id"].as_str(), latest.body["cipherText"].as_str()),
            (Some(pair_id.as_str()), Some(cipher_text.as_str()))
        );
        let reply = api.custodian_share_by_backup_id(backup_id).await;
        assert_eq!(reply.body["custodianShare"], share);
        assert_eq!(reply.body["status"], "COMPLETED");
    }
}
