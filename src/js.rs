//! JavaScript interop: reading app-supplied values without trusting them,
//! calling the app's functions within a time limit, and the module's one
//! timer and cancellation mechanism ([`Deadline`]).
//!
//! A deadline is a timer that rejects a private marker, raced against each
//! step with `Promise.race`: behind the backup service's and other servers'
//! requests (`timeoutMs`, which also aborts the request) and every call into
//! the app's functions and passkey prompts (`adapterTimeoutMs`, see
//! [`settled`]). The app's [`Signal`] (`config.signal`) is raced the same
//! way: its `abort` event rejects another marker, and a signal already
//! aborted fails the step before it waits. The race subscribes to the
//! step's promise, so an abandoned promise that rejects later is handled
//! (no unhandled rejection) and one that resolves later runs no module code.

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
/// is a promise, for at most `limit.ms` (`adapterTimeoutMs`): past it the
/// call is abandoned with `ADAPTER_TIMEOUT` naming `what`, and when the
/// app's signal aborts, with `ABORTED`. A missing method
/// is a `TypeError` with `missing`; a throw or rejection is `failed` with the
/// exception as cause.
pub async fn call_method(
    obj: &JsValue,
    what: &'static str,
    args: &[JsValue],
    missing: Error,
    failed: Error,
    limit: &Limit,
) -> Result<JsValue> {
    // The function's name: what follows the last dot (one string per call site, not two).
    let name = what.bytes().rposition(|b| b == b'.').and_then(|dot| what.get(dot + 1..)).unwrap_or(what);
    let f = get(obj, name, missing.clone())?;
    let f: Function = f.dyn_into().map_err(|_| Failure::type_error(missing))?;
    // An abort stops before the next call into the app.
    limit.signal.check()?;
    let returned = match args {
        [] => f.call0(obj),
        [a] => f.call1(obj, a),
        _ => f.apply(obj, &args.iter().collect()),
    }
    .map_err(|e| Failure::from(failed.clone()).with_cause(e))?;
    settled(&returned, limit, what).await?.map_err(|e| Failure::from(failed).with_cause(e))
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &JsValue, ms: u32) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// The app's `AbortSignal` (`config.signal`), or none. Read duck-typed
/// (`aborted`, `reason`, `addEventListener`), like `fetch`.
#[derive(Clone, Default)]
pub struct Signal(Option<Object>);

impl Signal {
    /// `config.signal`: absent, or an object with a boolean `aborted` and
    /// `addEventListener`/`removeEventListener` functions.
    pub fn read(value: JsValue) -> Result<Signal> {
        if is_absent(&value) {
            return Ok(Signal(None));
        }
        let bad = || Failure::type_error(Error::InvalidArgument("signal must be an AbortSignal"));
        let obj: Object = value.dyn_into().map_err(|_| bad())?;
        let has = |name: &str| Reflect::get(&obj, &name.into()).map(|f| f.is_function()).unwrap_or(false);
        let aborted = Reflect::get(&obj, &"aborted".into()).map_err(|_| bad())?;
        if aborted.as_bool().is_none() || !has("addEventListener") || !has("removeEventListener") {
            return Err(bad());
        }
        Ok(Signal(Some(obj)))
    }

    /// Whether the app has aborted.
    pub fn aborted(&self) -> bool {
        self.0.as_ref().is_some_and(|s| Reflect::get(s, &"aborted".into()).ok().and_then(|a| a.as_bool()) == Some(true))
    }

    /// `ABORTED` if the app has aborted (checked between steps).
    pub fn check(&self) -> core::result::Result<(), Error> {
        if self.aborted() {
            Err(Error::Aborted)
        } else {
            Ok(())
        }
    }

    /// The signal's `reason` (the `cause` of `ABORTED`).
    pub fn reason(&self) -> JsValue {
        self.0.as_ref().and_then(|s| Reflect::get(s, &"reason".into()).ok()).unwrap_or(JsValue::UNDEFINED)
    }

    /// Sets `options.signal` (on an options object made here for the
    /// app's function), when there is a signal, so an adapter that honours
    /// it stops its own work too.
    pub fn hand_to(&self, options: &Object) {
        if let Some(s) = &self.0 {
            set(options, "signal", s);
        }
    }
}

/// How a step raced against a [`Deadline`] ended early.
#[derive(PartialEq, Eq)]
pub enum Ended {
    /// The time limit passed.
    Passed,
    /// The app aborted.
    Aborted,
}

