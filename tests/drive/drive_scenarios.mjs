// The Google Drive method's scenarios, shared by Node.js and headless
// Chromium (drive.test.mjs runs both), so they import only the checks both
// engines run (../scenario_checks.mjs): the test page loads this file from
// /tests/drive/drive_scenarios.mjs. Each scenario is `async (ctx)` with:
//   ctx.Portal, ctx.GDriveStorage   the package's exports
//   ctx.apiHost, ctx.apiKey         the real backup service and a fresh client (custodian half)
//   ctx.driveHost                   the local Drive v3 server (dev/drive-server.mjs), with its control routes
// and throws an Error when something is not as expected.

import { check, equal, rejects } from '../scenario_checks.mjs'

export const SHARES = JSON.stringify({ secp256k1: { id: 'gd-wallet', share: 'ab'.repeat(32) } })
const shares = (n) => JSON.stringify({ secp256k1: { id: 'gd-wallet', share: String(n).padStart(2, '0').repeat(32) } })
const KEYS_FILE = 'wallet-backup-keys.json'

async function control(ctx, path, body) {
  const res = await fetch(`${ctx.driveHost}/__drive/${path}`, body === undefined ? {} : {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  })
  check(res.status === 200, `control ${path} answered ${res.status}`)
  return res.json()
}

const files = (ctx, w) => control(ctx, `files?user=${encodeURIComponent(w.user)}`)
const driveLog = (ctx, w) => control(ctx, 'log').then((log) => log.filter((e) => e.user === w.user || e.user === null))
const fault = (ctx, f) => control(ctx, 'fault', f)

/**
 * A wallet: keychain, a Drive user with a token, a Portal on the service with `backup: { gdrive }`.
 * `user` makes it another device of that Drive user.
 */
async function wallet(ctx, { token, user = `user-${Math.random().toString(36).slice(2)}` } = {}) {
  const w = { user, state: { shares: SHARES }, tokenCalls: 0 }
  w.token = (await control(ctx, 'token', { user })).token
  const keychain = { getShares: async () => w.state.shares, setShares: async (s) => void (w.state.shares = s) }
  w.gdrive = new ctx.GDriveStorage({
    driveHost: ctx.driveHost,
    getAccessToken: async () => {
      w.tokenCalls++
      return token === undefined ? w.token : token
    },
  })
  w.portal = new ctx.Portal({ apiKey: ctx.apiKey, apiHost: ctx.apiHost, keychain, backup: { gdrive: w.gdrive } })
  return w
}

async function backup(w) {
  const events = []
  const cipherText = await w.portal.backupWallet('gdrive', (e) => events.push(e))
  equal(events.filter((e) => e.done).map((e) => e.status), ['Done'], 'Done events')
  equal(events.at(-1).status, 'Done', 'last status')
  return cipherText
}

async function failedBackup(w, code, what) {
  const events = []
  const error = await rejects(w.portal.backupWallet('gdrive', (e) => events.push(e)), code, what)
  check(!events.some((e) => e.done || e.status === 'Done'), `${what}: Done was reported`)
  check(!error.message.includes(w.token) && !String(error.stack).includes(w.token), `${what}: the token is in the error`)
  return error
}

async function recovers(w, cipherText, expected, what) {
  w.state.shares = ''
  await w.portal.recoverWallet(cipherText, 'gdrive')
  equal(w.state.shares, expected, what)
}

/**
 * Two devices of one Drive user backing up at once, the Drive server holding
 * both creates until both are in flight: two keys files of one name.
 */
async function race(ctx) {
  const a = await wallet(ctx)
  const b = await wallet(ctx, { user: a.user })
  a.state.shares = shares(1)
  b.state.shares = shares(2)
  await control(ctx, 'hold', { route: 'create', count: 2 })
  const [ca, cb] = await Promise.all([backup(a), backup(b)])
  const stored = await files(ctx, a)
  equal(stored.map((f) => f.name), [KEYS_FILE, KEYS_FILE], 'files after the race')
  return { a, b, ca, cb, stored }
}

