//! Development only (the `dev` feature, never in a production build): what
//! `npm run demo` needs from the service besides the API.
//!
//! `serve --demo-key-file` hands one client's API key to any page that asks
//! at `GET /demo-config.json`, so it is refused unless the service listens
//! on loopback; the route also answers only requests whose `Host` is a
//! loopback name (DNS rebinding) and carries no CORS header (other origins
//! cannot read it). `--demo-firebase-issuer` and `--demo-stand-in` name the
//! development stand-ins (the Firebase token issuer, Google Drive, CloudKit,
//! the app's own server; all on loopback) in that answer, and the page's
//! Content-Security-Policy lets it connect to them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::apikey;
use crate::error::{codes, ApiError};
use crate::store::Store;
use crate::util::is_loopback_host;
use crate::StartError;

/// The demo settings of `serve` (`--demo-key-file`, `--demo-firebase-issuer`, `--demo-stand-in`).
#[derive(Debug, Clone, Default)]
pub struct DemoSettings {
    /// Serve the API key in this file at `GET /demo-config.json` (needs a loopback listen address).
    pub key_file: PathBuf,
    /// The development Firebase issuer's URL (loopback), named in
    /// `/demo-config.json` and allowed in the page's `connect-src`.
    pub firebase_issuer: Option<String>,
    /// Other development stand-ins (`NAME=http://127.0.0.1:PORT`: Google
    /// Drive, CloudKit, the app's own server), named and allowed likewise.
    pub stand_ins: Vec<String>,
}

/// Checked demo settings, ready to serve.
#[derive(Debug, Clone)]
pub struct Demo {
    key: DemoKey,
    origins: DemoOrigins,
}

impl Demo {
    /// Checks `settings` for a service listening on `listen`: a loopback
    /// address, a readable key file, loopback stand-ins, each named once.
    pub fn new(settings: &DemoSettings, listen: SocketAddr) -> Result<Self, StartError> {
        if !listen.ip().is_loopback() {
            return Err(StartError::Config(format!(
                "--demo-key-file gives an API key to anyone who can connect, so it needs a loopback \
                 --listen address (127.0.0.1 or [::1]), not {listen}"
            )));
        }
        let key = DemoKey::read(&settings.key_file).map_err(|e| StartError::Config(format!("--demo-key-file: {e}")))?;
        let firebase_issuer = match &settings.firebase_issuer {
            Some(url) => Some(
                demo_firebase_issuer(url).map_err(|e| StartError::Config(format!("--demo-firebase-issuer: {e}")))?,
            ),
            None => None,
        };
        let mut stand_ins = BTreeMap::new();
        for arg in &settings.stand_ins {
            let (name, origin) = demo_stand_in(arg).map_err(|e| StartError::Config(format!("--demo-stand-in: {e}")))?;
            if stand_ins.insert(name, origin).is_some() {
                return Err(StartError::Config(format!("--demo-stand-in: `{arg}` names a stand-in twice")));
            }
        }
        Ok(Self { key, origins: DemoOrigins { firebase_issuer, stand_ins } })
    }

    /// Refuses a key that is no key of a client in `store`.
    pub async fn check_key(&self, store: &Store) -> Result<(), StartError> {
        let client = store.client_by_key_hash(&apikey::hash(self.key.expose())).await.map_err(StartError::Store)?;
        match client {
            Some(_) => Ok(()),
            None => {
                Err(StartError::Config("--demo-key-file: the key is not a key of any client in this database".into()))
            }
        }
    }

    /// The stand-ins' origins, for the page's `connect-src`.
    pub fn connect_also(&self) -> Vec<String> {
        self.origins.origins().into_iter().map(str::to_owned).collect()
    }

    /// `app` with `GET /demo-config.json`; added after the CORS layer, so
    /// other origins cannot read the key.
    pub fn route<S: Clone + Send + Sync + 'static>(self, app: Router<S>) -> Router<S> {
        let Self { key, origins } = self;
        let origins = Arc::new(origins);
        app.route(
            "/demo-config.json",
            get(move |headers, uri| demo_config(key.clone(), origins.clone(), headers, uri))
                .fallback(|| async { ApiError::method_not_allowed() }),
        )
    }
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
