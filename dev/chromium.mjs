// Headless Chromium for the tests and the bench (Debian's /usr/bin/chromium, or
// CHROMIUM_PATH), started with the flags this sandboxed machine needs:
// no sandbox as root, and no background networking (its connections are
// refused here, many at a time). Not a test file itself.

import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

/** Launches Chromium with a fresh temporary profile (empty localStorage). */
export function launchChromium({ timeout }) {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH`)
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout,
  })
}
