// Test harness of the service suites (not a test file itself): the real
// backup service binary on loopback, and a fault-injecting reverse proxy in
// front of it that the module talks to.
//
//   const h = await startHarness({ postgres: process.env.WALLET_BACKUP_TEST_POSTGRES })
//   h.origin                      // http://127.0.0.1:PORT, the proxy
//   h.origin + '/svc/main'        // apiHost of the service `main` (`limited`: --rate-limit 1 --rate-burst 1)
//   await h.close()
//
// The service (the debug build, started by dev/service.mjs's ServiceProcess)
// runs as a child process on a free port, with a temporary data directory
// (SQLite file and KMS key file) or, with `postgres`, a database created for
// this run on that server (dropped by close()). `kill(name)` SIGKILLs it;
// `restart(name)` starts it again on the same port and data.
//
// The proxy (node:http) serves, at one origin:
//   /svc/<name>/api/...   the API of service <name>, relayed with the faults set
//   /pkg/...              the built package (pkg/)
//   /tests/...            the scenario modules and what they import (tests/)
//   /                     a test page importing the package and the scenarios (for Chromium, same-origin)
//   /__test/...           the control routes below (JSON), used by the scenarios
//                         from Node and from the page alike
//
// Faults, per route name (see routeOf):
//   status         answer `status` (default 503) with { error: { code, message } }
//                  (code default INTERNAL_ERROR), or with `body` as given; not forwarded
//   drop           close the connection without an answer
//   stall          never answer
//   stall-body     answer 200 with the headers and part of the body, then nothing more
//   hold           keep the request until released: `forward` sends it on,
//                  `drop` closes the connection, `fail` answers 503
//   hold-response  forward it, keep the service's answer until released:
//                  `forward` relays it, `drop` closes the connection, `fail` answers 503
// A fault applies to `times` matching requests (default 1; -1: all of them
// until reset). kill() lets held requests go on (to the dead port: refused,
// so their connections close) and drops held answers, and returns once that
// is done. reset() ends held and stalled requests with a 503 rather than a
// closed connection: a browser resends a request whose reused connection
// closes before any answer, and such a resent request must not reach the
// service after the scenario.
//
// Control routes:
//   GET  /__test/env                          { services: { name: pathPrefix }, deadHost, backend }
//   POST /__test/client  { service, managedBackups }    -> { key, name }
//   POST /__test/fault   { route, action, service?, client?, times?, status?, code?, body? } -> { id }
//   POST /__test/reset                        clears faults, ends held and stalled requests, empties the log,
//                                             starts a service left killed
//   POST /__test/held    { route, service?, count?, timeoutMs? } -> { held: [...] } once `count` are held
//   POST /__test/release { route?, service?, how } -> { released }
//   POST /__test/kill    { service }          SIGKILL, then settles held requests
//   POST /__test/restart { service }          starts it again on the same port and data
//   GET  /__test/log                          [{ seq, service, client, method, route, status?, outcome }]

import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { extname, join, resolve, sep } from 'node:path'
import { randomBytes } from 'node:crypto'
import assert from 'node:assert/strict'
import { after, before } from 'node:test'
import { launchChromium } from '../../dev/chromium.mjs'
import { ROOT, ServiceProcess, serviceBinary, serviceEnv } from '../../dev/service.mjs'

export { ROOT }

/** The services every harness runs: a normal one, and one whose keys get 1 request/s. */
export const SERVICES = {
  main: { rateLimit: 20, rateBurst: 40 },
  limited: { rateLimit: 1, rateBurst: 1 },
}

/** Runs a command to its end: resolves to stdout, rejects with stderr's tail. */
function runCommand(cmd, args) {
  return new Promise((res, rej) => {
    execFile(cmd, args, { env: serviceEnv(), maxBuffer: 1 << 20, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) rej(new Error(`${cmd} ${args.join(' ')} failed: ${error.message}\n${String(stderr).slice(-4000)}`))
      else res(String(stdout))
    })
  })
}

/** A database name that is safe to splice into SQL. */
const databaseName = () => `wbk_svc_${process.pid}_${randomBytes(6).toString('hex')}`

/** `server` with another database in its path. */
function withDatabase(server, name) {
  const url = new URL(server)
  url.pathname = `/${name}`
  return url.toString()
}

