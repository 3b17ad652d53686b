// Public types of the wallet-backup package: the one source of the
// package's TypeScript. The wasm exports' declarations (generated into
// types/wallet_backup.d.ts from src/api.rs) refer to the types below
// through an import of this file; a test of the binding (src/errors.rs) checks
// that `ErrorCode`, `BackupMethod` and `MpcStatus` list exactly core's
// codes, methods and statuses.
export * from './types/wallet_backup.js'

/** A backup method id; the service's upper-case spellings are accepted too. */
export type BackupMethod =
  | 'password' | 'passkey' | 'gdrive' | 'icloud' | 'firebase' | 'custom'
  | 'PASSWORD' | 'PASSKEY' | 'GDRIVE' | 'ICLOUD' | 'FIREBASE' | 'CUSTOM';

/** A progress status, in Portal's wording. */
export type MpcStatus =
  | 'Reading share' | 'Generating share' | 'Encrypting share' | 'Storing share'
  | 'Decrypting share' | 'Parsing share' | 'Recovering backup share'
  | 'Recovering signing share' | 'Done';

/** What `onProgress` receives; `done` is true only with `Done`, after every step succeeded. */
export interface ProgressEvent { status: MpcStatus; done: boolean }

/** Progress callback; exceptions it throws are ignored. */
export type ProgressCallback = (progress: ProgressEvent) => void | Promise<void>;

/** The app's keychain holding the wallet's signing shares (an opaque string). */
export interface Keychain {
  /** Resolves to the shares, e.g. Portal's `{"secp256k1":{...}}` JSON. */
  getShares(): Promise<string>;
  /** Replaces the shares (called by recovery). */
  setShares(shares: string): Promise<void>;
}

/** Where the app keeps the custodian backup share (one opaque string). */
export interface Custodian {
  /** Resolves to what was last written, or `null`/`''` if nothing is stored. */
  read(): Promise<string | null>;
  /** Replaces the stored string. */
  write(record: string): Promise<void>;
}

/** Argon2id costs for new password backups; never below m = 19456 KiB, t = 2, p = 1. */
export interface Argon2idOptions { memoryKiB?: number; iterations?: number; parallelism?: number }

/** Password/PIN method settings. */
export interface PasswordStorageConfig {
  /** The user's password or PIN (NFC-normalised before use). */
  password: string;
  /** Argon2id costs for new backups; recovery uses the costs stored in the cipherText. */
  kdf?: Argon2idOptions;
  /**
   * Runs the Argon2id outside the module (React Native: a native Argon2 module). The module still
   * draws the salt and chooses the costs; resolve to the raw 32-byte Argon2id v0x13 output of the
   * UTF-8 `password` (no secret, no associated data). A wrong output fails recovery with `WRONG_PASSWORD`.
   */
  deriveKey?: (request: DeriveKeyRequest) => Promise<Uint8Array> | Uint8Array;
  /**
   * React Native only: without `deriveKey`, run Argon2id in the module anyway (as JavaScript: about a
   * 20 s to a minute per backup or recovery in Hermes). Without it, a password call there with no `deriveKey`
   * fails at once with `NATIVE_KDF_REQUIRED`. Other builds ignore it.
   */
  allowSlowKdf?: boolean;
  /**
   * Makes a new backup guess-limited: the PIN can be tried only through the backup service, which
   * counts wrong guesses and destroys the backup after the client's limit (default 10), so a stolen
   * cipherText and API key get that many guesses instead of an offline search. Needs `apiKey`.
   * Recovery follows the cipherText; a wrong PIN's `WRONG_PASSWORD` error then has `guessesLeft`.
   */
  guessLimited?: boolean;
}

/** What `passwordStorage.deriveKey` is asked to compute. */
export interface DeriveKeyRequest {
  /** The NFC-normalised password, to be hashed as UTF-8. */
  password: string;
  /** 16 random bytes. */
  salt: Uint8Array;
  memoryKiB: number;
  iterations: number;
  parallelism: number;
  hashLength: 32;
  algorithm: 'argon2id';
  version: 0x13;
  /** The call's `signal`, when it has one: a `deriveKey` that honours it stops when the app aborts. */
  signal?: AbortSignalLike;
}

