// wallet-backup demo page. Plain ES module, no framework, no bundler.
//
// The keychain (this device's wallet) lives in this browser's localStorage.
// Served by the backup service (`npm run demo`), the page gets a demo API key
// from /demo-config.json and the service keeps the custodian backup share and
// the cipherText (managed backups). Served as static files only, the page
// keeps the custodian share in localStorage instead.
//
// Methods: password (always); the others need the service (npm run demo).
// Passkeys use this browser's navigator.credentials, so the page must be
// opened at a domain name (http://localhost:<port>/, the service's relying
// party), not at an IP address. Firebase, Google Drive, iCloud and the
// custom method use DEVELOPMENT stand-ins on loopback (their URLs are in
// /demo-config.json): the service's development Firebase issuer, a local
// Google Drive v3 server, a local CloudKit Web Services server and an "app
// server" key-value store, each signing in or keeping data for one test
// user, in place of Google, Apple and the app's own backend.

// Layout: the user picks one method (the radio group `method`, whose values
// are the BackupMethods values, passed as they are), and the page shows that
// method's panel and fields only (each element with data-method="<method>"):
// backup and recovery both use it. Where the progress panel goes: placeProgress.

import { Portal, MpcStatuses, PasskeyStorage, FirebaseStorage, GDriveStorage, ICloudStorage } from '/pkg/web/index.js'

const STORAGE = {
  keychain: 'wallet-backup-demo:keychain',
  custodian: 'wallet-backup-demo:custodian',
  cipherText: 'wallet-backup-demo:cipher-text',
  originalFingerprint: 'wallet-backup-demo:original-fingerprint',
  firebaseSignIn: 'wallet-backup-demo:firebase-sign-in',
  googleSignIn: 'wallet-backup-demo:google-sign-in',
  appleSignIn: 'wallet-backup-demo:apple-sign-in',
}

/** The test user the development stand-ins sign in (Firebase, Google, Apple) and the app server keeps. */
const FIREBASE_TEST_USER = 'demo-user'
const TEST_USER = FIREBASE_TEST_USER

/** Each method's name in the page's sentences ("Back up with Google Drive"). */
const METHOD_NAMES = {
  password: 'password',
  passkey: 'passkey',
  gdrive: 'Google Drive',
  icloud: 'iCloud',
  firebase: 'Firebase Auth',
  custom: 'custom app server',
}

const $ = (id) => {
  const el = document.getElementById(id)
  if (!el) throw new Error(`demo page is missing #${id}`)
  return el
}

const ui = {
  moduleStatus: $('module-status'),
  walletState: $('wallet-state'),
  walletFingerprint: $('wallet-fingerprint'),
  originalFingerprint: $('original-fingerprint'),
  createWallet: $('create-wallet'),
  loseDevice: $('lose-device'),
  firebaseUser: $('firebase-user'),
  firebaseSignIn: $('firebase-sign-in'),
  firebaseSignOut: $('firebase-sign-out'),
  googleUser: $('google-user'),
  googleSignIn: $('google-sign-in'),
  googleSignOut: $('google-sign-out'),
  appleUser: $('apple-user'),
  appleSignIn: $('apple-sign-in'),
  appleSignOut: $('apple-sign-out'),
  methodUnavailable: $('method-unavailable'),
  backupForm: $('backup-form'),
  backupPassword: $('backup-password'),
  guessLimited: $('guess-limited'),
  backup: $('backup'),
  cipherText: $('cipher-text'),
  backupKind: $('backup-kind'),
  cipherTextLength: $('cipher-text-length'),
  copyCipherText: $('copy-cipher-text'),
  custodianState: $('custodian-state'),
  custodianWhere: $('custodian-where'),
  recoverForm: $('recover-form'),
  recoverCipherText: $('recover-cipher-text'),
  recoverMethodNote: $('recover-method-note'),
  recoverPassword: $('recover-password'),
  recover: $('recover'),
  restoredFingerprint: $('restored-fingerprint'),
  verdict: $('verdict'),
  resetDemo: $('reset-demo'),
  activity: $('activity'),
  activityHome: $('activity-home'),
  progressSlots: { backup: $('backup-progress-slot'), recover: $('recover-progress-slot') },
  progressTitle: $('progress-title'),
  progress: $('progress'),
  error: $('error'),
}

