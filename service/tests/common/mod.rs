//! Shared helpers of the integration tests: an in-process service on
//! loopback with a temporary data directory, and a small HTTP client.
#![allow(dead_code)]

use std::path::Path;

use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::Value;
use tempfile::TempDir;

pub mod authenticator;
pub mod pin_guard;
use wallet_backup_service::store::NewClient;
use wallet_backup_service::{start, Backend, RateLimit, Running, ServeConfig, WebhookPolicy};

/// A service on 127.0.0.1 with its own data directory.
pub struct TestServer {
    pub running: Running,
    pub base: String,
    pub dir: TempDir,
}

/// `WALLET_BACKUP_TEST_POSTGRES=postgres://user@host:port` runs the
/// in-process tests against PostgreSQL: each test gets a new database there.
pub const POSTGRES_ENV: &str = "WALLET_BACKUP_TEST_POSTGRES";

pub fn on_postgres() -> bool {
    std::env::var_os(POSTGRES_ENV).is_some()
}

/// The backend of a test: the SQLite file in `dir`, or a fresh PostgreSQL database.
pub async fn backend_for(dir: &Path) -> Backend {
    let database_url = match std::env::var(POSTGRES_ENV) {
        Ok(server) => {
            let name = format!("wbtest_{}", new_backup_id());
            sqlx::any::install_default_drivers();
            let mut conn =
                <sqlx::AnyConnection as sqlx::Connection>::connect(&format!("{server}/postgres")).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
            Some(format!("{server}/{name}"))
        }
        Err(_) => None,
    };
    Backend { data_dir: dir.to_path_buf(), database_url, kms_file: None, kms: Default::default() }
}

pub fn backend(dir: &Path) -> Backend {
    Backend { data_dir: dir.to_path_buf(), database_url: None, kms_file: None, kms: Default::default() }
}

pub async fn serve_in(dir: TempDir, rate_limit: RateLimit) -> TestServer {
    serve_with(dir, rate_limit, WebhookPolicy::default()).await
}

pub async fn serve_with(dir: TempDir, rate_limit: RateLimit, webhook: WebhookPolicy) -> TestServer {
    serve_config(dir, |config| {
        config.rate_limit = rate_limit;
        config.webhook = webhook;
    })
    .await
}

/// A service on 127.0.0.1 with the default settings as changed by `edit`.
pub async fn serve_config(dir: TempDir, edit: impl FnOnce(&mut ServeConfig)) -> TestServer {
    let backend = backend_for(dir.path()).await;
    let mut config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), backend);
    edit(&mut config);
    let running = start(config).await.expect("service starts");
    let base = format!("http://{}", running.addr());
    TestServer { running, base, dir }
}

/// A service without rate limit.
pub async fn serve() -> TestServer {
    serve_in(tempfile::tempdir().unwrap(), RateLimit { per_second: 0.0, burst: 0 }).await
}

impl TestServer {
    /// Creates a client; returns an API handle with its key.
    pub async fn client(&self, name: &str, managed: bool) -> Api {
        let new = NewClient { managed_backups: managed, ..NewClient::new(name) };
        let (_, key) = self.running.store().create_client(self.running.kms(), &new).await.unwrap();
        Api::new(&self.base, Some(key.expose()))
    }

    pub fn anonymous(&self) -> Api {
        Api::new(&self.base, None)
    }
}

/// A response: status, headers, JSON body (Null if none or not JSON).
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<no error code>")
    }
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    pub key: Option<String>,
}

impl Api {
    pub fn new(base: &str, key: Option<&str>) -> Self {
        install_tls_provider();
        Self { http: reqwest::Client::new(), base: base.to_owned(), key: key.map(str::to_owned) }
    }

