// Node.js CommonJS entry of wallet-backup: the wasm is compiled and
// instantiated synchronously on require.
'use strict'
const wasm = require('./wallet_backup.js')
const api = require('../api.cjs')

module.exports = {
  Portal: api.definePortal(wasm),
  backupWallet: wasm.backupWallet,
  recoverWallet: wasm.recoverWallet,
  walletBackupStatus: wasm.walletBackupStatus,
  storedClientBackupShare: wasm.storedClientBackupShare,
  storageOperation: wasm.storageOperation,
  BackupMethods: api.BackupMethods,
  MpcStatuses: api.MpcStatuses,
  FirebaseStorage: api.FirebaseStorage,
  PasskeyStorage: api.PasskeyStorage,
  GDriveStorage: api.GDriveStorage,
  ICloudStorage: api.ICloudStorage,
}
// The default export is `Portal` (`import Portal from 'wallet-backup'`, as
// Portal's SDK is imported), for TypeScript's and bundlers' CommonJS interop.
module.exports.default = module.exports.Portal
Object.defineProperty(module.exports, '__esModule', { value: true })
