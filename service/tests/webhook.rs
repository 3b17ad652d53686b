//! Self-managed custodian storage, Portal's webhook contract: custodian
//! shares POSTed to the operator's `/backup` (secret header and signature,
//! a timeout, bounded retries) and checked at once with `/backup/fetch`;
//! never stored by the service; at recovery fetched again and handed over
//! only when the operator lists this pair's share with the bytes delivered.
//! Failures are a clear error and, at creation, a FAILED pair.

mod common;

use std::time::{Duration, Instant};

use common::{envelope, new_backup_id, serve_with, webhook_client, Answer, Api, Receiver, TestServer};
use serde_json::{json, Value};
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

/// A completed backup of a WEBHOOK client: its pair id.
async fn completed(api: &Api, method: &str, backup_id: &str, share: &str) -> String {
    let created = api.create_pair(method, backup_id, share).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let pair_id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(api.put_cipher_text(&pair_id, &envelope(method, backup_id)).await.status, 200);
    assert_eq!(api.confirm(&pair_id).await.body["status"], "COMPLETED");
    pair_id
}

#[tokio::test]
async fn delivers_and_checks_the_share_then_serves_it_back() {
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
    // One delivery, then one fetch that found it; every call authentic.
    assert_eq!((receiver.attempts(), receiver.fetches(), receiver.bad_signatures()), (1, 1, 0));
    let delivery = &receiver.deliveries()[0];
    assert_eq!(delivery["clientId"], client_id.as_str());
    assert_eq!(delivery["backupMethod"], "PASSWORD");
    let kept: Value = serde_json::from_str(delivery["share"].as_str().expect("share is a JSON string")).unwrap();
    assert_eq!(
        kept,
        json!({ "pairId": pair_id, "backupId": backup_id, "backupMethod": "PASSWORD", "custodianShare": share })
    );
    assert_eq!(delivery.as_object().unwrap().len(), 3, "{delivery}");

    // Recovery: the service asks the operator and answers like a managed share.
    let reply = api.custodian_share(&pair_id).await;
    assert_eq!((reply.status, reply.body["custodianShare"].as_str()), (200, Some(share)), "{}", reply.body);
    let reply = api.custodian_share_by_backup_id(&backup_id).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["custodianShare"], share);
    assert_eq!(reply.body["pairId"], pair_id.as_str());
    assert_eq!(receiver.fetches(), 3);

    // The rest of the backup is as usual, and recovery finds the pair.
    assert_eq!(api.put_cipher_text(&pair_id, &envelope("PASSWORD", &backup_id)).await.status, 200);
    assert_eq!(api.confirm(&pair_id).await.body["status"], "COMPLETED");
    assert_eq!(api.latest("PASSWORD").await.body["id"], pair_id.as_str());
    assert_eq!(api.custodian_share_by_backup_id(&backup_id).await.body["custodianShare"], share);

    // Neither the share nor the secret is stored in the clear; the share's digest is.
    let (sealed, digest): (String, String) =
        sqlx::query_as("SELECT custodian_share_sealed, custodian_share_digest FROM backup_share_pairs WHERE id = $1")
            .bind(pair_id.clone())
            .fetch_one(server.running.store().pool())
            .await
            .unwrap();
    assert_eq!(sealed, "");
    assert_eq!(digest, wallet_backup_service::webhook::share_digest(share.as_bytes()));
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

    // Back to MANAGED: new pairs keep their share here; the old one stays with an
    // operator the service can no longer reach.
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
    receiver.script_fetch(&[Answer::Fail]);
    let created = api.create_pair("CUSTOM", &new_backup_id(), "share-after-retries").await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!((receiver.attempts(), receiver.fetches()), (3, 2));
    assert_eq!(receiver.kept_shares().len(), 1);
    assert_eq!(receiver.kept_shares()[0]["custodianShare"], "share-after-retries");
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
    assert_eq!((receiver.attempts(), receiver.fetches()), (3, 0));
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
        format!("http://{}/custody", l.local_addr().unwrap())
    };
    let (down, _) = webhook_client(&server, &closed, SECRET).await;
    let reply = down.create_pair("PASSWORD", &new_backup_id(), "s4").await;
    assert_eq!((reply.status, reply.code()), (502, "CUSTODIAN_WEBHOOK_FAILED"));

    // None of the shares reached the operator, and it saw no bad signature.
    assert!(receiver.deliveries().is_empty());
    assert_eq!(receiver.bad_signatures(), 0);
    // Recovery after a failure: a new backup with a new backupId works.
    let created = api.create_pair("PASSWORD", &new_backup_id(), "s5").await;
    assert_eq!(created.status, 201);
}