// ---------------------------------------------------------------------------
// Storage: the keychain and custodian adapters Portal works with.

const keychain = {
  async getShares() {
    return localStorage.getItem(STORAGE.keychain) ?? ''
  },
  async setShares(shares) {
    localStorage.setItem(STORAGE.keychain, shares)
  },
}

const custodian = {
  async read() {
    return localStorage.getItem(STORAGE.custodian)
  },
  async write(record) {
    localStorage.setItem(STORAGE.custodian, record)
  },
}

/**
 * The demo's settings when the page is served by the backup service, else
 * null: `{ apiKey, firebaseIssuer, standIns }` (the issuer's URL, or null
 * without one; the other stand-ins' URLs by name: gdrive, icloud, app-server).
 */
async function demoConfig() {
  try {
    const response = await fetch('/demo-config.json', { cache: 'no-store' })
    if (!response.ok) return null
    const config = await response.json()
    if (typeof config.apiKey !== 'string') return null
    const firebaseIssuer = typeof config.firebaseIssuer === 'string' ? config.firebaseIssuer.replace(/\/+$/, '') : null
    const standIns = {}
    for (const [name, url] of Object.entries(config.standIns ?? {})) {
      if (typeof url === 'string') standIns[name] = url.replace(/\/+$/, '')
    }
    return { apiKey: config.apiKey, firebaseIssuer, standIns }
  } catch {
    return null
  }
}

// ---------------------------------------------------------------------------
// Firebase sign-in: the development stand-in. A real app signs in with
// Firebase Auth (Google) and passes `() => auth.currentUser?.getIdToken()`.

/** The stand-in's session in this browser: { sub, signedInAt } or null. */
function firebaseSession() {
  try {
    const session = JSON.parse(localStorage.getItem(STORAGE.firebaseSignIn) ?? 'null')
    return session && typeof session.sub === 'string' && Number.isFinite(session.signedInAt) ? session : null
  } catch {
    return null
  }
}

