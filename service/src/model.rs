//! The service's vocabulary: backup methods, pair statuses, clients.

use serde::{Deserialize, Serialize};
use wallet_backup_core::method::MethodId;

/// A backup method: wallet-backup-core's [`MethodId`] (one list of
/// methods and envelope bytes for the module and the service), in the
/// service's upper-case spelling (`PASSWORD`, `GDRIVE`, …), as stored and
/// sent. In a request body it must be one of those strings: any other
/// value, a number or `null` included, is a JSON data error
/// (`INVALID_REQUEST`), never a syntax error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackupMethod(MethodId);

impl BackupMethod {
    /// How many methods there are.
    pub const COUNT: usize = MethodId::ALL.len();

    /// Every method, in the order of their envelope bytes.
    pub fn all() -> impl Iterator<Item = Self> {
        MethodId::ALL.into_iter().map(Self)
    }

    /// The upper-case id (`PASSWORD`, `GDRIVE`, …).
    pub fn as_str(self) -> &'static str {
        self.0.service_name()
    }

    /// Parses the upper-case id exactly.
    pub fn parse(s: &str) -> Option<Self> {
        Self::all().find(|m| m.as_str() == s)
    }

    /// The method byte of a `wbk1.` envelope (FORMAT.md §3.3).
    pub fn envelope_byte(self) -> u8 {
        self.0 as u8
    }
}

impl From<MethodId> for BackupMethod {
    fn from(method: MethodId) -> Self {
        Self(method)
    }
}

/// In envelope-byte order.
impl Ord for BackupMethod {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.envelope_byte().cmp(&other.envelope_byte())
    }
}

impl PartialOrd for BackupMethod {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for BackupMethod {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for BackupMethod {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown backup method {name:?}: one of PASSWORD, PASSKEY, GDRIVE, ICLOUD, FIREBASE, CUSTOM"
            ))
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
