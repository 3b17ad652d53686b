// Cancellation (issue 14): `signal` (an AbortSignal) in the config of
// backupWallet / recoverWallet and Portal's methods. An abort stops at the
// next step with ABORTED (its cause the signal's reason); an already-aborted
// signal fails before any work; nothing is half-written (the keychain is
// unchanged, the previous backup stays the one recovery uses); the commit
// step (a recovery's setShares) is never interrupted; an abort after Done
// changes nothing; the keychain is free again at once. The managed backup's
// steps at the service are in tests/service-scenarios/scenarios.mjs.
//
//   node --test tests/js/abort.test.mjs

import { test as nodeTest } from 'node:test'
import assert from 'node:assert/strict'
import { Portal, backupWallet, recoverWallet } from '../../pkg/node/index.mjs'
import { memoryWallet, rejectsWith, SAMPLE_SHARES } from './helpers.mjs'
import { failOnUnhandled } from '../unhandled.mjs'

failOnUnhandled('the abort tests')

const test = (name, fn) => nodeTest(name, { timeout: 60_000 }, fn)
const pw = { passwordStorage: { password: 'PW-abort-otter-8812' } }

/** A promise the test settles by hand. */
function deferred() {
  let resolve
  const promise = new Promise((res) => {
    resolve = res
  })
  return { promise, resolve }
}

/**
 * Makes `obj[name]` wait, on its next call, until the test lets it go:
 * `reached` resolves when it is called; `go()` runs the original.
 */
function gate(obj, name) {
  const original = obj[name]
  const reached = deferred()
  const open = deferred()
  obj[name] = async function (...args) {
    obj[name] = original
    reached.resolve(args)
    await open.promise
    return original.apply(this, args)
  }
  return { reached: reached.promise, go: () => open.resolve() }
}

/** An AbortController whose signal counts the listeners added and removed. */
function countedController() {
  const controller = new AbortController()
  const { signal } = controller
  const counts = { added: 0, removed: 0 }
  const add = signal.addEventListener.bind(signal)
  const remove = signal.removeEventListener.bind(signal)
  signal.addEventListener = (...a) => {
    counts.added++
    return add(...a)
  }
  signal.removeEventListener = (...a) => {
    counts.removed++
    return remove(...a)
  }
  return { controller, signal, counts }
}

/** A wallet holding one completed password backup (custodian adapter). */
async function backedUp() {
  const wallet = memoryWallet()
  const cipherText = await backupWallet('password', null, { ...wallet, ...pw })
  return { wallet, cipherText, record: wallet.state.record }
}

/** Expects ABORTED whose cause is `reason`. */
async function aborted(run, reason) {
  const error = await rejectsWith(run, 'ABORTED', { typeError: false })
  assert.equal(error.cause, reason)
  return error
}

test('an already-aborted signal fails before any work: no keychain or custodian call', async () => {
  const { wallet, cipherText } = await backedUp()
  const before = { ...wallet.calls }
  const reason = new Error('user left the page')
  const signal = AbortSignal.abort(reason)
  await aborted(backupWallet('password', null, { ...wallet, ...pw, signal }), reason)
  await aborted(recoverWallet(cipherText, 'password', null, { ...wallet, ...pw, signal }), reason)
  await aborted(new Portal(wallet).backupWallet('password', null, { ...pw, signal }), reason)
  assert.deepEqual(wallet.calls, before)
})

test('a signal that is not an AbortSignal is INVALID_ARGUMENT (TypeError)', async () => {
  const wallet = memoryWallet()
  const noop = () => {}
  for (const signal of ['abort', 1, true, {}, { aborted: 'no', addEventListener: noop, removeEventListener: noop }, { aborted: false }]) {
    const error = await rejectsWith(backupWallet('password', null, { ...wallet, ...pw, signal }), 'INVALID_ARGUMENT', { typeError: true })
    assert.match(error.message, /signal/)
  }
  assert.equal(wallet.calls.getShares, 0)
  // null and undefined mean no signal.
  for (const signal of [null, undefined]) await backupWallet('password', null, { ...wallet, ...pw, signal })
})

