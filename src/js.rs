//! Helpers for reading app-supplied JavaScript values without trusting them.

use js_sys::{Function, Reflect};
use wallet_backup_core::Error;
use wasm_bindgen::{JsCast, JsValue};
use zeroize::Zeroizing;

use crate::deadline::settled;
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