/** An ID token for `sub` from the development issuer, for a sign-in `authAgeSeconds` ago. */
async function mintIdToken(sub, authAgeSeconds) {
  let response
  try {
    response = await fetch(`${firebaseIssuer}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ sub, authAgeSeconds }),
    })
  } catch (err) {
    throw Object.assign(new Error(`the development Firebase issuer at ${firebaseIssuer} did not answer`, { cause: err }), { code: 'DEV_SIGN_IN_FAILED' })
  }
  const body = response.ok ? await response.json().catch(() => null) : null
  if (typeof body?.idToken !== 'string') {
    throw Object.assign(new Error(`the development Firebase issuer answered ${response.status} without an ID token`), { code: 'DEV_SIGN_IN_FAILED' })
  }
  return body.idToken
}

/**
 * FirebaseStorage's getToken: null when nobody is signed in, else a fresh
 * token whose auth_time is the sign-in's (as Firebase's refreshed tokens keep it).
 */
async function getFirebaseToken() {
  const session = firebaseSession()
  if (!session || !firebaseIssuer) return null
  return mintIdToken(session.sub, Math.max(0, Math.floor((Date.now() - session.signedInAt) / 1000)))
}

// ---------------------------------------------------------------------------
// Google and Apple sign-ins: development stand-ins. The local Drive and
// CloudKit servers hand out tokens for the test user on request, where a real
// app shows Google's and Apple's sign-in and passes the tokens they give.

/** A stand-in session kept under `key`: { user, token, signedInAt } or null. */
function tokenSession(key) {
  try {
    const session = JSON.parse(localStorage.getItem(key) ?? 'null')
    return session && typeof session.token === 'string' && typeof session.user === 'string' ? session : null
  } catch {
    return null
  }
}

/** POSTs `body` to a stand-in's control route and returns the answer's `field`. */
async function standInToken(name, path, body, field) {
  const origin = standIns[name]
  let response
  try {
    response = await fetch(`${origin}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
  } catch (err) {
    throw Object.assign(new Error(`the development ${name} stand-in at ${origin} did not answer`, { cause: err }), { code: 'DEV_SIGN_IN_FAILED' })
  }
  const answer = response.ok ? await response.json().catch(() => null) : null
  if (typeof answer?.[field] !== 'string') {
    throw Object.assign(new Error(`the development ${name} stand-in answered ${response.status} without a token`), { code: 'DEV_SIGN_IN_FAILED' })
  }
  return answer[field]
}

async function signInGoogle() {
  const token = await standInToken('gdrive', '/__drive/token', { user: TEST_USER }, 'token')
  localStorage.setItem(STORAGE.googleSignIn, JSON.stringify({ user: TEST_USER, token, signedInAt: Date.now() }))
}

/**
 * The CloudKit stand-in's container and API token (what a real app has in its
 * CloudKit set-up), or null when there is no stand-in or it does not answer.
 */
async function cloudKitContainer() {
  if (!standIns.icloud) return null
  try {
    const response = await fetch(`${standIns.icloud}/__cloudkit/container`)
    const container = response.ok ? await response.json() : null
    return typeof container?.containerIdentifier === 'string' && typeof container?.apiToken === 'string' ? container : null
  } catch {
    return null
  }
}

async function signInApple() {
  const token = await standInToken('icloud', '/__cloudkit/token', { user: TEST_USER }, 'webAuthToken')
  localStorage.setItem(STORAGE.appleSignIn, JSON.stringify({ user: TEST_USER, token, signedInAt: Date.now() }))
}

// ---------------------------------------------------------------------------
// The custom method: "your app's own server" (a stand-in keeping one string
// per user). Portal's storage interface: read, write, delete, validateOperations.

function appServerStorage() {
  const url = () => `${standIns['app-server']}/keys/${TEST_USER}`
  const request = async (method, body) => {
    const response = await fetch(url(), { method, body, headers: body === undefined ? {} : { 'Content-Type': 'text/plain' } })
    if (!response.ok && !(method === 'DELETE' && response.status === 404)) throw new Error(`the app server answered ${response.status}`)
    return response
  }
  return {
    async read() {
      const response = await request('GET')
      // 204: nothing stored for this user yet.
      return response.status === 204 ? null : response.text()
    },
    async write(value) {
      await request('PUT', value)
      return true
    },
    async delete() {
      return (await request('DELETE')).status !== 404
    },
    async validateOperations() {
      try {
        await request('GET')
        return true
      } catch {
        return false
      }
    },
  }
}

const config = await demoConfig()
const serviceMode = config !== null
const firebaseIssuer = config?.firebaseIssuer ?? null
const standIns = config?.standIns ?? {}
const cloudKit = await cloudKitContainer()

/** The method storages the stand-ins of this run make possible. */
function backupStorages() {
  const backup = { passkey: new PasskeyStorage(), firebase: new FirebaseStorage({ getToken: getFirebaseToken }) }
  if (standIns.gdrive) {
    backup.gdrive = new GDriveStorage({ getAccessToken: async () => tokenSession(STORAGE.googleSignIn)?.token ?? null, driveHost: standIns.gdrive })
  }
  if (cloudKit) {
    backup.icloud = new ICloudStorage({
      containerIdentifier: cloudKit.containerIdentifier,
      environment: 'development',
      apiToken: cloudKit.apiToken,
      getWebAuthToken: async () => tokenSession(STORAGE.appleSignIn)?.token ?? null,
      // CloudKit's web auth tokens are good for one request: each answer brings the next.
      onWebAuthToken: (token) => {
        const session = tokenSession(STORAGE.appleSignIn)
        if (session) localStorage.setItem(STORAGE.appleSignIn, JSON.stringify({ ...session, token }))
      },
      cloudKitHost: standIns.icloud,
    })
  }
  if (standIns['app-server']) backup.custom = appServerStorage()
  return backup
}

const portal = serviceMode
  ? new Portal({ apiKey: config.apiKey, apiHost: location.origin, keychain, backup: backupStorages() })
  : new Portal({ keychain, custodian })

/** Why `method` cannot run on this page, or null when it can. */
function unavailableReason(method) {
  if (method === 'password') return null
  if (!serviceMode) return 'needs the backup service (npm run demo)'
  if (method === 'passkey') {
    if (typeof PublicKeyCredential === 'undefined' || !navigator.credentials) return 'this browser has no passkeys (WebAuthn)'
    if (isIpAddress(location.hostname)) return `passkeys need a domain name: open ${localhostUrl()}`
  }
  if (method === 'firebase' && !firebaseIssuer) return 'the service has no development Firebase issuer (npm run demo starts one)'
  if (method === 'gdrive' && !standIns.gdrive) return 'no development Google Drive stand-in (npm run demo starts one)'
  if (method === 'icloud' && !cloudKit) return 'no development CloudKit stand-in (npm run demo starts one)'
  if (method === 'custom' && !standIns['app-server']) return 'no development app server stand-in (npm run demo starts one)'
  return null
}

function isIpAddress(host) {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith('[')
}

/** This page at localhost instead of an IP address. */
function localhostUrl() {
  const url = new URL(location.href)
  url.hostname = 'localhost'
  return url.href
}
/** What the service said last: { isBackedUp, availableRecoveryMethods } or an error text. */
let serviceStatus = null

// ---------------------------------------------------------------------------
// Helpers.

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** First 16 hex digits of the SHA-256 of `text` (UTF-8). */
async function fingerprint(text) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return toHex(new Uint8Array(digest)).slice(0, 16)
}

