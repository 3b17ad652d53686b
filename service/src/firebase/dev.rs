//! **Development stand-in for Google's Firebase token issuer.** Not for
//! production: it signs whatever it is asked to.
//!
//! [`DevIssuer`] holds an RSA-2048 key (generated, or loaded from a PKCS#8
//! DER file) and mints Firebase-shaped ID tokens for one project, signed
//! RS256 like Google's. [`DevIssuer::encode`] signs any header and claims
//! (for tests forging bad tokens). [`IssuerServer`] serves it over HTTP on
//! loopback only (`wallet-backup-service dev-firebase-issuer`), and answers
//! any origin (CORS), so browser pages can sign in:
//!
//! - `GET /jwks`: the JWK Set, with `Cache-Control: public, max-age=N`;
//! - `POST /token` `{ sub, authAgeSeconds?, expiresInSeconds? }` → `{ idToken }`;
//! - `GET /stats` → `{ jwksFetches }` (how often `/jwks` was fetched).

use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64ct::{Base64UrlUnpadded, Encoding};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, PrivateKey};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::api::ApiJson;
use crate::error::ApiError;

/// RSA modulus size of generated keys.
pub const KEY_BITS: usize = 2048;

/// A development token issuer: one RSA key, one Firebase project id.
pub struct DevIssuer {
    key: PrivateKey,
    kid: String,
    project_id: String,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer").field("kid", &self.kid).field("project_id", &self.project_id).finish()
    }
}

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

impl DevIssuer {
    /// A new RSA-2048 key from the OS random source.
    pub fn generate(project_id: &str) -> Result<Self, String> {
        let key = PrivateKey::new(&mut getrandom::SysRng, KEY_BITS).map_err(|e| format!("RSA key generation: {e}"))?;
        Self::from_key(key, project_id)
    }

