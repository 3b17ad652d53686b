// Runs inside the real Hermes binary (npm hermes-engine-cli 0.12), bundled
// from the package's `react-native` entry the way Metro would resolve it
// (bundle.mjs), and loaded into the Hermes REPL by bridge.mjs, for the
// Hermes tests (tests/hermes/hermes.test.mjs) and the bench's section 8
// (bench/sections/hermes.mjs). Each scenario is registered by name; Node runs
// one with `__runScenario(runId, name, ctx)` and gets its result (or error)
// back as a `result` bridge message. hermes.test.mjs checks the results, and
// opens in Node what Hermes sealed.
//
// What the app would have on a device, the test supplies (native.js):
// - fetch, timers, AbortController and native modules, bridged to Node;
// - crypto.getRandomValues (react-native-get-random-values): a SHA-256
//   counter-mode generator seeded with 32 bytes from Node's CSPRNG
//   (the Hermes CLI has no random source of its own);
// - passwordStorage.deriveKey (a native Argon2 module): @noble/hashes'
//   pure-JS Argon2id in Hermes ('app-js'), an implementation independent of
//   the module's, or a native Argon2id across the bridge ('app-native', the
//   bench's native process).
// The per-method scenarios (backup → new device → recovery with each
// method over real HTTP) are methods.js, shared with the Node reference of
// the bench.
import * as wb from 'wallet-backup'
import { Portal, BackupMethods } from 'wallet-backup'
import { argon2id } from '@noble/hashes/argon2.js'
import { libsodiumDeriveKey } from 'wallet-backup/react-native-libsodium'
import { installRandom, nativeCall, pendingCount, send } from './native.js'
import { methodScenarios } from './methods.js'

/* global __INPUT__ */
const input = __INPUT__

/** The app's KDF: a real Argon2id outside the module; counts its calls and time. */
const kdfStats = { calls: 0, ms: 0, requests: [] }
function appDeriveKey(request) {
  const start = Date.now()
  kdfStats.calls++
  kdfStats.requests.push({
    memoryKiB: request.memoryKiB, iterations: request.iterations, parallelism: request.parallelism,
    hashLength: request.hashLength, algorithm: request.algorithm, version: request.version, saltLength: request.salt.length,
  })
  // A native module would take the UTF-8 bytes of the string; so does this.
  const key = argon2id(utf8(request.password), request.salt, {
    m: request.memoryKiB, t: request.iterations, p: request.parallelism, dkLen: request.hashLength,
  })
  kdfStats.ms += Date.now() - start
  return Promise.resolve(key)
}

function hex(bytes) {
  let out = ''
  for (let i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16)
  return out
}

function fromHex(text) {
  const out = new Uint8Array(text.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16)
  return out
}

/** The app's KDF as a native module (react-native-argon2 and the like), across the bridge. */
function nativeDeriveKey(request) {
  return nativeCall('argon2', 'derive', [hex(utf8(request.password)), hex(request.salt), request.memoryKiB, request.iterations, request.parallelism])
    .then(fromHex)
}

/**
 * react-native-libsodium as the app imports it (`import * as sodium from 'react-native-libsodium'`):
 * its constants are libsodium's (read in Node), its crypto_pwhash runs libsodium in Node across
 * the bridge with the arguments the adapter gave; each call is logged.
 */
const pwhashCalls = []
const sodium = {
  crypto_pwhash_ALG_ARGON2ID13: input.sodium.algArgon2id13,
  crypto_pwhash_SALTBYTES: input.sodium.saltBytes,
  crypto_pwhash(keyLength, password, salt, opsLimit, memLimit, algorithm) {
    pwhashCalls.push({ keyLength, password: hex(password), saltLength: salt.length, opsLimit, memLimit, algorithm })
    return nativeCall('libsodium', 'crypto_pwhash', [keyLength, hex(password), hex(salt), opsLimit, memLimit, algorithm]).then(fromHex)
  },
}

function utf8(s) {
  const b = []
  for (const ch of unescape(encodeURIComponent(s))) b.push(ch.charCodeAt(0))
  return new Uint8Array(b)
}

function wallet(shares, record) {
  const state = { shares, record: record === undefined ? null : record }
  return {
    state,
    keychain: {
      getShares() { return Promise.resolve(state.shares) },
      setShares(s) { state.shares = s; return Promise.resolve() },
    },
    custodian: {
      read() { return Promise.resolve(state.record) },
      write(r) { state.record = r; return Promise.resolve() },
    },
  }
}

const SHARES = JSON.stringify({ secp256k1: { id: 'hermes-w1', share: 'a1b2c3d4e5f60718293a4b5c6d7e8f90'.repeat(8) } })

async function expectCode(promise) {
  try {
    await promise
    return 'no error'
  } catch (e) {
    return e && e.code ? e.code : 'uncoded: ' + String(e)
  }
}

