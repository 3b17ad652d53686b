// A TypeScript consumer of the installed wallet-backup package. The packaging
// test copies this folder next to an installed tarball and runs
// `tsc --noEmit -p tsconfig.json` (and `-p tsconfig.node16.json`) on it, and
// again on a copy in cjs/, a CommonJS project (no `"type": "module"`).
//
// Every public type is used; the `@ts-expect-error` lines prove the types are
// precise (were any of them `any`, the directive would be unused and tsc would
// fail).

import DefaultPortal, {
  Portal,
  BackupMethods,
  MpcStatuses,
  backupWallet,
  recoverWallet,
  walletBackupStatus,
  storedClientBackupShare,
  FirebaseStorage,
  GDriveStorage,
  ICloudStorage,
} from 'wallet-backup'
import type {
  Argon2idOptions,
  BackupConfig,
  BackupMethod,
  Custodian,
  ErrorCode,
  Keychain,
  MpcStatus,
  PasswordStorageConfig,
  PortalOptions,
  ProgressCallback,
  ProgressEvent,
  FirebaseStorageOptions,
  GDriveStorageOptions,
  ICloudStorageOptions,
  ICloudKeyValueStore,
  CustomStorage,
  ServiceConfig,
  WalletBackupConfig,
  WalletBackupStatus,
  WalletBackupError,
} from 'wallet-backup'
import { libsodiumDeriveKey } from 'wallet-backup/react-native-libsodium'
import type { LibsodiumPwhash } from 'wallet-backup/react-native-libsodium'

let stored = '{"secp256k1":{"id":"w1","share":"00"}}'
let record: string | null = null

const keychain: Keychain = {
  async getShares(): Promise<string> {
    return stored
  },
  async setShares(shares: string): Promise<void> {
    stored = shares
  },
}

const custodian: Custodian = {
  async read(): Promise<string | null> {
    return record
  },
  async write(r: string): Promise<void> {
    record = r
  },
}

const options: PortalOptions = { keychain, custodian, adapterTimeoutMs: 30_000 }
const portal: Portal = new Portal(options)

const onProgress: ProgressCallback = (event: ProgressEvent) => {
  const status: MpcStatus = event.status
  const done: boolean = event.done
  if (status === MpcStatuses.Done && done) console.log('backup complete')
}

const kdf: Argon2idOptions = { memoryKiB: 65536, iterations: 3, parallelism: 1 }
const passwordStorage: PasswordStorageConfig = { password: 'correct horse', kdf }
const config: BackupConfig = { passwordStorage }
const method: BackupMethod = BackupMethods.Password
const upper: BackupMethod = 'PASSWORD'

// Literal types survive: BackupMethods.Password is 'password', not string.
const literal: 'password' = BackupMethods.Password
// Portal web's spelling (BackupMethods.password) names the same method.
const webSpelling: 'password' = BackupMethods.password
// The default export is the Portal class, as Portal's SDK is imported.
const viaDefault: Portal = new DefaultPortal({ keychain, custodian })
const doneLiteral: 'Done' = MpcStatuses.Done

function describe(code: ErrorCode): string {
  switch (code) {
    case 'WRONG_PASSWORD':
      return 'wrong password'
    case 'CIPHERTEXT_CORRUPTED':
    case 'INVALID_CIPHERTEXT':
      return 'bad backup'
    case 'WALLET_MODIFICATION_ALREADY_IN_PROGRESS':
      return 'busy'
    case 'ADAPTER_TIMEOUT':
      return 'the keychain or a storage did not answer'
    default:
      return code
  }
}

const service: ServiceConfig = { apiKey: 'wbk_live_x', apiHost: 'backup.example.com', timeoutMs: 10_000 }
const firebaseOptions: FirebaseStorageOptions = { getToken: async ({ forceRefresh }) => (forceRefresh ? 'fresh' : null) }
const firebase: FirebaseStorage = new FirebaseStorage(firebaseOptions)
const managed: Portal = new Portal({ ...service, keychain, backup: { passwordStorage, firebase } })

const driveOptions: GDriveStorageOptions = { getAccessToken: async () => null, driveHost: 'https://www.googleapis.com' }
const gdrive: GDriveStorage = new GDriveStorage(driveOptions)
const customStorage: CustomStorage = { read: async () => null, write: async (value: string) => value.length }

export async function driveRun(): Promise<boolean> {
  const valid: boolean = await gdrive.validateOperations()
  await managed.backupWallet('gdrive', null, { gdrive })
  await portal.backupWallet('custom', null, { custom: customStorage })
  const deleted: boolean = await gdrive.delete()
  return valid && deleted
}

export async function managedRun(): Promise<string[]> {
  const cipherText: string = await managed.backupWallet('password', onProgress)
  await managed.recoverWallet('', 'firebase', null, { firebase: { getToken: async () => 'token', tbsHost: 'enclave.example.com' } })
  await managed.recoverWallet('', 'password')
  await managed.api.storedClientBackupShare(true, 'password')
  const backedUp: boolean = await managed.isWalletBackedUp()
  const recoverable: boolean = await managed.isWalletRecoverable()
  const methods: BackupMethod[] = await managed.availableRecoveryMethods()
  const status: WalletBackupStatus = await walletBackupStatus(service)
  await storedClientBackupShare(false, 'password', service)
  return [cipherText, String(backedUp && recoverable && status.isBackedUp), ...methods]
}

