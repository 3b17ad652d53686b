// The custom method: the backup key kept by the app's own storage adapter
// (Portal's storage interface { read, write, delete?, validateOperations? }),
// in a keys record (FORMAT.md §3.4.4), with an in-memory adapter.
//
//   node --test tests/js/custom.test.mjs

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Portal } from '../../pkg/node/index.mjs'
import { memoryWallet, rejectsWith, SAMPLE_SHARES } from './helpers.mjs'

const shares = (n) => JSON.stringify({ secp256k1: { id: 'custom', share: String(n).padStart(4, '0').repeat(16) } })

/** An in-memory storage adapter with fault switches; `writes` counts writes. */
function memoryStorage() {
  const s = {
    value: null,
    writes: 0,
    reads: 0,
    /** Reads still to be answered with `readOverride`, after `readSkip` normal ones. */
    readOverride: undefined,
    readOverrideCount: 0,
    readSkip: 0,
    /** When set, write throws it. */
    writeThrows: null,
    valid: true,
    adapter: {
      async read() {
        s.reads++
        if (s.readOverrideCount > 0 && s.readSkip-- <= 0) {
          s.readOverrideCount--
          return s.readOverride
        }
        return s.value
      },
      async write(value) {
        if (s.writeThrows) throw s.writeThrows
        s.writes++
        s.value = value
        return true
      },
      async delete() {
        s.value = null
        return true
      },
      async validateOperations() {
        return s.valid
      },
    },
  }
  return s
}

function setup() {
  const wallet = memoryWallet(shares(1))
  const storage = memoryStorage()
  const portal = new Portal({ keychain: wallet.keychain, custodian: wallet.custodian, backup: { custom: storage.adapter } })
  return { wallet, storage, portal }
}

async function backup(portal) {
  const events = []
  const cipherText = await portal.backupWallet('custom', (e) => events.push(e))
  assert.deepEqual(events.filter((e) => e.done).map((e) => e.status), ['Done'])
  return cipherText
}

async function recovers(wallet, portal, cipherText, expected) {
  wallet.state.shares = ''
  await portal.recoverWallet(cipherText, 'custom')
  assert.equal(wallet.state.shares, expected)
}

test('backup and recovery; the adapter holds one keys record; CUSTOM spelling', async () => {
  const { wallet, storage, portal } = setup()
  const cipherText = await backup(portal)
  assert.match(storage.value, /^wbr1\.[A-Za-z0-9_-]+$/)
  assert.ok(storage.value.length <= 229)
  await recovers(wallet, portal, cipherText, shares(1))
  wallet.state.shares = ''
  await portal.recoverWallet(cipherText, 'CUSTOM')
  assert.equal(wallet.state.shares, shares(1))
})

test('later backups keep the previous ones recoverable; the newest three keys are kept', async () => {
  const { wallet, storage, portal } = setup()
  const cipherTexts = []
  for (let i = 1; i <= 5; i++) {
    wallet.state.shares = shares(i)
    cipherTexts.push(await backup(portal))
    if (i >= 2) await recovers(wallet, portal, cipherTexts[i - 2], shares(i - 1))
  }
  for (const i of [3, 4, 5]) await recovers(wallet, portal, cipherTexts[i - 1], shares(i))
  // The custodian record keeps three halves too, and is read first.
  await rejectsWith(portal.recoverWallet(cipherTexts[0], 'custom'), 'INVALID_CUSTODIAN_SHARE', { typeError: false })
  const record = Buffer.from(storage.value.slice(5), 'base64url')
  assert.equal(record[4], 3, 'keys in the record')
  assert.equal(storage.value.length, 229)
})

