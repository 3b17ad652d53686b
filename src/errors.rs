//! Turning core errors into JavaScript errors.
//!
//! Every rejection is an `Error` instance (a `TypeError` when an argument
//! has the wrong type) with a stable `code` property; an adapter's own
//! exception is attached as `cause`, never copied into the message.
//!
//! Core's traits carry only core errors, so a failure of the app's function
//! (with its `TypeError` flag and `cause`) is kept aside in [`LastCause`] on
//! its way up through core and thrown as it was by the export.

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

/// Where a JS adapter failure is remembered, so the export can throw it as
/// it was (a `TypeError` for a missing method, the app's exception as
/// `cause`): the core traits carry only core errors.
#[derive(Default)]
pub struct LastCause(core::cell::RefCell<Option<Failure>>);

impl LastCause {
    /// Remembers `f` to be thrown as it is; returns its core error.
    pub fn keep(&self, f: Failure) -> Error {
        let error = f.error.clone();
        *self.0.borrow_mut() = Some(f);
        error
    }

    /// The failure to throw for `error`: the adapter failure behind it if
    /// there was one, else `error` as a plain `Error`.
    pub fn failure_for(&self, error: Error) -> Failure {
        match self.0.borrow_mut().take() {
            Some(kept) if kept.error == error => kept,
            _ => Failure::from(error),
        }
    }
}