#[tokio::test]
async fn a_share_the_operator_does_not_list_back_is_no_pair() {
    let server = server().await;
    let receiver = Receiver::start(SECRET).await;
    let (api, client_id) = webhook_client(&server, &receiver.url, SECRET).await;

    // `/backup` says 200 but keeps nothing; then a fetch that fails, one that
    // answers garbage, one that is refused: every time the pair is FAILED.
    for (backup, fetch) in [
        (Answer::Drop, Answer::Ok),
        (Answer::Ok, Answer::Fail),
        (Answer::Ok, Answer::Garbage),
        (Answer::Ok, Answer::Reject),
    ] {
        receiver.script(&[backup]);
        receiver.script_fetch(&[fetch, fetch, fetch]);
        let backup_id = new_backup_id();
        let reply = api.create_pair("PASSWORD", &backup_id, "dropped").await;
        assert_eq!((reply.status, reply.code()), (502, "CUSTODIAN_WEBHOOK_FAILED"), "{backup:?}/{fetch:?}");
        assert!(reply.body["error"]["message"].as_str().unwrap().contains("/backup/fetch"), "{}", reply.body);
        assert_eq!(status_of(&server, &client_id, &backup_id).await.1, "FAILED");
        receiver.clear_scripts();
    }
    // The operator keeps the share with other bytes: not the one delivered.
    receiver.script(&[Answer::Alter]);
    let backup_id = new_backup_id();
    let reply = api.create_pair("PASSWORD", &backup_id, "delivered").await;
    assert_eq!((reply.status, reply.code()), (502, "CUSTODIAN_WEBHOOK_FAILED"), "{}", reply.body);
    assert_eq!(status_of(&server, &client_id, &backup_id).await.1, "FAILED");
    assert_eq!(receiver.kept_shares().last().unwrap()["backupId"], backup_id.as_str());
}

#[tokio::test]
async fn recovery_asks_the_operator_and_never_hands_over_another_share() {
    let server = server().await;
    let receiver = Receiver::start(SECRET).await;
    let (api, client_id) = webhook_client(&server, &receiver.url, SECRET).await;
    let (first_id, second_id) = (new_backup_id(), new_backup_id());
    let first = completed(&api, "PASSWORD", &first_id, "FIRST-SHARE").await;
    let second = completed(&api, "PASSWORD", &second_id, "SECOND-SHARE").await;
    // The operator keeps both, with junk beside them for this client.
    receiver.edit_kept(|kept| {
        kept.insert(0, (client_id.clone(), "not json".into()));
        kept.push((client_id.clone(), json!({ "pairId": first }).to_string()));
    });
    let share_of = |reply: &common::Reply| reply.body["custodianShare"].as_str().map(str::to_owned);
    assert_eq!(share_of(&api.custodian_share_by_backup_id(&first_id).await).as_deref(), Some("FIRST-SHARE"));
    assert_eq!(share_of(&api.custodian_share_by_backup_id(&second_id).await).as_deref(), Some("SECOND-SHARE"));
    assert_eq!(share_of(&api.custodian_share(&first).await).as_deref(), Some("FIRST-SHARE"));

    // The operator cannot be asked: 503 CUSTODIAN_WEBHOOK_FAILED with Retry-After, nothing handed over.
    for answer in [Answer::Fail, Answer::Hang, Answer::Garbage, Answer::Reject] {
        receiver.script_fetch(&[answer, answer, answer]);
        let reply = api.custodian_share_by_backup_id(&first_id).await;
        assert_eq!((reply.status, reply.code()), (503, "CUSTODIAN_WEBHOOK_FAILED"), "{answer:?}: {}", reply.body);
        assert!(reply.headers.contains_key("retry-after"), "{answer:?}");
        assert_eq!(share_of(&reply), None);
        receiver.clear_scripts();
    }
    // Back up again: served as before.
    assert_eq!(share_of(&api.custodian_share_by_backup_id(&first_id).await).as_deref(), Some("FIRST-SHARE"));

    // The first pair's entry with the second's bytes (ids right, bytes swapped): not handed over.
    let swap = |kept: &mut Vec<(String, String)>, pair: &str, with: &str| {
        for (_, share) in kept.iter_mut() {
            if let Ok(mut doc) = serde_json::from_str::<Value>(share) {
                if doc["pairId"] == pair && doc["custodianShare"].is_string() {
                    doc["custodianShare"] = json!(with);
                    *share = doc.to_string();
                }
            }
        }
    };
    receiver.edit_kept(|kept| swap(kept, &first, "SECOND-SHARE"));
    let reply = api.custodian_share_by_backup_id(&first_id).await;
    assert_eq!((reply.status, reply.code()), (404, "CUSTODIAN_SHARE_NOT_FOUND"), "{}", reply.body);
    assert_eq!(share_of(&reply), None);
    receiver.edit_kept(|kept| swap(kept, &first, "FIRST-SHARE"));
    assert_eq!(share_of(&api.custodian_share(&first).await).as_deref(), Some("FIRST-SHARE"));

    // The operator kept only the newest share of the method (Portal's schema):
    // the first backup's share is gone, and only the second's is listed.
    receiver.edit_kept(|kept| kept.retain(|(_, s)| !s.contains(&first_id)));
    let reply = api.custodian_share_by_backup_id(&first_id).await;
    assert_eq!((reply.status, reply.code()), (404, "CUSTODIAN_SHARE_NOT_FOUND"), "{}", reply.body);
    assert_eq!(share_of(&reply), None);
    assert_eq!(api.custodian_share(&first).await.code(), "CUSTODIAN_SHARE_NOT_FOUND");
    // The second's entry relabelled with the first's ids is refused too (its bytes are the second's).
    receiver.edit_kept(|kept| {
        let (client, share) = kept.iter().find(|(_, s)| s.contains(&second_id)).unwrap().clone();
        kept.push((client, share.replace(&second_id, &first_id).replace(&second, &first)));
    });
    assert_eq!(api.custodian_share_by_backup_id(&first_id).await.code(), "CUSTODIAN_SHARE_NOT_FOUND");
    assert_eq!(share_of(&api.custodian_share_by_backup_id(&second_id).await).as_deref(), Some("SECOND-SHARE"));
    // Another client's shares are never asked for.
    let (other, _) = webhook_client(&server, &receiver.url, SECRET).await;
    assert_eq!(other.custodian_share_by_backup_id(&second_id).await.code(), "PAIR_NOT_FOUND");
    assert_eq!(receiver.bad_signatures(), 0);
}

