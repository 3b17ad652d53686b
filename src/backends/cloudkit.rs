//! The iCloud method on the web and in Node.js: the keys record (FORMAT.md
//! §3.4.4) kept in the user's iCloud over CloudKit Web Services (Apple's
//! "CloudKit Web Services Reference"; no CloudKit JS), in the private
//! database of the app's container: ONE record, recordName
//! `wallet-backup-keys`, recordType `WalletBackupKeys`, whose STRING field
//! `keys` holds the keys record, updated in place like the Google Drive
//! method's file. (React Native's form, the app's key-value store, is
//! in `app.rs`.)
//!
//! - read   `POST {host}/database/1/{container}/{environment}/private/records/lookup`
//!   `{ records: [{ recordName }] }`; a per-record `NOT_FOUND` is "nothing stored"
//! - write  `POST …/private/records/modify` `{ operations: [{ operationType, record }] }`:
//!   `create` when the last read found nothing, else `update` with the
//!   `recordChangeTag` of the last read (optimistic concurrency)
//! - delete `POST …/private/records/modify` with `forceDelete`
//!
//! Both tokens go in the query (`ckAPIToken`, `ckWebAuthToken`), because
//! Apple's protocol puts them there; they never go into an error, a `cause`
//! or a log. A web auth token is good for one request: each answer may
//! carry the next one in `X-Apple-CloudKit-Web-Auth-Token`, which the module
//! uses for its following request and hands to `onWebAuthToken`.
//! `getWebAuthToken()` resolving to `null` fails with
//! `ICLOUD_UNAUTHENTICATED` before any request, as does Apple's
//! `AUTHENTICATION_REQUIRED` (HTTP 421, or per record); every other failure
//! is `STORAGE_UNAVAILABLE` with `{ status, serverErrorCode }` or the
//! network exception as `cause`. A `CONFLICT` (another writer changed the
//! record since it was read) re-reads the record: if only its tag changed,
//! the write is retried once with the new tag; if its keys changed, the
//! write fails (`STORAGE_UNAVAILABLE`) rather than overwrite them.
//!
//! Every write is read back and compared before it counts, and a record
//! the module cannot read is never overwritten (core's `StoredRecord`). A
//! `getWebAuthToken` that does not settle within `adapterTimeoutMs` is
//! `ADAPTER_TIMEOUT`; `onWebAuthToken` is not awaited.

use core::cell::RefCell;
use std::rc::Rc;

use js_sys::{encode_uri_component, Array, Function, JsString, Object, Promise, Reflect, JSON};
use wallet_backup_core::{Error, StringStore, MAX_KEYS_TEXT_LEN};
use wasm_bindgen::{JsCast, JsValue};
use zeroize::Zeroizing;

use crate::config::{CloudKitSettings, ICLOUD_SHAPE};
use crate::errors::{Failure, LastCause};
use crate::http::http_text;
use crate::js::{call_method, exact_string, is_absent, set, Limit, IGNORE_REJECTION};

/// Its recordType, which the app's CloudKit schema must define (one STRING field, `keys`).
pub const RECORD_TYPE: &str = "WalletBackupKeys";
/// The answer header carrying the next web auth token.
const TOKEN_HEADER: &str = "X-Apple-CloudKit-Web-Auth-Token";
/// Longest token accepted (Apple's web auth tokens are a few hundred bytes).
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Longest CloudKit answer read (one small record).
const MAX_ANSWER_LEN: u32 = 64 * 1024;

