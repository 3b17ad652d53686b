// Shared by the entry shapes of the bundler consumers (tests/packaging/bundlers.test.mjs):
// a password backup and recovery with an in-memory keychain and custodian, through the
// `backup` and `recover` the shape's page passes in. The result goes to window.__result.

/** Runs the round trip and reports it to window.__result. */
export function report(shape, backup, recover) {
  roundTrip(shape, backup, recover).then(
    (result) => { window.__result = result },
    (e) => { window.__result = { error: String(e && e.stack ? e.stack : e), code: e && e.code } },
  )
}

async function roundTrip(shape, backup, recover) {
  const share = [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, '0')).join('')
  const original = JSON.stringify({ secp256k1: { id: shape, share } })
  let shares = original
  let record = null
  const keychain = { async getShares() { return shares }, async setShares(s) { shares = s } }
  const custodian = { async read() { return record }, async write(r) { record = r } }
  const passwordStorage = { password: `${shape} pässwörd` }
  const statuses = []
  const cipherText = await backup({ keychain, custodian, passwordStorage }, (e) => statuses.push(e.status))
  shares = ''
  await recover(cipherText, { keychain, custodian, passwordStorage })
  return { shape, original, recovered: shares, cipherText, done: statuses.at(-1) === 'Done' }
}