export const driveScenarios = {
  'backup, then recovery from the service and from the cipherText; one file in appDataFolder, token only in the header': async (ctx) => {
    const w = await wallet(ctx)
    const cipherText = await backup(w)
    const stored = await files(ctx, w)
    equal(stored.map((f) => [f.name, f.parents]), [[KEYS_FILE, ['appDataFolder']]], 'files')
    check(/^wbr1\.[A-Za-z0-9_-]+$/.test(stored[0].content), `the file is not a keys record: ${stored[0].content.slice(0, 20)}`)
    equal(await w.portal.availableRecoveryMethods(), ['gdrive'], 'recovery methods')
    await recovers(w, '', SHARES, "shares after recoverWallet('')")
    await recovers(w, cipherText, SHARES, 'shares after recoverWallet(cipherText)')
    const log = await driveLog(ctx, w)
    check(log.length > 0 && log.every((e) => e.user === w.user), 'requests without the user token')
    check(log.every((e) => !e.url.includes(w.token)), 'the token is in a URL')
    equal([...new Set(log.map((e) => e.route))].sort(), ['create', 'list', 'media', 'update'], 'routes used')
  },

  'a second backup keeps the first recoverable; many backups leave one file, and the newest three recover': async (ctx) => {
    const w = await wallet(ctx)
    const cipherTexts = []
    for (let i = 1; i <= 5; i++) {
      w.state.shares = shares(i)
      cipherTexts.push(await backup(w))
      if (i === 2) await recovers(w, cipherTexts[0], shares(1), 'the first backup after the second')
    }
    equal((await files(ctx, w)).length, 1, 'files after five backups')
    for (const i of [3, 4, 5]) await recovers(w, cipherTexts[i - 1], shares(i), `backup ${i}`)
    await recovers(w, '', shares(5), 'the newest backup')
    // The keys record keeps the newest three keys, and the service the newest three backups
    // (serve --keep-completed): recovery asks the service first.
    await rejects(w.portal.recoverWallet(cipherTexts[0], 'gdrive'), 'INVALID_CUSTODIAN_SHARE', 'the oldest backup')
  },

  'a read-back that differs fails the backup without Done, and the previous backup still recovers': async (ctx) => {
    const w = await wallet(ctx)
    const first = await backup(w)
    w.state.shares = shares(2)
    // Media read 1 is the record before the write, read 2 the read-back.
    await fault(ctx, { route: 'media', action: 'corrupt', skip: 1 })
    await failedBackup(w, 'STORAGE_UNAVAILABLE', 'corrupted read-back')
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
      // Update 1 stores the new key (pending), update 2 would mark it complete.
      await fault(ctx, { route: 'update', action: 'status', status: 500, skip: 1 })
      const error = await failedBackup(w, 'STORAGE_UNAVAILABLE', `failing backup ${i}`)
      equal(error.cause?.status, 500, 'cause status')
    }
    await recovers(w, good, SHARES, 'the good backup')
  },

  'a refused token is GOOGLE_UNAUTHENTICATED with the 401 as cause': async (ctx) => {
    const w = await wallet(ctx)
    const cipherText = await backup(w)
    await control(ctx, 'expire', { token: w.token })
    const error = await failedBackup(w, 'GOOGLE_UNAUTHENTICATED', 'expired token')
    equal(error.cause, { status: 401, code: 'UNAUTHENTICATED' }, 'cause')
    w.state.shares = ''
    await rejects(w.portal.recoverWallet(cipherText, 'gdrive'), 'GOOGLE_UNAUTHENTICATED', 'recovery with the expired token')
    equal(w.state.shares, '', 'keychain')
    equal(await w.gdrive.validateOperations(), false, 'validateOperations with the expired token')
  },

  'getAccessToken resolving to null is GOOGLE_UNAUTHENTICATED without any request': async (ctx) => {
    const w = await wallet(ctx, { token: null })
    await control(ctx, 'reset', {})
    await failedBackup(w, 'GOOGLE_UNAUTHENTICATED', 'no token')
    equal(w.tokenCalls, 1, 'getAccessToken calls')
    equal((await control(ctx, 'log')).length, 0, 'Drive requests')
    equal(await w.portal.isWalletBackedUp(), false, 'backed up')
    equal(await w.gdrive.validateOperations(), false, 'validateOperations without a token')
  },

  'Drive failures (503, a dropped connection) are STORAGE_UNAVAILABLE; nothing is completed': async (ctx) => {
    const w = await wallet(ctx)
    await fault(ctx, { route: 'list', action: 'status', status: 503 })
    const error = await failedBackup(w, 'STORAGE_UNAVAILABLE', '503')
    equal(error.cause, { status: 503, code: 'UNAVAILABLE' }, 'cause of the 503')
    // A browser may resend a request whose connection closed before any answer: drop a few.
    await fault(ctx, { route: 'create', action: 'drop', times: 3 })
    const dropped = await failedBackup(w, 'STORAGE_UNAVAILABLE', 'dropped connection')
    check(dropped.cause !== undefined, 'the network failure is not the cause')
    await control(ctx, 'reset', {})
    equal(await w.portal.isWalletBackedUp(), false, 'backed up')
    equal((await files(ctx, w)).length, 0, 'files')
    const cipherText = await backup(w)
    await fault(ctx, { route: 'media', action: 'status', status: 500 })
    w.state.shares = ''
    await rejects(w.portal.recoverWallet(cipherText, 'gdrive'), 'STORAGE_UNAVAILABLE', 'recovery with Drive failing')
    equal(w.state.shares, '', 'keychain')
  },

  'a file the module cannot read is never overwritten': async (ctx) => {
    const w = await wallet(ctx)
    await control(ctx, 'put', { user: w.user, name: KEYS_FILE, content: 'wbr9.from-a-newer-version' })
    await failedBackup(w, 'STORAGE_UNAVAILABLE', 'unreadable record')
    equal(await w.gdrive.validateOperations(), false, 'validateOperations on an unreadable record')
    const stored = await files(ctx, w)
    equal(stored.map((f) => f.content), ['wbr9.from-a-newer-version'], 'the file')
    const log = await driveLog(ctx, w)
    check(!log.some((e) => e.route === 'update' || e.route === 'create'), 'a write was sent')
  },

  'validateOperations creates the file once, changes no key, and a backup relies on it': async (ctx) => {
    const w = await wallet(ctx)
    equal(await w.gdrive.validateOperations(), true, 'validateOperations on an empty Drive')
    equal(await w.gdrive.validateOperations(), true, 'validateOperations again')
    const empty = await files(ctx, w)
    equal(empty.length, 1, 'files after validateOperations')
    const cipherText = await backup(w)
    const before = (await files(ctx, w))[0].content
    equal(await w.gdrive.validateOperations(), true, 'validateOperations after a backup')
    equal((await files(ctx, w)).map((f) => f.content), [before], 'the keys after validateOperations')
    await recovers(w, cipherText, SHARES, 'the backup')
    equal(await w.gdrive.delete(), true, 'delete')
    equal((await files(ctx, w)).length, 0, 'files after delete')
    equal(await w.gdrive.delete(), false, 'delete again')
    await rejects(w.portal.recoverWallet(cipherText, 'gdrive'), 'BACKUP_KEY_NOT_FOUND', 'recovery after delete')
  },

  'a token without the drive.appdata scope is GOOGLE_SCOPE_MISSING for backup and recovery; rate and storage limits stay STORAGE_UNAVAILABLE': async (ctx) => {
    const w = await wallet(ctx)
    const cipherText = await backup(w)
    const before = await files(ctx, w)
    // The user signs in again and unticks "see, create and delete its own configuration data".
    const full = w.token
    w.token = (await control(ctx, 'token', { user: w.user, scopes: ['openid', 'https://www.googleapis.com/auth/userinfo.email'] })).token
    await control(ctx, 'reset', {})
    w.state.shares = shares(2)
    const error = await failedBackup(w, 'GOOGLE_SCOPE_MISSING', 'backup without the scope')
    equal(error.cause, { status: 403, code: 'PERMISSION_DENIED' }, 'cause')
    check(error.message.includes('drive.appdata'), `the message does not name the permission: ${error.message}`)
    w.state.shares = ''
    await rejects(w.portal.recoverWallet(cipherText, 'gdrive'), 'GOOGLE_SCOPE_MISSING', 'recovery without the scope')
    await rejects(w.portal.recoverWallet('', 'gdrive'), 'GOOGLE_SCOPE_MISSING', "recoverWallet('') without the scope")
    equal(w.state.shares, '', 'keychain')
    await rejects(w.gdrive.validateOperations(), 'GOOGLE_SCOPE_MISSING', 'validateOperations without the scope')
    const log = await driveLog(ctx, w)
    check(log.length > 0 && log.every((e) => e.status === 403), `Drive answered other than 403: ${JSON.stringify(log.map((e) => e.status))}`)
    equal(await files(ctx, w), before, 'the keys file')
    // Drive's other 403s are limits, not a missing permission.
    w.token = full
    w.state.shares = shares(3)
    for (const reason of ['userRateLimitExceeded', 'rateLimitExceeded', 'storageQuotaExceeded']) {
      await fault(ctx, { route: reason === 'storageQuotaExceeded' ? 'update' : 'list', action: 'status', status: 403, reason })
      const limited = await failedBackup(w, 'STORAGE_UNAVAILABLE', reason)
      equal(limited.cause, { status: 403, code: 'PERMISSION_DENIED' }, `cause of ${reason}`)
    }
    const third = await backup(w)
    await recovers(w, third, shares(3), 'a backup with the permission granted again')
    await recovers(w, cipherText, SHARES, 'the first backup')
  },

  'two devices creating the keys file at once: the files merge into one and both backups recover': async (ctx) => {
    const { a, b, ca, cb, stored } = await race(ctx)
    const oldest = stored.reduce((x, y) => (x.createdTime < y.createdTime ? x : y))
    // The first recovery reads both files, writes their union into the oldest, reads it back, deletes the other.
    await recovers(a, ca, shares(1), "device A's backup")
    const merged = await files(ctx, a)
    equal(merged.map((f) => f.id), [oldest.id], 'the file left')
    check(!stored.some((f) => f.content === merged[0].content), 'the file left is not the merged record')
    await recovers(b, cb, shares(2), "device B's backup")
    await recovers(a, cb, shares(2), "device B's backup on device A")
    // Later backups go on in the one file, and keep both devices' backups.
    a.state.shares = shares(3)
    const third = await backup(a)
    equal((await files(ctx, a)).length, 1, 'files after a later backup')
    for (const [cipherText, expected, what] of [[ca, shares(1), 'A'], [cb, shares(2), 'B'], [third, shares(3), 'the later']]) {
      await recovers(b, cipherText, expected, `${what} backup after the merge`)
    }
  },

  'a merge that cannot read its write back, or cannot delete, keeps every file; the next call finishes it': async (ctx) => {
    const { a, ca, cb, stored } = await race(ctx)
    await control(ctx, 'reset', {})
    // Media reads 1 and 2 are the two files, 3 the merged one's read-back.
    await fault(ctx, { route: 'media', action: 'corrupt', skip: 2 })
    a.state.shares = ''
    await rejects(a.portal.recoverWallet(ca, 'gdrive'), 'STORAGE_UNAVAILABLE', 'recovery with a differing read-back')
    equal((await driveLog(ctx, a)).filter((e) => e.route === 'delete'), [], 'deletes before the read-back matched')
    equal((await files(ctx, a)).length, 2, 'files after a differing read-back')
    await fault(ctx, { route: 'delete', action: 'status', status: 503 })
    await rejects(a.portal.recoverWallet(cb, 'gdrive'), 'STORAGE_UNAVAILABLE', 'recovery with Drive refusing the delete')
    equal((await files(ctx, a)).length, 2, 'files after a refused delete')
    await recovers(a, ca, shares(1), "device A's backup")
    await recovers(a, cb, shares(2), "device B's backup")
    const left = await files(ctx, a)
    equal(left.length, 1, 'files once merged')
    check(!stored.some((f) => f.content === left[0].content), 'the file left is not the merged record')
  },

  'several keys files, one unreadable: nothing is written or deleted, and the call fails': async (ctx) => {
    const w = await wallet(ctx)
    const cipherText = await backup(w)
    await control(ctx, 'put', { user: w.user, name: KEYS_FILE, content: 'wbr9.from-a-newer-version' })
    const before = await files(ctx, w)
    await control(ctx, 'reset', {})
    w.state.shares = shares(2)
    const error = await failedBackup(w, 'STORAGE_UNAVAILABLE', 'backup beside an unreadable file')
    check(error.message.includes('several keys files'), `message: ${error.message}`)
    w.state.shares = ''
    await rejects(w.portal.recoverWallet(cipherText, 'gdrive'), 'STORAGE_UNAVAILABLE', 'recovery beside an unreadable file')
    equal(await w.gdrive.validateOperations(), false, 'validateOperations beside an unreadable file')
    equal(await files(ctx, w), before, 'the files')
    const log = await driveLog(ctx, w)
    check(!log.some((e) => ['update', 'create', 'delete'].includes(e.route)), 'a write or delete was sent')
    // Deleting the keys, as the app asks, removes every file of the name.
    equal(await w.gdrive.delete(), true, 'delete')
    equal((await files(ctx, w)).length, 0, 'files after delete')
  },
}
