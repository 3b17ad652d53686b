// Section 7 of the bench: backup and recovery with each built method (password, firebase, passkey
// in PRF and in enclave mode) through Portal in Node.js against the release service and its
// development Firebase issuer, vs password with in-memory adapters in the same rounds.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { summary } from '../page/measure.js'
import { SUITE, ms, newClient, pkg, ratio, root, spread, startIssuer, startService, stopService, table } from '../common.mjs'

/**
 * Section 7: backup and recovery with each built method through `Portal` in
 * Node.js against the release service (SQLite, loopback), interleaved with
 * the reference, a password backup/recovery with in-memory adapters (no
 * service). Firebase tokens come from the development issuer; like an app's
 * Firebase SDK, getToken returns a cached token unless asked to refresh.
 * Passkeys come from the software authenticator of the tests
 * (dev/passkey-double.mjs, react-native-passkeys-shaped: ES256,
 * PRF), so the figures are the module's and the service's work (WebAuthn
 * verification included), not a person's touch.
 */
export async function methodsSection() {
  const { Portal, FirebaseStorage, PasskeyStorage } = await import(pathToFileURL(join(pkg, 'node', 'index.mjs')).href)
  const { createPasskeyDouble } = await import(pathToFileURL(join(root, 'dev', 'passkey-double.mjs')).href)
  const project = 'wallet-backup-bench'
  const dataDir = mkdtempSync(join(tmpdir(), 'wallet-backup-bench-methods-'))
  const backend = { dataDir: join(dataDir, 'data') }
  let svc = null
  let issuer = null
  try {
    issuer = await startIssuer(project)
    const apiKey = await newClient(backend, { name: 'bench-methods', firebaseProjectId: project })
    const rpId = 'wallet.example'
    const origin = `https://${rpId}`
    svc = await startService(backend, join(dataDir, 'service.log'),
      ['--firebase-jwks-url', `${issuer.url}/jwks`, '--passkey-rp-id', rpId, '--passkey-origin', origin])
    const passkeys = createPasskeyDouble({ origin })
    const prfPasskey = new PasskeyStorage({ passkeys })
    const enclavePasskey = new PasskeyStorage({ passkeys, mode: 'enclave' })
    const mint = async () => {
      const res = await fetch(`${issuer.url}/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"sub":"bench-user"}' })
      return (await res.json()).idToken
    }
    let token = await mint()
    const firebase = new FirebaseStorage({ getToken: async ({ forceRefresh }) => (forceRefresh ? (token = await mint()) : token) })
    const shares = JSON.stringify({ secp256k1: { id: 'bench', share: 'ab'.repeat(32) } })
    const wallet = () => {
      const state = { shares, record: null }
      return {
        state,
        keychain: { getShares: async () => state.shares, setShares: async (v) => void (state.shares = v) },
        custodian: { read: async () => state.record, write: async (v) => void (state.record = v) },
      }
    }
    const password = { passwordStorage: { password: 'correct horse battery staple' } }
    const cases = {
      'password, in-memory adapters (reference)': (w) => ({ portal: new Portal({ keychain: w.keychain, custodian: w.custodian }), method: 'password', config: password, cipherText: (ct) => ct }),
      'password, backup service': (w) => ({ portal: new Portal({ apiKey, apiHost: svc.url, keychain: w.keychain }), method: 'password', config: password, cipherText: () => '' }),
      'firebase, backup service + enclave': (w) => ({ portal: new Portal({ apiKey, apiHost: svc.url, keychain: w.keychain, backup: { firebase } }), method: 'firebase', config: undefined, cipherText: () => '' }),
      'passkey PRF mode, backup service': (w) => ({ portal: new Portal({ apiKey, apiHost: svc.url, keychain: w.keychain, backup: { passkey: prfPasskey } }), method: 'passkey', config: undefined, cipherText: () => '' }),
      'passkey enclave mode, backup service + enclave': (w) => ({ portal: new Portal({ apiKey, apiHost: svc.url, keychain: w.keychain, backup: { passkey: enclavePasskey } }), method: 'passkey', config: undefined, cipherText: () => '' }),
    }
    const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, { backup: [], recovery: [] }]))
    let recoveredOk = true
    for (let run = -1; run < SUITE.portalRuns; run++) {
      for (const [name, make] of Object.entries(cases)) {
        const w = wallet()
        const c = make(w)
        let t = performance.now()
        const ct = await c.portal.backupWallet(c.method, null, c.config)
        const backupMs = performance.now() - t
        w.state.shares = ''
        t = performance.now()
        await c.portal.recoverWallet(c.cipherText(ct), c.method, null, c.config)
        const recoveryMs = performance.now() - t
        if (w.state.shares !== shares) recoveredOk = false
        if (run >= 0) {
          samples[name].backup.push(backupMs)
          samples[name].recovery.push(recoveryMs)
        }
      }
    }
    const out = { recoveredOk, cases: {} }
    for (const [name, s] of Object.entries(samples)) out.cases[name] = { backup: summary(s.backup), recovery: summary(s.recovery) }
    return out
  } finally {
    if (svc) await stopService(svc.child)
    if (issuer) await stopService(issuer.child)
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/** Every recovery restored the shares: [name, ok, detail]. */
export function methodsChecks(r) {
  return [['section 7: every method\'s recovery through the service restores the shares (every run)', r.methods.recoveredOk]]
}

/** The section's Markdown lines. */
export function methodsReport(r) {
  const L = []
  const { t, head } = table(L)
  const mm = r.methods
  L.push(`## 7. Backup / recovery per method through the service (Node.js, \`Portal\`, release service on SQLite, loopback, ${SUITE.portalRuns} interleaved runs)`, '')
  head('Method', 'Operation', 'Value (median)', 'p10–p90', 'Reference: password, in-memory adapters (same rounds)', 'Ratio')
  const refName = Object.keys(mm.cases)[0]
  for (const [name, c] of Object.entries(mm.cases)) {
    for (const op of ['backup', 'recovery']) {
      const ref = mm.cases[refName][op]
      t(name, op === 'backup' ? '`backupWallet`' : name === refName ? '`recoverWallet(cipherText)`' : "`recoverWallet('')`", `**${ms(c[op].median)}**`, spread(c[op]), ms(ref.median), ratio(c[op].median / ref.median))
    }
  }
  L.push('', 'Managed backups: the service step adds create → read back → cipherText → confirm (4 requests after reading the client settings); recovery adds 2 (newest backup, custodian share). Firebase draws a random key instead of running Argon2id and adds one enclave request each way (the token check included). ' +
    'Passkey (software authenticator, ES256): backup = status → begin-login → `get` (→ finish-login/write in enclave mode); PRF-mode recovery = begin-login → `get` (key derived on the device); enclave-mode recovery adds finish-login/read. The first, warm-up round also registered the passkey. No timing target.', '')

  return L
}
