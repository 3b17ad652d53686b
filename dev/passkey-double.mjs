// A software passkey authenticator shaped like `react-native-passkeys`, for
// the passkey scenarios in Node.js. An ES module with no imports: only
// WebCrypto (`globalThis.crypto.subtle`), `btoa`/`atob` and TextEncoder.
//
//   const passkeys = createPasskeyDouble({ origin: 'android:apk-key-hash:…' })
//   await passkeys.create(PublicKeyCredentialCreationOptionsJSON)  // RegistrationResponseJSON | null
//   await passkeys.get(PublicKeyCredentialRequestOptionsJSON)      // AuthenticationResponseJSON | null
//
// What it does, as a platform authenticator would:
// - ES256 (P-256) key pairs; WebCrypto's raw r‖s signatures are re-encoded as DER;
// - attestation format "none": attestationObject = CBOR { fmt, attStmt: {}, authData };
// - authData = SHA-256(rpId) ‖ flags ‖ counter (big-endian, +1 per ceremony) ‖
//   [AAGUID ‖ credential id length ‖ credential id ‖ COSE key] with flags
//   UP, UV (unless `userVerified` is off), AT at registration, BE and BS (synced
//   passkeys; `backedUp: false` clears them);
// - clientDataJSON { type, challenge, origin, crossOrigin: false } with the
//   configured `origin` (a web origin, or Android's `android:apk-key-hash:…`);
// - discoverable credentials kept in memory per rp id; `allowCredentials`
//   honoured; `excludeCredentials` refused with InvalidStateError;
// - PRF as WebAuthn maps it onto CTAP2 hmac-secret: salt = SHA-256("WebAuthn PRF"
//   ‖ 0x00 ‖ input), output = HMAC-SHA256(per-credential secret, salt), with a
//   second secret when the user was not verified (CredRandomWithoutUV). At
//   create: `prf: { enabled }` (and `results` too with `prfAtCreate`); at get:
//   `prf: { results: { first[, second] } }` when eval (or evalByCredential) is
//   asked and the device does PRF.
//
// Knobs (plain properties, changeable between calls):
//   prf            the device does PRF (default true)
//   prfAtCreate    PRF results already at create, as Chrome's authenticator gives (default false)
//   userVerified   the UV flag is set (default true); off: assertions come back with UV clear
//   cancel         create/get resolve null (the user dismissed the sheet)
//   fail           an Error that create/get throw (a platform failure)
//   origin         clientDataJSON's origin
//   reuse          a credential id: create presents that existing credential again
// `device({ prf, origin, newPrfSecrets })` is the same passkeys (shared store,
// as a passkey manager syncs them) on another device; `newPrfSecrets` gives
// the credentials other PRF secrets there, as a credential exported and
// re-imported without its hmac-secret would have. `calls` records every
// request ({ kind, options, result }).

const encoder = new TextEncoder()
const subtle = () => globalThis.crypto.subtle

// ---- base64url ------------------------------------------------------------

export function toB64url(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)
  let s = ''
  for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000))
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

export function fromB64url(text) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text)) throw new TypeError(`not base64url: ${text}`)
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4)
  const s = atob(b64)
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const sha256 = async (bytes) => new Uint8Array(await subtle().digest('SHA-256', bytes))

const randomBytes = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n))

// ---- CBOR (RFC 8949), the subset WebAuthn uses ------------------------------

