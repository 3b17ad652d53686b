// The mistakes a developer makes first, each answered with a stable code and
// a message that names the fix, before any backup step runs (issue 14):
// config passed second, unknown config keys, a misspelt method, recovering
// with the wrong method, `''` without the service, Portal options that can
// never work, and the default export Portal's users import.
//
//   node --test tests/js/mistakes.test.mjs

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import DefaultPortal, { Portal, BackupMethods, backupWallet, recoverWallet } from '../../pkg/node/index.mjs'
import { memoryWallet, rejectsWith } from './helpers.mjs'

const PASSWORD = 'PW-zebra-7731-secret'
const pw = (password = PASSWORD) => ({ passwordStorage: { password } })

/** A custodian-adapter wallet holding a password backup; `calls` counts adapter calls. */
async function backedUp() {
  const wallet = memoryWallet()
  const portal = new Portal({ keychain: wallet.keychain, custodian: wallet.custodian })
  const cipherText = await portal.backupWallet('password', null, pw())
  for (const name of Object.keys(wallet.calls)) wallet.calls[name] = 0
  return { wallet, portal, cipherText }
}

/** What `fn` threw, or null. */
function thrown(fn) {
  try {
    fn()
    return null
  } catch (e) {
    return e
  }
}

test('config passed second (Portal web docs order): INVALID_ARGUMENT saying config is the last argument', async () => {
  const { wallet, portal, cipherText } = await backedUp()
  for (const attempt of [() => portal.backupWallet('password', pw()), () => backupWallet('password', { ...pw(), keychain: wallet.keychain, custodian: wallet.custodian })]) {
    const e = await rejectsWith(attempt, 'INVALID_ARGUMENT', { typeError: true })
    assert.match(e.message, /config is the last argument, backupWallet\(method, onProgress, config\)/)
  }
  for (const attempt of [() => portal.recoverWallet(cipherText, 'password', pw()), () => recoverWallet(cipherText, 'password', { ...pw(), keychain: wallet.keychain, custodian: wallet.custodian })]) {
    const e = await rejectsWith(attempt, 'INVALID_ARGUMENT', { typeError: true })
    assert.match(e.message, /config is the last argument, recoverWallet\(cipherText, method, onProgress, config\)/)
    assert.ok(!e.message.includes(PASSWORD))
  }
  // The old answer was PASSWORD_REQUIRED; a function or null there still works.
  assert.equal(typeof (await portal.backupWallet('password', () => {}, pw())), 'string')
  assert.equal(wallet.calls.setShares, 0)
})

test('unknown config keys are refused, naming them and the valid ones', async () => {
  const { wallet, portal, cipherText } = await backedUp()
  const cases = [
    [{ password: PASSWORD }, /config has unknown key 'password' \(the password goes in passwordStorage: \{ password \}\); it takes keychain, custodian, .*passwordStorage/],
    [{ passwordStorageConfig: { password: PASSWORD } }, /unknown key 'passwordStorageConfig'.*it takes .*passwordStorage/],
    [{ passwordStorage: { pin: PASSWORD } }, /passwordStorage has unknown key 'pin'; it takes password, kdf, deriveKey/],
    [{ passwordStorage: { password: PASSWORD, kdf: { memory: 65536 } } }, /passwordStorage.kdf has unknown key 'memory'; it takes memoryKiB, iterations, parallelism/],
    [{ ...pw(), onProgress: () => {}, chainId: 1 }, /config has unknown keys 'onProgress', 'chainId'/],
  ]
  for (const [config, message] of cases) {
    const e = await rejectsWith(portal.backupWallet('password', null, config), 'INVALID_ARGUMENT', { typeError: true })
    assert.match(e.message, message)
    assert.ok(!e.message.includes(PASSWORD), e.message)
    const r = await rejectsWith(portal.recoverWallet(cipherText, 'password', null, config), 'INVALID_ARGUMENT', { typeError: true })
    assert.match(r.message, message)
  }
  // The free functions too, and the settings of the other methods.
  const own = { keychain: wallet.keychain, custodian: wallet.custodian }
  await rejectsWith(backupWallet('password', null, { ...own, ...pw(), apikey: 'k' }), 'INVALID_ARGUMENT', { typeError: true })
  const getAccessToken = async () => null
  const e = await rejectsWith(backupWallet('gdrive', null, { ...own, gdrive: { getAccessToken, scope: 'drive' } }), 'INVALID_ARGUMENT', { typeError: true })
  assert.match(e.message, /gdrive has unknown key 'scope'; it takes getAccessToken, driveHost/)
  assert.equal(wallet.calls.getShares, 0, 'no backup step ran')
  assert.equal(wallet.calls.setShares, 0)

  // Portal's own options and its backup settings are checked when it is made.
  const options = thrown(() => new Portal({ ...own, apiKEY: 'k' }))
  assert.equal(options?.code, 'INVALID_ARGUMENT')
  assert.match(options.message, /Portal options has unknown key 'apiKEY'; it takes keychain, custodian, apiKey, apiHost/)
  const backup = thrown(() => new Portal({ ...own, backup: { pasword: { password: PASSWORD } } }))
  assert.equal(backup?.code, 'INVALID_ARGUMENT')
  assert.match(backup.message, /Portal options.backup has unknown key 'pasword'; it takes passwordStorage, passkey/)
})

