// Backup → new device → recovery with each backup method, written once for
// two engines: Hermes (bundled into scenarios.js, its native side bridged to
// Node by native.js / bridge.mjs) and Node.js (bench/sections/hermes.mjs runs
// the same code on pkg/node as the reference). No imports: the engine's
// side comes in `env`:
//   env.wb                  the package's exports (Portal, FirebaseStorage, PasskeyStorage, GDriveStorage, …)
//   env.native(module, method, args) -> Promise   a native module's method (services.mjs answers them)
//   env.kdfs                { 'app-js', 'app-native' }: passwordStorage.deriveKey functions
//   env.now()               milliseconds
// and the per-run settings in `ctx` (JSON, made by Node; services.mjs):
//   ctx.apiHost, ctx.apiKey   the real backup service and a fresh client of it
//   ctx.store                 a name for this run's native state (passkeys, stores, users)
//   ctx.user                  the signed-in user (Firebase, Google), or null
//   ctx.driveHost             the local Drive v3 server
//   ctx.mode                  passkey: 'auto' (PRF) or 'enclave'
//   ctx.kdf                   password: 'app-js', 'app-native', or 'module' (the module's Argon2id,
//                             with allowSlowKdf: in Node's reference it is simply ignored)
//   ctx.icloud                icloud: 'kv' (React Native: the app's key-value store) or 'cloudkit'
//                             (CloudKit Web Services at ctx.cloudKitHost, ctx.containerIdentifier, ctx.apiToken)
// A scenario resolves with what Node checks (restored, statuses, times,
// error codes) and throws when a step fails.

export const SHARES = JSON.stringify({ secp256k1: { id: 'hermes-method-wallet', share: '5a6b7c8d9e0f1a2b'.repeat(8) } })
const PASSWORD = 'pässwörd 🔑 on a phone'

function keychain(state) {
  return {
    getShares() { return Promise.resolve(state.shares) },
    setShares(s) { state.shares = s; return Promise.resolve() },
  }
}

async function codeOf(promise) {
  try {
    await promise
    return { code: 'no error' }
  } catch (e) {
    const cause = e && e.cause
    return {
      code: e && e.code ? e.code : `uncoded: ${String(e)}`,
      isError: e instanceof Error,
      cause: cause === undefined || cause === null ? null : { status: cause.status, code: cause.code, name: cause.name, message: cause.message },
    }
  }
}

/**
 * Backs up with `make(state)` (a { portal, config } on one device), then
 * recovers with `make(fresh)` on a new device whose keychain is empty:
 * recoverWallet('') (the service keeps the cipherText).
 */
async function roundTrip(env, method, make) {
  const state = { shares: SHARES }
  const backupStatuses = []
  const a = make(state, 'phone-1')
  let t = env.now()
  const cipherText = await a.portal.backupWallet(method, (p) => backupStatuses.push(p.status), a.config)
  const backupMs = env.now() - t
  const fresh = { shares: '' }
  const b = make(fresh, 'phone-2')
  const recoveryStatuses = []
  t = env.now()
  await b.portal.recoverWallet('', method, (p) => recoveryStatuses.push(p.status), b.config)
  const recoveryMs = env.now() - t
  return { restored: fresh.shares === SHARES, backupStatuses, recoveryStatuses, backupMs, recoveryMs, cipherTextLength: cipherText.length }
}

