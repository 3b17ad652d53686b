//! The Firebase Auth key enclave (`PUT`/`GET /v1/backup/encrypt-key`) over
//! real HTTP on loopback, against the real router (SQLite, or PostgreSQL with
//! `WALLET_BACKUP_TEST_POSTGRES`) and the development token issuer serving
//! its JWK Set over HTTP on loopback: valid and forged tokens, per-user and
//! per-client scoping, idempotent and conflicting PUTs, clients without a
//! project, the JWK cache (max-age, unknown-kid refetch limit, fetch
//! failures), rate limit and strict input, sealing, tampering and rewrap.

use std::sync::OnceLock;
use std::time::Duration;

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use hmac::{KeyInit, Mac};
use serde_json::{json, Value};
use wallet_backup_service::firebase::dev::{encode_with_signature, DevIssuer, IssuerServer};
use wallet_backup_service::firebase::{unix_now, FirebaseConfig};
use wallet_backup_service::store::NewClient;
use wallet_backup_service::{RateLimit, ServeConfig};

use crate::common::{new_backup_id, on_postgres, serve_config, Api, Reply, TestServer};

const ROUTE: &str = "/v1/backup/encrypt-key";
const PROJECT: &str = "wallet-demo-project";

/// One RSA key for the whole test binary (generating one takes a moment).
fn key_der() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| DevIssuer::generate(PROJECT).unwrap().to_pkcs8_der().unwrap())
}

fn issuer() -> DevIssuer {
    DevIssuer::from_pkcs8_der(key_der(), PROJECT).unwrap()
}

struct Enclave {
    server: TestServer,
    issuer: IssuerServer,
}

async fn enclave_with(max_age: u64, edit: impl FnOnce(&mut ServeConfig)) -> Enclave {
    let issuer = IssuerServer::start("127.0.0.1:0".parse().unwrap(), issuer(), max_age).await.unwrap();
    let jwks_url = issuer.jwks_url();
    let server = serve_config(tempfile::tempdir().unwrap(), |config| {
        config.rate_limit = RateLimit { per_second: 0.0, burst: 0 };
        config.firebase = FirebaseConfig { jwks_url, ..FirebaseConfig::default() };
        edit(config);
    })
    .await;
    Enclave { server, issuer }
}

async fn enclave() -> Enclave {
    enclave_with(3600, |_| {}).await
}

impl Enclave {
    /// A client with this Firebase project (or none).
    async fn client(&self, name: &str, project: Option<&str>) -> Api {
        let store = self.server.running.store();
        let (_, key) = store
            .create_client(
                self.server.running.kms(),
                &NewClient { firebase_project_id: project, ..NewClient::new(name) },
            )
            .await
            .unwrap();
        Api::new(&self.server.base, Some(key.expose()))
    }

    fn token(&self, sub: &str) -> String {
        self.issuer.issuer().token(sub, 0, 3600)
    }

    /// A token from this issuer's key with `edit` applied to the standard header and claims.
    fn forged(&self, sub: &str, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
        let issuer = self.issuer.issuer();
        let mut header = issuer.header();
        let mut claims = issuer.claims(sub, unix_now(), 0, 3600);
        edit(&mut header, &mut claims);
        issuer.encode(&header, &claims)
    }
}

fn random_key() -> (Vec<u8>, String) {
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).unwrap();
    let text = Base64UrlUnpadded::encode_string(&key);
    (key, text)
}

async fn put_key(api: &Api, token: Option<&str>, backup_id: &str, key: &str) -> Reply {
    put_body(api, token, json!({ "backupId": backup_id, "encryptionKey": key })).await
}

async fn put_body(api: &Api, token: Option<&str>, body: Value) -> Reply {
    put_raw(api, token, "application/json", serde_json::to_vec(&body).unwrap()).await
}

async fn put_raw(api: &Api, token: Option<&str>, content_type: &str, body: Vec<u8>) -> Reply {
    let headers: Vec<(&str, &str)> = token.map(|t| ("x-firebase-token", t)).into_iter().collect();
    api.send_with("PUT", ROUTE, &headers, Some((content_type, body))).await
}

async fn get_key(api: &Api, token: Option<&str>, backup_id: &str) -> Reply {
    get_query(api, token, &format!("backupId={backup_id}")).await
}

