// The Portal flow of the Node.js build, end to end.
//
//   node --test tests/js/portal.test.mjs
//
// Needs the built package in pkg/ (`node scripts/build.mjs`).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Portal, BackupMethods, MpcStatuses, backupWallet, recoverWallet } from '../../pkg/node/index.mjs'
import { memoryWallet, rejectsWith, kdfParamsOf, settle, SAMPLE_SHARES } from './helpers.mjs'
import { failOnUnhandled } from '../unhandled.mjs'

const PASSWORD = 'correct horse battery staple'
const pw = (password = PASSWORD, kdf) => ({ passwordStorage: kdf ? { password, kdf } : { password } })

const BACKUP_STATUSES = [
  MpcStatuses.ReadingShare,
  MpcStatuses.GeneratingShare,
  MpcStatuses.EncryptingShare,
  MpcStatuses.StoringShare,
  MpcStatuses.Done,
]
const RECOVERY_STATUSES = [
  MpcStatuses.ReadingShare,
  MpcStatuses.DecryptingShare,
  MpcStatuses.RecoveringBackupShare,
  MpcStatuses.StoringShare,
  MpcStatuses.Done,
]

// Any unhandled rejection or uncaught exception during this file is a failure.
failOnUnhandled('the Portal tests')

/** A progress recorder: `events` collects copies of what `onProgress` received. */
function recorder() {
  const events = []
  const onProgress = (e) => {
    events.push({ status: e.status, done: e.done })
  }
  return { events, onProgress }
}

/** Backs up `wallet`'s shares, empties its keychain, recovers, checks the shares are back. */
async function roundTrip(portal, wallet, { method = 'password', password = PASSWORD } = {}) {
  const original = wallet.state.shares
  const cipherText = await portal.backupWallet(method, null, pw(password))
  wallet.state.shares = ''
  await portal.recoverWallet(cipherText, method, null, pw(password))
  assert.equal(wallet.state.shares, original)
  return cipherText
}

test('exports: BackupMethods and MpcStatuses have exactly the documented values and are frozen', () => {
  assert.deepEqual({ ...BackupMethods }, {
    Password: 'password',
    Passkey: 'passkey',
    GoogleDrive: 'gdrive',
    iCloud: 'icloud',
    Firebase: 'firebase',
    Custom: 'custom',
    password: 'password',
    passkey: 'passkey',
    gdrive: 'gdrive',
    icloud: 'icloud',
    firebase: 'firebase',
    custom: 'custom',
  })
  assert.deepEqual({ ...MpcStatuses }, {
    ReadingShare: 'Reading share',
    GeneratingShare: 'Generating share',
    EncryptingShare: 'Encrypting share',
    StoringShare: 'Storing share',
    DecryptingShare: 'Decrypting share',
    ParsingShare: 'Parsing share',
    RecoveringBackupShare: 'Recovering backup share',
    RecoveringSigningShare: 'Recovering signing share',
    Done: 'Done',
  })
  assert.ok(Object.isFrozen(BackupMethods))
  assert.ok(Object.isFrozen(MpcStatuses))
  assert.equal(typeof Portal, 'function')
  assert.equal(typeof backupWallet, 'function')
  assert.equal(typeof recoverWallet, 'function')
})

test('Portal: backup → clear keychain → recover gives back the same shares', async () => {
  const wallet = memoryWallet()
  const portal = new Portal({ keychain: wallet.keychain, custodian: wallet.custodian })
  const cipherText = await portal.backupWallet(BackupMethods.Password, null, pw())
  assert.equal(typeof cipherText, 'string')
  assert.match(cipherText, /^wbk1\.[A-Za-z0-9_-]+$/)
  assert.ok(!cipherText.includes(PASSWORD))
  assert.match(wallet.state.record, /^wbc1\.[A-Za-z0-9_-]+$/)
  // The shares appear in neither the cipherText nor the custodian record.
  assert.ok(!Buffer.from(cipherText.slice(5), 'base64url').includes(Buffer.from('cm2v1wallet0001')))
  assert.ok(!Buffer.from(wallet.state.record.slice(5), 'base64url').includes(Buffer.from('cm2v1wallet0001')))

  wallet.state.shares = ''
  const result = await portal.recoverWallet(cipherText, BackupMethods.Password, null, pw())
  assert.equal(result, undefined)
  assert.equal(wallet.state.shares, SAMPLE_SHARES)
  assert.equal(wallet.calls.setShares, 1)
})

