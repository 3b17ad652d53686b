// End-to-end test of the demo as `npm run demo` runs it: the backup service
// (a real process, fresh SQLite data dir) serving the demo page and its API,
// with the development Firebase issuer beside it, in Chromium, driven by
// playwright-core. The page is opened at http://localhost:<port>/ (passkeys
// need a domain name); passkeys come from Chromium's virtual authenticator
// (CDP WebAuthn domain), with and without the PRF extension; Google Drive,
// iCloud and the custom method use the demo's development stand-ins
// (dev/stand-ins.mjs: local Drive v3 and CloudKit servers, an app server).
//
//   node --test tests/e2e/
//
// Needs the built package in pkg/ (`npm run build`), the service binary
// (`npm run build:service`) and Chromium at /usr/bin/chromium
// (or CHROMIUM_PATH). Leaves screenshots in tests/out/: demo.png (the last
// page at the end), demo-1280.png and demo-390.png (the whole page after a
// password backup, 1280 and 390 px wide; the layout test prints the page's
// heights).

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { addVirtualAuthenticator, launchChromium } from '../../dev/chromium.mjs'
import { startDemo } from '../../scripts/demo.mjs'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const OUT_DIR = fileURLToPath(new URL('../out/', import.meta.url))
const SCREENSHOT = `${OUT_DIR}demo.png`

// Argon2id takes ~100 ms on a laptop; slow CI machines get plenty of room.
const STEP_TIMEOUT = 60_000

const PASSWORD = 'correct horse battery staple'
const WRONG_PASSWORD = 'correct horse battery stapler'

const BACKUP_STATUSES = ['Reading share', 'Generating share', 'Encrypting share', 'Storing share', 'Done']
const RECOVERY_STATUSES = ['Reading share', 'Decrypting share', 'Recovering backup share', 'Storing share', 'Done']

let server
let dataDir
let browser
/** The page the steps drive (each test opens its own, in a fresh browser context). */
let page
/** Everything that went wrong inside the page: uncaught errors, console errors, failed loads. */
const pageProblems = []

/**
 * A fresh browser context (empty localStorage) and a page in it, its problems
 * recorded; `contextOptions` for another screen than the default desktop one.
 */
async function openPage(contextOptions = { viewport: { width: 1200, height: 900 } }) {
  const context = await browser.newContext(contextOptions)
  const opened = await context.newPage()
  opened.setDefaultTimeout(STEP_TIMEOUT)
  opened.on('pageerror', (err) => pageProblems.push(`pageerror: ${err.stack || err.message}`))
  opened.on('console', (msg) => {
    if (msg.type() === 'error') pageProblems.push(`console.error: ${msg.text()}`)
  })
  opened.on('requestfailed', (req) => pageProblems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`))
  opened.on('response', (res) => {
    if (res.status() >= 400) pageProblems.push(`HTTP ${res.status()}: ${res.url()}`)
  })
  return opened
}

before(async () => {
  assert.ok(existsSync(`${ROOT}pkg/web/index.js`), 'pkg/web/index.js is missing: run `npm run build` first')
  await mkdir(OUT_DIR, { recursive: true })

  dataDir = await mkdtemp(join(tmpdir(), 'wallet-backup-demo-'))
  server = await startDemo({ port: 0, dataDir, build: false, profile: 'debug' })
  // launch() starts Chromium with a fresh temporary profile, so localStorage is empty.
  browser = await launchChromium({ timeout: STEP_TIMEOUT })
  page = await openPage()
})

after(async () => {
  try {
    if (page) await page.screenshot({ path: SCREENSHOT, fullPage: true })
  } finally {
    await browser?.close()
    await server?.close()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  }
})

// Helpers reading the page.
const text = (selector) => page.locator(selector).innerText()
const statuses = () => page.locator('#progress li').evaluateAll((items) => items.map((li) => li.dataset.status))
const storage = () =>
  page.evaluate(() => ({
    keychain: localStorage.getItem('wallet-backup-demo:keychain'),
    custodian: localStorage.getItem('wallet-backup-demo:custodian'),
  }))

function noProblemsSoFar() {
  assert.deepEqual(pageProblems, [], 'the page reported errors')
}

const METHODS = ['password', 'passkey', 'gdrive', 'icloud', 'firebase', 'custom']
/** Each method's radio button by its accessible name. */
const METHOD_LABELS = {
  password: 'Password or PIN',
  passkey: 'Passkey',
  gdrive: 'Google Drive',
  icloud: 'iCloud',
  firebase: 'Firebase',
  custom: 'Custom app server',
}
/** The sign-in stand-in each method needs, by its sign-in button. */
const SIGN_IN_BUTTONS = { gdrive: '#google-sign-in', icloud: '#apple-sign-in', firebase: '#firebase-sign-in' }

/** Asserts that the page shows the form of `method` only: its panel, its sign-in stand-in, the password fields for password. */
async function onlyFormOf(method) {
  assert.equal(await page.locator(`#method-${method}`).isChecked(), true, `${method} is the chosen method`)
  for (const other of METHODS) {
    assert.equal(await page.locator(`#method-panel-${other}`).isVisible(), other === method, `${other}'s panel shows only when chosen (chosen: ${method})`)
  }
  for (const [other, button] of Object.entries(SIGN_IN_BUTTONS)) {
    assert.equal(await page.locator(button).isVisible(), other === method, `${other}'s sign-in shows only when chosen (chosen: ${method})`)
  }
  assert.ok((await page.locator('.stand-in:visible').count()) <= 1, 'one sign-in stand-in at most')
  for (const field of ['#backup-password', '#recover-password']) {
    assert.equal(await page.locator(field).isVisible(), method === 'password', `${field} shows for the password method only (chosen: ${method})`)
  }
}

/** Asserts that the page is no wider than the screen (`when`: at which moment), naming the first element that sticks out. */
async function noSidewaysScroll(when) {
  const { scrollWidth, clientWidth, sticksOut } = await page.evaluate(() => {
    const root = document.documentElement
    const out = [...document.body.querySelectorAll('*')].find((el) => el.getBoundingClientRect().right > root.clientWidth + 0.5)
    const name = out ? `${out.tagName.toLowerCase()}${out.id ? `#${out.id}` : ''}${[...out.classList].map((c) => `.${c}`).join('')}` : 'none'
    return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, sticksOut: name }
  })
  assert.ok(
    scrollWidth <= clientWidth,
    `${when}, at ${clientWidth} px the page scrolls sideways by ${scrollWidth - clientWidth} px (first element past the edge: ${sticksOut})`,
  )
}

