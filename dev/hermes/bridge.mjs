// The Node half of the native-side bridge (the Hermes half is native.js):
// Node plays React Native's native side for a bundle running in the real
// Hermes binary (npm hermes-engine-cli 0.12), whose CLI has no fetch, no
// native timers and no native modules.
//
//   const hermes = await startHermes({ bundle: '/tmp/bundle.js', call: async (module, method, args) => value })
//   const value = await hermes.run('scenario name', ctx)   // a scenario of the bundle, ctx as JSON
//   hermes.fetchLog                                        // [{ url, method, status | error }] of bridged fetches
//   await hermes.close()
//
// How: `hermes` without a file is a REPL that reads JS from stdin one line at
// a time and, after each line, drains microtasks (and runs every pending
// timer at once, whatever its delay, which is why native.js routes timers
// here). The bundle is sent as one line, `void eval("<the bundle as a JSON
// string>")` (a few MB on one line is fine); it must end by sending
// `{ kind: 'ready' }`. Hermes asks for work by printing `@@bridge@@ <json>`
// lines (the protocol is in native.js); Node does it (a real HTTP request
// with Node's fetch; `call` for a native module method; a real timer) and
// writes the answer back as one line, `__bridgeReply(id, <json>)` or
// `__bridgeTimer(id)`. `run` writes `__runScenario(runId, name, ctx)` and
// resolves with the scenario's `{ kind: 'result' }` value, or rejects with
// its error (message, stack and code from Hermes). Everything else Hermes
// prints (the values the REPL echoes after each line, stray output) is kept
// in `output` for failure messages. Hermes runs with -optimized-eval (an app's
// bundle is compiled with hermesc -O) and no prompts.

import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const HERMES = join(ROOT, 'node_modules', 'hermes-engine-cli', 'linux64-bin', 'hermes')

const MARK = '@@bridge@@ '

/** A JSON text as a JS expression on one line (U+2028/2029 escaped for any parser). */
const literal = (value) => JSON.stringify(value).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')

/**
 * Starts Hermes as a REPL, loads `bundle` (a file path), and resolves once
 * the bundle says it is ready. `call(module, method, args)` answers the
 * bundle's native module calls (async; what it throws goes back as the
 * rejection: name, message, code). `loadTimeoutMs` bounds the load.
 */
