// What the method scenarios (methods.js) talk to, started in Node for the
// Hermes tests (tests/hermes/hermes.test.mjs) and the Hermes bench (bench/sections/hermes.mjs):
// - the real backup service binary (dev/service.mjs ServiceProcess)
//   on loopback, with the Firebase enclave on the development issuer's keys
//   and the passkey enclave for rp id `wallet.example`, whose origins are
//   https://wallet.example and an Android app's `android:apk-key-hash:…`
//   (the origin a React Native app on Android sends);
// - `dev-firebase-issuer` (Firebase ID tokens for any user);
// - the local Drive v3 server (dev/drive-server.mjs);
// - the local CloudKit Web Services server (dev/cloudkit-server.mjs);
// and the native modules an app's adapters call (`call(module, method, args)`,
// the bridge's handler; in Node the same function is called directly):
//   passkeys.create/get(store, device, options, spec)   react-native-passkeys: the software
//       authenticator of dev/passkey-double.mjs on the Android origin; one passkey
//       manager per `store`, its synced passkeys on each named `device`; spec { fail: name }
//       throws an Error of that name, spec { cancel: true } resolves null (sheet dismissed)
//   firebaseAuth.getIdToken(user, forceRefresh)         a token of `user` from the issuer, cached
//       until forceRefresh; user null: null (nobody signed in); '!refused': a token the service refuses
//   googleSignIn.getAccessToken(user)                   a Drive token of `user`, cached; null: null
//   customStore.read/write/delete(store[, value])       a key-value store in Node
//   keyValueStore.getItem/setItem/removeItem(store, key[, value])   iCloud's key-value store
//       (NSUbiquitousKeyValueStore behind an AsyncStorage-shaped module), in Node
//   cloudKit.signIn(user)                                a CloudKit web auth token of `user`
//   libsodium.crypto_pwhash(keyLength, passwordHex, saltHex, opsLimit, memLimit, alg)
//       react-native-libsodium's crypto_pwhash, played by libsodium-wrappers-sumo (the same
//       libsodium, compiled to wasm) with exactly the arguments the adapter passed (hex)
//   argon2.derive(passwordHex, saltHex, m, t, p)        the app's native Argon2id module (hex): `nativeArgon2`
//       (the bench: native Rust, bench/native), else @noble/hashes' Argon2id in Node
//   testControl.expireGoogleToken(user), testControl.failCustomWrites(store, message),
//   testControl.expireICloudUser(user), testControl.failKeyValueWrites(store, message)
//
//   const s = await startServices({ bin })     // bin: the service binary (default: the debug build)
//   const ctx = await s.context({ user: true }) // { apiHost, apiKey (a fresh client), store, user, driveHost }
//   await s.close()

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { argon2id } from '@noble/hashes/argon2.js'
import { ServiceProcess, serviceBinary, startIssuer, stopProcess } from '../service.mjs'
import { startDriveServer } from '../drive-server.mjs'
import { startCloudKitServer } from '../cloudkit-server.mjs'
import { createPasskeyDouble } from '../passkey-double.mjs'

export const PROJECT = 'wallet-backup-hermes'
export const RP_ID = 'wallet.example'
/** An Android app's origin: the unpadded base64url of its signing certificate's SHA-256. */
export const ANDROID_ORIGIN = `android:apk-key-hash:${createHash('sha256').update('hermes test app signing cert').digest('base64url')}`