/** Runs `sql` with psql in the database of `url`; resolves to its rows, one a line, fields separated by `|`. */
export async function psql(url, sql) {
  return runCommand('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql])
}

/** A new, empty database on the PostgreSQL `server` (a URL without database name): { name, url }. */
export async function createDatabase(server) {
  const name = databaseName()
  await psql(withDatabase(server, 'postgres'), `CREATE DATABASE ${name}`)
  return { name, url: withDatabase(server, name) }
}

/** Drops the database `name` of `server`, closing its connections; never fails. */
export async function dropDatabase(server, name) {
  await psql(withDatabase(server, 'postgres'), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {})
}

/** A port nothing listens on (bound, then closed): connections to it are refused. */
async function closedPort() {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  await new Promise((r) => server.close(r))
  return port
}

const CONTENT_TYPES = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.html': 'text/html; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
}

const TEST_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>wallet-backup service scenarios</title><link rel="icon" href="data:,"></head>
<body>
<script type="module">
  import * as walletBackup from '/pkg/web/index.js'
  import { scenarios, makeContext } from '/tests/service-scenarios/scenarios.mjs'
  window.scenarioNames = Object.keys(scenarios)
  // Runs one scenario with a fresh context; resolves to its duration, throws what it threw.
  // (The runner resets the harness afterwards, once it has read the proxy's log.)
  window.runScenario = async (name) => {
    const ctx = await makeContext({ Portal: walletBackup.Portal, origin: location.origin })
    const start = performance.now()
    await ctx.reset()
    await scenarios[name](ctx)
    return performance.now() - start
  }
  document.body.dataset.ready = 'true'
