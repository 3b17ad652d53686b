// Node.js CommonJS entry of wallet-backup: the SIMD build (every Node.js
// from 16.4 runs WebAssembly SIMD), loaded synchronously on require.
'use strict'
const glue = require('./wallet_backup.js')
const constants = require('../constants.cjs')

module.exports = {
  Portal: glue.Portal,
  backupWallet: glue.backupWallet,
  recoverWallet: glue.recoverWallet,
  errorCodes: glue.errorCodes,
  BackupMethods: constants.BackupMethods,
  MpcStatuses: constants.MpcStatuses,
  simdSupported: true,
}