/// A time limit and the app's signal: a timer that rejects a private
/// marker and an `abort` listener that rejects another, raced against each
/// step; when either wins, a request is aborted (when `AbortController`
/// exists) so the connection is closed, not left to finish (or be resent by
/// the browser) behind the app's back. The timer is cleared and the listener
/// removed on drop.
pub struct Deadline {
    timer: JsValue,
    expired: Promise,
    marker: Object,
    /// The app's signal and the listener on it, rejecting `abort_marker`.
    listener: Option<(Object, Function)>,
    abort_marker: Object,
    /// `controller.abort` bound to its controller (requests only).
    abort: Option<Function>,
}

impl Deadline {
    /// A deadline `ms` milliseconds from now, which also ends when `signal`
    /// aborts (at once if it already has).
    pub fn start(ms: u32, signal: &Signal) -> Deadline {
        let marker = Object::new();
        let abort_marker = Object::new();
        let mut timer = JsValue::UNDEFINED;
        let mut listener: Option<(Object, Function)> = None;
        let expired = Promise::new(&mut |_resolve, reject: Function| {
            let reject_with_marker = reject.bind1(&JsValue::NULL, &marker);
            timer = set_timeout(reject_with_marker.as_ref(), ms);
            if let Some(s) = &signal.0 {
                let on_abort = reject.bind1(&JsValue::NULL, &abort_marker);
                if signal.aborted() {
                    let _ = on_abort.call0(&JsValue::UNDEFINED);
                } else if let Ok(add) = Reflect::get(s, &"addEventListener".into()) {
                    let add: Function = add.unchecked_into();
                    let _ = add.call2(s, &"abort".into(), &on_abort);
                    listener = Some((s.clone(), on_abort.unchecked_into::<Function>()));
                }
            }
        });
        // A deadline that passes between two steps must not count as an
        // unhandled rejection.
        IGNORE_REJECTION.with(|ignore| drop(expired.catch(ignore)));
        Deadline { timer, expired, marker, listener, abort_marker, abort: None }
    }

    /// A deadline for the `fetch` whose init object is `init`: gives it an
    /// abort signal, which fires when the deadline passes or `signal` aborts.
    pub fn for_request(ms: u32, signal: &Signal, init: &Object) -> Deadline {
        let mut deadline = Deadline::start(ms, signal);
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
    /// when the deadline passes or the app aborts first. (A plain function,
    /// not an `async` one: one state machine less in each caller.)
    pub fn within(&self, step: &JsValue) -> JsFuture {
        JsFuture::from(Promise::race(&js_sys::Array::of2(step, &self.expired)))
    }

    /// Whether `e`, a rejection of [`Deadline::within`], is the deadline
    /// passing or the app aborting; if so, the request (if any) is aborted.
    pub fn ended(&self, e: &JsValue) -> Option<Ended> {
        let ended = if *e == JsValue::from(&self.marker) {
            Ended::Passed
        } else if *e == JsValue::from(&self.abort_marker) {
            Ended::Aborted
        } else {
            return None;
        };
        if let Some(abort) = &self.abort {
            // An abort that throws changes nothing: the step has failed either way.
            let _ = abort.call0(&JsValue::UNDEFINED);
        }
        Some(ended)
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        clear_timeout(&self.timer);
        if let Some((signal, on_abort)) = &self.listener {
            if let Ok(remove) = Reflect::get(signal, &"removeEventListener".into()) {
                let _ = remove.unchecked_into::<Function>().call2(signal, &"abort".into(), on_abort);
            }
        }
    }
}

/// Awaits `value`, what the app's function `what` (`"keychain.getShares"`)
/// returned (a promise, a thenable or a plain value), for at most `ms`: its
/// value, or its rejection reason as the inner `Err`. Past the limit it is
/// abandoned with `ADAPTER_TIMEOUT` naming `what`; when the app aborts, with
/// `ABORTED`.
pub async fn settled(
    value: &JsValue,
    limit: &Limit,
    what: &'static str,
) -> core::result::Result<core::result::Result<JsValue, JsValue>, Error> {
    let deadline = Deadline::start(limit.ms, &limit.signal);
    match deadline.within(value).await {
        Err(e) => match deadline.ended(&e) {
            Some(Ended::Passed) => Err(Error::AdapterTimeout(what)),
            Some(Ended::Aborted) => Err(Error::Aborted),
            None => Ok(Err(e)),
        },
        Ok(v) => Ok(Ok(v)),
    }
}

/// What bounds each call into the app's functions: `adapterTimeoutMs` and
/// the app's signal.
#[derive(Clone, Default)]
pub struct Limit {
    /// `adapterTimeoutMs`.
    pub ms: u32,
    /// `config.signal`.
    pub signal: Signal,
}

impl Limit {
    /// The same time limit without the signal, for a step that commits
    /// (the keychain write of a recovery): once started, its own result
    /// decides, so an abort never leaves it half done.
    pub fn committing(&self) -> Limit {
        Limit { ms: self.ms, signal: Signal::default() }
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
