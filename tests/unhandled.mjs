// For a node:test file that must fail on any unhandled rejection or uncaught
// exception while its tests run (tests/js/portal.test.mjs,
// tests/service-scenarios/node.test.mjs): failOnUnhandled collects them, and
// after the file's tests asserts that there were none.

import assert from 'node:assert/strict'
import { after } from 'node:test'

/** Call once at the top of the file; `what` names its tests in the failure message. */
export function failOnUnhandled(what) {
  const unhandled = []
  const onUnhandled = (reason) => unhandled.push(reason)
  process.on('unhandledRejection', onUnhandled)
  process.on('uncaughtException', onUnhandled)
  after(() => {
    process.off('unhandledRejection', onUnhandled)
    process.off('uncaughtException', onUnhandled)
    assert.deepEqual(unhandled, [], `unhandled rejections/exceptions happened during ${what}`)
  })
}
