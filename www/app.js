// wallet-backup demo page. Plain ES module, no framework, no bundler.
//
// The keychain (this device's wallet) lives in this browser's localStorage.
// Served by the backup service (`npm run demo`), the page gets a demo API key
// from /demo-config.json and the service keeps the custodian backup share and
// the cipherText (managed backups). Served as static files only, the page
// keeps the custodian share in localStorage instead.
//
// Methods: password (always); passkey and Firebase Auth need the service.
// Passkeys use this browser's navigator.credentials, so the page must be
// opened at a domain name (http://localhost:<port>/, the service's relying
// party), not at an IP address. Firebase uses a DEVELOPMENT sign-in
// stand-in: the service's development issuer (its URL is in
// /demo-config.json) signs ID tokens for a test user, in place of Google.

import { Portal, BackupMethods, MpcStatuses, PasskeyStorage, FirebaseStorage } from '/pkg/web/index.js'

const STORAGE = {
  keychain: 'wallet-backup-demo:keychain',
  custodian: 'wallet-backup-demo:custodian',
  cipherText: 'wallet-backup-demo:cipher-text',
  originalFingerprint: 'wallet-backup-demo:original-fingerprint',
  firebaseSignIn: 'wallet-backup-demo:firebase-sign-in',
}

/** The Firebase test user the development stand-in signs in. */
const FIREBASE_TEST_USER = 'demo-user'