/** A new demo wallet in Portal's share format. */
function newWalletShares() {
  const share = crypto.getRandomValues(new Uint8Array(32))
  return JSON.stringify({ secp256k1: { id: crypto.randomUUID(), share: toHex(share) } })
}

/** base64url (no padding) to bytes. */
function fromBase64Url(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/')
  return Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0))
}

/**
 * What a cipherText's header says (FORMAT.md §3): `{ method, passkeyMode,
 * guessLimited }` (passkeyMode 'prf' | 'enclave' for passkey backups), or
 * null when it does not read as one.
 */
function readHeader(cipherText) {
  const text = cipherText.trim()
  if (!text.startsWith('wbk1.')) return null
  try {
    // The method is byte 4, a passkey's mode the first byte of params (byte 23).
    const head = fromBase64Url(text.slice(5, 5 + 32))
    if (head[0] !== 0x77 || head[1] !== 0x62 || head[2] !== 0x6b || head[3] !== 1) return null
    const method = { 1: 'password', 2: 'passkey', 3: 'gdrive', 4: 'icloud', 5: 'firebase', 6: 'custom' }[head[4]] ?? null
    const passkeyMode = method === 'passkey' ? ({ 1: 'prf', 2: 'enclave' }[head[23]] ?? null) : null
    // A password's KDF byte (params[0]): 2 is a guess-limited PIN (FORMAT.md §3.4.1.1).
    const guessLimited = method === 'password' && head[23] === 2
    return method ? { method, passkeyMode, guessLimited } : null
  } catch {
    return null
  }
}

/** One line on how a backup's key is kept. */
function describeBackup(cipherText) {
  const header = readHeader(cipherText)
  if (!header) return ''
  switch (header.method) {
    case 'password':
      return header.guessLimited
        ? 'Method: password, guess-limited PIN. The key comes from the service\'s OPRF over the PIN\'s Argon2id; the service counts wrong PINs.'
        : 'Method: password. The key is derived from the password (Argon2id) on this device.'
    case 'passkey':
      return header.passkeyMode === 'prf'
        ? 'Method: passkey, PRF mode. The key is derived on this device from the passkey\'s PRF output and never sent.'
        : 'Method: passkey, enclave mode (no PRF from this authenticator). The service\'s passkey enclave keeps the key and releases it only after this passkey signs in.'
    case 'firebase':
      return 'Method: Firebase Auth. The service\'s Firebase key enclave keeps the key and releases it only for the signed-in user.'
    case 'gdrive':
      return 'Method: Google Drive. The key is kept in the user\'s Drive, in the app\'s hidden app-data folder (here: the local Drive stand-in).'
    case 'icloud':
      return 'Method: iCloud. The key is kept in the user\'s private CloudKit database (here: the local CloudKit stand-in).'
    case 'custom':
      return 'Method: custom. The key is kept by the app\'s own storage adapter (here: the app-server stand-in).'
    default:
      return ''
  }
}