/** Firebase Auth method settings (`new FirebaseStorage(...)` or a plain object of this shape). */
export interface FirebaseStorageOptions {
  /** Resolves to the signed-in user's Firebase ID token, or `null` when nobody is signed in. */
  getToken(options: { forceRefresh: boolean; signal?: AbortSignalLike }): Promise<string | null | undefined>;
  /** The key enclave's host when it is not `apiHost`. */
  tbsHost?: string;
}

/**
 * React Native's passkey functions, shaped like `react-native-passkeys`: WebAuthn's JSON forms
 * (base64url strings) in and out; `null` when the user cancelled.
 */
export interface PasskeyFunctions {
  /** Creates a passkey from PublicKeyCredentialCreationOptionsJSON; resolves to RegistrationResponseJSON. */
  create(options: object): Promise<object | null>;
  /** Asserts a passkey from PublicKeyCredentialRequestOptionsJSON; resolves to AuthenticationResponseJSON. */
  get(options: object): Promise<object | null>;
}

/** Passkey method settings (`new PasskeyStorage(...)` or a plain object of this shape); all optional in browsers. */
export interface PasskeyStorageOptions {
  /** React Native's passkey functions; without them the module uses `navigator.credentials`. */
  passkeys?: PasskeyFunctions;
  /** The passkey enclave's host when it is not `apiHost`. */
  webAuthnHost?: string;
  /** The name a passkey manager shows for a new passkey (1 to 64 characters; default "Wallet backup"). */
  userName?: string;
  /** `'auto'` (default): PRF mode when the passkey has PRF, else the enclave; `'enclave'`: always the enclave. */
  mode?: 'auto' | 'enclave';
}

/** Google Drive method settings (`new GDriveStorage(...)` or a plain object of this shape). */
export interface GDriveStorageOptions {
  /** Resolves to the user's Google OAuth access token (scope `drive.appdata`), or `null` when nobody is signed in. */
  getAccessToken(): Promise<string | null | undefined>;
  /** Google's API host when it is not `https://www.googleapis.com` (https; http only for localhost). */
  driveHost?: string;
}

/**
 * The app's native iCloud key-value module (React Native), with AsyncStorage's shape, e.g. one backed
 * by `NSUbiquitousKeyValueStore` (`react-native-icloudstore`).
 */
export interface ICloudKeyValueStore {
  /** Resolves to the value stored under `key`, or `null`. */
  getItem(key: string): Promise<string | null | undefined>;
  /** Stores `value` under `key`. */
  setItem(key: string, value: string): Promise<unknown>;
  /** Removes `key`. */
  removeItem(key: string): Promise<unknown>;
}

/**
 * iCloud method settings (`new ICloudStorage(...)` or a plain object of this shape): either CloudKit Web
 * Services (web, Node.js) or the app's native key-value store (React Native), not both.
 */
export type ICloudStorageOptions =
  | {
      /** The app's CloudKit container, e.g. `iCloud.com.example.wallet`; its private database holds the keys. */
      containerIdentifier: string;
      /** The container's environment. */
      environment: 'development' | 'production';
      /** The container's API token (CloudKit Console, Tokens & Keys). */
      apiToken: string;
      /** Resolves to the signed-in user's CloudKit web auth token (`ckWebAuthToken`), or `null` when nobody is signed in. */
      getWebAuthToken(): Promise<string | null | undefined>;
      /** Receives the next web auth token each CloudKit answer hands on; keep it for the next call. */
      onWebAuthToken?: (webAuthToken: string) => void;
      /** CloudKit's host when it is not `https://api.apple-cloudkit.com` (https; http only for localhost). */
      cloudKitHost?: string;
      keyValueStore?: undefined;
    }
  | {
      /** The app's native iCloud key-value store. */
      keyValueStore: ICloudKeyValueStore;
      containerIdentifier?: undefined;
      apiToken?: undefined;
      getWebAuthToken?: undefined;
    };