    pub fn with_key(&self, key: &str) -> Self {
        Self { http: self.http.clone(), base: self.base.clone(), key: Some(key.to_owned()) }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> Reply {
        self.send_with(method, path, &[], body).await
    }

    /// `send` with extra request headers.
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some((content_type, bytes)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body read");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status >= 400 {
            assert!(body["error"]["code"].is_string(), "error without JSON code: {status} {bytes:?}");
            assert!(body["error"]["message"].is_string(), "error without message: {status}");
        }
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(("application/json", serde_json::to_vec(&body).unwrap()))).await
    }

    pub async fn post_empty(&self, path: &str) -> Reply {
        self.send("POST", path, None).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send("PUT", path, Some(("application/json", serde_json::to_vec(&body).unwrap()))).await
    }

    // ----- the API's steps

    pub async fn create_pair(&self, method: &str, backup_id: &str, share: &str) -> Reply {
        self.post(
            "/api/v3/clients/me/backup-share-pairs",
            serde_json::json!({ "backupMethod": method, "backupId": backup_id, "custodianShare": share }),
        )
        .await
    }

    pub async fn put_cipher_text(&self, pair_id: &str, cipher_text: &str) -> Reply {
        self.put(
            &format!("/api/v3/clients/me/backup-share-pairs/{pair_id}/cipher-text"),
            serde_json::json!({ "cipherText": cipher_text }),
        )
        .await
    }

    pub async fn confirm(&self, pair_id: &str) -> Reply {
        self.post_empty(&format!("/api/v3/clients/me/backup-share-pairs/{pair_id}/confirm")).await
    }

    pub async fn custodian_share(&self, pair_id: &str) -> Reply {
        self.get(&format!("/api/v3/clients/me/backup-share-pairs/{pair_id}/custodian-share")).await
    }

    /// `GET /api/v3/clients/me/custodian-shares/{backupId}`.
    pub async fn custodian_share_by_backup_id(&self, backup_id: &str) -> Reply {
        self.get(&format!("/api/v3/clients/me/custodian-shares/{backup_id}")).await
    }

    /// A CORS preflight (no API key, as browsers send it) for `method` on `path` from `origin`.
    pub async fn preflight(&self, path: &str, origin: &str, method: &str) -> Reply {
        let anonymous = Self { http: self.http.clone(), base: self.base.clone(), key: None };
        anonymous
            .send_with(
                "OPTIONS",
                path,
                &[
                    ("origin", origin),
                    ("access-control-request-method", method),
                    ("access-control-request-headers", "authorization,content-type"),
                ],
                None,
            )
            .await
    }

    pub async fn latest(&self, method: &str) -> Reply {
        self.get(&format!("/api/v3/clients/me/backups/{method}")).await
    }

    pub async fn report_stored(&self, method: &str, success: bool) -> Reply {
        self.put(
            "/api/v2/clients/me/wallet/stored-client-backup-share",
            serde_json::json!({ "backupMethod": method, "success": success }),
        )
        .await
    }

    /// Runs a whole managed backup; returns (pair id, backup id, cipherText).
    pub async fn managed_backup(&self, method: &str, share: &str) -> (String, String, String) {
        let backup_id = new_backup_id();
        let created = self.create_pair(method, &backup_id, share).await;
        assert_eq!(created.status, 201, "{}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        let ct = envelope(method, &backup_id);
        let stored = self.put_cipher_text(&id, &ct).await;
        assert_eq!(stored.status, 200, "{}", stored.body);
        let confirmed = self.confirm(&id).await;
        assert_eq!(confirmed.status, 200, "{}", confirmed.body);
        (id, backup_id, ct)
    }
}

/// reqwest is built with rustls without a default crypto provider (the
/// service installs ring); a test process that has not started a service
/// installs it here.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn new_backup_id() -> String {
    wallet_backup_service::util::random_id().unwrap()
}

pub fn method_byte(method: &str) -> u8 {
    wallet_backup_service::model::BackupMethod::parse(method).unwrap().envelope_byte()
}

/// A `wbk1.` string with a valid header start for `method` and `backup_id`
/// (the service checks only magic, version, method and backup id).
pub fn envelope(method: &str, backup_id: &str) -> String {
    let mut bytes = b"wbk\x01".to_vec();
    bytes.push(method_byte(method));
    bytes.extend(hex::decode(backup_id).unwrap());
    let mut rest = [0u8; 90];
    getrandom::fill(&mut rest).unwrap();
    bytes.extend(rest);
    format!("wbk1.{}", Base64UrlUnpadded::encode_string(&bytes))
}

