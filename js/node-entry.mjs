// Node.js ES module entry of wallet-backup: the same instance as the
// CommonJS entry, so `import` and `require` in one process share it.
import cjs from './index.cjs'

export const { Portal, backupWallet, recoverWallet, walletBackupStatus, storedClientBackupShare, storageOperation, BackupMethods, MpcStatuses, FirebaseStorage, PasskeyStorage, GDriveStorage, ICloudStorage } = cjs
export default Portal
