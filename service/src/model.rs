//! The service's vocabulary: backup methods, pair statuses, clients.

use serde::{Deserialize, Serialize};

/// A backup method, in the service's upper-case spelling. In a request body
/// it must be one of those strings: any other value, a number or `null`
/// included, is a JSON data error (`INVALID_REQUEST`), never a syntax error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", try_from = "String")]
pub enum BackupMethod {
    /// Key derived from the user's password or PIN.
    Password,
    /// Key released by the passkey enclave.
    Passkey,
    /// Key in the user's Google Drive.
    Gdrive,
    /// Key in the user's iCloud.
    Icloud,
    /// Key released by the Firebase enclave.
    Firebase,
    /// Key kept by an app-provided adapter.
    Custom,
}

impl BackupMethod {
    /// Every method, in the order of their envelope method bytes.
    pub const ALL: [Self; 6] =
        [Self::Password, Self::Passkey, Self::Gdrive, Self::Icloud, Self::Firebase, Self::Custom];

    /// The upper-case id (`PASSWORD`, `GDRIVE`, …), as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "PASSWORD",
            Self::Passkey => "PASSKEY",
            Self::Gdrive => "GDRIVE",
            Self::Icloud => "ICLOUD",
            Self::Firebase => "FIREBASE",
            Self::Custom => "CUSTOM",
        }
    }

    /// Parses the upper-case id exactly.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The method byte of a `wbk1.` envelope (FORMAT.md §3.3).
    pub fn envelope_byte(self) -> u8 {
        match self {
            Self::Password => 1,
            Self::Passkey => 2,
            Self::Gdrive => 3,
            Self::Icloud => 4,
            Self::Firebase => 5,
            Self::Custom => 6,
        }
    }
}

impl TryFrom<String> for BackupMethod {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        Self::parse(&name).ok_or_else(|| {
            format!("unknown backup method {name:?}: one of PASSWORD, PASSKEY, GDRIVE, ICLOUD, FIREBASE, CUSTOM")
        })
    }
}

/// Where a backup share pair is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PairStatus {
    /// Created with its custodian share; the client share is not stored yet.
    Pending,
    /// The client backup share (cipherText) is stored: by the service
    /// (managed) or, as the app reported, by the app (self-managed).
    StoredClientBackupShare,
    /// Confirmed: recovery may use this pair.
    Completed,
    /// The app reported that storing the client share failed.
    Failed,
}

impl PairStatus {
    /// The upper-case id, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::StoredClientBackupShare => "STORED_CLIENT_BACKUP_SHARE",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
        }
    }

    /// Parses the upper-case id exactly.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::StoredClientBackupShare, Self::Completed, Self::Failed]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// A client of the service (one app user's wallet), as authenticated by its API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Random id, 32 hex characters.
    pub id: String,
    /// Name given at creation.
    pub name: String,
    /// Whether the service keeps the client's cipherTexts (managed backups).
    pub managed_backups: bool,
    /// Where the client's custodian shares go.
    pub custodian_storage: CustodianStorage,
    /// The client's Firebase project id, if it uses the Firebase enclave.
    pub firebase_project_id: Option<String>,
    /// Creation time, µs since the epoch.
    pub created_at: i64,
}

/// Whether `id` can be a Firebase project id: 1 to 100 characters, lower-case
/// letters, digits and hyphens, starting with a letter or digit.
pub fn is_firebase_project_id(id: &str) -> bool {
    (1..=100).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
}

/// Where a client's custodian shares are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CustodianStorage {
    /// The service keeps each custodian share, sealed under the KMS.
    Managed,
    /// The service POSTs each custodian share to the operator's webhook and keeps nothing of it.
    Webhook,
}

impl CustodianStorage {
    /// The upper-case id, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Managed => "MANAGED",
            Self::Webhook => "WEBHOOK",
        }
    }

    /// Parses the upper-case id exactly.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Managed, Self::Webhook].into_iter().find(|m| m.as_str() == s)
    }
}
