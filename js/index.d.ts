// Public types of the wallet-backup package.
export * from './types/wallet_backup.js'
import type { BackupMethod, BackupConfig, FirebaseStorageOptions, GDriveStorageOptions, ICloudKeyValueStore, ICloudStorageOptions, ICloudStorageSettings, PasskeyStorageOptions, PasskeyFunctions, PortalOptions, ProgressCallback } from './types/wallet_backup.js'

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
 * Firebase Auth backup method: the backup key is kept in the backup service's
 * key enclave and released only for the signed-in user's Firebase ID token
 * (and a recent sign-in). Pass it as `backup: { firebase }` or per call.
 *
 * ```js
 * const firebase = new FirebaseStorage({ getToken: ({ forceRefresh }) => auth.currentUser?.getIdToken(forceRefresh) ?? null })
 * const portal = new Portal({ apiKey, apiHost, keychain, backup: { firebase } })
 * await portal.backupWallet('firebase')
 * ```
 */
export declare class FirebaseStorage implements FirebaseStorageOptions {
  /** Throws a `TypeError` with code `INVALID_ARGUMENT` without a `getToken` function. */
  constructor(options: FirebaseStorageOptions)
  readonly getToken: (options: { forceRefresh: boolean }) => Promise<string | null | undefined>
  readonly tbsHost?: string
}

/**
 * Passkey backup method. The module runs the WebAuthn ceremonies with the
 * backup service's passkey enclave (`userVerification: "required"`). With the
 * passkey's PRF extension the key is derived on the device and never sent
 * (PRF mode); without it the enclave keeps the key, sealed, and releases it
 * only for a verified assertion of the same credential (enclave mode). The
 * cipherText records the mode; recovery follows it. Pass it as
 * `backup: { passkey }` or per call.
 *
 * ```js
 * const passkey = new PasskeyStorage()                           // browsers: navigator.credentials
 * const passkey = new PasskeyStorage({ passkeys: { create, get } }) // React Native: react-native-passkeys
 * const portal = new Portal({ apiKey, apiHost, keychain, backup: { passkey } })
 * await portal.backupWallet('passkey')
 * ```
 */
export declare class PasskeyStorage implements PasskeyStorageOptions {
  /** Throws a `TypeError` with code `INVALID_ARGUMENT` on options of the wrong type. */
  constructor(options?: PasskeyStorageOptions)
  readonly passkeys?: PasskeyFunctions
  readonly webAuthnHost?: string
  readonly userName?: string
  readonly mode?: 'auto' | 'enclave'
}

/**
 * Google Drive backup method: each backup's key is kept in the user's Drive,
 * in the app's hidden `appDataFolder` (OAuth scope `drive.appdata`), in one
 * file, `wallet-backup-keys.json`, holding the newest backup's key and those
 * of the two completed backups before it. Pass it as `backup: { gdrive }` or per call.
 *
 * ```js
 * const gdrive = new GDriveStorage({ getAccessToken: async () => googleAccessToken ?? null })
 * const portal = new Portal({ apiKey, apiHost, keychain, backup: { gdrive } })
 * if (await gdrive.validateOperations()) await portal.backupWallet('gdrive')
 * ```
 */
export declare class GDriveStorage implements GDriveStorageOptions {
  /** Throws a `TypeError` with code `INVALID_ARGUMENT` without a `getAccessToken` function. */
  constructor(options: GDriveStorageOptions)
  readonly getAccessToken: () => Promise<string | null | undefined>
  readonly driveHost?: string
  /**
   * Proves the module can read and write its file in the user's Drive (finds it, creating it
   * empty when there is none, rewrites it unchanged, reads it back) without changing any key.
   * Resolves to `false` when Google refused the token or Drive failed.
   */
  validateOperations(): Promise<boolean>
  /** Deletes the keys file and with it every Drive backup's key; resolves to whether there was one. */
  delete(): Promise<boolean>
}

