// Public types of the wallet-backup package.
export * from './types/wallet_backup.js'

/** Backup method ids, as Portal's SDK names them. */
export declare const BackupMethods: {
  readonly Password: 'password'
  readonly Passkey: 'passkey'
  readonly GoogleDrive: 'gdrive'
  readonly iCloud: 'icloud'
  readonly Firebase: 'firebase'
  readonly Custom: 'custom'
}

/** Progress statuses reported to `onProgress`. */
export declare const MpcStatuses: {
  readonly ReadingShare: 'Reading share'
  readonly GeneratingShare: 'Generating share'
  readonly EncryptingShare: 'Encrypting share'
  readonly StoringShare: 'Storing share'
  readonly DecryptingShare: 'Decrypting share'
  readonly ParsingShare: 'Parsing share'
  readonly RecoveringBackupShare: 'Recovering backup share'
  readonly RecoveringSigningShare: 'Recovering signing share'
  readonly Done: 'Done'
}

/** True when this engine runs the SIMD build of the module. */
export declare const simdSupported: boolean
