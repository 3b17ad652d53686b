// The service scenarios: the module's managed mode against the real backup
// service, through the test proxy of tests/service-scenarios/harness.mjs. No imports,
// so the same file runs in Node.js (tests/service-scenarios/node.test.mjs) and in
// Chromium (tests/service-scenarios/chromium.test.mjs, loaded by the proxy's page).
//
// Each scenario is `async (ctx) => {}` and throws an Error when something is
// not as expected. `ctx` (from makeContext) gives `Portal`, `apiHost` (the
// service `main` behind the proxy), `hosts.limited` (a service started with
// --rate-limit 1 --rate-burst 1), `deadHost` (a loopback port nothing listens
// on), and the proxy's controls over fetch: newClient, fault, waitHeld,
// release, kill, restart, log, reset. The runners call reset() before and
// after each scenario; each scenario makes its own clients.
//
// Shares differ per backup (makeShares), so a recovery proves which backup
// came back.
//

export const PASSWORD = 'correct horse battery staple'
const pw = (password = PASSWORD) => ({ passwordStorage: { password } })

export const BACKUP_STATUSES = ['Reading share', 'Generating share', 'Encrypting share', 'Storing share', 'Done']
export const RECOVERY_STATUSES = ['Reading share', 'Decrypting share', 'Recovering backup share', 'Storing share', 'Done']
/** What a request that got no answer may be reported as. */
export const NETWORK_CODES = ['NETWORK_ERROR', 'NETWORK_TIMEOUT']

/** Builds the context of a scenario: controls of the harness at `origin`, over fetch. */
export async function makeContext({ Portal, origin, fetch: doFetch = (...a) => globalThis.fetch(...a) }) {
  const control = async (method, what, body) => {
    const init = { method }
    if (body !== undefined) {
      init.headers = { 'content-type': 'application/json' }
      init.body = JSON.stringify(body)
    }
    const answer = await doFetch(`${origin}/__test/${what}`, init)
    const text = await answer.text()
    if (!answer.ok) throw new Error(`test control ${method} ${what} failed: ${answer.status} ${text}`)
    return JSON.parse(text)
  }
  const env = await control('GET', 'env')
  const hosts = Object.fromEntries(Object.entries(env.services).map(([name, prefix]) => [name, origin + prefix]))
  return {
    Portal,
    origin,
    apiHost: hosts.main,
    hosts,
    deadHost: env.deadHost,
    backend: env.backend,
    /** A new client: { key, name }. */
    newClient: ({ managedBackups = true, service = 'main' } = {}) => control('POST', 'client', { managedBackups, service }),
    /** { route, action: 'status'|'drop'|'stall'|'stall-body'|'hold'|'hold-response', client?, service?, times?, status?, code?, body? } (harness.mjs) */
    fault: (spec) => control('POST', 'fault', spec),
    waitHeld: (spec) => control('POST', 'held', spec),
    release: (spec) => control('POST', 'release', spec),
    kill: (service = 'main') => control('POST', 'kill', { service }),
    restart: (service = 'main') => control('POST', 'restart', { service }),
    reset: () => control('POST', 'reset', {}),
    /** The proxy's log of API requests, of one client when given. */
    log: async (client) => (await control('GET', 'log')).filter((e) => !client || e.client === client),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  }
}

// ---------------------------------------------------------------- assertions

const show = (v) => (typeof v === 'string' && v.length > 80 ? `${v.slice(0, 40)}…(${v.length} chars)` : JSON.stringify(v))

function check(condition, message) {
  if (!condition) throw new Error(message)
}

