// An independent implementation of FORMAT.md, checked against the module in
// both directions.
//
//   node --test tests/js/cross_impl.test.mjs
//
// Everything below the "independent implementation" line is written from
// FORMAT.md alone, with node:crypto (SHA-256, HKDF-SHA256, HMAC, AES-256-GCM),
// hash-wasm's Argon2id and @noble/curves' RFC 9497 OPRF (guess-limited PINs): it opens what the module seals and every valid
// vector, classifies the invalid vectors with the spec's codes, and seals
// envelopes and custodian records that the module must open. It follows §7
// step by step (the numbers in the comments are its steps).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { argon2id } from 'hash-wasm'
import { ristretto255_oprf as ristretto255Oprf } from '@noble/curves/ed25519.js'
import { Portal, recoverWallet } from '../../pkg/node/index.mjs'
import { memoryWallet, loadVectors, SAMPLE_SHARES } from './helpers.mjs'

// ---------------------------------------------------------------------------
// Independent implementation of FORMAT.md (version 1)
// ---------------------------------------------------------------------------

const TEXT_MARKER = 'wbk1.' // §3.1
const RECORD_MARKER = 'wbc1.' // §8
const KEYS_MARKER = 'wbr1.' // §3.4.4
const MAGIC = Buffer.from('wbk') // §3.2
const RECORD_MAGIC = Buffer.from('wbc') // §8
const KEYS_MAGIC = Buffer.from('wbr') // §3.4.4
const METHODS = { password: 1, passkey: 2, gdrive: 3, icloud: 4, firebase: 5, custom: 6 } // §3.3
const MAX_PARAMS = 1024
const MAX_CONTEXT = 1024
const MIN_CT = 16
const MAX_CT = 2 ** 20 + 16
const PASSWORD_PARAMS_LEN = 29 // §3.4.1
const KDF_ARGON2ID = 1 // §3.4.1
const KDF_GUESS_LIMITED = 2 // §3.4.1.1
const LABEL_GUARD_BACKUP_KEY = 'wallet-backup/v1/pin-guard/backup-key' // §3.4.1.1
const LABEL_GUARD_UNLOCK_KEY = 'wallet-backup/v1/pin-guard/unlock-key' // §3.4.1.1
const LABEL_GUARD_UNLOCK = 'wallet-backup/v1/pin-guard/unlock' // §3.4.1.1
const LABEL_GUARD_KEY_INFO = 'wallet-backup/v1/pin-guard' // §3.4.1.1
const KDF_BOUNDS = { mMin: 19456, mMax: 1048576, tMin: 2, tMax: 16, pMin: 1, pMax: 16, workMax: 2097152 }
const DEFAULT_KDF = { memoryKiB: 19456, iterations: 2, parallelism: 1 } // §3.4.1 "SHOULD use"
const LABEL_PAYLOAD = 'wallet-backup/v1/payload-key' // §4
const LABEL_COMMITMENT = 'wallet-backup/v1/key-commitment' // §4
const LABEL_DIGEST = 'wallet-backup/v1/shares-digest' // §5
const LABEL_PASSKEY_PRF = 'wallet-backup/v1/passkey-prf-key' // §3.4.3
const PASSKEY_MODES = { prf: 1, enclave: 2 } // §3.4.3
const MAX_CREDENTIAL_ID = 1023 // §3.4.3
const PRF_SALT_LEN = 32 // §3.4.3
const KEPT_KEY_METHODS = [METHODS.gdrive, METHODS.icloud, METHODS.firebase, METHODS.custom] // §3.4.2
const MAX_PASSWORD_BYTES = 4096 // §3.4.1, after NFC
const MAX_SHARES = 2 ** 20 - 32 // §2
// §3.1 and §7 step 1: the longest valid envelope, as text (1,400,977 characters).
const MAX_ENVELOPE = 73 + MAX_PARAMS + MAX_CONTEXT + MAX_CT + 16
const MAX_TEXT = TEXT_MARKER.length + Math.ceil((MAX_ENVELOPE * 4) / 3)
// §8: the longest custodian record, three entries of MAX_SHARES bytes, as text (4,194,293 characters).
const MAX_RECORD_TEXT = RECORD_MARKER.length + Math.ceil(((5 + 3 * (16 + 1 + 4 + MAX_SHARES) + 16) * 4) / 3)
const MAX_KEYS_TEXT = 229 // §3.4.4
const KEYS_ENTRY_LEN = 16 + 1 + 32 // §3.4.4

/** A rejection with the spec's stable code. */
class SpecError extends Error {
  constructor(code, why) {
    super(`${code}: ${why}`)
    this.code = code
  }
}
const fail = (code, why) => {
  throw new SpecError(code, why)
}

const sha256 = (...parts) => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}
const u16 = (n) => {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}
const u32 = (n) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

/** §1: canonical unpadded base64url, or null. */
function b64urlDecode(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null // padding or foreign characters
  if (text.length % 4 === 1) return null // not a whole number of bytes
  const bytes = Buffer.from(text, 'base64url')
  if (bytes.toString('base64url') !== text) return null // non-zero trailing bits
  return bytes
}
const b64urlEncode = (bytes) => Buffer.from(bytes).toString('base64url')