/** "WRONG_PASSWORD — wrong password: …", with the cause when there is one. */
function describeError(err) {
  const code = err && typeof err === 'object' && typeof err.code === 'string' ? err.code : 'ERROR'
  const message = err instanceof Error ? err.message : String(err)
  let text = `${code} — ${message}`
  if (typeof err?.guessesLeft === 'number') text += ` Guesses left: ${err.guessesLeft}.`
  const cause = err instanceof Error ? err.cause : undefined
  if (cause !== undefined && cause !== null) {
    text += ` (cause: ${describeCause(cause)})`
  }
  return text
}

/** An Error's message, or a service refusal's { status, code } as text. */
function describeCause(cause) {
  if (cause instanceof Error) return cause.message
  if (typeof cause === 'object') {
    try {
      return JSON.stringify(cause)
    } catch {
      // fall through
    }
  }
  return String(cause)
}

/** The chosen method: the checked radio button of the group `method`. */
function selectedMethod() {
  return document.querySelector('input[name="method"]:checked')?.value ?? 'password'
}

/** Chooses `method`, unless this page cannot run it. */
function selectMethod(method) {
  const radio = document.querySelector(`input[name="method"][value="${method}"]`)
  if (radio && !radio.disabled) radio.checked = true
}

/** Which methods this page cannot run and why, one sentence per reason ('' when all run). */
function unavailableNote() {
  const byReason = new Map()
  for (const method of ['passkey', 'gdrive', 'icloud', 'firebase', 'custom']) {
    const reason = unavailableReason(method)
    if (reason) byReason.set(reason, [...(byReason.get(reason) ?? []), METHOD_NAMES[method]])
  }
  return [...byReason].map(([reason, names]) => `Not available: ${names.join(', ')} — ${reason}.`).join(' ')
}

/** One column (style.css's breakpoint). */
const narrowScreen = matchMedia('(max-width: 860px)')
/** The action whose progress the panel shows: 'backup' or 'recover'. */
let progressFor = 'backup'

/**
 * Puts the progress panel where a person looks after pressing the button of
 * `action`: beside the forms on a wide screen, directly under the button on
 * a narrow one, so it shows without scrolling.
 */
function placeProgress(action = progressFor) {
  progressFor = action
  const home = narrowScreen.matches ? ui.progressSlots[action] : ui.activityHome
  if (ui.activity.parentElement !== home) home.append(ui.activity)
}

// ---------------------------------------------------------------------------
// Rendering.

let busy = false