function equal(actual, expected, what) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: expected ${show(expected)}, got ${show(actual)}`)
  }
}

/** Awaits `promise`, expects a rejection with one of `codes`; returns the error. */
async function rejects(promise, codes, what) {
  codes = [].concat(codes)
  let error
  let value
  try {
    value = await promise
  } catch (e) {
    error = e
  }
  if (error === undefined) throw new Error(`${what}: expected a rejection with ${codes.join(' or ')}, but it resolved to ${show(value)}`)
  if (!(error instanceof Error)) throw new Error(`${what}: expected an Error, got ${show(String(error))}`)
  if (!codes.includes(error.code)) {
    throw new Error(`${what}: expected ${codes.join(' or ')}, got ${error.code}: ${error.message} (cause ${show(error.cause ?? null)})`)
  }
  check(typeof error.message === 'string' && error.message.length > 0, `${what}: empty error message`)
  return error
}

/** Checks a refusal's `cause` is the service's { status, code }. */
function causeIs(error, status, code, what) {
  const cause = error.cause
  check(cause && typeof cause === 'object', `${what}: no cause on ${error.code}`)
  equal({ status: cause.status, code: cause.code }, { status, code }, `${what}: error.cause`)
}

function noDone(events, what) {
  check(!events.some((e) => e.status === 'Done' || e.done), `${what}: progress reported Done for a failed call: ${show(events)}`)
}

/** Exactly `statuses` in order, `done: true` only on the last (Done), once. */
function progressIs(events, statuses, what) {
  equal(events.map((e) => e.status), statuses, `${what}: progress statuses`)
  equal(events.map((e) => e.done), statuses.map((s) => s === 'Done'), `${what}: progress done flags`)
}

// ---------------------------------------------------------------- wallets

function randomHex(bytes) {
  const b = new Uint8Array(bytes)
  globalThis.crypto.getRandomValues(b)
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
}

/** Portal-style shares, different each call; `tag` names them in failure messages. */
export function makeShares(tag) {
  return JSON.stringify({
    secp256k1: { id: `wallet-${tag}`, share: randomHex(64) },
    ed25519: { id: `wallet-${tag}-ed`, share: randomHex(64) },
  })
}

/** An in-memory keychain. `state.shares` is what it holds; `calls` counts setShares. */
function memoryKeychain(shares = null) {
  const state = { shares }
  const calls = { setShares: 0 }
  const keychain = {
    async getShares() {
      return state.shares
    },
    async setShares(s) {
      calls.setShares++
      state.shares = s
    },
  }
  return { keychain, state, calls }
}

function recorder() {
  const events = []
  return { events, onProgress: (e) => events.push({ status: e.status, done: e.done }) }
}

/** A fresh client (on `service`) and wallet, and its Portal. */
async function setup(ctx, { managedBackups = true, service = 'main', timeoutMs } = {}) {
  const client = await ctx.newClient({ managedBackups, service })
  const wallet = memoryKeychain()
  const portal = new ctx.Portal({ apiKey: client.key, apiHost: ctx.hosts[service], keychain: wallet.keychain, timeoutMs })
  return { client, wallet, portal }
}

/** Backs up `shares` and expects success with the full progress; resolves to the cipherText. */
async function backupOk(portal, wallet, shares, what = 'backup') {
  wallet.state.shares = shares
  const { events, onProgress } = recorder()
  const cipherText = await portal.backupWallet('password', onProgress, pw())
  check(typeof cipherText === 'string' && cipherText.startsWith('wbk1.'), `${what}: not a cipherText: ${show(cipherText)}`)
  progressIs(events, BACKUP_STATUSES, what)
  return cipherText
}

/** Empties the keychain (the device is lost), recovers, expects `shares` back. */
async function recoverOk(portal, wallet, cipherText, shares, what = 'recovery') {
  wallet.state.shares = null
  const { events, onProgress } = recorder()
  await portal.recoverWallet(cipherText, 'password', onProgress, pw())
  check(wallet.state.shares !== null, `${what}: the keychain was not written`)
  equal(JSON.parse(wallet.state.shares).secp256k1.id, JSON.parse(shares).secp256k1.id, `${what}: which backup came back`)
  equal(wallet.state.shares, shares, `${what}: recovered shares`)
  progressIs(events, RECOVERY_STATUSES, what)
}

async function statusIs(portal, expected, what) {
  const actual = {
    isBackedUp: await portal.isWalletBackedUp(),
    isRecoverable: await portal.isWalletRecoverable(),
    methods: await portal.availableRecoveryMethods(),
  }
  equal(actual, expected, `${what}: wallet status`)
}

const BACKED_UP = { isBackedUp: true, isRecoverable: true, methods: ['password'] }
const NOT_BACKED_UP = { isBackedUp: false, isRecoverable: false, methods: [] }

async function routesOf(ctx, client) {
  return (await ctx.log(client.name)).map((e) => e.route)
}

/** Starts a backup of `shares` that is expected to fail; resolves to { error, events } once it settled. */
function startBackup(portal, wallet, shares) {
  wallet.state.shares = shares
  const { events, onProgress } = recorder()
  const settled = portal.backupWallet('password', onProgress, pw()).then(
    (value) => ({ value, events }),
    (error) => ({ error, events }),
  )
  return settled
}

async function expectFailed(settled, codes, what) {
  const { value, error, events } = await settled
  const e = await rejects(error ? Promise.reject(error) : Promise.resolve(value), codes, what)
  noDone(events, what)
  return e
}

/**
 * A completed backup A; a backup B fails at `route` through `fault`. The
 * failure has one of `codes`, no Done, and recovery still gives A.
 */
async function failedBackupKeepsPrevious(ctx, route, faultSpec, codes, { timeoutMs, cause } = {}) {
  const { client, wallet, portal } = await setup(ctx, { timeoutMs })
  const a = makeShares('A')
  const cipherA = await backupOk(portal, wallet, a, 'backup A')
  await ctx.fault({ route, client: client.name, ...faultSpec })
  const error = await expectFailed(startBackup(portal, wallet, makeShares('B')), codes, `backup B with ${faultSpec.action} on ${route}`)
  if (cause) causeIs(error, cause.status, cause.code, `backup B with ${faultSpec.action} on ${route}`)
  await ctx.reset()
  await statusIs(portal, BACKED_UP, 'after the failed backup B')
  await recoverOk(portal, wallet, '', a, "recoverWallet('') after the failed backup B")
  await recoverOk(portal, wallet, cipherA, a, 'recoverWallet(cipherText A)')
  return error
}

/**
 * The kill test: a completed backup A; backup B is held at `route` (`hold`:
 * before the service sees the request; `hold-response`: after the service
 * answered); the service gets SIGKILL while it is held. B fails with a
 * network code and no Done. After a restart on the same data, recovery gives
 * `expect` ('A', or 'B' when the service had acknowledged the confirm), the
 * status still says backed up, and a new backup C works.
 */
async function killWhileHeld(ctx, route, action, expect) {
  const { client, wallet, portal } = await setup(ctx)
  const a = makeShares('A')
  const b = makeShares('B')
  const cipherA = await backupOk(portal, wallet, a, 'backup A')
  await ctx.fault({ route, action, client: client.name })
  const settled = startBackup(portal, wallet, b)
  await ctx.waitHeld({ route })
  await ctx.kill()
  // The backup must have failed before the service is back, or a retried request could reach it.
  await expectFailed(settled, NETWORK_CODES, `backup B killed at ${route} (${action})`)
  const entry = (await ctx.log(client.name)).find((e) => e.route === route && e.fault === action)
  if (action === 'hold-response') {
    check(entry && entry.status === 200 && /dropped before relaying/.test(entry.outcome), `the service did not answer ${route} before the kill: ${show(entry)}`)
  }
  await ctx.restart()
  await ctx.reset()
  await statusIs(portal, BACKED_UP, 'after the restart')
  await recoverOk(portal, wallet, '', expect === 'A' ? a : b, `recoverWallet('') after the kill at ${route}`)
  await recoverOk(portal, wallet, cipherA, a, 'recoverWallet(cipherText A) after the restart')
  const c = makeShares('C')
  const cipherC = await backupOk(portal, wallet, c, 'backup C after the restart')
  await recoverOk(portal, wallet, '', c, "recoverWallet('') after backup C")
  await recoverOk(portal, wallet, cipherC, c, 'recoverWallet(cipherText C)')
}

/**
 * Cancellation: a completed backup A; backup B (with a signal) is held at
 * `route` (`action` as in the faults); the app aborts while it is held,
 * then the proxy lets the request through. Backup B rejects with ABORTED
 * (cause: the reason), no Done, the keychain unchanged, A still the one
 * recovery uses (the aborted request reached the service all the same), and
 * the keychain is free for backup C.
 */
async function abortWhileHeld(ctx, route, action) {
  const { client, wallet, portal } = await setup(ctx)
  const a = makeShares('A')
  const b = makeShares('B')
  const cipherA = await backupOk(portal, wallet, a, 'backup A')
  await ctx.fault({ route, action, client: client.name })
  wallet.state.shares = b
  const controller = new AbortController()
  const reason = new Error('the user cancelled')
  const { events, onProgress } = recorder()
  const running = portal.backupWallet('password', onProgress, { ...pw(), signal: controller.signal })
  await ctx.waitHeld({ route })
  controller.abort(reason)
  const error = await rejects(running, 'ABORTED', `backup B aborted at ${route} (${action})`)
  check(error.cause === reason, `backup B aborted at ${route}: cause is not the signal's reason: ${show(String(error.cause))}`)
  noDone(events, `backup B aborted at ${route}`)
  equal(wallet.state.shares, b, 'the keychain after the aborted backup')
  await ctx.release({ route, how: 'forward' })
  await ctx.reset()
  await statusIs(portal, BACKED_UP, `after the backup aborted at ${route}`)
  await recoverOk(portal, wallet, '', a, `recoverWallet('') after the backup aborted at ${route}`)
  await recoverOk(portal, wallet, cipherA, a, 'recoverWallet(cipherText A)')
  const c = makeShares('C')
  await backupOk(portal, wallet, c, 'backup C after the abort')
  await recoverOk(portal, wallet, '', c, "recoverWallet('') after backup C")
}