test('a wrong method names the value received (when it is a near miss) and the valid ones', async () => {
  const { wallet, portal, cipherText } = await backedUp()
  for (const method of ['Password', 'pasword', ' password', 'PassWord ']) {
    for (const attempt of [() => portal.backupWallet(method, null, pw()), () => portal.recoverWallet(cipherText, method, null, pw())]) {
      const e = await rejectsWith(attempt, 'UNSUPPORTED_STORAGE_METHOD', { typeError: false })
      assert.ok(e.message.includes(`'${method}' (did you mean 'password'?)`), e.message)
      assert.match(e.message, /use one of 'password', 'passkey', 'gdrive', 'icloud', 'firebase', 'custom'/)
    }
  }
  const drive = await rejectsWith(portal.backupWallet('GoogleDrive', null, pw()), 'UNSUPPORTED_STORAGE_METHOD')
  assert.match(drive.message, /'GoogleDrive' \(did you mean 'gdrive'\?\)/)
  // A string far from every method is not echoed: it could be the password, passed in the wrong place.
  const secret = await rejectsWith(portal.recoverWallet(cipherText, PASSWORD, null, pw()), 'UNSUPPORTED_STORAGE_METHOD')
  assert.ok(!secret.message.includes(PASSWORD) && !secret.message.includes('zebra'), secret.message)
  assert.match(secret.message, /a string of 20 characters, not shown/)
  const missing = await rejectsWith(portal.backupWallet(undefined, null, pw()), 'INVALID_ARGUMENT', { typeError: true })
  assert.match(missing.message, /method is missing; use one of 'password'/)
  assert.equal(wallet.calls.getShares, 0)
})

test("Portal web's BackupMethods spellings: BackupMethods.password and its value 'PASSWORD' back up and recover", async () => {
  assert.equal(BackupMethods.password, BackupMethods.Password)
  for (const name of ['password', 'passkey', 'gdrive', 'icloud', 'firebase', 'custom']) assert.equal(BackupMethods[name], name)
  const wallet = memoryWallet()
  const portal = new Portal({ keychain: wallet.keychain, custodian: wallet.custodian })
  const cipherText = await portal.backupWallet(BackupMethods.password, null, pw())
  const shares = wallet.state.shares
  wallet.state.shares = ''
  // Portal web's BackupMethods.password is 'PASSWORD'.
  await portal.recoverWallet(cipherText, 'PASSWORD', null, pw())
  assert.equal(wallet.state.shares, shares)
})

test('recovering with another method than the backup was made with is METHOD_MISMATCH before the method is set up', async () => {
  const { wallet, portal, cipherText } = await backedUp()
  // passkey used to be PASSKEY_UNAVAILABLE in Node.js (no WebAuthn), firebase
  // INVALID_ARGUMENT (no service), icloud INVALID_ARGUMENT (no settings).
  for (const method of ['passkey', 'PASSKEY', 'firebase', 'icloud', 'gdrive', 'custom']) {
    const e = await rejectsWith(portal.recoverWallet(cipherText, method, null, {}), 'METHOD_MISMATCH', { typeError: false })
    assert.match(e.message, new RegExp(`it is a 'password' backup, recovered with '${method.toLowerCase()}'`))
  }
  assert.equal(wallet.calls.getShares + wallet.calls.setShares + wallet.calls.read, 0, 'nothing was read')
})

