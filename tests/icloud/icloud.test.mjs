// The iCloud method against a local CloudKit Web Services server
// (dev/cloudkit-server.mjs, written from Apple's public reference) for the key,
// and the real backup service binary for the custodian half. The scenarios
// (icloud_scenarios.mjs) run in Node.js and in headless Chromium, where the
// page calls the service and the CloudKit server cross-origin (both answer
// CORS) and loads the scenarios from its own origin (the harness's proxy). The key-value store
// path (React Native's) runs in both engines too.

import { test, before, after, describe } from 'node:test'
import assert from 'node:assert/strict'
import { Portal, ICloudStorage } from '../../pkg/node/index.mjs'
import { runScenarioInPage, startOwnService, testPageHooks } from '../service-scenarios/harness.mjs'
import { startCloudKitServer } from '../../dev/cloudkit-server.mjs'
import { icloudScenarios } from './icloud_scenarios.mjs'

const TIMEOUT = 60_000

let own
let service
let ck

const newClient = () => service.createClient(`ic-${Math.random().toString(36).slice(2)}`)
const resetCloudKit = () => fetch(`${ck.origin}/__cloudkit/reset`, { method: 'POST', body: '{}' })
const context = async () => ({
  apiHost: service.url,
  apiKey: await newClient(),
  cloudKitHost: ck.origin,
  containerIdentifier: ck.containerIdentifier,
  apiToken: ck.apiToken,
})

before(async () => {
  // The service's default limits: the page's dozens of back-to-back backups preflight many new
  // URLs, which the per-address limit on requests without a key does not count.
  own = await startOwnService('icloud')
  service = own.service
  ck = await startCloudKitServer()
})

after(async () => {
  await own?.stop()
  await ck?.close()
})

test('the CloudKit server keeps Apple\'s record semantics: tags, conflicts, per-record errors, single-use tokens, users apart', async () => {
  const post = async (path, body) => (await fetch(`${ck.origin}/__cloudkit/${path}`, { method: 'POST', body: JSON.stringify(body) })).json()
  let token = (await post('token', { user: 'a' })).webAuthToken
  const call = async (op, body, { apiToken = ck.apiToken, webAuthToken = token, environment = 'development' } = {}) => {
    const q = `ckAPIToken=${encodeURIComponent(apiToken)}&ckWebAuthToken=${encodeURIComponent(webAuthToken)}`
    const res = await fetch(`${ck.origin}/database/1/${ck.containerIdentifier}/${environment}/private/records/${op}?${q}`, { method: 'POST', body: JSON.stringify(body) })
    const next = res.headers.get('X-Apple-CloudKit-Web-Auth-Token')
    if (next && webAuthToken === token) token = next
    return { status: res.status, body: await res.json(), next }
  }
  const record = (extra) => ({ recordName: 'r', recordType: 'WalletBackupKeys', fields: { keys: { value: 'v1' } }, ...extra })
  const codes = (r) => r.body.records.map((x) => x.serverErrorCode ?? 'ok')

  assert.deepEqual(codes(await call('lookup', { records: [{ recordName: 'r' }] })), ['NOT_FOUND'])
  const created = await call('modify', { operations: [{ operationType: 'create', record: record() }] })
  assert.deepEqual(codes(created), ['ok'])
  const tag1 = created.body.records[0].recordChangeTag
  assert.deepEqual(codes(await call('modify', { operations: [{ operationType: 'create', record: record() }] })), ['EXISTS'])
  assert.deepEqual(codes(await call('modify', { operations: [{ operationType: 'update', record: record({ recordChangeTag: 'stale' }) }] })), ['CONFLICT'])
  const updated = await call('modify', { operations: [{ operationType: 'update', record: record({ recordChangeTag: tag1, fields: { keys: { value: 'v2' } } }) }] })
  assert.notEqual(updated.body.records[0].recordChangeTag, tag1)
  assert.deepEqual(codes(await call('modify', { operations: [{ operationType: 'delete', record: { recordName: 'r', recordChangeTag: tag1 } }] })), ['CONFLICT'])
  assert.deepEqual(codes(await call('modify', { operations: [{ operationType: 'forceUpdate', record: record({ fields: { keys: { value: 'v3' } } }) }] })), ['ok'])
  assert.equal((await call('lookup', { records: [{ recordName: 'r' }] })).body.records[0].fields.keys.value, 'v3')
  assert.deepEqual(codes(await call('modify', { operations: [{ operationType: 'update', record: { recordName: 'x', recordType: 'WalletBackupKeys', recordChangeTag: 't', fields: {} } }] })), ['NOT_FOUND'])
  // production takes only the schema's record type and fields
  assert.deepEqual(codes(await call('modify', { operations: [{ operationType: 'create', record: record({ recordType: 'Other' }) }] }, { environment: 'production' })), ['BAD_REQUEST'])
  // another user sees nothing of `a`
  const other = (await post('token', { user: 'b' })).webAuthToken
  assert.deepEqual(codes(await call('lookup', { records: [{ recordName: 'r' }] }, { webAuthToken: other })), ['NOT_FOUND'])
  assert.deepEqual(codes(await call('modify', { operations: [{ operationType: 'forceDelete', record: { recordName: 'r' } }] })), ['ok'])
  assert.deepEqual(codes(await call('modify', { operations: [{ operationType: 'forceDelete', record: { recordName: 'r' } }] })), ['NOT_FOUND'])
  // whole-request errors
  assert.equal((await call('lookup', { records: [] }, { apiToken: 'wrong' })).status, 401)
  const spent = await call('lookup', { records: [] })
  assert.ok(spent.next)
  const reused = await call('lookup', { records: [] }, { webAuthToken: other })
  assert.equal(reused.status, 421)
  assert.equal(reused.body.serverErrorCode, 'AUTHENTICATION_REQUIRED')
  assert.equal((await call('lookup', { records: 'x' })).status, 400)
  // an unencoded '+' is a space to the server: the token no longer matches
  const raw = await fetch(`${ck.origin}/database/1/${ck.containerIdentifier}/development/private/records/lookup?ckAPIToken=${ck.apiToken}&ckWebAuthToken=${token}`, { method: 'POST', body: '{"records":[]}' })
  assert.equal(raw.status, 421)
})

describe('icloud in Node.js', () => {
  for (const [name, scenario] of Object.entries(icloudScenarios)) {
    test(name, { timeout: TIMEOUT }, async () => {
      await resetCloudKit()
      await scenario({ Portal, ICloudStorage, ...(await context()) })
    })
  }
})

describe('icloud in headless Chromium', () => {
  // The harness's proxy is only the page's origin: the page calls the service and the CloudKit server directly.
  const tab = testPageHooks({ timeout: TIMEOUT })
  const scenarios = { module: '/tests/icloud/icloud_scenarios.mjs', scenarios: 'icloudScenarios', storage: 'ICloudStorage' }

  for (const name of Object.keys(icloudScenarios)) {
    test(name, { timeout: TIMEOUT }, async () => {
      await resetCloudKit()
      await runScenarioInPage(tab, scenarios, name, await context())
    })
  }
})