// ---------------------------------------------------------------- guess-limited PINs

const PIN = '0421'
const WRONG_PIN = '1234'
const pin = (password, guessLimited = false) => ({ passwordStorage: guessLimited ? { password, guessLimited } : { password } })

/** A guess-limited PIN backup of `shares`; resolves to its cipherText. */
async function pinBackup(portal, wallet, shares, what = 'guess-limited backup') {
  wallet.state.shares = shares
  const { events, onProgress } = recorder()
  const cipherText = await portal.backupWallet('password', onProgress, pin(PIN, true))
  check(typeof cipherText === 'string' && cipherText.startsWith('wbk1.'), `${what}: not a cipherText`)
  progressIs(events, BACKUP_STATUSES, what)
  return cipherText
}

/** A recovery with `password` expected to fail with `code`; the keychain stays empty. Returns the error. */
async function pinRefused(portal, wallet, cipherText, password, code, what) {
  wallet.state.shares = null
  const { events, onProgress } = recorder()
  const error = await rejects(portal.recoverWallet(cipherText, 'password', onProgress, pin(password)), code, what)
  noDone(events, what)
  equal(wallet.state.shares, null, `keychain after ${what}`)
  return error
}

/** A recovery with the right PIN, expecting `shares`. */
async function pinRecovered(portal, wallet, cipherText, shares, what) {
  wallet.state.shares = null
  const { events, onProgress } = recorder()
  await portal.recoverWallet(cipherText, 'password', onProgress, pin(PIN))
  equal(wallet.state.shares, shares, `${what}: recovered shares`)
  progressIs(events, RECOVERY_STATUSES, what)
}

