// The two layers that check the app's settings, held to one answer.
//
//   node --test tests/js/checks.test.mjs
//
// The settings classes (FirebaseStorage, PasskeyStorage, GDriveStorage,
// ICloudStorage, Portal; js/api.mjs) check what they are given when they are
// made; the wasm module checks the same settings when a call uses them
// (src/config.rs), because the free functions take plain objects too. For
// every value a class refuses, the call path given that value as a plain
// object must refuse it with the same code, before any step runs. The few
// places where the layers answer differently today are listed at the end,
// so that a new difference fails here.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Portal, FirebaseStorage, PasskeyStorage, GDriveStorage, ICloudStorage, backupWallet } from '../../pkg/node/index.mjs'
import { memoryWallet } from './helpers.mjs'

const fn = async () => null
const passkeys = { create: fn, get: fn }
const cloudKit = { containerIdentifier: 'iCloud.com.example.wallet', environment: 'production', apiToken: 'token', getWebAuthToken: fn }
const keyValueStore = { getItem: fn, setItem: fn, removeItem: fn }

/** What the constructor threw, or null. */
function constructing(Class, options) {
  try {
    new Class(options)
    return null
  } catch (e) {
    return e
  }
}

/** What the call path rejected with, for `settings` under `key` (the keychain never read). */
async function calling(method, key, settings) {
  const wallet = memoryWallet()
  // A service on loopback that is never reached: the settings fail first.
  const config = { keychain: wallet.keychain, apiKey: 'wbk_test_checks', apiHost: 'http://127.0.0.1:9', [key]: settings }
  try {
    await backupWallet(method, null, config)
    return null
  } catch (e) {
    assert.equal(wallet.calls.getShares, 0, `${method}: a backup step ran`)
    return e
  }
}

const refused = {
  firebase: [FirebaseStorage, [{}, { getToken: 'x' }, { getToken: fn, tbsHost: 7 }, 'x']],
  gdrive: [GDriveStorage, [{}, { getAccessToken: 'x' }, { getAccessToken: fn, driveHost: 7 }, 'x']],
  passkey: [PasskeyStorage, [{ passkeys: {} }, { passkeys: { create: fn, get: 1 } }, { passkeys, webAuthnHost: 1 }, { passkeys, userName: {} }, 'x']],
  icloud: [
    ICloudStorage,
    [
      {},
      'x',
      { keyValueStore: { getItem: fn } },
      { keyValueStore, containerIdentifier: 'iCloud.com.example.wallet' },
      { ...cloudKit, containerIdentifier: 7 },
      { ...cloudKit, apiToken: 7 },
      { ...cloudKit, getWebAuthToken: 'x' },
      { ...cloudKit, environment: 'staging' },
      { ...cloudKit, cloudKitHost: 7 },
    ],
  ],
}

test('every settings value a class refuses, the call path refuses with the same code, as a TypeError', async () => {
  for (const [method, [Class, values]] of Object.entries(refused)) {
    for (const value of values) {
      const what = `${Class.name}(${JSON.stringify(value)})`
      const thrown = constructing(Class, value)
      assert.ok(thrown instanceof TypeError, `${what} was accepted`)
      const rejected = await calling(method, method, value)
      assert.ok(rejected, `${what}: the call path accepted it`)
      assert.equal(rejected.code, thrown.code, `${what}: ${rejected.message}`)
      assert.ok(rejected instanceof TypeError, `${what}: the call path's refusal is not a TypeError: ${rejected.message}`)
    }
  }
})

