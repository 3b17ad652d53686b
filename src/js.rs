//! JavaScript interop: reading app-supplied values without trusting them,
//! calling the app's functions within a time limit, and the module's one
//! timer mechanism ([`Deadline`]).
//!
//! A deadline is a timer that rejects a private marker, raced against each
//! step with `Promise.race`: behind the backup service's and other servers'
//! requests (`timeoutMs`, which also aborts the request) and every call into
//! the app's functions and passkey prompts (`adapterTimeoutMs`, see
//! [`settled`]). The race subscribes to the step's promise, so an abandoned
//! promise that rejects later is handled (no unhandled rejection) and one
//! that resolves later runs no module code.

use js_sys::{Function, Object, Promise, Reflect};
use wallet_backup_core::Error;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use zeroize::Zeroizing;

use crate::errors::{Failure, Result};

/// Reads `obj[name]`, treating `undefined`/`null` objects as having nothing.
/// A throwing getter becomes `wrap`'s error with the exception as cause.
pub fn get(obj: &JsValue, name: &str, wrap: Error) -> Result<JsValue> {
    if obj.is_undefined() || obj.is_null() {
        return Ok(JsValue::UNDEFINED);
    }
    if !obj.is_object() && !obj.is_function() {
        return Err(Failure::type_error(wrap));
    }
    Reflect::get(obj, &JsValue::from_str(name)).map_err(|e| Failure::from(wrap).with_cause(e))
}

/// A JS string as Rust UTF-8, or `Err(())` if it holds a lone surrogate
/// (which the conversion would silently replace with U+FFFD); `None` if
/// `v` is not a string.
///
/// Only a string that comes out containing U+FFFD is compared back with
/// the original, so the common case costs nothing extra.
pub fn exact_string(v: &JsValue) -> Option<core::result::Result<Zeroizing<String>, ()>> {
    let s = Zeroizing::new(v.as_string()?);
    // U+FFFD in UTF-8 (a plain byte scan: `str::contains` pulls in KBs of searcher code).
    let has_replacement = s.as_bytes().windows(3).any(|w| w == [0xEF, 0xBF, 0xBD]);
    if has_replacement && JsValue::from_str(&s) != *v {
        return Some(Err(()));
    }
    Some(Ok(s))
}

/// True for `undefined` and `null`.
pub fn is_absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

/// Calls the app's function `what`, named as errors name it,
/// `"adapter.function"`: `obj[function](...args)`. Awaits the result if it
/// is a promise, for at most `limit_ms` (`adapterTimeoutMs`): past it the
/// call is abandoned with `ADAPTER_TIMEOUT` naming `what`. A missing method
/// is a `TypeError` with `missing`; a throw or rejection is `failed` with the
/// exception as cause.
pub async fn call_method(
    obj: &JsValue,
    what: &'static str,
    args: &[JsValue],
    missing: Error,
    failed: Error,
    limit_ms: u32,
) -> Result<JsValue> {
    // The function's name: what follows the last dot (one string per call site, not two).
    let name = what.bytes().rposition(|b| b == b'.').and_then(|dot| what.get(dot + 1..)).unwrap_or(what);
    let f = get(obj, name, missing.clone())?;
    let f: Function = f.dyn_into().map_err(|_| Failure::type_error(missing))?;
    let returned = match args {
        [] => f.call0(obj),
        [a] => f.call1(obj, a),
        _ => f.apply(obj, &args.iter().collect()),
    }
    .map_err(|e| Failure::from(failed.clone()).with_cause(e))?;
    settled(&returned, limit_ms, what).await?.map_err(|e| Failure::from(failed).with_cause(e))
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &JsValue, ms: u32) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// A time limit: a timer that rejects a private marker, raced against each
/// step; when it wins, a request is aborted (when `AbortController` exists)
/// so the connection is closed, not left to finish (or be resent by the
/// browser) behind the app's back. The timer is cleared on drop.
pub struct Deadline {
    timer: JsValue,
    expired: Promise,
    marker: Object,
    /// `controller.abort` bound to its controller (requests only).
    abort: Option<Function>,
}

