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
//! Drive does not keep names unique: two devices creating the file at once
//! leave two. Finding several, the module merges them (core's
//! `KeyRecord::merge`): it reads every one, writes the union into the oldest
//! (the one every device picks), reads it back, and only then deletes the
//! others. If any of them cannot be read as a keys record (a newer version's,
//! damaged), nothing is written or deleted and the call fails with
//! `STORAGE_UNAVAILABLE`, as a single such file does.
//!
//! The token goes only in the `Authorization` header. `null` fails with
//! `GOOGLE_UNAUTHENTICATED` before any request, as does a 401; a 403 for a
//! token without the `drive.appdata` scope (reason `insufficientPermissions`,
//! `ACCESS_TOKEN_SCOPE_INSUFFICIENT`) is `GOOGLE_SCOPE_MISSING`; every other
//! failure (rate and storage limits included) is `STORAGE_UNAVAILABLE`, with
//! `{ status, code }` (Google's `error.status`) or the network exception as
//! `cause`. A `getAccessToken` that does not settle within `adapterTimeoutMs`
//! is `ADAPTER_TIMEOUT`.

use core::cell::RefCell;
use std::rc::Rc;

use js_sys::{Object, Reflect, JSON};
use subtle::ConstantTimeEq;
use wallet_backup_core::{Error, KeyRecord, StringStore, MAX_KEYS_TEXT_LEN};
use wasm_bindgen::{JsCast, JsValue};
use zeroize::Zeroizing;

use crate::config::DriveSettings;
use crate::errors::{Failure, LastCause};
use crate::http::{http_text, refusal_cause, Refusal};
use crate::js::{call_method, exact_string, is_absent, set, Limit};

/// Longest access token accepted (Google's are a few hundred bytes).
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Longest Drive answer read (JSON metadata or the keys file).
const MAX_ANSWER_LEN: u32 = 64 * 1024;
/// Most files of the keys file's name read and merged (several exist only
/// when devices created the file at once).
const MAX_FILES: usize = 10;
/// The keys files, oldest first, with when each was last written.
const LIST_PATH: &str = "/drive/v3/files?spaces=appDataFolder&q=name%3D%27wallet-backup-keys.json%27%20and%20trashed%3Dfalse&fields=files(id%2CmodifiedTime)&orderBy=createdTime&pageSize=10";
/// Why a merge of several keys files stopped before changing any.
const UNREADABLE: &str =
    "Google Drive holds several keys files and one cannot be read as a keys record; none was changed";
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
    limit: Limit,
}

/// One keys file, as the listing gives it.
struct Listed {
    id: String,
    /// RFC 3339 in UTC, as Drive writes it: ordered as text.
    modified: String,
}

/// Whether Google's error object lists `reason` in its array `list`
/// (`errors`, v3's legacy reasons, or `details`, the `ErrorInfo` reasons).
fn has_reason(error: &JsValue, list: &str, reason: &str) -> bool {
    Reflect::get(error, &list.into()).ok().and_then(|l| l.dyn_into::<js_sys::Array>().ok()).is_some_and(|l| {
        l.iter().any(|e| Reflect::get(&e, &"reason".into()).ok().and_then(|r| r.as_string()).as_deref() == Some(reason))
    })
}

/// `prefix`, the file id, then `suffix`.
fn file_path(prefix: &str, id: &str, suffix: &str) -> String {
    let mut path = String::with_capacity(prefix.len() + id.len() + suffix.len());
    path.push_str(prefix);
    path.push_str(id);
    path.push_str(suffix);
    path
}