/// A token (or a `serverErrorCode`, a `recordChangeTag`) as Apple makes them:
/// visible ASCII without quotes or backslashes, bounded.
pub fn token_ok(t: &str) -> bool {
    !t.is_empty() && t.len() <= MAX_TOKEN_LEN && t.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

/// The property `name` of `v` as a string made by Apple (see [`token_ok`]).
fn apple_string(v: &JsValue, name: &str) -> Option<String> {
    Reflect::get(v, &JsValue::from_str(name)).ok()?.as_string().filter(|s| token_ok(s))
}

/// `encodeURIComponent(text)`.
fn encoded(text: &str) -> Zeroizing<String> {
    Zeroizing::new(String::from(encode_uri_component(text)))
}

/// The keys record in the private database of the app's CloudKit container.
pub struct CloudKitStorage {
    /// The `ICloudStorage` object: `getWebAuthToken`, `onWebAuthToken`.
    storage: JsValue,
    /// `{host}/database/1/{container}/{environment}/private/records/`.
    base: String,
    /// The API token, URL-encoded.
    api_token: Zeroizing<String>,
    cause: Rc<LastCause>,
    /// The web auth token for the next request: asked once per call, then
    /// the one each answer hands on.
    token: RefCell<Option<Zeroizing<String>>>,
    /// The `recordChangeTag` of the record as last read or written; `None`
    /// when there was none.
    tag: RefCell<Option<String>>,
    /// The keys record as last read or written (`None`: no record).
    last: RefCell<Option<Zeroizing<String>>>,
    /// How long `getWebAuthToken` may take (`adapterTimeoutMs`).
    limit: Limit,
}

/// What CloudKit answered for the keys record: the record dictionary, or
/// the `serverErrorCode` of its per-record error.
type RecordAnswer = core::result::Result<JsValue, String>;

impl CloudKitStorage {
    /// The keys record of `settings`; `getWebAuthToken` may take `limit`.
    pub fn new(settings: CloudKitSettings, cause: Rc<LastCause>, limit: Limit) -> CloudKitStorage {
        CloudKitStorage {
            storage: settings.storage,
            base: settings.base,
            api_token: encoded(&settings.api_token),
            cause,
            token: RefCell::new(None),
            tag: RefCell::new(None),
            last: RefCell::new(None),
            limit,
        }
    }

    /// The user's web auth token: asked once per call, then handed on by each answer.
    async fn token(&self) -> core::result::Result<Zeroizing<String>, Error> {
        if let Some(t) = self.token.borrow().as_ref() {
            return Ok(t.clone());
        }
        let token = call_method(
            &self.storage,
            "icloud.getWebAuthToken",
            &[],
            Error::InvalidArgument(ICLOUD_SHAPE),
            Error::ICloudUnauthenticated,
            &self.limit,
        )
        .await
        .map_err(|f| self.cause.keep(f))?;
        let token = match exact_string(&token) {
            Some(Ok(t)) if t.is_empty() => return Err(Error::ICloudUnauthenticated),
            Some(Ok(t)) if token_ok(&t) => t,
            None if is_absent(&token) => return Err(Error::ICloudUnauthenticated),
            _ => {
                return Err(self.cause.keep(Failure::type_error(Error::InvalidArgument(
                    "icloud.getWebAuthToken must resolve to a web auth token or null",
                ))))
            }
        };
        *self.token.borrow_mut() = Some(token.clone());
        Ok(token)
    }

    /// `{ status, serverErrorCode }`, the `cause` of a refusal.
    fn refusal(status: u16, code: &str) -> JsValue {
        let cause = Object::new();
        set(&cause, "status", &status.into());
        set(&cause, "serverErrorCode", &JsValue::from_str(code));
        cause.into()
    }

    /// The error for CloudKit's refusal `code` (HTTP `status`), its cause kept.
    fn refused(&self, status: u16, code: &str, error: Error) -> Error {
        let error =
            if status == 421 || code == "AUTHENTICATION_REQUIRED" { Error::ICloudUnauthenticated } else { error };
        self.cause.keep(Failure::from(error).with_cause(Self::refusal(status, code)))
    }

    /// One `records/{operation}` request about the keys record.
    async fn request(&self, operation: &str, body: &str) -> core::result::Result<RecordAnswer, Error> {
        let token = self.token().await?;
        let token_in_url = encoded(&token);
        let mut url = Zeroizing::new(self.base.clone());
        for part in [operation, "?ckAPIToken=", &self.api_token, "&ckWebAuthToken=", &token_in_url] {
            url.push_str(part);
        }
        let headers = Object::new();
        // A "simple" request (text/plain): no CORS preflight, so the tokens go out once.
        set(&headers, "Content-Type", &"text/plain".into());
        let sent =
            http_text("POST", &url, &headers, Some(body), MAX_ANSWER_LEN, Some(TOKEN_HEADER), &self.limit.signal);
        let (status, text, next) = match sent.await {
            Ok(answer) => answer,
            Err(f) => {
                let mut failure = Failure::from(Error::StorageUnavailable("iCloud could not be reached"));
                // The exception is the cause, unless it quotes the URL (and so a token).
                let secrets = [token_in_url.as_str(), self.api_token.as_str()];
                failure.cause = f.cause.filter(|e| !mentions(e, &secrets));
                return Err(self.cause.keep(failure));
            }
        };
        if let Some(next) = next.filter(|t| token_ok(t)) {
            self.rotate(next);
        }
        let parsed = JSON::parse(&text).unwrap_or_default();
        if !(200..300).contains(&status) {
            let code = apple_string(&parsed, "serverErrorCode").unwrap_or_default();
            return Err(self.refused(status, &code, Error::StorageUnavailable("iCloud refused the request")));
        }
        let record = Reflect::get(&parsed, &"records".into())
            .ok()
            .and_then(|r| r.dyn_into::<Array>().ok())
            .map(|r| r.get(0))
            .filter(|r| r.is_object())
            .ok_or(Error::StorageUnavailable("unexpected answer from iCloud"))?;
        Ok(match apple_string(&record, "serverErrorCode") {
            Some(code) => Err(code),
            None => Ok(record),
        })
    }

    /// Takes the next web auth token an answer handed on, and hands it to the app.
    fn rotate(&self, next: Zeroizing<String>) {
        let value = JsValue::from_str(&next);
        *self.token.borrow_mut() = Some(next);
        let listener = Reflect::get(&self.storage, &"onWebAuthToken".into()).unwrap_or_default();
        if let Some(listener) = listener.dyn_ref::<Function>() {
            // The app's listener cannot fail the backup: throws and rejections are ignored.
            if let Ok(p) = listener.call1(&self.storage, &value).and_then(|r| r.dyn_into::<Promise>()) {
                IGNORE_REJECTION.with(|ignore| drop(p.catch(ignore)));
            }
        }
    }

    /// Keeps the state of the record CloudKit returned (or `None`: there is none).
    fn keep(&self, record: Option<&JsValue>, text: Option<Zeroizing<String>>) -> core::result::Result<(), Error> {
        let tag = match record {
            Some(r) => Some(
                apple_string(r, "recordChangeTag").ok_or(Error::StorageUnavailable("unexpected answer from iCloud"))?,
            ),
            None => None,
        };
        *self.tag.borrow_mut() = tag;
        *self.last.borrow_mut() = text;
        Ok(())
    }

    /// Deletes the keys record (every kept key with it); `false` if there was none.
    pub async fn delete(&self) -> core::result::Result<bool, Error> {
        let body = r#"{"operations":[{"operationType":"forceDelete","record":{"recordName":"wallet-backup-keys"}}]}"#;
        let existed = match self.request("modify", body).await? {
            Ok(_) => true,
            Err(code) if code == "NOT_FOUND" => false,
            Err(code) => return Err(self.refused(200, &code, Error::StorageUnavailable("iCloud refused the request"))),
        };
        self.keep(None, None)?;
        Ok(existed)
    }
}

impl StringStore for CloudKitStorage {
    async fn read(&self) -> core::result::Result<Option<Zeroizing<String>>, Error> {
        let record = match self.request("lookup", r#"{"records":[{"recordName":"wallet-backup-keys"}]}"#).await? {
            Ok(record) => record,
            Err(code) if code == "NOT_FOUND" => {
                self.keep(None, None)?;
                return Ok(None);
            }
            Err(code) => return Err(self.refused(200, &code, Error::StorageUnavailable("iCloud refused the request"))),
        };
        let foreign = Error::StorageUnavailable("the iCloud record is not a wallet-backup keys record");
        if Reflect::get(&record, &"recordType".into()).ok().and_then(|t| t.as_string()).as_deref() != Some(RECORD_TYPE)
        {
            return Err(foreign);
        }
        let mut value = Reflect::get(&record, &"fields".into()).unwrap_or_default();
        for name in ["keys", "value"] {
            value = if value.is_object() {
                Reflect::get(&value, &name.into()).unwrap_or_default()
            } else {
                JsValue::UNDEFINED
            };
        }
        let value = value.dyn_into::<JsString>().map_err(|_| foreign.clone())?;
        // Bounded before it is copied into wasm memory: a longer value is no keys record.
        if value.length() as usize > MAX_KEYS_TEXT_LEN {
            return Err(foreign);
        }
        let text = Zeroizing::new(String::from(value));
        self.keep(Some(&record), Some(text.clone()))?;
        Ok(Some(text))
    }

    async fn write(&self, record: &str) -> core::result::Result<(), Error> {
        for retried in [false, true] {
            // Keys records are base64url after their prefix, and tags were checked
            // by `token_ok`: both go into the JSON as they are.
            let mut body = Zeroizing::new(String::from(r#"{"operations":[{"operationType":""#));
            let tag = self.tag.borrow().clone();
            let parts: [&str; 5] = match &tag {
                Some(tag) => [r#"update","record":{"recordChangeTag":""#, tag, r#"","#, "", ""],
                None => [r#"create","record":{"#, "", "", "", ""],
            };
            for part in parts.into_iter().chain([
                r#""recordName":"wallet-backup-keys","recordType":"WalletBackupKeys","fields":{"keys":{"type":"STRING","value":""#,
                record,
                r#""}}}}]}"#,
            ]) {
                body.push_str(part);
            }
            let code = match self.request("modify", &body).await? {
                Ok(saved) => return self.keep(Some(&saved), Some(Zeroizing::new(String::from(record)))),
                Err(code) => code,
            };
            let conflict = code == "CONFLICT" || code == "EXISTS";
            if conflict && !retried {
                // Another writer got there between our read and this write. Re-read:
                // when only the tag moved, the keys we built on are still there, and
                // the write is retried with the new tag; when the keys changed,
                // writing would drop the other writer's, so the backup fails instead.
                let seen = self.last.borrow_mut().take();
                let now = self.read().await?;
                if matches!((&seen, &now), (Some(a), Some(b)) if same(a.as_bytes(), b.as_bytes())) {
                    continue;
                }
            }
            let why = if conflict {
                "another device changed the iCloud keys record during the backup; try again"
            } else {
                "iCloud refused the request"
            };
            return Err(self.refused(200, &code, Error::StorageUnavailable(why)));
        }
        Err(Error::Unexpected("unreachable"))
    }
}

/// Whether two stored values are equal, in time that depends only on their lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the exception `e`, or the one that caused it, mentions one of
/// `secrets` in its message or stack.
fn mentions(e: &JsValue, secrets: &[&str]) -> bool {
    let mut layer = e.clone();
    for _ in 0..3 {
        for text in [
            layer.clone(),
            Reflect::get(&layer, &"message".into()).unwrap_or_default(),
            Reflect::get(&layer, &"stack".into()).unwrap_or_default(),
        ] {
            if let Some(text) = text.dyn_ref::<JsString>() {
                if secrets.iter().any(|s| text.includes(s, 0)) {
                    return true;
                }
            }
        }
        layer = Reflect::get(&layer, &"cause".into()).unwrap_or_default();
    }
    false
}
