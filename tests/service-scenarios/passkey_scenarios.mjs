// The passkey method's scenarios, as an ES module that imports only the
// checks both engines run (../scenario_checks.mjs), so that Node.js and
// Chromium (passkey.test.mjs) run the same code. Each scenario is
// `async (ctx)` with:
//   ctx.kind                        'node' (the software double) or 'chromium' (navigator.credentials
//                                   on the DevTools virtual authenticator)
//   ctx.Portal, ctx.PasskeyStorage  the package's exports
//   ctx.apiHost, ctx.apiKey         the service (rp id `localhost`, the page's origin allowed) and a
//                                   fresh client of it, made by the runner
//   ctx.hosts                       { main, short, plain }: `short` runs with --passkey-ceremony-ttl 1,
//                                   `plain` has no relying party
//   ctx.newClient({ service, passkeyRpId, passkeyOrigins })   another client's API key
//   ctx.passkeys                    Node.js: the double the module is given; Chromium: undefined, so
//                                   the module calls navigator.credentials
//   ctx.webauthn                    the same authenticator, JSON in and out, for driving the
//                                   /passkeys/* routes directly ({ create, get })
//   ctx.authenticator               control of the authenticator:
//     setUserVerified(bool)         off: the user fails verification (Chromium: NotAllowedError;
//                                   the double: assertions with the UV flag clear)
//     clearUvFlag(bool)             assertions come back with the UV flag clear (Chromium:
//                                   WebAuthn.setResponseOverrideBits isBadUV)
//     useDevice({ prf })            the same credentials on another device with or without PRF
//                                   (Chromium: moved to a new virtual authenticator, which loses
//                                   their PRF secrets)
//     setSignCount(id, n)           a credential's signature counter
// Scenarios in NODE_ONLY need knobs only the double has (a null answer, a
// thrown error, another origin string); ORIGIN_SCENARIOS run in Chromium on
// a page whose origin the service does not allow (ctx.foreign is true there).
// A scenario throws an Error when something is not as expected.

import { check, equal, rejects } from '../scenario_checks.mjs'

export const SHARES = JSON.stringify({ secp256k1: { id: 'pk-wallet', share: 'ab'.repeat(32) } })
const OTHER_SHARES = JSON.stringify({ secp256k1: { id: 'pk-wallet', share: 'cd'.repeat(32) } })

/** The progress statuses of a backup and of a recovery, in this order. */
const BACKUP_ORDER = ['Reading share', 'Generating share', 'Encrypting share', 'Storing share', 'Done']
const RECOVERY_ORDER = ['Reading share', 'Decrypting share', 'Parsing share', 'Recovering backup share', 'Recovering signing share', 'Storing share', 'Done']

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
const unb64url = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4)), (c) => c.charCodeAt(0))
const randomHex = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, '0')).join('')
const randomB64url = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)))

/** Statuses in `order`, each once at most, Done exactly once and last. */
function checkProgress(events, order, what) {
  check(events.length > 0, `${what}: no progress reported`)
  equal(events.at(-1), { status: 'Done', done: true }, `${what}: last progress event`)
  equal(events.filter((e) => e.done).length, 1, `${what}: events with done: true`)
  let at = -1
  for (const e of events) {
    const i = order.indexOf(e.status)
    check(i >= 0, `${what}: unexpected status ${e.status} in ${JSON.stringify(events.map((x) => x.status))}`)
    check(i > at, `${what}: status ${e.status} out of order in ${JSON.stringify(events.map((x) => x.status))}`)
    at = i
  }
}

/**
 * Records the requests to the passkey routes made while `fn` runs (the
 * module calls the global `fetch`): [{ method, route, body, status }].
 */
async function recordRequests(fn) {
  const original = globalThis.fetch
  const seen = []
  globalThis.fetch = async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input.url
    const m = /\/passkeys\/(.+)$/.exec(new URL(url).pathname)
    const entry = m ? { method: init.method ?? 'GET', route: m[1], body: typeof init.body === 'string' ? JSON.parse(init.body) : init.body ?? null, status: null } : null
    if (entry) seen.push(entry)
    const res = await original(input, init)
    if (entry) entry.status = res.status
    return res
  }
  try {
    const result = await fn()
    return { result, seen }
  } catch (e) {
    e.requests = seen
    throw e
  } finally {
    globalThis.fetch = original
  }
}

const routes = (seen) => seen.map((r) => `${r.route} ${r.status}`)

/** A wallet: keychain, PasskeyStorage (on ctx.passkeys as it is now) and Portal. */
function wallet(ctx, { mode, shares = SHARES, state = { shares }, apiKey = ctx.apiKey, apiHost = ctx.apiHost, passkeys = ctx.passkeys } = {}) {
  const keychain = { getShares: async () => state.shares, setShares: async (s) => void (state.shares = s) }
  const passkey = new ctx.PasskeyStorage({ passkeys, ...(mode ? { mode } : {}) })
  const portal = new ctx.Portal({ apiKey, apiHost, keychain, backup: { passkey } })
  return { state, portal, passkey }
}

async function backup(w, what) {
  const events = []
  const { result: cipherText, seen } = await recordRequests(() => w.portal.backupWallet('passkey', (e) => events.push(e)))
  checkProgress(events, BACKUP_ORDER, what)
  check(typeof cipherText === 'string' && cipherText.length > 0, `${what}: no cipherText`)
  return { cipherText, seen }
}

async function recover(w, cipherText, what) {
  const events = []
  w.state.shares = ''
  const { seen } = await recordRequests(() => w.portal.recoverWallet(cipherText, 'passkey', (e) => events.push(e)))
  checkProgress(events, RECOVERY_ORDER, what)
  return seen
}

