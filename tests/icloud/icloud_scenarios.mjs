// The iCloud method's scenarios, shared by Node.js and headless Chromium
// (icloud.test.mjs runs both), so they import only the checks both engines
// run (../scenario_checks.mjs): the test page loads this file from
// /tests/icloud/icloud_scenarios.mjs. Each scenario is `async (ctx)` with:
//   ctx.Portal, ctx.ICloudStorage     the package's exports
//   ctx.apiHost, ctx.apiKey           the real backup service and a fresh client (custodian half)
//   ctx.cloudKitHost                  the local CloudKit Web Services server (dev/cloudkit-server.mjs), with its control routes
//   ctx.containerIdentifier, ctx.apiToken   its container and the container's API token
// and throws an Error when something is not as expected.

import { check, equal, rejects } from '../scenario_checks.mjs'

export const SHARES = JSON.stringify({ secp256k1: { id: 'ic-wallet', share: 'cd'.repeat(32) } })
const shares = (n) => JSON.stringify({ secp256k1: { id: 'ic-wallet', share: String(n).padStart(2, '0').repeat(32) } })
const RECORD_NAME = 'wallet-backup-keys'
const RECORD_TYPE = 'WalletBackupKeys'

function throws(f, code, what) {
  let error
  try {
    f()
  } catch (e) {
    error = e
  }
  check(error instanceof TypeError && error.code === code, `${what}: expected a TypeError with ${code}, got ${error?.code}: ${error?.message}`)
}

