// The Firebase Auth method in Node.js against the real service binary and
// its development Firebase issuer (`wallet-backup-service dev-firebase-issuer`,
// a stand-in for Google that signs Firebase-format ID tokens with its own
// RSA key and serves its JWK Set). The service fetches the issuer's keys as
// it would fetch Google's.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Portal, FirebaseStorage } from '../../pkg/node/index.mjs'
import { ServiceProcess, serviceBinary } from './harness.mjs'

const PROJECT = 'wallet-backup-test'
const SHARES = JSON.stringify({ secp256k1: { id: 'fb-wallet', share: 'ab'.repeat(32) } })

let dataDir
let issuer
let issuerUrl
let service

/** Starts `dev-firebase-issuer` and resolves to its URL. */
async function startIssuer() {
  const child = spawn(serviceBinary(), ['dev-firebase-issuer', '--listen', '127.0.0.1:0', '--project-id', PROJECT], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (d) => (err += d))
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`issuer did not start: ${err}`)), 30_000)
    child.on('exit', (code) => reject(new Error(`issuer exited (${code}): ${err}`)))
    child.stdout.on('data', (d) => {
      out += d
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    })
  })
  return { child, url }
}

/** A Firebase ID token for `sub` from the development issuer. */
async function mint(sub, claims = {}) {
  const res = await fetch(`${issuerUrl}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ sub, ...claims }),
  })
  assert.equal(res.status, 200, await res.clone().text())
  return (await res.json()).idToken
}

/** A wallet with a keychain, a Portal on the service, and a getToken that records its calls. */
async function wallet({ sub = `user-${Math.random().toString(36).slice(2)}`, tokens } = {}) {
  const apiKey = await service.createClient(`fb-${sub}`, { firebaseProjectId: PROJECT })
  const state = { shares: SHARES }
  const keychain = { getShares: async () => state.shares, setShares: async (s) => void (state.shares = s) }
  const calls = []
  const getToken = async ({ forceRefresh }) => {
    calls.push(forceRefresh)
    return tokens ? tokens(forceRefresh, calls.length) : mint(sub)
  }
  const firebase = new FirebaseStorage({ getToken })
  const portal = new Portal({ apiKey, apiHost: service.url, keychain, backup: { firebase } })
  return { apiKey, state, keychain, calls, portal, sub }
}

async function rejects(promise, code) {
  const error = await promise.then(
    () => assert.fail(`expected ${code}, but it resolved`),
    (e) => e,
  )
  assert.ok(error instanceof Error)
  assert.equal(error.code, code, error.message)
  return error
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'wallet-backup-firebase-'))
  ;({ child: issuer, url: issuerUrl } = await startIssuer())
  service = new ServiceProcess('firebase', {
    bin: serviceBinary(),
    dataDir,
    serveArgs: ['--firebase-jwks-url', `${issuerUrl}/jwks`],
  })
  await service.start()
})

after(async () => {
  await service?.kill()
  issuer?.kill('SIGTERM')
  if (issuer) await once(issuer, 'exit').catch(() => {})
  if (dataDir) await rm(dataDir, { recursive: true, force: true })
})

test('firebase: backup, then recovery from the service and from the cipherText, on another device', async () => {
  const w = await wallet()
  const events = []
  const cipherText = await w.portal.backupWallet('firebase', (e) => events.push(e.status))
  assert.equal(events.at(-1), 'Done')
  assert.deepEqual(w.calls, [false], 'one token, no refresh needed')
  assert.deepEqual(await w.portal.availableRecoveryMethods(), ['firebase'])

  // A new device: empty keychain, same user signed in.
  w.state.shares = ''
  await w.portal.recoverWallet('', 'firebase')
  assert.equal(w.state.shares, SHARES)
  w.state.shares = ''
  await w.portal.recoverWallet(cipherText, 'FIREBASE')
  assert.equal(w.state.shares, SHARES)
})

test('firebase: each backup has its own key, and an older cipherText still recovers', async () => {
  const w = await wallet()
  const first = await w.portal.backupWallet('firebase')
  w.state.shares = JSON.stringify({ secp256k1: { id: 'fb-wallet', share: 'cd'.repeat(32) } })
  const second = await w.portal.backupWallet('firebase')
  assert.notEqual(first, second)
  w.state.shares = ''
  await w.portal.recoverWallet(first, 'firebase')
  assert.equal(w.state.shares, SHARES)
})

test('firebase: getToken resolving to null is FIREBASE_NOT_SIGNED_IN and stores nothing', async () => {
  const w = await wallet({ tokens: () => null })
  await rejects(w.portal.backupWallet('firebase'), 'FIREBASE_NOT_SIGNED_IN')
  assert.deepEqual(w.calls, [false], 'no refresh: nobody is signed in')
  assert.equal(await w.portal.isWalletBackedUp(), false)
})

test('firebase: a refused token is refreshed once (forceRefresh: true) and the call succeeds', async () => {
  const w = await wallet({ tokens: (forceRefresh) => (forceRefresh ? mint(w.sub) : 'not.a.token') })
  await w.portal.backupWallet('firebase')
  assert.deepEqual(w.calls, [false, true])
})

test('firebase: a token refused again after the refresh is FIREBASE_UNAUTHENTICATED with the service code', async () => {
  const w = await wallet({ tokens: () => 'not.a.token' })
  const error = await rejects(w.portal.backupWallet('firebase'), 'FIREBASE_UNAUTHENTICATED')
  assert.equal(error.cause.status, 401)
  assert.match(error.cause.code, /^FIREBASE_TOKEN_/)
  assert.deepEqual(w.calls, [false, true], 'exactly one retry')
  assert.ok(!error.message.includes('not.a.token'))
  assert.equal(await w.portal.isWalletBackedUp(), false)
})

test('firebase: key release needs a recent sign-in: FIREBASE_REAUTHENTICATION_REQUIRED, keychain untouched', async () => {
  let stale = false
  const w = await wallet({ tokens: () => mint(w.sub, stale ? { authAgeSeconds: 7200 } : {}) })
  const cipherText = await w.portal.backupWallet('firebase')
  stale = true
  w.state.shares = ''
  await rejects(w.portal.recoverWallet(cipherText, 'firebase'), 'FIREBASE_REAUTHENTICATION_REQUIRED')
  assert.equal(w.state.shares, '')
})

test("firebase: another user's token cannot release the key: BACKUP_KEY_NOT_FOUND", async () => {
  let other = false
  const w = await wallet({ tokens: () => mint(other ? `${w.sub}-other` : w.sub) })
  const cipherText = await w.portal.backupWallet('firebase')
  other = true
  w.state.shares = ''
  await rejects(w.portal.recoverWallet(cipherText, 'firebase'), 'BACKUP_KEY_NOT_FOUND')
  assert.equal(w.state.shares, '')
})

test('firebase: a throwing getToken is FIREBASE_UNAUTHENTICATED with the exception as cause', async () => {
  const boom = new Error('sign-in SDK exploded')
  const w = await wallet({
    tokens: () => {
      throw boom
    },
  })
  const error = await rejects(w.portal.backupWallet('firebase'), 'FIREBASE_UNAUTHENTICATED')
  assert.equal(error.cause, boom)
})

test('firebase: a password cipherText is not opened by the Firebase method', async () => {
  const w = await wallet()
  const cipherText = await w.portal.backupWallet('password', null, { passwordStorage: { password: 'pw' } })
  await rejects(w.portal.recoverWallet(cipherText, 'firebase'), 'METHOD_MISMATCH')
})
