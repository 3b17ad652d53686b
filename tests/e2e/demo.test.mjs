// End-to-end test of the demo as `npm run demo` runs it: the backup service
// (a real process, fresh SQLite data dir) serving the demo page and its API,
// in Chromium, driven by playwright-core.
//
//   node --test tests/e2e/
//
// Needs the built package in pkg/ (`npm run build`), the service binary
// (`cargo build -p wallet-backup-service`) and Chromium at /usr/bin/chromium
// (or CHROMIUM_PATH). Leaves a screenshot in tests/out/demo.png.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { launchChromium } from '../chromium.mjs'
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
let page
/** Everything that went wrong inside the page: uncaught errors, console errors, failed loads. */
const pageProblems = []

before(async () => {
  assert.ok(existsSync(`${ROOT}pkg/web/index.js`), 'pkg/web/index.js is missing: run `npm run build` first')
  await mkdir(OUT_DIR, { recursive: true })

  dataDir = await mkdtemp(join(tmpdir(), 'wallet-backup-demo-'))
  server = await startDemo({ port: 0, dataDir, build: false, profile: 'debug' })
  // launch() starts Chromium with a fresh temporary profile, so localStorage is empty.
  browser = await launchChromium({ timeout: STEP_TIMEOUT })
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } })
  page = await context.newPage()
  page.setDefaultTimeout(STEP_TIMEOUT)
  page.on('pageerror', (err) => pageProblems.push(`pageerror: ${err.stack || err.message}`))
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageProblems.push(`console.error: ${msg.text()}`)
  })
  page.on('requestfailed', (req) => pageProblems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`))
  page.on('response', (res) => {
    if (res.status() >= 400) pageProblems.push(`HTTP ${res.status()}: ${res.url()}`)
  })
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

test('demo page: create, back up, lose the device, recover', { timeout: 10 * STEP_TIMEOUT }, async (t) => {
  // Later steps make no sense once one failed; skip them so the first failure stands out.
  let failed = false
  const step = (name, fn) =>
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

  let original = ''
  let cipherText = ''

  await step('page loads the module', async () => {
    const response = await page.goto(server.url)
    assert.equal(response.status(), 200)
    await page.locator('body[data-ready="true"]').waitFor()
    assert.match(await text('#module-status'), /Module ready; backup service connected/)
    assert.equal(await page.locator('body').getAttribute('data-mode'), 'service')
    assert.equal(await page.locator('#create-wallet').isEnabled(), true)
    assert.equal(await text('#wallet-fingerprint'), '')
    assert.match(await page.locator('.custodian').innerText(), /kept by the backup service at http:\/\/127\.0\.0\.1:\d+, sealed under its KMS key/)
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
