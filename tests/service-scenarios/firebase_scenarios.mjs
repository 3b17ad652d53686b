// The Firebase Auth method's scenarios, as an ES module that imports only
// the checks both engines run (../scenario_checks.mjs), so that Node.js
// (firebase.test.mjs) and Chromium (the harness page) run the same code.
// Each scenario is `async (ctx)` with:
//   ctx.Portal, ctx.FirebaseStorage   the package's exports
//   ctx.apiHost                        the service, which fetches the development issuer's keys
//   ctx.issuerUrl                      the development Firebase issuer (a stand-in for Google)
//   ctx.apiKey                         a fresh client of the Firebase project, made by the runner
// and throws an Error when something is not as expected.

import { check, equal, rejects } from '../scenario_checks.mjs'

export const SHARES = JSON.stringify({ secp256k1: { id: 'fb-wallet', share: 'ab'.repeat(32) } })
const OTHER_SHARES = JSON.stringify({ secp256k1: { id: 'fb-wallet', share: 'cd'.repeat(32) } })

/** A Firebase ID token for `sub` from the development issuer. */
async function mint(ctx, sub, claims = {}) {
  const res = await fetch(`${ctx.issuerUrl}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ sub, ...claims }),
  })
  check(res.status === 200, `the issuer answered ${res.status}`)
  return (await res.json()).idToken
}

/** A wallet: keychain, Portal on the service, and a getToken that records its calls. */
function wallet(ctx, tokens) {
  const sub = `user-${Math.random().toString(36).slice(2)}`
  const state = { shares: SHARES }
  const keychain = { getShares: async () => state.shares, setShares: async (s) => void (state.shares = s) }
  const calls = []
  const w = { sub, state, calls }
  const getToken = async ({ forceRefresh }) => {
    calls.push(forceRefresh)
    return tokens ? tokens(w, forceRefresh) : mint(ctx, sub)
  }
  const firebase = new ctx.FirebaseStorage({ getToken })
  w.portal = new ctx.Portal({ apiKey: ctx.apiKey, apiHost: ctx.apiHost, keychain, backup: { firebase } })
  return w
}

export const firebaseScenarios = {
  'backup, then recovery from the service and from the cipherText, on another device': async (ctx) => {
    const w = wallet(ctx)
    const events = []
    const cipherText = await w.portal.backupWallet('firebase', (e) => events.push(e.status))
    equal(events.at(-1), 'Done', 'last status')
    equal(w.calls, [false], 'getToken calls (one token, no refresh)')
    equal(await w.portal.availableRecoveryMethods(), ['firebase'], 'recovery methods')
    w.state.shares = ''
    await w.portal.recoverWallet('', 'firebase')
    equal(w.state.shares, SHARES, "shares after recoverWallet('')")
    w.state.shares = ''
    await w.portal.recoverWallet(cipherText, 'FIREBASE')
    equal(w.state.shares, SHARES, 'shares after recoverWallet(cipherText)')
  },

  'each backup has its own key, and an older cipherText still recovers': async (ctx) => {
    const w = wallet(ctx)
    const first = await w.portal.backupWallet('firebase')
    w.state.shares = OTHER_SHARES
    const second = await w.portal.backupWallet('firebase')
    check(first !== second, 'two backups gave the same cipherText')
    w.state.shares = ''
    await w.portal.recoverWallet(first, 'firebase')
    equal(w.state.shares, SHARES, 'shares of the first backup')
    await w.portal.recoverWallet('', 'firebase')
    equal(w.state.shares, OTHER_SHARES, 'shares of the newest backup')
  },

  'getToken resolving to null is FIREBASE_NOT_SIGNED_IN and stores nothing': async (ctx) => {
    const w = wallet(ctx, () => null)
    await rejects(w.portal.backupWallet('firebase'), 'FIREBASE_NOT_SIGNED_IN', 'backup without a user')
    equal(w.calls, [false], 'getToken calls (no refresh: nobody is signed in)')
    equal(await w.portal.isWalletBackedUp(), false, 'backed up')
  },

  'a refused token is refreshed once (forceRefresh: true) and the call succeeds': async (ctx) => {
    const w = wallet(ctx, (w, forceRefresh) => (forceRefresh ? mint(ctx, w.sub) : 'not.a.token'))
    await w.portal.backupWallet('firebase')
    equal(w.calls, [false, true], 'getToken calls')
  },

  'a token refused again after the refresh is FIREBASE_UNAUTHENTICATED with the service code': async (ctx) => {
    const w = wallet(ctx, () => 'not.a.token')
    const error = await rejects(w.portal.backupWallet('firebase'), 'FIREBASE_UNAUTHENTICATED', 'backup with a bad token')
    equal(error.cause?.status, 401, 'cause status')
    check(/^FIREBASE_TOKEN_/.test(error.cause?.code), `cause code ${error.cause?.code}`)
    equal(w.calls, [false, true], 'getToken calls (exactly one retry)')
    check(!error.message.includes('not.a.token'), 'the token is in the message')
    equal(await w.portal.isWalletBackedUp(), false, 'backed up')
  },

  'key release needs a recent sign-in: FIREBASE_REAUTHENTICATION_REQUIRED, keychain untouched': async (ctx) => {
    let stale = false
    const w = wallet(ctx, (w) => mint(ctx, w.sub, stale ? { authAgeSeconds: 7200 } : {}))
    const cipherText = await w.portal.backupWallet('firebase')
    stale = true
    w.state.shares = ''
    await rejects(w.portal.recoverWallet(cipherText, 'firebase'), 'FIREBASE_REAUTHENTICATION_REQUIRED', 'stale sign-in')
    equal(w.state.shares, '', 'keychain')
  },

  "another user's token cannot release the key: BACKUP_KEY_NOT_FOUND": async (ctx) => {
    let other = false
    const w = wallet(ctx, (w) => mint(ctx, other ? `${w.sub}-other` : w.sub))
    const cipherText = await w.portal.backupWallet('firebase')
    other = true
    w.state.shares = ''
    await rejects(w.portal.recoverWallet(cipherText, 'firebase'), 'BACKUP_KEY_NOT_FOUND', "another user's token")
    equal(w.state.shares, '', 'keychain')
  },

  'a throwing getToken is FIREBASE_UNAUTHENTICATED with the exception as cause': async (ctx) => {
    const boom = new Error('sign-in SDK exploded')
    const w = wallet(ctx, () => {
      throw boom
    })
    const error = await rejects(w.portal.backupWallet('firebase'), 'FIREBASE_UNAUTHENTICATED', 'throwing getToken')
    check(error.cause === boom, 'the cause is not the thrown error')
  },

  'a password cipherText is not opened by the Firebase method': async (ctx) => {
    const w = wallet(ctx)
    const cipherText = await w.portal.backupWallet('password', null, { passwordStorage: { password: 'pw' } })
    await rejects(w.portal.recoverWallet(cipherText, 'firebase'), 'METHOD_MISMATCH', 'password cipherText')
  },
}
