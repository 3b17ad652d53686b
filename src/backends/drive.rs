//! Google Drive method: the backup key is drawn at random and kept in the
//! user's Drive, in the app's hidden `appDataFolder` (scope
//! `drive.appdata`), in ONE file, `wallet-backup-keys.json`, holding a keys
//! record (FORMAT.md §3.4.4) that is updated in place.
//!
//! `config.gdrive` is a `GDriveStorage` (or any object) with
//! `getAccessToken()` resolving to an OAuth access token or `null`, and an
//! optional `driveHost` (default `https://www.googleapis.com`; https, or
//! http for loopback only). Drive v3 REST calls:
//!
//! - find   `GET /drive/v3/files?spaces=appDataFolder&q=name='wallet-backup-keys.json' and trashed=false`
//! - read   `GET /drive/v3/files/{id}?alt=media`
//! - create `POST /upload/drive/v3/files?uploadType=multipart` (`parents: ["appDataFolder"]`)
//! - update `PATCH /upload/drive/v3/files/{id}?uploadType=multipart`
//! - delete `DELETE /drive/v3/files/{id}`
//!
//! The token goes only in the `Authorization` header. `null` fails with
//! `GOOGLE_UNAUTHENTICATED` before any request, as does a 401; every other
//! failure is `STORAGE_UNAVAILABLE` with `{ status, code }` (Google's
//! `error.status`) or the network exception as `cause`. A `getAccessToken`
//! that does not settle within `adapterTimeoutMs` is `ADAPTER_TIMEOUT`.

use core::cell::RefCell;
use std::rc::Rc;

use js_sys::{Object, Reflect, JSON};
use wallet_backup_core::{Error, StringStore, MAX_KEYS_TEXT_LEN};
use wasm_bindgen::{JsCast, JsValue};
use zeroize::Zeroizing;

use crate::config::DriveSettings;
use crate::errors::{Failure, LastCause};
use crate::http::{http_text, refusal_cause, Refusal, DEFAULT_TIMEOUT_MS};
use crate::js::{call_method, exact_string, is_absent, set};

/// Longest access token accepted (Google's are a few hundred bytes).
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Longest Drive answer read (JSON metadata or the keys file).
const MAX_ANSWER_LEN: u32 = 64 * 1024;
/// Multipart boundary: `.` never occurs in base64url, so never in a record's body.
const BOUNDARY: &str = "wallet-backup.keys.part";

/// The keys file in the user's Drive.
pub struct DriveStorage {
    /// The `GDriveStorage` object, whose `getAccessToken` gives tokens.
    storage: JsValue,
    base: String,
    cause: Rc<LastCause>,
    /// The access token, asked once per call.
    token: RefCell<Option<Zeroizing<String>>>,
    /// The keys file's id, once found or created.
    file_id: RefCell<Option<String>>,
    /// How long `getAccessToken` may take (`adapterTimeoutMs`).
    limit_ms: u32,
}

