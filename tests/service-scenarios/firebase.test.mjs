// The Firebase Auth method against the real service binary and its
// development Firebase issuer (`wallet-backup-service dev-firebase-issuer`,
// a loopback-only stand-in for Google that signs Firebase-format ID tokens
// and serves its JWK Set; the service fetches it as it would fetch
// Google's). The scenarios (firebase_scenarios.mjs) run in Node.js and in
// headless Chromium, where the page calls the service and the issuer from
// its own origin (both answer CORS).

import { test, before, after, describe } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Portal, FirebaseStorage } from '../../pkg/node/index.mjs'
import { ServiceProcess, startIssuer, stopProcess } from '../../dev/service.mjs'
import { SERVICES, evaluateInPage, openTestPage, startHarness } from './harness.mjs'
import { firebaseScenarios } from './firebase_scenarios.mjs'

const PROJECT = 'wallet-backup-test'
const TIMEOUT = 60_000

let dataDir
let issuer
let issuerUrl
let service

/** A fresh client of the Firebase project, for one scenario. */
const newClient = () => service.createClient(`fb-${Math.random().toString(36).slice(2)}`, { firebaseProjectId: PROJECT })

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'wallet-backup-firebase-'))
  ;({ child: issuer, url: issuerUrl } = await startIssuer({ projectId: PROJECT }))
  service = new ServiceProcess('firebase', {
    ...SERVICES.main,
    dataDir,
    serveArgs: ['--firebase-jwks-url', `${issuerUrl}/jwks`],
  })
  await service.start()
})

after(async () => {
  await service?.kill()
  if (issuer) await stopProcess(issuer)
  if (dataDir) await rm(dataDir, { recursive: true, force: true })
})

describe('firebase in Node.js', () => {
  for (const [name, scenario] of Object.entries(firebaseScenarios)) {
    test(name, { timeout: TIMEOUT }, async () => {
      await scenario({ Portal, FirebaseStorage, apiHost: service.url, issuerUrl, apiKey: await newClient() })
    })
  }
})

describe('firebase in headless Chromium', () => {
  let harness
  let browser
  let page
  let pageErrors
  let consoleLines

  before(async () => {
    // The harness's proxy is only the page's origin here: the page calls the
    // Firebase service and the issuer directly, cross-origin.
    harness = await startHarness()
    ;({ browser, page, pageErrors, consoleLines } = await openTestPage(harness, { timeout: TIMEOUT }))
  })

  after(async () => {
    await browser?.close()
    await harness?.close()
  })

  for (const name of Object.keys(firebaseScenarios)) {
    test(name, { timeout: TIMEOUT }, async () => {
      const ctx = { apiHost: service.url, issuerUrl, apiKey: await newClient() }
      await evaluateInPage({ page, pageErrors, consoleLines }, ([n, c]) => window.runFirebaseScenario(n, c), [name, ctx])
    })
  }
})