    /// The key in the PKCS#8 DER file `path`; with no such file, a new key
    /// written there (mode 0600).
    pub fn load_or_create(path: &Path, project_id: &str) -> Result<Self, String> {
        match std::fs::read(path) {
            Ok(der) => Self::from_pkcs8_der(&der, project_id)
                .map_err(|e| format!("{}: not a PKCS#8 DER RSA key: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let issuer = Self::generate(project_id)?;
                let der = issuer.to_pkcs8_der()?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                std::io::Write::write_all(&mut file, &der)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                Ok(issuer)
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// The issuer of a PKCS#8 DER RSA private key.
    pub fn from_pkcs8_der(der: &[u8], project_id: &str) -> Result<Self, String> {
        let key = PrivateKey::from_pkcs8_der(der).map_err(|e| e.to_string())?;
        Self::from_key(key, project_id)
    }

    fn from_key(key: PrivateKey, project_id: &str) -> Result<Self, String> {
        let public = key.to_public_key().to_public_key_der().map_err(|e| e.to_string())?;
        let kid = hex::encode(&Sha256::digest(public.as_bytes())[..20]);
        Ok(Self { key, kid, project_id: project_id.to_owned() })
    }

    /// The key as PKCS#8 DER (what `--key-file` holds).
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, String> {
        Ok(self.key.to_pkcs8_der().map_err(|e| e.to_string())?.as_bytes().to_vec())
    }

    /// The same key for another project id.
    pub fn for_project(&self, project_id: &str) -> Self {
        Self { key: self.key.clone(), kid: self.kid.clone(), project_id: project_id.to_owned() }
    }

    /// The key id (`kid`) of the key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The project id tokens are minted for.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// The public key as SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key.to_public_key().to_public_key_der().map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// The JWK Set of the public key, shaped like Google's.
    pub fn jwks(&self) -> Value {
        let public = self.key.to_public_key();
        json!({ "keys": [{
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": b64(&public.n_bytes()),
            "e": b64(&public.e_bytes()),
        }] })
    }

    /// The standard header: `{ alg: RS256, kid, typ: JWT }`.
    pub fn header(&self) -> Value {
        json!({ "alg": "RS256", "kid": self.kid, "typ": "JWT" })
    }

    /// Firebase-shaped claims for `sub` at `now` (seconds since the epoch):
    /// signed in `auth_age_secs` ago, expiring in `expires_in_secs`.
    pub fn claims(&self, sub: &str, now: i64, auth_age_secs: i64, expires_in_secs: i64) -> Value {
        json!({
            "iss": format!("https://securetoken.google.com/{}", self.project_id),
            "aud": self.project_id,
            "auth_time": now - auth_age_secs,
            "user_id": sub,
            "sub": sub,
            "iat": now,
            "exp": now + expires_in_secs,
            "firebase": { "identities": {}, "sign_in_provider": "custom" },
        })
    }

    /// A valid ID token for `sub`, now.
    pub fn token(&self, sub: &str, auth_age_secs: i64, expires_in_secs: i64) -> String {
        let claims = self.claims(sub, super::unix_now(), auth_age_secs, expires_in_secs);
        self.encode(&self.header(), &claims)
    }

    /// `header.claims.signature` with an RS256 signature by this key,
    /// whatever the header says (tests forge bad tokens with it).
    pub fn encode(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let digest = Sha256::digest(input.as_bytes());
        let signature = self.key.sign(Pkcs1v15Sign::new::<Sha256>(), &digest).unwrap_or_default();
        format!("{input}.{}", b64(&signature))
    }
}

/// `base64url(header).base64url(claims)`.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()))
}

/// `header.claims.signature` with the given signature bytes (empty for `alg: none`).
pub fn encode_with_signature(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!("{}.{}", signing_input(header, claims), b64(signature))
}

// ---------------------------------------------------------------- HTTP

struct ServerState {
    issuer: DevIssuer,
    max_age_secs: AtomicU64,
    jwks_fetches: AtomicU64,
}

/// A running development issuer on loopback.
pub struct IssuerServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    task: JoinHandle<()>,
}

impl Drop for IssuerServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl IssuerServer {
    /// Serves `issuer` on `listen`, which must be a loopback address; `/jwks`
    /// says `max-age=max_age_secs`.
    pub async fn start(listen: SocketAddr, issuer: DevIssuer, max_age_secs: u64) -> Result<Self, String> {
        if !listen.ip().is_loopback() {
            return Err(format!(
                "the development Firebase issuer mints tokens for anyone who asks, so it listens only on \
                 loopback (127.0.0.1 or [::1]), not {listen}"
            ));
        }
        let listener = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let state = Arc::new(ServerState {
            issuer,
            max_age_secs: AtomicU64::new(max_age_secs),
            jwks_fetches: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/jwks", get(jwks))
            .route("/token", post(mint))
            .route("/stats", get(stats))
            .fallback(|| async { ApiError::route_not_found() })
            // Pages in a browser (the demo, the browser tests) sign in here
            // from their own origin.
            .layer(
                tower_http::cors::CorsLayer::new()
                    .allow_origin(tower_http::cors::Any)
                    .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
                    .allow_headers([header::CONTENT_TYPE]),
            )
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/jwks`.
    pub fn jwks_url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    /// How often `/jwks` was fetched.
    pub fn jwks_fetches(&self) -> u64 {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Changes the `max-age` of later `/jwks` answers.
    pub fn set_max_age(&self, secs: u64) {
        self.state.max_age_secs.store(secs, Ordering::SeqCst);
    }

    /// The issuer it serves.
    pub fn issuer(&self) -> &DevIssuer {
        &self.state.issuer
    }
}

async fn jwks(State(state): State<Arc<ServerState>>) -> Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let mut response = Json(state.issuer.jwks()).into_response();
    let max_age = state.max_age_secs.load(Ordering::SeqCst);
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenRequest {
    sub: String,
    #[serde(default)]
    auth_age_seconds: i64,
    #[serde(default = "default_expiry")]
    expires_in_seconds: i64,
}

fn default_expiry() -> i64 {
    3600
}

async fn mint(State(state): State<Arc<ServerState>>, ApiJson(body): ApiJson<TokenRequest>) -> Response {
    let token = state.issuer.token(&body.sub, body.auth_age_seconds, body.expires_in_seconds);
    let mut response = (StatusCode::OK, Json(json!({ "idToken": token }))).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn stats(State(state): State<Arc<ServerState>>) -> Json<Value> {
    Json(json!({ "jwksFetches": state.jwks_fetches.load(Ordering::SeqCst) }))
}