/// A file id as Drive makes them; anything else is refused rather than put in a path.
fn valid_file_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl DriveStorage {
    /// The keys file of `settings`; `getAccessToken` may take `limit_ms`.
    pub fn new(settings: DriveSettings, cause: Rc<LastCause>, limit_ms: u32) -> DriveStorage {
        DriveStorage {
            storage: settings.storage,
            base: settings.base,
            cause,
            token: RefCell::new(None),
            file_id: RefCell::new(None),
            limit_ms,
        }
    }

    /// The user's access token (asked once per call).
    async fn token(&self) -> core::result::Result<Zeroizing<String>, Error> {
        if let Some(t) = self.token.borrow().as_ref() {
            return Ok(t.clone());
        }
        let token = call_method(
            &self.storage,
            "gdrive.getAccessToken",
            &[],
            Error::InvalidArgument("gdrive.getAccessToken must be a function"),
            Error::GoogleUnauthenticated,
            self.limit_ms,
        )
        .await
        .map_err(|f| self.cause.keep(f))?;
        let token = match exact_string(&token) {
            Some(Ok(t)) if t.is_empty() => return Err(Error::GoogleUnauthenticated),
            Some(Ok(t)) if t.len() <= MAX_TOKEN_LEN && t.bytes().all(|b| b.is_ascii_graphic()) => t,
            Some(_) => {
                return Err(Error::InvalidArgument("gdrive.getAccessToken returned something that is not a token"))
            }
            None if is_absent(&token) => return Err(Error::GoogleUnauthenticated),
            None => {
                return Err(self.cause.keep(Failure::type_error(Error::InvalidArgument(
                    "gdrive.getAccessToken must resolve to a string or null",
                ))))
            }
        };
        *self.token.borrow_mut() = Some(token.clone());
        Ok(token)
    }

    /// One Drive request: the 2xx body, or the failure with its cause kept.
    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> core::result::Result<Zeroizing<String>, Error> {
        let token = self.token().await?;
        let headers = Object::new();
        let mut authorization = Zeroizing::new(String::from("Bearer "));
        authorization.push_str(&token);
        set(&headers, "Authorization", &JsValue::from_str(&authorization));
        if body.is_some() {
            let mut content_type = String::from("multipart/related; boundary=");
            content_type.push_str(BOUNDARY);
            set(&headers, "Content-Type", &content_type.into());
        }
        let mut url = String::with_capacity(self.base.len() + path.len());
        url.push_str(&self.base);
        url.push_str(path);
        let (status, text) =
            match http_text(method, &url, &headers, body, DEFAULT_TIMEOUT_MS, MAX_ANSWER_LEN, None).await {
                Ok((status, text, _)) => (status, text),
                Err(f) => {
                    let error = match f.error {
                        Error::NetworkTimeout => Error::StorageUnavailable("Google Drive did not answer in time"),
                        Error::ServiceError(_) => Error::StorageUnavailable("Google Drive's answer is too large"),
                        _ => Error::StorageUnavailable("Google Drive could not be reached"),
                    };
                    let mut failure = Failure::from(error);
                    failure.cause = f.cause;
                    return Err(self.cause.keep(failure));
                }
            };
        if (200..300).contains(&status) {
            return Ok(text);
        }
        // Google's error body: { error: { code, message, status, errors: [{ reason }] } }.
        let code = JSON::parse(&text)
            .ok()
            .and_then(|v| Reflect::get(&v, &"error".into()).ok())
            .and_then(|e| Reflect::get(&e, &"status".into()).ok())
            .and_then(|c| c.as_string())
            .filter(|c| c.len() <= 64)
            .unwrap_or_default();
        let cause = refusal_cause(&Refusal { status, code });
        let error = if status == 401 {
            Error::GoogleUnauthenticated
        } else {
            Error::StorageUnavailable("Google Drive refused the request")
        };
        Err(self.cause.keep(Failure::from(error).with_cause(cause)))
    }

    /// The keys file's id, if the file exists (the oldest, should there be several).
    pub async fn find(&self) -> core::result::Result<Option<String>, Error> {
        if let Some(id) = self.file_id.borrow().as_ref() {
            return Ok(Some(id.clone()));
        }
        let path = "/drive/v3/files?spaces=appDataFolder&q=name%3D%27wallet-backup-keys.json%27%20and%20trashed%3Dfalse&fields=files(id)&orderBy=createdTime&pageSize=10";
        let text = self.request("GET", path, None).await?;
        let unexpected = Error::StorageUnavailable("unexpected answer from Google Drive");
        let files = JSON::parse(&text)
            .ok()
            .and_then(|v| Reflect::get(&v, &"files".into()).ok())
            .and_then(|f| f.dyn_into::<js_sys::Array>().ok())
            .ok_or(unexpected.clone())?;
        if files.length() == 0 {
            return Ok(None);
        }
        let id = Reflect::get(&files.get(0), &"id".into())
            .ok()
            .and_then(|i| i.as_string())
            .filter(|i| valid_file_id(i))
            .ok_or(unexpected)?;
        *self.file_id.borrow_mut() = Some(id.clone());
        Ok(Some(id))
    }

    /// Deletes the keys file (every kept key with it); `false` if there was none.
    pub async fn delete(&self) -> core::result::Result<bool, Error> {
        let Some(id) = self.find().await? else { return Ok(false) };
        let mut path = String::from("/drive/v3/files/");
        path.push_str(&id);
        self.request("DELETE", &path, None).await?;
        *self.file_id.borrow_mut() = None;
        Ok(true)
    }

    fn multipart(metadata: &str, record: &str) -> String {
        let mut body = String::with_capacity(256 + record.len());
        for part in [
            "--",
            BOUNDARY,
            "\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n",
            metadata,
            "\r\n--",
            BOUNDARY,
            "\r\nContent-Type: text/plain\r\n\r\n",
            record,
            "\r\n--",
            BOUNDARY,
            "--\r\n",
        ] {
            body.push_str(part);
        }
        body
    }
}

impl StringStore for DriveStorage {
    async fn read(&self) -> core::result::Result<Option<Zeroizing<String>>, Error> {
        let Some(id) = self.find().await? else { return Ok(None) };
        let mut path = String::from("/drive/v3/files/");
        path.push_str(&id);
        path.push_str("?alt=media");
        let text = self.request("GET", &path, None).await?;
        if text.len() > MAX_KEYS_TEXT_LEN {
            return Err(Error::StorageUnavailable("the Drive file is not a wallet-backup keys record"));
        }
        Ok(Some(text))
    }

    async fn write(&self, record: &str) -> core::result::Result<(), Error> {
        match self.find().await? {
            Some(id) => {
                let mut path = String::from("/upload/drive/v3/files/");
                path.push_str(&id);
                path.push_str("?uploadType=multipart&fields=id");
                self.request("PATCH", &path, Some(&Self::multipart("{}", record))).await?;
            }
            None => {
                let metadata =
                    r#"{"name":"wallet-backup-keys.json","parents":["appDataFolder"],"mimeType":"text/plain"}"#;
                let body = Self::multipart(metadata, record);
                let text =
                    self.request("POST", "/upload/drive/v3/files?uploadType=multipart&fields=id", Some(&body)).await?;
                let id = JSON::parse(&text)
                    .ok()
                    .and_then(|v| Reflect::get(&v, &"id".into()).ok())
                    .and_then(|i| i.as_string())
                    .filter(|i| valid_file_id(i))
                    .ok_or(Error::StorageUnavailable("unexpected answer from Google Drive"))?;
                *self.file_id.borrow_mut() = Some(id);
            }
        }
        Ok(())
    }
}
