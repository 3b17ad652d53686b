// React Native entry of wallet-backup. Hermes has no WebAssembly, so this
// is the same Rust code built for the wasm MVP and turned into JavaScript
// by binaryen's wasm2js; the wasm-bindgen glue and the Portal class are
// the ones of the other builds. scripts/build.mjs bundles this file into
// react-native/index.js (ES2016, no class syntax: Hermes runs it as is).
//
// Random values come from `crypto.getRandomValues`, which React Native
// apps install with a native module (`import 'react-native-get-random-values'`
// first thing in the app); without it backups fail with RANDOM_UNAVAILABLE.
import * as wasm from './wallet_backup_bg.wasm.js'
import { __wbg_set_wasm, backupWallet, recoverWallet, walletBackupStatus, storedClientBackupShare, storageOperation } from './wallet_backup_bg.js'
import { definePortal } from './api.mjs'

__wbg_set_wasm(wasm)

// The same exports as the browser and Node.js entries.
export const Portal = definePortal({ backupWallet, recoverWallet, walletBackupStatus, storedClientBackupShare, storageOperation })
export default Portal
export { backupWallet, recoverWallet, walletBackupStatus, storedClientBackupShare, storageOperation }
export { BackupMethods, MpcStatuses, FirebaseStorage, PasskeyStorage, GDriveStorage, ICloudStorage } from './api.mjs'
