//! API errors: every 4xx and 5xx the service sends is
//! `{ "error": { "code": "STABLE_CODE", "message": "…" } }`, with
//! `guessesLeft` beside them in the answers of a guess-limited PIN.
//!
//! Codes are part of the API (clients branch on them); messages are for
//! people and may change. Messages never contain API keys, shares or
//! cipherTexts. axum's own rejections (bad JSON, wrong content type, body too
//! large, unknown route, wrong method, a panic) are mapped here too, so no
//! response of the service has another error shape.

use std::borrow::Cow;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::kms::KmsError;
use crate::seal::SealError;
use crate::store::StoreError;

/// The stable error codes of the API, one constant per code.
pub mod codes {
    /// No `Authorization: Bearer <key>`, or a key the service does not know.
    pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
    /// The per-key (or, without a valid key, per-address) request budget is spent; see `Retry-After`.
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// The body is not JSON (syntax error, truncated).
    pub const MALFORMED_JSON: &str = "MALFORMED_JSON";
    /// JSON of the wrong shape (unknown or missing field, wrong type) or a value out of bounds.
    pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
    /// A `backupMethod` (body or path) that is not one of the upper-case method ids.
    pub const INVALID_BACKUP_METHOD: &str = "INVALID_BACKUP_METHOD";
    /// A cipherText that is not a `wbk1.` envelope, or one for another backup id or method.
    pub const INVALID_CIPHERTEXT: &str = "INVALID_CIPHERTEXT";
    /// A body without `Content-Type: application/json`.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    /// A body larger than the service's limit.
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    /// No such route.
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// The route exists but not with this HTTP method.
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    /// No backup share pair with this id for this client (another client's pairs look the same).
    pub const PAIR_NOT_FOUND: &str = "PAIR_NOT_FOUND";
    /// No completed backup of this method for this client.
    pub const NO_BACKUP: &str = "NO_BACKUP";
    /// No pending backup of this method to report on.
    pub const NO_PENDING_BACKUP: &str = "NO_PENDING_BACKUP";
    /// The client already has a pair with this `backupId`.
    pub const BACKUP_ID_EXISTS: &str = "BACKUP_ID_EXISTS";
    /// The pair's status does not allow this step (e.g. confirming before the cipherText is stored).
    pub const INVALID_PAIR_STATE: &str = "INVALID_PAIR_STATE";
    /// Managed backups are off for this client, so the service does not keep cipherTexts.
    pub const MANAGED_BACKUPS_DISABLED: &str = "MANAGED_BACKUPS_DISABLED";
    /// The pair's custodian share went to the operator's webhook; the service does not hold it.
    pub const CUSTODIAN_SELF_MANAGED: &str = "CUSTODIAN_SELF_MANAGED";
    /// The operator's custodian webhook failed: at a new pair (502), it did not
    /// keep the share (the pair is `FAILED`); at recovery (503, retry), it
    /// could not be asked for the share.
    pub const CUSTODIAN_WEBHOOK_FAILED: &str = "CUSTODIAN_WEBHOOK_FAILED";
    /// The operator's custodian webhook answered, without this pair's
    /// custodian share (or with other bytes than were delivered).
    pub const CUSTODIAN_SHARE_NOT_FOUND: &str = "CUSTODIAN_SHARE_NOT_FOUND";
    /// A stored custodian share does not open (tampered data or a missing KMS key).
    pub const CUSTODIAN_SHARE_UNAVAILABLE: &str = "CUSTODIAN_SHARE_UNAVAILABLE";
    /// No `X-Firebase-Token` header (or an empty one) on a Firebase enclave route.
    pub const FIREBASE_TOKEN_MISSING: &str = "FIREBASE_TOKEN_MISSING";
    /// The Firebase ID token is malformed, not RS256, signed by an unknown key or
    /// badly, or its `aud`, `iss`, `sub`, `iat` or `auth_time` is wrong.
    pub const FIREBASE_TOKEN_INVALID: &str = "FIREBASE_TOKEN_INVALID";
    /// The Firebase ID token's `exp` is past.
    pub const FIREBASE_TOKEN_EXPIRED: &str = "FIREBASE_TOKEN_EXPIRED";
    /// Releasing a key needs a recent sign-in (`auth_time` within `--firebase-max-auth-age`).
    pub const FIREBASE_REAUTHENTICATION_REQUIRED: &str = "FIREBASE_REAUTHENTICATION_REQUIRED";
    /// The client has no Firebase project configured.
    pub const FIREBASE_NOT_CONFIGURED: &str = "FIREBASE_NOT_CONFIGURED";
    /// Firebase's public keys cannot be fetched and none are cached.
    pub const FIREBASE_KEYS_UNAVAILABLE: &str = "FIREBASE_KEYS_UNAVAILABLE";
    /// No encryption key with this backupId for this client and Firebase user.
    pub const ENCRYPTION_KEY_NOT_FOUND: &str = "ENCRYPTION_KEY_NOT_FOUND";
    /// A stored encryption key does not open (tampered data or a missing KMS key).
    pub const ENCRYPTION_KEY_UNAVAILABLE: &str = "ENCRYPTION_KEY_UNAVAILABLE";
    /// Passkey enclave: neither the client nor the service has a relying party.
    pub const PASSKEY_NOT_CONFIGURED: &str = "PASSKEY_NOT_CONFIGURED";
    /// Passkey enclave: the client has no registered credential.
    pub const PASSKEY_NOT_REGISTERED: &str = "PASSKEY_NOT_REGISTERED";
    /// Passkey enclave: the ceremony is unknown, used, another client's or of the wrong kind.
    pub const PASSKEY_CEREMONY_UNKNOWN: &str = "PASSKEY_CEREMONY_UNKNOWN";
    /// Passkey enclave: the ceremony expired (`--passkey-ceremony-ttl`).
    pub const PASSKEY_CHALLENGE_EXPIRED: &str = "PASSKEY_CHALLENGE_EXPIRED";
    /// Passkey enclave: the clientDataJSON origin is not an allowed origin.
    pub const PASSKEY_ORIGIN_MISMATCH: &str = "PASSKEY_ORIGIN_MISMATCH";
    /// Passkey enclave: the authenticator data's UV flag is clear.
    pub const PASSKEY_USER_VERIFICATION_REQUIRED: &str = "PASSKEY_USER_VERIFICATION_REQUIRED";
    /// Passkey enclave: the credential is not allowed (not in the ceremony, not the client's, not the key's).
    pub const PASSKEY_CREDENTIAL_NOT_ALLOWED: &str = "PASSKEY_CREDENTIAL_NOT_ALLOWED";
    /// Passkey enclave: the signature counter did not increase.
    pub const PASSKEY_COUNTER_REGRESSED: &str = "PASSKEY_COUNTER_REGRESSED";
    /// Passkey enclave: any other verification failure (challenge, rpIdHash, signature, attestation, type).
    pub const PASSKEY_VERIFICATION_FAILED: &str = "PASSKEY_VERIFICATION_FAILED";
    /// Passkey enclave: the credential id is registered already (for any client).
    pub const PASSKEY_CREDENTIAL_EXISTS: &str = "PASSKEY_CREDENTIAL_EXISTS";
    /// Guess-limited PIN: the custodian share of this pair is released only by
    /// `POST /api/v3/clients/me/pin-guards/{backupId}/unlock`.
    pub const PIN_PROOF_REQUIRED: &str = "PIN_PROOF_REQUIRED";
    /// Guess-limited PIN: the pair exists, without a guard.
    pub const NOT_GUESS_LIMITED: &str = "NOT_GUESS_LIMITED";
    /// Guess-limited PIN: the guesses ran out and the OPRF key is destroyed; the backup cannot be opened.
    pub const PIN_GUESSES_EXHAUSTED: &str = "PIN_GUESSES_EXHAUSTED";
    /// Guess-limited PIN: the challenge is not the open one (used, replaced by a newer evaluation, or none).
    pub const PIN_CHALLENGE_INVALID: &str = "PIN_CHALLENGE_INVALID";
    /// Guess-limited PIN: the proof is wrong (the PIN was wrong); the answer has `guessesLeft`.
    pub const WRONG_PASSWORD: &str = "WRONG_PASSWORD";
    /// The write would take the client past one of its limits (pending pairs,
    /// pairs, stored bytes, enclave keys, passkeys); the message says which.
    pub const QUOTA_EXCEEDED: &str = "QUOTA_EXCEEDED";
    /// The database cannot take the request now (disk full, read-only, an I/O
    /// error, the connection lost); nothing of the request was written. Retry
    /// after `Retry-After` seconds.
    pub const DATABASE_UNAVAILABLE: &str = "DATABASE_UNAVAILABLE";
    /// The KMS cannot wrap or unwrap keys now; nothing of the request was
    /// written. Retry after `Retry-After` seconds.
    pub const KMS_UNAVAILABLE: &str = "KMS_UNAVAILABLE";
    /// The request body did not arrive within the body timeout; the connection closes.
    pub const REQUEST_TIMEOUT: &str = "REQUEST_TIMEOUT";
    /// Too many connections or requests at once; see `Retry-After`.
    pub const OVERLOADED: &str = "OVERLOADED";
    /// The service failed (a bug, stored data that does not match the schema);
    /// details are in the service log only.
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
}

