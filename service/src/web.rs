//! What browsers need beside the API: CORS for wallet pages on their own
//! origins, the static demo page with its security headers, and the demo's
//! API key at `/demo-config.json`.
//!
//! **CORS.** Pages call the API with a bearer API key and never with
//! cookies, so a page on another origin gains nothing a script outside a
//! browser would not have: `*` is a safe default. With a list of exact
//! origins, other origins get no `Access-Control-*` header at all.
//! Preflights (`OPTIONS`) are answered by the CORS layer itself, before
//! authentication and the rate limit.
//!
//! **Demo key.** `serve --demo-key-file` hands one client's API key to any
//! page that asks, so it is refused unless the service listens on loopback;
//! the route also answers only requests whose `Host` is a loopback name
//! (DNS rebinding) and carries no CORS header (other origins cannot read it).
//! With `serve --demo-firebase-issuer` it also names the development Firebase
//! issuer (a loopback URL) the page signs its test user in with, and the
//! page's Content-Security-Policy lets it connect there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use zeroize::Zeroizing;

use crate::apikey;
use crate::error::{codes, ApiError, ErrorCode};
use crate::util::is_loopback_host;

/// How long a browser may cache a preflight answer, in seconds.
pub const CORS_MAX_AGE_SECS: u64 = 600;

/// The Content-Security-Policy of the static demo page (stated in
/// service/README.md, "Static files"): scripts only from this origin plus
/// `'wasm-unsafe-eval'`, which WebAssembly compilation needs, and requests
/// only to this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// [`CONTENT_SECURITY_POLICY`], letting the page also connect to each of
/// `connect_also` (origins checked by [`demo_loopback_origin`]).
pub fn content_security_policy(connect_also: &[&str]) -> String {
    if connect_also.is_empty() {
        return CONTENT_SECURITY_POLICY.to_owned();
    }
    CONTENT_SECURITY_POLICY.replace("connect-src 'self';", &format!("connect-src 'self' {};", connect_also.join(" ")))
}

/// The origin of a demo stand-in's URL (`serve --demo-firebase-issuer`,
/// `--demo-stand-in`): `http://` to a loopback host (development stand-ins
/// listen only there), with no path, query, fragment or user info.
pub fn demo_loopback_origin(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    let loopback = parsed.host_str().is_some_and(is_loopback_host);
    if parsed.scheme() != "http" || !loopback || parsed.port().is_none() {
        return Err(format!("`{url}`: a development stand-in is an http:// URL of a loopback host with a port"));
    }
    if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty()
    {
        return Err(format!("`{url}`: give the stand-in's origin only (http://127.0.0.1:PORT), as it prints it"));
    }
    Ok(parsed.origin().ascii_serialization())
}

/// The origin of `serve --demo-firebase-issuer`'s URL (see [`demo_loopback_origin`]).
pub fn demo_firebase_issuer(url: &str) -> Result<String, String> {
    demo_loopback_origin(url)
}

/// One `serve --demo-stand-in NAME=URL`: a name (`[a-z][a-z0-9-]*`, at most
/// 32 characters) and the stand-in's loopback origin.
pub fn demo_stand_in(arg: &str) -> Result<(String, String), String> {
    let (name, url) = arg.split_once('=').ok_or_else(|| format!("`{arg}`: expected NAME=http://127.0.0.1:PORT"))?;
    let valid = name.len() <= 32
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(format!("`{name}`: a stand-in name is lower-case letters, digits and `-`, at most 32"));
    }
    Ok((name.to_owned(), demo_loopback_origin(url)?))
}

/// The development stand-ins the demo page talks to besides the service:
/// named in `/demo-config.json` and allowed in the page's `connect-src`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoOrigins {
    /// The development Firebase issuer (`firebaseIssuer`).
    pub firebase_issuer: Option<String>,
    /// Other stand-ins by name (`standIns`): Google Drive, CloudKit, the app's own server.
    pub stand_ins: BTreeMap<String, String>,
}

impl DemoOrigins {
    /// Every origin, for the page's `connect-src`.
    pub fn origins(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self.firebase_issuer.iter().map(String::as_str).collect();
        for origin in self.stand_ins.values() {
            if !all.contains(&origin.as_str()) {
                all.push(origin);
            }
        }
        all
    }
}

/// The origins allowed to call the API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// Any origin (`Access-Control-Allow-Origin: *`).
    #[default]
    Any,
    /// Only these exact origins (`https://wallet.example`, `http://localhost:5173`).
    List(Vec<String>),
}

impl FromStr for AllowedOrigins {
    type Err = String;

