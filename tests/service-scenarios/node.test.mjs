// The service scenarios (tests/service-scenarios/scenarios.mjs) in Node.js: the
// module's managed mode against the real service binary behind the test
// proxy (tests/service-scenarios/harness.mjs), on SQLite, and again on PostgreSQL
// when WALLET_BACKUP_TEST_POSTGRES names a server (scripts/test.mjs starts
// one with scripts/pg-test-server.sh).
//
//   npm run build:service && npm run build        (or: npm run test:service)
//   node --test tests/service-scenarios/node.test.mjs
//   WALLET_BACKUP_TEST_POSTGRES=postgres://postgres@127.0.0.1:54329 node --test tests/service-scenarios/node.test.mjs

import { after, before, beforeEach, describe, test } from 'node:test'
import { Portal } from '../../pkg/node/index.mjs'
import { startHarness } from './harness.mjs'
import { makeContext, scenarios } from './scenarios.mjs'
import { failOnUnhandled } from '../unhandled.mjs'

const POSTGRES = process.env.WALLET_BACKUP_TEST_POSTGRES || null
const SCENARIO_TIMEOUT = 60_000

// Any unhandled rejection or uncaught exception during this file is a failure.
failOnUnhandled('the service scenarios')

function suite(label, postgres) {
  describe(label, { skip: postgres === undefined ? 'WALLET_BACKUP_TEST_POSTGRES is not set' : false }, () => {
    let harness
    let ctx
    before(async () => {
      harness = await startHarness({ postgres })
      ctx = await makeContext({ Portal, origin: harness.origin })
    })
    after(async () => {
      await harness?.close()
    })
    beforeEach(() => harness.reset())

    for (const [name, scenario] of Object.entries(scenarios)) {
      test(name, { timeout: SCENARIO_TIMEOUT }, async () => {
        try {
          await scenario(ctx)
        } catch (e) {
          e.message += `\nproxy log: ${JSON.stringify(harness.log)}\n${harness.serviceLogs()}`
          throw e
        } finally {
          await harness.reset()
        }
      })
    }
  })
}

suite('Node.js, service on SQLite', null)
suite('Node.js, service on PostgreSQL', POSTGRES ?? undefined)