async fn get_query(api: &Api, token: Option<&str>, query: &str) -> Reply {
    let headers: Vec<(&str, &str)> = token.map(|t| ("x-firebase-token", t)).into_iter().collect();
    api.send_with("GET", &format!("{ROUTE}?{query}"), &headers, None).await
}

fn assert_code(reply: &Reply, status: u16, code: &str, what: &str) {
    assert_eq!((reply.status, reply.code()), (status, code), "{what}: {}", reply.body);
}

#[tokio::test]
async fn firebase_key_put_then_get() {
    let enclave = enclave().await;
    let api = enclave.client("wallet", Some(PROJECT)).await;
    let token = enclave.token("alice-uid");
    let (key, text) = random_key();
    let backup_id = new_backup_id();

    let put = put_key(&api, Some(&token), &backup_id.to_ascii_uppercase(), &text).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body, json!({ "backupId": backup_id }));

    let got = get_key(&api, Some(&token), &backup_id).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body, json!({ "backupId": backup_id, "encryptionKey": text }));
    assert_eq!(Base64UrlUnpadded::decode_vec(got.body["encryptionKey"].as_str().unwrap()).unwrap(), key);
    // Upper-case hex finds it too.
    assert_eq!(get_key(&api, Some(&token), &backup_id.to_ascii_uppercase()).await.body["encryptionKey"], text);

    // The same PUT again is harmless; another key for the backup id is refused and changes nothing.
    let again = put_key(&api, Some(&token), &backup_id, &text).await;
    assert_eq!((again.status, &again.body), (200, &put.body));
    let (_, other) = random_key();
    let conflict = put_key(&api, Some(&token), &backup_id, &other).await;
    assert_code(&conflict, 409, "BACKUP_ID_EXISTS", "another key for a stored backupId");
    assert_eq!(get_key(&api, Some(&token), &backup_id).await.body["encryptionKey"], text);

    // A new backup gets its own key; the older one stays recoverable.
    let newer_id = new_backup_id();
    assert_eq!(put_key(&api, Some(&token), &newer_id, &other).await.status, 200);
    assert_eq!(get_key(&api, Some(&token), &newer_id).await.body["encryptionKey"], other);
    assert_eq!(get_key(&api, Some(&token), &backup_id).await.body["encryptionKey"], text);

    // A fresh token of the same user (a new sign-in) reads the same keys.
    let later = enclave.issuer.issuer().token("alice-uid", 0, 60);
    assert_eq!(get_key(&api, Some(&later), &backup_id).await.body["encryptionKey"], text);

    let unknown = get_key(&api, Some(&token), &new_backup_id()).await;
    assert_code(&unknown, 404, "ENCRYPTION_KEY_NOT_FOUND", "unknown backupId");
}