// ----- a custodian webhook operator on loopback

/// What the operator answers to one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// As the contract says: `/backup` stores the share, `/backup/fetch` lists them.
    Ok,
    /// 500.
    Fail,
    /// 400.
    Reject,
    /// No answer for 30 s.
    Hang,
    /// `Ok` after this many milliseconds.
    Delay(u64),
    /// 200 with a body that is not JSON; `/backup` stores nothing.
    Garbage,
    /// 200 as `Ok`, but `/backup` stores nothing (an operator that drops the share).
    Drop,
    /// 200 as `Ok`, but `/backup` stores the share with other custodian share bytes.
    Alter,
}

/// A WEBHOOK client of `server` posting to `url` with `secret`; returns
/// its API and id.
pub async fn webhook_client(server: &TestServer, url: &str, secret: &[u8]) -> (Api, String) {
    let setting = wallet_backup_service::store::WebhookSetting {
        url: url.to_owned(),
        secret: zeroize::Zeroizing::new(secret.to_vec()),
    };
    let (client, key) = server
        .running
        .store()
        .create_client(server.running.kms(), &NewClient { webhook: Some(&setting), ..NewClient::new("ops") })
        .await
        .unwrap();
    (Api::new(&server.base, Some(key.expose())), client.id)
}

/// An operator's two endpoints (Portal's contract) under the base URL
/// `url`: checks `X-Webhook-Secret` and the signature like an operator
/// would (on its own, not with the service's code), keeps every share
/// string per client, and answers from a script per endpoint (then `Ok`).
pub struct Receiver {
    pub url: String,
    pub secret: Vec<u8>,
    pub state: std::sync::Arc<ReceiverState>,
}

#[derive(Default)]
pub struct ReceiverState {
    secret: Vec<u8>,
    script: std::sync::Mutex<std::collections::VecDeque<Answer>>,
    fetch_script: std::sync::Mutex<std::collections::VecDeque<Answer>>,
    /// `/backup` calls.
    pub attempts: std::sync::atomic::AtomicU32,
    /// `/backup/fetch` calls.
    pub fetches: std::sync::atomic::AtomicU32,
    pub bad_signatures: std::sync::atomic::AtomicU32,
    /// The bodies of the `/backup` calls answered `Ok`.
    pub deliveries: std::sync::Mutex<Vec<Value>>,
    /// What `/backup/fetch` lists: (clientId, share string).
    pub kept: std::sync::Mutex<Vec<(String, String)>>,
}

impl Receiver {
    pub async fn start(secret: &[u8]) -> Self {
        use axum::routing::post;
        let state = std::sync::Arc::new(ReceiverState { secret: secret.to_vec(), ..ReceiverState::default() });
        let app = axum::Router::new()
            .route("/custody/backup", post(receive))
            .route("/custody/backup/fetch", post(fetch))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/custody", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, secret: secret.to_vec(), state }
    }

    /// Answers of the next `/backup` calls.
    pub fn script(&self, answers: &[Answer]) {
        self.state.script.lock().unwrap().extend(answers.iter().copied());
    }

    /// Forgets the answers not given yet.
    pub fn clear_scripts(&self) {
        self.state.script.lock().unwrap().clear();
        self.state.fetch_script.lock().unwrap().clear();
    }

    /// Answers of the next `/backup/fetch` calls.
    pub fn script_fetch(&self, answers: &[Answer]) {
        self.state.fetch_script.lock().unwrap().extend(answers.iter().copied());
    }

