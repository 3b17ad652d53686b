//! TypeScript declarations for the values that cross the boundary, so the
//! generated `.d.ts` has no `any` in the public API.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
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
}

/** Firebase Auth method settings (`new FirebaseStorage(...)` or a plain object of this shape). */
export interface FirebaseStorageOptions {
  /** Resolves to the signed-in user's Firebase ID token, or `null` when nobody is signed in. */
  getToken(options: { forceRefresh: boolean }): Promise<string | null | undefined>;
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

/** What a `Portal` works with: the keychain, the service or a custodian adapter, and default method settings. */
export type PortalOptions = WalletAdapters & { backup?: BackupConfig } & CustodianKeeper;

/** Settings of the free `backupWallet`/`recoverWallet` functions: method settings plus adapters. */
export type WalletBackupConfig = BackupConfig & WalletAdapters & CustodianKeeper;

/** What the backup service says of this wallet. */
export interface WalletBackupStatus {
  /** Whether a backup was completed (confirmed by the service). */
  isBackedUp: boolean;
  /** Whether a completed backup can be recovered. */
  isRecoverable: boolean;
  /** Methods with a completed backup, e.g. `['password']`. */
  availableRecoveryMethods: Array<'password' | 'passkey' | 'gdrive' | 'icloud' | 'firebase' | 'custom'>;
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
  | 'GOOGLE_UNAUTHENTICATED' | 'ICLOUD_UNAUTHENTICATED' | 'STORAGE_UNAVAILABLE'
  | 'ADAPTER_TIMEOUT';

/** Every rejection is an `Error` (a `TypeError` for wrong argument types) with a stable `code`. */
export interface WalletBackupError extends Error { code: ErrorCode; cause?: unknown }
"#;
