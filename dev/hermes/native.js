// The Hermes half of the native-side bridge (the Node half is bridge.mjs):
// what React Native's native side gives an app on a device, installed in
// the Hermes CLI, which has none of it. Bundled into scenarios.js.
//
// Hermes runs as a REPL (bridge.mjs writes one JS line at a time to its
// stdin; after each line the REPL drains microtasks). Hermes asks Node for
// work by printing one line `@@bridge@@ <json>`; Node answers by writing a
// line that calls one of the globals below:
//
//   Hermes prints                                               Node answers
//   {id, kind:'fetch', url, method, headers, body, redirect}    __bridgeReply(id, {value:{status, statusText, url, headers:[[k,v]], body}})
//                                                               or __bridgeReply(id, {error:{name, message}})
//   {id, kind:'abort'}                                          (Node aborts the request; nothing back)
//   {id, kind:'call', module, method, args}                     __bridgeReply(id, {value} | {error:{name, message, code}})
//   {id, kind:'setTimeout', ms} / {id, kind:'clearTimeout'}     __bridgeTimer(id) when the time has come
//   {kind:'result', runId, value | error}                       (a scenario's end; see scenarios.js)
//
// Installed globals:
// - fetch(url, init): React Native's fetch, performed by Node's fetch on
//   loopback. Request bodies are strings (all the module sends), headers a
//   plain object, an array of pairs or anything with forEach. The Response
//   has ok, status, statusText, url, headers.get/has/forEach, text(), json()
//   and arrayBuffer() (the text's UTF-8 bytes: bodies travel as text, which
//   is all the module reads: src/service.rs reads `status` and `text()`).
//   A network failure rejects with TypeError('Network request failed'), as
//   React Native's does; an aborted one with an AbortError.
// - AbortController (React Native has one; the module aborts a request whose
//   deadline passed): signal.aborted, signal.addEventListener('abort'), abort().
// - setTimeout / clearTimeout: the REPL runs every timer at the end of the
//   line that set it, whatever its delay, which would fire each request's
//   deadline at once. React Native's timers are native; here Node keeps them.
// - crypto.getRandomValues (react-native-get-random-values): installRandom(seed),
//   a SHA-256 counter-mode generator seeded from Node's CSPRNG. It must answer
//   synchronously, so it cannot cross the bridge.
// `nativeCall(module, method, args)` is a native module's async method
// (react-native-passkeys, Google Sign-In, Firebase Auth, a key-value store):
// Node's handler for (module, method) answers it.
import { sha256 } from '@noble/hashes/sha2.js'

/* global print */
const MARK = '@@bridge@@ '
let nextId = 1
const pending = {}
const timers = {}

export function send(message) {
  print(MARK + JSON.stringify(message))
}

/** A failure the bridge cannot hand to anyone (a timer callback that threw, say): Node logs it. */
function uncaught(e) {
  send({ kind: 'uncaught', error: String(e && e.stack ? e.stack : e) })
}

function toError(e) {
  const error = e.name === 'TypeError' ? new TypeError(e.message) : new Error(e.message)
  if (e.name && e.name !== 'TypeError') error.name = e.name
  if (e.code !== undefined) error.code = e.code
  return error
}

function request(message, map) {
  const id = nextId++
  message.id = id
  return {
    id,
    promise: new Promise(function (resolve, reject) {
      pending[id] = { resolve, reject, map }
      send(message)
    }),
  }
}

globalThis.__bridgeReply = function (id, reply) {
  const p = pending[id]
  if (!p) return
  delete pending[id]
  try {
    if (reply.error) p.reject(toError(reply.error))
    else p.resolve(p.map ? p.map(reply.value) : reply.value)
  } catch (e) {
    p.reject(e)
  }
}

globalThis.__bridgeTimer = function (id) {
  const fn = timers[id]
  if (!fn) return
  delete timers[id]
  try {
    fn()
  } catch (e) {
    uncaught(e)
  }
}

/** A native module's async method, answered by Node's handler for (module, method). */
export function nativeCall(module, method, args) {
  return request({ kind: 'call', module, method, args: args || [] }).promise
}

/** How many requests are still waiting for Node (0 between scenarios). */
export function pendingCount() {
  return Object.keys(pending).length
}

// ---- timers ------------------------------------------------------------------------------------

globalThis.setTimeout = function (fn, ms) {
  const id = nextId++
  const args = Array.prototype.slice.call(arguments, 2)
  timers[id] = function () { fn.apply(undefined, args) }
  send({ id, kind: 'setTimeout', ms: Math.max(0, Number(ms) || 0) })
  return id
}

globalThis.clearTimeout = function (id) {
  if (!timers[id]) return
  delete timers[id]
  send({ id, kind: 'clearTimeout' })
}

