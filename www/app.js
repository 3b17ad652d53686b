// wallet-backup demo page. Plain ES module, no framework, no bundler.
//
// The keychain (this device's wallet) lives in this browser's localStorage.
// Served by the backup service (`npm run demo`), the page gets a demo API key
// from /demo-config.json and the service keeps the custodian backup share and
// the cipherText (managed backups). Served as static files only, the page
// keeps the custodian share in localStorage instead.

import { Portal, BackupMethods, MpcStatuses } from '/pkg/web/index.js'

const STORAGE = {
  keychain: 'wallet-backup-demo:keychain',
  custodian: 'wallet-backup-demo:custodian',
  cipherText: 'wallet-backup-demo:cipher-text',
  originalFingerprint: 'wallet-backup-demo:original-fingerprint',
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
  backupForm: $('backup-form'),
  backupPassword: $('backup-password'),
  backup: $('backup'),
  cipherText: $('cipher-text'),
  cipherTextLength: $('cipher-text-length'),
  copyCipherText: $('copy-cipher-text'),
  custodianState: $('custodian-state'),
  custodianWhere: $('custodian-where'),
  recoverForm: $('recover-form'),
  recoverCipherText: $('recover-cipher-text'),
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

/** The demo client's API key when the page is served by the backup service, else null. */
async function demoServiceKey() {
  try {
    const response = await fetch('/demo-config.json', { cache: 'no-store' })
    if (!response.ok) return null
    const config = await response.json()
    return typeof config.apiKey === 'string' ? config.apiKey : null
  } catch {
    return null
  }
}

const apiKey = await demoServiceKey()
const serviceMode = apiKey !== null
const portal = serviceMode
  ? new Portal({ apiKey, apiHost: location.origin, keychain })
  : new Portal({ keychain, custodian })
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

/** "WRONG_PASSWORD — wrong password: …", with the cause when there is one. */
function describeError(err) {
  const code = err && typeof err === 'object' && typeof err.code === 'string' ? err.code : 'ERROR'
  const message = err instanceof Error ? err.message : String(err)
  let text = `${code} — ${message}`
  const cause = err instanceof Error ? err.cause : undefined
  if (cause !== undefined && cause !== null) {
    text += ` (cause: ${cause instanceof Error ? cause.message : String(cause)})`
  }
  return text
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

async function backupWallet() {
  const onProgress = startProgress('Backup')
  try {
    const cipherText = await portal.backupWallet(BackupMethods.Password, onProgress, {
      passwordStorage: { password: ui.backupPassword.value },
    })
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
  clearVerdict()
  ui.progressTitle.textContent = 'Nothing running.'
  ui.progress.replaceChildren()
}

async function recoverWallet() {
  clearVerdict()
  const onProgress = startProgress('Recovery')
  try {
    // A pasted cipherText often carries a trailing newline or spaces. Empty,
    // with the service: its newest backup.
    const cipherText = ui.recoverCipherText.value.trim()
    await portal.recoverWallet(cipherText, BackupMethods.Password, onProgress, {
      passwordStorage: { password: ui.recoverPassword.value },
    })
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
ui.copyCipherText.addEventListener('click', () => copyCipherText())
// Another tab of the demo changed the storage.
window.addEventListener('storage', () => render())

ui.recoverCipherText.value = localStorage.getItem(STORAGE.cipherText) ?? ''
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
