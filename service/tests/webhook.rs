//! Self-managed custodian storage: custodian shares POSTed to the
//! operator's webhook (signed, with a timeout and bounded retries), never
//! stored by the service; failures are a clear error and a FAILED pair.

mod common;

use std::time::{Duration, Instant};

use common::{envelope, new_backup_id, serve_with, webhook_client, Answer, Receiver, TestServer};
use serde_json::json;
use wallet_backup_service::{RateLimit, WebhookPolicy};

const SECRET: &[u8] = b"whsec-test-0123456789abcdef-0123456789abcdef";

async fn server() -> TestServer {
    let policy = WebhookPolicy { timeout: Duration::from_millis(400), attempts: 3, backoff: Duration::from_millis(20) };
    serve_with(tempfile::tempdir().unwrap(), RateLimit { per_second: 0.0, burst: 0 }, policy).await
}

async fn status_of(server: &TestServer, client_id: &str, backup_id: &str) -> (String, String) {
    let row: (String, String) =
        sqlx::query_as("SELECT id, status FROM backup_share_pairs WHERE client_id = $1 AND backup_id = $2")
            .bind(client_id.to_owned())
            .bind(backup_id.to_owned())
            .fetch_one(server.running.store().pool())
            .await
            .unwrap();
    row
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn delivers_signed_share_and_keeps_nothing() {
    let server = server().await;
    let receiver = Receiver::start(SECRET).await;
    let (api, client_id) = webhook_client(&server, &receiver.url, SECRET).await;
    assert_eq!(api.get("/api/v3/clients/me").await.body["custodianStorage"], "WEBHOOK");

    let backup_id = new_backup_id();
    let share = "WEBHOOK-CUSTODIAN-SHARE-7f3a";
    let created = api.create_pair("PASSWORD", &backup_id, share).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["status"], "PENDING");
    let pair_id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!((receiver.attempts(), receiver.bad_signatures()), (1, 0));
    assert_eq!(
        receiver.deliveries(),
        vec![json!({
            "clientId": client_id, "pairId": pair_id, "backupMethod": "PASSWORD",
            "backupId": backup_id, "custodianShare": share
        })]
    );

    // The operator holds the custodian share; the service has none to give.
    let reply = api.custodian_share(&pair_id).await;
    assert_eq!((reply.status, reply.code()), (409, "CUSTODIAN_SELF_MANAGED"));
    let reply = api.custodian_share_by_backup_id(&backup_id).await;
    assert_eq!((reply.status, reply.code()), (409, "CUSTODIAN_SELF_MANAGED"));

    // The rest of the backup is as usual, and recovery finds the pair.
    assert_eq!(api.put_cipher_text(&pair_id, &envelope("PASSWORD", &backup_id)).await.status, 200);
    assert_eq!(api.confirm(&pair_id).await.body["status"], "COMPLETED");
    assert_eq!(api.latest("PASSWORD").await.body["id"], pair_id.as_str());

    // Neither the share nor the secret is stored in the clear.
    let sealed: String = sqlx::query_scalar("SELECT custodian_share_sealed FROM backup_share_pairs WHERE id = $1")
        .bind(pair_id.clone())
        .fetch_one(server.running.store().pool())
        .await
        .unwrap();
    assert_eq!(sealed, "");
    let secret_column: String = sqlx::query_scalar("SELECT custodian_webhook_secret_sealed FROM clients WHERE id = $1")
        .bind(client_id.clone())
        .fetch_one(server.running.store().pool())
        .await
        .unwrap();
    assert!(!secret_column.is_empty() && !secret_column.contains("whsec"));
    if !common::on_postgres() {
        for entry in std::fs::read_dir(server.dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!contains(&bytes, SECRET) && !contains(&bytes, share.as_bytes()));
        }
    }

    // Back to MANAGED: new pairs keep their share here; the old one stays with the operator.
    assert!(server.running.store().set_custodian_managed(&client_id).await.unwrap());
    let (managed, _, _) = api.managed_backup("GDRIVE", "kept-here").await;
    assert_eq!(api.custodian_share(&managed).await.body["custodianShare"], "kept-here");
    assert_eq!(api.custodian_share(&pair_id).await.code(), "CUSTODIAN_SELF_MANAGED");
    assert_eq!(api.custodian_share_by_backup_id(&backup_id).await.code(), "CUSTODIAN_SELF_MANAGED");
    assert_eq!(receiver.attempts(), 1);
}

#[tokio::test]
async fn retries_5xx_then_delivers() {
    let server = server().await;
    let receiver = Receiver::start(SECRET).await;
    let (api, _) = webhook_client(&server, &receiver.url, SECRET).await;
    receiver.script(&[Answer::Fail, Answer::Fail]);
    let created = api.create_pair("CUSTOM", &new_backup_id(), "share-after-retries").await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(receiver.attempts(), 3);
    assert_eq!(receiver.deliveries().len(), 1);
    assert_eq!(receiver.deliveries()[0]["custodianShare"], "share-after-retries");
}