/**
 * What `BackupConfig.icloud` holds: an `ICloudStorage`, or a plain object of one of the
 * `ICloudStorageOptions` forms (checked when a call uses it).
 */
export interface ICloudStorageSettings {
  containerIdentifier?: string;
  environment?: 'development' | 'production';
  apiToken?: string;
  getWebAuthToken?: () => Promise<string | null | undefined>;
  onWebAuthToken?: ((webAuthToken: string) => void) | undefined;
  cloudKitHost?: string | undefined;
  keyValueStore?: ICloudKeyValueStore;
}

/**
 * The app's own key storage for the `custom` method (Portal's storage interface). The module keeps
 * one string in it, a keys record (FORMAT.md §3.4.4), and reads every write back.
 */
export interface CustomStorage {
  /** Resolves to the string last written, or `null` when nothing is stored. */
  read(): Promise<string | null | undefined>;
  /** Replaces the stored string. */
  write(value: string): Promise<unknown>;
  /** The app's to call: the module never deletes. */
  delete?(): Promise<boolean>;
  /** When present, asked before the first write of a backup; `false` fails it with `STORAGE_UNAVAILABLE`. */
  validateOperations?(): Promise<boolean>;
}

/** Per-call method settings. */
export interface BackupConfig {
  passwordStorage?: PasswordStorageConfig;
  firebase?: FirebaseStorageOptions;
  passkey?: PasskeyStorageOptions;
  gdrive?: GDriveStorageOptions;
  icloud?: ICloudStorageSettings;
  custom?: CustomStorage;
}

/** How to reach the backup service. */
export interface ServiceConfig {
  /** The client's API key (`wbk_live_…`), sent as `Authorization: Bearer`. */
  apiKey: string;
  /** `api.example.com` (https), an `https://` URL, or `http://localhost:PORT` for development. */
  apiHost: string;
  /** Deadline of each request in milliseconds (default 30000, at most 600000). */
  timeoutMs?: number;
}

/** Where the custodian backup share goes: the backup service, or the app's own adapter. */
export type CustodianKeeper =
  | (ServiceConfig & { custodian?: undefined })
  | { custodian: Custodian; apiKey?: undefined };

/** The app's keychain, and how long the module waits for the app's functions. */
export interface WalletAdapters {
  keychain: Keychain;
  /**
   * How long each call into the app's functions may take, in whole milliseconds (default 60000, 1 to 600000):
   * the keychain, the custodian, storage adapters and key-value stores, `getToken`, `getAccessToken`,
   * `getWebAuthToken`, `deriveKey`. A passkey prompt may take WebAuthn's own `timeout` plus this. Past it the
   * call fails with `ADAPTER_TIMEOUT`, the keychain is free again, and nothing is completed.
   */
  adapterTimeoutMs?: number;
}