/** §3.1 "A decoder MUST ignore leading and trailing ASCII whitespace" (§1: TAB, LF, FF, CR, SPACE, nothing else). */
const trimAsciiWhitespace = (s) => s.replace(/^[\t\n\f\r ]+/, '').replace(/[\t\n\f\r ]+$/, '')

/** §3.4.1 bounds; returns the reason or null. */
function kdfViolation({ memoryKiB: m, iterations: t, parallelism: p }) {
  const b = KDF_BOUNDS
  if (m < b.mMin || m > b.mMax) return `memory ${m}`
  if (t < b.tMin || t > b.tMax) return `iterations ${t}`
  if (p < b.pMin || p > b.pMax) return `parallelism ${p}`
  if (m * t > b.workMax) return `memory × iterations ${m * t}`
  return null
}

/**
 * §3.4.3: the passkey parameters `mode ‖ cred_len ‖ credential_id [‖ prf_salt]`,
 * or a §7 step 9 rejection.
 */
function decodePasskeyParams(params) {
  const bad = (why) => fail('INVALID_CIPHERTEXT', `passkey params: ${why}`)
  if (params.length < 3) bad('shorter than mode and cred_len')
  const mode = params[0]
  if (mode !== PASSKEY_MODES.prf && mode !== PASSKEY_MODES.enclave) bad(`unknown mode ${mode}`)
  const credLen = params.readUInt16BE(1)
  if (credLen < 1 || credLen > MAX_CREDENTIAL_ID) bad(`cred_len ${credLen}`)
  const expected = 3 + credLen + (mode === PASSKEY_MODES.prf ? PRF_SALT_LEN : 0)
  if (params.length !== expected) bad(`${params.length} bytes where mode ${mode} with cred_len ${credLen} needs ${expected}`)
  return {
    mode,
    credentialId: params.subarray(3, 3 + credLen),
    prfSalt: mode === PASSKEY_MODES.prf ? params.subarray(3 + credLen) : null,
  }
}

/**
 * §7 steps 1–9: decodes a cipherText for recovery with `method`.
 * Reads nothing else and derives no key.
 */
function decodeEnvelope(text, method = 'password') {
  text = trimAsciiWhitespace(text)
  if (text.length > MAX_TEXT) fail('INVALID_CIPHERTEXT', 'too long') // 1, counted after trimming
  if (!text.startsWith(TEXT_MARKER)) fail('INVALID_CIPHERTEXT', text.startsWith('wbk') ? 'unsupported version' : 'no marker') // 2
  const bytes = b64urlDecode(text.slice(TEXT_MARKER.length))
  if (!bytes) fail('INVALID_CIPHERTEXT', 'not canonical base64url') // 3

  let at = 0
  const take = (n) => {
    if (at + n > bytes.length) fail('INVALID_CIPHERTEXT', 'truncated') // 5
    const out = bytes.subarray(at, at + n)
    at += n
    return out
  }
  // 4 (a too-short input is already step 5's truncation)
  if (!take(3).equals(MAGIC)) fail('INVALID_CIPHERTEXT', 'magic')
  if (take(1)[0] !== 1) fail('INVALID_CIPHERTEXT', 'version')
  const methodByte = take(1)[0]
  if (!Object.values(METHODS).includes(methodByte)) fail('INVALID_CIPHERTEXT', 'unknown method')
  // 5
  const backupId = take(16)
  const paramsLen = take(2).readUInt16BE()
  if (paramsLen > MAX_PARAMS) fail('INVALID_CIPHERTEXT', 'params_len')
  const params = take(paramsLen)
  const contextLen = take(2).readUInt16BE()
  if (contextLen > MAX_CONTEXT) fail('INVALID_CIPHERTEXT', 'context_len')
  const context = take(contextLen)
  const nonce = take(12)
  const commitment = take(32)
  const ctLen = take(4).readUInt32BE()
  if (ctLen < MIN_CT || ctLen > MAX_CT) fail('INVALID_CIPHERTEXT', 'ct_len')
  const headerLen = at
  const ciphertext = take(ctLen)
  const checksumAt = at
  const checksum = take(16)
  if (at !== bytes.length) fail('INVALID_CIPHERTEXT', 'trailing bytes') // 6
  if (!sha256(bytes.subarray(0, checksumAt)).subarray(0, 16).equals(checksum)) fail('CIPHERTEXT_CORRUPTED', 'checksum') // 7
  if (methodByte !== METHODS[method]) fail('METHOD_MISMATCH', `method byte ${methodByte}`) // 8

  let kdf = null
  let salt = null
  let guessLimited = false
  if (methodByte === METHODS.password) {
    // 9
    if (params.length !== PASSWORD_PARAMS_LEN) fail('INVALID_CIPHERTEXT', 'password params length')
    if (params[0] !== KDF_ARGON2ID && params[0] !== KDF_GUESS_LIMITED) fail('INVALID_CIPHERTEXT', 'kdf id')
    guessLimited = params[0] === KDF_GUESS_LIMITED
    kdf = { memoryKiB: params.readUInt32BE(1), iterations: params.readUInt32BE(5), parallelism: params.readUInt32BE(9) }
    const bad = kdfViolation(kdf)
    if (bad) fail('INVALID_CIPHERTEXT', bad)
    salt = params.subarray(13, 29)
  }
  const passkey = methodByte === METHODS.passkey ? decodePasskeyParams(params) : null // 9
  if (KEPT_KEY_METHODS.includes(methodByte) && params.length !== 0) fail('INVALID_CIPHERTEXT', 'params of a §3.4.2 method') // 9
  return {
    version: bytes[3],
    method: methodByte,
    backupId,
    params,
    context,
    kdf,
    salt,
    guessLimited,
    passkey,
    nonce,
    commitment,
    ctLen,
    header: bytes.subarray(0, headerLen),
    ciphertext,
  }
}

