// The Firebase Auth method against the real service binary and its
// development Firebase issuer (`wallet-backup-service dev-firebase-issuer`,
// a loopback-only stand-in for Google that signs Firebase-format ID tokens
// and serves its JWK Set; the service fetches it as it would fetch
// Google's). The scenarios (firebase_scenarios.mjs) run in Node.js and in
// headless Chromium, where the page calls the service and the issuer from
// its own origin (both answer CORS).

import { test, before, after, describe } from 'node:test'
import assert from 'node:assert/strict'
import { Portal, FirebaseStorage } from '../../pkg/node/index.mjs'
import { startIssuer, stopProcess } from '../../dev/service.mjs'
import { runScenarioInPage, startOwnService, testPageHooks } from './harness.mjs'
import { firebaseScenarios } from './firebase_scenarios.mjs'

const PROJECT = 'wallet-backup-test'
const TIMEOUT = 60_000

let own
let issuer
let issuerUrl
let service

/** A fresh client of the Firebase project, for one scenario. */
const newClient = () => service.createClient(`fb-${Math.random().toString(36).slice(2)}`, { firebaseProjectId: PROJECT })

before(async () => {
  ;({ child: issuer, url: issuerUrl } = await startIssuer({ projectId: PROJECT }))
  own = await startOwnService('firebase', { serveArgs: ['--firebase-jwks-url', `${issuerUrl}/jwks`] })
  service = own.service
})

after(async () => {
  await own?.stop()
  if (issuer) await stopProcess(issuer)
})

describe('firebase in Node.js', () => {
  for (const [name, scenario] of Object.entries(firebaseScenarios)) {
    test(name, { timeout: TIMEOUT }, async () => {
      await scenario({ Portal, FirebaseStorage, apiHost: service.url, issuerUrl, apiKey: await newClient() })
    })
  }
})

describe('firebase in headless Chromium', () => {
  // The harness's proxy is only the page's origin here: the page calls the
  // Firebase service and the issuer directly, cross-origin.
  const tab = testPageHooks({ timeout: TIMEOUT })
  const scenarios = { module: '/tests/service-scenarios/firebase_scenarios.mjs', scenarios: 'firebaseScenarios', storage: 'FirebaseStorage' }

  for (const name of Object.keys(firebaseScenarios)) {
    test(name, { timeout: TIMEOUT }, async () => {
      await runScenarioInPage(tab, scenarios, name, { apiHost: service.url, issuerUrl, apiKey: await newClient() })
    })
  }
})
