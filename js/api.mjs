// The JavaScript face of wallet-backup shared by every entry point: the
// constant tables and the `Portal` class, a thin wrapper that keeps the
// app's adapters and calls the wasm exports `backupWallet`/`recoverWallet`.
// The build copies this ES module as is and converts it to CommonJS.

/**
 * Backup method ids, under the names of Portal's React Native SDK
 * (`BackupMethods.Password`) and of its web SDK (`BackupMethods.password`).
 * The methods also take the service's upper-case spellings (`'PASSWORD'`),
 * the values of Portal web's own `BackupMethods`.
 */
export const BackupMethods = Object.freeze({
  Password: 'password',
  Passkey: 'passkey',
  GoogleDrive: 'gdrive',
  iCloud: 'icloud',
  Firebase: 'firebase',
  Custom: 'custom',
  password: 'password',
  passkey: 'passkey',
  gdrive: 'gdrive',
  icloud: 'icloud',
  firebase: 'firebase',
  custom: 'custom',
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

// Argument checks, in one place (as noble-ciphers' utils.ts). The classes
// below check what they are given when they are made; the wasm module checks
// the same settings again when a call uses them (src/config.rs), as the free
// functions take plain objects too. A refusal is a TypeError with the code
// the module gives the same mistake, worded as core's Error prints it;
// tests/js/checks.test.mjs holds the two layers to the same codes.
const PREFIXES = {
  INVALID_ARGUMENT: 'invalid argument',
  KEYCHAIN_UNAVAILABLE: 'keychain unavailable',
  CUSTODIAN_UNAVAILABLE: 'custodian unavailable',
}

/** Throws a TypeError with `code` saying `why` unless `ok`. */
function check(ok, why, code = 'INVALID_ARGUMENT') {
  if (ok) return
  const error = new TypeError(`${PREFIXES[code]}: ${why}`)
  error.code = code
  throw error
}

const isObject = (value) => value !== null && (typeof value === 'object' || typeof value === 'function')
const isString = (value) => typeof value === 'string'
const isFunction = (value) => typeof value === 'function'
/** `value` is absent, or passes `test`. */
const optional = (value, test) => value == null || test(value)
/** `value` is an object with these functions. */
const hasFunctions = (value, names) => isObject(value) && names.every((name) => isFunction(value[name]))

const SERVICE_KEYS = ['apiKey', 'apiHost', 'timeoutMs']
const PORTAL_KEYS = ['keychain', 'custodian', ...SERVICE_KEYS, 'adapterTimeoutMs', 'backup']
const METHOD_KEYS = ['passwordStorage', 'passkey', 'firebase', 'gdrive', 'icloud', 'custom']

/** Refuses the own keys of `options` (named `what`) not in `valid`, naming them and the valid ones. */
function knownKeys(options, what, valid) {
  const unknown = Object.keys(options).filter((key) => !valid.includes(key))
  const names = unknown.slice(0, 4).map((key) => `'${key.slice(0, 40)}'`).join(', ') + (unknown.length > 4 ? ', ...' : '')
  check(unknown.length === 0, `${what} has unknown key${unknown.length > 1 ? 's' : ''} ${names}; it takes ${valid.join(', ')}`)
}

/** Whether an `http://` URL's host names this machine (as core's `api_base` decides). */
function loopback(url) {
  const authority = url.slice('http://'.length).split('/')[0]
  const host = authority.startsWith('[') ? authority.slice(1).split(']')[0] : authority.replace(/:[^:]*$/, '')
  return /^localhost$/i.test(host) || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/** The service options of `new Portal`, checked as the module checks them at each call. */
function checkService({ apiKey, apiHost }) {
  check(isString(apiKey), 'apiKey must be a string')
  check(apiKey.length > 0 && apiKey.length <= 512 && /^[\x21-\x7e]+$/.test(apiKey), 'apiKey is not a valid API key')
  check(apiHost != null, "apiHost missing: apiKey needs the backup service's apiHost, e.g. 'backup.example.com'")
  check(isString(apiHost), "apiHost must be a string, e.g. 'api.example.com'")
  check(!/^http:\/\//i.test(apiHost) || loopback(apiHost), 'apiHost may use http:// only for localhost; use https://')
}

/**
 * Firebase Auth backup method settings: the backup key is kept in the
 * backup service's key enclave and released only for the signed-in user's
 * Firebase ID token. Pass it as `backup: { firebase }` or per call.
 */
export class FirebaseStorage {
  /**
   * @param {{ getToken: (options: { forceRefresh: boolean }) => Promise<string | null>, tbsHost?: string }} options
   *   `getToken` resolves to the user's ID token (e.g. `auth.currentUser?.getIdToken(forceRefresh)`) or
   *   `null` when nobody is signed in; `tbsHost` is the enclave's host when it is not `apiHost`.
   */
  constructor(options) {
    check(hasFunctions(options, ['getToken']), 'FirebaseStorage needs { getToken: ({ forceRefresh }) => Promise<string | null> }')
    check(optional(options.tbsHost, isString), 'FirebaseStorage tbsHost must be a string')
    const { getToken, tbsHost } = options
    /** Resolves to the user's Firebase ID token, or `null` when nobody is signed in. */
    this.getToken = (opts) => getToken(opts)
    /** The key enclave's host, when it is not the Portal's `apiHost`. */
    this.tbsHost = tbsHost
    Object.freeze(this)
  }
}

/**
 * Passkey backup method settings. The module runs the WebAuthn ceremonies
 * with the backup service's passkey enclave: in PRF mode the key is derived
 * on the device from the passkey's PRF output and never sent; without PRF
 * the enclave keeps the key and releases it only for a verified assertion.
 * Pass it as `backup: { passkey }` or per call. In browsers every option is
 * optional; React Native passes `passkeys` (react-native-passkeys' `create`, `get`).
 */
export class PasskeyStorage {
  /**
   * @param {{ passkeys?: { create: Function, get: Function }, webAuthnHost?: string, userName?: string, mode?: 'auto' | 'enclave' }} [options]
   */
  constructor(options = {}) {
    check(isObject(options), 'PasskeyStorage options must be an object')
    const { passkeys, webAuthnHost, userName, mode } = options
    check(optional(passkeys, (p) => hasFunctions(p, ['create', 'get'])), 'PasskeyStorage passkeys must have create and get functions (react-native-passkeys)')
    for (const [name, value] of [['webAuthnHost', webAuthnHost], ['userName', userName]]) {
      check(optional(value, isString), `PasskeyStorage ${name} must be a string`)
    }
    check(optional(mode, (m) => m === 'auto' || m === 'enclave'), "PasskeyStorage mode must be 'auto' or 'enclave'")
    /** React Native's passkey functions; absent in browsers (the module uses `navigator.credentials`). */
    this.passkeys = passkeys
    /** The passkey enclave's host, when it is not the Portal's `apiHost`. */
    this.webAuthnHost = webAuthnHost
    /** The name a passkey manager shows for the new passkey. */
    this.userName = userName
    /** `'auto'` (PRF when the passkey has it) or `'enclave'`. */
    this.mode = mode
    Object.freeze(this)
  }
}

/** The wasm exports of this build, set by `definePortal` (for `GDriveStorage`'s and `ICloudStorage`'s own operations). */
let boundWasm = null

function storageOperation(operation, method, config) {
  if (!boundWasm || typeof boundWasm.storageOperation !== 'function') {
    const error = new Error('unexpected internal error: this build has no storageOperation export')
    error.code = 'UNEXPECTED_ERROR'
    return Promise.reject(error)
  }
  return boundWasm.storageOperation(operation, method, config)
}

/**
 * Google Drive backup method settings: each backup's key is kept in the
 * user's Drive, in the app's hidden `appDataFolder` (OAuth scope
 * `https://www.googleapis.com/auth/drive.appdata`), in one file,
 * `wallet-backup-keys.json`, updated in place. Pass it as `backup: { gdrive }`
 * or per call.
 */
export class GDriveStorage {
  /**
   * @param {{ getAccessToken: () => Promise<string | null>, driveHost?: string }} options
   *   `getAccessToken` resolves to the user's Google OAuth access token (scope `drive.appdata`), or
   *   `null` when nobody is signed in; `driveHost` replaces `https://www.googleapis.com` (tests).
   */
  constructor(options) {
    check(hasFunctions(options, ['getAccessToken']), 'GDriveStorage needs { getAccessToken: () => Promise<string | null> }')
    check(optional(options.driveHost, isString), 'GDriveStorage driveHost must be a string')
    const { getAccessToken, driveHost } = options
    /** Resolves to the user's Google access token, or `null` when nobody is signed in. */
    this.getAccessToken = () => getAccessToken()
    /** Google's API host, when it is not `https://www.googleapis.com`. */
    this.driveHost = driveHost
    Object.freeze(this)
  }

  /**
   * Proves the module can read and write the keys file before a backup relies
   * on it: finds it (creating it, empty, when there is none), rewrites it
   * unchanged and reads it back. Resolves to `false` when Drive refused or
   * failed (`GOOGLE_UNAUTHENTICATED`, `STORAGE_UNAVAILABLE`, including a file
   * this version cannot read, which is left as it is). Rejects with
   * `GOOGLE_SCOPE_MISSING` when the user did not grant the drive.appdata
   * permission: the app asks for it again.
   * @returns {Promise<boolean>}
   */
  async validateOperations() {
    try {
      return await storageOperation('validate', 'gdrive', { gdrive: this })
    } catch (e) {
      if (e?.code === 'STORAGE_UNAVAILABLE' || e?.code === 'GOOGLE_UNAUTHENTICATED') return false
      throw e
    }
  }

  /**
   * Deletes the keys file, and with it the key of every Drive backup: their
   * cipherTexts no longer recover. Resolves to whether there was a file.
   * @returns {Promise<boolean>}
   */
  async delete() {
    return storageOperation('delete', 'gdrive', { gdrive: this })
  }
}

const ICLOUD_SHAPE = 'ICloudStorage needs { containerIdentifier, environment, apiToken, getWebAuthToken } (CloudKit) or { keyValueStore } (React Native)'
const CLOUDKIT_KEYS = ['containerIdentifier', 'environment', 'apiToken', 'getWebAuthToken', 'onWebAuthToken', 'cloudKitHost']

/**
 * iCloud backup method settings: each backup's key is kept in the user's
 * iCloud, in one keys record updated in place. On the web and in Node.js
 * the module speaks CloudKit Web Services to the app's container (a
 * `WalletBackupKeys` record in the private database); in React Native it
 * uses the app's native iCloud key-value module. Pass it as
 * `backup: { icloud }` or per call.
 */
export class ICloudStorage {
  /**
   * @param {{ containerIdentifier: string, environment: 'development' | 'production', apiToken: string,
   *   getWebAuthToken: () => Promise<string | null>, onWebAuthToken?: (token: string) => void, cloudKitHost?: string }
   *   | { keyValueStore: { getItem: Function, setItem: Function, removeItem: Function } }} options
   *   CloudKit: the container, its environment and API token, and `getWebAuthToken` resolving to the signed-in
   *   user's web auth token or `null`; `onWebAuthToken` receives the next token each answer hands on;
   *   `cloudKitHost` replaces `https://api.apple-cloudkit.com` (tests). React Native: `keyValueStore`, the app's
   *   native iCloud key-value module (AsyncStorage's shape). Exactly one of the two.
   */
  constructor(options) {
    check(isObject(options), ICLOUD_SHAPE)
    const cloudKit = CLOUDKIT_KEYS.some((k) => options[k] != null)
    const { keyValueStore } = options
    if (keyValueStore != null) {
      check(!cloudKit, 'ICloudStorage takes either keyValueStore or the CloudKit options, not both')
      check(hasFunctions(keyValueStore, ['getItem', 'setItem', 'removeItem']), 'ICloudStorage keyValueStore must have getItem, setItem and removeItem functions')
      /** The app's native iCloud key-value store (React Native). */
      this.keyValueStore = keyValueStore
      Object.freeze(this)
      return
    }
    const { containerIdentifier, environment, apiToken, getWebAuthToken, onWebAuthToken, cloudKitHost } = options
    check(isString(containerIdentifier) && isString(apiToken) && isFunction(getWebAuthToken), ICLOUD_SHAPE)
    check(environment === 'development' || environment === 'production', "ICloudStorage environment must be 'development' or 'production'")
    check(optional(onWebAuthToken, isFunction), 'ICloudStorage onWebAuthToken must be a function')
    check(optional(cloudKitHost, isString), 'ICloudStorage cloudKitHost must be a string')
    /** The app's CloudKit container, e.g. `iCloud.com.example.wallet`. */
    this.containerIdentifier = containerIdentifier
    /** `'development'` or `'production'`. */
    this.environment = environment
    // Not enumerable, so logging or serialising the settings does not print the token.
    Object.defineProperty(this, 'apiToken', { value: apiToken, enumerable: false })
    /** Resolves to the signed-in user's CloudKit web auth token, or `null` when nobody is signed in. */
    this.getWebAuthToken = () => getWebAuthToken()
    /** Receives the next web auth token each CloudKit answer hands on. */
    this.onWebAuthToken = onWebAuthToken == null ? undefined : (token) => onWebAuthToken(token)
    /** CloudKit's host, when it is not `https://api.apple-cloudkit.com`. */
    this.cloudKitHost = cloudKitHost
    Object.freeze(this)
  }

  /**
   * Proves the module can read and write the keys record before a backup
   * relies on it: reads it (creating it, empty, when there is none), rewrites
   * it unchanged and reads it back. Resolves to `false` when iCloud refused or
   * failed (`ICLOUD_UNAUTHENTICATED`, `STORAGE_UNAVAILABLE`, including a record
   * this version cannot read, which is left as it is).
   * @returns {Promise<boolean>}
   */
  async validateOperations() {
    try {
      return await storageOperation('validate', 'icloud', { icloud: this })
    } catch (e) {
      if (e?.code === 'STORAGE_UNAVAILABLE' || e?.code === 'ICLOUD_UNAUTHENTICATED') return false
      throw e
    }
  }

  /**
   * Deletes the keys record, and with it the key of every iCloud backup: their
   * cipherTexts no longer recover. Resolves to whether there was a record.
   * @returns {Promise<boolean>}
   */
  async delete() {
    return storageOperation('delete', 'icloud', { icloud: this })
  }
}

/**
 * Builds the `Portal` class over the wasm exports of one build.
 * @param {{ backupWallet: Function, recoverWallet: Function, walletBackupStatus: Function, storedClientBackupShare: Function, storageOperation: Function }} wasm
 */
export function definePortal(wasm) {
  boundWasm = wasm
  /** A wallet's backup client, holding the app's adapters and service settings. */
  class Portal {
    #adapters
    #backup

    /**
     * @param {{ keychain: object, custodian?: object, apiKey?: string, apiHost?: string, timeoutMs?: number,
     *   adapterTimeoutMs?: number, backup?: object }} options `adapterTimeoutMs` (default 60000) limits each
     *   call into the app's functions; past it a call fails with `ADAPTER_TIMEOUT` (checked when a call uses it).
     */
    constructor(options) {
      check(isObject(options), 'Portal options must be an object with keychain, and apiKey or custodian')
      knownKeys(options, 'Portal options', PORTAL_KEYS)
      check(isObject(options.keychain), 'keychain adapter missing: pass { getShares, setShares }', 'KEYCHAIN_UNAVAILABLE')
      check(hasFunctions(options.keychain, ['getShares', 'setShares']), 'the keychain adapter must have getShares and setShares functions', 'KEYCHAIN_UNAVAILABLE')
      const service = options.apiKey != null
      check(!(service && options.custodian != null), 'pass either apiKey (the backup service keeps the custodian share) or custodian, not both')
      check(service || isObject(options.custodian), 'custodian adapter missing: pass { read, write }, or apiKey and apiHost for the backup service', 'CUSTODIAN_UNAVAILABLE')
      check(service || hasFunctions(options.custodian, ['read', 'write']), 'the custodian adapter must have read and write functions', 'CUSTODIAN_UNAVAILABLE')
      if (service) checkService(options)
      check(optional(options.backup, (b) => typeof b === 'object'), 'backup must be an object of method settings')
      if (options.backup != null) knownKeys(options.backup, 'Portal options.backup', METHOD_KEYS)
      this.#backup = Object.freeze({ ...options.backup })
      const adapters = { keychain: options.keychain, adapterTimeoutMs: options.adapterTimeoutMs }
      if (service) for (const key of SERVICE_KEYS) adapters[key] = options[key]
      else adapters.custodian = options.custodian
      this.#adapters = Object.freeze(adapters)
      const portal = this
      /** The backup service's API, as Portal's SDK names it. */
      this.api = Object.freeze({
        /** Self-managed backups: tells the service whether the app stored the newest cipherText of `method`. */
        storedClientBackupShare: (success, method) => wasm.storedClientBackupShare(success, method, portal.#adapters),
      })
    }

    #withAdapters(config) {
      check(optional(config, (c) => typeof c === 'object'), 'config must be an object')
      return { ...this.#backup, ...config, ...this.#adapters }
    }

    /** Backs up the wallet; resolves to the cipherText. */
    async backupWallet(method, onProgress, config) {
      return wasm.backupWallet(method, onProgress, this.#withAdapters(config))
    }

    /** Restores the wallet's shares into the keychain from a cipherText (`''`: the service's newest). */
    async recoverWallet(cipherText, method, onProgress, config) {
      return wasm.recoverWallet(cipherText, method, onProgress, this.#withAdapters(config))
    }

    /** Whether the service holds a completed backup of this wallet. */
    async isWalletBackedUp() {
      return (await wasm.walletBackupStatus(this.#adapters)).isBackedUp
    }

    /** Whether the wallet can be recovered from the service's backups. */
    async isWalletRecoverable() {
      return (await wasm.walletBackupStatus(this.#adapters)).isRecoverable
    }

    /** The methods with a completed backup on the service (`'password'`, ...). */
    async availableRecoveryMethods() {
      return (await wasm.walletBackupStatus(this.#adapters)).availableRecoveryMethods
    }

    /** The wrong PINs the newest password backup still allows if it is guess-limited, else null. */
    async guessesLeft() {
      return (await wasm.walletBackupStatus(this.#adapters)).pinGuard?.guessesLeft ?? null
    }
  }
  return Portal
}