export async function startHermes({ bundle, call = async (m, f) => { throw new Error(`no native module ${m}.${f}`) }, hermes = HERMES, loadTimeoutMs = 120_000 }) {
  // -optimized-eval: the bundle is compiled as optimised as an app's (hermesc -O); the REPL's
  // eval otherwise compiles without optimisations. No prompts: only output lines reach stdout.
  const child = spawn(hermes, ['-optimized-eval', '-prompt=', '-prompt2='], { stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  const keep = (text) => { output = (output + text).slice(-200_000) }
  const inflight = new Map() // fetch id -> AbortController
  const timers = new Map()
  const runs = new Map()
  const fetchLog = []
  const uncaught = []
  let ready
  const readyPromise = new Promise((resolve, reject) => { ready = { resolve, reject } })
  let exited = null
  let runSeq = 0

  const write = (line) => {
    if (exited || !child.stdin.writable) return
    child.stdin.write(line + '\n')
  }
  const reply = (id, answer) => write(`__bridgeReply(${id}, ${literal(answer)})`)
  const errorOf = (e) => ({ name: e?.name ?? 'Error', message: String(e?.message ?? e), ...(e?.code !== undefined ? { code: e.code } : {}) })

  async function doFetch(m) {
    const controller = new AbortController()
    inflight.set(m.id, controller)
    const entry = { url: m.url, method: m.method }
    fetchLog.push(entry)
    try {
      const res = await fetch(m.url, {
        method: m.method,
        headers: m.headers,
        body: m.body ?? undefined,
        redirect: m.redirect,
        signal: controller.signal,
      })
      const body = await res.text()
      entry.status = res.status
      if (inflight.has(m.id)) {
        reply(m.id, { value: { status: res.status, statusText: res.statusText, url: res.url, headers: [...res.headers], body } })
      }
    } catch (e) {
      entry.error = e.name === 'AbortError' ? 'aborted' : String(e.cause?.code ?? e.message)
      // React Native's fetch rejects a failed request with this TypeError.
      if (inflight.has(m.id)) reply(m.id, { error: { name: 'TypeError', message: 'Network request failed' } })
    } finally {
      inflight.delete(m.id)
    }
  }

  async function doCall(m) {
    try {
      const value = await call(m.module, m.method, m.args)
      reply(m.id, { value: value === undefined ? null : value })
    } catch (e) {
      reply(m.id, { error: errorOf(e) })
    }
  }

  function handle(m) {
    switch (m.kind) {
      case 'ready':
        return ready.resolve()
      case 'fetch':
        return void doFetch(m)
      case 'abort': {
        const c = inflight.get(m.id)
        inflight.delete(m.id)
        return c?.abort()
      }
      case 'call':
        return void doCall(m)
      case 'setTimeout':
        return void timers.set(m.id, setTimeout(() => {
          timers.delete(m.id)
          write(`__bridgeTimer(${m.id})`)
        }, m.ms))
      case 'clearTimeout':
        clearTimeout(timers.get(m.id))
        return void timers.delete(m.id)
      case 'result': {
        const r = runs.get(m.runId)
        if (!r) return
        runs.delete(m.runId)
        clearTimeout(r.timer)
        if (m.error) {
          const e = new Error(`${r.name} failed in Hermes: ${m.error.message}\n${m.error.stack ?? ''}`)
          if (m.error.code !== undefined) e.code = m.error.code
          return r.reject(e)
        }
        return r.resolve(m.value)
      }
      case 'uncaught':
        uncaught.push(m.error)
        return keep(`[uncaught in Hermes] ${m.error}\n`)
      default:
        return keep(`[unknown bridge message] ${JSON.stringify(m)}\n`)
    }
  }

  let buffer = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk) => {
    buffer += chunk
    let i
    while ((i = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, i)
      buffer = buffer.slice(i + 1)
      const at = line.indexOf(MARK)
      if (at < 0) {
        keep(line + '\n')
        continue
      }
      let message
      try {
        message = JSON.parse(line.slice(at + MARK.length))
      } catch (e) {
        keep(`[unparsable bridge line] ${line.slice(0, 500)}\n`)
        continue
      }
      handle(message)
    }
  })
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d) => keep(`[stderr] ${d}`))
  const gone = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal }
      const e = new Error(`hermes exited (${code ?? signal})\n${output.slice(-4000)}`)
      ready.reject(e)
      for (const r of runs.values()) {
        clearTimeout(r.timer)
        r.reject(e)
      }
      runs.clear()
      for (const t of timers.values()) clearTimeout(t)
      timers.clear()
      for (const c of inflight.values()) c.abort()
      inflight.clear()
      resolve()
    })
  })
  child.on('error', (e) => ready.reject(e))

  const started = Date.now()
  write(`void eval(${literal(readFileSync(bundle, 'utf8'))})`)
  let loadTimer
  await Promise.race([
    readyPromise,
    new Promise((_, reject) => { loadTimer = setTimeout(() => reject(new Error(`the bundle did not load in Hermes within ${loadTimeoutMs} ms\n${output.slice(-4000)}`)), loadTimeoutMs) }),
  ]).finally(() => clearTimeout(loadTimer))
  const loadMs = Date.now() - started

  return {
    loadMs,
    fetchLog,
    uncaught,
    get output() {
      return output
    },
    /** Runs the bundle's scenario `name` with `ctx` (JSON); resolves with what it returns. */
    run(name, ctx = {}, { timeoutMs = 120_000 } = {}) {
      const runId = ++runSeq
      return new Promise((resolve, reject) => {
        if (exited) return reject(new Error(`hermes has exited (${exited.code ?? exited.signal})`))
        const timer = setTimeout(() => {
          runs.delete(runId)
          reject(new Error(`${name}: no result from Hermes within ${timeoutMs} ms\n${output.slice(-4000)}`))
        }, timeoutMs)
        runs.set(runId, { name, resolve, reject, timer })
        write(`__runScenario(${runId}, ${literal(name)}, ${literal(ctx)})`)
      })
    },
    /** Ends the REPL (stdin closed), killing it after 5 s; resolves once it has exited. */
    async close() {
      if (!exited) {
        child.stdin.end()
        const kill = setTimeout(() => child.kill('SIGKILL'), 5000)
        await gone
        clearTimeout(kill)
      }
    },
  }
}