async function render() {
  const shares = localStorage.getItem(STORAGE.keychain)
  const hasWallet = Boolean(shares)
  const original = localStorage.getItem(STORAGE.originalFingerprint) ?? ''
  const custodianRecord = localStorage.getItem(STORAGE.custodian)
  const cipherText = localStorage.getItem(STORAGE.cipherText) ?? ''

  ui.walletState.textContent = hasWallet ? 'Holds a wallet.' : 'No wallet on this device.'
  ui.walletFingerprint.textContent = hasWallet ? await fingerprint(shares) : ''
  ui.originalFingerprint.textContent = original
  ui.walletFingerprint.closest('dd').classList.toggle('empty', !hasWallet)
  ui.originalFingerprint.closest('dd').classList.toggle('empty', !original)

  ui.cipherText.value = cipherText
  ui.cipherTextLength.textContent = cipherText ? `${cipherText.length} characters` : 'No backup yet.'
  ui.backupKind.textContent = describeBackup(cipherText)
  ui.backupKind.hidden = !ui.backupKind.textContent

  const session = firebaseSession()
  const firebaseReason = unavailableReason('firebase')
  ui.firebaseUser.textContent = firebaseReason
    ? `Not available: ${firebaseReason}.`
    : session
      ? `${session.sub} (test user), signed in at ${new Date(session.signedInAt).toLocaleTimeString()}`
      : 'Nobody.'
  ui.firebaseSignIn.disabled = busy || Boolean(firebaseReason) || Boolean(session)
  ui.firebaseSignOut.disabled = busy || !session
  renderTokenSession('gdrive', STORAGE.googleSignIn, ui.googleUser, ui.googleSignIn, ui.googleSignOut)
  renderTokenSession('icloud', STORAGE.appleSignIn, ui.appleUser, ui.appleSignIn, ui.appleSignOut)

  const method = selectedMethod()
  for (const element of document.querySelectorAll('[data-method]')) element.hidden = element.dataset.method !== method
  ui.methodUnavailable.textContent = unavailableNote()
  ui.methodUnavailable.hidden = !ui.methodUnavailable.textContent
  const name = METHOD_NAMES[method]
  ui.recoverMethodNote.textContent = `Uses the method chosen in step 2 (${name}); a pasted cipherText picks the one it was made with.`
  ui.backup.textContent = `Back up with ${name}`
  ui.recover.textContent = `Recover with ${name}`
  if (serviceMode) {
    ui.custodianState.textContent =
      serviceStatus === null
        ? 'Asking the service…'
        : typeof serviceStatus === 'string'
          ? serviceStatus
          : serviceStatus.isBackedUp
            ? `Backed up. Recovery methods on the service: ${serviceStatus.availableRecoveryMethods.join(', ')}.`
            : 'No completed backup on the service yet.'
  } else {
    ui.custodianState.textContent = custodianRecord
      ? `Stored under “${STORAGE.custodian}” (${custodianRecord.length} characters).`
      : `Nothing stored under “${STORAGE.custodian}”.`
  }

  ui.createWallet.disabled = busy || hasWallet
  ui.loseDevice.disabled = busy || !hasWallet
  ui.backup.disabled = busy || !hasWallet
  ui.copyCipherText.disabled = !cipherText
  ui.recover.disabled = busy
  ui.resetDemo.disabled = busy
}

/** One stand-in sign-in's line and buttons. */
function renderTokenSession(method, key, user, signIn, signOut) {
  const session = tokenSession(key)
  const reason = unavailableReason(method)
  user.textContent = reason
    ? `Not available: ${reason}.`
    : session
      ? `${session.user} (test user), signed in at ${new Date(session.signedInAt).toLocaleTimeString()}`
      : 'Nobody.'
  signIn.disabled = busy || Boolean(reason) || Boolean(session)
  signOut.disabled = busy || !session
}

function setBusy(value) {
  busy = value
  document.body.setAttribute('aria-busy', String(value))
  return render()
}

function clearError() {
  ui.error.hidden = true
  ui.error.textContent = ''
}

function showError(err) {
  ui.error.textContent = describeError(err)
  ui.error.hidden = false
  // The panel may be out of view when the error came from a sign-in or the wallet buttons.
  ui.error.scrollIntoView({ block: 'nearest' })
}

function clearVerdict() {
  ui.restoredFingerprint.textContent = ''
  ui.restoredFingerprint.closest('dd').classList.add('empty')
  ui.verdict.hidden = true
  ui.verdict.textContent = ''
  ui.verdict.className = 'verdict'
}

/** Starts a fresh progress list for `action` ('backup' or 'recover') and returns the onProgress callback for it. */
function startProgress(action, title) {
  placeProgress(action)
  ui.progressTitle.textContent = `${title} running…`
  ui.progress.replaceChildren()
  keepProgressInView()
  const started = performance.now()
  const onProgress = ({ status, done }) => {
    const item = document.createElement('li')
    item.dataset.status = status
    if (done || status === MpcStatuses.Done) item.classList.add('done')
    const label = document.createElement('span')
    label.className = 'status'
    label.textContent = status
    const time = document.createElement('span')
    time.className = 'time'
    time.title = 'time since the start'
    time.textContent = `${Math.round(performance.now() - started)} ms`
    item.append(label, ' ', time)
    ui.progress.append(item)
    keepProgressInView()
  }
  /** Call when the operation settled; `err` when it failed. */
  onProgress.finish = (err) => {
    const ms = Math.round(performance.now() - started)
    ui.progressTitle.textContent = err ? `${title} failed after ${ms} ms.` : `${title} finished in ${ms} ms.`
    if (err) failProgress(err)
  }
  return onProgress
}

