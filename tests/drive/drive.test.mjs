// The Google Drive method against a local Drive v3 server (dev/drive-server.mjs,
// written from Google's public API reference) for the key, and the real
// backup service binary for the custodian half. The scenarios
// (drive_scenarios.mjs) run in Node.js and in headless Chromium, where the
// page calls the service and the Drive server cross-origin (both answer CORS)
// and loads the scenarios from its own origin (the harness's proxy).

import { test, before, after, describe } from 'node:test'
import assert from 'node:assert/strict'
import { Portal, GDriveStorage } from '../../pkg/node/index.mjs'
import { runScenarioInPage, startOwnService, testPageHooks } from '../service-scenarios/harness.mjs'
import { startDriveServer, parseMultipart, parseQuery } from '../../dev/drive-server.mjs'
import { driveScenarios } from './drive_scenarios.mjs'

const TIMEOUT = 60_000

let own
let service
let drive

const newClient = () => service.createClient(`gd-${Math.random().toString(36).slice(2)}`)
const resetDrive = () => fetch(`${drive.origin}/__drive/reset`, { method: 'POST', body: '{}' })

before(async () => {
  own = await startOwnService('drive')
  service = own.service
  drive = await startDriveServer()
})

after(async () => {
  await own?.stop()
  await drive?.close()
})

test('the Drive server parses multipart/related and the query subset as Google documents them', () => {
  const body = Buffer.from('--b.1\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{"name":"x"}\r\n--b.1\r\nContent-Type: text/plain\r\n\r\nline1\r\nline2\r\n--b.1--\r\n')
  assert.deepEqual(parseMultipart(body, 'b.1').map((p) => p.body), ['{"name":"x"}', 'line1\r\nline2'])
  assert.equal(parseMultipart(Buffer.from('--b.1\r\nno end'), 'b.1'), null)
  assert.deepEqual(parseQuery("name = 'it\\'s' and trashed = false"), [{ name: "it's" }, { trashed: false }])
  assert.deepEqual(parseQuery("'appDataFolder' in parents"), [{ inAppData: true }])
  assert.equal(parseQuery("name contains 'x'"), null)
  assert.equal(parseQuery("name = 'x' or trashed = true"), null)
})

describe('gdrive in Node.js', () => {
  for (const [name, scenario] of Object.entries(driveScenarios)) {
    test(name, { timeout: TIMEOUT }, async () => {
      await resetDrive()
      await scenario({ Portal, GDriveStorage, apiHost: service.url, apiKey: await newClient(), driveHost: drive.origin })
    })
  }

  test('GDriveStorage checks its options; driveHost must be https or loopback http', async () => {
    for (const bad of [undefined, {}, { getAccessToken: 'x' }, { getAccessToken: () => null, driveHost: 5 }]) {
      assert.throws(() => new GDriveStorage(bad), (e) => e instanceof TypeError && e.code === 'INVALID_ARGUMENT')
    }
    const keychain = { getShares: async () => '{"a":1}', setShares: async () => {} }
    const gdrive = new GDriveStorage({ getAccessToken: async () => 'token', driveHost: 'http://drive.example.com' })
    const portal = new Portal({ apiKey: await newClient(), apiHost: service.url, keychain, backup: { gdrive } })
    await assert.rejects(portal.backupWallet('gdrive'), (e) => e.code === 'INVALID_ARGUMENT')
    await assert.rejects(portal.backupWallet('gdrive', null, { gdrive: null }), (e) => e instanceof TypeError && e.code === 'INVALID_ARGUMENT')
    const thrown = new Error('Google sign-in failed')
    const throwing = new GDriveStorage({ getAccessToken: () => { throw thrown }, driveHost: drive.origin })
    await assert.rejects(portal.backupWallet('gdrive', null, { gdrive: throwing }), (e) => e.code === 'GOOGLE_UNAUTHENTICATED' && e.cause === thrown)
  })
})

describe('gdrive in headless Chromium', () => {
  // The harness's proxy is only the page's origin: the page calls the service and the Drive server directly.
  const tab = testPageHooks({ timeout: TIMEOUT })
  const scenarios = { module: '/tests/drive/drive_scenarios.mjs', scenarios: 'driveScenarios', storage: 'GDriveStorage' }

  for (const name of Object.keys(driveScenarios)) {
    test(name, { timeout: TIMEOUT }, async () => {
      await resetDrive()
      await runScenarioInPage(tab, scenarios, name, { apiHost: service.url, apiKey: await newClient(), driveHost: drive.origin })
    })
  }
})