#[tokio::test]
async fn firebase_bad_tokens_are_refused_with_their_code() {
    let enclave = enclave().await;
    let api = enclave.client("wallet", Some(PROJECT)).await;
    let uid = "victim-uid";
    let good = enclave.token(uid);
    let (_, text) = random_key();
    let backup_id = new_backup_id();

    // Tokens whose header is refused never cause a key fetch.
    let none = encode_with_signature(
        &json!({ "alg": "none", "kid": enclave.issuer.issuer().kid(), "typ": "JWT" }),
        &enclave.issuer.issuer().claims(uid, unix_now(), 0, 3600),
        b"",
    );
    let none_sig = format!("{}.c2ln", none.trim_end_matches('.'));
    let hs256 = {
        let header = json!({ "alg": "HS256", "kid": enclave.issuer.issuer().kid(), "typ": "JWT" });
        let claims = enclave.issuer.issuer().claims(uid, unix_now(), 0, 3600);
        let input = wallet_backup_service::firebase::dev::signing_input(&header, &claims);
        // The classic confusion attack: the RSA public key as the HMAC secret.
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&enclave.issuer.issuer().public_key_der()).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", Base64UrlUnpadded::encode_string(&mac.finalize().into_bytes()))
    };
    let rs512 = enclave.forged(uid, |h, _| h["alg"] = json!("RS512"));
    for (token, what) in [(&none, "alg none"), (&none_sig, "alg none, signed"), (&hs256, "HS256"), (&rs512, "RS512")] {
        for reply in [put_key(&api, Some(token), &backup_id, &text).await, get_key(&api, Some(token), &backup_id).await]
        {
            assert_code(&reply, 401, "FIREBASE_TOKEN_INVALID", what);
            assert!(reply.body["error"]["message"].as_str().unwrap().contains("alg"), "{what}: {}", reply.body);
        }
    }
    assert_eq!(enclave.issuer.jwks_fetches(), 0, "refused before any key lookup");

    // The victim stores a key; none of the bad tokens below may read or change it.
    assert_eq!(put_key(&api, Some(&good), &backup_id, &text).await.status, 200);
    assert_eq!(enclave.issuer.jwks_fetches(), 1);

    let now = unix_now();
    let other_key = DevIssuer::generate(PROJECT).unwrap();
    let other_signed = {
        // Another key's signature under our key's kid.
        let issuer = enclave.issuer.issuer();
        other_key.encode(&issuer.header(), &issuer.claims(uid, now, 0, 3600))
    };
    let tampered = {
        // Signed for another user, then the claims swapped for the victim's.
        let signed = enclave.token("attacker-uid");
        let parts: Vec<&str> = signed.split('.').collect();
        let claims = enclave.issuer.issuer().claims(uid, now, 0, 3600);
        format!("{}.{}.{}", parts[0], Base64UrlUnpadded::encode_string(claims.to_string().as_bytes()), parts[2])
    };
    let cases: Vec<(String, &str, &str)> = vec![
        ("not-a-jwt".into(), "FIREBASE_TOKEN_INVALID", "garbage"),
        ("a.b.c".into(), "FIREBASE_TOKEN_INVALID", "three parts of junk"),
        (format!("{good}x"), "FIREBASE_TOKEN_INVALID", "signature with a stray character"),
        (other_signed, "FIREBASE_TOKEN_INVALID", "signed by another key"),
        (tampered, "FIREBASE_TOKEN_INVALID", "claims changed after signing"),
        (enclave.forged(uid, |h, _| h["kid"] = json!("no-such-kid")), "FIREBASE_TOKEN_INVALID", "unknown kid"),
        (
            enclave.forged(uid, |h, _| h.as_object_mut().unwrap().remove("kid").map(|_| ()).unwrap()),
            "FIREBASE_TOKEN_INVALID",
            "no kid",
        ),
        (enclave.forged(uid, |_, c| c["exp"] = json!(now - 10)), "FIREBASE_TOKEN_EXPIRED", "expired"),
        (enclave.forged(uid, |_, c| c["exp"] = json!(now)), "FIREBASE_TOKEN_EXPIRED", "expiring now"),
        (enclave.forged(uid, |_, c| c["aud"] = json!("other-project")), "FIREBASE_TOKEN_INVALID", "wrong aud"),
        (enclave.forged(uid, |_, c| c["aud"] = json!([PROJECT])), "FIREBASE_TOKEN_INVALID", "aud as an array"),
        (
            enclave.forged(uid, |_, c| c["iss"] = json!("https://securetoken.google.com/other-project")),
            "FIREBASE_TOKEN_INVALID",
            "wrong iss",
        ),
        (
            enclave.forged(uid, |_, c| c["iss"] = json!(format!("https://accounts.google.com/{PROJECT}"))),
            "FIREBASE_TOKEN_INVALID",
            "another issuer",
        ),
        (
            DevIssuer::from_pkcs8_der(key_der(), "other-project").unwrap().token(uid, 0, 3600),
            "FIREBASE_TOKEN_INVALID",
            "a token of another project",
        ),
        (enclave.forged("", |_, _| {}), "FIREBASE_TOKEN_INVALID", "empty sub"),
        (enclave.forged(&"u".repeat(129), |_, _| {}), "FIREBASE_TOKEN_INVALID", "129-character sub"),
        (enclave.forged(uid, |_, c| c["sub"] = json!(7)), "FIREBASE_TOKEN_INVALID", "numeric sub"),
        (enclave.forged(uid, |_, c| c["iat"] = json!(now + 120)), "FIREBASE_TOKEN_INVALID", "iat in the future"),
        (
            enclave.forged(uid, |_, c| c["auth_time"] = json!(now + 120)),
            "FIREBASE_TOKEN_INVALID",
            "auth_time in the future",
        ),
        (
            enclave.forged(uid, |_, c| c.as_object_mut().unwrap().remove("auth_time").map(|_| ()).unwrap()),
            "FIREBASE_TOKEN_INVALID",
            "no auth_time",
        ),
        (
            enclave.forged(uid, |_, c| c.as_object_mut().unwrap().remove("iat").map(|_| ()).unwrap()),
            "FIREBASE_TOKEN_INVALID",
            "no iat",
        ),
    ];
    let (_, attacker_key) = random_key();
    for (token, code, what) in &cases {
        let got = get_key(&api, Some(token), &backup_id).await;
        assert_code(&got, 401, code, what);
        assert!(got.body.get("encryptionKey").is_none());
        let message = got.body["error"]["message"].as_str().unwrap();
        assert!(token.len() < 20 || !message.contains(token.as_str()), "{what}: the message echoes the token");
        let put = put_key(&api, Some(token), &new_backup_id(), &attacker_key).await;
        assert_code(&put, 401, code, what);
        let overwrite = put_key(&api, Some(token), &backup_id, &attacker_key).await;
        assert_code(&overwrite, 401, code, what);
    }
    // Missing or empty header.
    assert_code(&get_key(&api, None, &backup_id).await, 401, "FIREBASE_TOKEN_MISSING", "no token");
    assert_code(&get_key(&api, Some(""), &backup_id).await, 401, "FIREBASE_TOKEN_MISSING", "empty token");
    assert_code(&put_key(&api, None, &backup_id, &text).await, 401, "FIREBASE_TOKEN_MISSING", "no token");

    // A stale sign-in may store a key but not read one.
    let stale = enclave.issuer.issuer().token(uid, 301, 3600);
    let reply = get_key(&api, Some(&stale), &backup_id).await;
    assert_code(&reply, 401, "FIREBASE_REAUTHENTICATION_REQUIRED", "stale auth_time");
    assert!(reply.body.get("encryptionKey").is_none());
    assert_eq!(put_key(&api, Some(&stale), &new_backup_id(), &text).await.status, 200);
    // Within the limit, and within the 60 s clock skew for iat/auth_time, it is fine.
    let recent = enclave.issuer.issuer().token(uid, 290, 3600);
    assert_eq!(get_key(&api, Some(&recent), &backup_id).await.status, 200);
    let ahead = enclave.forged(uid, |_, c| {
        c["iat"] = json!(now + 30);
        c["auth_time"] = json!(now + 30);
    });
    assert_eq!(get_key(&api, Some(&ahead), &backup_id).await.status, 200);
    let longest = enclave.forged(&"u".repeat(128), |_, _| {});
    assert_eq!(put_key(&api, Some(&longest), &new_backup_id(), &text).await.status, 200);

    // Nothing above changed the victim's key.
    assert_eq!(get_key(&api, Some(&good), &backup_id).await.body["encryptionKey"], text);
    // Only the one fetch: no token above made the service refetch (unknown kid within 60 s).
    assert_eq!(enclave.issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn firebase_keys_are_scoped_by_user_and_by_client() {
    let enclave = enclave().await;
    let a = enclave.client("a", Some(PROJECT)).await;
    let b = enclave.client("b", Some(PROJECT)).await;
    let other_project = enclave.client("c", Some("other-project")).await;
    let alice = enclave.token("alice");
    let bob = enclave.token("bob");
    let (_, text) = random_key();
    let backup_id = new_backup_id();
    assert_eq!(put_key(&a, Some(&alice), &backup_id, &text).await.status, 200);

    let unknown = get_key(&a, Some(&alice), &new_backup_id()).await;
    assert_code(&unknown, 404, "ENCRYPTION_KEY_NOT_FOUND", "unknown");
    // Another user of the same client: the same answer as an unknown backup id.
    let other_user = get_key(&a, Some(&bob), &backup_id).await;
    assert_eq!((other_user.status, &other_user.body), (404, &unknown.body));
    // The same user through another client's API key: rows are per client.
    let other_client = get_key(&b, Some(&alice), &backup_id).await;
    assert_eq!((other_client.status, &other_client.body), (404, &unknown.body));
    // A client of another project does not accept this project's tokens at all.
    assert_code(&get_key(&other_project, Some(&alice), &backup_id).await, 401, "FIREBASE_TOKEN_INVALID", "aud");

    // Bob and client b may use the same backup id for their own keys; alice's stays.
    let (_, bob_key) = random_key();
    assert_eq!(put_key(&a, Some(&bob), &backup_id, &bob_key).await.status, 200);
    let (_, b_key) = random_key();
    assert_eq!(put_key(&b, Some(&alice), &backup_id, &b_key).await.status, 200);
    assert_eq!(get_key(&a, Some(&alice), &backup_id).await.body["encryptionKey"], text);
    assert_eq!(get_key(&a, Some(&bob), &backup_id).await.body["encryptionKey"], bob_key);
    assert_eq!(get_key(&b, Some(&alice), &backup_id).await.body["encryptionKey"], b_key);

    // Without a valid API key nothing else is looked at.
    let anonymous = enclave.server.anonymous();
    assert_code(&get_key(&anonymous, Some(&alice), &backup_id).await, 401, "UNAUTHORIZED", "no API key");
    assert_code(&put_key(&anonymous, Some(&alice), &backup_id, &text).await, 401, "UNAUTHORIZED", "no API key");
}

#[tokio::test]
async fn firebase_client_without_project_gets_409() {
    let enclave = enclave().await;
    let api = enclave.client("plain", None).await;
    let token = enclave.token("alice");
    let (_, text) = random_key();
    let backup_id = new_backup_id();
    assert_code(&put_key(&api, Some(&token), &backup_id, &text).await, 409, "FIREBASE_NOT_CONFIGURED", "put");
    assert_code(&get_key(&api, Some(&token), &backup_id).await, 409, "FIREBASE_NOT_CONFIGURED", "get");
    assert_code(&get_key(&api, None, &backup_id).await, 409, "FIREBASE_NOT_CONFIGURED", "get without token");
    assert_eq!(enclave.issuer.jwks_fetches(), 0);

    // Once the operator sets the project, the routes work.
    let id = api.get("/api/v3/clients/me").await.body["id"].as_str().unwrap().to_owned();
    assert!(enclave.server.running.store().set_firebase_project(&id, Some(PROJECT)).await.unwrap());
    assert!(!enclave.server.running.store().set_firebase_project(&new_backup_id(), Some(PROJECT)).await.unwrap());
    assert_eq!(put_key(&api, Some(&token), &backup_id, &text).await.status, 200);
    assert_eq!(get_key(&api, Some(&token), &backup_id).await.body["encryptionKey"], text);
}

#[tokio::test]
async fn firebase_jwks_cache_honours_max_age_and_limits_unknown_kid_refetches() {
    // Intervals with room to spare on a loaded machine: each phase's requests
    // must fit well inside the interval they test.
    let enclave = enclave_with(8, |config| {
        config.firebase.unknown_kid_refetch_interval = Duration::from_secs(3);
    })
    .await;
    let api = enclave.client("wallet", Some(PROJECT)).await;
    let token = enclave.token("alice");
    let (_, text) = random_key();
    let backup_id = new_backup_id();
    assert_eq!(put_key(&api, Some(&token), &backup_id, &text).await.status, 200);
    assert_eq!(enclave.issuer.jwks_fetches(), 1);
    for _ in 0..5 {
        assert_eq!(get_key(&api, Some(&token), &backup_id).await.status, 200);
    }
    // Junk kids right after a fetch: no refetch.
    let junk = |n: usize| enclave.forged("alice", |h, _| h["kid"] = json!(format!("junk-{n}")));
    for n in 0..5 {
        assert_code(&get_key(&api, Some(&junk(n)), &backup_id).await, 401, "FIREBASE_TOKEN_INVALID", "junk kid");
    }
    assert_eq!(enclave.issuer.jwks_fetches(), 1, "cached for max-age, junk kids wait for the refetch interval");

    // After the refetch interval, a burst of junk kids costs exactly one fetch.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    for n in 0..10 {
        assert_code(&get_key(&api, Some(&junk(n)), &backup_id).await, 401, "FIREBASE_TOKEN_INVALID", "junk kid");
    }
    assert_eq!(enclave.issuer.jwks_fetches(), 2);

    // After max-age (8 s since that fetch), the next request fetches again; then cached again.
    tokio::time::sleep(Duration::from_millis(8100)).await;
    assert_eq!(get_key(&api, Some(&token), &backup_id).await.status, 200);
    assert_eq!(get_key(&api, Some(&token), &backup_id).await.status, 200);
    assert_eq!(enclave.issuer.jwks_fetches(), 3);

    // The endpoint goes away: the still-valid cache keeps serving, even after a failed refetch.
    let Enclave { server, issuer } = enclave;
    drop(issuer);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let junk = issuer_token_with_kid("junk-after");
    assert_code(
        &get_key(&api, Some(&junk), &backup_id).await,
        401,
        "FIREBASE_TOKEN_INVALID",
        "junk kid, endpoint down",
    );
    assert_eq!(get_key(&api, Some(&token), &backup_id).await.status, 200, "valid cache keeps serving");
    // Once the cache expires, with no keys: 503.
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let reply = get_key(&api, Some(&token), &backup_id).await;
    assert_code(&reply, 503, "FIREBASE_KEYS_UNAVAILABLE", "expired cache, endpoint down");
    let reply = put_key(&api, Some(&token), &new_backup_id(), &text).await;
    assert_code(&reply, 503, "FIREBASE_KEYS_UNAVAILABLE", "expired cache, endpoint down");
    drop(server);
}

