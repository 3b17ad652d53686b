// The React Native build in the real Hermes engine (npm hermes-engine-cli
// 0.12, a static Linux binary): scenarios.js, bundled from the package's
// `react-native` export condition as Metro resolves it, is loaded into the
// Hermes REPL, and each test runs one of its scenarios there. Node plays
// React Native's native side over the bridge (bridge.mjs, native.js):
// fetch (real HTTP on loopback), timers, react-native-passkeys, Firebase
// Auth, Google Sign-In, CloudKit sign-in and key-value stores (services.mjs).
//
// - password with in-memory adapters: the app's Argon2id (`deriveKey`) and
//   the module's (only with `allowSlowKdf`: without either it is
//   NATIVE_KDF_REQUIRED at once); the package's react-native-libsodium
//   adapter, its crypto_pwhash played by libsodium-wrappers-sumo in Node,
//   against core's vector and Node's recovery without it; a case that grows
//   the module's memory; the cross-engine
//   cases (sealed in Hermes with the app's KDF, opened in Node by the wasm
//   build, and the reverse);
// - every built method, backup → new device → recovery over real HTTP
//   (methods.js): password through the real backup service (managed, the
//   app's KDF; and guess-limited, the OPRF in wasm2js), firebase (the service's enclave, tokens from its development
//   issuer), passkey in PRF and in enclave mode (the software authenticator
//   on an Android app origin), gdrive (the local Drive v3 server), icloud
//   (React Native's key-value store, and CloudKit Web Services on the local
//   server) and custom (the app's store); each with error cases whose codes
//   must cross the Hermes boundary;
// - hermesc (npm hermes-compiler, today's React Native compiler) compiles
//   the bundle.
//
//   node --test tests/hermes/      (needs pkg/ built: node scripts/build.mjs,
//                                   and npm run build:service; or npm run test:hermes)

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

import sodium from 'libsodium-wrappers-sumo'
import { argon2id } from '@noble/hashes/argon2.js'

import { ROOT, startHermes } from '../../dev/hermes/bridge.mjs'
import { bundleScenarios } from '../../dev/hermes/bundle.mjs'
import { startServices } from '../../dev/hermes/services.mjs'

const PKG = join(ROOT, 'pkg')
const HERMESC = join(ROOT, 'node_modules', 'hermes-compiler', 'hermesc', 'linux64-bin', 'hermesc')
const node = createRequire(import.meta.url)(join(PKG, 'node', 'index.cjs'))
const TIMEOUT = 120_000

let tmp
let bundle
let services
let hermes
const results = {}

function run(cmd, args, timeout) {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 256 << 20, timeout }, (error, stdout, stderr) => resolve({ error, stdout, stderr }))
  })
}

function memoryWallet(shares, record = null) {
  const state = { shares, record }
  return {
    state,
    keychain: { async getShares() { return state.shares }, async setShares(s) { state.shares = s } },
    custodian: { async read() { return state.record }, async write(r) { state.record = r } },
  }
}

before(async () => {
  assert.ok(existsSync(join(PKG, 'react-native', 'index.js')), 'pkg/ is not built: node scripts/build.mjs')
  tmp = mkdtempSync(join(tmpdir(), 'wallet-backup-hermes-'))

  // Sealed in Node by the wasm build (in-module Argon2id), for Hermes to open.
  const shares = JSON.stringify({ ed25519: { id: 'node-w1', share: '0f1e2d3c'.repeat(16) } })
  const w = memoryWallet(shares)
  const password = 'sealed in node ✓'
  const cipherText = await new node.Portal({ keychain: w.keychain, custodian: w.custodian })
    .backupWallet('password', null, { passwordStorage: { password, kdf: { memoryKiB: 20480, iterations: 2 } } })
  // libsodium's own constants for the react-native-libsodium stand-in, and core's vector.
  await sodium.ready
  const vector = JSON.parse(readFileSync(join(ROOT, 'tests', 'vectors', 'valid-default-params.json'), 'utf8'))
  const inputs = {
    seed: randomBytes(32).toString('hex'),
    nodeSealed: { cipherText, record: w.state.record, shares, password },
    sodium: { algArgon2id13: sodium.crypto_pwhash_ALG_ARGON2ID13, saltBytes: sodium.crypto_pwhash_SALTBYTES },
    vector: { cipherText: vector.cipherText, custodianRecord: vector.custodianRecord, expectedShares: vector.expectedShares, password: vector.password },
  }

  const built = await bundleScenarios({ dir: tmp, inputs })
  bundle = built.bundle
  results.inputs = built.inputs

  services = await startServices()
  hermes = await startHermes({ bundle, call: services.call })
})