    /// `*`, or a comma-separated list of exact origins (`scheme://host[:port]`).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "*" {
            return Ok(Self::Any);
        }
        let mut list = Vec::new();
        for origin in s.split(',').map(str::trim) {
            if origin.is_empty() {
                return Err("an empty origin in the list (expected `*` or https://a.example,https://b.example)".into());
            }
            if origin == "*" {
                return Err("`*` cannot be combined with other origins".into());
            }
            list.push(exact_origin(origin)?);
        }
        Ok(Self::List(list))
    }
}

impl std::fmt::Display for AllowedOrigins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::List(list) => f.write_str(&list.join(",")),
        }
    }
}

/// `origin` if it is written exactly as a browser sends it in `Origin`.
fn exact_origin(origin: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(origin).map_err(|e| format!("`{origin}` is not an origin: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{origin}`: an allowed origin is http:// or https://"));
    }
    let exact = url.origin().ascii_serialization();
    if exact != origin {
        return Err(format!(
            "`{origin}` is not written as an origin; write `{exact}` (scheme://host[:port], no path or trailing slash)"
        ));
    }
    Ok(exact)
}

/// Adds CORS to every route of `app`: methods GET, POST, PUT; request
/// headers `Authorization`, `Content-Type` and `X-Firebase-Token`; `Retry-After` and
/// `WWW-Authenticate` readable by the page; no credentials; preflights
/// cached for [`CORS_MAX_AGE_SECS`].
pub fn with_cors<S: Clone + Send + Sync + 'static>(app: Router<S>, origins: &AllowedOrigins) -> Router<S> {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("x-firebase-token")])
        .expose_headers([header::RETRY_AFTER, header::WWW_AUTHENTICATE])
        .max_age(Duration::from_secs(CORS_MAX_AGE_SECS));
    match origins {
        AllowedOrigins::Any => app.layer(layer.allow_origin(AllowOrigin::any())),
        AllowedOrigins::List(list) => {
            let values: Vec<HeaderValue> = list.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
            let allowed: Arc<[HeaderValue]> = values.clone().into();
            app.layer(layer.allow_origin(AllowOrigin::list(values)))
                .layer(middleware::from_fn_with_state(allowed, no_cors_for_other_origins))
        }
    }
}

/// The CORS layer answers a preflight from any origin with its method and
/// header lists (only `Access-Control-Allow-Origin` depends on the origin);
/// this takes every `Access-Control-*` header off the answers to other origins.
async fn no_cors_for_other_origins(
    State(allowed): State<Arc<[HeaderValue]>>,
    request: Request,
    next: Next,
) -> Response {
    let other = request.headers().get(header::ORIGIN).is_some_and(|origin| !allowed.contains(origin));
    let mut response = next.run(request).await;
    if other {
        let names: Vec<HeaderName> =
            response.headers().keys().filter(|name| name.as_str().starts_with("access-control-")).cloned().collect();
        for name in names {
            response.headers_mut().remove(name);
        }
    }
    response
}

// ---------------------------------------------------------------- static files

/// Directories of static files served beside the API (the demo page).
#[derive(Debug, Clone)]
pub struct Statics {
    /// Served at `/`.
    pub www: PathBuf,
    /// Served at `/pkg/`, if given.
    pub pkg: Option<PathBuf>,
}

impl Statics {
    /// Checks that the directories exist.
    pub fn check(&self) -> Result<(), String> {
        let dirs = [("--www", Some(&self.www)), ("--pkg", self.pkg.as_ref())];
        for (flag, dir) in dirs {
            if let Some(dir) = dir.filter(|d| !d.is_dir()) {
                return Err(format!("{flag} {}: not a directory", dir.display()));
            }
        }
        Ok(())
    }
}