/** The envelope's backup id (FORMAT.md §3.2: bytes 5 to 21), as lower-case hex. */
function backupIdOf(cipherText) {
  const bin = atob(cipherText.trim().slice(5).replace(/-/g, '+').replace(/_/g, '/'))
  return Array.from(bin.slice(5, 21), (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('')
}

/** One request to the service as a holder of the API key would make it: { status, body }. */
async function asKeyHolder(ctx, client, path) {
  const answer = await globalThis.fetch(`${ctx.apiHost}${path}`, { headers: { authorization: `Bearer ${client.key}` } })
  return { status: answer.status, body: JSON.parse(await answer.text()) }
}

const guessLimitedScenarios = {
  'guess-limited PIN: each wrong PIN says the guesses left, the right one restores and resets the count': async (ctx) => {
    const { client, wallet, portal } = await setup(ctx)
    const a = makeShares('A')
    await backupOk(portal, wallet, makeShares('plain'), 'a plain password backup first')
    equal(await portal.guessesLeft(), null, 'guessesLeft() of a plain password backup')
    await ctx.reset()
    const cipherText = await pinBackup(portal, wallet, a)
    equal(await portal.guessesLeft(), 10, 'guessesLeft() after the guess-limited backup')
    // The backup proved its guard before it counted: one guess and its proof, then the cipherText.
    equal((await routesOf(ctx, client)).slice(0, 6), ['me', 'pairs', 'evaluate', 'unlock', 'cipher-text', 'confirm'], 'guess-limited backup requests')
    for (let wrong = 1; wrong <= 9; wrong++) {
      const error = await pinRefused(portal, wallet, cipherText, WRONG_PIN, 'WRONG_PASSWORD', `wrong PIN ${wrong}`)
      equal(error.guessesLeft, 10 - wrong, `guessesLeft after wrong PIN ${wrong}`)
    }
    equal(await portal.guessesLeft(), 1, 'guessesLeft() after nine wrong PINs')
    await ctx.reset()
    await pinRecovered(portal, wallet, cipherText, a, 'the right PIN after nine wrong ones')
    equal(await routesOf(ctx, client), ['guard', 'evaluate', 'unlock'], 'a guess-limited recovery asks the guard, never the custodian share')
    const error = await pinRefused(portal, wallet, cipherText, WRONG_PIN, 'WRONG_PASSWORD', 'a wrong PIN after the right one')
    equal(error.guessesLeft, 9, 'guessesLeft after the count was reset')
  },

  'guess-limited PIN: the eleventh wrong guess destroys the backup; the plain backup before it still recovers': async (ctx) => {
    const { wallet, portal } = await setup(ctx)
    const a = makeShares('A')
    const cipherA = await backupOk(portal, wallet, a, 'plain backup A')
    const cipherB = await pinBackup(portal, wallet, makeShares('B'), 'guess-limited backup B')
    for (let wrong = 1; wrong <= 10; wrong++) {
      const error = await pinRefused(portal, wallet, cipherB, WRONG_PIN, 'WRONG_PASSWORD', `wrong PIN ${wrong}`)
      equal(error.guessesLeft, 10 - wrong, `guessesLeft after wrong PIN ${wrong}`)
    }
    await pinRefused(portal, wallet, cipherB, WRONG_PIN, 'PIN_GUESSES_EXHAUSTED', 'the eleventh wrong PIN')
    equal(await portal.guessesLeft(), 0, 'guessesLeft() of the destroyed backup')
    await pinRefused(portal, wallet, cipherB, PIN, 'PIN_GUESSES_EXHAUSTED', 'the right PIN after the backup was destroyed')
    await pinRefused(portal, wallet, '', PIN, 'PIN_GUESSES_EXHAUSTED', "recoverWallet('') of the destroyed newest backup")
    await recoverOk(portal, wallet, cipherA, a, 'the plain backup A')
  },

  'guess-limited PIN: the API key fetches the cipherText but not the custodian share': async (ctx) => {
    const { client, wallet, portal } = await setup(ctx)
    const cipherText = await pinBackup(portal, wallet, makeShares('A'))
    const newest = await asKeyHolder(ctx, client, '/api/v3/clients/me/backups/PASSWORD')
    equal([newest.status, newest.body.cipherText], [200, cipherText], 'the newest backup, as the API key reads it')
    const share = await asKeyHolder(ctx, client, `/api/v3/clients/me/custodian-shares/${backupIdOf(cipherText)}`)
    equal([share.status, share.body.error?.code], [403, 'PIN_PROOF_REQUIRED'], 'the custodian share, as the API key asks for it')
    check(!('custodianShare' in share.body), 'the refusal carries no custodian share')
  },

  "guess-limited PIN: recoverWallet('') fetches the newest backup and asks its guard": async (ctx) => {
    const { wallet, portal } = await setup(ctx)
    const a = makeShares('A')
    await pinBackup(portal, wallet, a)
    const error = await pinRefused(portal, wallet, '', WRONG_PIN, 'WRONG_PASSWORD', "recoverWallet('') with a wrong PIN")
    equal(error.guessesLeft, 9, "guessesLeft of recoverWallet('')")
    await pinRecovered(portal, wallet, '', a, "recoverWallet('') with the right PIN")
  },

  'guess-limited PIN, self-managed: the app keeps the cipherText; the count is the service\'s': async (ctx) => {
    const { wallet, portal } = await setup(ctx, { managedBackups: false })
    const a = makeShares('A')
    const cipherText = await pinBackup(portal, wallet, a, 'self-managed guess-limited backup')
    await portal.api.storedClientBackupShare(true, 'password')
    const error = await pinRefused(portal, wallet, cipherText, WRONG_PIN, 'WRONG_PASSWORD', 'self-managed, a wrong PIN')
    equal(error.guessesLeft, 9, 'self-managed guessesLeft')
    await pinRecovered(portal, wallet, cipherText, a, 'self-managed, the right PIN')
  },

  'guess-limited PIN: parallel wrong guesses never get past the limit': async (ctx) => {
    const { client, wallet, portal } = await setup(ctx)
    const cipherText = await pinBackup(portal, wallet, makeShares('A'))
    // Fourteen devices at once, each with its own keychain (one call per keychain).
    const tries = Array.from({ length: 14 }, () => {
      const device = memoryKeychain()
      const other = new ctx.Portal({ apiKey: client.key, apiHost: ctx.apiHost, keychain: device.keychain })
      return other.recoverWallet(cipherText, 'password', null, pin(WRONG_PIN)).then(
        () => 'RECOVERED',
        (e) => e.code,
      )
    })
    const codes = (await Promise.all(tries)).sort()
    const count = (code) => codes.filter((c) => c === code).length
    equal([count('WRONG_PASSWORD'), count('PIN_GUESSES_EXHAUSTED')], [10, 4], `codes of 14 parallel wrong guesses: ${codes.join(', ')}`)
    await pinRefused(portal, wallet, cipherText, PIN, 'PIN_GUESSES_EXHAUSTED', 'the right PIN after the parallel guesses')
  },
}

// ---------------------------------------------------------------- scenarios

export const scenarios = {
  'managed backup, then recovery with the newest backup and with the cipherText': async (ctx) => {
    const { wallet, portal } = await setup(ctx)
    const a = makeShares('A')
    const cipherText = await backupOk(portal, wallet, a)
    await recoverOk(portal, wallet, '', a, "recoverWallet('')")
    await recoverOk(portal, wallet, cipherText, a, 'recoverWallet(cipherText)')
  },

  'progress: backup and recovery statuses in order, Done last and once': async (ctx) => {
    const { wallet, portal } = await setup(ctx)
    wallet.state.shares = makeShares('A')
    const backup = recorder()
    const cipherText = await portal.backupWallet('password', backup.onProgress, pw())
    progressIs(backup.events, BACKUP_STATUSES, 'backup')
    for (const ct of ['', cipherText]) {
      wallet.state.shares = null
      const recovery = recorder()
      await portal.recoverWallet(ct, 'password', recovery.onProgress, pw())
      progressIs(recovery.events, RECOVERY_STATUSES, `recoverWallet(${ct ? 'cipherText' : "''"})`)
    }
  },

  'requests: the module calls the documented routes in order': async (ctx) => {
    const { client, wallet, portal } = await setup(ctx)
    const cipherText = await backupOk(portal, wallet, makeShares('A'))
    equal(await routesOf(ctx, client), ['me', 'pairs', 'custodian-share', 'cipher-text', 'confirm'], 'managed backup requests')
    await ctx.reset()
    await portal.recoverWallet('', 'password', null, pw())
    equal(await routesOf(ctx, client), ['backups', 'custodian-share'], "recoverWallet('') requests")
    await ctx.reset()
    await portal.recoverWallet(cipherText, 'password', null, pw())
    equal(await routesOf(ctx, client), ['custodian-share'], 'recoverWallet(cipherText) requests')
    await ctx.reset()
    await portal.isWalletBackedUp()
    equal(await routesOf(ctx, client), ['wallet'], 'status requests')
    const log = await ctx.log(client.name)
    check(log.every((e) => e.status === 200), `every request answered 200: ${show(log)}`)
  },

  'status: not backed up before the first backup, backed up after': async (ctx) => {
    const { wallet, portal } = await setup(ctx)
    await statusIs(portal, NOT_BACKED_UP, 'before any backup')
    await backupOk(portal, wallet, makeShares('A'))
    await statusIs(portal, BACKED_UP, 'after the backup')
  },

  'an older cipherText still recovers after newer backups': async (ctx) => {
    const { wallet, portal } = await setup(ctx)
    const [a, b, c] = ['A', 'B', 'C'].map(makeShares)
    const cipherA = await backupOk(portal, wallet, a, 'backup A')
    const cipherB = await backupOk(portal, wallet, b, 'backup B')
    await backupOk(portal, wallet, c, 'backup C')
    await recoverOk(portal, wallet, '', c, "recoverWallet('') gives the newest")
    await recoverOk(portal, wallet, cipherA, a, 'recoverWallet(cipherText A)')
    await recoverOk(portal, wallet, cipherB, b, 'recoverWallet(cipherText B)')
  },

  'retention: a fourth backup lets the oldest go; the three kept still recover': async (ctx) => {
    // The service keeps the newest three completed backups of a method (serve --keep-completed).
    const { wallet, portal } = await setup(ctx)
    const shares = ['A', 'B', 'C', 'D'].map(makeShares)
    const ciphers = []
    for (const [i, s] of shares.entries()) ciphers.push(await backupOk(portal, wallet, s, `backup ${i}`))
    await rejects(portal.recoverWallet(ciphers[0], 'password', null, pw()), 'INVALID_CUSTODIAN_SHARE', 'recoverWallet(cipherText A)')
    for (const i of [1, 2, 3]) await recoverOk(portal, wallet, ciphers[i], shares[i], `recoverWallet(cipherText ${'ABCD'[i]})`)
    await recoverOk(portal, wallet, '', shares[3], "recoverWallet('') gives the newest")
  },

  'wrong API key: UNAUTHORIZED with cause 401, no Done': async (ctx) => {
    const wallet = memoryKeychain(makeShares('A'))
    const apiKey = `wbk_live_${'A'.repeat(43)}`
    const portal = new ctx.Portal({ apiKey, apiHost: ctx.apiHost, keychain: wallet.keychain })
    const backup = recorder()
    const e = await rejects(portal.backupWallet('password', backup.onProgress, pw()), 'UNAUTHORIZED', 'backup with a wrong key')
    causeIs(e, 401, 'UNAUTHORIZED', 'backup with a wrong key')
    noDone(backup.events, 'backup with a wrong key')
    const recovery = recorder()
    const r = await rejects(portal.recoverWallet('', 'password', recovery.onProgress, pw()), 'UNAUTHORIZED', "recoverWallet('') with a wrong key")
    causeIs(r, 401, 'UNAUTHORIZED', "recoverWallet('') with a wrong key")
    noDone(recovery.events, "recoverWallet('') with a wrong key")
    const s = await rejects(portal.isWalletBackedUp(), 'UNAUTHORIZED', 'status with a wrong key')
    causeIs(s, 401, 'UNAUTHORIZED', 'status with a wrong key')
  },

  'service down (connection refused): NETWORK_ERROR, no Done': async (ctx) => {
    const client = await ctx.newClient()
    const wallet = memoryKeychain(makeShares('A'))
    const portal = new ctx.Portal({ apiKey: client.key, apiHost: ctx.deadHost, keychain: wallet.keychain })
    const backup = recorder()
    await rejects(portal.backupWallet('password', backup.onProgress, pw()), 'NETWORK_ERROR', 'backup')
    noDone(backup.events, 'backup')
    const recovery = recorder()
    await rejects(portal.recoverWallet('', 'password', recovery.onProgress, pw()), 'NETWORK_ERROR', "recoverWallet('')")
    noDone(recovery.events, "recoverWallet('')")
    await rejects(portal.isWalletBackedUp(), 'NETWORK_ERROR', 'status')
    await rejects(portal.api.storedClientBackupShare(true, 'password'), 'NETWORK_ERROR', 'storedClientBackupShare')
  },

  'stalled answer with a small timeoutMs: NETWORK_TIMEOUT': async (ctx) => {
    const { client, portal } = await setup(ctx, { timeoutMs: 300 })
    await ctx.fault({ route: 'wallet', action: 'stall', client: client.name })
    const start = Date.now()
    await rejects(portal.isWalletBackedUp(), 'NETWORK_TIMEOUT', 'status with a stalled answer')
    const elapsed = Date.now() - start
    check(elapsed >= 250 && elapsed < 10_000, `the timeout of 300 ms took ${elapsed} ms`)
  },

  'a timed-out request is aborted, and the next request goes through': async (ctx) => {
    const { client, portal } = await setup(ctx, { timeoutMs: 300 })
    await ctx.fault({ route: 'wallet', action: 'stall', client: client.name })
    await rejects(portal.isWalletBackedUp(), 'NETWORK_TIMEOUT', 'status with a stalled answer')
    // The deadline aborts the fetch, so the proxy sees the client close its connection.
    let entry
    for (let i = 0; i < 20 && !entry?.clientClosed; i++) {
      await ctx.sleep(50)
      entry = (await ctx.log(client.name)).find((e) => e.fault === 'stall')
    }
    check(entry && entry.clientClosed, `the timed-out request was not aborted: its connection is still open 1 s after the deadline (${show(entry)})`)
    const patient = new ctx.Portal({ apiKey: client.key, apiHost: ctx.apiHost, keychain: memoryKeychain().keychain })
    equal(await patient.isWalletBackedUp(), false, 'the next status query (default timeout)')
  },

  'a confirm that timed out is not sent again when its connection breaks': async (ctx) => {
    const { client, wallet, portal } = await setup(ctx, { timeoutMs: 2000 })
    const a = makeShares('A')
    await backupOk(portal, wallet, a, 'backup A')
    await ctx.fault({ route: 'confirm', action: 'hold', client: client.name })
    const settled = startBackup(portal, wallet, makeShares('B'))
    await ctx.waitHeld({ route: 'confirm' })
    await expectFailed(settled, 'NETWORK_TIMEOUT', 'backup B whose confirm is stuck')
    // Later the stuck connection breaks (say, a load balancer's idle timeout).
    await ctx.release({ route: 'confirm', how: 'drop' })
    await ctx.sleep(500)
    const confirms = (await ctx.log(client.name)).filter((e) => e.route === 'confirm')
    equal(confirms.map((e) => e.outcome), ['answered', 'dropped while held'], 'confirm requests (backup A, then the stuck one of B)')
    await recoverOk(portal, wallet, '', a, "recoverWallet('') after the failed backup B")
  },

  'answer whose body stalls after the headers: NETWORK_TIMEOUT (the deadline covers the body)': async (ctx) => {
    const { client, portal } = await setup(ctx, { timeoutMs: 300 })
    await ctx.fault({ route: 'wallet', action: 'stall-body', client: client.name })
    const start = Date.now()
    await rejects(portal.isWalletBackedUp(), 'NETWORK_TIMEOUT', 'status with a stalled body')
    const elapsed = Date.now() - start
    check(elapsed >= 250 && elapsed < 10_000, `the timeout of 300 ms took ${elapsed} ms`)
  },

  'a 200 answer that is not JSON: SERVICE_ERROR': async (ctx) => {
    const { client, wallet, portal } = await setup(ctx)
    await ctx.fault({ route: 'wallet', action: 'status', status: 200, body: '<html>a captive portal</html>', client: client.name })
    await rejects(portal.isWalletBackedUp(), 'SERVICE_ERROR', 'status answered with HTML')
    await ctx.fault({ route: 'me', action: 'status', status: 200, body: '{"id":"x"}', client: client.name })
    wallet.state.shares = makeShares('A')
    const backup = recorder()
    await rejects(portal.backupWallet('password', backup.onProgress, pw()), 'SERVICE_ERROR', 'backup whose client settings lack managedBackups')
    noDone(backup.events, 'backup whose client settings lack managedBackups')
  },

  'stalled confirm: NETWORK_TIMEOUT, no Done, the previous backup stays': async (ctx) => {
    // Every other request of the backup must be answered within timeoutMs: room for a loaded CI machine.
    await failedBackupKeepsPrevious(ctx, 'confirm', { action: 'stall' }, 'NETWORK_TIMEOUT', { timeoutMs: 2000 })
  },

  '503 on confirm: SERVICE_ERROR, no Done, the previous backup stays': async (ctx) => {
    await failedBackupKeepsPrevious(ctx, 'confirm', { action: 'status', status: 503 }, 'SERVICE_ERROR', {
      cause: { status: 503, code: 'INTERNAL_ERROR' },
    })
  },

  '503 on the cipher-text PUT: SERVICE_ERROR, no Done, the previous backup stays': async (ctx) => {
    await failedBackupKeepsPrevious(ctx, 'cipher-text', { action: 'status', status: 503 }, 'SERVICE_ERROR', {
      cause: { status: 503, code: 'INTERNAL_ERROR' },
    })
  },

  'connection dropped on the pair POST: NETWORK_ERROR, no Done, the previous backup stays': async (ctx) => {
    // times -1: a browser resends a request once when a reused connection closes; drop that too.
    await failedBackupKeepsPrevious(ctx, 'pairs', { action: 'drop', times: -1 }, 'NETWORK_ERROR')
  },

  'rate limit (1/s, burst 1): RATE_LIMITED with cause 429': async (ctx) => {
    const { wallet, portal } = await setup(ctx, { service: 'limited' })
    equal(await portal.isWalletBackedUp(), false, 'first request (the burst)')
    wallet.state.shares = makeShares('A')
    const backup = recorder()
    const e = await rejects(portal.backupWallet('password', backup.onProgress, pw()), 'RATE_LIMITED', 'backup right after')
    causeIs(e, 429, 'RATE_LIMITED', 'backup right after')
    noDone(backup.events, 'backup right after')
    const s = await rejects(portal.isWalletBackedUp(), 'RATE_LIMITED', 'status right after')
    causeIs(s, 429, 'RATE_LIMITED', 'status right after')
    await ctx.sleep(1200)
    equal(await portal.isWalletBackedUp(), false, 'status once the bucket refilled')
  },

  "no backup yet: recoverWallet('') gives NO_BACKUP": async (ctx) => {
    const { wallet, portal } = await setup(ctx)
    wallet.state.shares = null
    const recovery = recorder()
    await rejects(portal.recoverWallet('', 'password', recovery.onProgress, pw()), 'NO_BACKUP', "recoverWallet('')")
    noDone(recovery.events, "recoverWallet('')")
    equal(wallet.state.shares, null, 'keychain after NO_BACKUP')
    await statusIs(portal, NOT_BACKED_UP, 'without a backup')
  },

  'self-managed: backup, storedClientBackupShare(true), recovery from the app-kept cipherText': async (ctx) => {
    const { client, wallet, portal } = await setup(ctx, { managedBackups: false })
    const a = makeShares('A')
    const cipherA = await backupOk(portal, wallet, a, 'self-managed backup')
    equal(await routesOf(ctx, client), ['me', 'pairs', 'custodian-share'], 'self-managed backup requests (no cipher-text, no confirm)')
    await statusIs(portal, NOT_BACKED_UP, 'before the app reported the cipherText stored')
    await ctx.reset()
    await portal.api.storedClientBackupShare(true, 'password')
    equal(await routesOf(ctx, client), ['stored', 'confirm'], 'storedClientBackupShare(true) requests')
    await statusIs(portal, BACKED_UP, 'after storedClientBackupShare(true)')
    wallet.state.shares = null
    const recovery = recorder()
    await rejects(portal.recoverWallet('', 'password', recovery.onProgress, pw()), 'MANAGED_BACKUPS_DISABLED', "self-managed recoverWallet('')")
    noDone(recovery.events, "self-managed recoverWallet('')")
    equal(wallet.state.shares, null, "keychain after self-managed recoverWallet('')")
    await recoverOk(portal, wallet, cipherA, a, 'recoverWallet(app-kept cipherText)')
  },

  "self-managed, no backup yet: recoverWallet('') gives MANAGED_BACKUPS_DISABLED (README)": async (ctx) => {
    const { wallet, portal } = await setup(ctx, { managedBackups: false })
    wallet.state.shares = null
    await rejects(portal.recoverWallet('', 'password', null, pw()), 'MANAGED_BACKUPS_DISABLED', "fresh self-managed client's recoverWallet('')")
  },

  'self-managed: storedClientBackupShare(false) keeps the previous backup': async (ctx) => {
    const { wallet, portal } = await setup(ctx, { managedBackups: false })
    const a = makeShares('A')
    const b = makeShares('B')
    const cipherA = await backupOk(portal, wallet, a, 'backup A')
    await portal.api.storedClientBackupShare(true, 'password')
    const cipherB = await backupOk(portal, wallet, b, 'backup B')
    await portal.api.storedClientBackupShare(false, 'password')
    await statusIs(portal, BACKED_UP, 'after storedClientBackupShare(false)')
    await recoverOk(portal, wallet, cipherA, a, 'recoverWallet(cipherText A)')
    wallet.state.shares = null
    await rejects(portal.recoverWallet(cipherB, 'password', null, pw()), 'INVALID_CUSTODIAN_SHARE', 'recoverWallet(cipherText B), reported not stored')
    equal(wallet.state.shares, null, 'keychain after recovering the failed backup B')
  },

  'self-managed: a storedClientBackupShare(true) whose confirm failed can be repeated': async (ctx) => {
    const { client, wallet, portal } = await setup(ctx, { managedBackups: false })
    const a = makeShares('A')
    const b = makeShares('B')
    const cipherA = await backupOk(portal, wallet, a, 'backup A')
    await portal.api.storedClientBackupShare(true, 'password')
    const cipherB = await backupOk(portal, wallet, b, 'backup B')
    await ctx.fault({ route: 'confirm', action: 'status', status: 503, client: client.name })
    const e = await rejects(portal.api.storedClientBackupShare(true, 'password'), 'SERVICE_ERROR', 'report whose confirm got 503')
    causeIs(e, 503, 'INTERNAL_ERROR', 'report whose confirm got 503')
    // Not confirmed: the service still counts A only.
    await statusIs(portal, BACKED_UP, 'after the failed report')
    await ctx.reset()
    await portal.api.storedClientBackupShare(true, 'password')
    equal(await routesOf(ctx, client), ['stored', 'confirm'], 'the repeated report')
    await recoverOk(portal, wallet, cipherB, b, 'recoverWallet(cipherText B)')
    await recoverOk(portal, wallet, cipherA, a, 'recoverWallet(cipherText A)')
  },

  "another client's cipherText: INVALID_CUSTODIAN_SHARE (the service says 404)": async (ctx) => {
    const first = await setup(ctx)
    const cipherA = await backupOk(first.portal, first.wallet, makeShares('A'), "client A's backup")
    const second = await setup(ctx)
    const b = makeShares('B')
    await backupOk(second.portal, second.wallet, b, "client B's backup")
    await ctx.reset()
    const recovery = recorder()
    await rejects(second.portal.recoverWallet(cipherA, 'password', recovery.onProgress, pw()), 'INVALID_CUSTODIAN_SHARE', "client B recovering client A's cipherText")
    noDone(recovery.events, "client B recovering client A's cipherText")
    equal(second.wallet.state.shares, b, "client B's keychain")
    const log = await ctx.log(second.client.name)
    equal(log.map((e) => [e.route, e.status]), [['custodian-share', 404]], "client B's requests")
  },

  'wrong password: WRONG_PASSWORD, keychain untouched': async (ctx) => {
    const { wallet, portal } = await setup(ctx)
    const cipherText = await backupOk(portal, wallet, makeShares('A'))
    for (const ct of [cipherText, '']) {
      const what = `recoverWallet(${ct ? 'cipherText' : "''"}) with a wrong password`
      wallet.state.shares = null
      const recovery = recorder()
      await rejects(portal.recoverWallet(ct, 'password', recovery.onProgress, pw(`${PASSWORD}!`)), 'WRONG_PASSWORD', what)
      noDone(recovery.events, what)
      equal(wallet.state.shares, null, `keychain after ${what}`)
    }
  },

  'a second backup on a busy keychain: WALLET_MODIFICATION_ALREADY_IN_PROGRESS': async (ctx) => {
    const { client, wallet, portal } = await setup(ctx)
    const a = makeShares('A')
    await ctx.fault({ route: 'pairs', action: 'hold', client: client.name })
    wallet.state.shares = a
    const first = recorder()
    const running = portal.backupWallet('password', first.onProgress, pw())
    await ctx.waitHeld({ route: 'pairs' })
    await rejects(portal.backupWallet('password', null, pw()), 'WALLET_MODIFICATION_ALREADY_IN_PROGRESS', 'a second backup')
    await rejects(portal.recoverWallet('', 'password', null, pw()), 'WALLET_MODIFICATION_ALREADY_IN_PROGRESS', 'a recovery')
    await ctx.release({ route: 'pairs', how: 'forward' })
    const cipherText = await running
    progressIs(first.events, BACKUP_STATUSES, 'the first backup, released')
    await recoverOk(portal, wallet, cipherText, a, 'recovery of the first backup')
  },

  'kill: service SIGKILLed while the pair POST is held; the previous backup stays': async (ctx) => {
    await killWhileHeld(ctx, 'pairs', 'hold', 'A')
  },

  'kill: service SIGKILLed while the cipher-text PUT is held; the previous backup stays': async (ctx) => {
    await killWhileHeld(ctx, 'cipher-text', 'hold', 'A')
  },

  'kill: service SIGKILLed while the confirm is held; the previous backup stays': async (ctx) => {
    await killWhileHeld(ctx, 'confirm', 'hold', 'A')
  },

  'kill: service SIGKILLed after it answered the confirm (acknowledged write survives): the new backup is the one': async (ctx) => {
    // The module never sees the answer, so backupWallet fails; the service had
    // committed the confirm, so after the restart the NEW backup is completed.
    await killWhileHeld(ctx, 'confirm', 'hold-response', 'B')
  },

  'abort during the pair POST: ABORTED, the previous backup stays': async (ctx) => {
    await abortWhileHeld(ctx, 'pairs', 'hold')
  },

  'abort after the service stored the cipherText (its answer held): ABORTED, the previous backup stays': async (ctx) => {
    await abortWhileHeld(ctx, 'cipher-text', 'hold-response')
  },

  'abort during the confirm: the commit is not interrupted, its answer decides (the new backup)': async (ctx) => {
    const { client, wallet, portal } = await setup(ctx)
    await backupOk(portal, wallet, makeShares('A'), 'backup A')
    const b = makeShares('B')
    await ctx.fault({ route: 'confirm', action: 'hold', client: client.name })
    wallet.state.shares = b
    const controller = new AbortController()
    const { events, onProgress } = recorder()
    const running = portal.backupWallet('password', onProgress, { ...pw(), signal: controller.signal })
    await ctx.waitHeld({ route: 'confirm' })
    controller.abort()
    await ctx.release({ route: 'confirm', how: 'forward' })
    const cipherB = await running
    progressIs(events, BACKUP_STATUSES, 'backup B, aborted during its confirm')
    await ctx.reset()
    await recoverOk(portal, wallet, '', b, "recoverWallet('') after the confirm went through")
    await recoverOk(portal, wallet, cipherB, b, 'recoverWallet(cipherText B)')
  },

  'abort during the custodian-share fetch of a recovery: ABORTED, the keychain untouched': async (ctx) => {
    const { client, wallet, portal } = await setup(ctx)
    const a = makeShares('A')
    await backupOk(portal, wallet, a, 'backup A')
    wallet.state.shares = 'what the device holds now'
    await ctx.fault({ route: 'custodian-share', action: 'hold', client: client.name })
    const controller = new AbortController()
    const { events, onProgress } = recorder()
    const running = portal.recoverWallet('', 'password', onProgress, { ...pw(), signal: controller.signal })
    await ctx.waitHeld({ route: 'custodian-share' })
    controller.abort()
    await rejects(running, 'ABORTED', 'recovery aborted at the custodian-share fetch')
    noDone(events, 'the aborted recovery')
    await ctx.release({ route: 'custodian-share', how: 'forward' })
    equal(wallet.state.shares, 'what the device holds now', 'the keychain after the aborted recovery')
    equal(wallet.calls.setShares, 0, 'setShares calls')
    await ctx.reset()
    await recoverOk(portal, wallet, '', a, 'a recovery after the abort')
  },

  ...guessLimitedScenarios,
}