test('Portal: non-ASCII and one-character shares round-trip exactly', async () => {
  for (const shares of ['x', '{"k":"é😀\u0000\u2028"}', 'ü'.repeat(5000)]) {
    const wallet = memoryWallet(shares)
    const portal = new Portal(wallet)
    await roundTrip(portal, wallet)
  }
})

test('adapters are called as methods: class instances with prototype methods and `this` work', async () => {
  class Keychain {
    #shares = SAMPLE_SHARES
    async getShares() { return this.#shares }
    async setShares(s) { this.#shares = s }
    peek() { return this.#shares }
  }
  class Custodian {
    #record = null
    async read() { return this.#record }
    async write(r) { this.#record = r }
  }
  const keychain = new Keychain()
  const portal = new Portal({ keychain, custodian: new Custodian() })
  const cipherText = await portal.backupWallet('password', null, pw())
  await keychain.setShares('')
  await portal.recoverWallet(cipherText, 'password', null, pw())
  assert.equal(keychain.peek(), SAMPLE_SHARES)
})

test('adapters that are functions (classes with static methods) work, since new Portal accepts them', async () => {
  // js/api.mjs's isObject() accepts functions, so `new Portal` takes these;
  // the operation must then not reject them as "adapter missing".
  class Keychain {
    static shares = SAMPLE_SHARES
    static async getShares() { return Keychain.shares }
    static async setShares(s) { Keychain.shares = s }
  }
  class Custodian {
    static record = null
    static async read() { return Custodian.record }
    static async write(r) { Custodian.record = r }
  }
  const portal = new Portal({ keychain: Keychain, custodian: Custodian })
  const cipherText = await portal.backupWallet('password', null, pw())
  Keychain.shares = ''
  await portal.recoverWallet(cipherText, 'password', null, pw())
  assert.equal(Keychain.shares, SAMPLE_SHARES)
})

test('size limit: shares of 2^20 - 32 bytes (the largest FORMAT.md allows) round-trip; one byte more is INVALID_ARGUMENT', async () => {
  const largest = 'S'.repeat((1 << 20) - 32)
  const wallet = memoryWallet(largest)
  const portal = new Portal(wallet)
  await roundTrip(portal, wallet)
  const tooLarge = memoryWallet(largest + 'S')
  await rejectsWith(new Portal(tooLarge).backupWallet('password', null, pw()), 'INVALID_ARGUMENT')
  assert.equal(tooLarge.calls.write, 0)
  // Multi-byte characters count in UTF-8 bytes, not UTF-16 units.
  const wide = memoryWallet('\u00e9'.repeat((1 << 19) - 15))
  await rejectsWith(new Portal(wide).backupWallet('password', null, pw()), 'INVALID_ARGUMENT')
})

test('free functions backupWallet/recoverWallet do the same round trip', async () => {
  const wallet = memoryWallet()
  const config = { keychain: wallet.keychain, custodian: wallet.custodian, ...pw() }
  const cipherText = await backupWallet('password', null, config)
  wallet.state.shares = ''
  await recoverWallet(cipherText, 'password', null, config)
  assert.equal(wallet.state.shares, SAMPLE_SHARES)
  // A Portal over the same adapters opens what the free function sealed.
  wallet.state.shares = ''
  await new Portal(wallet).recoverWallet(cipherText, 'password', null, pw())
  assert.equal(wallet.state.shares, SAMPLE_SHARES)
})

test('progress: backup reports exactly Reading → Generating → Encrypting → Storing → Done, done only on Done', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  const { events, onProgress } = recorder()
  await portal.backupWallet('password', onProgress, pw())
  assert.deepEqual(events.map((e) => e.status), BACKUP_STATUSES)
  assert.deepEqual(events.map((e) => e.done), [false, false, false, false, true])
})

test('progress: recovery reports exactly Reading → Decrypting → Recovering backup share → Storing → Done', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  const cipherText = await portal.backupWallet('password', null, pw())
  const { events, onProgress } = recorder()
  await portal.recoverWallet(cipherText, 'password', onProgress, pw())
  assert.deepEqual(events.map((e) => e.status), RECOVERY_STATUSES)
  assert.deepEqual(events.map((e) => e.done), [false, false, false, false, true])
})

test('progress: every event object is { status, done } with a known status', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  const seen = []
  const cipherText = await portal.backupWallet('password', (e) => seen.push(e), pw())
  await portal.recoverWallet(cipherText, 'password', (e) => seen.push(e), pw())
  const known = new Set(Object.values(MpcStatuses))
  for (const e of seen) {
    assert.deepEqual(Object.keys(e).sort(), ['done', 'status'])
    assert.ok(known.has(e.status), e.status)
    assert.equal(typeof e.done, 'boolean')
  }
})

test('progress: a failing step never reports Done (backup and recovery)', async (t) => {
  const noDone = (events) => {
    assert.ok(!events.some((e) => e.status === MpcStatuses.Done), JSON.stringify(events))
    assert.ok(!events.some((e) => e.done), JSON.stringify(events))
  }

  await t.test('backup: custodian.write rejects', async () => {
    const wallet = memoryWallet()
    wallet.faults.writeRejects = new Error('disk full')
    const { events, onProgress } = recorder()
    await rejectsWith(new Portal(wallet).backupWallet('password', onProgress, pw()), 'CUSTODIAN_UNAVAILABLE')
    noDone(events)
    assert.deepEqual(events.map((e) => e.status), BACKUP_STATUSES.slice(0, 4))
  })

  await t.test('backup: custodian reads back different data', async () => {
    const wallet = memoryWallet()
    wallet.faults.readOverride = null
    wallet.faults.readOverrideCount = 2 // the initial read and the read-back
    const { events, onProgress } = recorder()
    await rejectsWith(new Portal(wallet).backupWallet('password', onProgress, pw()), 'CUSTODIAN_UNAVAILABLE')
    noDone(events)
  })

  await t.test('backup: keychain.getShares rejects', async () => {
    const wallet = memoryWallet()
    wallet.keychain.getShares = async () => {
      throw new Error('locked')
    }
    const { events, onProgress } = recorder()
    await rejectsWith(new Portal(wallet).backupWallet('password', onProgress, pw()), 'KEYCHAIN_UNAVAILABLE')
    noDone(events)
    assert.deepEqual(events.map((e) => e.status), [MpcStatuses.ReadingShare])
  })

  await t.test('recovery: wrong password', async () => {
    const wallet = memoryWallet()
    const portal = new Portal(wallet)
    const cipherText = await portal.backupWallet('password', null, pw())
    const { events, onProgress } = recorder()
    await rejectsWith(portal.recoverWallet(cipherText, 'password', onProgress, pw('nope')), 'WRONG_PASSWORD')
    noDone(events)
    assert.equal(wallet.calls.setShares, 0)
  })

  await t.test('recovery: keychain.setShares rejects', async () => {
    const wallet = memoryWallet()
    const portal = new Portal(wallet)
    const cipherText = await portal.backupWallet('password', null, pw())
    wallet.keychain.setShares = async () => {
      throw new Error('read-only keychain')
    }
    const { events, onProgress } = recorder()
    await rejectsWith(portal.recoverWallet(cipherText, 'password', onProgress, pw()), 'KEYCHAIN_UNAVAILABLE')
    noDone(events)
    assert.deepEqual(events.map((e) => e.status), RECOVERY_STATUSES.slice(0, 4))
  })

  await t.test('recovery: corrupted cipherText', async () => {
    const wallet = memoryWallet()
    const portal = new Portal(wallet)
    const cipherText = await portal.backupWallet('password', null, pw())
    const { events, onProgress } = recorder()
    // A character in the middle: all six of its bits are data. (The last one may carry
    // padding bits, and changing those makes a non-canonical string: INVALID_CIPHERTEXT.)
    const at = cipherText.length >> 1
    const broken = cipherText.slice(0, at) + (cipherText[at] === 'A' ? 'B' : 'A') + cipherText.slice(at + 1)
    await rejectsWith(portal.recoverWallet(broken, 'password', onProgress, pw()), 'CIPHERTEXT_CORRUPTED')
    noDone(events)
  })
})

test('method ids: upper-case PASSWORD works for backup and recovery, in both directions', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  await roundTrip(portal, wallet, { method: 'PASSWORD' })
  const cipherText = await portal.backupWallet('PASSWORD', null, pw())
  wallet.state.shares = ''
  await portal.recoverWallet(cipherText, 'password', null, pw())
  assert.equal(wallet.state.shares, SAMPLE_SHARES)
  const lower = await portal.backupWallet('password', null, pw())
  wallet.state.shares = ''
  await portal.recoverWallet(lower, 'PASSWORD', null, pw())
  assert.equal(wallet.state.shares, SAMPLE_SHARES)
})

test('NFC: a password typed decomposed (e + U+0301) recovers a backup made composed (U+00E9), and vice versa', async () => {
  const composed = 'caf\u00e9-\u00c5ngstr\u00f6m'
  const decomposed = 'cafe\u0301-A\u030angstro\u0308m'
  assert.notEqual(composed, decomposed)
  assert.equal(composed, decomposed.normalize('NFC'))
  const wallet = memoryWallet()
  const portal = new Portal(wallet)

  const a = await portal.backupWallet('password', null, pw(composed))
  wallet.state.shares = ''
  await portal.recoverWallet(a, 'password', null, pw(decomposed))
  assert.equal(wallet.state.shares, SAMPLE_SHARES)

  const b = await portal.backupWallet('password', null, pw(decomposed))
  wallet.state.shares = ''
  await portal.recoverWallet(b, 'password', null, pw(composed))
  assert.equal(wallet.state.shares, SAMPLE_SHARES)

  // Normalisation is NFC, not NFKC: a compatibility variant is a different password.
  const ligature = await portal.backupWallet('password', null, pw('\ufb01le-pin')) // U+FB01 "ﬁ"
  await rejectsWith(portal.recoverWallet(ligature, 'password', null, pw('file-pin')), 'WRONG_PASSWORD')
})

test('kdf: defaults are m=19456 KiB, t=2, p=1 in the header (FORMAT.md §3.4.1)', async () => {
  const wallet = memoryWallet()
  const cipherText = await new Portal(wallet).backupWallet('password', null, pw())
  const p = kdfParamsOf(cipherText)
  assert.equal(p.method, 1)
  assert.equal(p.paramsLen, 29)
  assert.equal(p.kdf, 1)
  assert.deepEqual([p.memoryKiB, p.iterations, p.parallelism], [19456, 2, 1])
})

test('kdf: the option raises the costs recorded in the header, and the backup still recovers', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  const kdf = { memoryKiB: 32768, iterations: 3, parallelism: 2 }
  const cipherText = await portal.backupWallet('password', null, pw(PASSWORD, kdf))
  const p = kdfParamsOf(cipherText)
  assert.deepEqual([p.kdf, p.memoryKiB, p.iterations, p.parallelism], [1, 32768, 3, 2])
  wallet.state.shares = ''
  // Recovery takes the costs from the cipherText, whatever kdf it is given.
  await portal.recoverWallet(cipherText, 'password', null, pw(PASSWORD, { iterations: 5 }))
  assert.equal(wallet.state.shares, SAMPLE_SHARES)

  // A partial kdf keeps the defaults for the fields it leaves out.
  const partial = kdfParamsOf(await portal.backupWallet('password', null, pw(PASSWORD, { iterations: 4 })))
  assert.deepEqual([partial.memoryKiB, partial.iterations, partial.parallelism], [19456, 4, 1])
})