async function postJson(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`)
  return res.json()
}

export async function startServices({ bin = serviceBinary(), nativeArgon2 = null } = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'wallet-backup-hermes-'))
  let issuer = null
  let service = null
  let drive = null
  let cloudKit = null
  const close = async () => {
    await service?.kill()
    if (issuer) await stopProcess(issuer.child)
    await drive?.close()
    await cloudKit?.close()
    await rm(dataDir, { recursive: true, force: true })
  }
  try {
    issuer = await startIssuer({ projectId: PROJECT, bin })
    drive = await startDriveServer()
    cloudKit = await startCloudKitServer()
    service = new ServiceProcess('hermes', {
      bin,
      dataDir,
      rateLimit: 1000,
      rateBurst: 1000,
      serveArgs: ['--firebase-jwks-url', `${issuer.url}/jwks`, '--passkey-rp-id', RP_ID,
        '--passkey-origin', `https://${RP_ID}`, '--passkey-origin', ANDROID_ORIGIN, '--passkey-rp-name', 'Hermes tests'],
    })
    await service.start()
  } catch (e) {
    await close()
    throw e
  }

  const passkeyManagers = new Map() // store -> the double (a passkey manager)
  const devices = new Map() // store/device -> that manager's passkeys on one device
  const firebaseTokens = new Map()
  const googleTokens = new Map()
  const stores = new Map() // customStore: store -> { value, failWrites }
  const kvStores = new Map() // keyValueStore: store -> { map, failWrites }
  const kvOf = (name) => {
    if (!kvStores.has(name)) kvStores.set(name, { map: new Map(), failWrites: null })
    return kvStores.get(name)
  }
  let seq = 0

  function device(store, name, spec) {
    const key = `${store}/${name}`
    if (!devices.has(key)) {
      if (!passkeyManagers.has(store)) passkeyManagers.set(store, createPasskeyDouble({ origin: ANDROID_ORIGIN }))
      const d = passkeyManagers.get(store).device()
      if (spec?.fail) d.fail = Object.assign(new Error(`${spec.fail} (from the native module)`), { name: spec.fail })
      if (spec?.cancel) d.cancel = true
      devices.set(key, d)
    }
    return devices.get(key)
  }

  async function firebaseToken(user, forceRefresh) {
    if (user === null) return null
    if (user === '!refused') return 'not.a.token'
    if (forceRefresh || !firebaseTokens.has(user)) firebaseTokens.set(user, (await postJson(`${issuer.url}/token`, { sub: user })).idToken)
    return firebaseTokens.get(user)
  }

  async function googleToken(user) {
    if (user === null) return null
    if (!googleTokens.has(user)) googleTokens.set(user, (await postJson(`${drive.origin}/__drive/token`, { user })).token)
    return googleTokens.get(user)
  }

  const storeOf = (name) => {
    if (!stores.has(name)) stores.set(name, { value: null, failWrites: null })
    return stores.get(name)
  }

  /** The native modules' methods (the bridge's handler). */
  async function call(module, method, args) {
    switch (`${module}.${method}`) {
      case 'passkeys.create':
      case 'passkeys.get': {
        const [store, name, options, spec] = args
        return device(store, name, spec)[method](options)
      }
      case 'firebaseAuth.getIdToken':
        return firebaseToken(args[0], args[1])
      case 'googleSignIn.getAccessToken':
        return googleToken(args[0])
      case 'customStore.read':
        return storeOf(args[0]).value
      case 'customStore.write': {
        const s = storeOf(args[0])
        if (s.failWrites) throw new Error(s.failWrites)
        s.value = args[1]
        return true
      }
      case 'customStore.delete': {
        const s = storeOf(args[0])
        const had = s.value !== null
        s.value = null
        return had
      }
      case 'keyValueStore.getItem': {
        const { map } = kvOf(args[0])
        return map.has(args[1]) ? map.get(args[1]) : null
      }
      case 'keyValueStore.setItem': {
        const kv = kvOf(args[0])
        if (kv.failWrites) throw new Error(kv.failWrites)
        kv.map.set(args[1], args[2])
        return null
      }
      case 'keyValueStore.removeItem':
        kvOf(args[0]).map.delete(args[1])
        return null
      case 'cloudKit.signIn':
        return (await postJson(`${cloudKit.origin}/__cloudkit/token`, { user: args[0] })).webAuthToken
      case 'testControl.expireICloudUser':
        return postJson(`${cloudKit.origin}/__cloudkit/expire`, { user: args[0] })
      case 'testControl.failKeyValueWrites':
        kvOf(args[0]).failWrites = args[1]
        return null
      case 'libsodium.crypto_pwhash': {
        const [keyLength, passwordHex, saltHex, opsLimit, memLimit, alg] = args
        const sodium = (await import('libsodium-wrappers-sumo')).default
        await sodium.ready
        const key = sodium.crypto_pwhash(keyLength, Buffer.from(passwordHex, 'hex'), Buffer.from(saltHex, 'hex'), opsLimit, memLimit, alg)
        return Buffer.from(key).toString('hex')
      }
      case 'argon2.derive': {
        const [passwordHex, saltHex, m, t, p] = args
        if (nativeArgon2) return (await nativeArgon2(`argon2 ${m} ${t} ${p} ${passwordHex} ${saltHex}`)).hex
        return Buffer.from(argon2id(Buffer.from(passwordHex, 'hex'), Buffer.from(saltHex, 'hex'), { m, t, p, dkLen: 32 })).toString('hex')
      }
      case 'testControl.expireGoogleToken':
        return postJson(`${drive.origin}/__drive/expire`, { token: await googleToken(args[0]) })
      case 'testControl.failCustomWrites':
        storeOf(args[0]).failWrites = args[1]
        return null
      default:
        throw new Error(`no native module method ${module}.${method}`)
    }
  }

  return {
    service,
    issuerUrl: issuer.url,
    driveHost: drive.origin,
    call,
    /** The settings of one scenario run: a fresh client (with the Firebase project), store and user. */
    async context(extra = {}) {
      const n = ++seq
      const apiKey = await service.createClient(`hermes-${n}-${Math.random().toString(36).slice(2, 8)}`, { firebaseProjectId: PROJECT })
      return {
        apiHost: service.url, apiKey, store: `store-${n}`, user: `user-${n}`, driveHost: drive.origin,
        cloudKitHost: cloudKit.origin, containerIdentifier: cloudKit.containerIdentifier, apiToken: cloudKit.apiToken, ...extra,
      }
    },
    serviceLog: () => service.log.slice(-3000),
    close,
  }
}