/**
 * iCloud backup method: each backup's key is kept in the user's iCloud, in one
 * keys record holding the newest backup's key and those of the two completed
 * backups before it. On the web and in Node.js the module speaks CloudKit Web
 * Services to the app's container (record type `WalletBackupKeys` in the
 * private database); in React Native it uses the app's native iCloud key-value
 * module. Pass it as `backup: { icloud }` or per call.
 *
 * ```js
 * const icloud = new ICloudStorage({ containerIdentifier: 'iCloud.com.example.wallet', environment: 'production',
 *   apiToken, getWebAuthToken: async () => session.webAuthToken ?? null, onWebAuthToken: (t) => { session.webAuthToken = t } })
 * const icloud = new ICloudStorage({ keyValueStore })           // React Native: a native iCloud key-value module
 * const portal = new Portal({ apiKey, apiHost, keychain, backup: { icloud } })
 * if (await icloud.validateOperations()) await portal.backupWallet('icloud')
 * ```
 */
export declare class ICloudStorage implements ICloudStorageSettings {
  /** Throws a `TypeError` with code `INVALID_ARGUMENT` unless exactly one of the two option sets is given. */
  constructor(options: ICloudStorageOptions)
  readonly containerIdentifier?: string
  readonly environment?: 'development' | 'production'
  /** Not enumerable. */
  readonly apiToken?: string
  readonly getWebAuthToken?: () => Promise<string | null | undefined>
  readonly onWebAuthToken?: ((webAuthToken: string) => void) | undefined
  readonly cloudKitHost?: string | undefined
  readonly keyValueStore?: ICloudKeyValueStore
  /**
   * Proves the module can read and write its keys record in the user's iCloud (reads it, creating it
   * empty when there is none, rewrites it unchanged, reads it back) without changing any key.
   * Resolves to `false` when iCloud refused the sign-in or failed.
   */
  validateOperations(): Promise<boolean>
  /** Deletes the keys record and with it every iCloud backup's key; resolves to whether there was one. */
  delete(): Promise<boolean>
}

/**
 * A wallet's backup client, holding the app's adapters and service settings.
 *
 * ```js
 * const portal = new Portal({ apiKey, apiHost: 'backup.example.com', keychain })
 * // or, keeping the custodian share in the app: new Portal({ keychain, custodian })
 * const cipherText = await portal.backupWallet(BackupMethods.Password, onProgress, { passwordStorage: { password } })
 * await portal.recoverWallet(cipherText, BackupMethods.Password, onProgress, { passwordStorage: { password } })
 * ```
 */
export declare class Portal {
  /**
   * Creates a client over the app's keychain and the backup service (`apiKey`,
   * `apiHost`) or a custodian adapter; `adapterTimeoutMs` limits each call
   * into the app's functions (`ADAPTER_TIMEOUT`). Throws a `TypeError` with code
   * `KEYCHAIN_UNAVAILABLE`, `CUSTODIAN_UNAVAILABLE` or `INVALID_ARGUMENT` when
   * an adapter is missing or both `apiKey` and `custodian` are given.
   */
  constructor(options: PortalOptions)
  /** The backup service's API. */
  readonly api: {
    /**
     * Self-managed backups: tells the service whether the app stored the
     * cipherText of its newest `method` backup. With `true` that backup
     * becomes the one recovery uses; with `false` it is marked failed.
     */
    storedClientBackupShare(success: boolean, method: BackupMethod): Promise<void>
  }
  /** Whether the service holds a completed backup of this wallet. */
  isWalletBackedUp(): Promise<boolean>
  /** Whether the wallet can be recovered from the service's backups. */
  isWalletRecoverable(): Promise<boolean>
  /** The methods with a completed backup on the service, e.g. `['password']`. */
  availableRecoveryMethods(): Promise<Array<'password' | 'passkey' | 'gdrive' | 'icloud' | 'firebase' | 'custom'>>
  /**
   * Backs up the wallet and resolves to the `cipherText`.
   * `Done` is reported only after the custodian share was stored, the new
   * backup was proven to restore the shares, and (managed backups) the
   * service stored the cipherText and confirmed the backup.
   */
  backupWallet(method: BackupMethod, onProgress?: ProgressCallback | null, config?: BackupConfig | null): Promise<string>
  /**
   * Restores the wallet's shares into the keychain from a `cipherText`
   * (`''` with managed backups: the service's newest backup of `method`).
   * Rejects with `WRONG_PASSWORD`, `CIPHERTEXT_CORRUPTED`, `INVALID_CIPHERTEXT`, ... (see the README).
   */
  recoverWallet(cipherText: string, method: BackupMethod, onProgress?: ProgressCallback | null, config?: BackupConfig | null): Promise<void>
}