async function control(ctx, path, body) {
  // No Content-Type: a simple request, so the page sends no preflight for it.
  const res = await fetch(`${ctx.cloudKitHost}/__cloudkit/${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) })
  check(res.status === 200, `control ${path} answered ${res.status}`)
  return res.json()
}

const fault = (ctx, f) => control(ctx, 'fault', f)
const records = (ctx, w) => control(ctx, `records?user=${encodeURIComponent(w.user)}&environment=${w.environment}`)
const ckLog = (ctx, w) => control(ctx, 'log').then((log) => log.filter((e) => e.user === w.user || e.user === null))
const keysOf = (rs) => rs.map((r) => r.fields.keys?.value)

/** Every secret a CloudKit wallet handed the module: the API token and each web auth token, raw and URL-encoded. */
const secretsOf = (ctx, w) => [ctx.apiToken, ...w.tokensSeen].flatMap((t) => [t, encodeURIComponent(t)])

/** Neither token may be in anything the error carries. */
function noSecrets(ctx, w, error, what) {
  const cause = error.cause
  const texts = [String(error), error.message, String(error.stack), JSON.stringify(cause) ?? '', String(cause), String(cause?.message), String(cause?.stack)]
  for (const secret of secretsOf(ctx, w)) {
    check(!texts.some((t) => t.includes(secret)), `${what}: a token is in the error or its cause`)
  }
}

/**
 * A wallet on CloudKit: keychain, a signed-in iCloud user (unless `signedIn: false`), an
 * ICloudStorage that keeps each web auth token CloudKit hands on (unless `keepRotated: false`),
 * and a Portal on the service with `backup: { icloud }`.
 */
async function wallet(ctx, { signedIn = true, keepRotated = true, environment = 'development' } = {}) {
  const user = `user-${Math.random().toString(36).slice(2)}`
  const w = { user, environment, state: { shares: SHARES }, tokenCalls: 0, rotated: [], tokensSeen: [] }
  w.webAuthToken = signedIn ? (await control(ctx, 'token', { user })).webAuthToken : null
  if (w.webAuthToken) w.tokensSeen.push(w.webAuthToken)
  const keychain = { getShares: async () => w.state.shares, setShares: async (s) => void (w.state.shares = s) }
  w.icloud = new ctx.ICloudStorage({
    containerIdentifier: ctx.containerIdentifier,
    environment,
    apiToken: ctx.apiToken,
    cloudKitHost: ctx.cloudKitHost,
    getWebAuthToken: async () => {
      w.tokenCalls++
      return w.webAuthToken
    },
    onWebAuthToken: (token) => {
      w.rotated.push(token)
      w.tokensSeen.push(token)
      if (keepRotated) w.webAuthToken = token
    },
  })
  w.portal = new ctx.Portal({ apiKey: ctx.apiKey, apiHost: ctx.apiHost, keychain, backup: { icloud: w.icloud } })
  return w
}

async function backup(w) {
  const events = []
  const cipherText = await w.portal.backupWallet('icloud', (e) => events.push(e))
  equal(events.filter((e) => e.done).map((e) => e.status), ['Done'], 'Done events')
  equal(events.at(-1).status, 'Done', 'last status')
  return cipherText
}

async function failedBackup(ctx, w, code, what) {
  const events = []
  const error = await rejects(w.portal.backupWallet('icloud', (e) => events.push(e)), code, what)
  check(!events.some((e) => e.done || e.status === 'Done'), `${what}: Done was reported`)
  if (w.tokensSeen) noSecrets(ctx, w, error, what)
  return error
}

async function recovers(w, cipherText, expected, what) {
  w.state.shares = ''
  await w.portal.recoverWallet(cipherText, 'icloud')
  equal(w.state.shares, expected, what)
}

/** A key-value store with AsyncStorage's shape over a Map; `hooks` change what it does. */
function keyValueStore(hooks = {}) {
  const map = new Map()
  const calls = { getItem: 0, setItem: 0, removeItem: 0 }
  return {
    map,
    calls,
    async getItem(key) {
      calls.getItem++
      if (hooks.getItem) return hooks.getItem(key, map)
      return map.has(key) ? map.get(key) : null
    },
    async setItem(key, value) {
      calls.setItem++
      if (hooks.setItem) return hooks.setItem(key, value, map)
      map.set(key, value)
    },
    async removeItem(key) {
      calls.removeItem++
      map.delete(key)
    },
  }
}

/** A wallet on the app's key-value store (React Native's path, which runs in any engine). */
function kvWallet(ctx, store) {
  const w = { state: { shares: SHARES }, store }
  const keychain = { getShares: async () => w.state.shares, setShares: async (s) => void (w.state.shares = s) }
  w.icloud = new ctx.ICloudStorage({ keyValueStore: store })
  w.portal = new ctx.Portal({ apiKey: ctx.apiKey, apiHost: ctx.apiHost, keychain, backup: { icloud: w.icloud } })
  return w
}

export const icloudScenarios = {
  'backup, then recovery from the service and from the cipherText; one WalletBackupKeys record, each request with the next web auth token, no preflight': async (ctx) => {
    const w = await wallet(ctx)
    const cipherText = await backup(w)
    const stored = await records(ctx, w)
    equal(stored.map((r) => [r.recordName, r.recordType, Object.keys(r.fields)]), [[RECORD_NAME, RECORD_TYPE, ['keys']]], 'records')
    check(/^wbr1\.[A-Za-z0-9_-]+$/.test(stored[0].fields.keys.value), `the field is not a keys record: ${String(stored[0].fields.keys.value).slice(0, 20)}`)
    equal(stored[0].fields.keys.type, 'STRING', 'field type')
    equal(await w.portal.availableRecoveryMethods(), ['icloud'], 'recovery methods')
    await recovers(w, '', SHARES, "shares after recoverWallet('')")
    await recovers(w, cipherText, SHARES, 'shares after recoverWallet(cipherText)')
    const log = await ckLog(ctx, w)
    equal(log.filter((e) => e.method === 'OPTIONS').length, 0, 'CORS preflights (the tokens would go out twice)')
    check(log.length > 0 && log.every((e) => e.user === w.user && e.status === 200), `requests refused: ${JSON.stringify(log)}`)
    equal([...new Set(log.map((e) => e.route))].sort(), ['lookup', 'modify'], 'routes used')
    equal(log.filter((e) => e.route === 'modify').map((e) => e.operations), [['create'], ['update']], 'modify operations of the backup')
    // Each request spent its token and used the one the answer before handed on.
    equal(log.map((e) => e.tokenUsed), log.map((_, i) => i + 1), 'tokens used, in order')
    equal(w.tokenCalls, 3, 'getWebAuthToken calls (once per call)')
    equal(w.rotated.length, log.length, 'tokens handed to onWebAuthToken')
    // The spent first token opens nothing any more.
    const stale = new ctx.ICloudStorage({ containerIdentifier: ctx.containerIdentifier, environment: 'development', apiToken: ctx.apiToken, cloudKitHost: ctx.cloudKitHost, getWebAuthToken: async () => w.tokensSeen[0] })
    w.state.shares = ''
    const error = await rejects(w.portal.recoverWallet(cipherText, 'icloud', null, { icloud: stale }), 'ICLOUD_UNAUTHENTICATED', 'a spent web auth token')
    noSecrets(ctx, w, error, 'a spent web auth token')
  },

  'a second backup keeps the first recoverable; five backups leave one record, and the newest three recover': async (ctx) => {
    const w = await wallet(ctx)
    const cipherTexts = []
    for (let i = 1; i <= 5; i++) {
      w.state.shares = shares(i)
      cipherTexts.push(await backup(w))
      if (i === 2) await recovers(w, cipherTexts[0], shares(1), 'the first backup after the second')
    }
    equal((await records(ctx, w)).length, 1, 'records after five backups')
    for (const i of [3, 4, 5]) await recovers(w, cipherTexts[i - 1], shares(i), `backup ${i}`)
    await recovers(w, '', shares(5), 'the newest backup')
    // The keys record keeps the newest three keys, and the service the newest three backups
    // (serve --keep-completed): recovery asks the service first.
    await rejects(w.portal.recoverWallet(cipherTexts[0], 'icloud'), 'INVALID_CUSTODIAN_SHARE', 'the oldest backup')
  },

  'getWebAuthToken resolving to null (signed out) is ICLOUD_UNAUTHENTICATED before any request; a throw is its cause': async (ctx) => {
    const w = await wallet(ctx, { signedIn: false })
    await control(ctx, 'reset', {})
    await failedBackup(ctx, w, 'ICLOUD_UNAUTHENTICATED', 'signed out')
    equal(w.tokenCalls, 1, 'getWebAuthToken calls')
    equal((await control(ctx, 'log')).length, 0, 'CloudKit requests')
    equal(await w.portal.isWalletBackedUp(), false, 'backed up')
    equal(await w.icloud.validateOperations(), false, 'validateOperations signed out')
    const thrown = new Error('iCloud sign-in failed')
    const throwing = new ctx.ICloudStorage({ containerIdentifier: ctx.containerIdentifier, environment: 'development', apiToken: ctx.apiToken, cloudKitHost: ctx.cloudKitHost, getWebAuthToken: () => { throw thrown } })
    const error = await rejects(w.portal.backupWallet('icloud', null, { icloud: throwing }), 'ICLOUD_UNAUTHENTICATED', 'a throwing getWebAuthToken')
    check(error.cause === thrown, 'the exception is not the cause')
    equal((await control(ctx, 'log')).length, 0, 'CloudKit requests')
  },

  'an expired sign-in (421 AUTHENTICATION_REQUIRED) is ICLOUD_UNAUTHENTICATED with the 421 as cause': async (ctx) => {
    const w = await wallet(ctx)
    const cipherText = await backup(w)
    await control(ctx, 'expire', { user: w.user })
    const error = await failedBackup(ctx, w, 'ICLOUD_UNAUTHENTICATED', 'expired sign-in')
    equal(error.cause, { status: 421, serverErrorCode: 'AUTHENTICATION_REQUIRED' }, 'cause')
    w.state.shares = ''
    const recovery = await rejects(w.portal.recoverWallet(cipherText, 'icloud'), 'ICLOUD_UNAUTHENTICATED', 'recovery with the expired sign-in')
    noSecrets(ctx, w, recovery, 'recovery with the expired sign-in')
    equal(w.state.shares, '', 'keychain')
    equal(await w.icloud.validateOperations(), false, 'validateOperations with the expired sign-in')
    // Signed in again, the backup recovers.
    w.webAuthToken = (await control(ctx, 'token', { user: w.user })).webAuthToken
    w.tokensSeen.push(w.webAuthToken)
    await recovers(w, cipherText, SHARES, 'after signing in again')
  },

  'CloudKit failures (503, a dropped connection, a per-record error) are STORAGE_UNAVAILABLE; the previous good backup still recovers': async (ctx) => {
    const w = await wallet(ctx)
    const good = await backup(w)
    w.state.shares = shares(2)
    await fault(ctx, { route: 'lookup', action: 'status', status: 503 })
    const unavailable = await failedBackup(ctx, w, 'STORAGE_UNAVAILABLE', '503')
    equal(unavailable.cause, { status: 503, serverErrorCode: 'TRY_AGAIN_LATER' }, 'cause of the 503')
    // A browser may resend a request whose connection closed before any answer: drop a few.
    await fault(ctx, { route: 'modify', action: 'drop', times: 3 })
    const dropped = await failedBackup(ctx, w, 'STORAGE_UNAVAILABLE', 'dropped connection')
    check(dropped.cause !== undefined, 'the network failure is not the cause')
    await control(ctx, 'reset', {})
    await fault(ctx, { route: 'modify', action: 'record-error', serverErrorCode: 'QUOTA_EXCEEDED' })
    const quota = await failedBackup(ctx, w, 'STORAGE_UNAVAILABLE', 'per-record QUOTA_EXCEEDED')
    equal(quota.cause, { status: 200, serverErrorCode: 'QUOTA_EXCEEDED' }, 'cause of the per-record error')
    await fault(ctx, { route: 'lookup', action: 'record-error', serverErrorCode: 'AUTHENTICATION_REQUIRED' })
    await failedBackup(ctx, w, 'ICLOUD_UNAUTHENTICATED', 'per-record AUTHENTICATION_REQUIRED')
    await recovers(w, good, SHARES, 'the good backup')
    await recovers(w, '', SHARES, "recoverWallet('') after the failures")
    await fault(ctx, { route: 'lookup', action: 'status', status: 500 })
    w.state.shares = ''
    await rejects(w.portal.recoverWallet(good, 'icloud'), 'STORAGE_UNAVAILABLE', 'recovery with CloudKit failing')
    equal(w.state.shares, '', 'keychain')
  },

  'a read-back that differs fails the backup without Done, and the previous backup still recovers': async (ctx) => {
    const w = await wallet(ctx)
    const first = await backup(w)
    w.state.shares = shares(2)
    // Lookup 1 is the record before the write, lookup 2 the read-back.
    await fault(ctx, { route: 'lookup', action: 'corrupt', skip: 1 })
    await failedBackup(ctx, w, 'STORAGE_UNAVAILABLE', 'corrupted read-back')
    await recovers(w, first, SHARES, 'the previous backup')
    await recovers(w, '', SHARES, "recoverWallet('') after the failed backup")
    w.state.shares = shares(3)
    const third = await backup(w)
    await recovers(w, third, shares(3), 'a later backup')
    await recovers(w, first, SHARES, 'the first backup, still')
  },

  'failed backups, however many, never push out the key of the last good backup': async (ctx) => {
    const w = await wallet(ctx)
    const good = await backup(w)
    for (let i = 0; i < 4; i++) {
      w.state.shares = shares(i + 10)
      // Modify 1 stores the new key (pending), modify 2 would mark it complete.
      await fault(ctx, { route: 'modify', action: 'status', status: 500, skip: 1 })
      const error = await failedBackup(ctx, w, 'STORAGE_UNAVAILABLE', `failing backup ${i}`)
      equal(error.cause, { status: 500, serverErrorCode: 'INTERNAL_ERROR' }, 'cause')
    }
    await recovers(w, good, SHARES, 'the good backup')
  },

  'a conflict re-reads: a record whose tag alone moved is updated with the new tag; keys another device wrote are never overwritten': async (ctx) => {
    const w = await wallet(ctx)
    const first = await backup(w)
    const afterFirst = keysOf(await records(ctx, w))[0]
    w.state.shares = shares(2)
    const second = await backup(w)
    // Another device touches the record between the module's read and its write, keys unchanged.
    w.state.shares = shares(3)
    await control(ctx, 'reset', {})
    await fault(ctx, { route: 'modify', action: 'concurrent' })
    const third = await backup(w)
    const outcomes = (await ckLog(ctx, w)).filter((e) => e.route === 'modify').map((e) => e.outcome)
    equal(outcomes, [['CONFLICT'], ['ok'], ['ok']], 'modify outcomes')
    await recovers(w, third, shares(3), 'the backup written after the conflict')
    await recovers(w, second, shares(2), 'the backup before it')
    // Another device writes other keys (the record as it was after the first backup) meanwhile.
    w.state.shares = shares(4)
    await fault(ctx, { route: 'modify', action: 'concurrent', value: afterFirst })
    const error = await failedBackup(ctx, w, 'STORAGE_UNAVAILABLE', 'keys changed during the backup')
    equal(error.cause, { status: 200, serverErrorCode: 'CONFLICT' }, 'cause')
    equal(keysOf(await records(ctx, w)), [afterFirst], 'the other device\'s keys')
    await recovers(w, first, SHARES, 'the first backup, whose key the other device kept')
    w.state.shares = shares(5)
    const fifth = await backup(w)
    await recovers(w, fifth, shares(5), 'a backup after the conflict')
    // Four backups completed (1, 2, 3, 5): the service keeps the newest three (serve --keep-completed).
    await rejects(w.portal.recoverWallet(first, 'icloud'), 'INVALID_CUSTODIAN_SHARE', 'the first backup, let go by the service')
  },

  'a record the module cannot read is never overwritten': async (ctx) => {
    for (const [what, planted] of [
      ['a keys record of a newer version', { recordType: RECORD_TYPE, fields: { keys: { value: 'wbr9.from-a-newer-version', type: 'STRING' } } }],
      ['a record of another type', { recordType: 'Note', fields: { keys: { value: 'wbr1.AAAA', type: 'STRING' } } }],
      ['a record without the keys field', { recordType: RECORD_TYPE, fields: {} }],
    ]) {
      const w = await wallet(ctx)
      await control(ctx, 'put', { user: w.user, recordName: RECORD_NAME, ...planted })
      const before = await records(ctx, w)
      await failedBackup(ctx, w, 'STORAGE_UNAVAILABLE', what)
      equal(await w.icloud.validateOperations(), false, `validateOperations on ${what}`)
      equal(await records(ctx, w), before, what)
      const log = await ckLog(ctx, w)
      check(!log.some((e) => e.route === 'modify'), `${what}: a write was sent`)
    }
  },

  'validateOperations creates the record once and changes no key; delete removes it; production takes the schema\'s record type': async (ctx) => {
    for (const environment of ['development', 'production']) {
      const w = await wallet(ctx, { environment })
      equal(await w.icloud.validateOperations(), true, `${environment}: validateOperations on an empty database`)
      equal(await w.icloud.validateOperations(), true, `${environment}: validateOperations again`)
      const empty = await records(ctx, w)
      equal(empty.map((r) => r.recordType), [RECORD_TYPE], `${environment}: records after validateOperations`)
      const cipherText = await backup(w)
      const before = keysOf(await records(ctx, w))
      equal(await w.icloud.validateOperations(), true, `${environment}: validateOperations after a backup`)
      equal(keysOf(await records(ctx, w)), before, `${environment}: the keys after validateOperations`)
      await recovers(w, cipherText, SHARES, `${environment}: the backup`)
      equal(await w.icloud.delete(), true, `${environment}: delete`)
      equal((await records(ctx, w)).length, 0, `${environment}: records after delete`)
      equal(await w.icloud.delete(), false, `${environment}: delete again`)
      await rejects(w.portal.recoverWallet(cipherText, 'icloud'), 'BACKUP_KEY_NOT_FOUND', `${environment}: recovery after delete`)
    }
  },

  'the tokens are in no error, whatever fails': async (ctx) => {
    const w = await wallet(ctx)
    await backup(w)
    const failures = [
      [{ route: 'lookup', action: 'status', status: 503 }, 'STORAGE_UNAVAILABLE'],
      [{ route: 'modify', action: 'drop', times: 3 }, 'STORAGE_UNAVAILABLE'],
      [{ route: 'lookup', action: 'drop', times: 3 }, 'STORAGE_UNAVAILABLE'],
      [{ route: 'modify', action: 'record-error', serverErrorCode: 'ACCESS_DENIED' }, 'STORAGE_UNAVAILABLE'],
      [{ route: 'lookup', action: 'corrupt', skip: 1 }, 'STORAGE_UNAVAILABLE'],
      // Browsers and Node.js's fetch resend a request answered 421 once, on a new connection.
      [{ route: 'lookup', action: 'status', status: 421, times: 2 }, 'ICLOUD_UNAUTHENTICATED'],
    ]
    for (const [f, code] of failures) {
      await control(ctx, 'reset', {})
      await fault(ctx, f)
      await failedBackup(ctx, w, code, `${f.action} ${f.route}`)
    }
    await control(ctx, 'reset', {})
    // A wrong API token (401) and an unreachable host fail the same way.
    const wrongKey = new ctx.ICloudStorage({ containerIdentifier: ctx.containerIdentifier, environment: 'development', apiToken: 'f'.repeat(64), cloudKitHost: ctx.cloudKitHost, getWebAuthToken: async () => w.webAuthToken })
    const refused = await rejects(w.portal.backupWallet('icloud', null, { icloud: wrongKey }), 'STORAGE_UNAVAILABLE', 'a wrong API token')
    equal(refused.cause, { status: 401, serverErrorCode: 'AUTHENTICATION_FAILED' }, 'cause of the wrong API token')
    noSecrets(ctx, w, refused, 'a wrong API token')
    const closed = new ctx.ICloudStorage({ containerIdentifier: ctx.containerIdentifier, environment: 'development', apiToken: ctx.apiToken, cloudKitHost: 'http://127.0.0.1:9', getWebAuthToken: async () => w.webAuthToken })
    const unreachable = await rejects(w.portal.backupWallet('icloud', null, { icloud: closed }), 'STORAGE_UNAVAILABLE', 'an unreachable host')
    noSecrets(ctx, w, unreachable, 'an unreachable host')
    // Neither is the API token in the settings object's serialised form.
    check(!JSON.stringify(w.icloud).includes(ctx.apiToken), 'the API token is in JSON.stringify(icloud)')
  },

  'key-value store: backup and recovery, a second backup keeps the first, validateOperations and delete': async (ctx) => {
    const store = keyValueStore()
    const w = kvWallet(ctx, store)
    const first = await backup(w)
    equal([...store.map.keys()], ['wallet-backup-keys'], 'keys in the store')
    check(/^wbr1\.[A-Za-z0-9_-]+$/.test(store.map.get('wallet-backup-keys')), 'the value is not a keys record')
    w.state.shares = shares(2)
    const second = await backup(w)
    await recovers(w, first, SHARES, 'the first backup')
    await recovers(w, second, shares(2), 'the second backup')
    await recovers(w, '', shares(2), "recoverWallet('')")
    const before = store.map.get('wallet-backup-keys')
    equal(await w.icloud.validateOperations(), true, 'validateOperations')
    equal(store.map.get('wallet-backup-keys'), before, 'the keys after validateOperations')
    equal(await w.icloud.delete(), true, 'delete')
    equal(store.map.size, 0, 'the store after delete')
    equal(await w.icloud.delete(), false, 'delete again')
    await rejects(w.portal.recoverWallet(second, 'icloud'), 'BACKUP_KEY_NOT_FOUND', 'recovery after delete')
    const fresh = kvWallet(ctx, keyValueStore())
    equal(await fresh.icloud.validateOperations(), true, 'validateOperations on an empty store')
    equal(fresh.store.map.size, 1, 'validateOperations wrote the empty record')
  },

  'key-value store: a failing setItem, a read-back that differs and an unreadable value fail with STORAGE_UNAVAILABLE; the good backup still recovers': async (ctx) => {
    const thrown = new Error('NSUbiquitousKeyValueStore quota exceeded')
    let failing = false
    const store = keyValueStore({
      setItem: (key, value, map) => {
        if (failing) throw thrown
        map.set(key, value)
      },
    })
    const w = kvWallet(ctx, store)
    const good = await backup(w)
    w.state.shares = shares(2)
    failing = true
    const error = await failedBackup(ctx, w, 'STORAGE_UNAVAILABLE', 'a failing setItem')
    check(error.cause === thrown, 'the exception of setItem is not the cause')
    failing = false
    // The module reads, writes, then reads back: change what the reads after the first give.
    let reads = 0
    store.getItem = async (key) => {
      reads++
      const v = store.map.get(key) ?? null
      return reads >= 2 && v ? v.slice(0, -1) + (v.endsWith('A') ? 'B' : 'A') : v
    }
    await failedBackup(ctx, w, 'STORAGE_UNAVAILABLE', 'a read-back that differs')
    check(reads >= 2, 'the write was not read back')
    store.getItem = async (key) => store.map.get(key) ?? null
    await recovers(w, good, SHARES, 'the good backup')
    // A value the module cannot read is never overwritten.
    store.map.set('wallet-backup-keys', 'wbr9.from-a-newer-version')
    const writes = store.calls.setItem
    await failedBackup(ctx, w, 'STORAGE_UNAVAILABLE', 'an unreadable value')
    equal(await w.icloud.validateOperations(), false, 'validateOperations on an unreadable value')
    equal(store.calls.setItem, writes, 'setItem calls')
    equal(store.map.get('wallet-backup-keys'), 'wbr9.from-a-newer-version', 'the value')
  },

  'bad options are INVALID_ARGUMENT before anything runs': async (ctx) => {
    const kv = keyValueStore()
    const cloudKit = { containerIdentifier: ctx.containerIdentifier, environment: 'development', apiToken: ctx.apiToken, cloudKitHost: ctx.cloudKitHost, getWebAuthToken: async () => 'token' }
    for (const [what, options] of [
      ['nothing', undefined],
      ['an empty object', {}],
      ['both option sets', { ...cloudKit, keyValueStore: kv }],
      ['a key-value store without removeItem', { keyValueStore: { getItem: kv.getItem, setItem: kv.setItem } }],
      ['no getWebAuthToken', { ...cloudKit, getWebAuthToken: undefined }],
      ['an unknown environment', { ...cloudKit, environment: 'staging' }],
      ['a non-function onWebAuthToken', { ...cloudKit, onWebAuthToken: 'x' }],
      ['a non-string cloudKitHost', { ...cloudKit, cloudKitHost: 443 }],
      ['a non-string apiToken', { ...cloudKit, apiToken: 7 }],
    ]) {
      throws(() => new ctx.ICloudStorage(options), 'INVALID_ARGUMENT', `new ICloudStorage with ${what}`)
    }
    let reads = 0
    const keychain = { getShares: async () => { reads++; return SHARES }, setShares: async () => {} }
    const portal = new ctx.Portal({ apiKey: ctx.apiKey, apiHost: ctx.apiHost, keychain })
    await control(ctx, 'reset', {})
    for (const [what, icloud, typeError] of [
      ['no icloud settings', undefined, true],
      ['plain settings with both option sets', { ...cloudKit, keyValueStore: kv }, true],
      ['plain settings with neither', { environment: 'development' }, true],
      ['a container id without iCloud.', new ctx.ICloudStorage({ ...cloudKit, containerIdentifier: 'com.example.wallet' }), false],
      ['a container id with a slash', new ctx.ICloudStorage({ ...cloudKit, containerIdentifier: 'iCloud.com.example/../x' }), false],
      ['an API token with a space', new ctx.ICloudStorage({ ...cloudKit, apiToken: 'a b' }), false],
      ['cleartext http to another host', new ctx.ICloudStorage({ ...cloudKit, cloudKitHost: 'http://api.apple-cloudkit.example' }), false],
    ]) {
      const error = await rejects(portal.backupWallet('icloud', null, { icloud }), 'INVALID_ARGUMENT', what, { typeError })
      check(!String(error.message).includes(ctx.apiToken), `${what}: the API token is in the message`)
    }
    equal(reads, 0, 'keychain reads')
    equal((await control(ctx, 'log')).length, 0, 'CloudKit requests')
    await rejects(portal.recoverWallet('wbk1.x', 'icloud', null, { icloud: { keyValueStore: { getItem: 1 } } }), 'INVALID_ARGUMENT', 'recovery with a bad key-value store', { typeError: true })
  },
}
