// Browser entry of wallet-backup: loads the SIMD build where the engine
// supports WebAssembly SIMD and the baseline build elsewhere, then exports
// the API. Importing this module resolves once the module is usable.
import init, { backupWallet, recoverWallet } from './wallet_backup.js'
import { definePortal } from '../api.js'

// A one-function module using i8x16.splat/i8x16.popcnt: valid only with SIMD.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
])

/** True when this engine runs the SIMD build. */
export const simdSupported = WebAssembly.validate(SIMD_PROBE)

await init({
  module_or_path: simdSupported
    ? new URL('./wallet_backup_simd_bg.wasm', import.meta.url)
    : new URL('./wallet_backup_bg.wasm', import.meta.url),
})

export const Portal = definePortal({ backupWallet, recoverWallet })
export { backupWallet, recoverWallet }
export { BackupMethods, MpcStatuses } from '../api.js'
