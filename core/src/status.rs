//! Progress statuses reported to the app's `onProgress` callback.
//!
//! The strings are those Portal's SDK users already know (`MpcStatuses`).

/// One step of a backup or recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Reading the shares (backup) or the custodian half and cipherText (recovery).
    ReadingShare,
    /// Splitting the shares into client and custodian halves.
    GeneratingShare,
    /// Deriving the key and sealing the client half.
    EncryptingShare,
    /// Writing the custodian half (backup) or the restored shares (recovery).
    StoringShare,
    /// Deriving the key and opening the client half.
    DecryptingShare,
    /// Parsing a share (reserved for methods that fetch the key as a document).
    ParsingShare,
    /// Combining the two halves.
    RecoveringBackupShare,
    /// Restoring the signing share (reserved for the service's key refresh).
    RecoveringSigningShare,
    /// Every step succeeded.
    Done,
}

impl Status {
    /// Every status, in declaration order.
    pub const ALL: [Status; 9] = [
        Status::ReadingShare,
        Status::GeneratingShare,
        Status::EncryptingShare,
        Status::StoringShare,
        Status::DecryptingShare,
        Status::ParsingShare,
        Status::RecoveringBackupShare,
        Status::RecoveringSigningShare,
        Status::Done,
    ];

    /// The status string shown to apps.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::ReadingShare => "Reading share",
            Status::GeneratingShare => "Generating share",
            Status::EncryptingShare => "Encrypting share",
            Status::StoringShare => "Storing share",
            Status::DecryptingShare => "Decrypting share",
            Status::ParsingShare => "Parsing share",
            Status::RecoveringBackupShare => "Recovering backup share",
            Status::RecoveringSigningShare => "Recovering signing share",
            Status::Done => "Done",
        }
    }
}
