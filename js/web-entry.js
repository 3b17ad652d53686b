// Browser entry of wallet-backup: initialises the wasm, then exports the
// API. Importing this module resolves once the module is usable.
import init, { backupWallet, recoverWallet, walletBackupStatus, storedClientBackupShare, storageOperation } from './wallet_backup.js'
import { definePortal } from '../api.js'

await init({ module_or_path: new URL('./wallet_backup_bg.wasm', import.meta.url) })

export const Portal = definePortal({ backupWallet, recoverWallet, walletBackupStatus, storedClientBackupShare, storageOperation })
export default Portal
export { backupWallet, recoverWallet, walletBackupStatus, storedClientBackupShare, storageOperation }
export { BackupMethods, MpcStatuses, FirebaseStorage, PasskeyStorage, GDriveStorage, ICloudStorage } from '../api.js'
