// Entry shape "free": only the free functions, no Portal (the shape a bundler
// tree-shook the wasm start-up out of while the package said `sideEffects: false`).
import { backupWallet, recoverWallet } from 'wallet-backup'
import { report } from './roundtrip.js'

report(
  'free',
  ({ keychain, custodian, passwordStorage }, onProgress) => backupWallet('password', onProgress, { keychain, custodian, passwordStorage }),
  (cipherText, { keychain, custodian, passwordStorage }) => recoverWallet(cipherText, 'password', null, { keychain, custodian, passwordStorage }),
)