/**
 * An `AbortSignal` (from `new AbortController().signal`, `AbortSignal.timeout(ms)`, ...), as the module
 * reads it.
 */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Per-call settings of `backupWallet`/`recoverWallet` (free functions and `Portal`'s methods). */
export interface CallOptions {
  /**
   * Cancels the call: when it aborts, the step under way is abandoned and the call rejects with
   * `ABORTED` (its `cause` the signal's `reason`); an already-aborted signal fails before any work.
   * Nothing is half-written: the keychain is unchanged and the previous backup stays the one recovery
   * uses. The commit steps are never interrupted once started (a recovery's `keychain.setShares`, the
   * service's confirm of a managed backup): their own result decides. Each request and each call into
   * the app's functions is raced against it; `deriveKey`, `getToken` and the browser's passkey prompt
   * also receive it (an adapter that honours it stops its own work, and cannot write late).
   */
  signal?: AbortSignalLike;
}

/** What a `Portal` works with: the keychain, the service or a custodian adapter, and default method settings. */
export type PortalOptions = WalletAdapters & { backup?: BackupConfig } & CustodianKeeper;

/** Settings of the free `backupWallet`/`recoverWallet` functions: method settings plus adapters. */
export type WalletBackupConfig = BackupConfig & WalletAdapters & CustodianKeeper & CallOptions;

/** What the backup service says of this wallet. */
export interface WalletBackupStatus {
  /** Whether a backup was completed (confirmed by the service). */
  isBackedUp: boolean;
  /** Whether a completed backup can be recovered. */
  isRecoverable: boolean;
  /** Methods with a completed backup, e.g. `['password']`. */
  availableRecoveryMethods: Array<'password' | 'passkey' | 'gdrive' | 'icloud' | 'firebase' | 'custom'>;
  /**
   * The newest password backup's guess count when it is guess-limited (`guessLimited`), else `null`:
   * `guessesLeft` wrong PINs remain before the service destroys it (0 and `destroyed` once it has).
   */
  pinGuard: { guessLimit: number; guessesLeft: number; destroyed: boolean } | null;
}

/** Every stable error code. */
export type ErrorCode =
  | 'PASSWORD_REQUIRED' | 'WRONG_PASSWORD' | 'WRONG_BACKUP_KEY' | 'CIPHERTEXT_CORRUPTED'
  | 'INVALID_CIPHERTEXT' | 'INVALID_CUSTODIAN_SHARE' | 'BACKUP_SHARE_MISMATCH'
  | 'UNSUPPORTED_STORAGE_METHOD' | 'METHOD_MISMATCH' | 'INVALID_ARGUMENT'
  | 'KEYCHAIN_UNAVAILABLE' | 'CUSTODIAN_UNAVAILABLE'
  | 'WALLET_MODIFICATION_ALREADY_IN_PROGRESS' | 'RANDOM_UNAVAILABLE' | 'UNEXPECTED_ERROR'
  | 'NETWORK_ERROR' | 'NETWORK_TIMEOUT' | 'UNAUTHORIZED' | 'RATE_LIMITED' | 'SERVICE_ERROR'
  | 'NO_BACKUP' | 'MANAGED_BACKUPS_DISABLED' | 'BACKUP_KEY_NOT_FOUND'
  | 'FIREBASE_NOT_SIGNED_IN' | 'FIREBASE_UNAUTHENTICATED' | 'FIREBASE_REAUTHENTICATION_REQUIRED'
  | 'PASSKEY_UNAVAILABLE' | 'PASSKEY_NOT_ALLOWED' | 'PASSKEY_USER_VERIFICATION_REQUIRED'
  | 'PASSKEY_PRF_UNAVAILABLE' | 'PASSKEY_DENIED' | 'PASSKEY_NOT_CONFIGURED'
  | 'GOOGLE_UNAUTHENTICATED' | 'GOOGLE_SCOPE_MISSING' | 'ICLOUD_UNAUTHENTICATED' | 'STORAGE_UNAVAILABLE'
  | 'ADAPTER_TIMEOUT' | 'ABORTED' | 'NATIVE_KDF_REQUIRED' | 'PIN_GUESSES_EXHAUSTED';

/** Every rejection is an `Error` (a `TypeError` for wrong argument types) with a stable `code`. */
export interface WalletBackupError extends Error {
  code: ErrorCode
  cause?: unknown
  /** With `WRONG_PASSWORD` for a guess-limited backup: the guesses left before it is destroyed. */
  guessesLeft?: number
}

/** Backup method ids, under the names of Portal's React Native SDK (`Password`) and web SDK (`password`). */
export declare const BackupMethods: {
  readonly Password: 'password'
  readonly Passkey: 'passkey'
  readonly GoogleDrive: 'gdrive'
  readonly iCloud: 'icloud'
  readonly Firebase: 'firebase'
  readonly Custom: 'custom'
  readonly password: 'password'
  readonly passkey: 'passkey'
  readonly gdrive: 'gdrive'
  readonly icloud: 'icloud'
  readonly firebase: 'firebase'
  readonly custom: 'custom'
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
 * Firebase Auth backup method: the service's key enclave keeps the key for the
 * signed-in user's ID token. Pass it as `backup: { firebase }` or per call.
 * How it works and its errors: `docs/methods.md#firebase-auth` in the repository.
 *
 * ```js
 * const firebase = new FirebaseStorage({ getToken: async ({ forceRefresh }) => (await auth.currentUser?.getIdToken(forceRefresh)) ?? null })
 * ```
 */
export declare class FirebaseStorage implements FirebaseStorageOptions {
  /** Throws a `TypeError` with code `INVALID_ARGUMENT` without a `getToken` function. */
  constructor(options: FirebaseStorageOptions)
  readonly getToken: (options: { forceRefresh: boolean }) => Promise<string | null | undefined>
  readonly tbsHost?: string
}

/**
 * Passkey backup method: the key comes from the passkey's PRF, or the service's
 * passkey enclave keeps it for a verified assertion. Pass it as
 * `backup: { passkey }` or per call. How it works and its errors:
 * `docs/methods.md#passkey` in the repository.
 *
 * ```js
 * const passkey = new PasskeyStorage() // browsers; React Native: new PasskeyStorage({ passkeys: { create, get } })
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
 * Google Drive backup method: the keys are kept in the app's hidden Drive folder
 * (scope `drive.appdata`). Pass it as `backup: { gdrive }` or per call. How it
 * works and its errors: `docs/methods.md#google-drive` in the repository.
 *
 * ```js
 * const gdrive = new GDriveStorage({ getAccessToken: async () => googleAccessToken ?? null })
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
   * Resolves to `false` when Google refused the token or Drive failed; rejects with
   * `GOOGLE_SCOPE_MISSING` when the user did not grant the drive.appdata permission.
   */
  validateOperations(): Promise<boolean>
  /** Deletes the keys file and with it every Drive backup's key; resolves to whether there was one. */
  delete(): Promise<boolean>
}

/**
 * iCloud backup method: the keys are kept in the user's iCloud (CloudKit Web
 * Services on the web and in Node.js, the app's native key-value module in
 * React Native). Pass it as `backup: { icloud }` or per call. How it works and
 * its errors: `docs/methods.md#icloud` in the repository.
 *
 * ```js
 * const icloud = new ICloudStorage({ containerIdentifier: 'iCloud.com.example.wallet', environment: 'production',
 *   apiToken: cloudKitApiToken, getWebAuthToken: async () => session.ckWebAuthToken ?? null,
 *   onWebAuthToken: (token) => { session.ckWebAuthToken = token } })
 * // React Native: new ICloudStorage({ keyValueStore })
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
   * `KEYCHAIN_UNAVAILABLE` or `CUSTODIAN_UNAVAILABLE` when an adapter is missing
   * or lacks its functions, and `INVALID_ARGUMENT` for an unknown option, both
   * `apiKey` and `custodian`, an `apiKey` without `apiHost`, or an `http://`
   * `apiHost` that is not localhost.
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
   * The wrong PINs the newest password backup still allows, when it is guess-limited; `null` when it
   * is not (or there is none). Show it before asking for the PIN.
   */
  guessesLeft(): Promise<number | null>
  /**
   * Backs up the wallet and resolves to the `cipherText`.
   * `Done` is reported only after the custodian share was stored, the new
   * backup was proven to restore the shares, and (managed backups) the
   * service stored the cipherText and confirmed the backup.
   */
  backupWallet(method: BackupMethod, onProgress?: ProgressCallback | null, config?: (BackupConfig & CallOptions) | null): Promise<string>
  /**
   * Restores the wallet's shares into the keychain from a `cipherText`
   * (`''` with managed backups: the service's newest backup of `method`).
   * Rejects with a {@link WalletBackupError} such as `WRONG_PASSWORD` or `INVALID_CIPHERTEXT`;
   * every code and what to do: `docs/errors.md` in the repository.
   */
  recoverWallet(cipherText: string, method: BackupMethod, onProgress?: ProgressCallback | null, config?: (BackupConfig & CallOptions) | null): Promise<void>
}

/** `Portal` is also the default export: `import Portal from 'wallet-backup'`, as Portal's SDK is imported. */
export default Portal