function resetKdfStats() {
  kdfStats.calls = 0
  kdfStats.ms = 0
  kdfStats.requests = []
}

const scenarios = {
  'no-random-source': async () => {
    const saved = globalThis.crypto
    delete globalThis.crypto
    try {
      const w = wallet(SHARES)
      const portal = new Portal({ keychain: w.keychain, custodian: w.custodian })
      const code = await expectCode(portal.backupWallet(BackupMethods.Password, null, { passwordStorage: { password: 'pw', deriveKey: appDeriveKey } }))
      return { code, hasCrypto: typeof globalThis.crypto }
    } finally {
      globalThis.crypto = saved
    }
  },

  'app-kdf': async () => {
    resetKdfStats()
    const w = wallet(SHARES)
    const portal = new Portal({ keychain: w.keychain, custodian: w.custodian, backup: { passwordStorage: { password: 'pässwörd 🔑', deriveKey: appDeriveKey } } })
    const statuses = []
    let t = Date.now()
    const cipherText = await portal.backupWallet(BackupMethods.Password, (p) => statuses.push(p.status))
    const backupMs = Date.now() - t
    const kdfCallsBackup = kdfStats.calls
    const fresh = wallet('', w.state.record)
    t = Date.now()
    await new Portal({ keychain: fresh.keychain, custodian: fresh.custodian }).recoverWallet(cipherText, 'password', null, { passwordStorage: { password: 'pässwörd 🔑', deriveKey: appDeriveKey } })
    const recoveryMs = Date.now() - t
    const wrong = await expectCode(new Portal({ keychain: wallet('').keychain, custodian: fresh.custodian })
      .recoverWallet(cipherText, 'password', null, { passwordStorage: { password: 'wrong', deriveKey: appDeriveKey } }))
    return {
      cipherText, record: w.state.record, restored: fresh.state.shares === SHARES, statuses, backupMs, recoveryMs,
      kdfCallsBackup, kdfCalls: kdfStats.calls, kdfMs: kdfStats.ms, requests: kdfStats.requests, wrong,
    }
  },

  'app-kdf-bad-output': async () => {
    const bad = (answer) => ({ passwordStorage: { password: 'pw', deriveKey: answer } })
    const portal = () => { const w = wallet(SHARES); return new Portal({ keychain: w.keychain, custodian: w.custodian }) }
    return {
      short: await expectCode(portal().backupWallet('password', null, bad(() => Promise.resolve(new Uint8Array(31))))),
      long: await expectCode(portal().backupWallet('password', null, bad(() => new Uint8Array(33)))),
      notBytes: await expectCode(portal().backupWallet('password', null, bad(() => Promise.resolve('00'.repeat(32))))),
      throws: await expectCode(portal().backupWallet('password', null, bad(() => { throw new Error('native module missing') }))),
      rejects: await expectCode(portal().backupWallet('password', null, bad(() => Promise.reject(new Error('out of memory'))))),
      notFunction: await expectCode(portal().backupWallet('password', null, bad('argon2'))),
    }
  },

  'memory-growth': async () => {
    // 600 KB of shares: far above the 1 MiB initial memory's free space, so
    // the module's memory grows while the glue holds views of it.
    let big = ''
    while (big.length < 600000) big += 'ƒ0123456789abcdef€'
    const shares = JSON.stringify({ secp256k1: { id: 'big', share: big } })
    const w = wallet(shares)
    const portal = new Portal({ keychain: w.keychain, custodian: w.custodian })
    // The KDF is not what this case is about: the native one across the bridge (fast).
    const config = { passwordStorage: { password: 'pw', deriveKey: nativeDeriveKey } }
    const cipherText = await portal.backupWallet('password', null, config)
    const fresh = wallet('', w.state.record)
    await new Portal({ keychain: fresh.keychain, custodian: fresh.custodian }).recoverWallet(cipherText, 'password', null, config)
    return { restored: fresh.state.shares === shares, length: shares.length, cipherTextLength: cipherText.length }
  },

  'in-module-argon2id': async () => {
    // No deriveKey, and the app opts in to the slow path: Argon2id (19 MiB, the format's floor,
    // which grows the memory) runs in the module, through wasm2js. One run (the backup); Node
    // opens it (hermes.test.mjs, cross-engine).
    const w = wallet(SHARES)
    const portal = new Portal({ keychain: w.keychain, custodian: w.custodian })
    const t = Date.now()
    const cipherText = await portal.backupWallet('password', null, { passwordStorage: { password: 'pw', allowSlowKdf: true } })
    return { cipherText, record: w.state.record, backupMs: Date.now() - t }
  },

  'native-kdf-required': async () => {
    // No deriveKey and no allowSlowKdf: refused before the keychain or the custodian is asked.
    const w = wallet(SHARES)
    let asked = 0
    const keychain = { getShares() { asked++; return w.keychain.getShares() }, setShares(s) { asked++; return w.keychain.setShares(s) } }
    const custodian = { read() { asked++; return w.custodian.read() }, write(r) { asked++; return w.custodian.write(r) } }
    const portal = new Portal({ keychain, custodian })
    const outcome = (promise) => promise.then(() => ({ code: 'no error' }), (e) => ({ code: e.code, message: e.message, isTypeError: e instanceof TypeError }))
    const backup = await outcome(portal.backupWallet('password', null, { passwordStorage: { password: 'pw' } }))
    const recovery = await outcome(portal.recoverWallet(input.nodeSealed.cipherText, 'password', null, { passwordStorage: { password: input.nodeSealed.password } }))
    const optOut = await outcome(portal.backupWallet('password', null, { passwordStorage: { password: 'pw', allowSlowKdf: false } }))
    const notBoolean = await outcome(portal.backupWallet('password', null, { passwordStorage: { password: 'pw', allowSlowKdf: 'yes' } }))
    return { backup, recovery, optOut, notBoolean, asked }
  },

  'libsodium-adapter': async () => {
    pwhashCalls.length = 0
    const deriveKey = libsodiumDeriveKey(sodium)
    const password = 'pässwörd 🔑'
    const w = wallet(SHARES)
    let t = Date.now()
    const cipherText = await new Portal({ keychain: w.keychain, custodian: w.custodian })
      .backupWallet('password', null, { passwordStorage: { password, deriveKey } })
    const backupMs = Date.now() - t
    const backupCalls = pwhashCalls.slice()
    const fresh = wallet('', w.state.record)
    t = Date.now()
    await new Portal({ keychain: fresh.keychain, custodian: fresh.custodian }).recoverWallet(cipherText, 'password', null, { passwordStorage: { password, deriveKey } })
    const recoveryMs = Date.now() - t
    // Core's vector, sealed by the module's own Argon2id: opens only with a byte-identical key.
    const v = input.vector
    const vw = wallet('', v.custodianRecord)
    await new Portal({ keychain: vw.keychain, custodian: vw.custodian }).recoverWallet(v.cipherText, 'password', null, { passwordStorage: { password: v.password, deriveKey } })
    // What libsodium cannot do: another parallelism is refused by the adapter, its reason the cause.
    const p2 = wallet(SHARES)
    const parallelism = await new Portal({ keychain: p2.keychain, custodian: p2.custodian })
      .backupWallet('password', null, { passwordStorage: { password, deriveKey, kdf: { parallelism: 2 } } })
      .then(() => ({ code: 'no error' }), (e) => ({ code: e.code, cause: e.cause && { name: e.cause.name, message: e.cause.message } }))
    let notSodium
    try { libsodiumDeriveKey({}); notSodium = 'no error' } catch (e) { notSodium = e.name + ': ' + e.message }
    return {
      cipherText, record: w.state.record, restored: fresh.state.shares === SHARES, backupMs, recoveryMs, backupCalls,
      vectorRestored: vw.state.shares === v.expectedShares, parallelism, notSodium, passwordUtf8: hex(utf8(password)),
    }
  },

  'sealed-in-node': async () => {
    const fresh = wallet('', input.nodeSealed.record)
    const before = kdfStats.calls
    const t = Date.now()
    await new Portal({ keychain: fresh.keychain, custodian: fresh.custodian })
      .recoverWallet(input.nodeSealed.cipherText, 'password', null, { passwordStorage: { password: input.nodeSealed.password, deriveKey: appDeriveKey } })
    return { restored: fresh.state.shares === input.nodeSealed.shares, kdfCalls: kdfStats.calls - before, recoveryMs: Date.now() - t }
  },
}

Object.assign(scenarios, methodScenarios({
  wb,
  native: nativeCall,
  kdfs: { 'app-js': appDeriveKey, 'app-native': nativeDeriveKey },
  now: () => Date.now(),
}))

/** Node's entry point (bridge.mjs `run`): runs one scenario; the result goes back as a `result` message. */
globalThis.__runScenario = function (runId, name, ctx) {
  const body = scenarios[name]
  const started = Date.now()
  const finish = (fields) => send(Object.assign({ kind: 'result', runId }, fields))
  if (!body) return finish({ error: { message: `no scenario ${name}` } })
  Promise.resolve()
    .then(() => body(ctx))
    // Nothing of a scenario may still wait on Node once it has ended.
    .then((value) => finish({ value: Object.assign({ scenarioMs: Date.now() - started, pendingAfter: pendingCount() }, value) }))
    .catch((e) => finish({ error: { message: String(e && e.message), stack: String(e && e.stack), code: e && e.code } }))
}

installRandom(input.seed)
send({ kind: 'ready', scenarios: Object.keys(scenarios) })
