//! Guess-limited PINs (issue 15), service side, over real HTTP on loopback
//! against the real service: the test plays the module with the `voprf`
//! crate (blind, finalize) and HMAC-SHA256 (the unlock proof), as FORMAT.md
//! and service/README.md "Guess-limited PINs" describe it.
//!
//! The count, the reset by a right proof, the destruction after the last
//! wrong guess, parallel guesses from many connections and two instances on
//! one database, the custodian share held back until the proof, replayed and
//! mixed messages, `kms rewrap`, retention, a storage failure, the per-client
//! limit and bad input. On SQLite by default; with
//! `WALLET_BACKUP_TEST_POSTGRES` on PostgreSQL (each test its own database).

mod common;

use std::sync::Arc;

use common::pin_guard::*;
use common::{new_backup_id, on_postgres, serve_config, Api, TestServer};
use serde_json::{json, Value};
use sqlx::Row;
use voprf::{OprfClient, Ristretto255};
use wallet_backup_service::store::NewClient;
use wallet_backup_service::{start, RateLimit, Retention, ServeConfig};

const PAIRS: &str = "/api/v3/clients/me/backup-share-pairs";

// ---------------------------------------------------------------- servers and the database

async fn server() -> TestServer {
    serve_config(tempfile::tempdir().unwrap(), |c| c.rate_limit = RateLimit { per_second: 0.0, burst: 0 }).await
}

async fn client(server: &TestServer, pin_guess_limit: u32) -> Api {
    let new = NewClient { pin_guess_limit, ..NewClient::new("pin-user") };
    let (_, key) = server.running.store().create_client(server.running.kms(), &new).await.unwrap();
    Api::new(&server.base, Some(key.expose()))
}

/// The guard row of `pair_id`: (sealed keys present, guesses used, challenge present, destroyed_at set).
async fn guard_row(server: &TestServer, pair_id: &str) -> Option<(bool, i64, bool, bool)> {
    let row = sqlx::query(
        "SELECT CAST(CASE WHEN sealed_keys IS NULL THEN 0 ELSE 1 END AS BIGINT) AS sealed, guesses_used, \
         CAST(CASE WHEN challenge IS NULL THEN 0 ELSE 1 END AS BIGINT) AS challenge, \
         CAST(CASE WHEN destroyed_at IS NULL THEN 0 ELSE 1 END AS BIGINT) AS destroyed \
         FROM pin_guards WHERE pair_id = $1",
    )
    .bind(pair_id.to_owned())
    .fetch_optional(server.running.store().pool())
    .await
    .unwrap()?;
    let flag = |column: &str| row.try_get::<i64, _>(column).unwrap() == 1;
    Some((flag("sealed"), row.try_get("guesses_used").unwrap(), flag("challenge"), flag("destroyed")))
}

async fn exec(server: &TestServer, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(server.running.store().pool()).await.unwrap();
}

// ---------------------------------------------------------------- the tests

#[tokio::test]
async fn right_pin_after_nine_wrong_ones_unlocks_and_resets_the_count() {
    let server = server().await;
    let api = client(&server, 10).await;
    let guarded = guarded_backup(&api, "2468", true).await;

    let status = guard_status(&api, &guarded.backup_id).await;
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(
        status.body,
        json!({ "backupId": guarded.backup_id, "pairId": guarded.pair_id, "status": "COMPLETED",
                "guessLimit": 10, "guessesLeft": 10 })
    );
    for left in (1..=9).rev() {
        wrong_guess(&api, &guarded, left).await;
    }
    assert_eq!(guard_status(&api, &guarded.backup_id).await.body["guessesLeft"], 1);

    // The tenth: the right PIN, with nothing left if it were wrong.
    let right = evaluate(&api, &guarded.backup_id, "2468").await;
    assert_eq!(right.reply.status, 200, "{}", right.reply.body);
    assert_eq!(right.reply.body["guessesLeft"], 0);
    assert_eq!(right.output, guarded.output, "the right PIN gives the backup's output");
    let unlocked = unlock(&api, &guarded.backup_id, &right.challenge, &right.proof(&guarded.backup_id)).await;
    assert_eq!(unlocked.status, 200, "{}", unlocked.body);
    assert_eq!(
        unlocked.body,
        json!({ "pairId": guarded.pair_id, "backupMethod": "PASSWORD", "backupId": guarded.backup_id,
                "status": "COMPLETED", "custodianShare": guarded.share, "guessLimit": 10, "guessesLeft": 10 })
    );
    assert_eq!(guard_status(&api, &guarded.backup_id).await.body["guessesLeft"], 10);
    assert_eq!(guard_row(&server, &guarded.pair_id).await, Some((true, 0, false, false)));
    let latest = api.latest("PASSWORD").await;
    assert_eq!(latest.body["pinGuard"], json!({ "guessLimit": 10, "guessesLeft": 10 }), "{}", latest.body);
}