#[tokio::test]
async fn failures_are_clear_errors_and_failed_pairs() {
    let server = server().await;
    let receiver = Receiver::start(SECRET).await;
    let (api, client_id) = webhook_client(&server, &receiver.url, SECRET).await;

    // 5xx on every attempt: 3 attempts, then 502.
    receiver.script(&[Answer::Fail, Answer::Fail, Answer::Fail]);
    let backup_id = new_backup_id();
    let reply = api.create_pair("PASSWORD", &backup_id, "s1").await;
    assert_eq!((reply.status, reply.code()), (502, "CUSTODIAN_WEBHOOK_FAILED"), "{}", reply.body);
    assert_eq!(receiver.attempts(), 3);
    let (pair_id, status) = status_of(&server, &client_id, &backup_id).await;
    assert_eq!(status, "FAILED");
    // The pair is unusable and invisible to recovery.
    let put = api.put_cipher_text(&pair_id, &envelope("PASSWORD", &backup_id)).await;
    assert_eq!((put.status, put.code()), (409, "INVALID_PAIR_STATE"));
    assert_eq!(api.confirm(&pair_id).await.code(), "INVALID_PAIR_STATE");
    assert_eq!(api.latest("PASSWORD").await.code(), "NO_BACKUP");
    assert_eq!(api.report_stored("PASSWORD", true).await.code(), "NO_PENDING_BACKUP");
    // Recovery by backup id never picks it either.
    let by_backup_id = api.custodian_share_by_backup_id(&backup_id).await;
    assert_eq!((by_backup_id.status, by_backup_id.code()), (409, "INVALID_PAIR_STATE"));

    // 4xx: not retried.
    receiver.script(&[Answer::Reject]);
    let backup_id = new_backup_id();
    let reply = api.create_pair("PASSWORD", &backup_id, "s2").await;
    assert_eq!((reply.status, reply.code()), (502, "CUSTODIAN_WEBHOOK_FAILED"));
    assert!(reply.body["error"]["message"].as_str().unwrap().contains("400"), "{}", reply.body);
    assert_eq!(receiver.attempts(), 4);
    assert_eq!(status_of(&server, &client_id, &backup_id).await.1, "FAILED");

    // A webhook that never answers: each attempt times out (400 ms), 3 attempts.
    receiver.script(&[Answer::Hang, Answer::Hang, Answer::Hang]);
    let started = Instant::now();
    let backup_id = new_backup_id();
    let reply = api.create_pair("PASSWORD", &backup_id, "s3").await;
    let took = started.elapsed();
    assert_eq!((reply.status, reply.code()), (502, "CUSTODIAN_WEBHOOK_FAILED"));
    assert!(reply.body["error"]["message"].as_str().unwrap().contains("timeout"), "{}", reply.body);
    assert_eq!(receiver.attempts(), 7);
    assert!(took >= Duration::from_millis(1200) && took < Duration::from_secs(5), "{took:?}");
    assert_eq!(status_of(&server, &client_id, &backup_id).await.1, "FAILED");

    // Nothing listening: connection errors are retried, then 502.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    let (down, _) = webhook_client(&server, &closed, SECRET).await;
    let reply = down.create_pair("PASSWORD", &new_backup_id(), "s4").await;
    assert_eq!((reply.status, reply.code()), (502, "CUSTODIAN_WEBHOOK_FAILED"));

    // None of the shares reached the receiver, and it saw no bad signature.
    assert!(receiver.deliveries().is_empty());
    assert_eq!(receiver.bad_signatures(), 0);
    // Recovery after a failure: a new backup with a new backupId works.
    let created = api.create_pair("PASSWORD", &new_backup_id(), "s5").await;
    assert_eq!(created.status, 201);
}

#[tokio::test]
async fn a_wrong_secret_fails_the_signature_check() {
    let server = server().await;
    let receiver = Receiver::start(SECRET).await;
    let (api, _) = webhook_client(&server, &receiver.url, b"not-the-receivers-secret-0123456789").await;
    let reply = api.create_pair("PASSWORD", &new_backup_id(), "share").await;
    assert_eq!((reply.status, reply.code()), (502, "CUSTODIAN_WEBHOOK_FAILED"));
    assert_eq!((receiver.attempts(), receiver.bad_signatures()), (1, 1), "401 is not retried");
    assert!(receiver.deliveries().is_empty());
}

#[tokio::test]
async fn delivers_the_largest_custodian_share() {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let server = server().await;
    let receiver = Receiver::start(SECRET).await;
    let (api, _) = webhook_client(&server, &receiver.url, SECRET).await;
    let mut half = vec![0u8; wallet_backup_service::api::MAX_CUSTODIAN_HALF];
    getrandom::fill(&mut half).unwrap();
    let largest = Base64UrlUnpadded::encode_string(&half);
    assert_eq!(largest.len(), wallet_backup_service::api::MAX_CUSTODIAN_SHARE);

    let backup_id = new_backup_id();
    let created = api.create_pair("PASSWORD", &backup_id, &largest).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!((receiver.attempts(), receiver.bad_signatures()), (1, 0));
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert!(deliveries[0]["custodianShare"] == largest.as_str(), "delivered intact");
    assert_eq!(deliveries[0]["backupId"], backup_id.as_str());

    // One more character is refused before anything is sent.
    let refused = api.create_pair("PASSWORD", &new_backup_id(), &format!("{largest}A")).await;
    assert_eq!((refused.status, refused.code()), (400, "INVALID_REQUEST"));
    assert_eq!(receiver.attempts(), 1);
}