// ---- AbortController -----------------------------------------------------------------------------

function AbortSignal() {
  this.aborted = false
  this.reason = undefined
  this.onabort = null
  this._listeners = []
}
AbortSignal.prototype.addEventListener = function (type, fn) {
  if (type === 'abort') this._listeners.push(fn)
}
AbortSignal.prototype.removeEventListener = function (type, fn) {
  this._listeners = this._listeners.filter(function (f) { return f !== fn })
}

function AbortController() {
  this.signal = new AbortSignal()
}
AbortController.prototype.abort = function (reason) {
  const signal = this.signal
  if (signal.aborted) return
  signal.aborted = true
  signal.reason = reason
  const event = { type: 'abort', target: signal }
  if (typeof signal.onabort === 'function') signal.onabort(event)
  signal._listeners.slice().forEach(function (fn) { fn(event) })
}
globalThis.AbortController = AbortController

// ---- fetch -------------------------------------------------------------------------------------------

function headerPairs(headers) {
  const out = []
  if (!headers) return out
  if (Array.isArray(headers)) {
    headers.forEach(function (h) { out.push([String(h[0]), String(h[1])]) })
  } else if (typeof headers.forEach === 'function') {
    headers.forEach(function (v, k) { out.push([String(k), String(v)]) })
  } else {
    Object.keys(headers).forEach(function (k) { out.push([k, String(headers[k])]) })
  }
  return out
}

function utf8Bytes(s) {
  const binary = unescape(encodeURIComponent(s))
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}

function Response(answer) {
  const pairs = answer.headers.map(function (h) { return [h[0].toLowerCase(), h[1]] })
  const body = answer.body
  this.status = answer.status
  this.statusText = answer.statusText
  this.ok = answer.status >= 200 && answer.status < 300
  this.url = answer.url
  this.bodyUsed = false
  this.headers = {
    get(name) {
      const n = String(name).toLowerCase()
      const values = pairs.filter(function (h) { return h[0] === n }).map(function (h) { return h[1] })
      return values.length ? values.join(', ') : null
    },
    has(name) { return this.get(name) !== null },
    forEach(fn) { pairs.forEach(function (h) { fn(h[1], h[0]) }) },
  }
  const self = this
  const consume = function () {
    if (self.bodyUsed) return Promise.reject(new TypeError('Already read'))
    self.bodyUsed = true
    return Promise.resolve(body)
  }
  this.text = consume
  this.json = function () { return consume().then(JSON.parse) }
  this.arrayBuffer = function () { return consume().then(function (t) { return utf8Bytes(t).buffer }) }
}

function abortError() {
  const e = new Error('Aborted')
  e.name = 'AbortError'
  return e
}

globalThis.fetch = function (input, init) {
  init = init || {}
  const url = typeof input === 'string' ? input : input && input.url
  const signal = init.signal
  if (signal && signal.aborted) return Promise.reject(abortError())
  if (init.body !== undefined && init.body !== null && typeof init.body !== 'string') {
    return Promise.reject(new TypeError('this bridge sends string bodies only'))
  }
  const r = request({
    kind: 'fetch',
    url: String(url),
    method: (init.method || 'GET').toUpperCase(),
    headers: headerPairs(init.headers),
    body: init.body === undefined ? null : init.body,
    redirect: init.redirect || 'follow',
  }, function (answer) { return new Response(answer) })
  if (!signal) return r.promise
  return new Promise(function (resolve, reject) {
    const onAbort = function () {
      if (!pending[r.id]) return
      delete pending[r.id]
      send({ id: r.id, kind: 'abort' })
      reject(abortError())
    }
    signal.addEventListener('abort', onAbort)
    r.promise.then(resolve, reject).then(function () { signal.removeEventListener('abort', onAbort) })
  })
}

// ---- crypto.getRandomValues ------------------------------------------------------------------------

function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16)
  return out
}

/** crypto.getRandomValues: SHA-256(seed ‖ counter) blocks, seeded with 32 bytes from Node's CSPRNG. */
export function installRandom(seedHex) {
  const seed = hexToBytes(seedHex)
  let counter = 0
  globalThis.crypto = {
    getRandomValues(array) {
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength)
      for (let i = 0; i < bytes.length; i += 32) {
        const block = new Uint8Array(seed.length + 4)
        block.set(seed)
        block[seed.length] = counter >>> 24
        block[seed.length + 1] = (counter >>> 16) & 255
        block[seed.length + 2] = (counter >>> 8) & 255
        block[seed.length + 3] = counter & 255
        counter++
        const out = sha256(block)
        for (let j = 0; j < 32 && i + j < bytes.length; j++) bytes[i + j] = out[j]
      }
      return array
    },
  }
}