/** The page's full height in CSS pixels. */
const pageHeight = () => page.evaluate(() => document.documentElement.scrollHeight)

/** Runs the subtests of `t` in order; once one failed, the later ones are skipped so the first failure stands out. */
function stepper(t) {
  let failed = false
  return (name, fn) =>
    t.test(name, async (st) => {
      if (failed) return st.skip('an earlier step failed')
      try {
        await fn()
      } catch (err) {
        failed = true
        if (pageProblems.length) err.message += `\npage problems:\n  ${pageProblems.join('\n  ')}`
        throw err
      }
    })
}

test('demo page: create, back up, lose the device, recover', { timeout: 10 * STEP_TIMEOUT }, async (t) => {
  const step = stepper(t)
  let original = ''
  let cipherText = ''

  await step('page loads the module', async () => {
    assert.match(server.url, /^http:\/\/localhost:\d+\/$/, 'the demo is opened at localhost (passkeys need a domain name)')
    const response = await page.goto(server.url)
    assert.equal(response.status(), 200)
    await page.locator('body[data-ready="true"]').waitFor()
    assert.match(await text('#module-status'), /Module ready; backup service connected/)
    assert.equal(await page.locator('body').getAttribute('data-mode'), 'service')
    assert.equal(await page.locator('#create-wallet').isEnabled(), true)
    assert.equal(await text('#wallet-fingerprint'), '')
    assert.match(await page.locator('.custodian').innerText(), /kept by the backup service at http:\/\/localhost:\d+, sealed under its KMS key/)
    assert.equal(await text('#custodian-state'), 'No completed backup on the service yet.')
    noProblemsSoFar()
  })

  await step('create a demo wallet', async () => {
    await page.click('#create-wallet')
    await page.waitForFunction(() => document.querySelector('#wallet-fingerprint').textContent !== '')
    original = await text('#wallet-fingerprint')
    assert.match(original, /^[0-9a-f]{16}$/)
    assert.equal(await text('#original-fingerprint'), original)
    const { keychain } = await storage()
    const shares = JSON.parse(keychain)
    assert.match(shares.secp256k1.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.match(shares.secp256k1.share, /^[0-9a-f]{64}$/)
    assert.equal(await page.locator('#create-wallet').isDisabled(), true, 'one wallet at a time')
  })

  await step('back up with a password', async () => {
    assert.equal(await page.locator('#method-password').isChecked(), true, 'password is the default method')
    await onlyFormOf('password')
    await page.fill('#backup-password', PASSWORD)
    await page.click('#backup')
    await page.locator('#progress li[data-status="Done"]').waitFor()
    assert.deepEqual(await statuses(), BACKUP_STATUSES)
    assert.equal(await page.locator('#error').isHidden(), true, await text('#error').catch(() => ''))

    await page.waitForFunction(() => document.querySelector('#cipher-text').value !== '')
    cipherText = await page.inputValue('#cipher-text')
    assert.ok(cipherText.startsWith('wbk1.'), `cipherText starts with wbk1.: ${cipherText.slice(0, 20)}`)
    assert.equal(await page.locator('#cipher-text').getAttribute('readonly'), '')
    assert.match(await text('#cipher-text-length'), new RegExp(`^${cipherText.length} characters`))
    assert.equal(await page.inputValue('#recover-cipher-text'), cipherText)
    assert.equal((await storage()).custodian, null, 'the service keeps the custodian half, not the browser')
    await page.waitForFunction(() => document.querySelector('#custodian-state').textContent.startsWith('Backed up'))
    assert.equal(await text('#custodian-state'), 'Backed up. Recovery methods on the service: password.')
    noProblemsSoFar()
  })

  await step('lose this device', async () => {
    await page.click('#lose-device')
    await page.waitForFunction(() => document.querySelector('#wallet-fingerprint').textContent === '')
    assert.equal(await text('#wallet-state'), 'No wallet on this device.')
    const { keychain } = await storage()
    assert.equal(keychain, null, 'the keychain is cleared')
    assert.equal(await page.inputValue('#cipher-text'), cipherText, 'the cipherText survives')
    assert.equal(await text('#original-fingerprint'), original)

    // A fresh page load (a fresh module instance) still has what recovery needs.
    await page.reload()
    await page.locator('body[data-ready="true"]').waitFor()
    assert.equal(await text('#wallet-fingerprint'), '')
    assert.equal(await page.inputValue('#cipher-text'), cipherText)
    assert.equal(await page.inputValue('#recover-cipher-text'), cipherText)
    assert.equal(await page.locator('#create-wallet').isEnabled(), true)
  })

  await step('recovery with a wrong password fails with WRONG_PASSWORD', async () => {
    // Paste it as a person would, trailing newline included.
    await page.fill('#recover-cipher-text', `${cipherText}\n`)
    await page.fill('#recover-password', WRONG_PASSWORD)
    await page.click('#recover')
    await page.locator('#error').waitFor({ state: 'visible' })
    const error = await text('#error')
    assert.match(error, /^WRONG_PASSWORD — /)
    await page.locator('#recover:enabled').waitFor()
    const seen = await statuses()
    assert.ok(!seen.includes('Done'), `no Done after a failure: ${seen.join(', ')}`)
    assert.equal(seen.at(-1), 'failed')
    assert.equal(await page.locator('#verdict').isHidden(), true)
    assert.equal(await text('#wallet-fingerprint'), '')
    assert.equal((await storage()).keychain, null, 'a failed recovery writes nothing to the keychain')
  })

  await step('recovery with the right password and no cipherText restores the service\'s newest backup', async () => {
    // Managed backups: the service keeps the cipherText too; an empty field recovers its newest.
    await page.fill('#recover-cipher-text', '')
    await page.fill('#recover-password', PASSWORD)
    await page.click('#recover')
    await page.locator('#verdict').waitFor({ state: 'visible' })
    assert.deepEqual(await statuses(), RECOVERY_STATUSES)
    assert.equal(await page.locator('#error').isHidden(), true, 'the earlier error is cleared')

    const verdict = await text('#verdict')
    assert.match(verdict, /matches the original/)
    assert.doesNotMatch(verdict, /does not match/)
    assert.equal(await text('#restored-fingerprint'), original)
    await page.waitForFunction(() => document.querySelector('#wallet-fingerprint').textContent !== '')
    assert.equal(await text('#wallet-fingerprint'), original)
  })

  await step('lose the device again; recovery from the pasted cipherText works too', async () => {
    await page.click('#lose-device')
    await page.waitForFunction(() => document.querySelector('#wallet-fingerprint').textContent === '')
    await page.fill('#recover-cipher-text', cipherText)
    await page.fill('#recover-password', PASSWORD)
    await page.click('#recover')
    await page.locator('#verdict').waitFor({ state: 'visible' })
    assert.deepEqual(await statuses(), RECOVERY_STATUSES)
    assert.equal(await text('#restored-fingerprint'), original)
  })

  await step('no page or console errors', async () => {
    noProblemsSoFar()
  })
})

// ---------------------------------------------------------------------------
// Passkey and Firebase Auth methods.

const METHOD_BYTE = { password: 1, passkey: 2, gdrive: 3, icloud: 4, firebase: 5, custom: 6 }
const PASSKEY_MODE_BYTE = { prf: 1, enclave: 2 }

/** The envelope's method byte and, for a passkey backup, its mode byte (FORMAT.md §3.2, §3.4.3). */
function envelopeHeader(cipherText) {
  const bytes = Buffer.from(cipherText.slice('wbk1.'.length), 'base64url')
  assert.equal(bytes.subarray(0, 4).toString('hex'), '77626b01', 'magic and version')
  return { method: bytes[4], passkeyMode: bytes[4] === METHOD_BYTE.passkey ? bytes[23] : undefined }
}

/** Page actions of the method flows. */
const demo = {
  async open() {
    const response = await page.goto(server.url)
    assert.equal(response.status(), 200)
    await page.locator('body[data-ready="true"]').waitFor()
    assert.match(await text('#module-status'), /Module ready; backup service connected/)
  },
  async createWallet() {
    await page.click('#create-wallet')
    await page.waitForFunction(() => document.querySelector('#wallet-fingerprint').textContent !== '')
    const fingerprint = await text('#wallet-fingerprint')
    assert.match(fingerprint, /^[0-9a-f]{16}$/)
    return fingerprint
  },
  /** Backs up with `method`; resolves to the cipherText. */
  async backUp(method) {
    await page.check(`#method-${method}`)
    await onlyFormOf(method)
    const before = await page.inputValue('#cipher-text')
    await page.click('#backup')
    await page.locator('#backup:enabled').waitFor()
    assert.equal(await page.locator('#error').isHidden(), true, await text('#error').catch(() => ''))
    assert.deepEqual(await statuses(), BACKUP_STATUSES)
    const cipherText = await page.inputValue('#cipher-text')
    assert.ok(cipherText.startsWith('wbk1.') && cipherText !== before, 'a new cipherText')
    assert.equal(envelopeHeader(cipherText).method, METHOD_BYTE[method], 'the envelope records the method')
    assert.equal(await page.inputValue('#recover-cipher-text'), cipherText)
    assert.equal(await page.locator(`#method-${method}`).isChecked(), true, 'recovery uses the backup\'s method')
    assert.equal(await text('#recover'), await text('#backup').then((label) => label.replace(/^Back up/, 'Recover')), 'both buttons name the method')
    return cipherText
  },
  async loseDevice() {
    await page.click('#lose-device')
    await page.waitForFunction(() => document.querySelector('#wallet-fingerprint').textContent === '')
    assert.equal((await storage()).keychain, null, 'the keychain is cleared')
  },
  /** Recovers with `method` from `cipherText` ('' = the service's newest of the method). */
  async recover(method, cipherText) {
    await page.fill('#recover-cipher-text', cipherText)
    await page.check(`#method-${method}`)
    await page.click('#recover')
    await page.locator('#recover:enabled').waitFor()
  },
  /** Asserts the last recovery restored the wallet with fingerprint `original`. */
  async restored(original) {
    assert.equal(await page.locator('#error').isHidden(), true, await text('#error').catch(() => ''))
    assert.deepEqual(await statuses(), RECOVERY_STATUSES)
    assert.match(await text('#verdict'), /matches the original/)
    assert.equal(await text('#restored-fingerprint'), original)
    await page.waitForFunction(() => document.querySelector('#wallet-fingerprint').textContent !== '')
    assert.equal(await text('#wallet-fingerprint'), original)
  },
  /** Asserts the last action failed with `code` and left the keychain empty. */
  async failedWith(code) {
    await page.locator('#error').waitFor({ state: 'visible' })
    assert.match(await text('#error'), new RegExp(`^${code} — `))
    assert.equal((await statuses()).at(-1), 'failed')
    assert.equal(await page.locator('#verdict').isHidden(), true)
    assert.equal((await storage()).keychain, null, 'a failed recovery writes nothing to the keychain')
  },
}

test('demo page: a guess-limited PIN shows the guesses left, and the right PIN restores the wallet', { timeout: 10 * STEP_TIMEOUT }, async (t) => {
  const step = stepper(t)
  let original = ''
  let cipherText = ''

  await step('back up with a guess-limited PIN', async () => {
    page = await openPage()
    await demo.open()
    original = await demo.createWallet()
    await page.check('#method-password')
    assert.equal(await page.locator('#guess-limited').isEnabled(), true, 'offered with the service')
    await page.check('#guess-limited')
    await page.fill('#backup-password', '0421')
    cipherText = await demo.backUp('password')
    assert.equal(Buffer.from(cipherText.slice(5), 'base64url')[23], 2, 'the envelope records a guess-limited PIN (kdf 2)')
    assert.match(await text('#backup-kind'), /guess-limited PIN/)
  })

  await step('a wrong PIN on a new device: WRONG_PASSWORD with the guesses left', async () => {
    await demo.loseDevice()
    await page.fill('#recover-password', '1234')
    await demo.recover('password', cipherText)
    await demo.failedWith('WRONG_PASSWORD')
    assert.match(await text('#error'), /Guesses left: 9\./)
    await page.fill('#recover-password', '9999')
    await demo.recover('password', cipherText)
    assert.match(await text('#error'), /Guesses left: 8\./)
  })

  await step('the right PIN restores the wallet', async () => {
    await page.fill('#recover-password', '0421')
    await demo.recover('password', cipherText)
    await demo.restored(original)
    noProblemsSoFar()
  })
})

test('demo page: passkey backups in PRF and enclave mode, lost device, recovery', { timeout: 10 * STEP_TIMEOUT }, async (t) => {
  const step = stepper(t)
  let cdp
  let authenticator
  let original = ''
  let prfCipherText = ''
  let enclaveCipherText = ''

  await step('a fresh page with a virtual authenticator that has PRF', async () => {
    page = await openPage()
    cdp = await page.context().newCDPSession(page)
    await cdp.send('WebAuthn.enable')
    authenticator = await addVirtualAuthenticator(cdp, { hasPrf: true })
    await demo.open()
    assert.equal(await page.locator('#method-passkey').isEnabled(), true)
    assert.equal(await page.locator('#method-unavailable').isHidden(), true, 'no reason given against any method at localhost')
    original = await demo.createWallet()
  })

  await step('passkey backup: a passkey is registered, the key comes from PRF', async () => {
    prfCipherText = await demo.backUp('passkey')
    assert.equal(envelopeHeader(prfCipherText).passkeyMode, PASSKEY_MODE_BYTE.prf)
    assert.match(await text('#backup-kind'), /^Method: passkey, PRF mode\./)
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId: authenticator })
    assert.equal(credentials.length, 1, 'one passkey was created')
    assert.equal(credentials[0].rpId, 'localhost')
    await page.waitForFunction(() => /passkey/.test(document.querySelector('#custodian-state').textContent))
    assert.match(await text('#custodian-state'), /^Backed up\. Recovery methods on the service: .*passkey/)
    noProblemsSoFar()
  })

  await step('lose the device; passkey recovery of the service\'s newest backup restores the wallet', async () => {
    await demo.loseDevice()
    assert.equal(await page.locator('#recover-password').isVisible(), false, 'no password asked for a passkey')
    await demo.recover('passkey', '')
    await demo.restored(original)
  })

  await step('the same passkey on an authenticator without PRF: the backup goes to the enclave', async () => {
    // The passkey moves to an authenticator without the PRF extension (a
    // credential exported and re-added has no PRF secret): the module keeps
    // the key in the service's passkey enclave instead.
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId: authenticator })
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: authenticator })
    authenticator = await addVirtualAuthenticator(cdp, { hasPrf: false })
    for (const credential of credentials) await cdp.send('WebAuthn.addCredential', { authenticatorId: authenticator, credential })

    enclaveCipherText = await demo.backUp('passkey')
    assert.equal(envelopeHeader(enclaveCipherText).passkeyMode, PASSKEY_MODE_BYTE.enclave)
    assert.match(await text('#backup-kind'), /^Method: passkey, enclave mode/)
    const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId: authenticator })
    assert.equal(after.credentials.length, 1, 'no second passkey was created')
    assert.equal(after.credentials[0].credentialId, credentials[0].credentialId)
    noProblemsSoFar()
  })

  await step('lose the device; passkey recovery without PRF restores the wallet from the enclave', async () => {
    await demo.loseDevice()
    await demo.recover('passkey', '')
    await demo.restored(original)
    await demo.loseDevice()
    await demo.recover('passkey', `${enclaveCipherText}\n`)
    await demo.restored(original)
  })

  await step('the PRF backup does not open without PRF: PASSKEY_PRF_UNAVAILABLE', async () => {
    await demo.loseDevice()
    await demo.recover('passkey', prfCipherText)
    await demo.failedWith('PASSKEY_PRF_UNAVAILABLE')
  })

  await step('no page or console errors', async () => {
    noProblemsSoFar()
  })
})