const METHOD_NAMES = { password: 'password', passkey: 'passkey', firebase: 'Firebase Auth' }

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
  backupForm: $('backup-form'),
  backupMethodNote: $('backup-method-note'),
  backupPasswordField: $('backup-password-field'),
  backupPassword: $('backup-password'),
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
  recoverPasswordField: $('recover-password-field'),
  recoverPassword: $('recover-password'),
  recover: $('recover'),
  restoredFingerprint: $('restored-fingerprint'),
  verdict: $('verdict'),
  resetDemo: $('reset-demo'),
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
 * null: `{ apiKey, firebaseIssuer }` (the issuer's URL, or null without one).
 */
async function demoConfig() {
  try {
    const response = await fetch('/demo-config.json', { cache: 'no-store' })
    if (!response.ok) return null
    const config = await response.json()
    if (typeof config.apiKey !== 'string') return null
    const firebaseIssuer = typeof config.firebaseIssuer === 'string' ? config.firebaseIssuer.replace(/\/+$/, '') : null
    return { apiKey: config.apiKey, firebaseIssuer }
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

const config = await demoConfig()
const serviceMode = config !== null
const firebaseIssuer = config?.firebaseIssuer ?? null
const portal = serviceMode
  ? new Portal({
      apiKey: config.apiKey,
      apiHost: location.origin,
      keychain,
      backup: { passkey: new PasskeyStorage(), firebase: new FirebaseStorage({ getToken: getFirebaseToken }) },
    })
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
 * What a cipherText's header says (FORMAT.md §3): `{ method, passkeyMode }`
 * (passkeyMode 'prf' | 'enclave' for passkey backups), or null when it
 * does not read as one.
 */
function readHeader(cipherText) {
  const text = cipherText.trim()
  if (!text.startsWith('wbk1.')) return null
  try {
    // The method is byte 4, a passkey's mode the first byte of params (byte 23).
    const head = fromBase64Url(text.slice(5, 5 + 32))
    if (head[0] !== 0x77 || head[1] !== 0x62 || head[2] !== 0x6b || head[3] !== 1) return null
    const method = { 1: 'password', 2: 'passkey', 5: 'firebase' }[head[4]] ?? null
    const passkeyMode = method === 'passkey' ? ({ 1: 'prf', 2: 'enclave' }[head[23]] ?? null) : null
    return method ? { method, passkeyMode } : null
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
      return 'Method: password. The key is derived from the password (Argon2id) on this device.'
    case 'passkey':
      return header.passkeyMode === 'prf'
        ? 'Method: passkey, PRF mode. The key is derived on this device from the passkey\'s PRF output and never sent.'
        : 'Method: passkey, enclave mode (no PRF from this authenticator). The service\'s passkey enclave keeps the key and releases it only after this passkey signs in.'
    case 'firebase':
      return 'Method: Firebase Auth. The service\'s Firebase key enclave keeps the key and releases it only for the signed-in user.'
    default:
      return ''
  }
}

/** "WRONG_PASSWORD — wrong password: …", with the cause when there is one. */
function describeError(err) {
  const code = err && typeof err === 'object' && typeof err.code === 'string' ? err.code : 'ERROR'
  const message = err instanceof Error ? err.message : String(err)
  let text = `${code} — ${message}`
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

/** The checked radio button's value of the group `name`. */
function selectedMethod(name) {
  return document.querySelector(`input[name="${name}"]:checked`)?.value ?? 'password'
}

function selectMethod(name, method) {
  const radio = document.querySelector(`input[name="${name}"][value="${method}"]`)
  if (radio && !radio.disabled) radio.checked = true
}

const METHOD_NOTES = {
  backup: {
    password: 'The key is derived from the password (Argon2id) on this device. Nothing else opens this backup.',
    passkey:
      'The browser asks for a passkey (the first backup creates one for this site). With the PRF extension the key is ' +
      'derived on this device and never sent; without it the service\'s passkey enclave keeps the key.',
    firebase:
      'A fresh key is kept by the service\'s Firebase key enclave, released only for the signed-in user\'s ID token. ' +
      'Sign the test user in first (step 1).',
  },
  recover: {
    password: 'The password the backup was made with.',
    passkey: 'The browser asks for the passkey the backup was made with.',
    firebase: 'Needs a recent sign-in of the same user (step 1).',
  },
}

/** The selected method's note, and why the disabled ones are disabled. */
function renderMethodNote(form, note) {
  const parts = [METHOD_NOTES[form][selectedMethod(`${form}-method`)]]
  for (const method of ['passkey', 'firebase']) {
    const reason = unavailableReason(method)
    if (reason) parts.push(`${METHOD_NAMES[method][0].toUpperCase()}${METHOD_NAMES[method].slice(1)}: ${reason}.`)
  }
  note.textContent = parts.join(' ')
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

  ui.backupPasswordField.hidden = selectedMethod('backup-method') !== 'password'
  ui.recoverPasswordField.hidden = selectedMethod('recover-method') !== 'password'
  renderMethodNote('backup', ui.backupMethodNote)
  renderMethodNote('recover', ui.recoverMethodNote)
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
  // On a narrow screen the progress panel sits below the forms.
  ui.error.scrollIntoView({ block: 'nearest' })
}

function clearVerdict() {
  ui.restoredFingerprint.textContent = ''
  ui.restoredFingerprint.closest('dd').classList.add('empty')
  ui.verdict.hidden = true
  ui.verdict.textContent = ''
  ui.verdict.className = 'verdict'
}

/** Starts a fresh progress list and returns the onProgress callback for it. */
function startProgress(title) {
  ui.progressTitle.textContent = `${title} running…`
  ui.progress.replaceChildren()
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
  }
  /** Call when the operation settled; `err` when it failed. */
  onProgress.finish = (err) => {
    const ms = Math.round(performance.now() - started)
    ui.progressTitle.textContent = err ? `${title} failed after ${ms} ms.` : `${title} finished in ${ms} ms.`
    if (err) failProgress(err)
  }
  return onProgress
}

function failProgress(err) {
  const item = document.createElement('li')
  item.dataset.status = 'failed'
  item.className = 'failed'
  item.textContent = `Stopped: ${typeof err?.code === 'string' ? err.code : 'error'}`
  ui.progress.append(item)
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

/** The method settings of one call: the password is per call, the others are the Portal's. */
function methodConfig(method, password) {
  return method === 'password' ? { passwordStorage: { password } } : undefined
}

async function backupWallet() {
  const method = selectedMethod('backup-method')
  const onProgress = startProgress(`Backup (${METHOD_NAMES[method]})`)
  try {
    const cipherText = await portal.backupWallet(BackupMethods[capitalize(method)], onProgress, methodConfig(method, ui.backupPassword.value))
    onProgress.finish()
    localStorage.setItem(STORAGE.cipherText, cipherText)
    ui.recoverCipherText.value = cipherText
    selectMethod('recover-method', method)
  } catch (err) {
    onProgress.finish(err)
    throw err
  } finally {
    await refreshServiceStatus()
  }
}

function capitalize(word) {
  return word[0].toUpperCase() + word.slice(1)
}

function loseDevice() {
  localStorage.removeItem(STORAGE.keychain)
  // A new device has no Firebase sign-in either.
  localStorage.removeItem(STORAGE.firebaseSignIn)
  clearVerdict()
  ui.progressTitle.textContent = 'Nothing running.'
  ui.progress.replaceChildren()
}

async function recoverWallet() {
  clearVerdict()
  const method = selectedMethod('recover-method')
  const onProgress = startProgress(`Recovery (${METHOD_NAMES[method]})`)
  try {
    // A pasted cipherText often carries a trailing newline or spaces. Empty,
    // with the service: its newest backup of the method.
    const cipherText = ui.recoverCipherText.value.trim()
    await portal.recoverWallet(cipherText, BackupMethods[capitalize(method)], onProgress, methodConfig(method, ui.recoverPassword.value))
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
for (const radio of document.querySelectorAll('input[name="backup-method"], input[name="recover-method"]')) {
  radio.disabled = unavailableReason(radio.value) !== null
  radio.addEventListener('change', () => render())
}
// A pasted cipherText says which method opens it.
ui.recoverCipherText.addEventListener('input', () => {
  const header = readHeader(ui.recoverCipherText.value)
  if (header) {
    selectMethod('recover-method', header.method)
    render()
  }
})
ui.copyCipherText.addEventListener('click', () => copyCipherText())
// Another tab of the demo changed the storage.
window.addEventListener('storage', () => render())

ui.recoverCipherText.value = localStorage.getItem(STORAGE.cipherText) ?? ''
{
  const header = readHeader(ui.recoverCipherText.value)
  if (header) selectMethod('recover-method', header.method)
}
if (serviceMode) {
  ui.custodianWhere.textContent =
    `kept by the backup service at ${location.origin}, sealed under its KMS key, with the cipherText (managed backups).`
  ui.recoverCipherText.placeholder = 'Paste a cipherText (wbk1.…), or leave empty to recover the newest backup the service keeps.'
}
ui.moduleStatus.textContent = serviceMode ? 'Module ready; backup service connected.' : 'Module ready (no backup service: static files only).'
ui.moduleStatus.classList.add('ready')
document.body.dataset.mode = serviceMode ? 'service' : 'local'
await render()
await refreshServiceStatus()
document.body.dataset.ready = 'true'