/** The requests of a backup in PRF mode: nothing of the key goes to the service. */
function checkPrfBackup(seen, what) {
  check(!seen.some((r) => r.route.startsWith('finish-login')), `${what}: PRF mode expected, but the module called ${routes(seen)}`)
  for (const r of seen.filter((x) => x.route === 'finish-registration')) {
    equal(r.body.credential.clientExtensionResults ?? {}, {}, `${what}: clientExtensionResults sent at registration`)
  }
}

function checkEnclaveBackup(seen, what) {
  const writes = seen.filter((r) => r.route === 'finish-login/write')
  equal(writes.map((r) => r.status), [200], `${what}: finish-login/write calls (enclave mode) among ${routes(seen)}`)
  check(/^[0-9a-f]{32}$/.test(writes[0].body.backupId), `${what}: backupId ${writes[0].body.backupId}`)
  equal(unb64url(writes[0].body.encryptionKey).length, 32, `${what}: encryptionKey bytes`)
  equal(writes[0].body.credential.clientExtensionResults ?? {}, {}, `${what}: clientExtensionResults sent with the assertion`)
}

// ---- the /passkeys/* routes, directly -----------------------------------------

/** One call to the service's /passkeys/* routes: { status, body }. */
export async function api(ctx, method, route, body, { apiKey = ctx.apiKey, apiHost = ctx.apiHost } = {}) {
  const res = await fetch(`${apiHost}/passkeys/${route}`, {
    method,
    headers: { Authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await res.text()
  let json = null
  try {
    json = JSON.parse(text)
  } catch {
    json = text
  }
  return { status: res.status, body: json }
}

/** Expects `{ status, body: { error: { code } } }`. */
function denied(answer, status, code, what) {
  const got = { status: answer.status, code: answer.body?.error?.code }
  equal(got, { status, code }, `${what} (body ${JSON.stringify(answer.body).slice(0, 300)})`)
}

function ok(answer, what) {
  check(answer.status === 200, `${what}: expected 200, got ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`)
  return answer.body
}

/** begin-registration → create → finish-registration; resolves to { begin, credential, finish }. */
export async function register(ctx, { webauthn = ctx.webauthn, on = {}, dropExclude = false } = {}) {
  const begin = ok(await api(ctx, 'POST', 'begin-registration', { userName: 'Scenario wallet' }, on), 'begin-registration')
  check(/^[0-9a-f]{32}$/.test(begin.ceremonyId), `ceremonyId ${begin.ceremonyId}`)
  const options = dropExclude ? { ...begin.options, excludeCredentials: [] } : begin.options
  const credential = await webauthn.create(options)
  check(credential, 'the authenticator gave no credential')
  const finish = await api(ctx, 'POST', 'finish-registration', { ceremonyId: begin.ceremonyId, credential: { ...credential, clientExtensionResults: {} } }, on)
  return { begin, credential, finish }
}

/** begin-login → get; resolves to { begin, assertion }. `allow` replaces allowCredentials at the authenticator. */
export async function login(ctx, { webauthn = ctx.webauthn, on = {}, backupId, allow } = {}) {
  const begin = ok(await api(ctx, 'POST', 'begin-login', backupId ? { backupId } : {}, on), 'begin-login')
  const options = allow ? { ...begin.options, allowCredentials: allow.map((id) => ({ type: 'public-key', id })) } : begin.options
  const assertion = await webauthn.get(options)
  check(assertion, 'the authenticator gave no assertion')
  return { begin, assertion: { ...assertion, clientExtensionResults: {} } }
}

const allowed = (options) => (options.allowCredentials ?? []).map((c) => c.id).sort()

/** Flips one bit in the middle of a base64url field. */
function tamper(text) {
  const bytes = unb64url(text)
  bytes[bytes.length >> 1] ^= 0x01
  return b64url(bytes)
}

export const passkeyScenarios = {
  'PRF mode: backup, then recovery from the service and from the cipherText; nothing of the key leaves the device': async (ctx) => {
    const status0 = ok(await api(ctx, 'GET', 'status'), 'status')
    equal({ configured: status0.configured, rpId: status0.relyingParty?.id, registered: status0.registered, credentials: status0.credentials },
      { configured: true, rpId: 'localhost', registered: false, credentials: 0 }, 'status before the first backup')
    const w = wallet(ctx)
    const { cipherText, seen } = await backup(w, 'PRF backup')
    checkPrfBackup(seen, 'PRF backup')
    check(seen.some((r) => r.route === 'finish-registration' && r.status === 200), `registration expected: ${routes(seen)}`)
    const status1 = ok(await api(ctx, 'GET', 'status'), 'status')
    equal([status1.registered, status1.credentials], [true, 1], 'status after the backup (registered, credentials)')
    equal(await w.portal.availableRecoveryMethods(), ['passkey'], 'recovery methods')
    const fromService = await recover(w, '', "PRF recovery ('')")
    equal(w.state.shares, SHARES, "shares after recoverWallet('')")
    check(!fromService.some((r) => r.route.startsWith('finish-login')), `PRF recovery called ${routes(fromService)}`)
    const fromText = await recover(w, cipherText, 'PRF recovery (cipherText)')
    equal(w.state.shares, SHARES, 'shares after recoverWallet(cipherText)')
    check(!fromText.some((r) => r.route.startsWith('finish-')), `PRF recovery called ${routes(fromText)}`)
    // The second backup registers nothing new: the passkey is there.
    const second = await backup(w, 'second PRF backup')
    check(!second.seen.some((r) => r.route.includes('registration')), `second backup registered again: ${routes(second.seen)}`)
    equal(ok(await api(ctx, 'GET', 'status'), 'status').credentials, 1, 'credentials after two backups')
    if (ctx.passkeys) {
      // The contract: create is asked for the PRF of the backup's salt already.
      const create = ctx.passkeys.calls.find((c) => c.kind === 'create')
      equal(create.options.authenticatorSelection?.userVerification, 'required', 'userVerification at create')
      equal(unb64url(create.options.extensions?.prf?.eval?.first ?? '').length, 32, 'bytes of the PRF salt (extensions.prf.eval.first) given to create')
    }
  },

  'enclave mode: the key is written to and read from the service after verified assertions': async (ctx) => {
    const w = wallet(ctx, { mode: 'enclave' })
    const { cipherText, seen } = await backup(w, 'enclave backup')
    checkEnclaveBackup(seen, 'enclave backup')
    if (ctx.passkeys) {
      const gets = ctx.passkeys.calls.filter((c) => c.kind === 'get')
      check(gets.length > 0 && gets.every((c) => !c.options.extensions?.prf), 'enclave mode asked the authenticator for PRF')
    }
    for (const text of ['', cipherText]) {
      const reads = await recover(w, text, `enclave recovery (${text ? 'cipherText' : "''"})`)
      equal(w.state.shares, SHARES, 'shares after recovery')
      const read = reads.filter((r) => r.route === 'finish-login/read')
      equal(read.map((r) => r.status), [200], `finish-login/read calls among ${routes(reads)}`)
      const begin = reads.find((r) => r.route === 'begin-login')
      check(/^[0-9a-f]{32}$/.test(begin?.body?.backupId), `begin-login carries the backupId: ${JSON.stringify(begin?.body)}`)
      equal(read[0].body.backupId, begin.body.backupId, 'the backupId read')
    }
  },

  'auto mode on a device without PRF falls back to the enclave, and recovers there': async (ctx) => {
    await ctx.authenticator.useDevice({ prf: false })
    const w = wallet(ctx)
    const { cipherText, seen } = await backup(w, 'backup without PRF')
    checkEnclaveBackup(seen, 'backup without PRF')
    await recover(w, cipherText, 'recovery without PRF')
    equal(w.state.shares, SHARES, 'shares')
  },

  'an enclave-mode backup recovers on a PRF-capable authenticator': async (ctx) => {
    // Chosen mode on a PRF device: recovery follows the recorded mode, not what the device can do.
    const w = wallet(ctx, { mode: 'enclave' })
    const first = await backup(w, 'enclave backup on a PRF device')
    checkEnclaveBackup(first.seen, 'enclave backup on a PRF device')
    const auto = wallet(ctx, { state: w.state })
    const reads = await recover(auto, first.cipherText, 'recovery in auto mode')
    equal(w.state.shares, SHARES, 'shares')
    check(reads.some((r) => r.route === 'finish-login/read' && r.status === 200), `recovery did not read from the enclave: ${routes(reads)}`)
    // Made on a device without PRF, recovered on one with it.
    await ctx.authenticator.useDevice({ prf: false })
    const other = wallet(ctx, { state: { shares: OTHER_SHARES } })
    const second = await backup(other, 'backup without PRF')
    checkEnclaveBackup(second.seen, 'backup without PRF')
    await ctx.authenticator.useDevice({ prf: true })
    const later = wallet(ctx, { state: other.state })
    await recover(later, second.cipherText, 'recovery on a PRF device')
    equal(other.state.shares, OTHER_SHARES, 'shares')
  },

  'a PRF-mode backup on a device without PRF: PASSKEY_PRF_UNAVAILABLE, keychain untouched': async (ctx) => {
    const w = wallet(ctx)
    const { cipherText, seen } = await backup(w, 'PRF backup')
    checkPrfBackup(seen, 'PRF backup')
    await ctx.authenticator.useDevice({ prf: false })
    const there = wallet(ctx, { state: { shares: '' } })
    const events = []
    await rejects(there.portal.recoverWallet(cipherText, 'passkey', (e) => events.push(e)), 'PASSKEY_PRF_UNAVAILABLE', 'recovery without PRF')
    equal(there.state.shares, '', 'keychain after the refused recovery')
    check(!events.some((e) => e.done), 'Done reported for a failed recovery')
    await rejects(there.portal.recoverWallet('', 'passkey'), 'PASSKEY_PRF_UNAVAILABLE', "recovery ('') without PRF")
    equal(there.state.shares, '', 'keychain after the refused recovery')
  },

  'user verification fails: PASSKEY_NOT_ALLOWED (browser) / PASSKEY_USER_VERIFICATION_REQUIRED (UV clear), both modes': async (ctx) => {
    const prf = wallet(ctx)
    const prfBackup = await backup(prf, 'PRF backup')
    checkPrfBackup(prfBackup.seen, 'PRF backup')
    const enclave = wallet(ctx, { mode: 'enclave', state: prf.state })
    const enclaveBackup = await backup(enclave, 'enclave backup')
    checkEnclaveBackup(enclaveBackup.seen, 'enclave backup')
    const code = ctx.kind === 'chromium' ? 'PASSKEY_NOT_ALLOWED' : 'PASSKEY_USER_VERIFICATION_REQUIRED'
    await ctx.authenticator.setUserVerified(false)
    for (const [w, name] of [[prf, 'PRF'], [enclave, 'enclave']]) {
      await rejects(w.portal.backupWallet('passkey'), code, `${name} backup, user not verified`)
    }
    prf.state.shares = ''
    await rejects(prf.portal.recoverWallet(prfBackup.cipherText, 'passkey'), code, 'PRF recovery, user not verified')
    const { seen } = await recordRequests(() => rejects(enclave.portal.recoverWallet(enclaveBackup.cipherText, 'passkey'), code, 'enclave recovery, user not verified'))
    equal(prf.state.shares, '', 'keychain after refused recoveries')
    if (ctx.kind === 'node') {
      // The enclave's key is released only after the service checked the flag.
      const read = seen.find((r) => r.route === 'finish-login/read')
      equal(read?.status, 403, `finish-login/read with UV clear: ${routes(seen)}`)
    }
    await ctx.authenticator.setUserVerified(true)
    await recover(enclave, enclaveBackup.cipherText, 'enclave recovery once verified')
    equal(prf.state.shares, SHARES, 'shares once verified')
  },

  'assertions with the UV flag clear: PASSKEY_USER_VERIFICATION_REQUIRED on the device (PRF) and at the service (enclave)': async (ctx) => {
    const prf = wallet(ctx)
    const prfBackup = await backup(prf, 'PRF backup')
    checkPrfBackup(prfBackup.seen, 'PRF backup')
    const enclave = wallet(ctx, { mode: 'enclave', state: prf.state })
    const enclaveBackup = await backup(enclave, 'enclave backup')
    await ctx.authenticator.clearUvFlag(true)
    await rejects(prf.portal.backupWallet('passkey'), 'PASSKEY_USER_VERIFICATION_REQUIRED', 'PRF backup, UV clear')
    await rejects(enclave.portal.backupWallet('passkey'), 'PASSKEY_USER_VERIFICATION_REQUIRED', 'enclave backup, UV clear')
    prf.state.shares = ''
    await rejects(prf.portal.recoverWallet(prfBackup.cipherText, 'passkey'), 'PASSKEY_USER_VERIFICATION_REQUIRED', 'PRF recovery, UV clear')
    const { seen } = await recordRequests(() =>
      rejects(enclave.portal.recoverWallet(enclaveBackup.cipherText, 'passkey'), 'PASSKEY_USER_VERIFICATION_REQUIRED', 'enclave recovery, UV clear'))
    const read = seen.find((r) => r.route === 'finish-login/read')
    equal(read?.status, 403, `the service refused the read: ${routes(seen)}`)
    equal(prf.state.shares, '', 'keychain')
    // Directly: the service's code for a UV-clear assertion.
    const { begin, assertion } = await login(ctx)
    denied(await api(ctx, 'POST', 'finish-login/write', { ceremonyId: begin.ceremonyId, credential: assertion, backupId: randomHex(16), encryptionKey: randomB64url(32) }),
      403, 'PASSKEY_USER_VERIFICATION_REQUIRED', 'finish-login/write with UV clear')
    await ctx.authenticator.clearUvFlag(false)
  },

  'a second backup keeps the first recoverable (both modes), each with its own key': async (ctx) => {
    for (const mode of [undefined, 'enclave']) {
      const w = wallet(ctx, { mode, state: { shares: SHARES } })
      const calls0 = ctx.passkeys?.calls.length
      const first = await backup(w, `first backup (${mode ?? 'auto'})`)
      const calls1 = ctx.passkeys?.calls.length
      w.state.shares = OTHER_SHARES
      const second = await backup(w, `second backup (${mode ?? 'auto'})`)
      check(first.cipherText !== second.cipherText, 'two backups gave the same cipherText')
      await recover(w, first.cipherText, 'recovery of the first backup')
      equal(w.state.shares, SHARES, `shares of the first backup (${mode ?? 'auto'})`)
      await recover(w, '', 'recovery of the newest backup')
      equal(w.state.shares, OTHER_SHARES, `shares of the newest backup (${mode ?? 'auto'})`)
      if (mode === 'enclave') {
        const ids = [...first.seen, ...second.seen].filter((r) => r.route === 'finish-login/write').map((r) => r.body.backupId)
        equal(new Set(ids).size, 2, 'distinct backup ids')
      } else {
        checkPrfBackup(first.seen, 'first PRF backup')
        checkPrfBackup(second.seen, 'second PRF backup')
        if (ctx.passkeys) {
          // A fresh PRF salt per backup.
          const salt = (calls) => calls.filter((c) => c.kind === 'get').map((c) => c.options.extensions?.prf?.eval?.first)
          const [a, b] = [salt(ctx.passkeys.calls.slice(calls0, calls1)), salt(ctx.passkeys.calls.slice(calls1))]
          check(a[0] && b[0] && a[0] !== b[0], `PRF salts of the two backups: ${a[0]}, ${b[0]}`)
        }
      }
    }
  },

  'recovery on a new device: fresh keychain, new Portal, the synced passkey (both modes)': async (ctx) => {
    const prf = wallet(ctx)
    const a = await backup(prf, 'PRF backup')
    checkPrfBackup(a.seen, 'PRF backup')
    const enclave = wallet(ctx, { mode: 'enclave', state: { shares: OTHER_SHARES } })
    const b = await backup(enclave, 'enclave backup')
    checkEnclaveBackup(b.seen, 'enclave backup')
    // Another phone: nothing in its keychain, no cipherText at hand; the passkey manager synced the passkey.
    const passkeys = ctx.passkeys?.device()
    const phone = wallet(ctx, { state: { shares: '' }, passkeys })
    await recover(phone, a.cipherText, 'PRF recovery on the new device')
    equal(phone.state.shares, SHARES, 'shares of the PRF backup on the new device')
    await recover(phone, '', "recovery ('') on the new device: the newest backup")
    equal(phone.state.shares, OTHER_SHARES, 'shares of the newest (enclave) backup on the new device')
  },

  'another client: its credential, its ceremonies and its backups are not this client’s': async (ctx) => {
    const a = {}
    const bKey = await ctx.newClient()
    const onB = { apiKey: bKey }
    const regA = await register(ctx)
    a.credentialId = ok(regA.finish, 'finish-registration').credentialId
    equal(a.credentialId, regA.credential.id, 'credentialId')
    const regB = await register(ctx, { on: onB })
    const bCredential = ok(regB.finish, 'finish-registration of B').credentialId
    check(bCredential !== a.credentialId, 'two clients got the same credential')
    equal(allowed(regB.begin.options), [], "B's registration excludes A's credential")
    // A writes a key, reads it back.
    const backupId = randomHex(16)
    const encryptionKey = randomB64url(32)
    const w = await login(ctx)
    equal(ok(await api(ctx, 'POST', 'finish-login/write', { ceremonyId: w.begin.ceremonyId, credential: w.assertion, backupId, encryptionKey }), 'write').credentialId,
      a.credentialId, 'the key is bound to the asserting credential')
    const r = await login(ctx, { backupId })
    equal(allowed(r.begin.options), [a.credentialId], 'allowCredentials of begin-login {backupId}')
    equal(ok(await api(ctx, 'POST', 'finish-login/read', { ceremonyId: r.begin.ceremonyId, credential: r.assertion, backupId }), 'read').encryptionKey,
      encryptionKey, 'the key read back')
    // B: no key under A's backup id; A's credential is not allowed in B's ceremonies; A's ceremony is unknown to B.
    denied(await api(ctx, 'POST', 'begin-login', { backupId }, onB), 404, 'ENCRYPTION_KEY_NOT_FOUND', "B's begin-login with A's backupId")
    const bLogin = await login(ctx, { on: onB, allow: [a.credentialId] })
    equal(allowed(bLogin.begin.options), [bCredential], "allowCredentials of B's begin-login")
    equal(bLogin.assertion.id, a.credentialId, 'the authenticator answered with A’s credential')
    denied(await api(ctx, 'POST', 'finish-login/write', { ceremonyId: bLogin.begin.ceremonyId, credential: bLogin.assertion, backupId: randomHex(16), encryptionKey }, onB),
      403, 'PASSKEY_CREDENTIAL_NOT_ALLOWED', "B's finish-login/write with A's credential")
    const aLogin = await login(ctx, { backupId })
    denied(await api(ctx, 'POST', 'finish-login/read', { ceremonyId: aLogin.begin.ceremonyId, credential: aLogin.assertion, backupId }, onB),
      403, 'PASSKEY_CEREMONY_UNKNOWN', "B finishing A's ceremony")
    // Ceremonies are per client: B's attempt neither used nor burnt A's, which A then finishes once.
    equal(ok(await api(ctx, 'POST', 'finish-login/read', { ceremonyId: aLogin.begin.ceremonyId, credential: aLogin.assertion, backupId }), 'A after B').encryptionKey,
      encryptionKey, "A finishing its ceremony after B's refused attempt")
    denied(await api(ctx, 'POST', 'finish-login/read', { ceremonyId: aLogin.begin.ceremonyId, credential: aLogin.assertion, backupId }),
      403, 'PASSKEY_CEREMONY_UNKNOWN', 'A finishing it a second time')
    // A second credential of A may log in, but not read the key bound to the first.
    const regA2 = await register(ctx, { dropExclude: true })
    equal((regA2.begin.options.excludeCredentials ?? []).map((c) => c.id), [a.credentialId], "excludeCredentials of A's second registration")
    const a2 = ok(regA2.finish, 'second registration of A').credentialId
    const l2 = await login(ctx, { allow: [a2] })
    equal(allowed(l2.begin.options), [a.credentialId, a2].sort(), "allowCredentials of A's begin-login without backupId")
    denied(await api(ctx, 'POST', 'finish-login/read', { ceremonyId: l2.begin.ceremonyId, credential: l2.assertion, backupId }),
      403, 'PASSKEY_CREDENTIAL_NOT_ALLOWED', 'read by another credential of the same client')
    // Unknown backup ids, clients without credentials, unknown API keys.
    denied(await api(ctx, 'POST', 'begin-login', { backupId: randomHex(16) }), 404, 'ENCRYPTION_KEY_NOT_FOUND', 'begin-login with an unknown backupId')
    const none = await ctx.newClient()
    denied(await api(ctx, 'POST', 'begin-login', {}, { apiKey: none }), 404, 'PASSKEY_NOT_REGISTERED', 'begin-login of a client without credentials')
    denied(await api(ctx, 'GET', 'status', undefined, { apiKey: 'wbk_live_' + 'A'.repeat(43) }), 401, 'UNAUTHORIZED', 'status with an unknown API key')
  },

  'a ceremony is single-use: replayed and failed finishes, wrong kinds; keys are never overwritten': async (ctx) => {
    const reg = await register(ctx)
    const credentialId = ok(reg.finish, 'finish-registration').credentialId
    const replayRegistration = { ceremonyId: reg.begin.ceremonyId, credential: { ...reg.credential, clientExtensionResults: {} } }
    denied(await api(ctx, 'POST', 'finish-registration', replayRegistration), 403, 'PASSKEY_CEREMONY_UNKNOWN', 'replayed finish-registration')
    const backupId = randomHex(16)
    const key = randomB64url(32)
    const w = await login(ctx)
    const write = { ceremonyId: w.begin.ceremonyId, credential: w.assertion, backupId, encryptionKey: key }
    equal(ok(await api(ctx, 'POST', 'finish-login/write', write), 'write').credentialId, credentialId, 'write')
    denied(await api(ctx, 'POST', 'finish-login/write', write), 403, 'PASSKEY_CEREMONY_UNKNOWN', 'replayed finish-login/write')
    denied(await api(ctx, 'POST', 'finish-login/write', { ...write, backupId: randomHex(16) }), 403, 'PASSKEY_CEREMONY_UNKNOWN', 'replayed finish-login/write, other backupId')
    // A bad signature is refused, and the refusal consumed the ceremony.
    const t = await login(ctx, { backupId })
    const bad = { ...t.assertion, response: { ...t.assertion.response, signature: tamper(t.assertion.response.signature) } }
    denied(await api(ctx, 'POST', 'finish-login/read', { ceremonyId: t.begin.ceremonyId, credential: bad, backupId }), 403, 'PASSKEY_VERIFICATION_FAILED', 'read with a bad signature')
    denied(await api(ctx, 'POST', 'finish-login/read', { ceremonyId: t.begin.ceremonyId, credential: t.assertion, backupId }), 403, 'PASSKEY_CEREMONY_UNKNOWN', 'the good assertion after a failed finish')
    // A changed challenge (clientDataJSON) is refused.
    const c = await login(ctx, { backupId })
    const client = JSON.parse(new TextDecoder().decode(unb64url(c.assertion.response.clientDataJSON)))
    const forged = { ...c.assertion, response: { ...c.assertion.response, clientDataJSON: b64url(new TextEncoder().encode(JSON.stringify({ ...client, challenge: randomB64url(32) }))) } }
    denied(await api(ctx, 'POST', 'finish-login/read', { ceremonyId: c.begin.ceremonyId, credential: forged, backupId }), 403, 'PASSKEY_VERIFICATION_FAILED', 'read with another challenge')
    // The wrong kind: a login ceremony finished as a registration, a registration ceremony as a login.
    const k = await login(ctx)
    denied(await api(ctx, 'POST', 'finish-registration', { ceremonyId: k.begin.ceremonyId, credential: reg.credential }), 403, 'PASSKEY_CEREMONY_UNKNOWN', 'finish-registration of a login ceremony')
    const r2 = ok(await api(ctx, 'POST', 'begin-registration', {}), 'begin-registration')
    const k2 = await login(ctx)
    denied(await api(ctx, 'POST', 'finish-login/read', { ceremonyId: r2.ceremonyId, credential: k2.assertion, backupId }), 403, 'PASSKEY_CEREMONY_UNKNOWN', 'finish-login/read of a registration ceremony')
    denied(await api(ctx, 'POST', 'finish-login/read', { ceremonyId: randomHex(16), credential: k2.assertion, backupId }), 403, 'PASSKEY_CEREMONY_UNKNOWN', 'an unknown ceremonyId')
    // Never overwritten: a second write under the same backup id is 409 and the first key stays.
    const o = await login(ctx)
    denied(await api(ctx, 'POST', 'finish-login/write', { ceremonyId: o.begin.ceremonyId, credential: o.assertion, backupId, encryptionKey: randomB64url(32) }), 409, 'BACKUP_ID_EXISTS', 'a second write')
    const r = await login(ctx, { backupId })
    equal(ok(await api(ctx, 'POST', 'finish-login/read', { ceremonyId: r.begin.ceremonyId, credential: r.assertion, backupId }), 'read').encryptionKey, key, 'the first key')
    // Malformed bodies are the service's usual 400.
    for (const [route, body] of [['finish-login/write', '{"ceremonyId":'], ['begin-login', { backupId: 'not hex' }], ['begin-registration', { userName: '' }],
      ['begin-registration', { userName: 'x'.repeat(65) }], ['finish-login/write', { ceremonyId: randomHex(16), credential: {}, backupId, encryptionKey: randomB64url(31) }]]) {
      const a = await api(ctx, 'POST', route, body)
      check(a.status === 400 && /^[A-Z_]+$/.test(a.body?.error?.code ?? ''), `${route} ${JSON.stringify(body)}: expected 400 with a code, got ${a.status} ${JSON.stringify(a.body)}`)
    }
  },

  'a signature counter that goes back is PASSKEY_COUNTER_REGRESSED': async (ctx) => {
    const reg = await register(ctx)
    const credentialId = ok(reg.finish, 'finish-registration').credentialId
    for (let i = 0; i < 2; i++) {
      const w = await login(ctx)
      ok(await api(ctx, 'POST', 'finish-login/write', { ceremonyId: w.begin.ceremonyId, credential: w.assertion, backupId: randomHex(16), encryptionKey: randomB64url(32) }), `write ${i}`)
    }
    await ctx.authenticator.setSignCount(credentialId, 1)
    const w = await login(ctx)
    denied(await api(ctx, 'POST', 'finish-login/write', { ceremonyId: w.begin.ceremonyId, credential: w.assertion, backupId: randomHex(16), encryptionKey: randomB64url(32) }),
      403, 'PASSKEY_COUNTER_REGRESSED', 'an assertion whose counter went back')
  },

  'registration without user verification is refused by the service': async (ctx) => {
    await ctx.authenticator.clearUvFlag(true)
    const reg = await register(ctx)
    denied(reg.finish, 403, 'PASSKEY_USER_VERIFICATION_REQUIRED', 'finish-registration with UV clear')
    await ctx.authenticator.clearUvFlag(false)
    equal(ok(await api(ctx, 'GET', 'status'), 'status').registered, false, 'registered after the refusal')
  },

  'an expired ceremony is PASSKEY_CHALLENGE_EXPIRED (--passkey-ceremony-ttl 1)': async (ctx) => {
    const on = { apiHost: ctx.hosts.short, apiKey: await ctx.newClient({ service: 'short' }) }
    // In time: accepted (so the refusals below are the clock's).
    const reg = await register(ctx, { on })
    ok(reg.finish, 'finish-registration within the ttl')
    const l0 = await login(ctx, { on })
    ok(await api(ctx, 'POST', 'finish-login/write', { ceremonyId: l0.begin.ceremonyId, credential: l0.assertion, backupId: randomHex(16), encryptionKey: randomB64url(32) }, on),
      'finish-login/write within the ttl')
    // Late.
    const l = await login(ctx, { on })
    const late = ok(await api(ctx, 'POST', 'begin-registration', {}, on), 'begin-registration')
    const credential = await ctx.webauthn.create({ ...late.options, excludeCredentials: [] })
    await sleep(2200)
    denied(await api(ctx, 'POST', 'finish-registration', { ceremonyId: late.ceremonyId, credential: { ...credential, clientExtensionResults: {} } }, on),
      403, 'PASSKEY_CHALLENGE_EXPIRED', 'finish-registration after the ttl')
    denied(await api(ctx, 'POST', 'finish-login/write', { ceremonyId: l.begin.ceremonyId, credential: l.assertion, backupId: randomHex(16), encryptionKey: randomB64url(32) }, on),
      403, 'PASSKEY_CHALLENGE_EXPIRED', 'finish-login/write after the ttl')
  },

  'a service without a relying party: PASSKEY_NOT_CONFIGURED': async (ctx) => {
    const on = { apiHost: ctx.hosts.plain, apiKey: await ctx.newClient({ service: 'plain' }) }
    const status = ok(await api(ctx, 'GET', 'status', undefined, on), 'status')
    equal({ configured: status.configured, relyingParty: status.relyingParty, registered: status.registered }, { configured: false, relyingParty: null, registered: false }, 'status')
    denied(await api(ctx, 'POST', 'begin-registration', {}, on), 409, 'PASSKEY_NOT_CONFIGURED', 'begin-registration')
    const w = wallet(ctx, on)
    await rejects(w.portal.backupWallet('passkey'), 'PASSKEY_NOT_CONFIGURED', 'backup')
    if (ctx.passkeys) equal(ctx.passkeys.calls.length, 0, 'authenticator calls')
  },
}

/** Chromium runs these on a page whose origin is not among the service's (ctx.foreign); Node.js with a double of another origin. */
export const originScenarios = {
  'an origin the relying party does not allow is PASSKEY_ORIGIN_MISMATCH (registration, login, module)': async (ctx) => {
    const foreign = ctx.foreignWebauthn
    const reg = await register(ctx, { webauthn: foreign })
    denied(reg.finish, 403, 'PASSKEY_ORIGIN_MISMATCH', 'finish-registration from another origin')
    const w = wallet(ctx, { passkeys: ctx.foreignPasskeys })
    const error = await rejects(w.portal.backupWallet('passkey'), 'PASSKEY_DENIED', 'backup from another origin')
    equal({ status: error.cause?.status, code: error.cause?.code }, { status: 403, code: 'PASSKEY_ORIGIN_MISMATCH' }, 'cause')
    // A credential registered from the right origin, asserted from the wrong one.
    const credentialId = await ctx.registerElsewhere(ctx.apiKey)
    const l = await login(ctx, { webauthn: foreign })
    equal(l.assertion.id, credentialId, 'the credential asserted')
    denied(await api(ctx, 'POST', 'finish-login/write', { ceremonyId: l.begin.ceremonyId, credential: l.assertion, backupId: randomHex(16), encryptionKey: randomB64url(32) }),
      403, 'PASSKEY_ORIGIN_MISMATCH', 'finish-login/write from another origin')
  },
}

export const NODE_ONLY = {
  'a cancelled sheet (null) is PASSKEY_NOT_ALLOWED, at registration and at recovery': async (ctx) => {
    const w = wallet(ctx)
    ctx.passkeys.cancel = true
    await rejects(w.portal.backupWallet('passkey'), 'PASSKEY_NOT_ALLOWED', 'backup, create cancelled')
    equal(ok(await api(ctx, 'GET', 'status'), 'status').registered, false, 'registered after a cancelled create')
    ctx.passkeys.cancel = false
    const { cipherText } = await backup(w, 'backup')
    for (const mode of [undefined, 'enclave']) {
      const m = wallet(ctx, { mode, state: w.state })
      ctx.passkeys.cancel = true
      await rejects(m.portal.backupWallet('passkey'), 'PASSKEY_NOT_ALLOWED', `backup (${mode ?? 'auto'}), get cancelled`)
      ctx.passkeys.cancel = false
    }
    ctx.passkeys.cancel = true
    w.state.shares = ''
    await rejects(w.portal.recoverWallet(cipherText, 'passkey'), 'PASSKEY_NOT_ALLOWED', 'recovery cancelled')
    equal(w.state.shares, '', 'keychain')
    ctx.passkeys.cancel = false
  },

  'a platform that throws is PASSKEY_UNAVAILABLE, with the error as cause': async (ctx) => {
    const w = wallet(ctx)
    const boom = new Error('Credential Manager exploded')
    ctx.passkeys.fail = boom
    const error = await rejects(w.portal.backupWallet('passkey'), 'PASSKEY_UNAVAILABLE', 'backup on a broken platform')
    check(error.cause === boom, `cause: ${error.cause}`)
    ctx.passkeys.fail = null
  },

  'create returning PRF results already: PRF mode without a login ceremony': async (ctx) => {
    ctx.passkeys.prfAtCreate = true
    const w = wallet(ctx)
    const { cipherText, seen } = await backup(w, 'PRF backup, results at create')
    checkPrfBackup(seen, 'PRF backup, results at create')
    const backupCalls = ctx.passkeys.calls.slice()
    await recover(w, cipherText, 'PRF recovery')
    equal(w.state.shares, SHARES, 'shares')
    // The recovery asked for the recorded credential and salt (the salt the backup's PRF came from).
    const get = ctx.passkeys.calls.at(-1)
    const source = backupCalls.findLast((c) => c.result?.clientExtensionResults?.prf?.results)
    check(source, 'no PRF result during the backup')
    equal(get.options.allowCredentials.map((c) => c.id), [source.result.id], 'allowCredentials at PRF recovery')
    equal(get.options.extensions?.prf?.eval?.first, source.options.extensions.prf.eval.first, 'the recorded PRF salt')
    // The contract: no login ceremony when create gave the PRF output.
    check(!seen.some((r) => r.route === 'begin-login'), `the backup began a login: ${routes(seen)}`)
    equal(backupCalls.map((c) => c.kind), ['create'], 'authenticator calls of the backup')
  },

  'a PRF secret that changed (credential re-imported) does not open the backup': async (ctx) => {
    const w = wallet(ctx)
    const { cipherText } = await backup(w, 'PRF backup')
    const other = wallet(ctx, { state: { shares: '' }, passkeys: ctx.passkeys.device({ newPrfSecrets: true }) })
    let error
    try {
      await other.portal.recoverWallet(cipherText, 'passkey')
    } catch (e) {
      error = e
    }
    check(error instanceof Error && typeof error.code === 'string', `recovery with another PRF secret: expected a coded error, got ${error}`)
    equal(other.state.shares, '', 'keychain')
  },

  'Android: the apk-key-hash origin is accepted when the client has it, refused otherwise': async (ctx) => {
    const origin = 'android:apk-key-hash:' + randomB64url(32)
    // The service wants a web origin on the rp id beside the app's.
    const apiKey = await ctx.newClient({ passkeyRpId: 'wallet.example', passkeyOrigins: ['https://wallet.example', origin] })
    const status = ok(await api(ctx, 'GET', 'status', undefined, { apiKey }), 'status')
    equal(status.relyingParty?.id, 'wallet.example', 'the client’s rp id')
    const phone = ctx.passkeys.device({ origin })
    for (const mode of [undefined, 'enclave']) {
      const w = wallet(ctx, { apiKey, mode, passkeys: phone })
      const { cipherText } = await backup(w, `Android backup (${mode ?? 'auto'})`)
      await recover(w, cipherText, `Android recovery (${mode ?? 'auto'})`)
      equal(w.state.shares, SHARES, 'shares')
    }
    check(phone.calls.every((c) => (c.options.rp?.id ?? c.options.rpId) === 'wallet.example'), 'the rp id given to the authenticator')
    // Another app's signing certificate; and the default relying party, which has no Android origin.
    // (Enclave mode: a PRF-mode backup with a registered passkey sends no assertion to the service.)
    for (const [key, passkeys, what] of [
      [apiKey, ctx.passkeys.device({ origin: 'android:apk-key-hash:' + randomB64url(32) }), 'another apk-key-hash'],
      [ctx.apiKey, ctx.passkeys.device({ origin }), 'a client without Android origins'],
    ]) {
      const w = wallet(ctx, { apiKey: key, passkeys, mode: 'enclave' })
      const error = await rejects(w.portal.backupWallet('passkey'), 'PASSKEY_DENIED', what)
      equal({ status: error.cause?.status, code: error.cause?.code }, { status: 403, code: 'PASSKEY_ORIGIN_MISMATCH' }, `${what}: cause`)
    }
  },
}

Object.assign(NODE_ONLY, {
  'a credential id registered already, by this client or another, is PASSKEY_CREDENTIAL_EXISTS': async (ctx) => {
    const reg = await register(ctx)
    const credentialId = ok(reg.finish, 'finish-registration').credentialId
    ctx.passkeys.reuse = credentialId
    const again = await register(ctx, { dropExclude: true })
    equal(again.credential.id, credentialId, 'the credential presented again')
    denied(again.finish, 409, 'PASSKEY_CREDENTIAL_EXISTS', 'the same client registering it again')
    const other = await ctx.newClient()
    const theirs = await register(ctx, { on: { apiKey: other } })
    denied(theirs.finish, 409, 'PASSKEY_CREDENTIAL_EXISTS', 'another client registering it')
    ctx.passkeys.reuse = null
    equal(ok(await api(ctx, 'GET', 'status', undefined, { apiKey: other }), 'status').registered, false, "the other client's status")
    equal(ok(await api(ctx, 'GET', 'status'), 'status').credentials, 1, "this client's credentials")
  },

  'set-passkey-rp gives a client its own relying party (an Android app), and --clear takes it back': async (ctx) => {
    const origin = 'android:apk-key-hash:' + randomB64url(32)
    const phone = ctx.passkeys.device({ origin })
    const w = wallet(ctx, { mode: 'enclave', passkeys: phone })
    const refused = await rejects(w.portal.backupWallet('passkey'), 'PASSKEY_DENIED', 'the app before set-passkey-rp')
    equal(refused.cause?.code, 'PASSKEY_ORIGIN_MISMATCH', 'cause')
    await ctx.setPasskeyRp(ctx.apiKey, { rpId: 'wallet.example', origins: ['https://wallet.example', origin] })
    equal(ok(await api(ctx, 'GET', 'status'), 'status').relyingParty?.id, 'wallet.example', 'rp id after set-passkey-rp')
    const { cipherText } = await backup(w, 'the app after set-passkey-rp')
    await recover(w, cipherText, 'recovery in the app')
    equal(w.state.shares, SHARES, 'shares')
    await ctx.setPasskeyRp(ctx.apiKey, { clear: true })
    equal(ok(await api(ctx, 'GET', 'status'), 'status').relyingParty?.id, 'localhost', 'rp id after --clear')
    // The passkey is wallet.example's: the authenticator has none for the rp id localhost.
    w.state.shares = ''
    await rejects(w.portal.recoverWallet(cipherText, 'passkey'), 'PASSKEY_NOT_ALLOWED', 'the app after --clear')
    equal(phone.calls.at(-1).options.rpId, 'localhost', 'the rp id asked for after --clear')
    equal(w.state.shares, '', 'keychain untouched')
  },
})

/**
 * navigator.credentials with JSON in and out (what `react-native-passkeys`
 * looks like), for the scenarios that drive the routes directly in Chromium.
 */
export function browserWebAuthn() {
  return {
    async create(options) {
      const c = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) })
      return c && c.toJSON()
    },
    async get(options) {
      const c = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) })
      return c && c.toJSON()
    },
  }
}

/** Registers a credential for `apiKey` with `webauthn` (a helper for the runners); resolves to its id. */
export async function registerWith(webauthn, apiHost, apiKey) {
  const ctx = { apiHost, apiKey, webauthn }
  const reg = await register(ctx)
  return ok(reg.finish, 'finish-registration').credentialId
}
