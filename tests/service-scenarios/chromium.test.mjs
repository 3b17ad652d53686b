// The service scenarios (tests/service-scenarios/scenarios.mjs) in headless Chromium,
// driven by playwright-core: the page is served by the test proxy
// (tests/service-scenarios/harness.mjs), so it calls the service same-origin; it
// imports /pkg/web/index.js and the scenarios module, and each scenario runs
// in the page (page.evaluate), one test per scenario. Service on SQLite.
//
//   npm run build:service && npm run build        (or: npm run test:service)
//   node --test tests/service-scenarios/chromium.test.mjs
//
// Needs Chromium at /usr/bin/chromium (or CHROMIUM_PATH).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { testPageHooks } from './harness.mjs'
import { scenarios } from './scenarios.mjs'

const SCENARIO_TIMEOUT = 60_000

// tab.pageErrors: uncaught errors and unhandled rejections in the page;
// tab.consoleLines: its console, for failure messages (failed requests are logged there and expected).
const tab = testPageHooks({
  timeout: SCENARIO_TIMEOUT,
  ready: async ({ page, pageErrors }) => {
    assert.deepEqual(await page.evaluate(() => window.scenarioNames), Object.keys(scenarios), 'the page has the same scenarios')
    assert.deepEqual(pageErrors, [], 'the page failed to load')
  },
})

for (const name of Object.keys(scenarios)) {
  test(name, { timeout: SCENARIO_TIMEOUT }, async () => {
    const { harness, page, pageErrors, consoleLines } = tab
    const errorsBefore = pageErrors.length
    consoleLines.length = 0
    try {
      await page.evaluate((n) => window.runScenario(n), name)
      assert.deepEqual(pageErrors.slice(errorsBefore), [], 'uncaught errors in the page during the scenario')
    } catch (e) {
      e.message += `\npage console:\n  ${consoleLines.join('\n  ')}\nproxy log: ${JSON.stringify(harness.log)}\n${harness.serviceLogs()}`
      throw e
    } finally {
      await harness.reset()
    }
  })
}