test('kdf: below-floor or out-of-bounds costs are INVALID_ARGUMENT, and nothing is written', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  for (const kdf of [
    { memoryKiB: 19455 },
    { memoryKiB: 1024 },
    { iterations: 1 },
    { iterations: 0 },
    { parallelism: 0 },
    { memoryKiB: 1048577 },
    { iterations: 17 },
    { parallelism: 17 },
    { memoryKiB: 1048576, iterations: 3 }, // memory × passes above 2 GiB·pass
    { memoryKiB: 19456.5 },
    { iterations: -2 },
    { iterations: Number.NaN },
    { iterations: Infinity },
  ]) {
    const error = await rejectsWith(portal.backupWallet('password', null, pw(PASSWORD, kdf)), 'INVALID_ARGUMENT')
    assert.ok(!error.message.includes(PASSWORD))
  }
  assert.equal(wallet.calls.write, 0, 'custodian written despite an invalid kdf')
  assert.equal(wallet.state.record, null)
})

test('each backup gives a different cipherText (fresh backup id, salt and nonce)', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  const texts = []
  for (let i = 0; i < 3; i++) texts.push(await portal.backupWallet('password', null, pw()))
  assert.equal(new Set(texts).size, 3)
  const params = texts.map(kdfParamsOf)
  assert.equal(new Set(params.map((p) => p.backupId)).size, 3)
  assert.equal(new Set(params.map((p) => p.salt)).size, 3)
  // The two most recent earlier backups stay recoverable besides the newest.
  for (const cipherText of texts) {
    wallet.state.shares = ''
    await portal.recoverWallet(cipherText, 'password', null, pw())
    assert.equal(wallet.state.shares, SAMPLE_SHARES)
  }
})

