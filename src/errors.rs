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
    /// A message naming what the app passed (a wrong key or method name),
    /// in place of `error`'s own; never holds a secret.
    pub message: Option<String>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure { error, type_error: false, cause: None, message: None }
    }
}

impl Failure {
    /// A `TypeError` failure.
    pub fn type_error(error: Error) -> Self {
        Failure { error, type_error: true, cause: None, message: None }
    }

    /// Attaches the app's exception as `cause`.
    pub fn with_cause(mut self, cause: JsValue) -> Self {
        self.cause = Some(cause);
        self
    }

    /// Says `message` instead of the error's own words (its code stays).
    pub fn with_message(mut self, message: String) -> Self {
        self.message = Some(message);
        self
    }

    /// The JavaScript error object.
    pub fn into_js(self) -> JsValue {
        let message = self.message.unwrap_or_else(|| self.error.to_string());
        let err: js_sys::Error =
            if self.type_error { js_sys::TypeError::new(&message).into() } else { js_sys::Error::new(&message) };
        // Setting a data property on a fresh Error cannot fail.
        let _ = Reflect::set(&err, &"code".into(), &self.error.code().into());
        if let Error::WrongPassword(Some(left)) = self.error {
            let _ = Reflect::set(&err, &"guessesLeft".into(), &left.into());
        }
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

/// The hand-written TypeScript (`js/index.d.ts`), the JS constants
/// (`js/api.mjs`) and the error table of `docs/errors.md` against core, their one
/// source: a code, method or status added to core fails here until the
/// others say it too.
#[cfg(test)]
mod drift {
    use wallet_backup_core::{Error, MethodId, Status};

    const INDEX_D_TS: &str = include_str!("../js/index.d.ts");
    const API_MJS: &str = include_str!("../js/api.mjs");
    const ERRORS_MD: &str = include_str!("../docs/errors.md");

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    /// The single-quoted strings of `text`.
    fn quoted(text: &str) -> Vec<String> {
        text.split('\'').skip(1).step_by(2).map(String::from).collect()
    }

    /// The members of the TypeScript union `export type {name} = ...;`.
    fn ts_union(name: &str) -> Vec<String> {
        let at = INDEX_D_TS.find(&format!("export type {name} =")).unwrap_or_else(|| panic!("no type {name}"));
        let body = &INDEX_D_TS[at..];
        quoted(&body[..body.find(';').unwrap()])
    }

    /// The values of `export const {name} = Object.freeze({ ... })`.
    fn js_constants(name: &str) -> Vec<String> {
        let at = API_MJS.find(&format!("export const {name} = Object.freeze({{")).unwrap_or_else(|| panic!("{name}"));
        let body = &API_MJS[at..];
        quoted(&body[..body.find("})").unwrap()])
    }

    fn core_codes() -> Vec<String> {
        sorted(Error::all_variants().iter().map(|e| e.code().to_string()).collect())
    }

    #[test]
    fn error_codes_in_typescript_and_docs_errors_are_cores() {
        assert_eq!(sorted(ts_union("ErrorCode")), core_codes(), "js/index.d.ts ErrorCode");
        let table = &ERRORS_MD[ERRORS_MD.find("## Every code").expect("docs/errors.md: ## Every code")..];
        let table = &table[table.find("| code | when |").expect("docs/errors.md: the error table")..];
        let codes = table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| l.split('`').nth(1).expect("a code in backticks").to_string())
            .collect();
        assert_eq!(sorted(codes), core_codes(), "docs/errors.md's error table");
    }

    #[test]
    fn methods_and_statuses_in_typescript_and_js_are_cores() {
        let names: Vec<String> = MethodId::ALL.iter().map(|m| m.name().to_string()).collect();
        let mut both = names.clone();
        both.extend(MethodId::ALL.iter().map(|m| m.service_name().to_string()));
        assert_eq!(sorted(ts_union("BackupMethod")), sorted(both), "js/index.d.ts BackupMethod");
        // Each method twice: Portal React Native's name (`Password`) and web's (`password`).
        let mut constants = sorted(js_constants("BackupMethods"));
        let twice = constants.len();
        constants.dedup();
        assert_eq!(twice, 2 * constants.len(), "js/api.mjs BackupMethods: each method under two names");
        assert_eq!(constants, sorted(names.clone()), "js/api.mjs BackupMethods");
        // availableRecoveryMethods, in WalletBackupStatus and on Portal.
        let arrays: Vec<&str> = INDEX_D_TS.lines().filter(|l| l.contains("availableRecoveryMethods")).collect();
        assert_eq!(arrays.len(), 2, "{arrays:?}");
        for line in arrays {
            assert_eq!(sorted(quoted(line)), sorted(names.clone()), "{line}");
        }
        let statuses: Vec<String> = Status::ALL.iter().map(|s| s.as_str().to_string()).collect();
        assert_eq!(ts_union("MpcStatus"), statuses, "js/index.d.ts MpcStatus");
        assert_eq!(js_constants("MpcStatuses"), statuses, "js/api.mjs MpcStatuses");
    }
}