#[tokio::test]
async fn a_wrong_secret_fails_the_operators_checks() {
    let server = server().await;
    let receiver = Receiver::start(SECRET).await;
    let (api, _) = webhook_client(&server, &receiver.url, b"not-the-receivers-secret-0123456789").await;
    let reply = api.create_pair("PASSWORD", &new_backup_id(), "share").await;
    assert_eq!((reply.status, reply.code()), (502, "CUSTODIAN_WEBHOOK_FAILED"));
    assert_eq!((receiver.attempts(), receiver.bad_signatures()), (1, 1), "401 is not retried");
    assert!(receiver.deliveries().is_empty());
}

#[tokio::test]
async fn delivers_and_serves_back_the_largest_custodian_share() {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let server = server().await;
    let receiver = Receiver::start(SECRET).await;
    let (api, _) = webhook_client(&server, &receiver.url, SECRET).await;
    let mut half = vec![0u8; wallet_backup_service::api::MAX_CUSTODIAN_HALF];
    getrandom::fill(&mut half).unwrap();
    let largest = Base64UrlUnpadded::encode_string(&half);
    assert_eq!(largest.len(), wallet_backup_service::api::MAX_CUSTODIAN_SHARE);

    // Three backups of the largest size: the fetch answer holds all three (4.2 MB).
    let mut backup_ids = Vec::new();
    for _ in 0..3 {
        let backup_id = new_backup_id();
        let created = api.create_pair("PASSWORD", &backup_id, &largest).await;
        assert_eq!(created.status, 201, "{}", created.body);
        backup_ids.push(backup_id);
    }
    assert_eq!((receiver.attempts(), receiver.bad_signatures()), (3, 0));
    let kept = receiver.kept_shares();
    assert!(kept[0]["custodianShare"] == largest.as_str(), "delivered intact");
    assert_eq!(kept[0]["backupId"], backup_ids[0].as_str());
    let reply = api.custodian_share_by_backup_id(&backup_ids[1]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body["custodianShare"] == largest.as_str(), "served back intact");

    // One more character is refused before anything is sent.
    let refused = api.create_pair("PASSWORD", &new_backup_id(), &format!("{largest}A")).await;
    assert_eq!((refused.status, refused.code()), (400, "INVALID_REQUEST"));
    assert_eq!(receiver.attempts(), 3);
}