test('a later backup whose custodian.write rejects leaves the previous backup recoverable', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  const first = await portal.backupWallet('password', null, pw())
  const recordBefore = wallet.state.record

  const cause = new Error('network down')
  wallet.faults.writeRejects = cause
  const error = await rejectsWith(portal.backupWallet('password', null, pw()), 'CUSTODIAN_UNAVAILABLE')
  assert.equal(error.cause, cause)
  assert.equal(wallet.state.record, recordBefore)
  wallet.faults.writeRejects = null

  wallet.state.shares = ''
  await portal.recoverWallet(first, 'password', null, pw())
  assert.equal(wallet.state.shares, SAMPLE_SHARES)
})

test('a later backup whose second write (marking it complete) rejects: no Done, the previous backup still recovers', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  const first = await portal.backupWallet('password', null, pw())
  const write = wallet.custodian.write
  let writes = 0
  wallet.custodian.write = async (r) => {
    if (++writes === 2) throw new Error('connection reset')
    await write(r)
  }
  const { events, onProgress } = recorder()
  const error = await rejectsWith(portal.backupWallet('password', onProgress, pw()), 'CUSTODIAN_UNAVAILABLE')
  assert.equal(error.cause.message, 'connection reset')
  assert.equal(writes, 2)
  assert.ok(!events.some((e) => e.status === MpcStatuses.Done || e.done))
  wallet.custodian.write = write
  wallet.state.shares = ''
  await portal.recoverWallet(first, 'password', null, pw())
  assert.equal(wallet.state.shares, SAMPLE_SHARES)
})