test('demo page: Firebase Auth backup with the development sign-in stand-in, lost device, recovery', { timeout: 10 * STEP_TIMEOUT }, async (t) => {
  const step = stepper(t)
  let original = ''
  let cipherText = ''

  await step('a fresh page: nobody signed in, the stand-in is labelled', async () => {
    page = await openPage()
    await demo.open()
    assert.match(server.issuerUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(await page.locator('#firebase-heading').isVisible(), false, 'the Firebase sign-in shows for the Firebase method only')
    await page.check('#method-firebase')
    assert.match(await page.locator('#firebase-heading').innerText(), /development stand-in/i)
    assert.match(await page.locator('.stand-in', { has: page.locator('#firebase-heading') }).innerText(), /local development issuer, in place of Google/)
    assert.equal(await text('#firebase-user'), 'Nobody.')
    assert.equal(await page.locator('#method-firebase').isEnabled(), true)
    original = await demo.createWallet()
  })

  await step('backup without a sign-in fails with FIREBASE_NOT_SIGNED_IN', async () => {
    await page.check('#method-firebase')
    await onlyFormOf('firebase')
    await page.click('#backup')
    await page.locator('#error').waitFor({ state: 'visible' })
    assert.match(await text('#error'), /^FIREBASE_NOT_SIGNED_IN — /)
    assert.equal(await page.inputValue('#cipher-text'), '', 'no cipherText')
  })

  await step('sign the test user in, back up with Firebase Auth', async () => {
    await page.click('#firebase-sign-in')
    await page.waitForFunction(() => document.querySelector('#firebase-user').textContent.startsWith('demo-user'))
    assert.equal(await page.locator('#firebase-sign-in').isDisabled(), true)
    cipherText = await demo.backUp('firebase')
    assert.match(await text('#backup-kind'), /^Method: Firebase Auth\./)
    await page.waitForFunction(() => /firebase/.test(document.querySelector('#custodian-state').textContent))
    noProblemsSoFar()
  })

  await step('lose the device: the keychain and the sign-in are gone; recovery without a sign-in fails', async () => {
    await demo.loseDevice()
    assert.equal(await text('#firebase-user'), 'Nobody.')
    await demo.recover('firebase', '')
    await demo.failedWith('FIREBASE_NOT_SIGNED_IN')
  })

  await step('sign in again; Firebase recovery restores the wallet, from the service and from the cipherText', async () => {
    await page.click('#firebase-sign-in')
    await page.waitForFunction(() => document.querySelector('#firebase-user').textContent.startsWith('demo-user'))
    await demo.recover('firebase', '')
    await demo.restored(original)
    // The same from the pasted cipherText, after signing out and in again on the "new" device.
    await demo.loseDevice()
    await page.click('#firebase-sign-in')
    await page.waitForFunction(() => document.querySelector('#firebase-user').textContent.startsWith('demo-user'))
    await demo.recover('firebase', cipherText)
    await demo.restored(original)
  })

  await step('no page or console errors', async () => {
    noProblemsSoFar()
  })
})

test('demo page: Google Drive and the custom app server, lost device, recovery', { timeout: 10 * STEP_TIMEOUT }, async (t) => {
  const step = stepper(t)
  let original = ''
  let driveCipherText = ''
  let customCipherText = ''
  const driveFiles = async () => (await fetch(`${server.standIns.gdrive}/__drive/files?user=demo-user`)).json()

  await step('a fresh page: the Google stand-in is labelled, nobody signed in, both methods offered', async () => {
    page = await openPage()
    await demo.open()
    assert.match(server.standIns.gdrive, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.match(server.standIns['app-server'], /^http:\/\/127\.0\.0\.1:\d+$/)
    await page.check('#method-gdrive')
    assert.match(await page.locator('#google-heading').innerText(), /development stand-in/i)
    assert.equal(await text('#google-user'), 'Nobody.')
    assert.equal(await page.locator('#method-gdrive').isEnabled(), true)
    assert.equal(await page.locator('#method-custom').isEnabled(), true)
    original = await demo.createWallet()
  })

  await step('Drive backup without a Google sign-in fails with GOOGLE_UNAUTHENTICATED, and nothing reaches Drive', async () => {
    await page.check('#method-gdrive')
    await onlyFormOf('gdrive')
    await page.click('#backup')
    await page.locator('#error').waitFor({ state: 'visible' })
    assert.match(await text('#error'), /^GOOGLE_UNAUTHENTICATED — /)
    assert.equal(await page.inputValue('#cipher-text'), '', 'no cipherText')
    assert.deepEqual(await driveFiles(), [])
  })

  await step('sign in to Google, back up to Drive: the key lands in the app-data folder', async () => {
    await page.click('#google-sign-in')
    await page.waitForFunction(() => document.querySelector('#google-user').textContent.startsWith('demo-user'))
    driveCipherText = await demo.backUp('gdrive')
    assert.match(await text('#backup-kind'), /^Method: Google Drive\./)
    await page.waitForFunction(() => /gdrive/.test(document.querySelector('#custodian-state').textContent))
    const files = await driveFiles()
    assert.equal(files.length, 1)
    assert.equal(files[0].name, 'wallet-backup-keys.json')
    assert.deepEqual(files[0].parents, ['appDataFolder'])
    noProblemsSoFar()
  })

  await step('back up with the custom method (the app-server stand-in)', async () => {
    customCipherText = await demo.backUp('custom')
    assert.match(await text('#backup-kind'), /^Method: custom\./)
    await page.waitForFunction(() => /custom/.test(document.querySelector('#custodian-state').textContent))
    const kept = await fetch(`${server.standIns['app-server']}/keys/demo-user`)
    assert.equal(kept.status, 200)
    assert.ok((await kept.text()).length > 0, 'the app server keeps the keys record')
    noProblemsSoFar()
  })

  await step('lose the device: signed out of Google; Drive recovery fails with GOOGLE_UNAUTHENTICATED', async () => {
    await demo.loseDevice()
    assert.equal(await text('#google-user'), 'Nobody.')
    // The custom method is chosen (the last backup's); pasting the Drive backup chooses Google Drive and shows its sign-in.
    assert.equal(await page.locator('#method-custom').isChecked(), true)
    await page.fill('#recover-cipher-text', driveCipherText)
    await onlyFormOf('gdrive')
    assert.equal(await text('#recover'), 'Recover with Google Drive')
    await demo.recover('gdrive', '')
    await demo.failedWith('GOOGLE_UNAUTHENTICATED')
  })

  await step('sign in to Google again: Drive recovery restores the wallet', async () => {
    await page.click('#google-sign-in')
    await page.waitForFunction(() => document.querySelector('#google-user').textContent.startsWith('demo-user'))
    await demo.recover('gdrive', '')
    await demo.restored(original)
  })

  await step('another lost device: the custom method restores the wallet from its cipherText', async () => {
    await demo.loseDevice()
    await demo.recover('custom', customCipherText)
    await demo.restored(original)
  })

  await step('no page or console errors', async () => {
    noProblemsSoFar()
  })
})

test('demo page: iCloud (CloudKit) backup with the Apple sign-in stand-in, lost device, recovery', { timeout: 10 * STEP_TIMEOUT }, async (t) => {
  const step = stepper(t)
  let original = ''
  let cipherText = ''
  const records = async () => (await fetch(`${server.standIns.icloud}/__cloudkit/records?user=demo-user`)).json()

  await step('a fresh page: the Apple stand-in is labelled, nobody signed in, iCloud offered', async () => {
    page = await openPage()
    await demo.open()
    assert.match(server.standIns.icloud, /^http:\/\/127\.0\.0\.1:\d+$/)
    await page.check('#method-icloud')
    assert.match(await page.locator('#apple-heading').innerText(), /development stand-in/i)
    assert.equal(await text('#apple-user'), 'Nobody.')
    assert.equal(await page.locator('#method-icloud').isEnabled(), true)
    original = await demo.createWallet()
  })

  await step('iCloud backup without an Apple sign-in fails with ICLOUD_UNAUTHENTICATED, and nothing reaches CloudKit', async () => {
    await page.check('#method-icloud')
    await onlyFormOf('icloud')
    await page.click('#backup')
    await page.locator('#error').waitFor({ state: 'visible' })
    assert.match(await text('#error'), /^ICLOUD_UNAUTHENTICATED — /)
    assert.equal(await page.inputValue('#cipher-text'), '', 'no cipherText')
    assert.deepEqual(await records(), [])
  })

  await step('sign in, back up to iCloud: one WalletBackupKeys record in the private database', async () => {
    await page.click('#apple-sign-in')
    await page.waitForFunction(() => document.querySelector('#apple-user').textContent.startsWith('demo-user'))
    const firstToken = await page.evaluate(() => JSON.parse(localStorage.getItem('wallet-backup-demo:apple-sign-in')).token)
    cipherText = await demo.backUp('icloud')
    assert.match(await text('#backup-kind'), /^Method: iCloud\./)
    await page.waitForFunction(() => /icloud/.test(document.querySelector('#custodian-state').textContent))
    const kept = await records()
    assert.equal(kept.length, 1)
    assert.equal(kept[0].recordType, 'WalletBackupKeys')
    // CloudKit's web auth tokens are single-use: the page kept the one each answer handed on.
    const lastToken = await page.evaluate(() => JSON.parse(localStorage.getItem('wallet-backup-demo:apple-sign-in')).token)
    assert.notEqual(lastToken, firstToken)
    noProblemsSoFar()
  })

  await step('lose the device: signed out; iCloud recovery fails with ICLOUD_UNAUTHENTICATED', async () => {
    await demo.loseDevice()
    assert.equal(await text('#apple-user'), 'Nobody.')
    await demo.recover('icloud', '')
    await demo.failedWith('ICLOUD_UNAUTHENTICATED')
  })

  await step('sign in again: iCloud recovery restores the wallet, from the service and from the cipherText', async () => {
    await page.click('#apple-sign-in')
    await page.waitForFunction(() => document.querySelector('#apple-user').textContent.startsWith('demo-user'))
    await demo.recover('icloud', '')
    await demo.restored(original)
    await demo.loseDevice()
    await page.click('#apple-sign-in')
    await page.waitForFunction(() => document.querySelector('#apple-user').textContent.startsWith('demo-user'))
    await demo.recover('icloud', cipherText)
    await demo.restored(original)
  })

  await step('no page or console errors', async () => {
    noProblemsSoFar()
  })
})

// ---------------------------------------------------------------------------
// Layout: a desktop and a phone screen.

/** The screens the layout test uses: a laptop's, and a phone's (390 px: an iPhone 12 to 15). */
const SCREENS = [
  { width: 1280, context: { viewport: { width: 1280, height: 800 } } },
  { width: 390, context: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true } },
]

/**
 * The progress panel's box and the box of the button `button`, once the action
 * it started has put its first line in the list (read then, not at a time).
 */
async function progressBeside(button) {
  await page.locator('#progress li').first().waitFor()
  return page.evaluate((selector) => {
    const box = (el) => {
      const { top, bottom, left, right } = el.getBoundingClientRect()
      return { top, bottom, left, right }
    }
    return { button: box(document.querySelector(selector)), progress: box(document.querySelector('#activity')), viewport: innerHeight }
  }, button)
}

/** Asserts the progress panel shows where a person who pressed `button` looks: beside it, or under it on a phone. */
async function assertProgressBy(button, width) {
  const { button: pressed, progress, viewport } = await progressBeside(button)
  if (width <= 860) {
    assert.ok(progress.top >= pressed.bottom, `the progress panel is under ${button} (panel top ${progress.top}, button bottom ${pressed.bottom})`)
    assert.ok(progress.top - pressed.bottom < 300, `the progress panel starts ${Math.round(progress.top - pressed.bottom)} px under ${button}, not within 300 px`)
  } else {
    assert.ok(progress.left >= pressed.right, `the progress panel is beside ${button}`)
  }
  assert.ok(progress.top >= 0 && progress.top < viewport, `the progress panel is on screen after pressing ${button} (its top at ${progress.top}, the screen ${viewport} px tall)`)
}

test('demo page: the method first, its form only, progress by the buttons, no sideways scrolling at 1280 and 390 px', { timeout: 10 * STEP_TIMEOUT }, async (t) => {
  const step = stepper(t)
  const heights = {}

  for (const screen of SCREENS) {
    const { width } = screen
    let original = ''

    await step(`${width} px: a fresh page fits the screen; each method shows its own form only`, async () => {
      page = await openPage(screen.context)
      await demo.open()
      assert.equal(await page.evaluate(() => document.documentElement.clientWidth), width)
      await noSidewaysScroll('before a backup')
      const chooser = page.getByRole('group', { name: 'Backup method' })
      assert.equal(await chooser.getByRole('radio').count(), METHODS.length, 'one radio button per method')
      for (const method of METHODS) {
        // Chosen as a screen reader user would: by the radio button's accessible name.
        await chooser.getByRole('radio', { name: METHOD_LABELS[method], exact: true }).check()
        await onlyFormOf(method)
        await noSidewaysScroll(`with ${method} chosen`)
      }
      await page.check('#method-password')
      await onlyFormOf('password')
      heights[`${width} px, before a backup`] = await pageHeight()
    })

    await step(`${width} px: a password backup, its progress by the Back up button; screenshot`, async () => {
      original = await demo.createWallet()
      await page.fill('#backup-password', PASSWORD)
      await page.click('#backup')
      await assertProgressBy('#backup', width)
      await page.locator('#progress li[data-status="Done"]').waitFor()
      await page.locator('#backup:enabled').waitFor()
      assert.deepEqual(await statuses(), BACKUP_STATUSES)
      assert.ok((await page.inputValue('#cipher-text')).startsWith('wbk1.'))
      await page.waitForFunction(() => document.querySelector('#custodian-state').textContent.startsWith('Backed up'))
      await noSidewaysScroll('after a backup')
      heights[`${width} px, after a backup`] = await pageHeight()
      await page.screenshot({ path: `${OUT_DIR}demo-${width}.png`, fullPage: true })
    })

    await step(`${width} px: a failed and a good recovery, progress by the Recover button`, async () => {
      await demo.loseDevice()
      await page.fill('#recover-password', WRONG_PASSWORD)
      await page.click('#recover')
      await assertProgressBy('#recover', width)
      await page.locator('#recover:enabled').waitFor()
      await demo.failedWith('WRONG_PASSWORD')
      await noSidewaysScroll('after a failed recovery (the error shown)')
      await page.fill('#recover-password', PASSWORD)
      await page.click('#recover')
      await assertProgressBy('#recover', width)
      await page.locator('#recover:enabled').waitFor()
      await demo.restored(original)
      await noSidewaysScroll('after a recovery')
      heights[`${width} px, after a recovery`] = await pageHeight()
      noProblemsSoFar()
    })
  }

  await step('the page heights (password method)', async () => {
    for (const [when, height] of Object.entries(heights)) t.diagnostic(`page height ${when}: ${height} px`)
    // Before the redesign it was about 2,600 px at 1280 px wide: sign-in panels for every method and the notes of all.
    assert.ok(heights['1280 px, after a backup'] < 2000, `the page is ${heights['1280 px, after a backup']} px tall at 1280 px after a backup`)
  })
})