/// The static files as a service: `pkg` at `/pkg/`, `www` at `/`, each
/// response with the demo page's security headers, and errors in the API's
/// JSON shape. `connect_also`: origins the page may connect to besides its
/// own (the development stand-ins').
pub fn static_files(statics: Statics, connect_also: &[&str]) -> Router {
    let app = match statics.pkg {
        Some(pkg) => Router::new().nest_service("/pkg", ServeDir::new(pkg)),
        None => Router::new(),
    };
    let csp = HeaderValue::from_str(&content_security_policy(connect_also))
        .unwrap_or(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    app.fallback_service(ServeDir::new(statics.www))
        .layer(middleware::map_response(move |response| static_headers(csp.clone(), response)))
}

/// Adds the static files' security headers (`csp`: the demo page's
/// Content-Security-Policy, or one that also allows the issuer); replaces
/// the file server's bodiless error answers (404, 405, …) with JSON errors.
async fn static_headers(csp: HeaderValue, response: Response) -> Response {
    let status = response.status();
    let mut response = if status.as_u16() >= 400 && response.extensions().get::<ErrorCode>().is_none() {
        let error = match status {
            StatusCode::NOT_FOUND => ApiError::route_not_found(),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::method_not_allowed(),
            s if s.is_server_error() => ApiError::internal(&"static file could not be read"),
            s => ApiError::new(s, codes::INVALID_REQUEST, s.canonical_reason().unwrap_or("bad request")),
        };
        let allow = response.headers().get(header::ALLOW).cloned();
        let mut replaced = error.into_response();
        if let Some(allow) = allow {
            replaced.headers_mut().insert(header::ALLOW, allow);
        }
        replaced
    } else {
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ---------------------------------------------------------------- demo key

/// The API key `GET /demo-config.json` hands to the demo page.
#[derive(Clone)]
pub struct DemoKey(Arc<Zeroizing<String>>);

impl std::fmt::Debug for DemoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoKey(<redacted>)")
    }
}

impl DemoKey {
    /// Reads a key from `path` (one trailing newline is ignored). Errors
    /// never quote the file's content.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text =
            Zeroizing::new(std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?);
        let key = text.strip_suffix('\n').map(|k| k.strip_suffix('\r').unwrap_or(k)).unwrap_or(&text);
        let key = apikey::parse(key).ok_or_else(|| {
            format!("{} does not hold an API key alone (the line create-client prints)", path.display())
        })?;
        Ok(Self(Arc::new(Zeroizing::new(key.to_owned()))))
    }

    /// The key.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DemoConfig<'a> {
    api_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    firebase_issuer: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    stand_ins: &'a BTreeMap<String, String>,
}