/** The adapter objects an app would build from its native modules. */
function adapters(env, ctx) {
  return {
    passkeys(device, spec) {
      return {
        create: (options) => env.native('passkeys', 'create', [ctx.store, device, options, spec || null]),
        get: (options) => env.native('passkeys', 'get', [ctx.store, device, options, spec || null]),
      }
    },
    firebase(user) {
      // @react-native-firebase/auth: currentUser?.getIdToken(forceRefresh) ?? null
      return new env.wb.FirebaseStorage({ getToken: ({ forceRefresh }) => env.native('firebaseAuth', 'getIdToken', [user, !!forceRefresh]) })
    },
    gdrive(user) {
      // Google Sign-In: getTokens().accessToken, scope drive.appdata
      return new env.wb.GDriveStorage({ driveHost: ctx.driveHost, getAccessToken: () => env.native('googleSignIn', 'getAccessToken', [user]) })
    },
    icloudKeyValueStore(store) {
      // React Native: an AsyncStorage-shaped native module over iCloud's key-value store.
      return new env.wb.ICloudStorage({
        keyValueStore: {
          getItem: (key) => env.native('keyValueStore', 'getItem', [store, key]),
          setItem: (key, value) => env.native('keyValueStore', 'setItem', [store, key, value]),
          removeItem: (key) => env.native('keyValueStore', 'removeItem', [store, key]),
        },
      })
    },
    icloudCloudKit(user) {
      // CloudKit Web Services: a web auth token from the user's sign-in, each answer's next one kept.
      let token = null
      return new env.wb.ICloudStorage({
        containerIdentifier: ctx.containerIdentifier,
        environment: 'development',
        apiToken: ctx.apiToken,
        cloudKitHost: ctx.cloudKitHost,
        getWebAuthToken: () => (token !== null ? Promise.resolve(token) : env.native('cloudKit', 'signIn', [user]).then((t) => (token = t))),
        onWebAuthToken: (t) => { token = t },
      })
    },
    custom(store) {
      // The app's own storage, behind a native module (or its server).
      return {
        read: () => env.native('customStore', 'read', [store]),
        write: (value) => env.native('customStore', 'write', [store, value]),
        delete: () => env.native('customStore', 'delete', [store]),
        validateOperations: () => Promise.resolve(true),
      }
    },
  }
}

function passwordConfig(env, ctx) {
  const passwordStorage = { password: PASSWORD }
  if (ctx.kdf && ctx.kdf !== 'module') passwordStorage.deriveKey = env.kdfs[ctx.kdf]
  // The module's Argon2id in React Native is the slow path the app must ask for.
  else if (ctx.kdf === 'module') passwordStorage.allowSlowKdf = true
  if (ctx.guessLimited) passwordStorage.guessLimited = true
  return { passwordStorage }
}