/** The list's last line after a failure: "Stopped:" and the error's code. */
function failProgress(err) {
  const item = document.createElement('li')
  item.dataset.status = 'failed'
  item.className = 'failed'
  const code = document.createElement('code')
  code.textContent = typeof err?.code === 'string' ? err.code : 'error'
  const label = document.createElement('span')
  label.className = 'status'
  label.append('Stopped: ', code)
  item.append(label)
  ui.progress.append(item)
  keepProgressInView()
}

/** Scrolls the page as little as it takes to show the progress panel as it grows (a button at the screen's bottom edge has it just below). */
function keepProgressInView() {
  ui.activity.scrollIntoView({ block: 'nearest' })
}

/** Runs one user action with the buttons disabled and errors shown. */
async function run(action) {
  if (busy) return
  clearError()
  await setBusy(true)
  try {
    await action()
  } catch (err) {
    showError(err)
  } finally {
    await setBusy(false)
  }
}

/** Asks the service what it holds for this wallet (service mode only). */
async function refreshServiceStatus() {
  if (!serviceMode) return
  try {
    // One request: a wallet is backed up exactly when some method has a completed backup.
    const availableRecoveryMethods = await portal.availableRecoveryMethods()
    serviceStatus = { isBackedUp: availableRecoveryMethods.length > 0, availableRecoveryMethods }
  } catch (err) {
    serviceStatus = `The service did not answer: ${describeError(err)}`
  }
  await render()
}

// ---------------------------------------------------------------------------
// Actions.

async function createWallet() {
  const shares = newWalletShares()
  localStorage.setItem(STORAGE.keychain, shares)
  localStorage.setItem(STORAGE.originalFingerprint, await fingerprint(shares))
  clearVerdict()
}

/**
 * The method settings of one call: the password is per call (a backup's
 * guess-limited or not), the others are the Portal's.
 */
function methodConfig(method, password, guessLimited = false) {
  if (method !== 'password') return undefined
  return { passwordStorage: guessLimited ? { password, guessLimited } : { password } }
}

async function backupWallet() {
  const method = selectedMethod()
  const onProgress = startProgress('backup', `Backup (${METHOD_NAMES[method]})`)
  try {
    const guessLimited = serviceMode && ui.guessLimited.checked
    const cipherText = await portal.backupWallet(method, onProgress, methodConfig(method, ui.backupPassword.value, guessLimited))
    onProgress.finish()
    localStorage.setItem(STORAGE.cipherText, cipherText)
    ui.recoverCipherText.value = cipherText
  } catch (err) {
    onProgress.finish(err)
    throw err
  } finally {
    await refreshServiceStatus()
  }
}

function loseDevice() {
  localStorage.removeItem(STORAGE.keychain)
  // A new device has no sign-ins either.
  localStorage.removeItem(STORAGE.firebaseSignIn)
  localStorage.removeItem(STORAGE.googleSignIn)
  localStorage.removeItem(STORAGE.appleSignIn)
  clearVerdict()
  ui.progressTitle.textContent = 'Nothing running.'
  ui.progress.replaceChildren()
}

async function recoverWallet() {
  clearVerdict()
  const method = selectedMethod()
  const onProgress = startProgress('recover', `Recovery (${METHOD_NAMES[method]})`)
  try {
    // A pasted cipherText often carries a trailing newline or spaces. Empty,
    // with the service: its newest backup of the method.
    const cipherText = ui.recoverCipherText.value.trim()
    await portal.recoverWallet(cipherText, method, onProgress, methodConfig(method, ui.recoverPassword.value))
    onProgress.finish()
  } catch (err) {
    onProgress.finish(err)
    throw err
  }
  const shares = localStorage.getItem(STORAGE.keychain) ?? ''
  const restored = await fingerprint(shares)
  const original = localStorage.getItem(STORAGE.originalFingerprint)
  ui.restoredFingerprint.textContent = restored
  ui.restoredFingerprint.closest('dd').classList.remove('empty')
  if (!original) {
    ui.verdict.textContent = 'Recovered. No original fingerprint is on record to compare with.'
    ui.verdict.classList.add('unknown')
  } else if (restored === original) {
    ui.verdict.textContent = `✓ Restored wallet matches the original (${original}).`
    ui.verdict.classList.add('match')
  } else {
    ui.verdict.textContent = `✗ Restored wallet does not match the original (expected ${original}, got ${restored}).`
    ui.verdict.classList.add('mismatch')
  }
  ui.verdict.hidden = false
}