export async function run(): Promise<string> {
  const cipherText: string = await portal.backupWallet(method, onProgress, config)
  await portal.recoverWallet(cipherText, upper, null, config)
  await portal.recoverWallet(cipherText, 'password')

  const full: WalletBackupConfig = { keychain, custodian, adapterTimeoutMs: 10_000, passwordStorage: { password: 'pw' } }
  const again: string = await backupWallet('password', undefined, full)
  await recoverWallet(again, 'password', null, full)

  try {
    await portal.recoverWallet(cipherText, method, onProgress, { passwordStorage: { password: 'nope' } })
  } catch (e) {
    const error = e as WalletBackupError
    const code: ErrorCode = error.code
    const message: string = error.message
    const cause: unknown = error.cause
    const asError: Error = error
    return `${describe(code)} ${message} ${String(cause)} ${asError.name} ${literal} ${webSpelling} ${doneLiteral} ${String(viaDefault)}`
  }
  return cipherText
}

// ---- the types are not `any` ----

// @ts-expect-error: not a backup method
void portal.backupWallet('carrier-pigeon', null, config)

// @ts-expect-error: the password belongs under passwordStorage
void portal.backupWallet('password', null, { password: 'pw' })

// @ts-expect-error: the password is a string
void portal.backupWallet('password', null, { passwordStorage: { password: 1234 } })

// React Native: the libsodium adapter is a deriveKey; allowSlowKdf is a boolean.
declare const sodium: LibsodiumPwhash
const nativeKdf: PasswordStorageConfig = { password: 'pw', deriveKey: libsodiumDeriveKey(sodium), allowSlowKdf: false }
void portal.backupWallet('password', null, { passwordStorage: nativeKdf })
// @ts-expect-error: allowSlowKdf is a boolean
const badSlow: PasswordStorageConfig = { password: 'pw', allowSlowKdf: 'yes' }
// @ts-expect-error: the adapter needs libsodium's crypto_pwhash
void libsodiumDeriveKey({})

// @ts-expect-error: kdf costs are numbers
const badKdf: Argon2idOptions = { memoryKiB: '64 MiB' }

const cloudKitOptions: ICloudStorageOptions = {
  containerIdentifier: 'iCloud.com.example.wallet',
  environment: 'production',
  apiToken: 'a'.repeat(64),
  getWebAuthToken: async () => null,
  onWebAuthToken: (token: string) => void token.length,
}
const icloud: ICloudStorage = new ICloudStorage(cloudKitOptions)
const keyValueStore: ICloudKeyValueStore = { getItem: async () => null, setItem: async () => {}, removeItem: async () => {} }

export async function icloudRun(): Promise<boolean> {
  const valid: boolean = await icloud.validateOperations()
  await managed.backupWallet('icloud', null, { icloud })
  await managed.backupWallet('icloud', null, { icloud: new ICloudStorage({ keyValueStore }) })
  const deleted: boolean = await icloud.delete()
  return valid && deleted
}

// @ts-expect-error: the CloudKit environment is development or production
void new ICloudStorage({ ...cloudKitOptions, environment: 'staging' })

// @ts-expect-error: the CloudKit options or a key-value store, not both
void new ICloudStorage({ ...cloudKitOptions, keyValueStore })

// @ts-expect-error: a Portal needs a custodian or the service
void new Portal({ keychain })

// @ts-expect-error: the service or a custodian, not both
void new Portal({ ...service, keychain, custodian })

// @ts-expect-error: adapterTimeoutMs is a number of milliseconds
void new Portal({ keychain, custodian, adapterTimeoutMs: '60s' })

// @ts-expect-error: getToken resolves to a token string
void new FirebaseStorage({ getToken: async () => 42 })

// @ts-expect-error: getAccessToken resolves to a token string
void new GDriveStorage({ getAccessToken: async () => 42 })

// @ts-expect-error: a custom adapter needs write
const badCustom: CustomStorage = { read: async () => null }

// @ts-expect-error: storedClientBackupShare takes a boolean
void managed.api.storedClientBackupShare('yes', 'password')

// @ts-expect-error: getShares resolves to a string
const badKeychain: Keychain = { getShares: async () => 42, setShares: async () => {} }

// @ts-expect-error: not an error code
const badCode: ErrorCode = 'OOPS'

// @ts-expect-error: not a progress status
const badStatus: MpcStatus = 'Uploading'

// @ts-expect-error: backupWallet resolves to a string, not a number
const badResult: Promise<number> = portal.backupWallet('password', null, config)

// @ts-expect-error: the free function needs the adapters in its config
void backupWallet('password', null, { passwordStorage: { password: 'pw' } })

// @ts-expect-error: recoverWallet takes the cipherText first
void portal.recoverWallet('password', 42, null, config)

// @ts-expect-error: a WalletBackupError's code is an ErrorCode
const badError: WalletBackupError = { name: 'Error', message: 'm', code: 'NOPE' }

// @ts-expect-error: a ProgressEvent has a done flag
const badEvent: ProgressEvent = { status: 'Done' }

// @ts-expect-error: the constants are read-only
BackupMethods.Password = 'passkey'

void [badCustom, badSlow, badKdf, badKeychain, badCode, badStatus, badResult, badError, badEvent]
