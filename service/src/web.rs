//! What browsers need beside the API: CORS for wallet pages on their own
//! origins, and the static demo page with its security headers.
//!
//! **CORS.** Pages call the API with a bearer API key and never with
//! cookies, so a page on another origin gains nothing a script outside a
//! browser would not have: `*` is a safe default. With a list of exact
//! origins, other origins get no `Access-Control-*` header at all.
//! Preflights (`OPTIONS`) are answered by the CORS layer itself, before
//! authentication and the rate limit.
//!
//! The demo's API key at `/demo-config.json` and its development stand-ins
//! are in [`crate::demo`], built only with the `dev` feature.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;

use crate::error::{codes, ApiError, ErrorCode};

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
/// `connect_also` (the demo's development stand-ins, checked by `demo`).
pub fn content_security_policy(connect_also: &[&str]) -> String {
    if connect_also.is_empty() {
        return CONTENT_SECURITY_POLICY.to_owned();
    }
    CONTENT_SECURITY_POLICY.replace("connect-src 'self';", &format!("connect-src 'self' {};", connect_also.join(" ")))
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
    fn content_security_policy_allows_the_issuer_only_in_connect_src() {
        assert_eq!(content_security_policy(&[]), CONTENT_SECURITY_POLICY);
        let csp = content_security_policy(&["http://127.0.0.1:4000"]);
        assert!(csp.contains("; connect-src 'self' http://127.0.0.1:4000; "), "{csp}");
        assert_eq!(csp.matches("127.0.0.1").count(), 1, "{csp}");
        assert_eq!(csp.replace(" http://127.0.0.1:4000", ""), CONTENT_SECURITY_POLICY);
    }
}