test('a later backup whose custodian reads back different data leaves the previous backup recoverable', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  const first = await portal.backupWallet('password', null, pw())
  const stale = wallet.state.record

  // An eventually consistent store: the read-back right after the write still
  // returns the old record (the write itself did land).
  const originalWrite = wallet.custodian.write
  wallet.custodian.write = async (r) => {
    await originalWrite(r)
    wallet.faults.readOverride = stale
    wallet.faults.readOverrideCount = 1
  }
  const { events, onProgress } = recorder()
  await rejectsWith(portal.backupWallet('password', onProgress, pw()), 'CUSTODIAN_UNAVAILABLE')
  assert.ok(!events.some((e) => e.done))
  assert.notEqual(wallet.state.record, stale, 'the pending record should have been written')
  wallet.custodian.write = originalWrite

  wallet.state.shares = ''
  await portal.recoverWallet(first, 'password', null, pw())
  assert.equal(wallet.state.shares, SAMPLE_SHARES)

  // A custodian that reads back garbage: the previous backup still recovers.
  wallet.custodian.write = async (r) => {
    await originalWrite(r)
    wallet.faults.readOverride = 'wbc1.something-else'
    wallet.faults.readOverrideCount = 1
  }
  await rejectsWith(portal.backupWallet('password', null, pw()), 'CUSTODIAN_UNAVAILABLE')
  wallet.custodian.write = originalWrite
  wallet.state.shares = ''
  await portal.recoverWallet(first, 'password', null, pw())
  assert.equal(wallet.state.shares, SAMPLE_SHARES)

  // And the next successful backup works, without dropping the first one.
  const next = await portal.backupWallet('password', null, pw())
  for (const cipherText of [first, next]) {
    wallet.state.shares = ''
    await portal.recoverWallet(cipherText, 'password', null, pw())
    assert.equal(wallet.state.shares, SAMPLE_SHARES)
  }
})