function cborHead(major, n) {
  if (n < 24) return Uint8Array.of((major << 5) | n)
  if (n < 0x100) return Uint8Array.of((major << 5) | 24, n)
  if (n < 0x10000) return Uint8Array.of((major << 5) | 25, n >> 8, n & 0xff)
  if (n < 0x100000000) return Uint8Array.of((major << 5) | 26, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
  throw new RangeError('CBOR: integer too large for this encoder')
}

/** Encodes integers, byte strings (Uint8Array), text, arrays, Maps and plain objects, booleans, null. */
export function cborEncode(value) {
  if (Number.isInteger(value)) return value >= 0 ? cborHead(0, value) : cborHead(1, -1 - value)
  if (value instanceof Uint8Array) return concat(cborHead(2, value.length), value)
  if (typeof value === 'string') {
    const b = encoder.encode(value)
    return concat(cborHead(3, b.length), b)
  }
  if (Array.isArray(value)) return concat(cborHead(4, value.length), ...value.map(cborEncode))
  if (value instanceof Map) {
    return concat(cborHead(5, value.size), ...[...value].flatMap(([k, v]) => [cborEncode(k), cborEncode(v)]))
  }
  if (value === false) return Uint8Array.of(0xf4)
  if (value === true) return Uint8Array.of(0xf5)
  if (value === null) return Uint8Array.of(0xf6)
  if (typeof value === 'object') return cborEncode(new Map(Object.entries(value)))
  throw new TypeError(`CBOR: cannot encode ${typeof value}`)
}

/** Decodes one CBOR item; returns { value, end }. Maps decode to Map. */
export function cborDecode(bytes, at = 0) {
  const initial = bytes[at]
  if (initial === undefined) throw new RangeError('CBOR: truncated')
  const major = initial >> 5
  const info = initial & 31
  let n
  let p = at + 1
  if (info < 24) n = info
  else if (info === 24) n = bytes[p++]
  else if (info === 25) (n = (bytes[p] << 8) | bytes[p + 1]), (p += 2)
  else if (info === 26) (n = ((bytes[p] << 24) >>> 0) + (bytes[p + 1] << 16) + (bytes[p + 2] << 8) + bytes[p + 3]), (p += 4)
  else throw new RangeError(`CBOR: unsupported additional info ${info}`)
  if (p > bytes.length) throw new RangeError('CBOR: truncated')
  switch (major) {
    case 0:
      return { value: n, end: p }
    case 1:
      return { value: -1 - n, end: p }
    case 2:
      if (p + n > bytes.length) throw new RangeError('CBOR: truncated')
      return { value: new Uint8Array(bytes.subarray(p, p + n)), end: p + n }
    case 3:
      if (p + n > bytes.length) throw new RangeError('CBOR: truncated')
      return { value: new TextDecoder().decode(bytes.subarray(p, p + n)), end: p + n }
    case 4: {
      const out = []
      for (let i = 0; i < n; i++) {
        const item = cborDecode(bytes, p)
        out.push(item.value)
        p = item.end
      }
      return { value: out, end: p }
    }
    case 5: {
      const out = new Map()
      for (let i = 0; i < n; i++) {
        const k = cborDecode(bytes, p)
        const v = cborDecode(bytes, k.end)
        out.set(k.value, v.value)
        p = v.end
      }
      return { value: out, end: p }
    }
    case 7:
      if (info === 20) return { value: false, end: p }
      if (info === 21) return { value: true, end: p }
      if (info === 22) return { value: null, end: p }
      throw new RangeError(`CBOR: unsupported simple value ${info}`)
    default:
      throw new RangeError(`CBOR: unsupported major type ${major}`)
  }
}

// ---- ES256 ------------------------------------------------------------------

function derInteger(bytes) {
  let i = 0
  while (i < bytes.length - 1 && bytes[i] === 0) i++
  let v = bytes.subarray(i)
  if (v[0] & 0x80) v = concat(Uint8Array.of(0), v)
  return concat(Uint8Array.of(0x02, v.length), v)
}

/** WebCrypto's ECDSA signature (r ‖ s, 32 bytes each) as ASN.1 DER, as WebAuthn carries it. */
export function rawToDer(raw) {
  const r = derInteger(raw.subarray(0, 32))
  const s = derInteger(raw.subarray(32, 64))
  return concat(Uint8Array.of(0x30, r.length + s.length), r, s)
}

/** The reverse, for verifying with WebCrypto. */
export function derToRaw(der) {
  if (der[0] !== 0x30) throw new Error('DER: not a SEQUENCE')
  let p = 2
  const out = new Uint8Array(64)
  for (const half of [0, 32]) {
    if (der[p] !== 0x02) throw new Error('DER: not an INTEGER')
    const len = der[p + 1]
    let v = der.subarray(p + 2, p + 2 + len)
    while (v.length > 32 && v[0] === 0) v = v.subarray(1)
    out.set(v, half + 32 - v.length)
    p += 2 + len
  }
  if (p !== der.length) throw new Error('DER: trailing bytes')
  return out
}

// ---- the authenticator --------------------------------------------------------

const FLAG_UP = 0x01
const FLAG_UV = 0x04
const FLAG_BE = 0x08
const FLAG_BS = 0x10
const FLAG_AT = 0x40

/** The AAGUID the double reports (all zero, as "none" attestation allows). */
export const AAGUID = new Uint8Array(16)

function notAllowed(message) {
  const e = new Error(message)
  e.name = 'NotAllowedError'
  return e
}

async function prfOutput(secret, input) {
  const salt = await sha256(concat(encoder.encode('WebAuthn PRF'), Uint8Array.of(0), fromB64url(input)))
  const key = await subtle().importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  return new Uint8Array(await subtle().sign('HMAC', key, salt))
}

async function prfResults(credential, values, userVerified) {
  const secret = userVerified ? credential.prfSecret : credential.prfSecretNoUv
  const results = { first: toB64url(await prfOutput(secret, values.first)) }
  if (values.second !== undefined) results.second = toB64url(await prfOutput(secret, values.second))
  return results
}

/**
 * A new software authenticator (an empty passkey manager). `options` sets
 * the knobs described at the top of this file.
 */
export function createPasskeyDouble(options = {}) {
  return makeDevice({ credentials: [], counterOf: new Map() }, options)
}

function makeDevice(store, { origin = 'http://localhost', prf = true, prfAtCreate = false, userVerified = true, backedUp = true, prfSecrets = null } = {}) {
  // Per-device PRF secrets (by credential id) when this device does not share the synced ones.
  const secrets = prfSecrets
  const device = {
    origin,
    prf,
    prfAtCreate,
    userVerified,
    backedUp,
    cancel: false,
    fail: null,
    reuse: null,
    calls: [],

    /** The stored credentials of `rpId` (all of them without): { id, rpId, userHandle, userName, counter }. */
    credentials(rpId) {
      return store.credentials
        .filter((c) => rpId === undefined || c.rpId === rpId)
        .map((c) => ({ id: c.id, rpId: c.rpId, userHandle: c.userHandle, userName: c.userName, counter: c.counter }))
    },

    /** Sets a credential's signature counter (the next ceremony signs counter + 1). */
    setCounter(id, counter) {
      const c = store.credentials.find((x) => x.id === id)
      if (!c) throw new Error(`no credential ${id}`)
      c.counter = counter
    },

    /** The same passkeys on another device (shared store). */
    device(overrides = {}) {
      const { newPrfSecrets = false, ...rest } = overrides
      let deviceSecrets = secrets
      if (newPrfSecrets) {
        deviceSecrets = new Map(store.credentials.map((c) => [c.id, { prfSecret: randomBytes(32), prfSecretNoUv: randomBytes(32) }]))
      }
      return makeDevice(store, {
        origin: device.origin,
        prf: device.prf,
        prfAtCreate: device.prfAtCreate,
        userVerified: device.userVerified,
        backedUp: device.backedUp,
        prfSecrets: deviceSecrets,
        ...rest,
      })
    },

    isSupported() {
      return true
    },

    async create(optionsJSON) {
      const call = { kind: 'create', options: structuredClone(optionsJSON), result: undefined }
      device.calls.push(call)
      if (device.fail) throw device.fail
      if (device.cancel) return (call.result = null)
      const o = optionsJSON
      const rpId = o.rp?.id
      if (typeof rpId !== 'string' || !rpId) throw new TypeError('create: options.rp.id is required')
      if (!(o.pubKeyCredParams ?? []).some((p) => p.alg === -7 && (p.type ?? 'public-key') === 'public-key')) {
        throw Object.assign(new Error('create: ES256 is not among pubKeyCredParams'), { name: 'NotSupportedError' })
      }
      const excluded = new Set((o.excludeCredentials ?? []).map((c) => c.id))
      if (store.credentials.some((c) => c.rpId === rpId && excluded.has(c.id))) {
        throw Object.assign(new Error('create: a credential of excludeCredentials is on this device'), { name: 'InvalidStateError' })
      }
      let credential = null
      if (device.reuse) {
        // A broken or malicious authenticator: an existing credential presented as new.
        credential = store.credentials.find((c) => c.id === device.reuse)
        if (!credential) throw new Error(`create: no credential ${device.reuse} to reuse`)
      } else {
        const keys = await subtle().generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
        const idBytes = randomBytes(32)
        credential = {
          id: toB64url(idBytes),
          idBytes,
          rpId,
          userHandle: o.user?.id,
          userName: o.user?.name,
          privateKey: keys.privateKey,
          publicKey: keys.publicKey,
          counter: 0,
          prfSecret: randomBytes(32),
          prfSecretNoUv: randomBytes(32),
        }
        // One passkey per user and rp id: a new one replaces the old (as passkey managers do).
        store.credentials = store.credentials.filter((c) => !(c.rpId === rpId && c.userHandle === credential.userHandle))
        store.credentials.push(credential)
        if (secrets) secrets.set(credential.id, { prfSecret: randomBytes(32), prfSecretNoUv: randomBytes(32) })
      }
      const { idBytes } = credential
      const jwk = await subtle().exportKey('jwk', credential.publicKey)

      const cose = new Map([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, fromB64url(jwk.x)],
        [-3, fromB64url(jwk.y)],
      ])
      credential.counter += 1
      const authData = concat(
        await sha256(encoder.encode(rpId)),
        Uint8Array.of(device.flags() | FLAG_AT),
        counterBytes(credential.counter),
        AAGUID,
        Uint8Array.of(idBytes.length >> 8, idBytes.length & 0xff),
        idBytes,
        cborEncode(cose),
      )
      const attestationObject = cborEncode(new Map([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]))
      const clientDataJSON = device.clientData('webauthn.create', o.challenge)
      const spki = new Uint8Array(await subtle().exportKey('spki', credential.publicKey))
      const clientExtensionResults = {}
      const prfAsked = o.extensions?.prf
      if (prfAsked) {
        clientExtensionResults.prf = { enabled: device.prf }
        if (device.prf && device.prfAtCreate && prfAsked.eval?.first) {
          clientExtensionResults.prf.results = await prfResults(device.secretsOf(credential), prfAsked.eval, device.userVerified)
        }
      }
      return (call.result = credentialJSON(credential, {
        clientDataJSON: toB64url(clientDataJSON),
        attestationObject: toB64url(attestationObject),
        authenticatorData: toB64url(authData),
        transports: ['internal', 'hybrid'],
        publicKeyAlgorithm: -7,
        publicKey: toB64url(spki),
      }, clientExtensionResults))
    },

    async get(optionsJSON) {
      const call = { kind: 'get', options: structuredClone(optionsJSON), result: undefined }
      device.calls.push(call)
      if (device.fail) throw device.fail
      if (device.cancel) return (call.result = null)
      const o = optionsJSON
      const rpId = o.rpId
      if (typeof rpId !== 'string' || !rpId) throw new TypeError('get: options.rpId is required')
      const allowed = (o.allowCredentials ?? []).map((c) => c.id)
      const candidates = store.credentials.filter((c) => c.rpId === rpId && (allowed.length === 0 || allowed.includes(c.id)))
      // The user picks the newest one.
      const credential = candidates.at(-1)
      if (!credential) throw notAllowed(`get: no passkey for ${rpId} among ${allowed.length ? allowed.join(', ') : 'all'}`)
      credential.counter += 1
      const authData = concat(
        await sha256(encoder.encode(rpId)),
        Uint8Array.of(device.flags()),
        counterBytes(credential.counter),
      )
      const clientDataJSON = device.clientData('webauthn.get', o.challenge)
      const signed = concat(authData, await sha256(clientDataJSON))
      const raw = new Uint8Array(await subtle().sign({ name: 'ECDSA', hash: 'SHA-256' }, credential.privateKey, signed))
      const clientExtensionResults = {}
      const prfAsked = o.extensions?.prf
      if (prfAsked && device.prf) {
        const values = prfAsked.evalByCredential?.[credential.id] ?? prfAsked.eval
        if (values?.first) clientExtensionResults.prf = { results: await prfResults(device.secretsOf(credential), values, device.userVerified) }
      }
      return (call.result = credentialJSON(credential, {
        clientDataJSON: toB64url(clientDataJSON),
        authenticatorData: toB64url(authData),
        signature: toB64url(rawToDer(raw)),
        userHandle: credential.userHandle,
      }, clientExtensionResults))
    },

    flags() {
      return FLAG_UP | (device.userVerified ? FLAG_UV : 0) | (device.backedUp ? FLAG_BE | FLAG_BS : 0)
    },

    secretsOf(credential) {
      return secrets?.get(credential.id) ?? credential
    },

    clientData(type, challenge) {
      if (typeof challenge !== 'string' || !challenge) throw new TypeError(`${type}: options.challenge is required`)
      return encoder.encode(JSON.stringify({ type, challenge, origin: device.origin, crossOrigin: false }))
    },

    /** White box, for the double's own test: the PRF secret (with UV) of a credential on this device. */
    prfSecretOf(id) {
      const c = store.credentials.find((x) => x.id === id)
      return c && device.secretsOf(c).prfSecret
    },

    /** The public key of a credential (for tests of the double): a WebCrypto CryptoKey. */
    publicKeyOf(id) {
      return store.credentials.find((c) => c.id === id)?.publicKey
    },
  }
  return device
}

/** What PublicKeyCredential.toJSON() gives for `credential`: `response` is its attestation or assertion. */
function credentialJSON(credential, response, clientExtensionResults) {
  return { id: credential.id, rawId: credential.id, type: 'public-key', authenticatorAttachment: 'platform', response, clientExtensionResults }
}

function counterBytes(n) {
  return Uint8Array.of(n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
}
