//! HTTP over the platform's `fetch`, for every server the module talks to
//! (the backup service, its enclaves, Google Drive, CloudKit): each request
//! under a [`Deadline`] that also covers reading the body and aborts the
//! request when it passes, redirects never followed, no cookies.
//!
//! `fetch`, `Response`, `AbortController` and timers are used through
//! duck-typed calls rather than `instanceof` checks (and not through
//! gloo-net, which panics when a polyfilled `fetch` rejects with a
//! non-`Error`): a panic would abort the whole wasm instance.

use js_sys::{Function, Object, Reflect};
use wallet_backup_core::Error;
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::errors::{Failure, Result};
use crate::js::{set, Deadline, Ended, Signal};

/// Default deadline of one request (`timeoutMs`).
pub const DEFAULT_TIMEOUT_MS: u32 = 30_000;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch, catch)]
    pub fn fetch(url: &str, init: &Object) -> core::result::Result<JsValue, JsValue>;
}

/// A refusal as the server told it: the HTTP status and the server's own
/// error code (the service's `error.code`, Google's `error.status`).
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The service's error code (empty if the body had none).
    pub code: String,
    /// The backup service's `error.guessesLeft` (a wrong PIN of a guess-limited backup).
    pub guesses_left: Option<u32>,
}

/// `{ status, code }` of a refusal, as the JS error's `cause`.
pub fn refusal_cause(r: &Refusal) -> JsValue {
    let cause = Object::new();
    set(&cause, "status", &r.status.into());
    set(&cause, "code", &JsValue::from_str(&r.code));
    cause.into()
}

/// One request to a service other than the backup service (Google Drive,
/// CloudKit), with the same abort as the service client and its default
/// deadline (`DEFAULT_TIMEOUT_MS`), ended by `signal` too:
/// resolves to the HTTP status, the body text and, when `header` names one,
/// that response header (`None` when absent or not exposed by CORS). No
/// answer is `NETWORK_ERROR` (the exception as cause), the deadline
/// `NETWORK_TIMEOUT`, a body longer than `max_len` UTF-16 units
/// `SERVICE_ERROR`; the caller maps them to its own codes.
pub async fn http_text(
    method: &str,
    url: &str,
    headers: &Object,
    body: Option<&str>,
    max_len: u32,
    header: Option<&str>,
    signal: &Signal,
) -> Result<(u16, Zeroizing<String>, Option<Zeroizing<String>>)> {
    let init = Object::new();
    set(&init, "method", &method.into());
    // Never followed either way: a 3xx (an opaque redirect in browsers, status
    // 0) is refused like any other non-2xx answer. Not `error`: with it,
    // Node.js's fetch cannot resend a request answered 421 (RFC 9110 lets a
    // client retry it on another connection, and undici does) and fails it
    // instead, and CloudKit answers 421 when the user must sign in.
    set(&init, "redirect", &"manual".into());
    set(&init, "credentials", &"omit".into());
    set(&init, "headers", headers);
    if let Some(body) = body {
        set(&init, "body", &body.into());
    }
    let deadline = Deadline::for_request(DEFAULT_TIMEOUT_MS, signal, &init);
    let network = |e: JsValue| Failure::from(Error::NetworkError("the request failed")).with_cause(e);
    let pending = fetch(url, &init).map_err(network)?;
    let response = deadline.within(&pending).await.map_err(|e| step_failure(&deadline, e, network))?;
    let status = Reflect::get(&response, &"status".into()).ok().and_then(|s| s.as_f64()).unwrap_or(0.0);
    // `response.headers.get(header)`, duck-typed like the rest.
    let named = header.and_then(|name| {
        let headers = Reflect::get(&response, &"headers".into()).ok()?;
        let get = Reflect::get(&headers, &"get".into()).ok()?.dyn_into::<Function>().ok()?;
        get.call1(&headers, &JsValue::from_str(name)).ok()?.as_string().map(Zeroizing::new)
    });
    let body_read = Reflect::get(&response, &"text".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or(Error::NetworkError("the answer has no body"))?
        .call0(&response)
        .map_err(network)?;
    let text = deadline.within(&body_read).await.map_err(|e| step_failure(&deadline, e, network))?;
    let text = text.dyn_into::<js_sys::JsString>().map_err(|_| Error::NetworkError("the answer has no text body"))?;
    if text.length() > max_len {
        return Err(Error::ServiceError("the answer is larger than expected").into());
    }
    Ok((status as u16, Zeroizing::new(String::from(text)), named))
}

/// The failure of a request step that `deadline` limits: `NETWORK_TIMEOUT`
/// when it passed, `ABORTED` when the app aborted (the request is then
/// aborted either way), else `otherwise(e)`.
pub fn step_failure(deadline: &Deadline, e: JsValue, otherwise: impl FnOnce(JsValue) -> Failure) -> Failure {
    match deadline.ended(&e) {
        Some(Ended::Passed) => Error::NetworkTimeout.into(),
        Some(Ended::Aborted) => Error::Aborted.into(),
        None => otherwise(e),
    }
}
