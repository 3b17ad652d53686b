// Entry shape "dynamic": the package loaded on demand with import(), in its own chunk.
import { report } from './roundtrip.js'

report(
  'dynamic',
  async ({ keychain, custodian, passwordStorage }, onProgress) => {
    const { backupWallet } = await import('wallet-backup')
    return backupWallet('password', onProgress, { keychain, custodian, passwordStorage })
  },
  async (cipherText, { keychain, custodian, passwordStorage }) => {
    const { Portal } = await import('wallet-backup')
    return new Portal({ keychain, custodian }).recoverWallet(cipherText, 'password', null, { passwordStorage })
  },
)