test('a read-back that differs fails the backup without Done; the previous backup still recovers', async () => {
  const { wallet, storage, portal } = setup()
  const first = await backup(portal)
  wallet.state.shares = shares(2)
  storage.readSkip = 1 // read 1: the record before the write; read 2: the read-back
  storage.readOverrideCount = 1
  storage.readOverride = 'wbr1.AAAA'
  const events = []
  await rejectsWith(portal.backupWallet('custom', (e) => events.push(e)), 'STORAGE_UNAVAILABLE', { typeError: false })
  assert.ok(!events.some((e) => e.done))
  await recovers(wallet, portal, first, shares(1))
  wallet.state.shares = shares(3)
  const third = await backup(portal)
  await recovers(wallet, portal, third, shares(3))
  await recovers(wallet, portal, first, shares(1))
})

test('failed backups never push out the key of the last good backup', async () => {
  const { wallet, storage, portal } = setup()
  const good = await backup(portal)
  for (let i = 0; i < 4; i++) {
    wallet.state.shares = shares(10 + i)
    // Fail the custodian after the key was stored (pending): the key is never confirmed.
    wallet.faults.writeRejects = new Error('custodian down')
    await rejectsWith(portal.backupWallet('custom'), 'CUSTODIAN_UNAVAILABLE', { typeError: false })
    wallet.faults.writeRejects = null
  }
  await recovers(wallet, portal, good, shares(1))
  assert.ok(storage.writes >= 6)
})

test('a throwing adapter is STORAGE_UNAVAILABLE with its exception as cause; nothing is completed', async () => {
  const { wallet, storage, portal } = setup()
  const boom = new Error('app storage exploded')
  storage.writeThrows = boom
  const error = await rejectsWith(portal.backupWallet('custom'), 'STORAGE_UNAVAILABLE', { typeError: false })
  assert.equal(error.cause, boom)
  assert.equal(wallet.state.record, null, 'the custodian was written')
  storage.writeThrows = null
  const cipherText = await backup(portal)
  const readFailure = new Error('read failed')
  storage.adapter.read = async () => { throw readFailure }
  wallet.state.shares = ''
  const e2 = await rejectsWith(portal.recoverWallet(cipherText, 'custom'), 'STORAGE_UNAVAILABLE', { typeError: false })
  assert.equal(e2.cause, readFailure)
  assert.equal(wallet.state.shares, '')
})

test('a value the module cannot read is never overwritten; validateOperations false stops the backup', async () => {
  const { storage, portal } = setup()
  for (const foreign of ['something else', 'wbr2.AAAA', 'x'.repeat(100_000), 42]) {
    storage.value = foreign
    await rejectsWith(portal.backupWallet('custom'), 'STORAGE_UNAVAILABLE', { typeError: false })
    assert.equal(storage.value, foreign)
    assert.equal(storage.writes, 0)
  }
  storage.value = null
  storage.valid = false
  await rejectsWith(portal.backupWallet('custom'), 'STORAGE_UNAVAILABLE', { typeError: false })
  assert.equal(storage.writes, 0)
})

test('the adapter is checked before anything runs; recovery without a record is BACKUP_KEY_NOT_FOUND', async () => {
  const { wallet, portal } = setup()
  const cipherText = await backup(portal)
  for (const custom of [undefined, null, {}, { read: async () => null }, { read: 1, write: async () => {} }]) {
    await rejectsWith(portal.backupWallet('custom', null, { custom }), 'INVALID_ARGUMENT', { typeError: true })
  }
  assert.equal(wallet.calls.getShares, 1)
  // A password cipherText is not opened by the custom method, and the reverse.
  const pw = await portal.backupWallet('password', null, { passwordStorage: { password: 'pw' } })
  wallet.state.shares = ''
  const empty = memoryStorage()
  await rejectsWith(portal.recoverWallet(cipherText, 'custom', null, { custom: empty.adapter }), 'BACKUP_KEY_NOT_FOUND', { typeError: false })
  assert.equal(wallet.state.shares, '')
  await rejectsWith(portal.recoverWallet(pw, 'custom'), 'METHOD_MISMATCH', { typeError: false })
  await rejectsWith(portal.recoverWallet(cipherText, 'password', null, { passwordStorage: { password: 'pw' } }), 'METHOD_MISMATCH', { typeError: false })
  assert.ok(SAMPLE_SHARES)
})