/**
 * The text form both records have (§8, §3.4.4): marker ‖ base64url(magic ‖
 * version ‖ count ‖ entry* ‖ checksum). Checks the length of `text`, the
 * marker, the base64url, the checksum, the magic and version 1; returns the
 * bytes before the checksum, or calls `bad(why)` (which throws).
 */
function unframe(text, { marker, magic, maxText, bad }) {
  if (typeof text !== 'string' || text.length > maxText) bad('too long')
  if (!text.startsWith(marker)) bad('no marker')
  const bytes = b64urlDecode(text.slice(marker.length))
  if (!bytes) bad('not canonical base64url')
  if (bytes.length < 5 + 16) bad('truncated')
  const content = bytes.subarray(0, bytes.length - 16)
  if (!sha256(content).subarray(0, 16).equals(bytes.subarray(bytes.length - 16))) bad('checksum')
  if (!content.subarray(0, 3).equals(magic) || content[3] !== 1) bad('magic/version')
  return content
}

/** §8: decodes a custodian record (nothing is trimmed). */
function decodeRecord(text) {
  const bad = (why) => fail('INVALID_CUSTODIAN_SHARE', why)
  const content = unframe(text, { marker: RECORD_MARKER, magic: RECORD_MAGIC, maxText: MAX_RECORD_TEXT, bad })
  const count = content[4]
  if (count < 1 || count > 3) bad('count')
  let at = 5
  const entries = []
  for (let i = 0; i < count; i++) {
    if (at + 21 > content.length) bad('truncated')
    const backupId = content.subarray(at, at + 16)
    const state = content[at + 16]
    if (state !== 1 && state !== 2) bad('state')
    const len = content.readUInt32BE(at + 17)
    if (len < 1 || len > MAX_SHARES) bad('len')
    if (entries.some((e) => e.backupId.equals(backupId))) bad('backup_id twice')
    at += 21
    if (at + len > content.length) bad('truncated')
    entries.push({ backupId, state, share: content.subarray(at, at + len) })
    at += len
  }
  if (at !== content.length) bad('trailing bytes')
  return { count, entries }
}

/**
 * §3.4.4: decodes a keys record (nothing is trimmed); `STORAGE_UNAVAILABLE`
 * for anything else. Nothing stored (null or '') holds no entries.
 */
function decodeKeysRecord(text) {
  const bad = (why) => fail('STORAGE_UNAVAILABLE', `keys record: ${why}`)
  if (text == null || text === '') return []
  const content = unframe(text, { marker: KEYS_MARKER, magic: KEYS_MAGIC, maxText: MAX_KEYS_TEXT, bad })
  const count = content[4]
  if (count > 3) bad('count')
  if (content.length !== 5 + KEYS_ENTRY_LEN * count) bad('length')
  const entries = []
  for (let at = 5; at < content.length; at += KEYS_ENTRY_LEN) {
    const backupId = content.subarray(at, at + 16)
    const state = content[at + 16]
    if (state !== 1 && state !== 2) bad('state')
    if (entries.some((e) => e.backupId.equals(backupId))) bad('backup_id twice')
    entries.push({ backupId, state, key: content.subarray(at + 17, at + KEYS_ENTRY_LEN) })
  }
  return entries
}

/** §8: encodes a custodian record from entries `{ backupId, state, share }`, newest first. */
function encodeRecord(entries) {
  const parts = [RECORD_MAGIC, Buffer.from([1, entries.length])]
  for (const e of entries) parts.push(e.backupId, Buffer.from([e.state]), u32(e.share.length), e.share)
  const content = Buffer.concat(parts)
  return RECORD_MARKER + b64urlEncode(Buffer.concat([content, sha256(content).subarray(0, 16)]))
}

/**
 * §7 step 0 for the password method (§3.4.1): the UTF-8 of its NFC form,
 * checked before the cipherText is read.
 */
function passwordInput(password) {
  if (typeof password !== 'string' || password.length === 0) fail('PASSWORD_REQUIRED', 'no password')
  if (!password.isWellFormed()) fail('INVALID_ARGUMENT', 'password is not valid Unicode')
  const bytes = Buffer.from(password.normalize('NFC'), 'utf8')
  if (bytes.length > MAX_PASSWORD_BYTES) fail('INVALID_ARGUMENT', 'password longer than 4096 bytes after NFC')
  return bytes
}

/** §3.4.1: K = Argon2id(NFC(password) as UTF-8, salt, m, t, p, 32). */
async function passwordKey(password, salt, kdf) {
  const pw = typeof password === 'string' ? passwordInput(password) : password
  const key = await argon2id({
    password: pw,
    salt,
    parallelism: kdf.parallelism,
    iterations: kdf.iterations,
    memorySize: kdf.memoryKiB,
    hashLength: 32,
    outputType: 'binary',
  })
  return Buffer.from(key)
}

/**
 * §3.4.1.1, as the module and the service run it between them: the module blinds
 * H, the service (`guard`: the OPRF key k it keeps) evaluates, the module
 * finalizes to O; K and U come from O.
 */