function resetDemo() {
  for (const key of Object.values(STORAGE)) localStorage.removeItem(key)
  ui.backupPassword.value = ''
  ui.recoverPassword.value = ''
  ui.recoverCipherText.value = ''
  loseDevice()
}

async function signInTestUser() {
  // Signing in gets a first token, as a real sign-in would: it fails here when the issuer is gone.
  await mintIdToken(FIREBASE_TEST_USER, 0)
  localStorage.setItem(STORAGE.firebaseSignIn, JSON.stringify({ sub: FIREBASE_TEST_USER, signedInAt: Date.now() }))
}

function signOut() {
  localStorage.removeItem(STORAGE.firebaseSignIn)
}

async function copyCipherText() {
  try {
    await navigator.clipboard.writeText(ui.cipherText.value)
    ui.cipherTextLength.textContent = `${ui.cipherText.value.length} characters — copied`
  } catch {
    ui.cipherText.select()
    ui.cipherTextLength.textContent = `${ui.cipherText.value.length} characters — selected; copy it with Ctrl+C / ⌘C`
  }
}

// ---------------------------------------------------------------------------
// Wiring.

ui.createWallet.addEventListener('click', () => run(createWallet))
ui.loseDevice.addEventListener('click', () => run(loseDevice))
ui.backupForm.addEventListener('submit', (event) => {
  event.preventDefault()
  run(backupWallet)
})
ui.recoverForm.addEventListener('submit', (event) => {
  event.preventDefault()
  run(recoverWallet)
})
ui.resetDemo.addEventListener('click', () => run(resetDemo))
ui.firebaseSignIn.addEventListener('click', () => run(signInTestUser))
ui.firebaseSignOut.addEventListener('click', () => run(signOut))
ui.googleSignIn.addEventListener('click', () => run(signInGoogle))
ui.googleSignOut.addEventListener('click', () => run(() => localStorage.removeItem(STORAGE.googleSignIn)))
ui.appleSignIn.addEventListener('click', () => run(signInApple))
ui.appleSignOut.addEventListener('click', () => run(() => localStorage.removeItem(STORAGE.appleSignIn)))
for (const radio of document.querySelectorAll('input[name="method"]')) {
  radio.disabled = unavailableReason(radio.value) !== null
  radio.addEventListener('change', () => render())
}
// A pasted cipherText says which method opens it.
ui.recoverCipherText.addEventListener('input', () => {
  const header = readHeader(ui.recoverCipherText.value)
  if (header) {
    selectMethod(header.method)
    render()
  }
})
ui.copyCipherText.addEventListener('click', () => copyCipherText())
// Another tab of the demo changed the storage.
window.addEventListener('storage', () => render())

ui.recoverCipherText.value = localStorage.getItem(STORAGE.cipherText) ?? ''
{
  const header = readHeader(ui.recoverCipherText.value)
  if (header) selectMethod(header.method)
}
placeProgress()
narrowScreen.addEventListener('change', () => placeProgress())
if (serviceMode) {
  ui.custodianWhere.textContent =
    `kept by the backup service at ${location.origin}, sealed under its KMS key, with the cipherText (managed backups).`
  ui.recoverCipherText.placeholder = 'Paste a cipherText (wbk1.…), or leave empty to recover the newest backup the service keeps.'
} else {
  // Only the service can count guesses.
  ui.guessLimited.disabled = true
}
ui.moduleStatus.textContent = serviceMode ? 'Module ready; backup service connected.' : 'Module ready (no backup service: static files only).'
ui.moduleStatus.classList.add('ready')
document.body.dataset.mode = serviceMode ? 'service' : 'local'
await render()
await refreshServiceStatus()
document.body.dataset.ready = 'true'