fn issuer_token_with_kid(kid: &str) -> String {
    let issuer = issuer();
    let mut header = issuer.header();
    header["kid"] = json!(kid);
    issuer.encode(&header, &issuer.claims("alice", unix_now(), 0, 3600))
}

#[tokio::test]
async fn firebase_keys_unavailable_without_an_endpoint() {
    // A closed port on loopback: nothing to fetch.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let server = serve_config(tempfile::tempdir().unwrap(), |config| {
        config.rate_limit = RateLimit { per_second: 0.0, burst: 0 };
        config.firebase = FirebaseConfig { jwks_url: format!("http://{closed}/jwks"), ..FirebaseConfig::default() };
    })
    .await;
    let (_, key) = server
        .running
        .store()
        .create_client(server.running.kms(), &NewClient { firebase_project_id: Some(PROJECT), ..NewClient::new("w") })
        .await
        .unwrap();
    let api = Api::new(&server.base, Some(key.expose()));
    let token = issuer().token("alice", 0, 3600);
    let reply = get_key(&api, Some(&token), &new_backup_id()).await;
    assert_code(&reply, 503, "FIREBASE_KEYS_UNAVAILABLE", "no endpoint");
    // A malformed token is still a 401: its header is refused before any key lookup.
    assert_code(&get_key(&api, Some("x.y.z"), &new_backup_id()).await, 401, "FIREBASE_TOKEN_INVALID", "junk");
}

