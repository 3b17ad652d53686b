// Shared helpers of the JavaScript tests (not a test file itself).
//
// In-memory keychain and custodian adapters with fault injection, an
// assertion for coded errors, and the test vectors.

import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const VECTOR_DIR = fileURLToPath(new URL('../vectors/', import.meta.url))

/** Portal-style shares, as a real keychain would hold them. */
export const SAMPLE_SHARES = JSON.stringify({
  secp256k1: { id: 'cm2v1wallet0001', share: 'a1b2c3d4e5f60718293a4b5c6d7e8f90'.repeat(8) },
  ed25519: { id: 'cm2v1wallet0002', share: '0f1e2d3c4b5a69788796a5b4c3d2e1f0'.repeat(8) },
})

/**
 * A wallet: an in-memory keychain and custodian, with switches to make
 * either fail. `state` is what they hold; `calls` counts adapter calls.
 */
export function memoryWallet(shares = SAMPLE_SHARES, record = null) {
  const state = { shares, record }
  const calls = { getShares: 0, setShares: 0, read: 0, write: 0 }
  const faults = {
    /** When set, custodian.write rejects with this value (nothing is stored). */
    writeRejects: null,
    /** When set, custodian.read resolves to this value instead of the stored one. */
    readOverride: undefined,
    /** Number of reads still to be answered with `readOverride`. */
    readOverrideCount: 0,
  }
  const keychain = {
    async getShares() {
      calls.getShares++
      return state.shares
    },
    async setShares(s) {
      calls.setShares++
      state.shares = s
    },
  }
  const custodian = {
    async read() {
      calls.read++
      if (faults.readOverrideCount > 0) {
        faults.readOverrideCount--
        return faults.readOverride
      }
      return state.record
    },
    async write(r) {
      calls.write++
      if (faults.writeRejects) throw faults.writeRejects
      state.record = r
    },
  }
  // state, calls and faults are not enumerable: the wallet itself is a valid
  // `new Portal(wallet)` options object (Portal refuses keys it does not know).
  return Object.defineProperties({ keychain, custodian }, {
    state: { value: state },
    calls: { value: calls },
    faults: { value: faults },
  })
}

/**
 * Awaits `promise` (or calls `fn` and awaits it), expects a rejection with
 * `code`, checks it is an `Error` (and a `TypeError` if `typeError` is
 * true, not one if false) and returns the error.
 */
export async function rejectsWith(promiseOrFn, code, { typeError } = {}) {
  let error
  try {
    await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn)
  } catch (e) {
    error = e
  }
  assert.ok(error !== undefined, `expected a rejection with ${code}, but it resolved`)
  assert.ok(error instanceof Error, `expected an Error instance, got ${Object.prototype.toString.call(error)}: ${error}`)
  assert.equal(error.code, code, `wrong code; message: ${error.message}`)
  if (typeError === true) assert.ok(error instanceof TypeError, `expected a TypeError, got ${error.constructor.name}: ${error.message}`)
  if (typeError === false) assert.ok(!(error instanceof TypeError), `expected no TypeError, got one: ${error.message}`)
  assert.equal(typeof error.message, 'string')
  assert.ok(error.message.length > 0, 'error message is empty')
  return error
}

/** Every test vector file as `{ name, ...fields }`, sorted by name. */
export function loadVectors() {
  return readdirSync(VECTOR_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ name: f.replace(/\.json$/, ''), ...JSON.parse(readFileSync(VECTOR_DIR + f, 'utf8')) }))
}

/** The binary envelope of a cipherText (without the `wbk1.` marker). */
export function envelopeBytes(cipherText) {
  const body = cipherText.trim()
  assert.ok(body.startsWith('wbk1.'), 'cipherText has no wbk1. marker')
  return Buffer.from(body.slice(5), 'base64url')
}

/** The Argon2id costs recorded in a password cipherText's header (FORMAT.md §3.4.1). */
export function kdfParamsOf(cipherText) {
  const b = envelopeBytes(cipherText)
  const paramsLen = b.readUInt16BE(21)
  const p = b.subarray(23, 23 + paramsLen)
  return {
    method: b[4],
    paramsLen,
    kdf: p[0],
    memoryKiB: p.readUInt32BE(1),
    iterations: p.readUInt32BE(5),
    parallelism: p.readUInt32BE(9),
    salt: Buffer.from(p.subarray(13, 29)).toString('hex'),
    backupId: Buffer.from(b.subarray(5, 21)).toString('hex'),
  }
}

/** Resolves after pending promise jobs and a macrotask turn have run. */
export const settle = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms))
