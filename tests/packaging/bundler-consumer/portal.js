// Entry shape "portal": only the Portal class.
import { Portal } from 'wallet-backup'
import { report } from './roundtrip.js'

report(
  'portal',
  ({ keychain, custodian, passwordStorage }, onProgress) => new Portal({ keychain, custodian }).backupWallet('password', onProgress, { passwordStorage }),
  (cipherText, { keychain, custodian, passwordStorage }) => new Portal({ keychain, custodian }).recoverWallet(cipherText, 'password', null, { passwordStorage }),
)
