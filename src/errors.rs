//! Turning core errors into JavaScript errors.
//!
//! Every rejection is an `Error` instance (a `TypeError` when an argument
//! has the wrong type) with a stable `code` property; an adapter's own
//! exception is attached as `cause`, never copied into the message.

use js_sys::Reflect;
use wallet_backup_core::Error;
use wasm_bindgen::JsValue;

/// A failure on its way to JavaScript.
#[derive(Debug)]
pub struct Failure {
    /// The core error (its code becomes `error.code`).
    pub error: Error,
    /// Whether to throw a `TypeError` rather than an `Error`.
    pub type_error: bool,
    /// The app's own exception that caused this, if any.
    pub cause: Option<JsValue>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure { error, type_error: false, cause: None }
    }
}

impl Failure {
    /// A `TypeError` failure.
    pub fn type_error(error: Error) -> Self {
        Failure { error, type_error: true, cause: None }
    }

    /// Attaches the app's exception as `cause`.
    pub fn with_cause(mut self, cause: JsValue) -> Self {
        self.cause = Some(cause);
        self
    }

    /// The JavaScript error object.
    pub fn into_js(self) -> JsValue {
        let message = self.error.to_string();
        let err: js_sys::Error =
            if self.type_error { js_sys::TypeError::new(&message).into() } else { js_sys::Error::new(&message) };
        // Setting a data property on a fresh Error cannot fail.
        let _ = Reflect::set(&err, &"code".into(), &self.error.code().into());
        if let Some(cause) = self.cause {
            err.set_cause(&cause);
        }
        err.into()
    }
}

/// The result type of the binding's internals.
pub type Result<T> = core::result::Result<T, Failure>;
