//! The passkey key enclave (`/passkeys/...`) over real HTTP on loopback,
//! against the real router (SQLite, or PostgreSQL with
//! `WALLET_BACKUP_TEST_POSTGRES`), with the software authenticator of
//! `common/authenticator.rs`, so every registration and assertion is real.
//!
//! Covered: register, write and read back; never overwriting; unknown
//! backup ids; allowCredentials with and without a backupId; UV required;
//! origins (web, ports, Android apk-key-hash per client); credentials of
//! other clients and other credentials of the same client; single-use and
//! expiring ceremonies; counter regression; challenge, signature, rpIdHash
//! and type failures; duplicate credential ids; not configured; API key,
//! strict input and rate limit; sealing and KMS rewrap; relying-party checks.

use std::time::Duration;

use base64ct::{Base64, Encoding};
use serde_json::{json, Value};
use wallet_backup_service::passkey::{check_origin, PasskeyConfig, RelyingParty};
use wallet_backup_service::store::passkey::ClientRelyingParty;
use wallet_backup_service::store::NewClient;
use wallet_backup_service::{RateLimit, ServeConfig};

use crate::common::authenticator::{b64, unb64, Authenticator, Tweak, ORIGIN, RP_ID, UP};
use crate::common::{new_backup_id, on_postgres, serve_config, Api, Reply, TestServer};

/// An Android app's origin: base64url of a (made-up) signing certificate's SHA-256.
const APK_ORIGIN: &str = "android:apk-key-hash:qhGXDvXkGmKbm1fXAdQVqxpUTnP5Lh1a8mk8ynQl9X0";

// ---------------------------------------------------------------- the service

fn default_rp() -> RelyingParty {
    RelyingParty::new(RP_ID, Some("Wallet"), &[ORIGIN.to_owned(), "http://localhost:5173".to_owned()]).unwrap()
}

async fn enclave_with(edit: impl FnOnce(&mut ServeConfig)) -> TestServer {
    serve_config(tempfile::tempdir().unwrap(), |config| {
        config.rate_limit = RateLimit { per_second: 0.0, burst: 0 };
        config.passkey = PasskeyConfig { relying_party: Some(default_rp()), ..PasskeyConfig::default() };
        edit(config);
    })
    .await
}

async fn enclave() -> TestServer {
    enclave_with(|_| {}).await
}

/// A client; with `rp`, its own relying party.
async fn client(server: &TestServer, name: &str, rp: Option<ClientRelyingParty>) -> Api {
    let (_, key) = server
        .running
        .store()
        .create_client(server.running.kms(), &NewClient { passkey_rp: rp.as_ref(), ..NewClient::new(name) })
        .await
        .unwrap();
    Api::new(&server.base, Some(key.expose()))
}

fn assert_code(reply: &Reply, status: u16, code: &str, what: &str) {
    assert_eq!((reply.status, reply.code()), (status, code), "{what}: {}", reply.body);
}

async fn begin_registration(api: &Api) -> (String, Value) {
    let reply = api.post("/passkeys/begin-registration", json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    (reply.body["ceremonyId"].as_str().unwrap().to_owned(), reply.body["options"].clone())
}

async fn finish_registration(api: &Api, ceremony: &str, credential: Value) -> Reply {
    api.post("/passkeys/finish-registration", json!({ "ceremonyId": ceremony, "credential": credential })).await
}

async fn register_with(api: &Api, authenticator: &mut Authenticator, tweak: &Tweak) -> Reply {
    let (ceremony, options) = begin_registration(api).await;
    let credential = authenticator.register(&options, tweak);
    finish_registration(api, &ceremony, credential).await
}

async fn register(api: &Api, authenticator: &mut Authenticator) {
    let reply = register_with(api, authenticator, &Tweak::honest()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["credentialId"], authenticator.id());
}

async fn begin_login(api: &Api, backup_id: Option<&str>) -> Reply {
    let body = match backup_id {
        Some(id) => json!({ "backupId": id }),
        None => json!({}),
    };
    api.post("/passkeys/begin-login", body).await
}

async fn login(api: &Api, backup_id: Option<&str>) -> (String, Value) {
    let reply = begin_login(api, backup_id).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    (reply.body["ceremonyId"].as_str().unwrap().to_owned(), reply.body["options"].clone())
}

async fn write(api: &Api, ceremony: &str, credential: Value, backup_id: &str, key: &str) -> Reply {
    api.post(
        "/passkeys/finish-login/write",
        json!({ "ceremonyId": ceremony, "credential": credential, "backupId": backup_id, "encryptionKey": key }),
    )
    .await
}

async fn read(api: &Api, ceremony: &str, credential: Value, backup_id: &str) -> Reply {
    api.post(
        "/passkeys/finish-login/read",
        json!({ "ceremonyId": ceremony, "credential": credential, "backupId": backup_id }),
    )
    .await
}

/// A full write with an honest assertion.
async fn store_key(api: &Api, authenticator: &mut Authenticator, backup_id: &str, key: &str) -> Reply {
    let (ceremony, options) = login(api, None).await;
    write(api, &ceremony, authenticator.assert(&options, &Tweak::honest()), backup_id, key).await
}

/// A full read with an honest assertion.
async fn fetch_key(api: &Api, authenticator: &mut Authenticator, backup_id: &str) -> Reply {
    let (ceremony, options) = login(api, Some(backup_id)).await;
    read(api, &ceremony, authenticator.assert(&options, &Tweak::honest()), backup_id).await
}

fn random_key() -> (Vec<u8>, String) {
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).unwrap();
    let text = b64(&key);
    (key, text)
}

