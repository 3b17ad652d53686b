// The JavaScript face of wallet-backup shared by every entry point: the
// constant tables and the `Portal` class, a thin wrapper that keeps the
// app's adapters and calls the wasm exports `backupWallet`/`recoverWallet`.
// The build copies this ES module as is and converts it to CommonJS.

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

function codedTypeError(code, message) {
  const error = new TypeError(message)
  error.code = code
  return error
}

const isObject = (value) => value !== null && (typeof value === 'object' || typeof value === 'function')

/**
 * Builds the `Portal` class over the wasm exports of one build.
 * @param {{ backupWallet: Function, recoverWallet: Function }} wasm
 */
export function definePortal(wasm) {
  /** A wallet's backup client, holding the app's adapters. */
  class Portal {
    #keychain
    #custodian

    /** @param {{ keychain: object, custodian: object }} options */
    constructor(options) {
      if (!isObject(options)) {
        throw codedTypeError('INVALID_ARGUMENT', 'invalid argument: Portal options must be an object with keychain and custodian')
      }
      if (!isObject(options.keychain)) {
        throw codedTypeError('KEYCHAIN_UNAVAILABLE', 'keychain unavailable: keychain adapter missing: pass { getShares, setShares }')
      }
      if (!isObject(options.custodian)) {
        throw codedTypeError('CUSTODIAN_UNAVAILABLE', 'custodian unavailable: custodian adapter missing: pass { read, write }')
      }
      this.#keychain = options.keychain
      this.#custodian = options.custodian
    }

    #withAdapters(config) {
      if (config != null && typeof config !== 'object') {
        throw codedTypeError('INVALID_ARGUMENT', 'invalid argument: config must be an object')
      }
      return { ...config, keychain: this.#keychain, custodian: this.#custodian }
    }

    /** Backs up the wallet; resolves to the cipherText the app keeps. */
    async backupWallet(method, onProgress, config) {
      return wasm.backupWallet(method, onProgress, this.#withAdapters(config))
    }

    /** Restores the wallet's shares into the keychain from a cipherText. */
    async recoverWallet(cipherText, method, onProgress, config) {
      return wasm.recoverWallet(cipherText, method, onProgress, this.#withAdapters(config))
    }
  }
  return Portal
}