function guessThroughService(hardened, backupId, guard) {
  const { oprf } = ristretto255Oprf
  const { blind, blinded } = oprf.blind(hardened)
  const evaluated = oprf.blindEvaluate(guard.oprfKey, blinded) // the service's side
  return guardKeys(Buffer.from(oprf.finalize(hardened, blind, evaluated)), backupId)
}

/** §3.4.1.1: K and U from the PRF output O, salted with backup_id. */
function guardKeys(output, backupId) {
  return {
    key: Buffer.from(hkdfSync('sha256', output, backupId, LABEL_GUARD_BACKUP_KEY, 32)),
    unlockKey: Buffer.from(hkdfSync('sha256', output, backupId, LABEL_GUARD_UNLOCK_KEY, 32)),
  }
}

/** §3.4.1.1: the unlock proof for one challenge. */
const unlockProof = (unlockKey, backupId, challenge) =>
  createHmac('sha256', unlockKey).update(LABEL_GUARD_UNLOCK).update(backupId).update(challenge).digest()

/** §4: payload key and commitment from K, salted with backup_id. */
function deriveKeys(key, backupId) {
  return {
    payload: Buffer.from(hkdfSync('sha256', key, backupId, LABEL_PAYLOAD, 32)),
    commitment: Buffer.from(hkdfSync('sha256', key, backupId, LABEL_COMMITMENT, 32)),
  }
}

/** §5 */
const sharesDigest = (shares) => sha256(Buffer.from(LABEL_DIGEST), Buffer.from([0]), shares)
const xor = (a, b) => Buffer.from(a.map((x, i) => x ^ b[i]))

/**
 * §3.4.3: the backup key of a passkey envelope. `inputs` plays the
 * authenticator and the enclave: `prfOutput` is what the authenticator
 * returns for `prf_salt` (PRF mode), `backupKey` what the enclave releases
 * (enclave mode), `credentialId` the credential they hold.
 */
function passkeyKey(env, { credentialId, prfOutput, backupKey }) {
  const { mode, prfSalt } = env.passkey
  if (mode === PASSKEY_MODES.enclave) {
    if (!backupKey) fail('BACKUP_KEY_NOT_FOUND', 'the enclave holds no key for this backup')
    return backupKey
  }
  // The authenticator is asked for env.passkey.credentialId only; `credentialId` is the one that answered.
  if (!prfOutput) fail('PASSKEY_PRF_UNAVAILABLE', 'no PRF output')
  // This decoder compares the answering credential; §3.4.3: a mismatch is WRONG_BACKUP_KEY.
  if (!credentialId || !credentialId.equals(env.passkey.credentialId)) fail('WRONG_BACKUP_KEY', 'another credential answered')
  const info = Buffer.concat([Buffer.from(LABEL_PASSKEY_PRF), env.backupId])
  return Buffer.from(hkdfSync('sha256', prfOutput, prfSalt, info, 32))
}

/** §3.4.2 and §3.4.4: the key the keys record holds for this backup, pending or complete. */
function keptKey(env, { keysRecord }) {
  const entry = decodeKeysRecord(keysRecord).find((e) => e.backupId.equals(env.backupId))
  if (!entry) fail('BACKUP_KEY_NOT_FOUND', 'the keys record holds no key for this backup')
  return entry.key
}

/**
 * §7 steps 0–15: opens an envelope with the custodian record and returns
 * the shares `S` (bytes). `inputs` is `{ method: 'password', password }`,
 * `{ method: 'passkey', credentialId, prfOutput | backupKey }` (Buffers) or
 * `{ method: 'icloud', keysRecord }`.
 */
async function openEnvelope(text, inputs, recordText) {
  const password = inputs.method === 'password' ? passwordInput(inputs.password) : null // 0
  const env = decodeEnvelope(text, inputs.method) // 1–9
  // 10 (a guess-limited PIN: the service's guard for backup_id; its half comes after the proof)
  if (env.guessLimited && !inputs.guard) fail('INVALID_CUSTODIAN_SHARE', 'the custodian keeps no guard for this backup')
  if (recordText == null || recordText === '') fail('INVALID_CUSTODIAN_SHARE', 'nothing stored')
  const record = decodeRecord(recordText)
  const entry = record.entries.find((e) => e.backupId.equals(env.backupId))
  if (!entry) fail('INVALID_CUSTODIAN_SHARE', 'no entry for this backup')

  // 11
  let key
  let guarded = null
  if (inputs.method === 'password') key = await passwordKey(password, env.salt, env.kdf)
  else if (inputs.method === 'passkey') key = passkeyKey(env, inputs)
  else key = keptKey(env, inputs)
  if (env.guessLimited) {
    guarded = guessThroughService(key, env.backupId, inputs.guard)
    key = guarded.key
  }
  const keys = deriveKeys(key, env.backupId)
  if (!timingSafeEqual(keys.commitment, env.commitment)) {
    fail(inputs.method === 'password' ? 'WRONG_PASSWORD' : 'WRONG_BACKUP_KEY', 'commitment') // 12
  }
  if (guarded) {
    // §3.4.1.1 step 4: the service releases the half only for a proof it checks with its U.
    const challenge = randomBytes(32)
    const proof = unlockProof(guarded.unlockKey, env.backupId, challenge)
    if (!timingSafeEqual(proof, unlockProof(inputs.guard.unlockKey, env.backupId, challenge))) fail('WRONG_PASSWORD', 'unlock proof')
  }
  let plaintext
  try {
    const body = env.ciphertext.subarray(0, env.ctLen - 16)
    const tag = env.ciphertext.subarray(env.ctLen - 16)
    const d = createDecipheriv('aes-256-gcm', keys.payload, env.nonce, { authTagLength: 16 })
    d.setAAD(env.header)
    d.setAuthTag(tag)
    plaintext = Buffer.concat([d.update(body), d.final()])
  } catch {
    fail('CIPHERTEXT_CORRUPTED', 'tag') // 13
  }
  // 14
  if (plaintext.length < 33) fail('BACKUP_SHARE_MISMATCH', 'plaintext too short')
  const digest = plaintext.subarray(0, 32)
  const client = plaintext.subarray(32)
  if (client.length !== entry.share.length) fail('BACKUP_SHARE_MISMATCH', 'halves differ in length')
  const shares = xor(client, entry.share)
  if (!sharesDigest(shares).equals(digest)) fail('BACKUP_SHARE_MISMATCH', 'digest')
  // 15
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(shares)
  } catch {
    fail('INVALID_CIPHERTEXT', 'the shares are not UTF-8')
  }
  return { shares, env, record, entry }
}