test('a backup over a custodian record it cannot read fails without overwriting it', async () => {
  const wallet = memoryWallet(SAMPLE_SHARES, 'wbc1.not-a-record')
  await rejectsWith(new Portal(wallet).backupWallet('password', null, pw()), 'INVALID_CUSTODIAN_SHARE')
  assert.equal(wallet.calls.write, 0)
  assert.equal(wallet.state.record, 'wbc1.not-a-record')
})

test('progress callbacks that throw or reject break neither backup nor recovery, and leave no unhandled rejection', async (t) => {
  const localUnhandled = []
  const local = (r) => localUnhandled.push(r)
  process.on('unhandledRejection', local)
  try {
    const callbacks = {
      'throws an Error': () => {
        throw new Error('progress UI crashed')
      },
      'throws a non-Error': () => {
        throw 'just a string' // eslint-disable-line no-throw-literal
      },
      'async, rejects': async () => {
        throw new Error('async progress UI crashed')
      },
      'returns Promise.reject': () => Promise.reject(new Error('rejected progress')),
      'rejects later': () => new Promise((_, reject) => setTimeout(() => reject(new Error('late rejection')), 1)),
      'is a class (calling it throws)': class Progress {},
    }
    for (const [name, onProgress] of Object.entries(callbacks)) {
      await t.test(name, async () => {
        const wallet = memoryWallet()
        const portal = new Portal(wallet)
        const cipherText = await portal.backupWallet('password', onProgress, pw())
        wallet.state.shares = ''
        await portal.recoverWallet(cipherText, 'password', onProgress, pw())
        assert.equal(wallet.state.shares, SAMPLE_SHARES)
        await settle(30)
      })
    }
    await settle(30)
    assert.deepEqual(localUnhandled, [])
  } finally {
    process.off('unhandledRejection', local)
  }
})

test('concurrency: a second backup on the same keychain while one runs → WALLET_MODIFICATION_ALREADY_IN_PROGRESS', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  const first = portal.backupWallet('password', null, pw())
  const second = portal.backupWallet('password', null, pw())
  const [a, b] = await Promise.allSettled([first, second])
  assert.equal(a.status, 'fulfilled', a.reason?.message)
  assert.equal(b.status, 'rejected')
  await rejectsWith(Promise.reject(b.reason), 'WALLET_MODIFICATION_ALREADY_IN_PROGRESS')

  // After both settled, a new backup works and the first one recovers.
  const third = await portal.backupWallet('password', null, pw())
  for (const cipherText of [a.value, third]) {
    wallet.state.shares = ''
    await portal.recoverWallet(cipherText, 'password', null, pw())
    assert.equal(wallet.state.shares, SAMPLE_SHARES)
  }
})

test('concurrency: the lock is per keychain — another Portal or the free function on the same keychain is refused, other wallets run in parallel', async () => {
  const wallet = memoryWallet()
  const other = memoryWallet('{"other":"wallet"}')
  const portal = new Portal(wallet)
  const running = portal.backupWallet('password', null, pw())
  const sameKeychainOtherPortal = new Portal({ keychain: wallet.keychain, custodian: memoryWallet().custodian }).backupWallet('password', null, pw())
  const sameKeychainFree = backupWallet('password', null, { keychain: wallet.keychain, custodian: wallet.custodian, ...pw() })
  const recoveryMeanwhile = portal.recoverWallet('wbk1.AAAA', 'password', null, pw())
  const otherWallet = new Portal(other).backupWallet('password', null, pw())
  const results = await Promise.allSettled([running, sameKeychainOtherPortal, sameKeychainFree, recoveryMeanwhile, otherWallet])
  assert.equal(results[0].status, 'fulfilled')
  for (const r of results.slice(1, 4)) {
    assert.equal(r.status, 'rejected')
    assert.equal(r.reason.code, 'WALLET_MODIFICATION_ALREADY_IN_PROGRESS', r.reason.message)
  }
  assert.equal(results[4].status, 'fulfilled', results[4].reason?.message)
  await roundTrip(portal, wallet)
})

