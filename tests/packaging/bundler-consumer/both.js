// Entry shape "both": Portal and the free functions, a backup through one and the recovery through the other.
import { Portal, BackupMethods, recoverWallet } from 'wallet-backup'
import { report } from './roundtrip.js'

report(
  'both',
  ({ keychain, custodian, passwordStorage }, onProgress) => new Portal({ keychain, custodian }).backupWallet(BackupMethods.Password, onProgress, { passwordStorage }),
  (cipherText, { keychain, custodian, passwordStorage }) => recoverWallet(cipherText, BackupMethods.Password, null, { keychain, custodian, passwordStorage }),
)