#[tokio::test]
async fn the_eleventh_evaluation_after_ten_wrong_guesses_destroys_the_key() {
    let server = server().await;
    let api = client(&server, 10).await;
    let guarded = guarded_backup(&api, "1357", true).await;
    for left in (0..=9).rev() {
        wrong_guess(&api, &guarded, left).await;
    }
    // The keys are still there: the tenth guess could have been right.
    assert_eq!(guard_row(&server, &guarded.pair_id).await, Some((true, 10, true, false)));

    let eleventh = evaluate(&api, &guarded.backup_id, "1357").await;
    assert_eq!((eleventh.reply.status, eleventh.reply.code()), (410, "PIN_GUESSES_EXHAUSTED"));
    assert_eq!(eleventh.reply.body["error"]["guessesLeft"], 0);
    assert_eq!(guard_row(&server, &guarded.pair_id).await, Some((false, 10, false, true)), "keys not destroyed");
    let key_columns: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT key_id, wrapped_key FROM pin_guards WHERE pair_id = $1")
            .bind(guarded.pair_id.clone())
            .fetch_one(server.running.store().pool())
            .await
            .unwrap();
    assert_eq!(key_columns, (None, None));

    let status = guard_status(&api, &guarded.backup_id).await;
    assert_eq!((status.status, status.code()), (410, "PIN_GUESSES_EXHAUSTED"));
    let again = evaluate(&api, &guarded.backup_id, "1357").await;
    assert_eq!((again.reply.status, again.reply.code()), (410, "PIN_GUESSES_EXHAUSTED"));
    let unlocked = unlock(&api, &guarded.backup_id, &[7; 32], &[7; 32]).await;
    assert_eq!((unlocked.status, unlocked.code()), (410, "PIN_GUESSES_EXHAUSTED"));
    let share = api.custodian_share_by_backup_id(&guarded.backup_id).await;
    assert_eq!((share.status, share.code()), (403, "PIN_PROOF_REQUIRED"));
    let latest = api.latest("PASSWORD").await;
    assert_eq!(latest.body["pinGuard"], json!({ "guessLimit": 10, "guessesLeft": 0, "destroyed": true }));
}

