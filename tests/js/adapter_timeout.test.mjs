// adapterTimeoutMs (issue 11): every call into a function the app provided,
// and every passkey prompt, has a time limit. A promise that never settles
// fails the call with ADAPTER_TIMEOUT naming the function, frees the
// keychain at once, completes nothing (the previous backup stays the one
// recovery uses), and settling it late does nothing: no unhandled
// rejection, no further adapter call.
//
//   node --test tests/js/adapter_timeout.test.mjs
//
// Timing: the limit is short (LIMIT); assertions only ask that a call ends,
// with generous bounds, never how fast.

import { test as nodeTest, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import {
  Portal, FirebaseStorage, GDriveStorage, ICloudStorage, PasskeyStorage, backupWallet, recoverWallet, storageOperation,
} from '../../pkg/node/index.mjs'
import { memoryWallet, rejectsWith, settle, SAMPLE_SHARES } from './helpers.mjs'

const LIMIT = 200
/** Generous: a call must have ended by then, on a loaded machine too. */
const ENDS_WITHIN = 15_000
const PASSWORD = 'PW-timeout-lynx-5521'
const pw = { passwordStorage: { password: PASSWORD } }

/** Every test has a time limit of its own: a call that hangs fails its test rather than the run. */
const test = (name, fn) => nodeTest(name, { timeout: 60_000 }, fn)

const unhandled = []
process.on('unhandledRejection', (reason) => unhandled.push(reason))

/** A promise the test settles by hand (or never). */
function deferred() {
  let resolve, reject
  const promise = new Promise((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/**
 * Replaces `obj[name]` with a function that hangs from its `from`-th call
 * on (1-based; earlier calls run the original). `pending` holds the hung
 * promises, to be settled late; `calls` counts every call.
 */
function hang(obj, name, from = 1) {
  const original = obj[name]
  const h = { pending: [], calls: 0 }
  obj[name] = function (...args) {
    h.calls++
    if (h.calls < from) return original.apply(this, args)
    const d = deferred()
    h.pending.push(d)
    return d.promise
  }
  h.restore = () => {
    obj[name] = original
  }
  return h
}

/** Expects `run` to fail with ADAPTER_TIMEOUT naming `what`, after the limit and well before ENDS_WITHIN. */
async function timesOut(run, what, limit = LIMIT) {
  const started = Date.now()
  const error = await rejectsWith(run, 'ADAPTER_TIMEOUT', { typeError: false })
  const took = Date.now() - started
  assert.ok(error.message.includes(what), `the message does not name ${what}: ${error.message}`)
  assert.ok(error.message.includes('adapterTimeoutMs'), error.message)
  for (const secret of [PASSWORD, 'a1b2c3d4e5f6']) assert.ok(!`${error.message}${error.stack}`.includes(secret))
  assert.ok(took >= limit - 50, `failed after ${took} ms, before the limit of ${limit} ms`)
  assert.ok(took < ENDS_WITHIN, `took ${took} ms`)
  return error
}

/** A wallet with a Portal on it (custodian adapter, no service) holding one completed password backup. */
async function backedUp(extra = {}) {
  const wallet = memoryWallet()
  const portal = new Portal({ keychain: wallet.keychain, custodian: wallet.custodian, adapterTimeoutMs: LIMIT, ...extra })
  const cipherText = await portal.backupWallet('password', null, pw)
  return { wallet, portal, cipherText }
}

/** The keychain is free and the backup `cipherText` (made with `method`) recovers the original shares. */
async function recovers(portal, wallet, cipherText, method = 'password', config = pw) {
  wallet.state.shares = ''
  await portal.recoverWallet(cipherText, method, null, config)
  assert.equal(wallet.state.shares, SAMPLE_SHARES)
}

// ---- a stand-in backup service: enough for the firebase and passkey methods to reach the app's functions ----

let server
let apiHost
/** What the passkey routes say; tests change it. */
const passkeyRoutes = { registered: false, webAuthnTimeout: 300 }

before(async () => {
  server = createServer((req, res) => {
    const reply = (status, body) => {
      res.writeHead(status, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    req.resume()
    req.on('end', () => {
      const path = new URL(req.url, 'http://x').pathname
      const options = { challenge: 'Y2hhbGxlbmdlLTE', rpId: 'localhost', userVerification: 'required' }
      if (passkeyRoutes.webAuthnTimeout != null) options.timeout = passkeyRoutes.webAuthnTimeout
      if (path === '/api/v3/clients/me') return reply(200, { managedBackups: true })
      if (path === '/passkeys/status') return reply(200, { configured: true, registered: passkeyRoutes.registered })
      if (path === '/passkeys/begin-registration') {
        return reply(200, {
          ceremonyId: 'ceremony-1',
          options: { ...options, rp: { id: 'localhost', name: 'test' }, user: { id: 'dXNlci0x', name: 'u', displayName: 'u' }, pubKeyCredParams: [{ type: 'public-key', alg: -7 }] },
        })
      }
      if (path === '/passkeys/begin-login') return reply(200, { ceremonyId: 'ceremony-2', options })
      reply(404, { error: { code: 'NOT_FOUND', message: 'not in this stand-in' } })
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  apiHost = `http://127.0.0.1:${server.address().port}`
})

after(() => new Promise((resolve) => server.close(resolve)))

// ---- the keychain ----

test('keychain.getShares never settles: ADAPTER_TIMEOUT, the keychain is free at once, a late answer does nothing', async () => {
  const { wallet, portal, cipherText } = await backedUp()
  const writes = wallet.calls.write
  const hung = hang(wallet.keychain, 'getShares')
  await timesOut(portal.backupWallet('password', null, pw), 'keychain.getShares')
  assert.equal(wallet.calls.write, writes, 'the custodian was written')
  hung.restore()
  // The same keychain, at once: not WALLET_MODIFICATION_ALREADY_IN_PROGRESS.
  const second = await portal.backupWallet('password', null, pw)
  const afterSecond = wallet.calls.write
  hung.pending[0].resolve(SAMPLE_SHARES)
  await settle(50)
  assert.equal(wallet.calls.write, afterSecond, 'a late getShares answer made the module write')
  await recovers(portal, wallet, cipherText)
  await recovers(portal, wallet, second)
})

test('keychain.setShares never settles on recovery: ADAPTER_TIMEOUT; a late rejection is no unhandled rejection', async () => {
  const { wallet, portal, cipherText } = await backedUp()
  const hung = hang(wallet.keychain, 'setShares')
  wallet.state.shares = ''
  await timesOut(portal.recoverWallet(cipherText, 'password', null, pw), 'keychain.setShares')
  assert.equal(wallet.state.shares, '')
  hung.pending[0].reject(new Error('the keychain gave up, too late'))
  hung.restore()
  await recovers(portal, wallet, cipherText)
})

// ---- the custodian adapter (no service) ----

test('custodian.write never settles: no Done, the previous backup stays recoverable, the next backup works', async () => {
  const { wallet, portal, cipherText } = await backedUp()
  const record = wallet.state.record
  // First write of a backup: the new half as pending. Second: marking it complete.
  for (const [from, label] of [[1, 'pending write'], [2, 'completing write']]) {
    const hung = hang(wallet.custodian, 'write', from)
    const events = []
    await timesOut(portal.backupWallet('password', (e) => events.push(e), pw), 'custodian.write').catch((e) => {
      throw new Error(`${label}: ${e.message}`)
    })
    assert.ok(!events.some((e) => e.done), `${label}: Done was reported`)
    hung.restore()
    hung.pending[0].resolve()
    await recovers(portal, wallet, cipherText)
  }
  assert.notEqual(wallet.state.record, record, 'the pending write went through before the completing one hung')
  const next = await portal.backupWallet('password', null, pw)
  await recovers(portal, wallet, next)
  await recovers(portal, wallet, cipherText)
})

test('custodian.read never settles, on backup and on recovery: ADAPTER_TIMEOUT, nothing written', async () => {
  const { wallet, portal, cipherText } = await backedUp()
  const writes = wallet.calls.write
  const hung = hang(wallet.custodian, 'read')
  await timesOut(portal.backupWallet('password', null, pw), 'custodian.read')
  wallet.state.shares = ''
  await timesOut(portal.recoverWallet(cipherText, 'password', null, pw), 'custodian.read')
  assert.equal(wallet.state.shares, '')
  for (const d of hung.pending) d.resolve(wallet.state.record)
  await settle(50)
  assert.equal(wallet.calls.write, writes)
  assert.equal(wallet.calls.setShares, 0)
  hung.restore()
  await recovers(portal, wallet, cipherText)
})

// ---- storage adapters ----

/** An in-memory storage adapter for the custom method (Portal's storage interface). */
function memoryStorage() {
  const s = { value: null, writes: 0 }
  s.adapter = {
    async read() {
      return s.value
    },
    async write(value) {
      s.writes++
      s.value = value
    },
    async validateOperations() {
      return true
    },
  }
  return s
}

test('custom storage: read, write and validateOperations that never settle are ADAPTER_TIMEOUT; the last good backup recovers', async () => {
  const storage = memoryStorage()
  const { wallet, portal } = await backedUp({ backup: { custom: storage.adapter } })
  const good = await portal.backupWallet('custom', null)
  // write: the 1st stores the new key as pending, the 2nd confirms it.
  for (const [name, from] of [['read', 1], ['validateOperations', 1], ['write', 1], ['write', 2]]) {
    const hung = hang(storage.adapter, name, from)
    const events = []
    await timesOut(portal.backupWallet('custom', (e) => events.push(e)), `custom.${name}`)
    assert.ok(!events.some((e) => e.done))
    hung.restore()
    await recovers(portal, wallet, good, 'custom', {})
  }
  const hung = hang(storage.adapter, 'read')
  wallet.state.shares = ''
  await timesOut(portal.recoverWallet(good, 'custom'), 'custom.read')
  assert.equal(wallet.state.shares, '')
  hung.restore()
  await recovers(portal, wallet, good, 'custom', {})
})

test('iCloud key-value store (React Native): getItem and setItem that never settle are ADAPTER_TIMEOUT', async () => {
  const items = new Map()
  const keyValueStore = {
    async getItem(key) {
      return items.get(key) ?? null
    },
    async setItem(key, value) {
      items.set(key, value)
    },
    async removeItem(key) {
      items.delete(key)
    },
  }
  const { wallet, portal } = await backedUp({ backup: { icloud: new ICloudStorage({ keyValueStore }) } })
  const good = await portal.backupWallet('icloud', null)
  for (const name of ['getItem', 'setItem']) {
    const hung = hang(keyValueStore, name)
    await timesOut(portal.backupWallet('icloud', null), `icloud.keyValueStore.${name}`)
    hung.restore()
    await recovers(portal, wallet, good, 'icloud', {})
  }
})

test('getAccessToken (Drive) and getWebAuthToken (iCloud) that never settle are ADAPTER_TIMEOUT, in backups and storageOperation', async () => {
  const never = () => new Promise(() => {})
  const { wallet, portal, cipherText } = await backedUp()
  const gdrive = new GDriveStorage({ getAccessToken: never })
  const icloud = new ICloudStorage({ containerIdentifier: 'iCloud.com.example.wallet', environment: 'development', apiToken: 'api-token', getWebAuthToken: never })
  await timesOut(portal.backupWallet('gdrive', null, { gdrive }), 'gdrive.getAccessToken')
  await timesOut(portal.backupWallet('icloud', null, { icloud }), 'icloud.getWebAuthToken')
  await timesOut(storageOperation('validate', 'gdrive', { gdrive, adapterTimeoutMs: LIMIT }), 'gdrive.getAccessToken')
  await timesOut(storageOperation('delete', 'icloud', { icloud, adapterTimeoutMs: LIMIT }), 'icloud.getWebAuthToken')
  await recovers(portal, wallet, cipherText)
})

test('passwordStorage.deriveKey that never settles is ADAPTER_TIMEOUT (backup and recovery)', async () => {
  const { wallet, portal, cipherText } = await backedUp()
  const hung = deferred()
  const slow = { passwordStorage: { password: PASSWORD, deriveKey: () => hung.promise } }
  await timesOut(portal.backupWallet('password', null, slow), 'passwordStorage.deriveKey')
  wallet.state.shares = ''
  await timesOut(portal.recoverWallet(cipherText, 'password', null, slow), 'passwordStorage.deriveKey')
  assert.equal(wallet.state.shares, '')
  hung.reject(new Error('native module crashed, late'))
  await recovers(portal, wallet, cipherText)
})

test('firebase getToken that never settles is ADAPTER_TIMEOUT; the keychain is free for the next call', async () => {
  const wallet = memoryWallet()
  const hung = deferred()
  const firebase = new FirebaseStorage({ getToken: () => hung.promise })
  const managed = new Portal({ keychain: wallet.keychain, apiKey: 'wbk_test_key', apiHost, adapterTimeoutMs: LIMIT, backup: { firebase } })
  await timesOut(managed.backupWallet('firebase', null), 'firebase.getToken')
  assert.equal(wallet.calls.getShares, 1)
  // The same keychain object, through another Portal, at once.
  const local = new Portal({ keychain: wallet.keychain, custodian: wallet.custodian })
  const cipherText = await local.backupWallet('password', null, pw)
  hung.resolve('late-token')
  await recovers(local, wallet, cipherText)
})

// ---- passkey prompts ----

test('passkey functions (React Native) that never settle: ADAPTER_TIMEOUT after WebAuthn\'s timeout plus adapterTimeoutMs', async () => {
  const wallet = memoryWallet()
  const hung = { create: deferred(), get: deferred() }
  const passkey = new PasskeyStorage({ passkeys: { create: () => hung.create.promise, get: () => hung.get.promise } })
  const portal = new Portal({ keychain: wallet.keychain, apiKey: 'wbk_test_key', apiHost, adapterTimeoutMs: LIMIT, backup: { passkey } })
  passkeyRoutes.webAuthnTimeout = 300
  passkeyRoutes.registered = false
  await timesOut(portal.backupWallet('passkey', null), 'passkey.passkeys.create', 300 + LIMIT)
  passkeyRoutes.registered = true
  await timesOut(portal.backupWallet('passkey', null), 'passkey.passkeys.get', 300 + LIMIT)
  hung.create.reject(Object.assign(new Error('dismissed, late'), { name: 'NotAllowedError' }))
  hung.get.resolve(null)
  // The keychain is free for the next call.
  const local = new Portal({ keychain: wallet.keychain, custodian: wallet.custodian })
  await recovers(local, wallet, await local.backupWallet('password', null, pw))
})

test('a passkey prompt may outlast adapterTimeoutMs within WebAuthn\'s timeout: the platform\'s own answer counts', async () => {
  const wallet = memoryWallet()
  // The user dismisses the sheet after 300 ms, past adapterTimeoutMs (100) but well within WebAuthn's 5 s.
  const dismissed = () => new Promise((resolve) => setTimeout(() => resolve(null), 300))
  const passkey = new PasskeyStorage({ passkeys: { create: dismissed, get: dismissed } })
  const portal = new Portal({ keychain: wallet.keychain, apiKey: 'wbk_test_key', apiHost, adapterTimeoutMs: 100, backup: { passkey } })
  passkeyRoutes.webAuthnTimeout = 5000
  passkeyRoutes.registered = false
  await rejectsWith(portal.backupWallet('passkey', null), 'PASSKEY_NOT_ALLOWED', { typeError: false })
  // Without a WebAuthn timeout in the options the prompt gets 5 minutes plus adapterTimeoutMs.
  passkeyRoutes.webAuthnTimeout = null
  passkeyRoutes.registered = true
  await rejectsWith(portal.backupWallet('passkey', null), 'PASSKEY_NOT_ALLOWED', { typeError: false })
})

test('navigator.credentials (browsers) that never settles is ADAPTER_TIMEOUT', async () => {
  const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator')
  const never = () => new Promise(() => {})
  Object.defineProperty(globalThis, 'navigator', { value: { credentials: { create: never, get: never } }, configurable: true, writable: true })
  try {
    const wallet = memoryWallet()
    const portal = new Portal({ keychain: wallet.keychain, apiKey: 'wbk_test_key', apiHost, adapterTimeoutMs: LIMIT, backup: { passkey: new PasskeyStorage() } })
    passkeyRoutes.webAuthnTimeout = 300
    passkeyRoutes.registered = false
    await timesOut(portal.backupWallet('passkey', null), 'navigator.credentials.create', 300 + LIMIT)
    passkeyRoutes.registered = true
    await timesOut(portal.backupWallet('passkey', null), 'navigator.credentials.get', 300 + LIMIT)
  } finally {
    if (had) Object.defineProperty(globalThis, 'navigator', had)
    else delete globalThis.navigator
  }
})

// ---- the setting ----

test('adapterTimeoutMs: whole milliseconds from 1 to 600000, checked before any adapter runs', async () => {
  const wallet = memoryWallet()
  const config = (adapterTimeoutMs) => ({ keychain: wallet.keychain, custodian: wallet.custodian, adapterTimeoutMs, ...pw })
  for (const bad of [0, -1, 1.5, 600_001, Number.NaN, Number.POSITIVE_INFINITY]) {
    const e = await rejectsWith(backupWallet('password', null, config(bad)), 'INVALID_ARGUMENT', { typeError: false })
    assert.match(e.message, /adapterTimeoutMs/)
    await rejectsWith(recoverWallet('wbk1.AAAA', 'password', null, config(bad)), 'INVALID_ARGUMENT', { typeError: false })
    await rejectsWith(new Portal({ ...wallet, adapterTimeoutMs: bad }).backupWallet('password', null, pw), 'INVALID_ARGUMENT', { typeError: false })
  }
  for (const bad of ['5000', {}, true, 10n, [100]]) {
    const e = await rejectsWith(backupWallet('password', null, config(bad)), 'INVALID_ARGUMENT', { typeError: true })
    assert.match(e.message, /adapterTimeoutMs/)
    await rejectsWith(new Portal({ ...wallet, adapterTimeoutMs: bad }).recoverWallet('wbk1.AAAA', 'password', null, pw), 'INVALID_ARGUMENT', { typeError: true })
  }
  assert.deepEqual(wallet.calls, { getShares: 0, setShares: 0, read: 0, write: 0 })
  // Absent, null, the bounds and the default all work.
  for (const ok of [undefined, null, 1_000, 600_000]) await backupWallet('password', null, config(ok))
  const cipherText = await new Portal(wallet).backupWallet('password', null, pw)
  await recovers(new Portal({ ...wallet, adapterTimeoutMs: 60_000 }), wallet, cipherText)
})

test('no unhandled rejection from any abandoned promise', async () => {
  await settle(100)
  assert.deepEqual(unhandled, [])
})