test('concurrency: a recovery in flight blocks a backup of the same keychain', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  const cipherText = await portal.backupWallet('password', null, pw())
  wallet.state.shares = ''
  const recovering = portal.recoverWallet(cipherText, 'password', null, pw())
  const backingUp = portal.backupWallet('password', null, pw())
  const [r, b] = await Promise.allSettled([recovering, backingUp])
  assert.equal(r.status, 'fulfilled', r.reason?.message)
  assert.equal(b.status, 'rejected')
  assert.equal(b.reason.code, 'WALLET_MODIFICATION_ALREADY_IN_PROGRESS')
  assert.equal(wallet.state.shares, SAMPLE_SHARES)
})

test('concurrency: a progress callback that starts another backup of the same wallet is refused; after Done it is allowed', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  const nested = {}
  const cipherText = await portal.backupWallet('password', (e) => {
    if (e.status === MpcStatuses.ReadingShare) nested.early = portal.backupWallet('password', null, pw())
    if (e.status === MpcStatuses.Done) nested.late = portal.backupWallet('password', null, pw())
  }, pw())
  await rejectsWith(nested.early, 'WALLET_MODIFICATION_ALREADY_IN_PROGRESS')
  const late = await nested.late
  for (const c of [cipherText, late]) {
    wallet.state.shares = ''
    await portal.recoverWallet(c, 'password', null, pw())
    assert.equal(wallet.state.shares, SAMPLE_SHARES)
  }
})

test('the busy lock is released after failures: a failed backup/recovery does not block the next one', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  const getShares = wallet.keychain.getShares
  wallet.keychain.getShares = () => {
    throw new Error('sync throw')
  }
  await rejectsWith(portal.backupWallet('password', null, pw()), 'KEYCHAIN_UNAVAILABLE')
  wallet.keychain.getShares = getShares
  await rejectsWith(portal.recoverWallet('garbage', 'password', null, pw()), 'INVALID_CIPHERTEXT')
  await roundTrip(portal, wallet)
})

test('after every kind of error the same module instance keeps working', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  const good = await portal.backupWallet('password', null, pw())
  const attempts = [
    ['PASSWORD_REQUIRED', () => portal.backupWallet('password', null, {})],
    ['PASSWORD_REQUIRED', () => portal.recoverWallet(good, 'password', null, pw(''))],
    ['WRONG_PASSWORD', () => portal.recoverWallet(good, 'password', null, pw('wrong'))],
    ['CIPHERTEXT_CORRUPTED', () => portal.recoverWallet(good.slice(0, 40) + (good[40] === 'A' ? 'B' : 'A') + good.slice(41), 'password', null, pw())],
    ['INVALID_CIPHERTEXT', () => portal.recoverWallet('wbk1.' + 'A'.repeat(2_000_000), 'password', null, pw())],
    ['INVALID_CIPHERTEXT', () => portal.recoverWallet('\u{1F600}'.repeat(10), 'password', null, pw())],
    ['UNSUPPORTED_STORAGE_METHOD', () => portal.backupWallet('carrier-pigeon', null, pw())],
    ['INVALID_ARGUMENT', () => portal.backupWallet(42, null, pw())],
    ['INVALID_ARGUMENT', () => portal.backupWallet('password', null, pw('x'.repeat(4097)))],
    ['INVALID_ARGUMENT', () => new Portal(memoryWallet('s'.repeat((1 << 20) + 1))).backupWallet('password', null, pw())],
    ['KEYCHAIN_UNAVAILABLE', () => backupWallet('password', null, { keychain: { getShares: async () => 7 }, custodian: wallet.custodian, ...pw() })],
    ['CUSTODIAN_UNAVAILABLE', () => new Portal({ keychain: memoryWallet().keychain, custodian: { read: () => { throw new Error('x') }, write() {} } }).backupWallet('password', null, pw())],
    ['INVALID_CUSTODIAN_SHARE', () => new Portal({ keychain: memoryWallet().keychain, custodian: { read: async () => 'junk', write() {} } }).recoverWallet(good, 'password', null, pw())],
  ]
  for (const [code, attempt] of attempts) {
    await rejectsWith(attempt, code)
    // The module answers normally after each failure.
    const w = memoryWallet()
    await roundTrip(new Portal(w), w)
  }
  wallet.state.shares = ''
  await portal.recoverWallet(good, 'password', null, pw())
  assert.equal(wallet.state.shares, SAMPLE_SHARES)
})