/** `openEnvelope` for the password method. */
const openPassword = (text, password, recordText) => openEnvelope(text, { method: 'password', password }, recordText)

/**
 * §6: seals shares (bytes) under a password; returns the cipherText, the
 * custodian half and the backup id. `method` overrides the method byte.
 */
async function sealPassword(shares, password, { kdf = DEFAULT_KDF, context = Buffer.alloc(0), method = METHODS.password } = {}) {
  const backupId = randomBytes(16)
  const salt = randomBytes(16)
  const key = await passwordKey(password, salt, kdf)
  const keys = deriveKeys(key, backupId)
  const client = randomBytes(shares.length) // §2: R
  const custodianShare = xor(shares, client) // S XOR R
  const plaintext = Buffer.concat([sharesDigest(shares), client])
  const nonce = randomBytes(12)
  const params = Buffer.concat([Buffer.from([1]), u32(kdf.memoryKiB), u32(kdf.iterations), u32(kdf.parallelism), salt])
  const header = Buffer.concat([
    MAGIC,
    Buffer.from([1, method]),
    backupId,
    u16(params.length),
    params,
    u16(context.length),
    context,
    nonce,
    keys.commitment,
    u32(plaintext.length + 16),
  ])
  const c = createCipheriv('aes-256-gcm', keys.payload, nonce, { authTagLength: 16 })
  c.setAAD(header)
  const ct = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()])
  const body = Buffer.concat([header, ct])
  const envelope = Buffer.concat([body, sha256(body).subarray(0, 16)])
  return { cipherText: TEXT_MARKER + b64urlEncode(envelope), custodianShare, backupId, envelope }
}

/** Changes the envelope bytes with `edit` and recomputes the checksum (§3.2). */
function reseal(cipherText, edit) {
  const bytes = Buffer.from(trimAsciiWhitespace(cipherText).slice(TEXT_MARKER.length), 'base64url')
  const body = Buffer.from(bytes.subarray(0, bytes.length - 16))
  edit(body)
  return TEXT_MARKER + b64urlEncode(Buffer.concat([body, sha256(body).subarray(0, 16)]))
}

/** The code the independent implementation gives, or 'OK'; `inputs` is a password or as `openEnvelope`'s. */
async function independentCode(text, inputs, record) {
  try {
    await openEnvelope(text, typeof inputs === 'object' && inputs !== null ? inputs : { method: 'password', password: inputs }, record)
    return 'OK'
  } catch (e) {
    if (!(e instanceof SpecError)) throw e
    return e.code
  }
}

// ---------------------------------------------------------------------------
// The module, for comparison
// ---------------------------------------------------------------------------