test("recoverWallet('') with a custodian adapter says '' needs the backup service (apiKey, apiHost)", async () => {
  const { wallet, portal } = await backedUp()
  for (const attempt of [() => portal.recoverWallet('', 'password', null, pw()), () => recoverWallet('', 'password', null, { keychain: wallet.keychain, custodian: wallet.custodian, ...pw() })]) {
    // INVALID_CIPHERTEXT, the code FORMAT.md's vectors give '', with the fix in the message.
    const e = await rejectsWith(attempt, 'INVALID_CIPHERTEXT', { typeError: false })
    assert.match(e.message, /cipherText '' fetches the newest backup from the backup service, which needs apiKey and apiHost/)
  }
  assert.equal(wallet.calls.read + wallet.calls.setShares, 0)
})

test('new Portal refuses options that could never work, with stable codes', () => {
  const { keychain, custodian } = memoryWallet()
  const cases = [
    [{ keychain: {}, custodian }, 'KEYCHAIN_UNAVAILABLE', /keychain adapter must have getShares and setShares/],
    [{ keychain: { getShares() {} }, custodian }, 'KEYCHAIN_UNAVAILABLE', /getShares and setShares/],
    [{ keychain, custodian: {} }, 'CUSTODIAN_UNAVAILABLE', /custodian adapter must have read and write/],
    [{ keychain, apiKey: 'wbk_test' }, 'INVALID_ARGUMENT', /apiHost missing: apiKey needs the backup service's apiHost/],
    [{ keychain, apiKey: 123, apiHost: 'backup.example.com' }, 'INVALID_ARGUMENT', /apiKey must be a string/],
    [{ keychain, apiKey: '', apiHost: 'backup.example.com' }, 'INVALID_ARGUMENT', /apiKey is not a valid API key/],
    [{ keychain, apiKey: 'wbk_test', apiHost: 7 }, 'INVALID_ARGUMENT', /apiHost must be a string/],
    [{ keychain, apiKey: 'wbk_test', apiHost: 'http://backup.example.com' }, 'INVALID_ARGUMENT', /http:\/\/ only for localhost/],
    [{ keychain, apiKey: 'wbk_test', apiHost: 'HTTP://127.0.0.1.example.com:80' }, 'INVALID_ARGUMENT', /http:\/\/ only for localhost/],
  ]
  for (const [options, code, message] of cases) {
    const e = thrown(() => new Portal(options))
    assert.ok(e instanceof TypeError, `${JSON.stringify(options)} was accepted`)
    assert.equal(e.code, code, e.message)
    assert.match(e.message, message)
  }
  // What works stays accepted: https, a bare host, http:// on this machine, adapters from classes.
  for (const apiHost of ['backup.example.com', 'https://backup.example.com/', 'http://localhost:8080', 'http://127.0.0.1:9', 'http://[::1]:9']) {
    assert.ok(new Portal({ keychain, apiKey: 'wbk_test', apiHost }), apiHost)
  }
  class Keychain {
    async getShares() {}
    async setShares() {}
  }
  assert.ok(new Portal({ keychain: new Keychain(), custodian }))
})

test('the default export is Portal, from ES modules and CommonJS alike', () => {
  assert.equal(DefaultPortal, Portal)
  const require = createRequire(import.meta.url)
  const cjs = require('../../pkg/node/index.cjs')
  assert.equal(cjs.default, cjs.Portal)
  assert.equal(cjs.Portal, Portal, 'one instance for import and require')
  // TypeScript's and bundlers' interop read `default` of a module marked __esModule.
  assert.equal(cjs.__esModule, true)
  const { keychain, custodian } = memoryWallet()
  assert.ok(new cjs.default({ keychain, custodian }) instanceof Portal)
})
