// The passkey test double (dev/passkey-double.mjs) on its own, without the
// service: its CBOR against RFC 8949's examples, its attestation objects
// and authenticator data as WebAuthn lays them out, its ES256 signatures
// checked by node:crypto (DER, independently of the double's own DER code),
// its PRF outputs against HMAC-SHA256 computed here, and its knobs.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, createHmac, createPublicKey, verify } from 'node:crypto'
import { cborDecode, cborEncode, createPasskeyDouble, derToRaw, fromB64url, rawToDer, toB64url } from '../../dev/passkey-double.mjs'

const hex = (u8) => Buffer.from(u8).toString('hex')
const sha256 = (b) => createHash('sha256').update(b).digest()
const RP = 'wallet.example'
const ORIGIN = 'android:apk-key-hash:' + toB64url(sha256('a signing certificate'))

function creationOptions(extra = {}) {
  return {
    rp: { id: RP, name: 'Wallet' },
    user: { id: toB64url(Buffer.from('user-1')), name: 'Wallet backup', displayName: 'Wallet backup' },
    challenge: toB64url(Buffer.from('registration challenge 32 bytes!')),
    pubKeyCredParams: [{ type: 'public-key', alg: -7 }, { type: 'public-key', alg: -257 }],
    timeout: 60000,
    excludeCredentials: [],
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    attestation: 'none',
    ...extra,
  }
}

function requestOptions(extra = {}) {
  return { challenge: toB64url(Buffer.from('login challenge, 32 bytes long!!')), rpId: RP, userVerification: 'required', allowCredentials: [], ...extra }
}

/** authData's fields (WebAuthn §6.1). */
function parseAuthData(a) {
  const out = { rpIdHash: a.subarray(0, 32), flags: a[32], counter: Buffer.from(a.subarray(33, 37)).readUInt32BE(0) }
  if (out.flags & 0x40) {
    out.aaguid = a.subarray(37, 53)
    const len = (a[53] << 8) | a[54]
    out.credentialId = a.subarray(55, 55 + len)
    const key = cborDecode(a, 55 + len)
    out.cose = key.value
    out.end = key.end
  } else {
    out.end = 37
  }
  return out
}

/** The Node.js public key of a COSE EC2 key. */
function coseToKey(cose) {
  assert.equal(cose.get(1), 2, 'kty EC2')
  assert.equal(cose.get(3), -7, 'alg ES256')
  assert.equal(cose.get(-1), 1, 'crv P-256')
  return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: toB64url(cose.get(-2)), y: toB64url(cose.get(-3)) }, format: 'jwk' })
}

function expectedPrf(secretOutputCheck, salt) {
  return secretOutputCheck(sha256(Buffer.concat([Buffer.from('WebAuthn PRF'), Buffer.of(0), fromB64url(salt)])))
}

test('CBOR: RFC 8949 Appendix A examples encode and decode', () => {
  const cases = [
    [0, '00'], [23, '17'], [24, '1818'], [100, '1864'], [1000, '1903e8'], [1000000, '1a000f4240'],
    [-1, '20'], [-10, '29'], [-100, '3863'], [-1000, '3903e7'],
    [new Uint8Array(0), '40'], [Uint8Array.of(1, 2, 3, 4), '4401020304'],
    ['', '60'], ['a', '6161'], ['IETF', '6449455446'], ['ü', '62c3bc'],
    [[], '80'], [[1, [2, 3], [4, 5]], '8301820203820405'],
    [new Map(), 'a0'], [new Map([[1, 2], [3, 4]]), 'a201020304'],
    [false, 'f4'], [true, 'f5'], [null, 'f6'],
  ]
  for (const [value, encoded] of cases) {
    assert.equal(hex(cborEncode(value)), encoded, `encode ${JSON.stringify(value)}`)
    const d = cborDecode(Buffer.from(encoded, 'hex'))
    assert.deepEqual(d.value, value, `decode ${encoded}`)
    assert.equal(d.end, encoded.length / 2)
  }
  assert.throws(() => cborDecode(Buffer.from('4401', 'hex')), /truncated/)
})

test('DER: raw r‖s round-trips, with leading zeros and high bits', () => {
  for (const raw of [new Uint8Array(64).fill(0xff), Uint8Array.from({ length: 64 }, (_, i) => (i < 3 ? 0 : i)), new Uint8Array(64).fill(1)]) {
    const der = rawToDer(raw)
    assert.equal(der[0], 0x30)
    assert.equal(der[1], der.length - 2)
    assert.deepEqual(derToRaw(der), raw)
  }
})