#[tokio::test]
async fn firebase_routes_rate_limit_and_strict_input() {
    let enclave = enclave().await;
    let api = enclave.client("wallet", Some(PROJECT)).await;
    let token = enclave.token("alice");
    let t = Some(token.as_str());
    let (key, text) = random_key();
    let backup_id = new_backup_id();
    let good = || json!({ "backupId": backup_id, "encryptionKey": text });
    let with = |field: &str, value: Value| {
        let mut body = good();
        body[field] = value;
        body
    };
    let cases = vec![
        (with("extra", json!(1)), "unknown field"),
        (json!({ "backupId": backup_id }), "missing key"),
        (json!({ "encryptionKey": text }), "missing backupId"),
        (with("backupId", json!("ab".repeat(15))), "short backupId"),
        (with("backupId", json!("zz".repeat(16))), "non-hex backupId"),
        (with("backupId", json!(5)), "numeric backupId"),
        (with("encryptionKey", json!(Base64UrlUnpadded::encode_string(&key[..31]))), "31-byte key"),
        (
            with("encryptionKey", json!(Base64UrlUnpadded::encode_string(&[key.clone(), vec![1]].concat()))),
            "33-byte key",
        ),
        (with("encryptionKey", json!(format!("{text}="))), "padded"),
        (with("encryptionKey", json!(Base64::encode_string(&[0xfbu8; 32]).trim_end_matches('='))), "standard base64"),
        (with("encryptionKey", json!("")), "empty key"),
        (with("encryptionKey", json!(hex::encode(&key))), "hex key"),
        (json!([]), "array"),
    ];
    for (body, what) in cases {
        assert_code(&put_body(&api, t, body).await, 400, "INVALID_REQUEST", what);
    }
    assert_code(&put_raw(&api, t, "application/json", b"{\"backupId\":".to_vec()).await, 400, "MALFORMED_JSON", "json");
    let plain = put_raw(&api, t, "text/plain", serde_json::to_vec(&good()).unwrap()).await;
    assert_code(&plain, 415, "UNSUPPORTED_MEDIA_TYPE", "content type");
    let huge = vec![b' '; wallet_backup_service::api::BODY_LIMIT + 1];
    assert_code(&put_raw(&api, t, "application/json", huge).await, 413, "PAYLOAD_TOO_LARGE", "body limit");
    // Nothing was stored by the refused requests.
    assert_code(&get_key(&api, t, &backup_id).await, 404, "ENCRYPTION_KEY_NOT_FOUND", "nothing stored");

    for (query, what) in [
        ("".to_owned(), "no backupId"),
        (format!("backupId={backup_id}&x=1"), "extra parameter"),
        ("backupId=123".to_owned(), "short backupId"),
        (format!("backupid={backup_id}"), "misspelt parameter"),
    ] {
        assert_code(&get_query(&api, t, &query).await, 400, "INVALID_REQUEST", what);
    }
    let delete = api.send_with("DELETE", ROUTE, &[("x-firebase-token", &token)], None).await;
    assert_code(&delete, 405, "METHOD_NOT_ALLOWED", "DELETE");

    // CORS: pages may send the token header.
    let preflight = api
        .send_with(
            "OPTIONS",
            ROUTE,
            &[
                ("origin", "https://wallet.example"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "authorization,content-type,x-firebase-token"),
            ],
            None,
        )
        .await;
    assert_eq!(preflight.status, 200);
    let allowed = preflight.headers["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed.contains("x-firebase-token"), "{allowed}");
}

#[tokio::test]
async fn firebase_routes_use_the_rate_limit() {
    let enclave = enclave_with(3600, |config| config.rate_limit = RateLimit { per_second: 0.5, burst: 3 }).await;
    let api = enclave.client("wallet", Some(PROJECT)).await;
    let other = enclave.client("other", Some(PROJECT)).await;
    let token = enclave.token("alice");
    let (_, text) = random_key();
    let backup_id = new_backup_id();
    assert_eq!(put_key(&api, Some(&token), &backup_id, &text).await.status, 200);
    assert_eq!(get_key(&api, Some(&token), &backup_id).await.status, 200);
    // Failed token checks use the budget too: no free guessing.
    assert_eq!(get_key(&api, Some("x.y.z"), &backup_id).await.status, 401);
    let limited = get_key(&api, Some(&token), &backup_id).await;
    assert_code(&limited, 429, "RATE_LIMITED", "fourth request");
    assert!(limited.headers.contains_key("retry-after"));
    assert_code(&put_key(&api, Some(&token), &new_backup_id(), &text).await, 429, "RATE_LIMITED", "put");
    assert_eq!(get_key(&other, Some(&token), &backup_id).await.status, 404, "per API key");
}

/// Every text a stored key could appear as.
fn spellings(key: &[u8]) -> Vec<Vec<u8>> {
    vec![
        key.to_vec(),
        Base64UrlUnpadded::encode_string(key).into_bytes(),
        Base64::encode_string(key).into_bytes(),
        Base64::encode_string(key).trim_end_matches('=').as_bytes().to_vec(),
        hex::encode(key).into_bytes(),
    ]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn firebase_keys_are_sealed_and_bound_to_their_row() {
    let enclave = enclave().await;
    let api = enclave.client("wallet", Some(PROJECT)).await;
    let alice = enclave.token("alice");
    let mallory = enclave.token("mallory");
    let (key, text) = random_key();
    let backup_id = new_backup_id();
    assert_eq!(put_key(&api, Some(&alice), &backup_id, &text).await.status, 200);

    let store = enclave.server.running.store();
    let rows = sqlx::query(
        "SELECT id, client_id, firebase_uid, backup_id, key_sealed, key_id, wrapped_key FROM firebase_encryption_keys",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    let mut row_text = Vec::new();
    for column in ["id", "client_id", "firebase_uid", "backup_id", "key_sealed", "key_id", "wrapped_key"] {
        let value: String = sqlx::Row::try_get(&rows[0], column).unwrap();
        row_text.extend(value.into_bytes());
        row_text.push(0);
    }
    assert!(contains(&row_text, b"alice") && contains(&row_text, backup_id.as_bytes()));
    for spelling in spellings(&key) {
        assert!(!contains(&row_text, &spelling), "the row holds the key in the clear");
    }
    if !on_postgres() {
        // Nor anywhere in the SQLite files.
        for name in
            [wallet_backup_service::DATABASE_FILE.to_owned(), format!("{}-wal", wallet_backup_service::DATABASE_FILE)]
        {
            let Ok(bytes) = std::fs::read(enclave.server.dir.path().join(&name)) else { continue };
            for spelling in spellings(&key) {
                assert!(!contains(&bytes, &spelling), "{name} holds the key in the clear");
            }
        }
    }

    // A row moved to another user does not open for that user.
    sqlx::query("UPDATE firebase_encryption_keys SET firebase_uid = 'mallory'").execute(store.pool()).await.unwrap();
    let stolen = get_key(&api, Some(&mallory), &backup_id).await;
    assert_code(&stolen, 500, "ENCRYPTION_KEY_UNAVAILABLE", "row moved to another uid");
    assert!(stolen.body.get("encryptionKey").is_none());
    sqlx::query("UPDATE firebase_encryption_keys SET firebase_uid = 'alice'").execute(store.pool()).await.unwrap();
    assert_eq!(get_key(&api, Some(&alice), &backup_id).await.body["encryptionKey"], text);
}

#[tokio::test]
async fn firebase_keys_are_covered_by_kms_rewrap() {
    let enclave = enclave().await;
    let api = enclave.client("wallet", Some(PROJECT)).await;
    let token = enclave.token("alice");
    let (_, first) = random_key();
    let (_, second) = random_key();
    let (first_id, second_id) = (new_backup_id(), new_backup_id());
    assert_eq!(put_key(&api, Some(&token), &first_id, &first).await.status, 200);
    let store = enclave.server.running.store();
    let kms = enclave.server.running.kms();
    let old = store.firebase_key_id_counts().await.unwrap();
    assert_eq!(old.len(), 1);

    let new_key = kms.local().unwrap().rotate().unwrap();
    assert_eq!(put_key(&api, Some(&token), &second_id, &second).await.status, 200);
    let counts = store.firebase_key_id_counts().await.unwrap();
    let mut expected = vec![(old[0].0.clone(), 1), (new_key.clone(), 1)];
    expected.sort();
    assert_eq!(counts, expected);

    let report = store.rewrap_all(kms).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.rewrapped, 1);
    assert_eq!(store.firebase_key_id_counts().await.unwrap(), vec![(new_key, 2)]);
    assert_eq!(get_key(&api, Some(&token), &first_id).await.body["encryptionKey"], first);
    assert_eq!(get_key(&api, Some(&token), &second_id).await.body["encryptionKey"], second);
}

/// A client's enclave keys are bounded (409 `QUOTA_EXCEEDED`, nothing
/// stored), and `prune` removes keys whose backup never got a pair once they
/// are old, but never a key whose backup has a pair.
#[tokio::test]
async fn firebase_keys_are_bounded_and_orphans_pruned() {
    let enclave = enclave_with(3600, |config| {
        config.limits.max_enclave_keys = 2;
        config.retention.prune_interval = Duration::ZERO;
    })
    .await;
    let api = enclave.client("bounded", Some(PROJECT)).await;
    let token = enclave.token("user-1");
    let with_pair = new_backup_id();
    let orphan = new_backup_id();
    for backup_id in [&with_pair, &orphan] {
        assert_eq!(put_key(&api, Some(&token), backup_id, &random_key().1).await.status, 200);
    }
    let third = new_backup_id();
    let refused = put_key(&api, Some(&token), &third, &random_key().1).await;
    assert_code(&refused, 409, "QUOTA_EXCEEDED", "a third key");
    assert_code(&get_key(&api, Some(&token), &third).await, 404, "ENCRYPTION_KEY_NOT_FOUND", "refused key");
    assert_eq!(api.create_pair("FIREBASE", &with_pair, "share").await.status, 201);

    // Eight days later.
    let store = enclave.server.running.store();
    sqlx::query("UPDATE firebase_encryption_keys SET created_at = created_at - 691200000000")
        .execute(store.pool())
        .await
        .unwrap();
    let report = store.prune().await.unwrap();
    assert_eq!(report.enclave_keys, 1, "{report:?}");
    assert_code(&get_key(&api, Some(&token), &orphan).await, 404, "ENCRYPTION_KEY_NOT_FOUND", "orphan");
    assert_eq!(get_key(&api, Some(&token), &with_pair).await.status, 200, "a key whose backup has a pair stays");
    assert_eq!(put_key(&api, Some(&token), &third, &random_key().1).await.status, 200, "room was made");
}
