// The page of the Vite consumer (tests/packaging/vite.test.mjs): built by
// `vite build` against the installed tarball, loaded in headless Chromium.
// A full password backup and recovery with an in-memory keychain and
// custodian; the result goes to window.__result for the test to read.
import { Portal, BackupMethods, MpcStatuses } from 'wallet-backup'

async function main() {
  const original = JSON.stringify({ secp256k1: { id: 'vite-w1', share: [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, '0')).join('') } })
  let shares = original
  let record = null
  const keychain = { async getShares() { return shares }, async setShares(s) { shares = s } }
  const custodian = { async read() { return record }, async write(r) { record = r } }
  const portal = new Portal({ keychain, custodian })
  const statuses = []
  const passwordStorage = { password: 'vite pässwörd' }
  const cipherText = await portal.backupWallet(BackupMethods.Password, (e) => statuses.push(e.status), { passwordStorage })
  shares = ''
  await new Portal({ keychain, custodian }).recoverWallet(cipherText, BackupMethods.Password, null, { passwordStorage })
  return { original, recovered: shares, cipherText, done: statuses.at(-1) === MpcStatuses.Done }
}

main().then(
  (result) => { window.__result = result; document.getElementById('out').textContent = 'done' },
  (e) => { window.__result = { error: String(e && e.stack ? e.stack : e), code: e && e.code } },
)
