// The backup-service settings, checked before any request is sent: `apiKey`,
// `apiHost`, `timeoutMs`, and the service-or-custodian rule. A local HTTP
// server counts requests, to prove a refused setting sends nothing.
// (Backups against the real service: tests/service-scenarios/.)

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { Portal, backupWallet, walletBackupStatus, storedClientBackupShare } from '../../pkg/node/index.mjs'
import { memoryWallet, rejectsWith } from './helpers.mjs'

let server
let requests = 0
let apiHost

before(async () => {
  server = createServer((req, res) => {
    requests++
    res.writeHead(500, { 'Content-Type': 'application/json' })
    res.end('{"error":{"code":"INTERNAL_ERROR","message":"test server"}}')
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  apiHost = `http://127.0.0.1:${server.address().port}`
})

after(() => new Promise((resolve) => server.close(resolve)))

const password = { passwordStorage: { password: 'pw' } }

test('Portal: apiKey and custodian together is refused, as is neither', () => {
  const { keychain, custodian } = memoryWallet()
  for (const options of [{ apiKey: 'k', apiHost, keychain, custodian }, { keychain }]) {
    assert.throws(() => new Portal(options), (e) => e instanceof TypeError && ['INVALID_ARGUMENT', 'CUSTODIAN_UNAVAILABLE'].includes(e.code))
  }
})

test('apiHost: cleartext to another host, odd URLs and wrong types are refused before any request', async () => {
  const { keychain } = memoryWallet()
  const before = requests
  for (const host of ['http://example.com', 'http://127.0.0.1.example.com', 'ftp://example.com', 'https://u:p@example.com', 'https://example.com/?x=1', '', 'a b']) {
    // Portal refuses some in its constructor (http:// to another host), the rest at the first call.
    await rejectsWith(() => new Portal({ apiKey: 'k', apiHost: host, keychain }).isWalletBackedUp(), 'INVALID_ARGUMENT')
    await rejectsWith(backupWallet('password', null, { apiKey: 'k', apiHost: host, keychain, ...password }), 'INVALID_ARGUMENT')
  }
  await rejectsWith(walletBackupStatus({ apiKey: 'k', apiHost: 42 }), 'INVALID_ARGUMENT', { typeError: true })
  assert.equal(requests, before)
})

test('apiKey: empty, non-ASCII, with spaces or not a string is refused, and never echoed', async () => {
  const { keychain } = memoryWallet()
  for (const apiKey of ['', 'key with space', 'schlüssel', 'x'.repeat(513)]) {
    const err = await rejectsWith(() => new Portal({ apiKey, apiHost, keychain }).isWalletBackedUp(), 'INVALID_ARGUMENT')
    if (apiKey.length > 3) assert.ok(!err.message.includes(apiKey))
  }
  await rejectsWith(walletBackupStatus({ apiKey: 7, apiHost }), 'INVALID_ARGUMENT', { typeError: true })
})

test('timeoutMs: whole milliseconds from 1 to 600000', async () => {
  const { keychain } = memoryWallet()
  for (const timeoutMs of [0, -1, 1.5, 600_001, Number.NaN]) {
    await rejectsWith(new Portal({ apiKey: 'k', apiHost, keychain, timeoutMs }).isWalletBackedUp(), 'INVALID_ARGUMENT')
  }
  await rejectsWith(new Portal({ apiKey: 'k', apiHost, keychain, timeoutMs: '5' }).isWalletBackedUp(), 'INVALID_ARGUMENT', { typeError: true })
})

test('queries need the service; storedClientBackupShare needs a boolean and a known method', async () => {
  const { keychain, custodian } = memoryWallet()
  await rejectsWith(new Portal({ keychain, custodian }).isWalletBackedUp(), 'INVALID_ARGUMENT')
  await rejectsWith(new Portal({ keychain, custodian }).api.storedClientBackupShare(true, 'password'), 'INVALID_ARGUMENT')
  const before = requests
  await rejectsWith(storedClientBackupShare('yes', 'password', { apiKey: 'k', apiHost }), 'INVALID_ARGUMENT', { typeError: true })
  await rejectsWith(storedClientBackupShare(true, 'carrier-pigeon', { apiKey: 'k', apiHost }), 'UNSUPPORTED_STORAGE_METHOD')
  assert.equal(requests, before)
})

test('a 5xx answer is SERVICE_ERROR with the service code as cause, and the API key is not in the error', async () => {
  const { keychain } = memoryWallet()
  const apiKey = 'wbk_live_secret_test_key_0123456789'
  const err = await rejectsWith(new Portal({ apiKey, apiHost, keychain }).backupWallet('password', null, password), 'SERVICE_ERROR')
  assert.deepEqual(err.cause, { status: 500, code: 'INTERNAL_ERROR' })
  assert.ok(!JSON.stringify({ m: err.message, s: err.stack }).includes(apiKey))
})