test('create: attestation "none", authData layout, COSE key, clientDataJSON, PRF enabled', async () => {
  const passkeys = createPasskeyDouble({ origin: ORIGIN })
  const options = creationOptions({ extensions: { prf: { eval: { first: toB64url(new Uint8Array(32)) } } } })
  const r = await passkeys.create(options)
  assert.equal(r.type, 'public-key')
  assert.equal(r.id, r.rawId)
  assert.match(r.id, /^[A-Za-z0-9_-]{43}$/)
  assert.deepEqual(r.clientExtensionResults, { prf: { enabled: true } }, 'PRF enabled, no results at create by default')

  const client = JSON.parse(Buffer.from(fromB64url(r.response.clientDataJSON)).toString('utf8'))
  assert.deepEqual(client, { type: 'webauthn.create', challenge: options.challenge, origin: ORIGIN, crossOrigin: false })

  const att = cborDecode(fromB64url(r.response.attestationObject))
  assert.equal(att.end, fromB64url(r.response.attestationObject).length, 'no trailing bytes')
  assert.deepEqual([...att.value.keys()], ['fmt', 'attStmt', 'authData'])
  assert.equal(att.value.get('fmt'), 'none')
  assert.equal(att.value.get('attStmt').size, 0)
  const authData = att.value.get('authData')
  assert.equal(r.response.authenticatorData, toB64url(authData))
  const a = parseAuthData(authData)
  assert.equal(a.end, authData.length)
  assert.equal(hex(a.rpIdHash), hex(sha256(RP)))
  assert.equal(a.flags, 0x01 | 0x04 | 0x08 | 0x10 | 0x40, 'UP UV BE BS AT')
  assert.equal(a.counter, 1)
  assert.equal(hex(a.aaguid), '00'.repeat(16))
  assert.equal(toB64url(a.credentialId), r.id)
  const key = coseToKey(a.cose)
  assert.equal(key.export({ format: 'der', type: 'spki' }).toString('base64url'), r.response.publicKey, 'publicKey is the SPKI of the COSE key')
})

test('get: the ES256 signature verifies (node:crypto, DER), the counter increments, userHandle, allowCredentials', async () => {
  const passkeys = createPasskeyDouble({ origin: 'http://localhost:1234' })
  const first = await passkeys.create(creationOptions())
  const second = await passkeys.create(creationOptions({ user: { id: toB64url(Buffer.from('user-2')), name: 'n', displayName: 'n' } }))
  const keyOf = (r) => coseToKey(parseAuthData(cborDecode(fromB64url(r.response.attestationObject)).value.get('authData')).cose)
  let lastCounter = 1
  for (const [credential, n] of [[first, 1], [first, 2], [second, 1]]) {
    const options = requestOptions({ allowCredentials: [{ type: 'public-key', id: credential.id }] })
    const r = await passkeys.get(options)
    assert.equal(r.id, credential.id, 'allowCredentials picks the credential')
    const authData = fromB64url(r.response.authenticatorData)
    const clientDataJSON = fromB64url(r.response.clientDataJSON)
    const a = parseAuthData(authData)
    assert.equal(a.end, authData.length, 'no attested data in an assertion')
    assert.equal(hex(a.rpIdHash), hex(sha256(RP)))
    assert.equal(a.flags, 0x01 | 0x04 | 0x08 | 0x10)
    assert.equal(a.counter, 1 + n)
    const signed = Buffer.concat([authData, sha256(clientDataJSON)])
    const signature = Buffer.from(fromB64url(r.response.signature))
    assert.ok(verify('sha256', signed, { key: keyOf(credential), dsaEncoding: 'der' }, signature), 'the signature verifies')
    assert.ok(!verify('sha256', Buffer.concat([signed, Buffer.of(0)]), { key: keyOf(credential), dsaEncoding: 'der' }, signature), 'and not over other bytes')
    assert.ok(!verify('sha256', signed, { key: keyOf(credential === first ? second : first), dsaEncoding: 'der' }, signature), 'nor under another key')
    assert.deepEqual(JSON.parse(Buffer.from(clientDataJSON).toString('utf8')), {
      type: 'webauthn.get', challenge: options.challenge, origin: 'http://localhost:1234', crossOrigin: false,
    })
    const created = cborDecode(fromB64url(credential.response.attestationObject)).value.get('authData')
    assert.ok(a.counter > (credential === first ? lastCounter : 1) || n === 1)
    if (credential === first) lastCounter = a.counter
    assert.ok(created.length > authData.length)
    assert.equal(r.response.userHandle, credential === first ? toB64url(Buffer.from('user-1')) : toB64url(Buffer.from('user-2')))
  }
  // Discoverable: without allowCredentials the newest credential of the rp id answers.
  assert.equal((await passkeys.get(requestOptions())).id, second.id)
  await assert.rejects(passkeys.get(requestOptions({ allowCredentials: [{ type: 'public-key', id: toB64url(new Uint8Array(32)) }] })), { name: 'NotAllowedError' })
  await assert.rejects(passkeys.get(requestOptions({ rpId: 'other.example' })), { name: 'NotAllowedError' })
  await assert.rejects(passkeys.create(creationOptions({ excludeCredentials: [{ type: 'public-key', id: first.id }] })), { name: 'InvalidStateError' })
})

