//! Helpers for reading app-supplied JavaScript values without trusting them.

use js_sys::{Function, Promise, Reflect};
use wallet_backup_core::Error;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

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

/// True for `undefined` and `null`.
pub fn is_absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

/// Calls `obj[name](...args)` and awaits the result if it is a promise.
/// A missing method is a `TypeError` with `missing`; a throw or rejection
/// is `failed` with the exception as cause.
pub async fn call_method(
    obj: &JsValue,
    name: &str,
    args: &[JsValue],
    missing: Error,
    failed: Error,
) -> Result<JsValue> {
    let f = get(obj, name, missing.clone())?;
    let f: Function = f.dyn_into().map_err(|_| Failure::type_error(missing))?;
    let returned = match args {
        [] => f.call0(obj),
        [a] => f.call1(obj, a),
        _ => f.apply(obj, &args.iter().collect()),
    }
    .map_err(|e| Failure::from(failed.clone()).with_cause(e))?;
    JsFuture::from(Promise::resolve(&returned)).await.map_err(|e| Failure::from(failed).with_cause(e))
}
