// The module in Node.js against the service over HTTPS: run as a child
// process by https.test.mjs, which sets NODE_EXTRA_CA_CERTS (or not) in its
// environment, since Node reads that variable only at start. Not a test
// file itself.
//
//   node tests/service-scenarios/https_client.mjs https://localhost:PORT wbk_live_…
//
// A password backup, the device lost, recoverWallet('') and
// recoverWallet(cipherText); prints one JSON line: { ok, cipherText?,
// recovered?, backedUp? } or { ok: false, code, message, cause } (cause: the
// chain of causes as text).

import { Portal } from '../../pkg/node/index.mjs'

const [apiHost, apiKey] = process.argv.slice(2)
const shares = JSON.stringify({
  secp256k1: { id: 'wallet-https-secp', share: 'a1'.repeat(32) },
  ed25519: { id: 'wallet-https-ed', share: 'b2'.repeat(32) },
})
const state = { shares }
const keychain = { getShares: async () => state.shares, setShares: async (s) => { state.shares = s } }
const portal = new Portal({ apiKey, apiHost, keychain, timeoutMs: 20_000 })
const password = { passwordStorage: { password: 'correct horse battery staple' } }
const ignore = () => {}

let result
try {
  const cipherText = await portal.backupWallet('password', ignore, password)
  state.shares = null
  await portal.recoverWallet('', 'password', ignore, password)
  const latest = state.shares
  state.shares = null
  await portal.recoverWallet(cipherText, 'password', ignore, password)
  result = { ok: true, cipherText, recovered: latest === shares && state.shares === shares, backedUp: await portal.isWalletBackedUp() }
} catch (e) {
  // The chain of causes: the module's error, fetch's TypeError, then Node's TLS error.
  const causes = []
  for (let c = e.cause; c && causes.length < 5; c = c.cause) causes.push(`${c.code ?? ''} ${c.message ?? c}`)
  result = { ok: false, code: e.code, message: e.message, cause: causes.join(' <- ') }
}
process.stdout.write(`${JSON.stringify(result)}\n`)