/// An error response: status, stable code, message.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
    retry_after_secs: Option<u64>,
    guesses_left: Option<i64>,
}

/// The code of an error response, left in the response's extensions for the request log.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    guesses_left: Option<i64>,
}

impl ApiError {
    /// An error with the given status, code (one of [`codes`]) and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self { status, code, message: message.into(), retry_after_secs: None, guesses_left: None }
    }

    /// 400 `INVALID_REQUEST`.
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::INVALID_REQUEST, message)
    }

    /// 401 `UNAUTHORIZED`.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, "missing or unknown API key")
    }

    /// 429 `RATE_LIMITED` with a `Retry-After` of `secs` seconds.
    pub fn rate_limited(secs: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, codes::RATE_LIMITED, "too many requests for this API key");
        e.retry_after_secs = Some(secs.max(1));
        e
    }

    /// 404 `PAIR_NOT_FOUND`.
    pub fn pair_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::PAIR_NOT_FOUND, "no backup share pair with this id")
    }

    /// 404 `NOT_FOUND` (no such route).
    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such route")
    }

    /// 405 `METHOD_NOT_ALLOWED`.
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, codes::METHOD_NOT_ALLOWED, "method not allowed on this route")
    }

    /// 500 `INTERNAL_ERROR`. `cause` goes to the log (it must not hold secrets:
    /// database, KMS and I/O errors do not), never to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::internal_opaque()
    }

    /// 500 `INTERNAL_ERROR` with nothing logged (the caller logged already).
    pub fn internal_opaque() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL_ERROR, "internal error")
    }

    /// 503 with `code` and a `Retry-After` of [`UNAVAILABLE_RETRY_AFTER_SECS`];
    /// `cause` goes to the log, as one error line.
    pub fn unavailable(code: &'static str, message: &'static str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, code, "{message}");
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
        e.retry_after_secs = Some(UNAVAILABLE_RETRY_AFTER_SECS);
        e
    }

    /// The same error with a `Retry-After` of `secs` seconds.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs.max(1));
        self
    }

    /// The same error with `guessesLeft` in its body (a guess-limited PIN's answers).
    pub fn with_guesses_left(mut self, guesses_left: i64) -> Self {
        self.guesses_left = Some(guesses_left);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body { error: Inner { code: self.code, message: &self.message, guesses_left: self.guesses_left } };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(ErrorCode(self.code));
        response
    }
}

