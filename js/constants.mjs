// Constant tables of the wallet-backup package, shared by every entry point.
// The build turns this ES module into CommonJS for the `require` entry.

/** Backup method ids, as Portal's SDK names them. */
export const BackupMethods = Object.freeze({
  Password: 'password',
  Passkey: 'passkey',
  GoogleDrive: 'gdrive',
  iCloud: 'icloud',
  Firebase: 'firebase',
  Custom: 'custom',
})

/** Progress statuses reported to `onProgress`. */
export const MpcStatuses = Object.freeze({
  ReadingShare: 'Reading share',
  GeneratingShare: 'Generating share',
  EncryptingShare: 'Encrypting share',
  StoringShare: 'Storing share',
  DecryptingShare: 'Decrypting share',
  ParsingShare: 'Parsing share',
  RecoveringBackupShare: 'Recovering backup share',
  RecoveringSigningShare: 'Recovering signing share',
  Done: 'Done',
})
