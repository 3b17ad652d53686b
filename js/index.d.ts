// Public types of the wallet-backup package.
export * from './types/wallet_backup.js'
import type { BackupMethod, BackupConfig, PortalOptions, ProgressCallback } from './types/wallet_backup.js'

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

/**
 * A wallet's backup client, holding the app's adapters.
 *
 * ```js
 * const portal = new Portal({ keychain, custodian })
 * const cipherText = await portal.backupWallet(BackupMethods.Password, onProgress, { passwordStorage: { password } })
 * await portal.recoverWallet(cipherText, BackupMethods.Password, onProgress, { passwordStorage: { password } })
 * ```
 */
export declare class Portal {
  /**
   * Creates a client over the app's keychain and custodian adapters.
   * Throws a `TypeError` with code `KEYCHAIN_UNAVAILABLE`, `CUSTODIAN_UNAVAILABLE`
   * or `INVALID_ARGUMENT` when an adapter is missing.
   */
  constructor(options: PortalOptions)
  /**
   * Backs up the wallet and resolves to the `cipherText` the app keeps.
   * `Done` is reported only after the custodian share was stored and the new
   * backup was proven to restore the shares.
   */
  backupWallet(method: BackupMethod, onProgress?: ProgressCallback | null, config?: BackupConfig | null): Promise<string>
  /**
   * Restores the wallet's shares into the keychain from a `cipherText`.
   * Rejects with `WRONG_PASSWORD`, `CIPHERTEXT_CORRUPTED`, `INVALID_CIPHERTEXT`, ... (see the README).
   */
  recoverWallet(cipherText: string, method: BackupMethod, onProgress?: ProgressCallback | null, config?: BackupConfig | null): Promise<void>
}