fn allowed(options: &Value) -> Vec<String> {
    options["allowCredentials"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn passkey_register_write_read_round_trip() {
    let server = enclave().await;
    let api = client(&server, "wallet", None).await;
    let status = api.get("/passkeys/status").await;
    assert_eq!(
        status.body,
        json!({ "configured": true, "relyingParty": { "id": RP_ID, "name": "Wallet" }, "registered": false, "credentials": 0 })
    );

    let mut phone = Authenticator::new();
    let reply = api.post("/passkeys/begin-registration", json!({ "userName": "Alice's wallet" })).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ceremony = reply.body["ceremonyId"].as_str().unwrap();
    assert!(ceremony.len() == 32 && ceremony.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    let options = &reply.body["options"];
    assert_eq!(options["rp"], json!({ "id": RP_ID, "name": "Wallet" }));
    assert_eq!(options["user"]["name"], "Alice's wallet");
    assert_eq!(options["user"]["displayName"], "Alice's wallet");
    assert_eq!(unb64(options["user"]["id"].as_str().unwrap()).len(), 16);
    assert!(unb64(options["challenge"].as_str().unwrap()).len() >= 16);
    assert_eq!(options["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(options["excludeCredentials"], json!([]));
    assert!(options["pubKeyCredParams"].as_array().unwrap().iter().any(|p| p["alg"] == -7));
    let credential = phone.register(options, &Tweak::honest());
    let done = finish_registration(&api, ceremony, credential).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body, json!({ "credentialId": phone.id() }));
    let status = api.get("/passkeys/status").await;
    assert_eq!((status.body["registered"].clone(), status.body["credentials"].clone()), (json!(true), json!(1)));

    // A second registration excludes the first credential.
    let (_, options) = begin_registration(&api).await;
    assert_eq!(options["excludeCredentials"], json!([{ "type": "public-key", "id": phone.id() }]));

    // Write, then read the same key back.
    let (key, text) = random_key();
    let backup_id = new_backup_id();
    let (ceremony, options) = login(&api, None).await;
    assert_eq!(options["rpId"], RP_ID);
    assert_eq!(options["userVerification"], "required");
    assert_eq!(allowed(&options), vec![phone.id()]);
    let written = write(&api, &ceremony, phone.assert(&options, &Tweak::honest()), &backup_id, &text).await;
    assert_eq!(written.status, 200, "{}", written.body);
    assert_eq!(written.body, json!({ "credentialId": phone.id() }));
    let got = fetch_key(&api, &mut phone, &backup_id.to_ascii_uppercase()).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body, json!({ "encryptionKey": text }));
    assert_eq!(unb64(got.body["encryptionKey"].as_str().unwrap()), key);
    // Again: same key.
    assert_eq!(fetch_key(&api, &mut phone, &backup_id).await.body["encryptionKey"], text);

    // Never overwritten.
    let (_, other) = random_key();
    assert_code(&store_key(&api, &mut phone, &backup_id, &other).await, 409, "BACKUP_ID_EXISTS", "overwrite");
    assert_eq!(fetch_key(&api, &mut phone, &backup_id).await.body["encryptionKey"], text);

    // A backup id never written.
    let unknown = new_backup_id();
    assert_code(&begin_login(&api, Some(&unknown)).await, 404, "ENCRYPTION_KEY_NOT_FOUND", "begin-login unknown");
    let (ceremony, options) = login(&api, None).await;
    let reply = read(&api, &ceremony, phone.assert(&options, &Tweak::honest()), &unknown).await;
    assert_code(&reply, 404, "ENCRYPTION_KEY_NOT_FOUND", "read unknown");
}

#[tokio::test]
async fn passkey_allow_credentials_and_other_credentials() {
    let server = enclave().await;
    let api = client(&server, "wallet", None).await;
    let other_client = client(&server, "other", None).await;
    let (mut phone, mut laptop, mut stranger) = (Authenticator::new(), Authenticator::new(), Authenticator::new());
    register(&api, &mut phone).await;
    register(&api, &mut laptop).await;
    register(&other_client, &mut stranger).await;
    let (_, text) = random_key();
    let backup_id = new_backup_id();
    assert_eq!(store_key(&api, &mut phone, &backup_id, &text).await.status, 200);

    // Without backupId: all the client's credentials; with it: the key's.
    let (_, options) = login(&api, None).await;
    let mut ids = allowed(&options);
    ids.sort();
    let mut expected = vec![phone.id(), laptop.id()];
    expected.sort();
    assert_eq!(ids, expected);
    let (_, options) = login(&api, Some(&backup_id)).await;
    assert_eq!(allowed(&options), vec![phone.id()]);

    // Another credential of the same client cannot read the key bound to the first.
    let (ceremony, options) = login(&api, None).await;
    let reply = read(&api, &ceremony, laptop.assert(&options, &Tweak::honest()), &backup_id).await;
    assert_code(&reply, 403, "PASSKEY_CREDENTIAL_NOT_ALLOWED", "other credential of the client");
    assert!(reply.body.get("encryptionKey").is_none());
    // Nor outside the backup's allowCredentials.
    let (ceremony, options) = login(&api, Some(&backup_id)).await;
    let reply = read(&api, &ceremony, laptop.assert(&options, &Tweak::honest()), &backup_id).await;
    assert_code(&reply, 403, "PASSKEY_CREDENTIAL_NOT_ALLOWED", "outside allowCredentials");

    // Another client's credential against this client's ceremony.
    let (ceremony, options) = login(&api, None).await;
    let reply = read(&api, &ceremony, stranger.assert(&options, &Tweak::honest()), &backup_id).await;
    assert_code(&reply, 403, "PASSKEY_CREDENTIAL_NOT_ALLOWED", "another client's credential");
    let (ceremony, options) = login(&api, None).await;
    let reply = write(&api, &ceremony, stranger.assert(&options, &Tweak::honest()), &new_backup_id(), &text).await;
    assert_code(&reply, 403, "PASSKEY_CREDENTIAL_NOT_ALLOWED", "another client's credential writes");
    // The other client does not see this client's key.
    let (ceremony, options) = login(&other_client, None).await;
    let reply = read(&other_client, &ceremony, stranger.assert(&options, &Tweak::honest()), &backup_id).await;
    assert_code(&reply, 404, "ENCRYPTION_KEY_NOT_FOUND", "another client's backup id");
    // The owner still reads it.
    assert_eq!(fetch_key(&api, &mut phone, &backup_id).await.body["encryptionKey"], text);

    // A credential id is registered once, whichever client tries again.
    let again = register_with(&other_client, &mut phone, &Tweak::honest()).await;
    assert_code(&again, 409, "PASSKEY_CREDENTIAL_EXISTS", "duplicate in another client");
    let again = register_with(&api, &mut phone, &Tweak::honest()).await;
    assert_code(&again, 409, "PASSKEY_CREDENTIAL_EXISTS", "duplicate in the same client");
    assert_eq!(other_client.get("/passkeys/status").await.body["credentials"], 1);
}

#[tokio::test]
async fn passkey_user_verification_is_required() {
    let server = enclave().await;
    let api = client(&server, "wallet", None).await;
    let mut phone = Authenticator::new();
    let no_uv = Tweak { flags: UP, ..Tweak::honest() };
    let reply = register_with(&api, &mut phone, &no_uv).await;
    assert_code(&reply, 403, "PASSKEY_USER_VERIFICATION_REQUIRED", "registration without UV");
    assert_eq!(api.get("/passkeys/status").await.body["credentials"], 0);

    register(&api, &mut phone).await;
    let (_, text) = random_key();
    let backup_id = new_backup_id();
    let (ceremony, options) = login(&api, None).await;
    let reply = write(&api, &ceremony, phone.assert(&options, &no_uv), &backup_id, &text).await;
    assert_code(&reply, 403, "PASSKEY_USER_VERIFICATION_REQUIRED", "write without UV");
    assert_eq!(store_key(&api, &mut phone, &backup_id, &text).await.status, 200);
    let (ceremony, options) = login(&api, Some(&backup_id)).await;
    let reply = read(&api, &ceremony, phone.assert(&options, &no_uv), &backup_id).await;
    assert_code(&reply, 403, "PASSKEY_USER_VERIFICATION_REQUIRED", "read without UV");
    assert!(reply.body.get("encryptionKey").is_none());
}

#[tokio::test]
async fn passkey_origins_are_matched_exactly() {
    let server = enclave().await;
    let api = client(&server, "wallet", None).await;
    let android_rp =
        ClientRelyingParty { id: RP_ID.into(), name: None, origins: vec![ORIGIN.into(), APK_ORIGIN.into()] };
    let android = client(&server, "android app", Some(android_rp)).await;
    let mut phone = Authenticator::new();

    for origin in [
        "https://evil.example",
        "https://wallet.example:8443",
        "http://wallet.example",
        "https://sub.wallet.example",
        APK_ORIGIN,
        // An opaque origin (a sandboxed frame, a data: page) and other strings that are no URL.
        "null",
        "wallet.example",
    ] {
        let reply = register_with(&api, &mut phone, &Tweak::origin(origin)).await;
        assert_code(&reply, 403, "PASSKEY_ORIGIN_MISMATCH", origin);
    }
    // The development origin of the default relying party.
    let reply = register_with(&api, &mut phone, &Tweak::origin("http://localhost:5173")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (ceremony, options) = login(&api, None).await;
    let reply = write(
        &api,
        &ceremony,
        phone.assert(&options, &Tweak::origin("http://localhost:5174")),
        &new_backup_id(),
        &random_key().1,
    )
    .await;
    assert_code(&reply, 403, "PASSKEY_ORIGIN_MISMATCH", "login from another port");
    let (ceremony, options) = login(&api, None).await;
    let assertion = phone.assert(&options, &Tweak::origin("null"));
    let reply = write(&api, &ceremony, assertion, &new_backup_id(), &random_key().1).await;
    assert_code(&reply, 403, "PASSKEY_ORIGIN_MISMATCH", "login from an opaque origin");

    // The Android origin, configured for this client only.
    let mut pixel = Authenticator::new();
    let reply = register_with(&android, &mut pixel, &Tweak::origin(APK_ORIGIN)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let status = android.get("/passkeys/status").await;
    assert_eq!(status.body["relyingParty"], json!({ "id": RP_ID, "name": RP_ID }));
    let (_, text) = random_key();
    let backup_id = new_backup_id();
    let (ceremony, options) = login(&android, None).await;
    let reply = write(&android, &ceremony, pixel.assert(&options, &Tweak::origin(APK_ORIGIN)), &backup_id, &text).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (ceremony, options) = login(&android, Some(&backup_id)).await;
    let reply = read(&android, &ceremony, pixel.assert(&options, &Tweak::origin(APK_ORIGIN)), &backup_id).await;
    assert_eq!(reply.body["encryptionKey"], text);
    // Another app's signing key.
    let other_apk = format!("android:apk-key-hash:{}", b64(&[7u8; 32]));
    let (ceremony, options) = login(&android, Some(&backup_id)).await;
    let reply = read(&android, &ceremony, pixel.assert(&options, &Tweak::origin(&other_apk)), &backup_id).await;
    assert_code(&reply, 403, "PASSKEY_ORIGIN_MISMATCH", "another apk key hash");
    // The client without the Android origin refuses it.
    let (ceremony, options) = login(&api, None).await;
    let reply =
        write(&api, &ceremony, phone.assert(&options, &Tweak::origin(APK_ORIGIN)), &new_backup_id(), &text).await;
    assert_code(&reply, 403, "PASSKEY_ORIGIN_MISMATCH", "apk origin not configured");
}

#[tokio::test]
async fn passkey_ceremonies_are_single_use_and_expire() {
    let server = enclave_with(|config| config.passkey.ceremony_ttl = Duration::from_secs(3)).await;
    let api = client(&server, "wallet", None).await;
    let other = client(&server, "other", None).await;
    let mut phone = Authenticator::new();
    register(&api, &mut phone).await;
    let (_, text) = random_key();

    // Replayed finish.
    let backup_id = new_backup_id();
    let (ceremony, options) = login(&api, None).await;
    let credential = phone.assert(&options, &Tweak::honest());
    assert_eq!(write(&api, &ceremony, credential.clone(), &backup_id, &text).await.status, 200);
    let replay = read(&api, &ceremony, credential, &backup_id).await;
    assert_code(&replay, 403, "PASSKEY_CEREMONY_UNKNOWN", "replayed finish");
    // A failed finish consumes the ceremony too.
    let (ceremony, options) = login(&api, Some(&backup_id)).await;
    let bad = Tweak { bad_signature: true, ..Tweak::honest() };
    let reply = read(&api, &ceremony, phone.assert(&options, &bad), &backup_id).await;
    assert_code(&reply, 403, "PASSKEY_VERIFICATION_FAILED", "bad signature");
    let reply = read(&api, &ceremony, phone.assert(&options, &Tweak::honest()), &backup_id).await;
    assert_code(&reply, 403, "PASSKEY_CEREMONY_UNKNOWN", "after a failure");
    // Wrong kind, unknown id, another client's ceremony (left intact for its owner).
    let (ceremony, options) = begin_registration(&api).await;
    let reply = read(
        &api,
        &ceremony,
        phone.assert(&json!({ "challenge": options["challenge"], "rpId": RP_ID }), &Tweak::honest()),
        &backup_id,
    )
    .await;
    assert_code(&reply, 403, "PASSKEY_CEREMONY_UNKNOWN", "registration ceremony used for login");
    let reply = read(
        &api,
        &new_backup_id(),
        phone.assert(&json!({ "challenge": options["challenge"], "rpId": RP_ID }), &Tweak::honest()),
        &backup_id,
    )
    .await;
    assert_code(&reply, 403, "PASSKEY_CEREMONY_UNKNOWN", "unknown id");
    let (ceremony, options) = login(&api, Some(&backup_id)).await;
    let credential = phone.assert(&options, &Tweak::honest());
    let reply = read(&other, &ceremony, credential.clone(), &backup_id).await;
    assert_code(&reply, 403, "PASSKEY_CEREMONY_UNKNOWN", "another client's ceremony");
    assert_eq!(read(&api, &ceremony, credential, &backup_id).await.body["encryptionKey"], text);

    // Expired.
    let (ceremony, options) = login(&api, Some(&backup_id)).await;
    let credential = phone.assert(&options, &Tweak::honest());
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let reply = read(&api, &ceremony, credential.clone(), &backup_id).await;
    assert_code(&reply, 403, "PASSKEY_CHALLENGE_EXPIRED", "expired");
    assert_code(
        &read(&api, &ceremony, credential, &backup_id).await,
        403,
        "PASSKEY_CEREMONY_UNKNOWN",
        "expired, again",
    );
    let (ceremony, options) = begin_registration(&api).await;
    let credential = Authenticator::new().register(&options, &Tweak::honest());
    tokio::time::sleep(Duration::from_millis(3300)).await;
    assert_code(
        &finish_registration(&api, &ceremony, credential).await,
        403,
        "PASSKEY_CHALLENGE_EXPIRED",
        "registration",
    );
}

#[tokio::test]
async fn passkey_counter_must_increase() {
    let server = enclave().await;
    let api = client(&server, "wallet", None).await;
    let mut phone = Authenticator::new();
    register(&api, &mut phone).await;
    let (_, text) = random_key();
    let backup_id = new_backup_id();
    assert_eq!(store_key(&api, &mut phone, &backup_id, &text).await.status, 200);
    let last = phone.counter;
    for (counter, what) in [(last, "same counter"), (last - 1, "lower counter"), (0, "zero")] {
        let (ceremony, options) = login(&api, Some(&backup_id)).await;
        let tweak = Tweak { counter: Some(counter), ..Tweak::honest() };
        let reply = read(&api, &ceremony, phone.assert(&options, &tweak), &backup_id).await;
        assert_code(&reply, 403, "PASSKEY_COUNTER_REGRESSED", what);
        assert!(reply.body.get("encryptionKey").is_none());
    }
    // A clone that jumped ahead makes the original's next counter a regression.
    let (ceremony, options) = login(&api, Some(&backup_id)).await;
    let ahead = Tweak { counter: Some(last + 10), ..Tweak::honest() };
    assert_eq!(read(&api, &ceremony, phone.assert(&options, &ahead), &backup_id).await.status, 200);
    let reply = fetch_key(&api, &mut phone, &backup_id).await;
    assert_code(&reply, 403, "PASSKEY_COUNTER_REGRESSED", "behind the clone");
    phone.counter = last + 20;
    assert_eq!(fetch_key(&api, &mut phone, &backup_id).await.body["encryptionKey"], text);
    let stored: i64 = sqlx::query_scalar("SELECT sign_count FROM passkey_credentials")
        .fetch_one(server.running.store().pool())
        .await
        .unwrap();
    assert_eq!(stored, i64::from(last + 21));
}

#[tokio::test]
async fn passkey_verification_failures() {
    let server = enclave().await;
    let api = client(&server, "wallet", None).await;
    let mut phone = Authenticator::new();
    let wrong_challenge = Tweak { challenge: Some(b64(&[9u8; 32])), ..Tweak::honest() };
    let wrong_rp = Tweak { rp_id: Some("evil.example".into()), ..Tweak::honest() };
    let wrong_type = Tweak { client_type: Some("webauthn.get".into()), ..Tweak::honest() };
    for (tweak, what) in [(&wrong_challenge, "challenge"), (&wrong_rp, "rpIdHash"), (&wrong_type, "type")] {
        let reply = register_with(&api, &mut phone, tweak).await;
        assert_code(&reply, 403, "PASSKEY_VERIFICATION_FAILED", what);
    }
    // A garbled attestation object, and a credential that is not a public key.
    let (ceremony, options) = begin_registration(&api).await;
    let mut credential = phone.register(&options, &Tweak::honest());
    credential["response"]["attestationObject"] = json!(b64(b"not cbor"));
    assert_code(&finish_registration(&api, &ceremony, credential).await, 403, "PASSKEY_VERIFICATION_FAILED", "cbor");
    let (ceremony, options) = begin_registration(&api).await;
    let mut credential = phone.register(&options, &Tweak::honest());
    credential["type"] = json!("password");
    assert_code(&finish_registration(&api, &ceremony, credential).await, 403, "PASSKEY_VERIFICATION_FAILED", "type");
    assert_eq!(api.get("/passkeys/status").await.body["credentials"], 0);

    register(&api, &mut phone).await;
    let (_, text) = random_key();
    let backup_id = new_backup_id();
    let bad_signature = Tweak { bad_signature: true, ..Tweak::honest() };
    let create_type = Tweak { client_type: Some("webauthn.create".into()), ..Tweak::honest() };
    for (tweak, what) in [
        (&wrong_challenge, "challenge"),
        (&bad_signature, "signature"),
        (&wrong_rp, "rpIdHash"),
        (&create_type, "type"),
    ] {
        let (ceremony, options) = login(&api, None).await;
        let reply = write(&api, &ceremony, phone.assert(&options, tweak), &backup_id, &text).await;
        assert_code(&reply, 403, "PASSKEY_VERIFICATION_FAILED", what);
    }
    // Another key's signature.
    let mut impostor = Authenticator::new();
    impostor.credential_id = phone.credential_id.clone();
    impostor.counter = 1000;
    let (ceremony, options) = login(&api, None).await;
    let reply = write(&api, &ceremony, impostor.assert(&options, &Tweak::honest()), &backup_id, &text).await;
    assert_code(&reply, 403, "PASSKEY_VERIFICATION_FAILED", "another key");
    // Nothing was stored by the refused writes.
    assert_code(&begin_login(&api, Some(&backup_id)).await, 404, "ENCRYPTION_KEY_NOT_FOUND", "nothing stored");
}

#[tokio::test]
async fn passkey_not_configured_not_registered_and_client_relying_parties() {
    let server = serve_config(tempfile::tempdir().unwrap(), |config| {
        config.rate_limit = RateLimit { per_second: 0.0, burst: 0 };
    })
    .await;
    let api = client(&server, "wallet", None).await;
    let status = api.get("/passkeys/status").await;
    assert_eq!(
        status.body,
        json!({ "configured": false, "relyingParty": null, "registered": false, "credentials": 0 })
    );
    assert_code(&api.post("/passkeys/begin-registration", json!({})).await, 409, "PASSKEY_NOT_CONFIGURED", "reg");
    assert_code(&begin_login(&api, None).await, 409, "PASSKEY_NOT_CONFIGURED", "login");
    assert_code(&begin_login(&api, Some(&new_backup_id())).await, 409, "PASSKEY_NOT_CONFIGURED", "login with id");

    // A client's own relying party works without a service default.
    let own = ClientRelyingParty {
        id: "app.example".into(),
        name: Some("App".into()),
        origins: vec!["https://app.example".into()],
    };
    let configured = client(&server, "configured", Some(own.clone())).await;
    assert_code(&begin_login(&configured, None).await, 404, "PASSKEY_NOT_REGISTERED", "no credentials");
    let mut phone = Authenticator::new();
    let reply = register_with(&configured, &mut phone, &Tweak::origin("https://app.example")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        configured.get("/passkeys/status").await.body["relyingParty"],
        json!({ "id": "app.example", "name": "App" })
    );

    // set_passkey_rp changes the relying party of later ceremonies; removing it leaves none.
    let store = server.running.store();
    let id = store.client_ids_named("configured").await.unwrap().remove(0);
    assert_eq!(store.passkey_rp(&id).await.unwrap(), Some(own));
    assert!(store.set_passkey_rp(&id, None).await.unwrap());
    assert_code(&begin_login(&configured, None).await, 409, "PASSKEY_NOT_CONFIGURED", "removed");
    assert!(!store.set_passkey_rp("0".repeat(32).as_str(), None).await.unwrap());
}

#[tokio::test]
async fn passkey_routes_need_a_key_and_strict_input() {
    let server = enclave().await;
    let api = client(&server, "wallet", None).await;
    let mut phone = Authenticator::new();
    register(&api, &mut phone).await;
    let routes = [
        "/passkeys/begin-registration",
        "/passkeys/finish-registration",
        "/passkeys/begin-login",
        "/passkeys/finish-login/write",
        "/passkeys/finish-login/read",
    ];
    for route in routes {
        assert_code(&server.anonymous().post(route, json!({})).await, 401, "UNAUTHORIZED", route);
        assert_code(&api.with_key("wbk_live_nope").post(route, json!({})).await, 401, "UNAUTHORIZED", route);
    }
    assert_code(&server.anonymous().get("/passkeys/status").await, 401, "UNAUTHORIZED", "status");

    let (_, text) = random_key();
    let backup_id = new_backup_id();
    let (ceremony, options) = login(&api, None).await;
    let credential = phone.assert(&options, &Tweak::honest());
    let good =
        json!({ "ceremonyId": ceremony, "credential": credential, "backupId": backup_id, "encryptionKey": text });
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let cases = vec![
        (with("extra", json!(1)), "unknown field"),
        (without("credential"), "no credential"),
        (without("ceremonyId"), "no ceremonyId"),
        (without("encryptionKey"), "no key"),
        (with("ceremonyId", json!("xyz")), "bad ceremonyId"),
        (with("backupId", json!("ab")), "short backupId"),
        (with("encryptionKey", json!(b64(&[1u8; 31]))), "31-byte key"),
        (with("encryptionKey", json!(format!("{text}="))), "padded key"),
        (with("encryptionKey", json!(Base64::encode_string(&[0xfbu8; 32]))), "standard base64"),
        (with("credential", json!("nope")), "credential a string"),
        (with("credential", json!({ "id": "x" })), "credential incomplete"),
        (json!([]), "array"),
    ];
    for (body, what) in cases {
        assert_code(&api.post("/passkeys/finish-login/write", body).await, 400, "INVALID_REQUEST", what);
    }
    let raw = api
        .send("POST", "/passkeys/finish-login/write", Some(("application/json", b"{\"ceremonyId\":".to_vec())))
        .await;
    assert_code(&raw, 400, "MALFORMED_JSON", "truncated");
    // The refused requests did not consume the ceremony.
    assert_eq!(api.post("/passkeys/finish-login/write", good).await.status, 200);

    for (route, body, what) in [
        ("/passkeys/begin-registration", json!({ "userName": "" }), "empty userName"),
        ("/passkeys/begin-registration", json!({ "userName": "x".repeat(65) }), "long userName"),
        ("/passkeys/begin-registration", json!({ "userName": 5 }), "numeric userName"),
        ("/passkeys/begin-registration", json!({ "name": "x" }), "unknown field"),
        ("/passkeys/begin-login", json!({ "backupId": "zz" }), "bad backupId"),
        ("/passkeys/begin-login", json!({ "backupId": new_backup_id(), "x": 1 }), "unknown field"),
        ("/passkeys/finish-login/read", json!({ "ceremonyId": new_backup_id() }), "read without credential"),
    ] {
        assert_code(&api.post(route, body).await, 400, "INVALID_REQUEST", what);
    }
    let long_ok = api.post("/passkeys/begin-registration", json!({ "userName": "é".repeat(64) })).await;
    assert_eq!(long_ok.status, 200, "{}", long_ok.body);
    assert_code(&api.get("/passkeys/begin-login").await, 405, "METHOD_NOT_ALLOWED", "GET begin-login");
}

#[tokio::test]
async fn passkey_routes_use_the_rate_limit() {
    let server = enclave_with(|config| config.rate_limit = RateLimit { per_second: 0.5, burst: 3 }).await;
    let api = client(&server, "wallet", None).await;
    let other = client(&server, "other", None).await;
    assert_eq!(api.get("/passkeys/status").await.status, 200);
    assert_eq!(api.post("/passkeys/begin-registration", json!({})).await.status, 200);
    // Failed finishes use the budget too.
    let reply = api.post("/passkeys/finish-login/read", json!({ "ceremonyId": new_backup_id() })).await;
    assert_eq!(reply.status, 400);
    let limited = begin_login(&api, None).await;
    assert_code(&limited, 429, "RATE_LIMITED", "fourth request");
    assert!(limited.headers.contains_key("retry-after"));
    assert_eq!(other.get("/passkeys/status").await.status, 200, "per API key");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn passkey_keys_are_sealed_and_survive_rewrap() {
    let server = enclave().await;
    let api = client(&server, "wallet", None).await;
    let mut phone = Authenticator::new();
    register(&api, &mut phone).await;
    let (key, text) = random_key();
    let (first_id, second_id) = (new_backup_id(), new_backup_id());
    assert_eq!(store_key(&api, &mut phone, &first_id, &text).await.status, 200);

    let store = server.running.store();
    let rows = sqlx::query(
        "SELECT id, client_id, backup_id, credential_id, key_sealed, key_id, wrapped_key FROM passkey_encryption_keys",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    let mut row_text = Vec::new();
    for column in ["id", "client_id", "backup_id", "credential_id", "key_sealed", "key_id", "wrapped_key"] {
        let value: String = sqlx::Row::try_get(&rows[0], column).unwrap();
        row_text.extend(value.into_bytes());
        row_text.push(0);
    }
    assert!(contains(&row_text, first_id.as_bytes()) && contains(&row_text, phone.id().as_bytes()));
    let spellings = [
        key.clone(),
        text.clone().into_bytes(),
        Base64::encode_string(&key).into_bytes(),
        hex::encode(&key).into_bytes(),
    ];
    for spelling in &spellings {
        assert!(!contains(&row_text, spelling), "the row holds the key in the clear");
    }
    if !on_postgres() {
        for name in
            [wallet_backup_service::DATABASE_FILE.to_owned(), format!("{}-wal", wallet_backup_service::DATABASE_FILE)]
        {
            let Ok(bytes) = std::fs::read(server.dir.path().join(&name)) else { continue };
            for spelling in &spellings {
                assert!(!contains(&bytes, spelling), "{name} holds the key in the clear");
            }
        }
    }
    // A row moved to another backup id does not open.
    let moved = new_backup_id();
    sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE passkey_encryption_keys SET backup_id = '{moved}'")))
        .execute(store.pool())
        .await
        .unwrap();
    assert_code(&fetch_key(&api, &mut phone, &moved).await, 500, "ENCRYPTION_KEY_UNAVAILABLE", "moved row");
    sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE passkey_encryption_keys SET backup_id = '{first_id}'")))
        .execute(store.pool())
        .await
        .unwrap();

    // Rotation and rewrap.
    let kms = server.running.kms();
    let old = store.passkey_key_id_counts().await.unwrap();
    assert_eq!(old.len(), 1);
    let new_key = kms.local().unwrap().rotate().unwrap();
    let (_, second) = random_key();
    assert_eq!(store_key(&api, &mut phone, &second_id, &second).await.status, 200);
    let mut expected = vec![(old[0].0.clone(), 1), (new_key.clone(), 1)];
    expected.sort();
    assert_eq!(store.passkey_key_id_counts().await.unwrap(), expected);
    let report = store.rewrap_all(kms).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.rewrapped, 1);
    assert_eq!(store.passkey_key_id_counts().await.unwrap(), vec![(new_key, 2)]);
    assert_eq!(fetch_key(&api, &mut phone, &first_id).await.body["encryptionKey"], text);
    assert_eq!(fetch_key(&api, &mut phone, &second_id).await.body["encryptionKey"], second);
}

#[test]
fn passkey_relying_party_checks() {
    for origin in [
        "https://wallet.example",
        "https://id.wallet.example",
        "https://wallet.example:8443",
        "http://localhost",
        "http://localhost:5173",
        APK_ORIGIN,
    ] {
        assert!(check_origin(origin, RP_ID).is_ok(), "{origin}");
    }
    for origin in [
        "https://evil.example",
        "https://badwallet.example",
        "https://wallet.example/",
        "https://wallet.example:443",
        "https://Wallet.example",
        "https://wallet.example/path",
        "http://wallet.example",
        "http://127.0.0.1:5173",
        "ftp://wallet.example",
        "android:apk-key-hash:short",
        "android:apk-key-hash:qhGXDvXkGmKbm1fXAdQVqxpUTnP5Lh1a8mk8ynQl9X0=",
        "android:apk-key-hash:qhGXDvXkGmKbm1fXAdQVqxpUTnP5Lh1a8mk8ynQl9X0x",
        "",
    ] {
        assert!(check_origin(origin, RP_ID).is_err(), "{origin}");
    }
    for id in ["wallet.example", "localhost", "a-b.example"] {
        assert!(wallet_backup_service::passkey::check_rp_id(id).is_ok(), "{id}");
    }
    for id in [
        "",
        "Wallet.example",
        "https://wallet.example",
        "wallet.example:443",
        "127.0.0.1",
        "-a.example",
        "a..example",
        "wallet.example/",
    ] {
        assert!(wallet_backup_service::passkey::check_rp_id(id).is_err(), "{id}");
    }
    // An Android origin alone gives webauthn-rs nothing to anchor the rp id to.
    assert!(RelyingParty::new(RP_ID, None, &[APK_ORIGIN.to_owned()]).is_err());
    assert!(RelyingParty::new(RP_ID, None, &[]).is_err());
    assert!(RelyingParty::new(RP_ID, Some(""), &[ORIGIN.to_owned()]).is_err());
    let rp = RelyingParty::new(RP_ID, None, &[APK_ORIGIN.to_owned(), ORIGIN.to_owned(), ORIGIN.to_owned()]).unwrap();
    assert_eq!((rp.name.as_str(), rp.origins.len()), (RP_ID, 2));
    assert!(rp.webauthn(Duration::from_secs(60)).is_ok());
    let local = RelyingParty::new("localhost", None, &["http://localhost:8080".to_owned()]).unwrap();
    assert!(local.webauthn(Duration::from_secs(60)).is_ok());
}

/// A client's passkeys are bounded (409 `QUOTA_EXCEEDED`, nothing stored);
/// its open ceremonies are bounded without refusing anything: the oldest
/// go, the newest still finishes.
#[tokio::test]
async fn passkey_credentials_and_ceremonies_are_bounded() {
    let server = enclave_with(|config| config.limits.max_passkey_credentials = 1).await;
    let api = client(&server, "bounded", None).await;
    let mut first = Authenticator::new();
    register(&api, &mut first).await;
    let mut second = Authenticator::new();
    let refused = register_with(&api, &mut second, &Tweak::honest()).await;
    assert_code(&refused, 409, "QUOTA_EXCEEDED", "a second passkey");
    assert_eq!(api.get("/passkeys/status").await.body["credentials"], 1);

    let mut ceremonies = Vec::new();
    for _ in 0..40 {
        ceremonies.push(login(&api, None).await);
    }
    let open: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM passkey_ceremonies")
        .fetch_one(server.running.store().pool())
        .await
        .unwrap();
    assert!(open <= 16, "{open} ceremonies kept for one client");
    let (oldest, options) = &ceremonies[0];
    let reply = write(&api, oldest, first.assert(options, &Tweak::honest()), &new_backup_id(), &random_key().1).await;
    assert_code(&reply, 403, "PASSKEY_CEREMONY_UNKNOWN", "the oldest ceremony was dropped");
    let (newest, options) = ceremonies.last().unwrap();
    let reply = write(&api, newest, first.assert(options, &Tweak::honest()), &new_backup_id(), &random_key().1).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}