impl Deadline {
    /// A deadline `ms` milliseconds from now.
    pub fn start(ms: u32) -> Deadline {
        let marker = Object::new();
        let mut timer = JsValue::UNDEFINED;
        let expired = Promise::new(&mut |_resolve, reject: Function| {
            let reject_with_marker = reject.bind1(&JsValue::NULL, &marker);
            timer = set_timeout(reject_with_marker.as_ref(), ms);
        });
        // A deadline that passes between two steps must not count as an
        // unhandled rejection.
        IGNORE_REJECTION.with(|ignore| drop(expired.catch(ignore)));
        Deadline { timer, expired, marker, abort: None }
    }

    /// A deadline for the `fetch` whose init object is `init`: gives it an
    /// abort signal, which fires when the deadline passes.
    pub fn for_request(ms: u32, init: &Object) -> Deadline {
        let mut deadline = Deadline::start(ms);
        let controller = js_sys::global()
            .dyn_into::<Object>()
            .ok()
            .and_then(|g| Reflect::get(&g, &"AbortController".into()).ok())
            .and_then(|c| c.dyn_into::<Function>().ok())
            .and_then(|c| Reflect::construct(&c, &js_sys::Array::new()).ok());
        deadline.abort = controller.as_ref().and_then(|c| {
            let signal = Reflect::get(c, &"signal".into()).ok()?;
            let abort = Reflect::get(c, &"abort".into()).ok()?.dyn_into::<Function>().ok()?;
            // Defining a data property on the init object made by the caller cannot fail.
            let _ = Reflect::set(init, &"signal".into(), &signal);
            Some(abort.bind0(c).unchecked_into::<Function>())
        });
        deadline
    }

    /// Waits for `step` (a promise, a thenable or a plain value), or fails
    /// when the deadline passes first. (A plain function, not an `async` one:
    /// one state machine less in each caller.)
    pub fn within(&self, step: &JsValue) -> JsFuture {
        JsFuture::from(Promise::race(&js_sys::Array::of2(step, &self.expired)))
    }

    /// Whether `e`, a rejection of [`Deadline::within`], is the deadline
    /// passing; if so, the request (if any) is aborted.
    pub fn passed(&self, e: &JsValue) -> bool {
        let passed = *e == JsValue::from(&self.marker);
        if passed {
            if let Some(abort) = &self.abort {
                // An abort that throws changes nothing: the step has failed either way.
                let _ = abort.call0(&JsValue::UNDEFINED);
            }
        }
        passed
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        clear_timeout(&self.timer);
    }
}

/// Awaits `value`, what the app's function `what` (`"keychain.getShares"`)
/// returned (a promise, a thenable or a plain value), for at most `ms`: its
/// value, or its rejection reason as the inner `Err`. Past the limit it is
/// abandoned with `ADAPTER_TIMEOUT` naming `what`.
pub async fn settled(
    value: &JsValue,
    ms: u32,
    what: &'static str,
) -> core::result::Result<core::result::Result<JsValue, JsValue>, Error> {
    let deadline = Deadline::start(ms);
    match deadline.within(value).await {
        Err(e) if deadline.passed(&e) => Err(Error::AdapterTimeout(what)),
        settled => Ok(settled),
    }
}

/// Sets `obj[name] = value` on an object made here.
pub fn set(obj: &Object, name: &str, value: &JsValue) {
    // Defining a data property on a plain object made here cannot fail.
    let _ = Reflect::set(obj, &JsValue::from_str(name), value);
}

thread_local! {
    /// One no-op rejection handler, made once and kept for the module's life.
    pub static IGNORE_REJECTION: Closure<dyn FnMut(JsValue)> = Closure::new(|_: JsValue| {});
}