/// `GET /demo-config.json`: `{ "apiKey": "…", "firebaseIssuer"?: "http://127.0.0.1:PORT",
/// "standIns"?: { "<name>": "http://127.0.0.1:PORT" } }`, not cached, and only to a
/// request addressed to a loopback host name.
pub async fn demo_config(key: DemoKey, origins: Arc<DemoOrigins>, headers: HeaderMap, uri: Uri) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).or_else(|| uri.authority().map(|a| a.as_str()));
    let loopback = host
        .and_then(|h| h.parse::<axum::http::uri::Authority>().ok())
        .is_some_and(|authority| is_loopback_host(authority.host()));
    if !loopback {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            "the demo config is served only to requests for localhost, 127.0.0.1 or [::1]",
        )
        .into_response();
    }
    let mut response = Json(DemoConfig {
        api_key: key.expose(),
        firebase_issuer: origins.firebase_issuer.as_deref(),
        stand_ins: &origins.stand_ins,
    })
    .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_origins_parse() {
        assert_eq!("*".parse(), Ok(AllowedOrigins::Any));
        assert_eq!(" * ".parse(), Ok(AllowedOrigins::Any));
        assert_eq!(
            "https://wallet.example, http://localhost:5173".parse(),
            Ok(AllowedOrigins::List(vec!["https://wallet.example".into(), "http://localhost:5173".into()]))
        );
        assert_eq!("http://[::1]:8080".parse(), Ok(AllowedOrigins::List(vec!["http://[::1]:8080".into()])));
        for bad in [
            "",
            "https://a.example,",
            "*,https://a.example",
            "https://a.example/",
            "https://a.example/app",
            "https://A.example",
            "https://a.example:443",
            "https://user@a.example",
            "a.example",
            "null",
            "file:///tmp",
            "chrome-extension://abc",
        ] {
            assert!(bad.parse::<AllowedOrigins>().is_err(), "{bad:?} must be refused");
        }
        let shown = AllowedOrigins::List(vec!["https://a.example".into(), "https://b.example".into()]).to_string();
        assert_eq!(
            shown.parse(),
            Ok(AllowedOrigins::List(vec!["https://a.example".into(), "https://b.example".into()]))
        );
    }

    #[test]
    fn demo_firebase_issuer_is_a_loopback_origin() {
        assert_eq!(demo_firebase_issuer("http://127.0.0.1:4000").as_deref(), Ok("http://127.0.0.1:4000"));
        assert_eq!(demo_firebase_issuer("http://127.0.0.1:4000/").as_deref(), Ok("http://127.0.0.1:4000"));
        assert_eq!(demo_firebase_issuer("http://localhost:4000").as_deref(), Ok("http://localhost:4000"));
        assert_eq!(demo_firebase_issuer("http://[::1]:4000").as_deref(), Ok("http://[::1]:4000"));
        for bad in [
            "",
            "127.0.0.1:4000",
            "https://127.0.0.1:4000",
            "http://127.0.0.1",
            "http://10.0.0.1:4000",
            "http://evil.example:4000",
            "http://localhost.evil.example:4000",
            "http://127.0.0.1:4000/jwks",
            "http://127.0.0.1:4000/?x=1",
            "http://user@127.0.0.1:4000",
            "http://127.0.0.1:4000 'unsafe-inline'",
        ] {
            assert!(demo_firebase_issuer(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn content_security_policy_allows_the_issuer_only_in_connect_src() {
        assert_eq!(content_security_policy(&[]), CONTENT_SECURITY_POLICY);
        let csp = content_security_policy(&["http://127.0.0.1:4000"]);
        assert!(csp.contains("; connect-src 'self' http://127.0.0.1:4000; "), "{csp}");
        assert_eq!(csp.matches("127.0.0.1").count(), 1, "{csp}");
        assert_eq!(csp.replace(" http://127.0.0.1:4000", ""), CONTENT_SECURITY_POLICY);
    }

    #[tokio::test]
    async fn demo_config_names_the_firebase_issuer_when_there_is_one() {
        let dir = tempfile::tempdir().unwrap();
        let key = apikey::ApiKey::generate().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, key.expose()).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("localhost:8080"));
        let body = |response: Response| async move {
            assert_eq!(response.status(), StatusCode::OK);
            let bytes = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
        };
        let key = DemoKey::read(&path).unwrap();
        let issuer = DemoOrigins { firebase_issuer: Some("http://127.0.0.1:4000".into()), ..DemoOrigins::default() };
        let with =
            demo_config(key.clone(), Arc::new(issuer), headers.clone(), Uri::from_static("/demo-config.json")).await;
        assert_eq!(
            body(with).await,
            serde_json::json!({ "apiKey": key.expose(), "firebaseIssuer": "http://127.0.0.1:4000" })
        );
        let without =
            demo_config(key.clone(), Arc::default(), headers.clone(), Uri::from_static("/demo-config.json")).await;
        assert_eq!(body(without).await, serde_json::json!({ "apiKey": key.expose() }));
        let stand_ins = DemoOrigins {
            firebase_issuer: None,
            stand_ins: BTreeMap::from([("gdrive".into(), "http://127.0.0.1:4001".into())]),
        };
        let named = demo_config(key.clone(), Arc::new(stand_ins), headers, Uri::from_static("/demo-config.json")).await;
        assert_eq!(
            body(named).await,
            serde_json::json!({ "apiKey": key.expose(), "standIns": { "gdrive": "http://127.0.0.1:4001" } })
        );
    }

    #[test]
    fn demo_stand_ins_are_named_loopback_origins() {
        assert_eq!(
            demo_stand_in("gdrive=http://127.0.0.1:4001/"),
            Ok(("gdrive".into(), "http://127.0.0.1:4001".into()))
        );
        assert_eq!(
            demo_stand_in("app-server=http://localhost:9"),
            Ok(("app-server".into(), "http://localhost:9".into()))
        );
        for bad in [
            "gdrive",
            "=http://127.0.0.1:4001",
            "GDrive=http://127.0.0.1:4001",
            "1drive=http://127.0.0.1:4001",
            "g drive=http://127.0.0.1:4001",
            "gdrive=https://www.googleapis.com",
            "gdrive=http://127.0.0.1:4001/drive",
            "gdrive=http://127.0.0.1",
        ] {
            assert!(demo_stand_in(bad).is_err(), "{bad:?} must be refused");
        }
        let origins = DemoOrigins {
            firebase_issuer: Some("http://127.0.0.1:4000".into()),
            stand_ins: BTreeMap::from([
                ("a".into(), "http://127.0.0.1:4001".into()),
                ("b".into(), "http://127.0.0.1:4000".into()),
            ]),
        };
        assert_eq!(origins.origins(), ["http://127.0.0.1:4000", "http://127.0.0.1:4001"]);
    }

    #[test]
    fn demo_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = apikey::ApiKey::generate().unwrap();
        let path = dir.path().join("key");
        for text in [key.expose().to_owned(), format!("{}\n", key.expose()), format!("{}\r\n", key.expose())] {
            std::fs::write(&path, &text).unwrap();
            assert_eq!(DemoKey::read(&path).unwrap().expose(), key.expose());
        }
        for text in [format!("{}\n\n", key.expose()), format!(" {}", key.expose()), "wbk_live_short".into()] {
            std::fs::write(&path, &text).unwrap();
            let error = DemoKey::read(&path).unwrap_err();
            assert!(!error.contains("wbk_live_"), "the error quotes the file: {error}");
        }
        assert!(DemoKey::read(&dir.path().join("missing")).is_err());
        std::fs::write(&path, key.expose()).unwrap();
        assert!(!format!("{:?}", DemoKey::read(&path).unwrap()).contains(key.expose()));
    }
}