    pub fn attempts(&self) -> u32 {
        self.state.attempts.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn fetches(&self) -> u32 {
        self.state.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn bad_signatures(&self) -> u32 {
        self.state.bad_signatures.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn deliveries(&self) -> Vec<Value> {
        self.state.deliveries.lock().unwrap().clone()
    }

    /// The share strings kept, parsed.
    pub fn kept_shares(&self) -> Vec<Value> {
        self.state.kept.lock().unwrap().iter().map(|(_, s)| serde_json::from_str(s).unwrap()).collect()
    }

    /// Changes what `/backup/fetch` lists.
    pub fn edit_kept(&self, edit: impl FnOnce(&mut Vec<(String, String)>)) {
        edit(&mut self.state.kept.lock().unwrap());
    }
}

/// Checks `X-Webhook-Secret` (constant time) and the signature
/// `t=<unix>,v1=<hex HMAC-SHA256("<t>." ‖ body)>`, t within 5 minutes.
fn authentic(state: &ReceiverState, headers: &axum::http::HeaderMap, body: &[u8]) -> bool {
    use hmac::{KeyInit, Mac};
    use subtle::ConstantTimeEq;
    let secret = headers.get("x-webhook-secret").map(|v| v.as_bytes()).unwrap_or(b"");
    if !bool::from(secret.ct_eq(&state.secret)) {
        return false;
    }
    let header = headers.get("x-wallet-backup-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    let (mut t, mut v1) = (None, None);
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = x.parse::<i64>().ok(),
            Some(("v1", x)) => v1 = hex::decode(x).ok(),
            _ => {}
        }
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let valid = match (t, v1) {
        (Some(t), Some(v1)) if (now - t).abs() <= 300 => {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&state.secret).unwrap();
            mac.update(format!("{t}.").as_bytes());
            mac.update(body);
            mac.verify_slice(&v1).is_ok()
        }
        _ => false,
    };
    valid && headers.get("content-type").map(|v| v.as_bytes()) == Some(b"application/json")
}

/// What a scripted answer does before the endpoint's own work: `Err` is the
/// answer to give; `Ok(store)` goes on (`store`: whether `/backup` keeps the share).
async fn scripted(answer: Answer) -> Result<bool, axum::response::Response> {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    match answer {
        Answer::Ok | Answer::Alter => Ok(true),
        Answer::Drop => Ok(false),
        Answer::Fail => Err(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        Answer::Reject => Err(StatusCode::BAD_REQUEST.into_response()),
        Answer::Garbage => Err((StatusCode::OK, "<html>busy</html>").into_response()),
        Answer::Hang => {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            Err(StatusCode::OK.into_response())
        }
        Answer::Delay(ms) => {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            Ok(true)
        }
    }
}

async fn receive(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<ReceiverState>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use std::sync::atomic::Ordering;
    state.attempts.fetch_add(1, Ordering::SeqCst);
    if !authentic(&state, &headers, &body) {
        state.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return axum::http::StatusCode::UNAUTHORIZED.into_response();
    }
    let answer = state.script.lock().unwrap().pop_front().unwrap_or(Answer::Ok);
    match scripted(answer).await {
        Err(response) => response,
        Ok(store) => {
            let delivery: Value = serde_json::from_slice(&body).unwrap();
            if store {
                let client = delivery["clientId"].as_str().unwrap().to_owned();
                let mut share = delivery["share"].as_str().unwrap().to_owned();
                if answer == Answer::Alter {
                    let mut doc: Value = serde_json::from_str(&share).unwrap();
                    doc["custodianShare"] = Value::from("ALTERED");
                    share = doc.to_string();
                }
                state.kept.lock().unwrap().push((client, share));
            }
            state.deliveries.lock().unwrap().push(delivery);
            axum::http::StatusCode::OK.into_response()
        }
    }
}

async fn fetch(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<ReceiverState>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use std::sync::atomic::Ordering;
    state.fetches.fetch_add(1, Ordering::SeqCst);
    if !authentic(&state, &headers, &body) {
        state.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return axum::http::StatusCode::UNAUTHORIZED.into_response();
    }
    let answer = state.fetch_script.lock().unwrap().pop_front().unwrap_or(Answer::Ok);
    if let Err(response) = scripted(answer).await {
        return response;
    }
    let request: Value = serde_json::from_slice(&body).unwrap();
    let client = request["clientId"].as_str().unwrap();
    let shares: Vec<String> =
        state.kept.lock().unwrap().iter().filter(|(c, _)| c == client).map(|(_, s)| s.clone()).collect();
    axum::Json(serde_json::json!({ "backupShares": shares })).into_response()
}