after(async () => {
  await hermes?.close()
  await services?.close()
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

/** Runs a scenario in Hermes once (later calls get the same result). */
function scenario(name, ctx) {
  results[name] ??= hermes.run(name, ctx, { timeoutMs: TIMEOUT })
  return results[name]
}

/** Runs a method scenario with a fresh client; resolves { r, requests } (the fetches it made over the bridge). */
async function methodRun(name, extra) {
  const ctx = await services.context(extra)
  const from = hermes.fetchLog.length
  try {
    const r = await hermes.run(name, ctx, { timeoutMs: TIMEOUT })
    return { r, ctx, requests: hermes.fetchLog.slice(from) }
  } catch (e) {
    e.message += `\n--- service log (tail) ---\n${services.serviceLog()}\n--- Hermes output (tail) ---\n${hermes.output.slice(-2000)}`
    throw e
  }
}

const paths = (requests, host) => requests.filter((q) => q.url.startsWith(host)).map((q) => `${q.method} ${new URL(q.url).pathname} ${q.status ?? q.error}`)

/** Backup and recovery both ended in Done (once, last), the shares came back, and nothing waits on Node. */
function checkRoundTrip(r, t) {
  assert.equal(r.restored, true, 'the recovered shares equal the original')
  for (const [what, statuses] of [['backup', r.backupStatuses], ['recovery', r.recoveryStatuses]]) {
    assert.equal(statuses.at(-1), 'Done', `${what} progress: ${statuses.join(', ')}`)
    assert.equal(statuses.filter((s) => s === 'Done').length, 1, `${what} progress: ${statuses.join(', ')}`)
  }
  assert.equal(r.pendingAfter, 0, 'bridge requests still pending after the scenario')
  t.diagnostic(`Hermes: backup ${r.backupMs} ms, recovery ${r.recoveryMs} ms`)
}

test('the bundle takes the react-native export condition and loads in the Hermes REPL', (t) => {
  assert.ok(results.inputs.some((p) => p.endsWith('wallet-backup/react-native/index.js')), results.inputs.join('\n'))
  assert.ok(!results.inputs.some((p) => /wallet-backup\/(web|node)\//.test(p)), results.inputs.join('\n'))
  const size = statSync(join(PKG, 'react-native', 'index.js')).size
  const gz = gzipSync(readFileSync(join(PKG, 'react-native', 'index.js')), { level: 9 }).length
  t.diagnostic(`react-native/index.js: ${(size / 1024).toFixed(0)} KB, ${(gz / 1024).toFixed(0)} KB gzip; bundle loaded into the Hermes REPL in ${hermes.loadMs} ms`)
})

test('hermesc of today\'s React Native compiles the bundle', async () => {
  const r = await run(HERMESC, ['-emit-binary', '-O', '-out', join(tmp, 'bundle.hbc'), bundle], 300_000)
  assert.equal(r.error, null, `hermesc failed:\n${r.stdout}\n${r.stderr}`)
  assert.ok(statSync(join(tmp, 'bundle.hbc')).size > 0)
})

test('without crypto.getRandomValues a backup fails with RANDOM_UNAVAILABLE', async () => {
  const r = await scenario('no-random-source')
  assert.equal(r.hasCrypto, 'undefined')
  assert.equal(r.code, 'RANDOM_UNAVAILABLE')
})

test('password backup and recovery in Hermes with the app\'s Argon2id (deriveKey)', async (t) => {
  const r = await scenario('app-kdf')
  assert.equal(r.restored, true)
  assert.deepEqual(r.statuses.slice(-1), ['Done'])
  assert.equal(r.kdfCallsBackup, 1, 'one key derivation per backup')
  assert.equal(r.kdfCalls, 3, 'backup, recovery, wrong-password recovery')
  assert.equal(r.wrong, 'WRONG_PASSWORD')
  for (const q of r.requests) {
    assert.deepEqual(q, { memoryKiB: 19456, iterations: 2, parallelism: 1, hashLength: 32, algorithm: 'argon2id', version: 0x13, saltLength: 16 })
  }
  t.diagnostic(`Hermes, app KDF (@noble/hashes Argon2id in Hermes): backup ${r.backupMs} ms, recovery ${r.recoveryMs} ms; KDF ${Math.round(r.kdfMs / r.kdfCalls)} ms per call`)
})

test('what the app\'s deriveKey gives is checked: 32 bytes, a function, failures coded', async () => {
  const { short, long, notBytes, throws, rejects, notFunction } = await scenario('app-kdf-bad-output')
  assert.deepEqual({ short, long, notBytes, throws, rejects, notFunction }, {
    short: 'INVALID_ARGUMENT', long: 'INVALID_ARGUMENT', notBytes: 'INVALID_ARGUMENT',
    throws: 'INVALID_ARGUMENT', rejects: 'INVALID_ARGUMENT', notFunction: 'INVALID_ARGUMENT',
  })
})

test('memory growth: 600 KB of shares round-trip intact (the stale memory view trap)', async () => {
  const r = await scenario('memory-growth')
  assert.equal(r.restored, true)
  assert.ok(r.length > 600000)
})

test('without deriveKey a password backup or recovery fails at once with NATIVE_KDF_REQUIRED, naming the fix', async () => {
  const r = await scenario('native-kdf-required')
  for (const what of ['backup', 'recovery', 'optOut']) {
    assert.equal(r[what].code, 'NATIVE_KDF_REQUIRED', `${what}: ${JSON.stringify(r[what])}`)
    assert.match(r[what].message, /passwordStorage\.deriveKey/)
    assert.match(r[what].message, /wallet-backup\/react-native-libsodium/)
    assert.match(r[what].message, /allowSlowKdf/)
  }
  assert.equal(r.asked, 0, 'the keychain or the custodian was asked before the refusal')
  assert.deepEqual(r.notBoolean, { code: 'INVALID_ARGUMENT', message: r.notBoolean.message, isTypeError: true })
  assert.match(r.notBoolean.message, /allowSlowKdf must be a boolean/)
})

test('password backup in Hermes with the module\'s Argon2id (wasm2js), opted in with allowSlowKdf', async (t) => {
  const r = await scenario('in-module-argon2id')
  assert.match(r.cipherText, /^wbk1\./)
  t.diagnostic(`Hermes, in-module Argon2id (wasm2js, allowSlowKdf): backup ${r.backupMs} ms`)
})

test('the react-native-libsodium adapter in Hermes: libsodium gets Argon2id13 with the mapped costs; core\'s vector opens with it', async (t) => {
  const r = await scenario('libsodium-adapter')
  assert.equal(r.restored, true)
  assert.deepEqual(r.backupCalls, [{
    keyLength: 32, password: r.passwordUtf8, saltLength: 16, opsLimit: 2, memLimit: 19456 * 1024, algorithm: sodium.crypto_pwhash_ALG_ARGON2ID13,
  }])
  assert.equal(r.passwordUtf8, Buffer.from('pässwörd 🔑'.normalize('NFC')).toString('hex'), 'the adapter hashes the UTF-8 of the password')
  // Sealed by core's own Argon2id: its key commitment opens only with byte-identical output.
  assert.equal(r.vectorRestored, true)
  assert.equal(r.parallelism.code, 'INVALID_ARGUMENT', JSON.stringify(r.parallelism))
  assert.equal(r.parallelism.cause?.name, 'RangeError')
  assert.match(r.parallelism.cause?.message, /parallelism 1, not 2/)
  assert.match(r.notSodium, /^TypeError: libsodiumDeriveKey: pass the libsodium module/)
  t.diagnostic(`Hermes, react-native-libsodium adapter (libsodium in Node across the bridge): backup ${r.backupMs} ms, recovery ${r.recoveryMs} ms`)
})

test('the libsodium adapter in Node (libsodium-wrappers-sumo) gives Argon2id\'s bytes: as @noble/hashes, and every password vector of core opens with it', async () => {
  const { libsodiumDeriveKey } = await import(join(PKG, 'react-native-libsodium.js'))
  const deriveKey = libsodiumDeriveKey(sodium)
  const salt = Uint8Array.from({ length: 16 }, (_, i) => i * 7)
  const request = { password: 'pässwörd 🔑', salt, memoryKiB: 19456, iterations: 2, parallelism: 1, hashLength: 32, algorithm: 'argon2id', version: 0x13 }
  assert.equal(Buffer.from(deriveKey(request)).toString('hex'),
    Buffer.from(argon2id(Buffer.from(request.password), salt, { m: 19456, t: 2, p: 1, dkLen: 32 })).toString('hex'))
  for (const name of ['valid-default-params', 'valid-unicode-pin', 'valid-password-given-decomposed']) {
    const v = JSON.parse(readFileSync(join(ROOT, 'tests', 'vectors', `${name}.json`), 'utf8'))
    const w = memoryWallet('', v.custodianRecord)
    await new node.Portal({ keychain: w.keychain, custodian: w.custodian })
      .recoverWallet(v.cipherText, 'password', null, { passwordStorage: { password: v.password, deriveKey } })
    assert.equal(w.state.shares, v.expectedShares, name)
  }
  // A backup made with p = 2 (core's vector): libsodium cannot compute it, and says so.
  const v = JSON.parse(readFileSync(join(ROOT, 'tests', 'vectors', 'valid-strong-params-with-context.json'), 'utf8'))
  const w = memoryWallet('', v.custodianRecord)
  await assert.rejects(new node.Portal({ keychain: w.keychain, custodian: w.custodian })
    .recoverWallet(v.cipherText, 'password', null, { passwordStorage: { password: v.password, deriveKey } }),
  (e) => e.code === 'INVALID_ARGUMENT' && e.cause?.name === 'RangeError' && /parallelism 1, not 2/.test(e.cause.message))
  assert.throws(() => deriveKey({ ...request, salt: new Uint8Array(15) }), { name: 'RangeError', message: /16-byte salt, not 15/ })
  assert.throws(() => deriveKey({ ...request, version: 0x10 }), { name: 'RangeError', message: /Argon2id v0x13/ })
})

test('cross-engine: sealed in Hermes (the app\'s KDF, the libsodium adapter, the module\'s own), opened in Node by the wasm build without deriveKey', async () => {
  for (const name of ['app-kdf', 'libsodium-adapter', 'in-module-argon2id']) {
    const r = await scenario(name)
    const password = name === 'in-module-argon2id' ? 'pw' : 'pässwörd 🔑'
    const w = memoryWallet('', r.record)
    await new node.Portal({ keychain: w.keychain, custodian: w.custodian }).recoverWallet(r.cipherText, 'password', null, { passwordStorage: { password } })
    assert.equal(w.state.shares, JSON.stringify({ secp256k1: { id: 'hermes-w1', share: 'a1b2c3d4e5f60718293a4b5c6d7e8f90'.repeat(8) } }))
  }
})

test('cross-engine: sealed in Node by the wasm build, opened in Hermes with the app\'s KDF', async () => {
  const r = await scenario('sealed-in-node')
  assert.equal(r.restored, true)
  assert.equal(r.kdfCalls, 1)
})

// ---- every method over real HTTP, the native side bridged to Node ----------------------------

test('password through the real backup service (managed; the app\'s KDF, a native module across the bridge): backup, then recovery on a new device', async (t) => {
  const { r, ctx, requests } = await methodRun('method:password', { kdf: 'app-native' })
  checkRoundTrip(r, t)
  const api = paths(requests, ctx.apiHost)
  for (const route of ['POST /api/v3/clients/me/backup-share-pairs', 'GET /api/v3/clients/me/backups/PASSWORD']) {
    assert.ok(api.some((p) => p.startsWith(route)), `${route} not among\n${api.join('\n')}`)
  }
  assert.ok(api.every((p) => / (200|201|204)$/.test(p)), api.join('\n'))
})

test('password through the service: errors cross the Hermes boundary with their codes (UNAUTHORIZED, WRONG_PASSWORD)', async () => {
  const { r } = await methodRun('errors:password', { kdf: 'app-native' })
  assert.equal(r.unauthorized.code, 'UNAUTHORIZED', JSON.stringify(r.unauthorized))
  assert.equal(r.unauthorized.isError, true)
  assert.equal(r.unauthorized.cause.status, 401)
  assert.equal(r.wrongPassword.code, 'WRONG_PASSWORD', JSON.stringify(r.wrongPassword))
  assert.equal(r.keychainAfter, '')
})

test('guess-limited PIN through the real backup service (the app\'s KDF, the module\'s OPRF in wasm2js): backup, then recovery on a new device', async (t) => {
  const { r, ctx, requests } = await methodRun('method:password', { kdf: 'app-native', guessLimited: true })
  checkRoundTrip(r, t)
  const api = paths(requests, ctx.apiHost)
  for (const route of ['POST /api/v3/clients/me/pin-guards/', 'GET /api/v3/clients/me/pin-guards/']) {
    assert.ok(api.some((p) => p.startsWith(route)), `${route} not among\n${api.join('\n')}`)
  }
  assert.ok(!api.some((p) => p.includes('/custodian-shares/')), `a guess-limited recovery never asks for the custodian share:\n${api.join('\n')}`)
})

test('guess-limited PIN: a wrong PIN crosses the Hermes boundary as WRONG_PASSWORD with guessesLeft', async () => {
  const { r } = await methodRun('errors:password-guess-limited', { kdf: 'app-native' })
  assert.equal(r.wrongPin.code, 'WRONG_PASSWORD', JSON.stringify(r.wrongPin))
  assert.equal(r.guessesLeft, 9)
  assert.equal(r.keychainAfter, '')
})

test('firebase through the service\'s enclave (development issuer): backup, then recovery on a new device', async (t) => {
  const { r, ctx, requests } = await methodRun('method:firebase')
  checkRoundTrip(r, t)
  const enclave = paths(requests, ctx.apiHost).filter((p) => p.includes('/v1/backup/encrypt-key'))
  assert.deepEqual(enclave, ['PUT /v1/backup/encrypt-key 200', 'GET /v1/backup/encrypt-key 200'])
})

test('firebase: FIREBASE_NOT_SIGNED_IN (getToken null) and FIREBASE_UNAUTHENTICATED (the service refuses the token) cross the boundary', async () => {
  const { r } = await methodRun('errors:firebase')
  assert.equal(r.notSignedIn.code, 'FIREBASE_NOT_SIGNED_IN', JSON.stringify(r.notSignedIn))
  assert.equal(r.refused.code, 'FIREBASE_UNAUTHENTICATED', JSON.stringify(r.refused))
  assert.equal(r.refused.cause.status, 401)
  assert.match(r.refused.cause.code, /^FIREBASE_TOKEN_/)
})

for (const [mode, label] of [['auto', 'PRF mode'], ['enclave', 'enclave mode']]) {
  test(`passkey, ${label} (react-native-passkeys bridged to the software authenticator, Android origin): backup, then recovery on a new device`, async (t) => {
    const { r, ctx, requests } = await methodRun('method:passkey', { mode })
    checkRoundTrip(r, t)
    const routes = paths(requests, ctx.apiHost).filter((p) => p.includes('/passkeys/')).map((p) => p.split(' ')[1].replace(/^.*\/passkeys\//, ''))
    assert.ok(routes.includes('finish-registration'), routes.join(', '))
    if (mode === 'auto') assert.ok(!routes.some((x) => x.startsWith('finish-login/')), `PRF mode, but ${routes.join(', ')}`)
    else for (const x of ['finish-login/write', 'finish-login/read']) assert.ok(routes.includes(x), `enclave mode without ${x}: ${routes.join(', ')}`)
  })
}

test('passkey: a NotAllowedError from the native module and a dismissed sheet (null) are PASSKEY_NOT_ALLOWED', async () => {
  const { r } = await methodRun('errors:passkey')
  assert.equal(r.notAllowed.code, 'PASSKEY_NOT_ALLOWED', JSON.stringify(r.notAllowed))
  assert.equal(r.notAllowed.cause?.name, 'NotAllowedError', JSON.stringify(r.notAllowed))
  assert.equal(r.cancelled.code, 'PASSKEY_NOT_ALLOWED', JSON.stringify(r.cancelled))
})

test('gdrive against the local Drive v3 server: backup, then recovery on a new device', async (t) => {
  const { r, ctx, requests } = await methodRun('method:gdrive')
  checkRoundTrip(r, t)
  const drive = paths(requests, ctx.driveHost)
  assert.ok(drive.some((p) => p.startsWith('POST /upload/drive/v3/files 200')), drive.join('\n'))
  assert.ok(drive.some((p) => /^GET \/drive\/v3\/files\/[^/ ]+ 200$/.test(p)), drive.join('\n'))
})

test('gdrive: Drive\'s 401 for an expired token and a signed-out user are GOOGLE_UNAUTHENTICATED', async () => {
  const { r } = await methodRun('errors:gdrive')
  assert.equal(r.expired.code, 'GOOGLE_UNAUTHENTICATED', JSON.stringify(r.expired))
  assert.deepEqual({ status: r.expired.cause.status, code: r.expired.cause.code }, { status: 401, code: 'UNAUTHENTICATED' })
  assert.equal(r.signedOut.code, 'GOOGLE_UNAUTHENTICATED', JSON.stringify(r.signedOut))
})

for (const [kind, label] of [['kv', 'React Native\'s key-value store (an AsyncStorage-shaped native module)'], ['cloudkit', 'CloudKit Web Services (the local server)']]) {
  test(`icloud through ${label}: backup, then recovery on a new device`, async (t) => {
    const { r, ctx, requests } = await methodRun('method:icloud', { icloud: kind })
    checkRoundTrip(r, t)
    const cloudKit = paths(requests, ctx.cloudKitHost)
    if (kind === 'kv') assert.deepEqual(cloudKit, [], 'the key-value store path made CloudKit requests')
    else assert.ok(cloudKit.some((p) => /records\/modify 200$/.test(p)) && cloudKit.some((p) => /records\/lookup 200$/.test(p)), cloudKit.join('\n'))
  })
}

test('icloud: an expired CloudKit sign-in (421) is ICLOUD_UNAUTHENTICATED; a failing key-value store is STORAGE_UNAVAILABLE', async () => {
  const { r } = await methodRun('errors:icloud')
  assert.equal(r.expired.code, 'ICLOUD_UNAUTHENTICATED', JSON.stringify(r.expired))
  assert.equal(r.expired.cause?.status, 421, JSON.stringify(r.expired))
  assert.equal(r.kvWriteFails.code, 'STORAGE_UNAVAILABLE', JSON.stringify(r.kvWriteFails))
})

test('custom (the app\'s store behind a native module): backup, then recovery on a new device', async (t) => {
  const { r, ctx } = await methodRun('method:custom')
  checkRoundTrip(r, t)
  assert.match(await services.call('customStore', 'read', [ctx.store]), /^wbr1\.[A-Za-z0-9_-]+$/)
})

test('custom: a store whose write fails is STORAGE_UNAVAILABLE, with the native error as cause', async () => {
  const { r } = await methodRun('errors:custom')
  assert.equal(r.writeFails.code, 'STORAGE_UNAVAILABLE', JSON.stringify(r.writeFails))
  assert.equal(r.writeFails.cause?.message, 'disk full')
})

test('nothing went wrong out of sight: no uncaught error in Hermes, every bridged fetch answered', () => {
  assert.deepEqual(hermes.uncaught, [])
  assert.ok(hermes.fetchLog.length > 0)
  assert.deepEqual(hermes.fetchLog.filter((q) => q.status === undefined && q.error === undefined), [])
})
