// Headless Chromium for the tests and the bench (Debian's /usr/bin/chromium, or
// CHROMIUM_PATH), started with the flags this sandboxed machine needs:
// no sandbox as root, and no background networking (its connections are
// refused here, many at a time); and the DevTools virtual authenticator the
// passkey tests (e2e/, service-scenarios/passkey.test.mjs) sign in with.
// Not a test file itself.

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

/**
 * Adds a DevTools virtual authenticator to the page of `cdp` (a CDP session):
 * a platform passkey with user verification, as a phone's, with or without
 * PRF. Resolves to its authenticatorId.
 */
export async function addVirtualAuthenticator(cdp, { hasPrf }) {
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      ctap2Version: 'ctap2_1',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      hasPrf,
      automaticPresenceSimulation: true,
    },
  })
  return authenticatorId
}