test('PRF: HMAC-SHA256 over SHA-256("WebAuthn PRF" ‖ 0 ‖ salt), stable per salt, per UV, off, other device', async () => {
  const passkeys = createPasskeyDouble({ prfAtCreate: true })
  const salt = toB64url(Buffer.alloc(32, 7))
  const other = toB64url(Buffer.alloc(32, 8))
  const c = await passkeys.create(creationOptions({ extensions: { prf: { eval: { first: salt } } } }))
  const atCreate = c.clientExtensionResults.prf.results.first
  assert.equal(c.clientExtensionResults.prf.enabled, true)
  const ask = (first, extra = {}) => requestOptions({ allowCredentials: [{ type: 'public-key', id: c.id }], extensions: { prf: { eval: { first } } }, ...extra })
  const out = (await passkeys.get(ask(salt))).clientExtensionResults.prf.results.first
  assert.equal(out, atCreate, 'create and get agree')
  assert.equal(fromB64url(out).length, 32)
  // Independently: HMAC-SHA256 with the credential's secret (white box: the double keeps it in its store).
  const prfSecret = passkeys.prfSecretOf(c.id)
  assert.equal(out, toB64url(expectedPrf((s) => createHmac('sha256', prfSecret).update(s).digest(), salt)))
  assert.notEqual((await passkeys.get(ask(other))).clientExtensionResults.prf.results.first, out, 'another salt')
  const byCredential = await passkeys.get(requestOptions({ allowCredentials: [{ type: 'public-key', id: c.id }], extensions: { prf: { evalByCredential: { [c.id]: { first: salt } } } } }))
  assert.equal(byCredential.clientExtensionResults.prf.results.first, out, 'evalByCredential')
  assert.deepEqual((await passkeys.get(requestOptions())).clientExtensionResults, {}, 'no PRF asked, none given')

  passkeys.userVerified = false
  const noUv = await passkeys.get(ask(salt))
  assert.equal(parseAuthData(fromB64url(noUv.response.authenticatorData)).flags & 0x04, 0, 'UV clear')
  assert.notEqual(noUv.clientExtensionResults.prf.results.first, out, 'another secret without UV')
  passkeys.userVerified = true

  const noPrf = passkeys.device({ prf: false })
  const r = await noPrf.get(ask(salt))
  assert.equal(r.id, c.id, 'the same credential on the other device')
  assert.deepEqual(r.clientExtensionResults, {}, 'no PRF results on a device without PRF')
  assert.equal((await passkeys.device({ prf: true }).get(ask(salt))).clientExtensionResults.prf.results.first, out, 'synced: same PRF')
  const reimported = passkeys.device({ newPrfSecrets: true })
  assert.notEqual((await reimported.get(ask(salt))).clientExtensionResults.prf.results.first, out, 'new PRF secrets')
})

test('knobs: cancel resolves null, fail throws, calls are recorded', async () => {
  const passkeys = createPasskeyDouble()
  passkeys.cancel = true
  assert.equal(await passkeys.create(creationOptions()), null)
  assert.equal(await passkeys.get(requestOptions()), null)
  passkeys.cancel = false
  passkeys.fail = new Error('platform broke')
  await assert.rejects(passkeys.create(creationOptions()), /platform broke/)
  passkeys.fail = null
  const c = await passkeys.create(creationOptions())
  assert.deepEqual(passkeys.calls.map((x) => [x.kind, x.result === null ? null : x.result === undefined ? 'threw' : 'ok']), [
    ['create', null], ['get', null], ['create', 'threw'], ['create', 'ok'],
  ])
  assert.equal(passkeys.credentials(RP).length, 1)
  assert.equal(passkeys.credentials(RP)[0].id, c.id)
  passkeys.reuse = c.id
  const again = await passkeys.create(creationOptions())
  assert.equal(again.id, c.id, 'reuse: the same credential id')
  assert.equal(again.response.publicKey, c.response.publicKey, 'reuse: the same key')
  assert.equal(parseAuthData(fromB64url(again.response.authenticatorData)).counter, 2, 'reuse: the counter goes on')
  passkeys.reuse = null
  passkeys.setCounter(c.id, 0)
  const r = await passkeys.get(requestOptions())
  assert.equal(parseAuthData(fromB64url(r.response.authenticatorData)).counter, 1)
})