</script>
</body>
</html>
`

/**
 * The file a test page's GET `path` names: under /pkg/ the built package,
 * under /tests/ the scenario modules and the checks they import; null for
 * anything else, and for a path that leaves its folder.
 */
export function pageFile(path) {
  for (const dir of ['pkg', 'tests']) {
    if (!path.startsWith(`/${dir}/`)) continue
    const root = join(ROOT, dir)
    const file = resolve(root, `.${decodeURIComponent(path.slice(dir.length + 1))}`)
    return file.startsWith(root + sep) ? file : null
  }
  return null
}

/** The route name of an API request, for faults and the log. */
export function routeOf(method, path) {
  const p = path.split('?')[0]
  const table = [
    ['GET', /^\/api\/v3\/clients\/me$/, 'me'],
    ['GET', /^\/api\/v3\/clients\/me\/wallet$/, 'wallet'],
    ['POST', /^\/api\/v3\/clients\/me\/backup-share-pairs$/, 'pairs'],
    ['PUT', /^\/api\/v3\/clients\/me\/backup-share-pairs\/[^/]+\/cipher-text$/, 'cipher-text'],
    ['POST', /^\/api\/v3\/clients\/me\/backup-share-pairs\/[^/]+\/confirm$/, 'confirm'],
    ['GET', /^\/api\/v3\/clients\/me\/custodian-shares\/[^/]+$/, 'custodian-share'],
    ['GET', /^\/api\/v3\/clients\/me\/backups\/[^/]+$/, 'backups'],
    ['PUT', /^\/api\/v2\/clients\/me\/wallet\/stored-client-backup-share$/, 'stored'],
    ['GET', /^\/api\/v3\/clients\/me\/pin-guards\/[^/]+$/, 'guard'],
    ['POST', /^\/api\/v3\/clients\/me\/pin-guards\/[^/]+\/evaluate$/, 'evaluate'],
    ['POST', /^\/api\/v3\/clients\/me\/pin-guards\/[^/]+\/unlock$/, 'unlock'],
  ]
  for (const [m, re, name] of table) if (m === method && re.test(p)) return name
  return 'other'
}

const FAULT_ACTIONS = new Set(['status', 'drop', 'stall', 'stall-body', 'hold', 'hold-response'])

function readBody(req) {
  return new Promise((res, rej) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => res(Buffer.concat(chunks)))
    req.on('error', rej)
  })
}

function sendJson(res, status, value) {
  if (res.destroyed || res.headersSent) return
  const body = JSON.stringify(value)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
  res.end(body)
}

/** Closes a client connection without an answer. */
function dropConnection(req, res) {
  res.destroy()
  req.socket.destroy()
}

/** Sends one request to the service; resolves to { status, headers, body }, rejects when the connection fails. */
function forward(service, req, path, body) {
  return new Promise((res, rej) => {
    const headers = { ...req.headers, host: `127.0.0.1:${service.port}`, connection: 'close' }
    delete headers['keep-alive']
    delete headers['transfer-encoding']
    headers['content-length'] = String(body.length)
    const up = http.request({ host: '127.0.0.1', port: service.port, method: req.method, path, headers, agent: false }, (answer) => {
      const chunks = []
      answer.on('data', (c) => chunks.push(c))
      answer.on('end', () => res({ status: answer.statusCode, headers: answer.headers, body: Buffer.concat(chunks) }))
      answer.on('error', rej)
      answer.on('aborted', () => rej(Object.assign(new Error('answer aborted'), { code: 'ECONNRESET' })))
    })
    up.on('error', rej)
    up.end(body)
  })
}

/**
 * Starts the services (`SERVICES`) and the proxy. `postgres`: a PostgreSQL
 * server URL (no database); each service gets a new database there.
 */
export async function startHarness({ postgres = null, services = SERVICES } = {}) {
  const bin = serviceBinary()
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing: run \`npm run build:service\` first (or set WALLET_BACKUP_SERVICE_BIN)`)
  }
  if (!existsSync(join(ROOT, 'pkg', 'web', 'index.js'))) throw new Error('pkg/ is missing: run `node scripts/build.mjs` first')

  const tmp = await mkdtemp(join(tmpdir(), 'wallet-backup-service-test-'))
  const databases = []
  /** @type {Record<string, ServiceProcess>} */
  const procs = {}
  const keys = new Map() // API key -> client name
  let faults = []
  let held = []
  const stalled = new Set()
  let log = []
  let seq = 0
  let clientSeq = 0
  const inFlight = new Set()
  const waiters = new Set()

  const cleanup = async () => {
    await Promise.all(Object.values(procs).map((p) => p.kill()))
    for (const name of databases) {
      await dropDatabase(postgres, name)
    }
    await rm(tmp, { recursive: true, force: true })
  }

  try {
    for (const [name, settings] of Object.entries(services)) {
      let databaseUrl = null
      if (postgres) {
        const db = await createDatabase(postgres)
        databases.push(db.name)
        databaseUrl = db.url
      }
      procs[name] = new ServiceProcess(name, { bin, dataDir: join(tmp, name), databaseUrl, ...settings })
    }
    await Promise.all(Object.values(procs).map((p) => p.start()))
  } catch (e) {
    await cleanup()
    throw e
  }
  const deadHost = `http://127.0.0.1:${await closedPort()}`

  function service(name = 'main') {
    const p = procs[name]
    if (!p) throw new Error(`no service ${name}`)
    return p
  }

  async function createClient({ service: name = 'main', managedBackups = true } = {}) {
    const clientName = `c${++clientSeq}${managedBackups ? '' : '-self'}`
    const key = await service(name).createClient(clientName, { managedBackups })
    keys.set(key, clientName)
    return { key, name: clientName }
  }

  function setFault(spec) {
    const { route, action, service: svc = null, client = null, times = 1, status = 503, code = 'INTERNAL_ERROR', body = null } = spec
    if (!FAULT_ACTIONS.has(action)) throw new Error(`unknown fault action ${action}`)
    if (typeof route !== 'string') throw new Error('fault needs a route')
    const fault = { id: ++seq, route, action, service: svc, client, times, status, code, body, message: spec.message ?? 'injected by the test proxy' }
    faults.push(fault)
    return fault.id
  }

  function takeFault(svc, route, client) {
    const fault = faults.find((f) => f.route === route && (!f.service || f.service === svc) && (!f.client || f.client === client))
    if (!fault) return null
    if (fault.times > 0 && --fault.times === 0) faults = faults.filter((f) => f !== fault)
    return fault
  }

  const matches = (item, { route, service: svc }) => (!route || item.route === route) && (!svc || item.service === svc)

  function notifyWaiters() {
    for (const w of waiters) w()
  }

  /** Keeps `entry` until released; resolves to 'forward', 'drop' or 'fail'. */
  function hold(entry, kind) {
    return new Promise((res) => {
      const item = { ...entry, kind, entry, release: (how) => { held = held.filter((h) => h !== item); res(how) } }
      held.push(item)
      entry.outcome = kind === 'request' ? 'held' : 'answer held'
      notifyWaiters()
    })
  }

  function waitHeld({ route, service: svc, count = 1, timeoutMs = 30_000 }) {
    return new Promise((res, rej) => {
      const check = () => {
        const found = held.filter((h) => matches(h, { route, service: svc }))
        if (found.length >= count) {
          done()
          res(found.map(({ seq: s, service: sv, client, method, route: r, kind }) => ({ seq: s, service: sv, client, method, route: r, kind })))
        }
      }
      const timer = setTimeout(() => {
        done()
        rej(new Error(`no ${count} held request(s) on ${route} within ${timeoutMs} ms; log: ${JSON.stringify(log.slice(-10))}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        waiters.delete(check)
      }
      waiters.add(check)
      check()
    })
  }

  /** Releases the matching held items; resolves once their requests have finished. */
  async function release({ route, service: svc, how = 'forward' } = {}) {
    const items = held.filter((h) => matches(h, { route, service: svc }))
    for (const item of items) item.release(how)
    await settleInFlight()
    return items.length
  }

  /** Waits until every API request the proxy is working on has finished (held and stalled ones aside). */
  async function settleInFlight() {
    for (let i = 0; i < 200; i++) {
      const busy = [...inFlight].filter((t) => !t.parked)
      if (busy.length === 0) return
      await Promise.all(busy.map((t) => t.done))
    }
  }

  async function kill(name = 'main') {
    const p = service(name)
    await p.kill()
    // Held requests go on to the dead port (refused, so their connections close);
    // held answers die with the process.
    for (const item of held.filter((h) => h.service === name)) item.release(item.kind === 'request' ? 'forward' : 'drop')
    await settleInFlight()
  }

  async function restart(name = 'main') {
    await service(name).start()
  }

  /** Clears faults, ends held and stalled requests, empties the log, and starts a service a scenario left killed. */
  async function reset() {
    faults = []
    for (const item of [...held]) item.release('fail')
    // A stalled request still open (its client never gave up on it) gets a 503
    // rather than a closed connection: a browser resends a request whose reused
    // connection closes before any answer, and that resent request must not
    // reach the service after the scenario. A stalled body can only be cut.
    for (const res of stalled) {
      if (res.headersSent) dropConnection(res.req, res)
      else sendJson(res, 503, { error: { code: 'INTERNAL_ERROR', message: 'stall ended by the test' } })
    }
    stalled.clear()
    log = []
    for (const p of Object.values(procs)) if (!p.running) await p.start()
  }

  async function handleApi(req, res, svcName, path) {
    const svc = procs[svcName]
    if (!svc) return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no service ${svcName}` } })
    const task = { parked: false }
    task.done = new Promise((r) => { task.finish = r })
    inFlight.add(task)
    try {
      const body = await readBody(req)
      const route = routeOf(req.method, path)
      const auth = req.headers.authorization ?? ''
      const client = keys.get(auth.replace(/^Bearer /, '')) ?? (auth ? 'unknown-key' : 'no-key')
      const entry = { seq: ++seq, service: svcName, client, method: req.method, route, outcome: 'pending', clientClosed: false }
      log.push(entry)
      // Whether the client gave up on the request (closed its connection before the end of the answer).
      res.once('close', () => { if (!res.writableFinished) entry.clientClosed = true })
      const fault = takeFault(svcName, route, client)
      if (fault) entry.fault = fault.action
      switch (fault?.action) {
        case 'status':
          entry.status = fault.status
          entry.outcome = 'injected'
          if (fault.body !== null) {
            res.writeHead(fault.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(fault.body) })
            return res.end(fault.body)
          }
          return sendJson(res, fault.status, { error: { code: fault.code, message: fault.message } })
        case 'drop':
          entry.outcome = 'dropped'
          return dropConnection(req, res)
        case 'stall':
          entry.outcome = 'stalled'
          stalled.add(res)
          res.once('close', () => stalled.delete(res))
          return
        case 'stall-body':
          // The status line, the headers and a part of the body; the rest never comes.
          entry.status = 200
          entry.outcome = 'body stalled'
          stalled.add(res)
          res.once('close', () => stalled.delete(res))
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '200' })
          res.write('{"isBackedUp":')
          return
        case 'hold': {
          task.parked = true
          const how = await hold(entry, 'request')
          task.parked = false
          if (how === 'drop') {
            entry.outcome = 'dropped while held'
            return dropConnection(req, res)
          }
          if (how === 'fail') {
            entry.outcome = 'held, then answered 503 by the test'
            return sendJson(res, 503, { error: { code: 'INTERNAL_ERROR', message: 'hold ended by the test' } })
          }
          break
        }
      }
      let answer
      try {
        answer = await forward(svc, req, path, body)
      } catch (e) {
        // The service is gone: the client sees its connection close, as it would without the proxy.
        entry.outcome = `service unreachable (${e.code ?? e.message}), connection closed`
        return dropConnection(req, res)
      }
      entry.status = answer.status
      entry.outcome = 'answered'
      if (fault?.action === 'hold-response') {
        task.parked = true
        const how = await hold(entry, 'response')
        task.parked = false
        if (how === 'drop') {
          entry.outcome = `answered ${answer.status} by the service, then dropped before relaying`
          return dropConnection(req, res)
        }
        if (how === 'fail') {
          entry.outcome = `answered ${answer.status} by the service, then replaced by 503 by the test`
          return sendJson(res, 503, { error: { code: 'INTERNAL_ERROR', message: 'hold ended by the test' } })
        }
      }
      if (res.destroyed || req.socket.destroyed) {
        entry.outcome += ' (client gone)'
        return
      }
      const headers = { ...answer.headers }
      delete headers.connection
      delete headers['keep-alive']
      delete headers['transfer-encoding']
      headers['content-length'] = String(answer.body.length)
      res.writeHead(answer.status, headers)
      res.end(answer.body)
    } finally {
      inFlight.delete(task)
      task.finish()
    }
  }

  async function handleControl(req, res, what) {
    const body = req.method === 'POST' ? JSON.parse((await readBody(req)).toString('utf8') || '{}') : {}
    switch (`${req.method} ${what}`) {
      case 'GET env':
        return sendJson(res, 200, {
          services: Object.fromEntries(Object.keys(procs).map((n) => [n, `/svc/${n}`])),
          deadHost,
          backend: postgres ? 'postgres' : 'sqlite',
        })
      case 'POST client':
        return sendJson(res, 200, await createClient(body))
      case 'POST fault':
        return sendJson(res, 200, { id: setFault(body) })
      case 'POST reset':
        await reset()
        return sendJson(res, 200, {})
      case 'POST held':
        return sendJson(res, 200, { held: await waitHeld(body) })
      case 'POST release':
        return sendJson(res, 200, { released: await release(body) })
      case 'POST kill':
        await kill(body.service)
        return sendJson(res, 200, {})
      case 'POST restart':
        await restart(body.service)
        return sendJson(res, 200, {})
      case 'GET log':
        return sendJson(res, 200, log)
      default:
        return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no control route ${req.method} ${what}` } })
    }
  }

  async function handleStatic(req, res, path) {
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'content-type': CONTENT_TYPES['.html'], 'cache-control': 'no-store' })
      return res.end(TEST_PAGE)
    }
    const file = pageFile(path)
    let data
    try {
      if (file) data = await readFile(file)
    } catch {
      data = null
    }
    if (!data) return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: 'not found' } })
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': data.length,
      'cache-control': 'no-store',
    })
    res.end(data)
  }

  const server = http.createServer((req, res) => {
    const path = req.url ?? '/'
    const fail = (e) => sendJson(res, 500, { error: { code: 'HARNESS_ERROR', message: String(e?.stack ?? e) } })
    let m
    if ((m = /^\/__test\/([a-z]+)$/.exec(path.split('?')[0]))) handleControl(req, res, m[1]).catch(fail)
    else if ((m = /^\/svc\/([a-z]+)(\/.*)$/.exec(path))) handleApi(req, res, m[1], m[2]).catch(fail)
    else if (req.method === 'GET') handleStatic(req, res, path.split('?')[0]).catch(fail)
    else sendJson(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'method not allowed' } })
  })
  server.keepAliveTimeout = 30_000
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const origin = `http://127.0.0.1:${server.address().port}`

  return {
    origin,
    deadHost,
    backend: postgres ? 'postgres' : 'sqlite',
    service,
    createClient,
    fault: setFault,
    waitHeld,
    release,
    kill,
    restart,
    reset,
    get log() {
      return log
    },
    /** The services' stderr (request log), for failure messages. */
    serviceLogs() {
      return Object.values(procs).map((p) => `--- ${p.name} ---\n${p.log.slice(-3000)}`).join('\n')
    },
    async close() {
      faults = []
      for (const item of [...held]) item.release('fail')
      for (const res of stalled) dropConnection(res.req, res)
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
      await cleanup()
    },
  }
}

/**
 * Headless Chromium on the harness's test page (ready to run scenarios),
 * collecting the page's uncaught errors and console lines. `harness` needs
 * only `origin`; `browser`: open the page in this browser rather than a new one.
 */
export async function openTestPage(harness, { timeout, browser: reuse = null }) {
  const browser = reuse ?? (await launchChromium({ timeout }))
  const page = await (await browser.newContext()).newPage()
  page.setDefaultTimeout(timeout)
  const pageErrors = []
  const consoleLines = []
  page.on('pageerror', (err) => pageErrors.push(err.stack || err.message))
  page.on('console', (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`))
  const response = await page.goto(harness.origin)
  if (response.status() !== 200) throw new Error(`the test page answered ${response.status()}`)
  await page.waitForFunction(() => document.body?.dataset.ready === 'true')
  return { browser, page, pageErrors, consoleLines }
}

/**
 * Runs `fn(arg)` in the page of `openTestPage` and asserts it raised no
 * uncaught error there; on a failure, the page's console since the call is
 * added to the error's message.
 */
export async function evaluateInPage({ page, pageErrors, consoleLines }, fn, arg) {
  consoleLines.length = 0
  const errorsBefore = pageErrors.length
  try {
    await page.evaluate(fn, arg)
    assert.deepEqual(pageErrors.slice(errorsBefore), [], 'uncaught errors in the page')
  } catch (e) {
    e.message += `\npage console:\n  ${consoleLines.join('\n  ')}`
    throw e
  }
}

/**
 * The Chromium half of a suite: registers, in the current suite, the hooks
 * that start a harness (`options`, see startHarness) and open its test page
 * before the tests (then run `ready(tab)`, in the same hook), and close both
 * after them. Returns the object those hooks fill in:
 * { harness, browser, page, pageErrors, consoleLines }.
 */
export function testPageHooks({ timeout, ready = async () => {}, ...options }) {
  const tab = {}
  before(async () => {
    tab.harness = await startHarness(options)
    Object.assign(tab, await openTestPage(tab.harness, { timeout }))
    await ready(tab)
  })
  after(async () => {
    await tab.browser?.close()
    await tab.harness?.close()
  })
  return tab
}

/**
 * Runs the scenario `name` of a method's scenario module in the page of
 * `tab` (see evaluateInPage): `module` is its path on the page's origin,
 * `scenarios` the name of its export, `storage` the package export the
 * scenario gets beside Portal, `ctx` the rest of its context (JSON).
 */
export function runScenarioInPage(tab, { module, scenarios, storage }, name, ctx) {
  return evaluateInPage(tab, async ([m, s, st, n, c]) => {
    const wb = await import('/pkg/web/index.js')
    const all = (await import(m))[s]
    await all[n]({ ...c, Portal: wb.Portal, [st]: wb[st] })
  }, [module, scenarios, storage, name, ctx])
}

/**
 * A service of a suite's own (ServiceProcess `name` with SERVICES.main's
 * limits and `settings`) on a new temporary data directory, started;
 * `stop()` kills it and removes the directory.
 */
export async function startOwnService(name, settings = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), `wallet-backup-${name}-`))
  const service = new ServiceProcess(name, { ...SERVICES.main, dataDir, ...settings })
  const stop = async () => {
    await service.kill()
    await rm(dataDir, { recursive: true, force: true })
  }
  try {
    await service.start()
  } catch (e) {
    await stop()
    throw e
  }
  return { service, stop }
}