/// A file id as Drive makes them; anything else is refused rather than put in a path.
fn valid_file_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl DriveStorage {
    /// The keys file of `settings`; `getAccessToken` may take `limit`.
    pub fn new(settings: DriveSettings, cause: Rc<LastCause>, limit: Limit) -> DriveStorage {
        DriveStorage {
            storage: settings.storage,
            base: settings.base,
            cause,
            token: RefCell::new(None),
            file_id: RefCell::new(None),
            limit,
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
            &self.limit,
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

    /// One Drive request: the status and body, or the network failure with its cause kept.
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> core::result::Result<(u16, Zeroizing<String>), Error> {
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
        match http_text(method, &url, &headers, body, MAX_ANSWER_LEN, None, &self.limit.signal).await {
            Ok((status, text, _)) => Ok((status, text)),
            Err(f) => {
                let error = match f.error {
                    Error::NetworkTimeout => Error::StorageUnavailable("Google Drive did not answer in time"),
                    Error::ServiceError(_) => Error::StorageUnavailable("Google Drive's answer is too large"),
                    _ => Error::StorageUnavailable("Google Drive could not be reached"),
                };
                let mut failure = Failure::from(error);
                failure.cause = f.cause;
                Err(self.cause.keep(failure))
            }
        }
    }

    /// One Drive request: the 2xx body, or the failure with its cause kept.
    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> core::result::Result<Zeroizing<String>, Error> {
        let (status, text) = self.send(method, path, body).await?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        Err(self.refused(status, &text))
    }

    /// The error of a non-2xx answer, its `{ status, code }` kept as cause.
    fn refused(&self, status: u16, text: &str) -> Error {
        // Google's error body: { error: { code, message, status, errors: [{ reason }], details: [{ reason }] } }.
        let error =
            JSON::parse(text).ok().and_then(|v| Reflect::get(&v, &"error".into()).ok()).filter(|e| e.is_object());
        let code = error
            .as_ref()
            .and_then(|e| Reflect::get(e, &"status".into()).ok())
            .and_then(|c| c.as_string())
            .filter(|c| c.len() <= 64)
            .unwrap_or_default();
        // A token without the drive.appdata scope (the user unticked it on the consent screen).
        let scope_missing = status == 403
            && error.as_ref().is_some_and(|e| {
                has_reason(e, "errors", "insufficientPermissions")
                    || has_reason(e, "details", "ACCESS_TOKEN_SCOPE_INSUFFICIENT")
            });
        let cause = refusal_cause(&Refusal { status, code, guesses_left: None });
        let error = if status == 401 {
            Error::GoogleUnauthenticated
        } else if scope_missing {
            Error::GoogleScopeMissing
        } else {
            Error::StorageUnavailable("Google Drive refused the request")
        };
        self.cause.keep(Failure::from(error).with_cause(cause))
    }

    /// Every keys file (at most [`MAX_FILES`]), oldest first.
    async fn list(&self) -> core::result::Result<Vec<Listed>, Error> {
        let text = self.request("GET", LIST_PATH, None).await?;
        let unexpected = Error::StorageUnavailable("unexpected answer from Google Drive");
        let files = JSON::parse(&text)
            .ok()
            .and_then(|v| Reflect::get(&v, &"files".into()).ok())
            .and_then(|f| f.dyn_into::<js_sys::Array>().ok())
            .ok_or(unexpected.clone())?;
        let mut listed = Vec::with_capacity(files.length() as usize);
        for f in files.iter().take(MAX_FILES) {
            let field = |name: &str| Reflect::get(&f, &name.into()).ok().and_then(|v| v.as_string());
            let id = field("id").filter(|i| valid_file_id(i)).ok_or(unexpected.clone())?;
            let modified = field("modifiedTime").filter(|m| m.len() <= 64).unwrap_or_default();
            listed.push(Listed { id, modified });
        }
        Ok(listed)
    }

    /// The keys file's id, if the file exists; several are merged into one first.
    pub async fn find(&self) -> core::result::Result<Option<String>, Error> {
        if let Some(id) = self.file_id.borrow().as_ref() {
            return Ok(Some(id.clone()));
        }
        let mut files = self.list().await?;
        let id = match files.len() {
            0 => return Ok(None),
            1 => files.remove(0).id,
            _ => match self.merge(files).await? {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        *self.file_id.borrow_mut() = Some(id.clone());
        Ok(Some(id))
    }

    /// Merges several keys files into the oldest: reads every one, writes
    /// their union, reads it back, then deletes the others. A file deleted
    /// meanwhile (merged by another device, which deletes only after its
    /// merged file read back) is skipped; one that cannot be read as a keys
    /// record stops the merge before anything is written or deleted.
    async fn merge(&self, files: Vec<Listed>) -> core::result::Result<Option<String>, Error> {
        let mut read = Vec::with_capacity(files.len());
        for file in files {
            let (status, text) = self.send("GET", &file_path("/drive/v3/files/", &file.id, "?alt=media"), None).await?;
            if status == 404 {
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(self.refused(status, &text));
            }
            let record = if text.is_empty() {
                KeyRecord::default()
            } else {
                KeyRecord::decode(&text).map_err(|_| Error::StorageUnavailable(UNREADABLE))?
            };
            read.push((file, record));
        }
        let Some(((survivor, _), others)) = read.split_first() else { return Ok(None) };
        if others.is_empty() {
            return Ok(Some(survivor.id.clone()));
        }
        // Newest written first (a stable sort: the older file first on a tie).
        let mut newest_first: Vec<&(Listed, KeyRecord)> = read.iter().collect();
        newest_first.sort_by(|a, b| b.0.modified.cmp(&a.0.modified));
        let records: Vec<KeyRecord> = newest_first.iter().map(|(_, r)| r.clone()).collect();
        let merged = KeyRecord::merge(&records)?.encode();
        self.update(&survivor.id, &merged).await?;
        let back = self.request("GET", &file_path("/drive/v3/files/", &survivor.id, "?alt=media"), None).await?;
        if !bool::from(back.as_bytes().ct_eq(merged.as_bytes())) {
            return Err(Error::StorageUnavailable("Google Drive returned other data than was written"));
        }
        for (file, _) in others {
            self.delete_file(&file.id).await?;
        }
        Ok(Some(survivor.id.clone()))
    }

    /// Deletes one file; one already gone counts as deleted.
    async fn delete_file(&self, id: &str) -> core::result::Result<(), Error> {
        let (status, text) = self.send("DELETE", &file_path("/drive/v3/files/", id, ""), None).await?;
        if (200..300).contains(&status) || status == 404 {
            return Ok(());
        }
        Err(self.refused(status, &text))
    }

    /// Replaces the content of the file `id`.
    async fn update(&self, id: &str, record: &str) -> core::result::Result<(), Error> {
        let path = file_path("/upload/drive/v3/files/", id, "?uploadType=multipart&fields=id");
        self.request("PATCH", &path, Some(&Self::multipart("{}", record))).await?;
        Ok(())
    }

    /// Deletes every keys file (every kept key with them, whether this
    /// version can read them or not); `false` if there was none.
    pub async fn delete(&self) -> core::result::Result<bool, Error> {
        let files = self.list().await?;
        for file in &files {
            self.delete_file(&file.id).await?;
        }
        *self.file_id.borrow_mut() = None;
        Ok(!files.is_empty())
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
        let text = self.request("GET", &file_path("/drive/v3/files/", &id, "?alt=media"), None).await?;
        if text.len() > MAX_KEYS_TEXT_LEN {
            return Err(Error::StorageUnavailable("the Drive file is not a wallet-backup keys record"));
        }
        Ok(Some(text))
    }

    async fn write(&self, record: &str) -> core::result::Result<(), Error> {
        match self.find().await? {
            Some(id) => self.update(&id, record).await?,
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
