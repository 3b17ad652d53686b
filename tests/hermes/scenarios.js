// Runs inside the real Hermes binary (npm hermes-engine-cli 0.12), bundled
// by hermes.test.mjs from the package's `react-native` entry the way Metro
// would resolve it. Prints one `RESULT <json>` line per scenario and
// `DONE` at the end; hermes.test.mjs checks them, and opens in Node what
// Hermes sealed.
//
// What the app would install on a device, the test supplies:
// - crypto.getRandomValues (react-native-get-random-values): a SHA-256
//   counter-mode generator seeded with 32 bytes from Node's CSPRNG
//   (the Hermes CLI has no random source of its own);
// - passwordStorage.deriveKey (a native Argon2 module): @noble/hashes'
//   pure-JS Argon2id, an implementation independent of the module's.
import { Portal, BackupMethods } from 'wallet-backup'
import { argon2id } from '@noble/hashes/argon2.js'
import { sha256 } from '@noble/hashes/sha2.js'

/* global print, __INPUT__ */
const input = __INPUT__

function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16)
  return out
}

function installRandom(seedHex) {
  const seed = hexToBytes(seedHex)
  let counter = 0
  globalThis.crypto = {
    getRandomValues(array) {
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength)
      for (let i = 0; i < bytes.length; i += 32) {
        const block = new Uint8Array(seed.length + 4)
        block.set(seed)
        block[seed.length] = counter >>> 24
        block[seed.length + 1] = (counter >>> 16) & 255
        block[seed.length + 2] = (counter >>> 8) & 255
        block[seed.length + 3] = counter & 255
        counter++
        const out = sha256(block)
        for (let j = 0; j < 32 && i + j < bytes.length; j++) bytes[i + j] = out[j]
      }
      return array
    },
  }
}

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

function report(name, fields) {
  print('RESULT ' + JSON.stringify(Object.assign({ name }, fields)))
}

async function expectCode(promise) {
  try {
    await promise
    return 'no error'
  } catch (e) {
    return e && e.code ? e.code : 'uncoded: ' + String(e)
  }
}

async function scenario(name, body) {
  try {
    await body()
  } catch (e) {
    report(name, { error: String(e && e.stack ? e.stack : e), code: e && e.code })
  }
}

async function main() {
  await scenario('no-random-source', async () => {
    const w = wallet(SHARES)
    const portal = new Portal({ keychain: w.keychain, custodian: w.custodian })
    const code = await expectCode(portal.backupWallet(BackupMethods.Password, null, { passwordStorage: { password: 'pw', deriveKey: appDeriveKey } }))
    report('no-random-source', { code, hasCrypto: typeof globalThis.crypto })
  })
  installRandom(input.seed)

  await scenario('app-kdf', async () => {
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
    report('app-kdf', {
      cipherText, record: w.state.record, restored: fresh.state.shares === SHARES, statuses, backupMs, recoveryMs,
      kdfCallsBackup, kdfCalls: kdfStats.calls, kdfMs: kdfStats.ms, requests: kdfStats.requests, wrong,
    })
  })

  await scenario('app-kdf-bad-output', async () => {
    const bad = (answer) => ({ passwordStorage: { password: 'pw', deriveKey: answer } })
    const portal = () => { const w = wallet(SHARES); return new Portal({ keychain: w.keychain, custodian: w.custodian }) }
    report('app-kdf-bad-output', {
      short: await expectCode(portal().backupWallet('password', null, bad(() => Promise.resolve(new Uint8Array(31))))),
      long: await expectCode(portal().backupWallet('password', null, bad(() => new Uint8Array(33)))),
      notBytes: await expectCode(portal().backupWallet('password', null, bad(() => Promise.resolve('00'.repeat(32))))),
      throws: await expectCode(portal().backupWallet('password', null, bad(() => { throw new Error('native module missing') }))),
      rejects: await expectCode(portal().backupWallet('password', null, bad(() => Promise.reject(new Error('out of memory'))))),
      notFunction: await expectCode(portal().backupWallet('password', null, bad('argon2'))),
    })
  })

  await scenario('memory-growth', async () => {
    // 600 KB of shares: far above the 1 MiB initial memory's free space, so
    // the module's memory grows while the glue holds views of it.
    let big = ''
    while (big.length < 600000) big += 'ƒ0123456789abcdef€'
    const shares = JSON.stringify({ secp256k1: { id: 'big', share: big } })
    const w = wallet(shares)
    const portal = new Portal({ keychain: w.keychain, custodian: w.custodian })
    const config = { passwordStorage: { password: 'pw', deriveKey: appDeriveKey } }
    const cipherText = await portal.backupWallet('password', null, config)
    const fresh = wallet('', w.state.record)
    await new Portal({ keychain: fresh.keychain, custodian: fresh.custodian }).recoverWallet(cipherText, 'password', null, config)
    report('memory-growth', { restored: fresh.state.shares === shares, length: shares.length, cipherTextLength: cipherText.length })
  })

  await scenario('in-module-argon2id', async () => {
    // No deriveKey: Argon2id (19 MiB, which grows the memory) runs in the module, through wasm2js.
    const w = wallet(SHARES)
    const portal = new Portal({ keychain: w.keychain, custodian: w.custodian })
    let t = Date.now()
    const cipherText = await portal.backupWallet('password', null, { passwordStorage: { password: 'pw' } })
    const backupMs = Date.now() - t
    const fresh = wallet('', w.state.record)
    t = Date.now()
    await new Portal({ keychain: fresh.keychain, custodian: fresh.custodian }).recoverWallet(cipherText, 'password', null, { passwordStorage: { password: 'pw' } })
    const recoveryMs = Date.now() - t
    report('in-module-argon2id', { cipherText, record: w.state.record, restored: fresh.state.shares === SHARES, backupMs, recoveryMs })
  })

  await scenario('sealed-in-node', async () => {
    const fresh = wallet('', input.nodeSealed.record)
    const before = kdfStats.calls
    const t = Date.now()
    await new Portal({ keychain: fresh.keychain, custodian: fresh.custodian })
      .recoverWallet(input.nodeSealed.cipherText, 'password', null, { passwordStorage: { password: input.nodeSealed.password, deriveKey: appDeriveKey } })
    report('sealed-in-node', { restored: fresh.state.shares === input.nodeSealed.shares, kdfCalls: kdfStats.calls - before, recoveryMs: Date.now() - t })
  })
  print('DONE')
}

main().catch((e) => print('FATAL ' + String(e && e.stack ? e.stack : e)))