/// `instances` services on one database (the SQLite file, or one PostgreSQL database), 40
/// evaluations at once from 40 connections spread over them: exactly `limit` are answered.
async fn parallel_guesses(instances: usize) {
    const LIMIT: u32 = 10;
    const GUESSES: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let backend = common::backend_for(dir.path()).await;
    let mut services = Vec::new();
    for _ in 0..instances {
        let mut config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), backend.clone());
        config.rate_limit = RateLimit { per_second: 0.0, burst: 0 };
        services.push(start(config).await.expect("service starts"));
    }
    let first = &services[0];
    let new = NewClient { pin_guess_limit: LIMIT, ..NewClient::new("parallel") };
    let (_, key) = first.store().create_client(first.kms(), &new).await.unwrap();
    let bases: Vec<String> = services.iter().map(|s| format!("http://{}", s.addr())).collect();
    let guarded = guarded_backup(&Api::new(&bases[0], Some(key.expose())), "9999", true).await;

    let start_line = Arc::new(tokio::sync::Barrier::new(GUESSES));
    let mut tasks = Vec::new();
    for i in 0..GUESSES {
        // A client of its own: its own connection.
        let api = Api::new(&bases[i % bases.len()], Some(key.expose()));
        let backup_id = guarded.backup_id.clone();
        let start_line = start_line.clone();
        tasks.push(tokio::spawn(async move {
            start_line.wait().await;
            let evaluated = evaluate(&api, &backup_id, "1111").await;
            (evaluated.reply.status, evaluated.reply.code().to_owned(), evaluated.reply.body["guessesLeft"].as_i64())
        }));
    }
    let mut answered = Vec::new();
    let mut gone = 0;
    for task in tasks {
        match task.await.unwrap() {
            (200, _, Some(left)) => answered.push(left),
            (410, code, _) if code == "PIN_GUESSES_EXHAUSTED" => gone += 1,
            other => panic!("unexpected answer to a parallel guess: {other:?}"),
        }
    }
    answered.sort_unstable();
    assert_eq!(answered, (0..i64::from(LIMIT)).collect::<Vec<_>>(), "each counted guess has its own count");
    assert_eq!(gone, GUESSES - LIMIT as usize);
    let (sealed, used): (Option<String>, i64) =
        sqlx::query_as("SELECT sealed_keys, guesses_used FROM pin_guards WHERE pair_id = $1")
            .bind(guarded.pair_id.clone())
            .fetch_one(first.store().pool())
            .await
            .unwrap();
    assert_eq!((sealed.is_none(), used), (true, i64::from(LIMIT)));
    for service in services {
        service.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_from_many_connections_never_pass_the_limit() {
    parallel_guesses(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_on_two_instances_of_one_database_never_pass_the_limit() {
    parallel_guesses(2).await;
}

#[tokio::test]
async fn the_custodian_share_needs_the_proof_and_messages_do_not_mix() {
    let server = server().await;
    let api = client(&server, 10).await;
    let a = guarded_backup(&api, "1234", false).await;
    let b = guarded_backup(&api, "1234", false).await;

    // A module that skips the proof gets no custodian share, by either route.
    let by_pair = api.custodian_share(&a.pair_id).await;
    assert_eq!((by_pair.status, by_pair.code()), (403, "PIN_PROOF_REQUIRED"));
    let by_backup = api.custodian_share_by_backup_id(&a.backup_id).await;
    assert_eq!((by_backup.status, by_backup.code()), (403, "PIN_PROOF_REQUIRED"));
    assert!(!by_backup.body.to_string().contains(&a.share));

    // Unlock before any evaluation: no open challenge.
    let early = unlock(&api, &a.backup_id, &[1; 32], &[2; 32]).await;
    assert_eq!((early.status, early.code()), (409, "PIN_CHALLENGE_INVALID"));

    // A's proof is no good for B: with B's challenge it is wrong, A's challenge is not B's.
    let on_a = evaluate(&api, &a.backup_id, "1234").await;
    let on_b = evaluate(&api, &b.backup_id, "1234").await;
    assert_eq!(on_a.output, a.output);
    assert_ne!(on_a.output, on_b.output, "two backups share an OPRF key");
    let mixed = unlock(&api, &b.backup_id, &on_a.challenge, &on_a.proof(&a.backup_id)).await;
    assert_eq!((mixed.status, mixed.code()), (409, "PIN_CHALLENGE_INVALID"));
    let a_proof_for_b_challenge = proof(&on_a.unlock_key, &a.backup_id, &on_b.challenge);
    let crossed = unlock(&api, &b.backup_id, &on_b.challenge, &a_proof_for_b_challenge).await;
    assert_eq!((crossed.status, crossed.code()), (403, "WRONG_PASSWORD"));
    assert_eq!(crossed.body["error"]["guessesLeft"], 9);
    let relabelled = proof(&on_a.unlock_key, &b.backup_id, &on_b.challenge);
    assert_ne!(relabelled, on_b.proof(&b.backup_id));
    // The wrong proof used up B's challenge: B's own right proof for it is refused now.
    let late = unlock(&api, &b.backup_id, &on_b.challenge, &on_b.proof(&b.backup_id)).await;
    assert_eq!((late.status, late.code()), (409, "PIN_CHALLENGE_INVALID"));

    // A is untouched by all that; its unlock works once, and a replay fails.
    let unlocked = unlock(&api, &a.backup_id, &on_a.challenge, &on_a.proof(&a.backup_id)).await;
    assert_eq!(unlocked.status, 200, "{}", unlocked.body);
    assert_eq!(unlocked.body["custodianShare"], a.share.as_str());
    assert_eq!(unlocked.body["status"], "PENDING");
    let replayed = unlock(&api, &a.backup_id, &on_a.challenge, &on_a.proof(&a.backup_id)).await;
    assert_eq!((replayed.status, replayed.code()), (409, "PIN_CHALLENGE_INVALID"));

    // An older evaluation's challenge is refused after a newer evaluation.
    let older = evaluate(&api, &a.backup_id, "1234").await;
    let newer = evaluate(&api, &a.backup_id, "1234").await;
    assert_ne!(older.challenge, newer.challenge);
    let stale = unlock(&api, &a.backup_id, &older.challenge, &older.proof(&a.backup_id)).await;
    assert_eq!((stale.status, stale.code()), (409, "PIN_CHALLENGE_INVALID"));
    assert_eq!(guard_status(&api, &a.backup_id).await.body["guessesLeft"], 8, "a refused challenge changes nothing");
    let fresh = unlock(&api, &a.backup_id, &newer.challenge, &newer.proof(&a.backup_id)).await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(fresh.body["guessesLeft"], 10);

    // Another client's key sees neither guard.
    let other = client(&server, 10).await;
    let foreign = guard_status(&other, &a.backup_id).await;
    assert_eq!((foreign.status, foreign.code()), (404, "PAIR_NOT_FOUND"));
    let foreign = evaluate(&other, &a.backup_id, "1234").await;
    assert_eq!((foreign.reply.status, foreign.reply.code()), (404, "PAIR_NOT_FOUND"));
    assert_eq!(guard_row(&server, &a.pair_id).await, Some((true, 0, false, false)));
}

#[tokio::test]
async fn a_webhook_client_s_guarded_share_comes_from_the_operator_after_the_proof() {
    let server = server().await;
    let receiver = common::Receiver::start(b"pin-guard-webhook-secret").await;
    let (api, _) = common::webhook_client(&server, &receiver.url, &receiver.secret).await;
    let guarded = guarded_backup(&api, "8642", true).await;
    assert_eq!(receiver.attempts(), 1);
    let share = api.custodian_share(&guarded.pair_id).await;
    assert_eq!((share.status, share.code()), (403, "PIN_PROOF_REQUIRED"));
    let fetches = receiver.fetches();
    let right = evaluate(&api, &guarded.backup_id, "8642").await;
    let unlocked = unlock(&api, &guarded.backup_id, &right.challenge, &right.proof(&guarded.backup_id)).await;
    assert_eq!(unlocked.status, 200, "{}", unlocked.body);
    assert_eq!(unlocked.body["custodianShare"], guarded.share.as_str());
    assert!(receiver.fetches() > fetches, "the share was not fetched from the operator");
}

#[tokio::test]
async fn the_guard_survives_kms_rewrap_with_the_same_output() {
    let server = server().await;
    let api = client(&server, 10).await;
    let guarded = guarded_backup(&api, "5555", true).await;
    let destroyed = guarded_backup(&api, "6666", false).await;
    for left in (0..=9).rev() {
        wrong_guess(&api, &destroyed, left).await;
    }
    assert_eq!(evaluate(&api, &destroyed.backup_id, "6666").await.reply.status, 410);

    let key_id = |pair_id: String| {
        let pool = server.running.store().pool().clone();
        async move {
            sqlx::query_scalar::<_, Option<String>>("SELECT key_id FROM pin_guards WHERE pair_id = $1")
                .bind(pair_id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let before = key_id(guarded.pair_id.clone()).await.unwrap();
    let kms = server.running.kms();
    let new_key = kms.local().unwrap().rotate().unwrap();
    // `kms rewrap` and `kms migrate --to` both run this over their KMS chain.
    let report = server.running.store().rewrap_all(kms).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.key_id, new_key);
    let after = key_id(guarded.pair_id.clone()).await.unwrap();
    assert_ne!(after, before);
    assert_eq!(after, new_key);
    assert_eq!(key_id(destroyed.pair_id.clone()).await, None, "a destroyed guard has nothing to re-wrap");
    let counts = server.running.store().pin_guard_key_id_counts().await.unwrap();
    assert_eq!(counts, vec![(new_key.clone(), 1)]);

    let right = evaluate(&api, &guarded.backup_id, "5555").await;
    assert_eq!(right.reply.status, 200, "{}", right.reply.body);
    assert_eq!(right.output, guarded.output, "the OPRF key changed under rewrap");
    let unlocked = unlock(&api, &guarded.backup_id, &right.challenge, &right.proof(&guarded.backup_id)).await;
    assert_eq!(unlocked.status, 200, "{}", unlocked.body);
    assert_eq!(unlocked.body["custodianShare"], guarded.share.as_str());
}

#[tokio::test]
async fn retention_removes_a_guard_with_its_pair() {
    let server = serve_config(tempfile::tempdir().unwrap(), |c| {
        c.rate_limit = RateLimit { per_second: 0.0, burst: 0 };
        c.retention = Retention { keep_completed: 1, ..Retention::default() };
    })
    .await;
    let api = client(&server, 10).await;
    let old = guarded_backup(&api, "1111", true).await;
    assert!(guard_row(&server, &old.pair_id).await.is_some());
    let new = guarded_backup(&api, "2222", true).await;
    assert!(guard_row(&server, &old.pair_id).await.is_none(), "the superseded pair's guard is still there");
    assert!(guard_row(&server, &new.pair_id).await.is_some());
    let gone = guard_status(&api, &old.backup_id).await;
    assert_eq!((gone.status, gone.code()), (404, "PAIR_NOT_FOUND"));
}

#[tokio::test]
async fn a_storage_failure_on_evaluate_answers_503_and_sends_no_evaluation() {
    let server = server().await;
    let api = client(&server, 10).await;
    let guarded = guarded_backup(&api, "4321", true).await;
    if on_postgres() {
        exec(
            &server,
            "CREATE OR REPLACE FUNCTION wb_fault() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected fault' USING ERRCODE = '25006'; END $$",
        )
        .await;
        exec(
            &server,
            "CREATE TRIGGER wb_fault BEFORE UPDATE ON pin_guards FOR EACH STATEMENT EXECUTE FUNCTION wb_fault()",
        )
        .await;
    } else {
        // SQLite is served through one connection: this is the service's.
        exec(&server, "PRAGMA query_only = 1").await;
    }
    let refused = evaluate(&api, &guarded.backup_id, "4321").await;
    assert_eq!((refused.reply.status, refused.reply.code()), (503, "DATABASE_UNAVAILABLE"), "{}", refused.reply.body);
    assert!(refused.reply.headers.get("retry-after").is_some());
    assert!(refused.reply.body.get("evaluatedElement").is_none());
    assert_eq!(guard_status(&api, &guarded.backup_id).await.body["guessesLeft"], 10, "reads still work");

    if on_postgres() {
        exec(&server, "DROP TRIGGER wb_fault ON pin_guards").await;
    } else {
        exec(&server, "PRAGMA query_only = 0").await;
    }
    assert_eq!(guard_row(&server, &guarded.pair_id).await, Some((true, 0, false, false)), "the refused guess counted");
    let right = evaluate(&api, &guarded.backup_id, "4321").await;
    assert_eq!(right.reply.status, 200, "{}", right.reply.body);
    assert_eq!(right.reply.body["guessesLeft"], 9);
    let unlocked = unlock(&api, &guarded.backup_id, &right.challenge, &right.proof(&guarded.backup_id)).await;
    assert_eq!(unlocked.status, 200, "{}", unlocked.body);
}

#[tokio::test]
async fn a_pair_and_its_guard_are_written_together_or_not_at_all() {
    let server = server().await;
    let api = client(&server, 10).await;
    // A fault on the guard's insert alone: the pair's insert before it in the transaction must go too.
    if on_postgres() {
        exec(
            &server,
            "CREATE OR REPLACE FUNCTION wb_guard_fault() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected fault' USING ERRCODE = '53100'; END $$",
        )
        .await;
        exec(
            &server,
            "CREATE TRIGGER wb_guard_fault BEFORE INSERT ON pin_guards FOR EACH ROW EXECUTE FUNCTION wb_guard_fault()",
        )
        .await;
    } else {
        exec(&server, "CREATE TRIGGER wb_guard_fault BEFORE INSERT ON pin_guards BEGIN SELECT RAISE(ABORT, 'injected fault'); END")
            .await;
    }
    let backup_id = new_backup_id();
    let (guard, _) = new_guard(&backup_id, "2020");
    let body =
        json!({ "backupMethod": "PASSWORD", "backupId": backup_id, "custodianShare": "half", "pinGuard": guard });
    let refused = api.post(PAIRS, body.clone()).await;
    assert!(refused.status >= 500, "{} {}", refused.status, refused.body);
    if on_postgres() {
        assert_eq!((refused.status, refused.code()), (503, "DATABASE_UNAVAILABLE"));
    }
    let pairs: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM backup_share_pairs")
        .fetch_one(server.running.store().pool())
        .await
        .unwrap();
    assert_eq!(pairs, 0, "a pair without its guard was stored");
    let missing = guard_status(&api, &backup_id).await;
    assert_eq!((missing.status, missing.code()), (404, "PAIR_NOT_FOUND"));
    exec(
        &server,
        if on_postgres() { "DROP TRIGGER wb_guard_fault ON pin_guards" } else { "DROP TRIGGER wb_guard_fault" },
    )
    .await;
    let created = api.post(PAIRS, body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(guard_status(&api, &backup_id).await.body["guessesLeft"], 10);
}

#[tokio::test]
async fn a_client_s_guess_limit_applies_to_its_new_guards() {
    let server = server().await;
    let api = client(&server, 3).await;
    let guarded = guarded_backup(&api, "7777", true).await;
    assert_eq!(guard_status(&api, &guarded.backup_id).await.body["guessLimit"], 3);
    for left in (0..=2).rev() {
        wrong_guess(&api, &guarded, left).await;
    }
    let fourth = evaluate(&api, &guarded.backup_id, "7777").await;
    assert_eq!((fourth.reply.status, fourth.reply.code()), (410, "PIN_GUESSES_EXHAUSTED"));

    // A new limit is for guards made from now on.
    let client_id: String = sqlx::query_scalar("SELECT client_id FROM pin_guards WHERE pair_id = $1")
        .bind(guarded.pair_id.clone())
        .fetch_one(server.running.store().pool())
        .await
        .unwrap();
    assert!(server.running.store().set_pin_guess_limit(&client_id, 5).await.unwrap());
    let later = guarded_backup(&api, "8888", false).await;
    assert_eq!(guard_status(&api, &later.backup_id).await.body["guessLimit"], 5);
    assert_eq!(guard_status(&api, &guarded.backup_id).await.status, 410);

    // Out-of-range limits are refused.
    for bad in [0, 101] {
        let refused = server
            .running
            .store()
            .create_client(server.running.kms(), &NewClient { pin_guess_limit: bad, ..NewClient::new("bad") })
            .await;
        assert!(refused.is_err(), "guess limit {bad} accepted");
    }
}

#[tokio::test]
async fn the_command_line_sets_the_guess_limit_and_rewraps_the_guards() {
    const BIN: &str = env!("CARGO_BIN_EXE_wallet-backup-service");
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(BIN)
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    };
    for bad in ["0", "101", "ten"] {
        let out = run(&["create-client", "--name", "x", "--pin-guess-limit", bad]);
        assert!(!out.status.success(), "--pin-guess-limit {bad} accepted");
        assert!(String::from_utf8_lossy(&out.stderr).contains("guess limit"));
    }
    let out = run(&["create-client", "--name", "three", "--pin-guess-limit", "3"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["create-client", "--name", "default"]);
    assert!(out.status.success());
    let store =
        wallet_backup_service::Store::connect(&wallet_backup_service::store::sqlite_url(dir.path())).await.unwrap();
    let limits = async || -> Vec<(String, i64)> {
        sqlx::query_as("SELECT name, pin_guess_limit FROM clients ORDER BY name").fetch_all(store.pool()).await.unwrap()
    };
    assert_eq!(limits().await, vec![("default".into(), 10), ("three".into(), 3)]);
    let id: String =
        sqlx::query_scalar("SELECT id FROM clients WHERE name = 'three'").fetch_one(store.pool()).await.unwrap();
    let out = run(&["set-pin-guess-limit", "--client-id", &id, "--pin-guess-limit", "7"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(limits().await, vec![("default".into(), 10), ("three".into(), 7)]);
    let out = run(&["set-pin-guess-limit", "--client-id", "nobody", "--pin-guess-limit", "7"]);
    assert!(!out.status.success());
    store.close().await;

    // `kms rotate` and `kms rewrap`, the commands: a guard's keys move to the new master key and open.
    let (store, kms) = wallet_backup_service::open_backend(&common::backend(dir.path())).await.unwrap();
    let keys: Vec<u8> = (0..64).collect();
    let method = wallet_backup_service::model::BackupMethod::parse("PASSWORD").unwrap();
    let share = wallet_backup_service::store::NewCustodianShare::Sealed(b"half");
    let pair = store.create_pair(&kms, &id, method, &new_backup_id(), share, Some(&keys)).await.unwrap().unwrap();
    store.close().await;
    let out = run(&["kms", "rotate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let new_key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let out = run(&["kms", "rewrap"]);
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");
    assert!(report.contains(&format!("{new_key}: 1 guess-limited PIN key(s)")), "{report}");
    let (store, kms) = wallet_backup_service::open_backend(&common::backend(dir.path())).await.unwrap();
    let guard = store.pin_guard(&id, &pair.id).await.unwrap().unwrap();
    let sealed = guard.sealed_keys.unwrap();
    assert_eq!(sealed.wrapped_key.key_id, new_key);
    let opened =
        wallet_backup_service::seal::open(&kms, &sealed, &wallet_backup_service::store::pin_guard_aad(&id, &pair.id))
            .await
            .unwrap();
    assert_eq!(&opened[..], &keys[..]);
    store.close().await;
}

#[tokio::test]
async fn bad_input_is_400_with_a_code_and_counts_nothing() {
    let server = server().await;
    let api = client(&server, 10).await;
    let backup_id = new_backup_id();
    let (guard, _) = new_guard(&backup_id, "1212");
    let create = |method: &str, guard: Value| json!({ "backupMethod": method, "backupId": backup_id, "custodianShare": "half", "pinGuard": guard });
    let mut zero = guard.clone();
    zero["oprfKey"] = b64(&[0; 32]).into();
    let mut non_canonical = guard.clone();
    non_canonical["oprfKey"] = b64(&[0xff; 32]).into();
    let mut short = guard.clone();
    short["oprfKey"] = b64(&[1; 31]).into();
    let mut long_unlock = guard.clone();
    long_unlock["unlockKey"] = b64(&[1; 33]).into();
    let mut padded = guard.clone();
    padded["unlockKey"] = format!("{}=", b64(&[1; 32])).into();
    let mut extra = guard.clone();
    extra["pin"] = "1212".into();
    let cases = [
        ("GDRIVE", guard.clone(), "pinGuard on another method"),
        ("PASSWORD", zero, "zero scalar"),
        ("PASSWORD", non_canonical, "non-canonical scalar"),
        ("PASSWORD", short, "31-byte key"),
        ("PASSWORD", long_unlock, "33-byte unlock key"),
        ("PASSWORD", padded, "padded base64"),
        ("PASSWORD", extra, "unknown field"),
        ("PASSWORD", json!({ "oprfKey": guard["oprfKey"] }), "no unlock key"),
        ("PASSWORD", json!("keys"), "not an object"),
    ];
    for (method, guard, what) in cases {
        let refused = api.post(PAIRS, create(method, guard)).await;
        assert_eq!((refused.status, refused.code()), (400, "INVALID_REQUEST"), "{what}: {}", refused.body);
    }
    // Nothing of them was stored: the backup id is still free.
    let created = api.post(PAIRS, create("PASSWORD", guard)).await;
    assert_eq!(created.status, 201, "{}", created.body);

    let evaluate_path = guard_path(&backup_id, "/evaluate");
    let identity = [0u8; 32];
    let bad_elements: [(Value, &str); 6] = [
        (b64(&[0xff; 32]).into(), "non-canonical element"),
        (b64(&identity).into(), "the identity"),
        (b64(&[1; 31]).into(), "31 bytes"),
        ("not base64!".into(), "not base64url"),
        (json!(42), "a number"),
        (b64(&[2; 64]).into(), "64 bytes"),
    ];
    for (element, what) in bad_elements {
        let refused = api.post(&evaluate_path, json!({ "blindedElement": element })).await;
        assert_eq!(refused.status, 400, "{what}: {}", refused.body);
        assert_eq!(refused.code(), "INVALID_REQUEST", "{what}");
    }
    let refused = api.post(&evaluate_path, json!({})).await;
    assert_eq!((refused.status, refused.code()), (400, "INVALID_REQUEST"));
    let refused = api.send("POST", &evaluate_path, Some(("application/json", b"{".to_vec()))).await;
    assert_eq!((refused.status, refused.code()), (400, "MALFORMED_JSON"));
    let unlock_path = guard_path(&backup_id, "/unlock");
    for body in [
        json!({ "challenge": b64(&[1; 31]), "proof": b64(&[1; 32]) }),
        json!({ "challenge": b64(&[1; 32]), "proof": b64(&[1; 16]) }),
        json!({ "challenge": b64(&[1; 32]) }),
    ] {
        let refused = api.post(&unlock_path, body).await;
        assert_eq!((refused.status, refused.code()), (400, "INVALID_REQUEST"), "{}", refused.body);
    }
    assert_eq!(guard_status(&api, &backup_id).await.body["guessesLeft"], 10, "bad input counted a guess");

    // Paths: a malformed backup id, an unknown one, a pair without a guard.
    let malformed = guard_status(&api, "not-hex").await;
    assert_eq!((malformed.status, malformed.code()), (400, "INVALID_REQUEST"));
    let unknown = evaluate(&api, &new_backup_id(), "1212").await;
    assert_eq!((unknown.reply.status, unknown.reply.code()), (404, "PAIR_NOT_FOUND"));
    let (_, plain_backup_id, _) = api.managed_backup("PASSWORD", "plain-half").await;
    let plain = evaluate(&api, &plain_backup_id, "1212").await;
    assert_eq!((plain.reply.status, plain.reply.code()), (409, "NOT_GUESS_LIMITED"));
    assert_eq!(guard_status(&api, &plain_backup_id).await.code(), "NOT_GUESS_LIMITED");
    assert!(api.latest("PASSWORD").await.body.get("pinGuard").is_none());
}

/// A counter's value in a Prometheus scrape (0 when absent).
fn sample(scrape: &str, name: &str, outcome: &str) -> f64 {
    let prefix = format!("{name}{{outcome=\"{outcome}\"}} ");
    scrape.lines().find_map(|line| line.strip_prefix(&prefix)?.parse().ok()).unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_evaluations_and_unlocks_by_outcome_without_ids() {
    let server = serve_config(tempfile::tempdir().unwrap(), |c| {
        c.rate_limit = RateLimit { per_second: 0.0, burst: 0 };
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let metrics = format!("http://{}/metrics", server.running.metrics_addr().unwrap());
    let scrape = async || reqwest::get(&metrics).await.unwrap().text().await.unwrap();
    let api = client(&server, 2).await;
    let guarded = guarded_backup(&api, "3141", true).await;
    // The recorder is the process's: other tests of this binary count too, so the counts only grow.
    let before = scrape().await;
    let right = evaluate(&api, &guarded.backup_id, "3141").await;
    let wrong = unlock(&api, &guarded.backup_id, &right.challenge, &[0; 32]).await;
    assert_eq!((wrong.status, wrong.code()), (403, "WRONG_PASSWORD"));
    assert_eq!(wrong.body["error"]["guessesLeft"], 1);
    let stale = unlock(&api, &guarded.backup_id, &right.challenge, &right.proof(&guarded.backup_id)).await;
    assert_eq!((stale.status, stale.code()), (409, "PIN_CHALLENGE_INVALID"));
    assert_eq!(evaluate(&api, &guarded.backup_id, "3141").await.reply.body["guessesLeft"], 0);
    // The third destroys the key, the fourth finds it destroyed.
    assert_eq!(evaluate(&api, &guarded.backup_id, "3141").await.reply.status, 410);
    assert_eq!(evaluate(&api, &guarded.backup_id, "3141").await.reply.status, 410);
    let after = scrape().await;
    for (name, outcome) in [
        ("wallet_backup_pin_guard_evaluations_total", "evaluated"),
        ("wallet_backup_pin_guard_evaluations_total", "destroyed"),
        ("wallet_backup_pin_guard_evaluations_total", "exhausted"),
        ("wallet_backup_pin_guard_unlocks_total", "wrong_proof"),
        ("wallet_backup_pin_guard_unlocks_total", "challenge_invalid"),
    ] {
        assert!(sample(&after, name, outcome) >= sample(&before, name, outcome) + 1.0, "{name} {outcome}:\n{after}");
    }
    assert!(!after.contains(&guarded.backup_id) && !after.contains(&guarded.pair_id), "an id in the metrics");
}

/// Not an assertion on time: prints the service's evaluations per second on loopback (one
/// request after another, then from 8 connections at once), each one counted and committed. The
/// module's side is done once (one blinded element sent again and again), so the figure is the
/// service's. Run with `--nocapture` to read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn evaluate_throughput() {
    const ROUND: usize = 90;
    const N: usize = 3 * ROUND;
    const TASKS: usize = 8;
    let server = server().await;
    let api = client(&server, 100).await;
    let guarded = guarded_backup(&api, "0101", true).await;
    let blind = OprfClient::<Ristretto255>::blind(&hardened("0101"), &mut rand_core::OsRng).unwrap();
    let body = json!({ "blindedElement": b64(&blind.message.serialize()) });
    let path = guard_path(&guarded.backup_id, "/evaluate");
    // A right unlock before each round (fewer than the limit of 100) keeps the guard alive.
    let reset = async || {
        let right = evaluate(&api, &guarded.backup_id, "0101").await;
        assert_eq!(right.reply.status, 200, "{}", right.reply.body);
        let unlocked = unlock(&api, &guarded.backup_id, &right.challenge, &right.proof(&guarded.backup_id)).await;
        assert_eq!(unlocked.status, 200, "{}", unlocked.body);
    };
    let mut elapsed = std::time::Duration::ZERO;
    for _ in 0..N / ROUND {
        reset().await;
        let begin = std::time::Instant::now();
        for _ in 0..ROUND {
            let reply = api.post(&path, body.clone()).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
        elapsed += begin.elapsed();
    }
    let sequential = N as f64 / elapsed.as_secs_f64();
    reset().await;
    let begin = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let api = Api::new(&server.base, api.key.as_deref());
        let (path, body) = (path.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..ROUND / TASKS {
                let reply = api.post(&path, body.clone()).await;
                assert_eq!(reply.status, 200, "{}", reply.body);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let parallel = (TASKS * (ROUND / TASKS)) as f64 / begin.elapsed().as_secs_f64();
    let database = if on_postgres() { "PostgreSQL" } else { "SQLite" };
    let build = if cfg!(debug_assertions) { "debug" } else { "release" };
    eprintln!(
        "pin guard evaluate ({build} build, {database}, local KMS): {sequential:.0}/s one at a time, \
         {parallel:.0}/s from {TASKS} connections"
    );
}