export function methodScenarios(env) {
  const service = (ctx, state, backup) => new env.wb.Portal({ apiKey: ctx.apiKey, apiHost: ctx.apiHost, keychain: keychain(state), backup })

  return {
    'method:password': (ctx) =>
      roundTrip(env, 'password', (state) => ({ portal: service(ctx, state), config: passwordConfig(env, ctx) })),

    'method:firebase': (ctx) => {
      const a = adapters(env, ctx)
      return roundTrip(env, 'firebase', (state) => ({ portal: service(ctx, state, { firebase: a.firebase(ctx.user) }) }))
    },

    'method:passkey': (ctx) => {
      const a = adapters(env, ctx)
      return roundTrip(env, 'passkey', (state, device) => ({
        portal: service(ctx, state, { passkey: new env.wb.PasskeyStorage({ passkeys: a.passkeys(device), mode: ctx.mode }) }),
      }))
    },

    'method:gdrive': (ctx) => {
      const a = adapters(env, ctx)
      return roundTrip(env, 'gdrive', (state) => ({ portal: service(ctx, state, { gdrive: a.gdrive(ctx.user) }) }))
    },

    'method:icloud': (ctx) => {
      const a = adapters(env, ctx)
      return roundTrip(env, 'icloud', (state) => ({
        portal: service(ctx, state, { icloud: ctx.icloud === 'cloudkit' ? a.icloudCloudKit(ctx.user) : a.icloudKeyValueStore(ctx.store) }),
      }))
    },

    'method:custom': (ctx) => {
      const a = adapters(env, ctx)
      return roundTrip(env, 'custom', (state) => ({ portal: service(ctx, state, { custom: a.custom(ctx.store) }) }))
    },

    // ---- errors that must cross the Hermes boundary with their codes ----

    'errors:password': async (ctx) => {
      const config = passwordConfig(env, ctx)
      const wrongKey = new env.wb.Portal({ apiKey: `${ctx.apiKey.slice(0, -4)}AAAA`, apiHost: ctx.apiHost, keychain: keychain({ shares: SHARES }) })
      const state = { shares: SHARES }
      await service(ctx, state).backupWallet('password', null, config)
      const fresh = { shares: '' }
      return {
        unauthorized: await codeOf(wrongKey.backupWallet('password', null, config)),
        wrongPassword: await codeOf(service(ctx, fresh).recoverWallet('', 'password', null, { passwordStorage: Object.assign({}, config.passwordStorage, { password: 'not it' }) })),
        keychainAfter: fresh.shares,
      }
    },

    'errors:password-guess-limited': async (ctx) => {
      const config = passwordConfig(env, { ...ctx, guessLimited: true })
      const state = { shares: SHARES }
      const cipherText = await service(ctx, state).backupWallet('password', null, config)
      const fresh = { shares: '' }
      const wrong = { passwordStorage: Object.assign({}, config.passwordStorage, { password: 'not it', guessLimited: undefined }) }
      let guessesLeft = null
      const wrongPin = await codeOf(service(ctx, fresh).recoverWallet(cipherText, 'password', null, wrong).catch((e) => {
        guessesLeft = e.guessesLeft
        throw e
      }))
      return { wrongPin, guessesLeft, keychainAfter: fresh.shares }
    },

    'errors:firebase': async (ctx) => {
      const a = adapters(env, ctx)
      const state = { shares: SHARES }
      return {
        notSignedIn: await codeOf(service(ctx, state, { firebase: a.firebase(null) }).backupWallet('firebase')),
        refused: await codeOf(service(ctx, state, { firebase: a.firebase('!refused') }).backupWallet('firebase')),
      }
    },

    'errors:passkey': async (ctx) => {
      const a = adapters(env, ctx)
      const state = { shares: SHARES }
      const with_ = (device, spec, mode) => service(ctx, state, { passkey: new env.wb.PasskeyStorage({ passkeys: a.passkeys(device, spec), mode }) })
      return {
        // The platform's NotAllowedError (UV failed, sheet timed out), thrown by the native module.
        notAllowed: await codeOf(with_('denying', { fail: 'NotAllowedError' }, 'auto').backupWallet('passkey')),
        // react-native-passkeys resolves null when the user dismisses the sheet.
        cancelled: await codeOf(with_('cancelling', { cancel: true }, 'enclave').backupWallet('passkey')),
      }
    },

    'errors:gdrive': async (ctx) => {
      const a = adapters(env, ctx)
      const state = { shares: SHARES }
      const portal = service(ctx, state, { gdrive: a.gdrive(ctx.user) })
      await portal.backupWallet('gdrive')
      // The access token expires (Google answers 401 from now on).
      await env.native('testControl', 'expireGoogleToken', [ctx.user])
      return {
        expired: await codeOf(portal.backupWallet('gdrive')),
        signedOut: await codeOf(service(ctx, state, { gdrive: a.gdrive(null) }).backupWallet('gdrive')),
      }
    },

    'errors:icloud': async (ctx) => {
      const a = adapters(env, ctx)
      const state = { shares: SHARES }
      const cloudKit = service(ctx, state, { icloud: a.icloudCloudKit(ctx.user) })
      await cloudKit.backupWallet('icloud')
      // The sign-in expires (CloudKit answers 421 AUTHENTICATION_REQUIRED from now on).
      await env.native('testControl', 'expireICloudUser', [ctx.user])
      const expired = await codeOf(cloudKit.backupWallet('icloud'))
      await env.native('testControl', 'failKeyValueWrites', [ctx.store, 'iCloud key-value store quota exceeded'])
      return {
        expired,
        kvWriteFails: await codeOf(service(ctx, state, { icloud: a.icloudKeyValueStore(ctx.store) }).backupWallet('icloud')),
      }
    },

    'errors:custom': async (ctx) => {
      const a = adapters(env, ctx)
      const state = { shares: SHARES }
      await env.native('testControl', 'failCustomWrites', [ctx.store, 'disk full'])
      return { writeFails: await codeOf(service(ctx, state, { custom: a.custom(ctx.store) }).backupWallet('custom')) }
    },
  }
}