/** Recovers with the module; returns { code: 'OK', shares } or { code }. */
async function moduleRecover(text, password, record) {
  const wallet = memoryWallet('')
  wallet.state.record = record
  try {
    await recoverWallet(text, 'password', null, { keychain: wallet.keychain, custodian: wallet.custodian, passwordStorage: { password } })
    return { code: 'OK', shares: wallet.state.shares }
  } catch (e) {
    assert.ok(e instanceof Error && typeof e.code === 'string', `module rejected with ${e}`)
    assert.equal(wallet.calls.setShares, 0, 'setShares called by a failed recovery')
    return { code: e.code, message: e.message }
  }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

const PASSWORD = 'correct horse battery staple'

test('independent decoder opens cipherTexts sealed by backupWallet (default and raised Argon2id costs)', async (t) => {
  const cases = [
    { name: 'Portal-style JSON shares, default costs', shares: SAMPLE_SHARES },
    { name: 'one-byte shares', shares: 'x' },
    { name: 'non-ASCII shares and password', shares: '{"k":"ключ-🔑-é"}', password: 'pässwörd-ü' },
    { name: 'raised costs', shares: SAMPLE_SHARES, kdf: { memoryKiB: 20480, iterations: 3, parallelism: 2 } },
  ]
  for (const c of cases) {
    await t.test(c.name, async () => {
      const password = c.password ?? PASSWORD
      const wallet = memoryWallet(c.shares)
      const cipherText = await new Portal(wallet).backupWallet('password', null, { passwordStorage: c.kdf ? { password, kdf: c.kdf } : { password } })
      const { shares, env, record, entry } = await openPassword(cipherText, password, wallet.state.record)
      assert.equal(shares.toString('utf8'), c.shares)
      assert.ok(shares.equals(Buffer.from(c.shares, 'utf8')))

      // Header fields as §3 says the module writes them.
      assert.equal(env.version, 1)
      assert.equal(env.method, METHODS.password)
      assert.equal(env.params.length, 29)
      assert.equal(env.params[0], 1)
      assert.deepEqual(env.kdf, c.kdf ?? DEFAULT_KDF)
      assert.equal(env.context.length, 0)
      assert.equal(env.ctLen, 32 + Buffer.byteLength(c.shares) + 16)
      // §8: a fresh backup leaves one complete entry for it, first.
      assert.equal(record.count, 1)
      assert.ok(record.entries[0].backupId.equals(env.backupId))
      assert.equal(entry.state, 2)
      assert.equal(entry.share.length, Buffer.byteLength(c.shares))
      // §2: the custodian half alone is not the shares.
      assert.ok(!entry.share.equals(Buffer.from(c.shares)) || c.shares.length === 1)

      // The wrong password is told apart by the commitment.
      await assert.rejects(openPassword(cipherText, password + '!', wallet.state.record), { code: 'WRONG_PASSWORD' })
    })
  }
})

test('independent decoder reads the custodian record as §8 says: newest first, pending until verified, at most three', async () => {
  const wallet = memoryWallet()
  const portal = new Portal(wallet)
  const pw = { passwordStorage: { password: PASSWORD } }
  const texts = []
  for (let i = 0; i < 4; i++) texts.push(await portal.backupWallet('password', null, pw))
  const ids = texts.map((t) => decodeEnvelope(t).backupId)
  const record = decodeRecord(wallet.state.record)
  assert.equal(record.count, 3)
  assert.deepEqual(record.entries.map((e) => e.backupId.toString('hex')), [ids[3], ids[2], ids[1]].map((b) => b.toString('hex')))
  assert.deepEqual(record.entries.map((e) => e.state), [2, 2, 2])
  // The three kept backups open independently; the oldest has no entry any more.
  for (const text of texts.slice(1)) {
    const { shares } = await openPassword(text, PASSWORD, wallet.state.record)
    assert.equal(shares.toString(), SAMPLE_SHARES)
  }
  await assert.rejects(openPassword(texts[0], PASSWORD, wallet.state.record), { code: 'INVALID_CUSTODIAN_SHARE' })
  assert.equal((await moduleRecover(texts[0], PASSWORD, wallet.state.record)).code, 'INVALID_CUSTODIAN_SHARE')

  // A backup that fails its read-back leaves its entry pending, first.
  const write = wallet.custodian.write
  wallet.custodian.write = async (r) => {
    await write(r)
    wallet.faults.readOverride = 'wbc1.stale'
    wallet.faults.readOverrideCount = 1
  }
  await assert.rejects(portal.backupWallet('password', null, pw), { code: 'CUSTODIAN_UNAVAILABLE' })
  const afterFailure = decodeRecord(wallet.state.record)
  assert.equal(afterFailure.count, 3)
  assert.equal(afterFailure.entries[0].state, 1)
  assert.deepEqual(afterFailure.entries.slice(1).map((e) => e.backupId.toString('hex')), [ids[3], ids[2]].map((b) => b.toString('hex')))
  assert.deepEqual(afterFailure.entries.slice(1).map((e) => e.state), [2, 2])
})

/** What a vector gives recovery besides the cipherText and record, as `openEnvelope` takes it. */
function vectorInputs(v) {
  const bytes = (hex) => (hex === undefined ? undefined : Buffer.from(hex, 'hex'))
  switch (v.method) {
    case 'password':
      if (v.guessLimited) return { method: 'password', password: v.password, guard: { oprfKey: bytes(v.guessLimited.oprfKey), unlockKey: bytes(v.guessLimited.unlockKey) } }
      return { method: 'password', password: v.password }
    case 'passkey':
      return { method: 'passkey', credentialId: bytes(v.credentialId), prfOutput: bytes(v.prfOutput), backupKey: bytes(v.backupKey) }
    case 'icloud':
      return { method: 'icloud', keysRecord: v.keysRecord }
    default:
      throw new Error(`vector ${v.name}: unknown method ${v.method}`)
  }
}

test('vectors: the independent implementation gives each vector the expected shares or code', async (t) => {
  const vectors = loadVectors()
  assert.ok(vectors.length >= 96)
  assert.ok(vectors.filter((v) => v.guessLimited && 'expectedShares' in v).length >= 1)
  assert.ok(vectors.filter((v) => v.method === 'passkey' && 'expectedShares' in v).length >= 2)
  assert.ok(vectors.filter((v) => v.method === 'icloud' && 'expectedShares' in v).length >= 2)
  for (const v of vectors) {
    await t.test(v.name, async () => {
      const inputs = vectorInputs(v)
      if ('expectedShares' in v) {
        const { shares, env } = await openEnvelope(v.cipherText, inputs, v.custodianRecord)
        assert.equal(shares.toString('utf8'), v.expectedShares)
        if (env.passkey) {
          // §3.4.3: the mode the inputs imply is the one recorded, with the vector's credential.
          assert.equal(env.passkey.mode, v.prfOutput ? PASSKEY_MODES.prf : PASSKEY_MODES.enclave)
          assert.equal(env.passkey.credentialId.toString('hex'), v.credentialId)
          assert.equal(env.params.length, 3 + env.passkey.credentialId.length + (v.prfOutput ? PRF_SALT_LEN : 0))
        }
      } else {
        assert.equal(await independentCode(v.cipherText, inputs, v.custodianRecord), v.expectedError, v.why)
      }
    })
  }
})

test('reverse: the module recovers envelopes and custodian records sealed by the independent encoder', async (t) => {
  const cases = [
    { name: 'default costs, empty context', shares: SAMPLE_SHARES },
    { name: 'raised costs and a bound context', shares: '{"ed25519":{"share":"00ff"}}', kdf: { memoryKiB: 24576, iterations: 3, parallelism: 3 }, context: Buffer.from('client:demo/wallet:0042') },
    { name: 'one-byte shares, non-ASCII password typed decomposed', shares: 'z', password: 'n\u00e4\u00efve-PIN', recoverWith: 'na\u0308i\u0308ve-PIN' },
    { name: 'large shares (64 KiB)', shares: 'q'.repeat(65536) },
  ]
  for (const c of cases) {
    await t.test(c.name, async () => {
      const password = c.password ?? PASSWORD
      const sealed = await sealPassword(Buffer.from(c.shares, 'utf8'), password, { kdf: c.kdf, context: c.context })
      const record = encodeRecord([{ backupId: sealed.backupId, state: 2, share: sealed.custodianShare }])
      const result = await moduleRecover(sealed.cipherText, c.recoverWith ?? password, record)
      assert.equal(result.code, 'OK', result.message)
      assert.equal(result.shares, c.shares)
      // And the independent decoder agrees with itself.
      const { shares } = await openPassword(sealed.cipherText, c.recoverWith ?? password, record)
      assert.equal(shares.toString(), c.shares)
    })
  }

  await t.test('the entry is found among three, pending or complete, in any position', async () => {
    const shares = Buffer.from(SAMPLE_SHARES)
    const sealed = await sealPassword(shares, PASSWORD)
    const other = (n) => ({ backupId: randomBytes(16), state: 2, share: randomBytes(n) })
    const mine = { backupId: sealed.backupId, state: 1, share: sealed.custodianShare }
    for (const entries of [[other(5), other(shares.length), mine], [other(9), mine, other(3)]]) {
      const result = await moduleRecover(sealed.cipherText, PASSWORD, encodeRecord(entries))
      assert.equal(result.code, 'OK', result.message)
      assert.equal(result.shares, SAMPLE_SHARES)
    }
    // A record without the entry, and one whose only entry is another split's half.
    const without = encodeRecord([other(shares.length)])
    assert.equal((await moduleRecover(sealed.cipherText, PASSWORD, without)).code, 'INVALID_CUSTODIAN_SHARE')
    const swapped = encodeRecord([{ backupId: sealed.backupId, state: 2, share: randomBytes(shares.length) }])
    assert.equal((await moduleRecover(sealed.cipherText, PASSWORD, swapped)).code, 'BACKUP_SHARE_MISMATCH')
    assert.equal(await independentCode(sealed.cipherText, PASSWORD, swapped), 'BACKUP_SHARE_MISMATCH')
    const shorter = encodeRecord([{ backupId: sealed.backupId, state: 2, share: sealed.custodianShare.subarray(1) }])
    assert.equal((await moduleRecover(sealed.cipherText, PASSWORD, shorter)).code, 'BACKUP_SHARE_MISMATCH')
    assert.equal(await independentCode(sealed.cipherText, PASSWORD, shorter), 'BACKUP_SHARE_MISMATCH')
  })

  await t.test('custodian records the spec says to reject are rejected by the module', async () => {
    const sealed = await sealPassword(Buffer.from('abc'), PASSWORD)
    const entry = { backupId: sealed.backupId, state: 2, share: sealed.custodianShare }
    const good = encodeRecord([entry])
    const rawOf = (text) => Buffer.from(text.slice(5), 'base64url')
    const resum = (content) => RECORD_MARKER + b64urlEncode(Buffer.concat([content, sha256(content).subarray(0, 16)]))
    const content = rawOf(good).subarray(0, -16)
    const edit = (f) => {
      const c = Buffer.from(content)
      f(c)
      return resum(c)
    }
    const bad = {
      'no marker': good.slice(5),
      'padded base64url': good + '==',
      'checksum mismatch': good.slice(0, -2) + (good.at(-2) === 'A' ? 'B' : 'A') + good.at(-1),
      'other magic': edit((c) => { c[0] = 0x78 }),
      'version 2': edit((c) => { c[3] = 2 }),
      'count 0': edit((c) => { c[4] = 0 }),
      'count 4': edit((c) => { c[4] = 4 }),
      'unknown state': edit((c) => { c[5 + 16] = 3 }),
      'len 0': edit((c) => { c.writeUInt32BE(0, 5 + 17) }),
      'len above 2^20 - 32': edit((c) => { c.writeUInt32BE(MAX_SHARES + 1, 5 + 17) }),
      truncated: resum(content.subarray(0, -1)),
      'trailing bytes': resum(Buffer.concat([content, Buffer.from([0])])),
      'backup_id twice': encodeRecord([entry, entry]),
      'a trailing newline': good + '\n',
      'a leading space': ' ' + good,
      'longer than the longest record': good + 'A'.repeat(MAX_RECORD_TEXT),
    }
    for (const [name, record] of Object.entries(bad)) {
      assert.equal(await independentCode(sealed.cipherText, PASSWORD, record), 'INVALID_CUSTODIAN_SHARE', `independent: ${name}`)
      assert.equal((await moduleRecover(sealed.cipherText, PASSWORD, record)).code, 'INVALID_CUSTODIAN_SHARE', `module: ${name}`)
    }
    assert.equal((await moduleRecover(sealed.cipherText, PASSWORD, good)).shares, 'abc')
  })

  await t.test('an envelope of a reserved method is METHOD_MISMATCH for both', async () => {
    const sealed = await sealPassword(Buffer.from('abc'), PASSWORD, { method: METHODS.custom })
    const record = encodeRecord([{ backupId: sealed.backupId, state: 2, share: sealed.custodianShare }])
    assert.equal(await independentCode(sealed.cipherText, PASSWORD, record), 'METHOD_MISMATCH')
    assert.equal((await moduleRecover(sealed.cipherText, PASSWORD, record)).code, 'METHOD_MISMATCH')
  })

  await t.test('non-canonical base64url (non-zero trailing bits) is INVALID_CIPHERTEXT for both', async () => {
    const sealed = await sealPassword(Buffer.from('abcd'), PASSWORD)
    const record = encodeRecord([{ backupId: sealed.backupId, state: 2, share: sealed.custodianShare }])
    const body = sealed.cipherText.slice(5)
    assert.notEqual(body.length % 4, 0, 'need a partial final quantum for this case')
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const last = alphabet.indexOf(body.at(-1))
    const nonCanonical = TEXT_MARKER + body.slice(0, -1) + alphabet[last | 1]
    assert.notEqual(nonCanonical, sealed.cipherText)
    assert.ok(Buffer.from(nonCanonical.slice(5), 'base64url').equals(sealed.envelope), 'same bytes, other text')
    assert.equal(await independentCode(nonCanonical, PASSWORD, record), 'INVALID_CIPHERTEXT')
    assert.equal((await moduleRecover(nonCanonical, PASSWORD, record)).code, 'INVALID_CIPHERTEXT')
  })
})

test('differential: header bytes changed (checksum recomputed) get the same code from both implementations', async () => {
  const wallet = memoryWallet('{"a":1}')
  const cipherText = await new Portal(wallet).backupWallet('password', null, { passwordStorage: { password: PASSWORD } })
  const record = wallet.state.record
  const env = decodeEnvelope(cipherText)
  const P = env.params.length
  const positions = [
    0, 1, 2, 3, 4, // magic, version, method
    5, // backup_id
    21, 22, // params_len
    23, 24, 25, 26, 27, 28, 31, 32, 35, // kdf id, memory, iterations, parallelism
    40, // salt
    23 + P, 24 + P, // context_len
    30 + P, // nonce
    45 + P, // commitment
    69 + P, 70 + P, 71 + P, 72 + P, // ct_len
    73 + P + 3, // ciphertext
    73 + P + env.ctLen - 1, // tag
  ]
  const mismatches = []
  for (const at of positions) {
    const text = reseal(cipherText, (b) => {
      b[at] ^= 0x80
    })
    const mine = await independentCode(text, PASSWORD, record)
    const theirs = (await moduleRecover(text, PASSWORD, record)).code
    if (mine !== theirs) mismatches.push(`byte ${at}: spec ${mine}, module ${theirs}`)
    assert.notEqual(theirs, 'OK', `byte ${at} changed and still accepted`)
  }
  // Without recomputing the checksum every change is accidental corruption or malformed.
  for (const at of [5, 40, 30 + P, 73 + P + 3]) {
    const bytes = Buffer.from(cipherText.slice(5), 'base64url')
    bytes[at] ^= 0x01
    const text = TEXT_MARKER + b64urlEncode(bytes)
    const mine = await independentCode(text, PASSWORD, record)
    const theirs = (await moduleRecover(text, PASSWORD, record)).code
    assert.equal(mine, 'CIPHERTEXT_CORRUPTED')
    if (mine !== theirs) mismatches.push(`byte ${at} (checksum kept): spec ${mine}, module ${theirs}`)
  }
  assert.deepEqual(mismatches, [])
})

test('shares that are not UTF-8 (sealed by a faulty encoder) are INVALID_CIPHERTEXT for both, and the keychain is not written (FORMAT.md §7 step 15)', async () => {
  for (const shares of [Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x80, 0x7d]), Buffer.from('{"s":"\xed\xa0\x80"}', 'latin1')]) {
    const sealed = await sealPassword(shares, PASSWORD)
    const record = encodeRecord([{ backupId: sealed.backupId, state: 2, share: sealed.custodianShare }])
    assert.equal(await independentCode(sealed.cipherText, PASSWORD, record), 'INVALID_CIPHERTEXT')
    const result = await moduleRecover(sealed.cipherText, PASSWORD, record)
    assert.equal(result.code, 'INVALID_CIPHERTEXT', `module: ${result.message}`)
  }
})