/// `Retry-After` of a 503 for a database or KMS that cannot serve, in seconds.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

impl From<StoreError> for ApiError {
    /// A database or KMS that cannot serve now is 503 (`DATABASE_UNAVAILABLE`,
    /// `KMS_UNAVAILABLE`): the write was rolled back, and the client may
    /// retry. A client limit is 409 `QUOTA_EXCEEDED`, saying which. Anything
    /// else is 500 `INTERNAL_ERROR`. A 5xx logs one error line; nothing of a
    /// database or KMS error reaches the client.
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::Unavailable(_) => {
                Self::unavailable(codes::DATABASE_UNAVAILABLE, "the database is unavailable", &error)
            }
            StoreError::OverQuota(quota) => Self::new(StatusCode::CONFLICT, codes::QUOTA_EXCEEDED, quota.to_string()),
            StoreError::Seal(SealError::Kms(KmsError::Unavailable(_))) => {
                Self::unavailable(codes::KMS_UNAVAILABLE, "the KMS is unavailable", &error)
            }
            _ => Self::internal(&error),
        }
    }
}

/// Longest rejection message passed on to the client.
const MAX_MESSAGE: usize = 300;

fn clip(mut s: String) -> String {
    if s.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => Self::invalid(clip(e.body_text())),
            JsonRejection::JsonSyntaxError(e) => {
                Self::new(StatusCode::BAD_REQUEST, codes::MALFORMED_JSON, clip(e.body_text()))
            }
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::UNSUPPORTED_MEDIA_TYPE,
                "expected `Content-Type: application/json`",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, codes::PAYLOAD_TOO_LARGE, "request body too large")
            }
            other => Self::invalid(clip(other.body_text())),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::invalid(clip(rejection.body_text()))
    }
}