// Portal's checks are the module's Call checks made early; the codes agree
// (Portal throws every refusal as a TypeError, the module gives "apiKey and
// custodian both" as a plain Error).
test('every Portal option the class refuses, the call path refuses with the same code', async () => {
  const { keychain, custodian } = memoryWallet()
  const cases = [
    [{ custodian }, 'KEYCHAIN_UNAVAILABLE'],
    [{ keychain: 'keychain', custodian }, 'KEYCHAIN_UNAVAILABLE'],
    [{ keychain }, 'CUSTODIAN_UNAVAILABLE'],
    [{ keychain, custodian: null }, 'CUSTODIAN_UNAVAILABLE'],
    [{ keychain, custodian, apiKey: 'wbk_test_checks', apiHost: 'http://127.0.0.1:9' }, 'INVALID_ARGUMENT'],
    // Refused by Portal when it is made, by the call path at the first call.
    [{ keychain: {}, custodian }, 'KEYCHAIN_UNAVAILABLE'],
    [{ keychain, custodian: {} }, 'CUSTODIAN_UNAVAILABLE'],
    [{ keychain, apiKey: 'wbk_test_checks' }, 'INVALID_ARGUMENT'],
    [{ keychain, apiKey: 123, apiHost: 'http://127.0.0.1:9' }, 'INVALID_ARGUMENT'],
    [{ keychain, apiKey: 'wbk_test_checks', apiHost: 'http://backup.example.com' }, 'INVALID_ARGUMENT'],
    [{ keychain, custodian, pin: '1234' }, 'INVALID_ARGUMENT'],
  ]
  for (const [options, code] of cases) {
    const thrown = constructing(Portal, options)
    assert.equal(thrown?.code, code, JSON.stringify(Object.keys(options)))
    let rejected
    await backupWallet('password', null, { ...options, passwordStorage: { password: 'pw' } }).catch((e) => {
      rejected = e
    })
    assert.equal(rejected?.code, code, `${JSON.stringify(Object.keys(options))}: ${rejected?.message}`)
  }
  for (const options of [undefined, null, 'options', 42]) {
    assert.equal(constructing(Portal, options)?.code, 'INVALID_ARGUMENT')
    await assert.rejects(backupWallet('password', null, options), (e) => e instanceof TypeError && e.code === 'INVALID_ARGUMENT')
  }
})

test('where the layers answer differently today (a change to either fails here)', async () => {
  // The class refuses a mode it does not know with a TypeError; the module,
  // for a plain object, with a plain Error (tests/js/errors.test.mjs pins both).
  assert.ok(constructing(PasskeyStorage, { mode: 'prf' }) instanceof TypeError)
  const mode = await calling('passkey', 'passkey', { passkeys, mode: 'prf' })
  assert.equal(mode.code, 'INVALID_ARGUMENT')
  assert.ok(!(mode instanceof TypeError))
  // `null` options: the class refuses them; the module reads `passkey: null` as
  // "no settings" (browsers need none) and, in Node.js, finds no passkey API.
  assert.equal(constructing(PasskeyStorage, null)?.code, 'INVALID_ARGUMENT')
  assert.equal((await calling('passkey', 'passkey', null)).code, 'PASSKEY_UNAVAILABLE')
  // The class refuses keyValueStore beside any CloudKit option, and a
  // non-function onWebAuthToken; the module only looks at containerIdentifier
  // beside keyValueStore, and ignores an onWebAuthToken it cannot call.
  assert.equal(constructing(ICloudStorage, { keyValueStore, environment: 'production' })?.code, 'INVALID_ARGUMENT')
  assert.equal(constructing(ICloudStorage, { ...cloudKit, onWebAuthToken: 7 })?.code, 'INVALID_ARGUMENT')
  // Both pass the module's checks; with the service on a closed port, the
  // call then fails reaching the service (for the custodian half's client).
  for (const icloud of [{ keyValueStore, environment: 'production' }, { ...cloudKit, onWebAuthToken: 7 }]) {
    const wallet = memoryWallet()
    const config = { keychain: wallet.keychain, apiKey: 'wbk_test_checks', apiHost: 'http://127.0.0.1:9', icloud }
    const e = await backupWallet('icloud', null, config).then(() => null, (err) => err)
    assert.equal(e?.code, 'NETWORK_ERROR', e?.message)
  }
})