test('abort during the custodian write: ABORTED, the previous backup stays, the keychain is free again', async () => {
  const { wallet, cipherText, record } = await backedUp()
  const { controller, signal, counts } = countedController()
  const write = gate(wallet.custodian, 'write')
  const events = []
  const running = backupWallet('password', (e) => events.push(e.status), { ...wallet, ...pw, signal })
  await write.reached
  const reason = new Error('cancelled')
  controller.abort(reason)
  await aborted(running, reason)
  assert.ok(!events.includes('Done'), events.join())
  assert.equal(wallet.state.record, record, 'the custodian record changed')
  // Each step's listener was removed: nothing is left on the app's signal.
  assert.ok(counts.added > 0)
  assert.equal(counts.removed, counts.added)
  // The abandoned write finishing late is what an adapter that ignores the signal does:
  // the next backup writes after it, and the earlier backup still recovers meanwhile.
  write.go()
  wallet.state.shares = null
  await recoverWallet(cipherText, 'password', null, { keychain: wallet.keychain, custodian: wallet.custodian, ...pw })
  assert.equal(wallet.state.shares, SAMPLE_SHARES)
  // The keychain is free: a new call works.
  const next = await backupWallet('password', null, { ...wallet, ...pw })
  wallet.state.shares = null
  await recoverWallet(next, 'password', null, { ...wallet, ...pw })
  assert.equal(wallet.state.shares, SAMPLE_SHARES)
})

test('abort during the custodian read of a recovery: ABORTED, the keychain untouched', async () => {
  const { wallet, cipherText } = await backedUp()
  wallet.state.shares = 'the device still holds these'
  const controller = new AbortController()
  const read = gate(wallet.custodian, 'read')
  const running = recoverWallet(cipherText, 'password', null, { ...wallet, ...pw, signal: controller.signal })
  await read.reached
  controller.abort()
  const error = await rejectsWith(running, 'ABORTED', { typeError: false })
  assert.equal(error.cause?.name, 'AbortError', 'the default reason')
  read.go()
  assert.equal(wallet.calls.setShares, 0)
  assert.equal(wallet.state.shares, 'the device still holds these')
})

test("abort during deriveKey: ABORTED; deriveKey received the call's signal", async () => {
  const wallet = memoryWallet()
  const controller = new AbortController()
  let request
  const deriveKey = (r) => {
    request = r
    return new Promise(() => {}) // honours nothing: the module abandons it
  }
  const running = backupWallet('password', null, { ...wallet, passwordStorage: { password: 'x-long-enough', deriveKey }, signal: controller.signal })
  while (!request) await new Promise((r) => setTimeout(r, 5))
  assert.equal(request.signal, controller.signal)
  controller.abort('stop')
  await aborted(running, 'stop')
  assert.equal(wallet.calls.write, 0, 'nothing was written to the custodian')
})

test("the recovery's keychain write is never interrupted: an abort during it changes nothing", async () => {
  const { wallet, cipherText } = await backedUp()
  wallet.state.shares = null
  const controller = new AbortController()
  const setShares = gate(wallet.keychain, 'setShares')
  const events = []
  const running = recoverWallet(cipherText, 'password', (e) => events.push(e.status), { ...wallet, ...pw, signal: controller.signal })
  await setShares.reached
  controller.abort()
  setShares.go()
  await running // the step's own result decides
  assert.equal(wallet.state.shares, SAMPLE_SHARES)
  assert.equal(events.at(-1), 'Done')
})

test('an abort after Done changes nothing', async () => {
  const wallet = memoryWallet()
  const { controller, signal, counts } = countedController()
  const portal = new Portal(wallet)
  const cipherText = await portal.backupWallet('password', null, { ...pw, signal })
  const record = wallet.state.record
  controller.abort()
  assert.equal(counts.removed, counts.added, 'a listener is left on the signal')
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(wallet.state.record, record)
  wallet.state.shares = null
  await portal.recoverWallet(cipherText, 'password', null, pw)
  assert.equal(wallet.state.shares, SAMPLE_SHARES)
  // The same (aborted) signal on a new call fails it before any work.
  await rejectsWith(portal.recoverWallet(cipherText, 'password', null, { ...pw, signal }), 'ABORTED', { typeError: false })
})
