// Section 11 of the bench: guess-limited PINs (issue 15). A password backup and its recovery
// without and with a guess limit through the real Portal against the release service, in Node.js
// (pkg/node) and headless Chromium (pkg/web), interleaved (bench/page/pin-guard.js, the same code in
// both engines); what the guess limit adds to the shipped wasm; and the service's OPRF evaluations
// per second under load, against status reads of the same guards in the same rounds, on SQLite and
// PostgreSQL. The Hermes rows are section 8's (its guess-limited password case).
import { randomBytes } from 'node:crypto'
import { Agent, request } from 'node:http'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import { ristretto255_oprf as ristretto255Oprf } from '@noble/curves/ed25519.js'
import { KEEP_EVERYTHING } from '../../dev/backup-load.mjs'
import { launchChromium } from '../../dev/chromium.mjs'
import { quantile } from '../page/measure.js'
import { pinGuardRounds } from '../page/pin-guard.js'
import { startServer } from '../page-server.mjs'
import { QUICK, kb, log, ms, newClient, onCleanup, pkg, ratio, root, spread, startService, stopService, table } from '../common.mjs'
import { postgresForBench } from './service-load.mjs'

/** The section's settings: Portal rounds per engine, and the evaluation load. */
export const PIN_GUARD = {
  portalRuns: QUICK ? 3 : 15,
  portalWarmup: 2,
  levels: [1, 8],
  // Per level: `rounds` interleaved rounds, each `perRound` evaluations then `perRound` status
  // reads; one unrecorded warm-up round first.
  rounds: QUICK ? 3 : 10,
  perRound: QUICK ? 60 : 200,
  // The load's client allows 100 guesses per guard (create-client --pin-guess-limit, the most the
  // service takes), so fewer guards are made up front; each evaluation costs the same at any count.
  guessLimit: 100,
}

// The web build's wasm + glue (gzip -9) just before issue 15's first module commit (09d82f0^ =
// bb84f05): 111,448 + 2,821 B, measured with `node bench/size-at-commit.mjs 09d82f0^` (which
// gives 134,809 B at 9de5150, the tree with the whole issue). Section 1 measures pkg/ as built now.
const BEFORE_ISSUE_15 = { commit: 'bb84f05', gzip: 114_269 }

const b64url = (u8) => Buffer.from(u8).toString('base64url')

// pkg/'s wasm as cargo wrote it (scripts/build.mjs), before wasm-bindgen and wasm-opt drop the
// function names: the only build of the shipped code that still names its functions.
const NAMED_WASM = join(root, 'target', 'wasm-release', 'wasm32-unknown-unknown', 'release', 'wallet_backup.wasm')

/**
 * The code section's function bodies and the name section's function names of a wasm file:
 * [{ name, body }] (a body's bytes include its locals).
 */
function wasmFunctions(buf) {
  let p = 8
  const leb = () => {
    let r = 0
    let shift = 0
    let b
    do {
      b = buf[p++]
      r += (b & 0x7f) * 2 ** shift
      shift += 7
    } while (b & 0x80)
    return r
  }
  const skipName = () => {
    const len = leb()
    p += len
  }
  const limits = () => { const flags = buf[p++]; leb(); if (flags & 1) leb() }
  let imported = 0
  const bodies = []
  const names = new Map()
  while (p < buf.length) {
    const id = buf[p++]
    const size = leb()
    const end = p + size
    if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        skipName()
        skipName()
        const kind = buf[p++]
        if (kind === 0) { leb(); imported++ } else if (kind === 1) { p++; limits() } else if (kind === 2) limits()
        else if (kind === 3) p += 2
        else if (kind === 4) { p++; leb() }
      }
    } else if (id === 10) {
      for (let n = leb(); n > 0; n--) {
        const len = leb()
        bodies.push(buf.subarray(p, p + len))
        p += len
      }
    } else if (id === 0) {
      const len = leb()
      const section = buf.subarray(p, p + len).toString()
      p += len
      while (section === 'name' && p < end) {
        const sub = buf[p++]
        const subLen = leb()
        const subEnd = p + subLen
        if (sub === 1) {
          for (let n = leb(); n > 0; n--) {
            const index = leb()
            const nameLen = leb()
            names.set(index, buf.subarray(p, p + nameLen).toString())
            p += nameLen
          }
        }
        p = subEnd
      }
    }
    p = end
  }
  return bodies.map((body, i) => ({ name: names.get(imported + i) ?? '', body }))
}

/**
 * What the guess-limited PIN's code is, by the (mangled) function name: the OPRF's crates
 * (voprf, curve25519-dalek, elliptic-curve's hash-to-field, sha2's SHA-512, which only the OPRF
 * uses; the module's own SHA-256 is the compact backend) and the module's own guard code;
 * null for everything else.
 */
function guardGroup(name) {
  if (/pin_guard|guard_request|guard_unlock|through_guard/.test(name)) return "the module's guard code (wallet_backup_core::methods::pin_guard, the service calls)"
  if (/sha2\d*\.*sha512|sha512/.test(name)) return 'sha2 0.10: SHA-512 (the OPRF\'s hash)'
  // Legacy mangling: _ZN, then each path segment as <length><text>; an impl's segment starts
  // with `_$LT$` and names the type's crate first (`crate..path`).
  const first = name.match(/^_ZN(\d+)/)
  const segment = first ? name.slice(first[0].length, first[0].length + Number(first[1])) : ''
  const crate = segment.match(/^_\$LT\$(?:\$RF\$)?([a-z][a-z0-9_]*?)\.\./)?.[1] ?? segment
  if (crate === 'voprf') return 'voprf (RFC 9497 OPRF)'
  if (crate === 'curve25519_dalek') return 'curve25519-dalek (ristretto255)'
  if (crate === 'elliptic_curve') return "elliptic-curve (hash-to-field, expand_message_xmd)"
  return null
}

/**
 * The guess-limited PIN's share of the shipped code, from the named cargo build: per group, its
 * functions' bytes, and the code's gzip -9 size with and without them (the gzip they add). Before
 * wasm-opt, so the bytes are larger than the shipped ones; generic code instantiated for the OPRF
 * in shared crates (digest, generic-array) and the flows' added branches are not counted.
 */
export function guardCodeSize(path = NAMED_WASM) {
  if (!existsSync(path)) return { skipped: `${path} not found (scripts/build.mjs makes it)` }
  const fns = wasmFunctions(readFileSync(path))
  const groups = {}
  const kept = []
  let named = 0
  for (const f of fns) {
    if (f.name) named++
    const g = guardGroup(f.name)
    if (g) {
      groups[g] ??= { functions: 0, bytes: 0 }
      groups[g].functions++
      groups[g].bytes += f.body.length
    } else kept.push(f.body)
  }
  const all = Buffer.concat(fns.map((f) => f.body))
  const gz = (b) => gzipSync(b, { level: 9 }).length
  return { functions: fns.length, named, codeBytes: all.length, codeGzip: gz(all), withoutGuardGzip: gz(Buffer.concat(kept)), groups }
}

/** Keep-alive HTTP/1.1 JSON calls to the service with `apiKey`, at most `sockets` connections. */
function httpClient(baseUrl, apiKey, sockets) {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets })
  const base = new URL(baseUrl)
  const call = (method, path, body) => new Promise((resolvePromise, reject) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body))
    const req = request({ agent, host: base.hostname, port: base.port, method, path,
      headers: { Authorization: `Bearer ${apiKey}`, ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}) } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (text += d))
      res.on('end', () => {
        let json = null
        try { json = JSON.parse(text) } catch {}
        resolvePromise({ status: res.statusCode, json })
      })
    })
    req.on('error', reject)
    req.end(data)
  })
  return { call, close: () => agent.destroy() }
}

/**
 * Guards made over HTTP as the module makes them: a PASSWORD pair with `pinGuard: { oprfKey,
 * unlockKey }` (the key from @noble/curves' RFC 9497 ristretto255 OPRF). Each guard gets one of a
 * few blinded elements (blinding is the client's work, done here before any timing) and the
 * evaluated element the service must answer, computed by noble.
 */
async function makeGuards(http, count) {
  const { oprf } = ristretto255Oprf
  const blinded = Array.from({ length: 16 }, () => oprf.blind(randomBytes(32)).blinded)
  const guards = []
  for (let i = 0; i < count; i++) {
    const { secretKey } = oprf.generateKeyPair()
    const backupId = randomBytes(16).toString('hex')
    const res = await http.call('POST', '/api/v3/clients/me/backup-share-pairs', {
      backupMethod: 'PASSWORD', backupId, custodianShare: randomBytes(225).toString('base64url'),
      pinGuard: { oprfKey: b64url(secretKey), unlockKey: b64url(randomBytes(32)) },
    })
    if (res.status !== 201) throw new Error(`creating a guard answered ${res.status} ${JSON.stringify(res.json)}`)
    const element = blinded[i % blinded.length]
    guards.push({ backupId, used: 0, body: { blindedElement: b64url(element) }, expected: b64url(oprf.blindEvaluate(secretKey, element)) })
  }
  return guards
}

/**
 * The evaluation load on one service: per concurrency level, interleaved rounds of `perRound`
 * evaluations (each worker on its own guards, taking a fresh one when a guard's guesses are used
 * up) and `perRound` status reads of the workers' current guards. Every answer is checked: an
 * evaluation must be 200 with noble's evaluated element and one guess fewer left, a status read
 * 200 with the guesses left so far.
 */
async function evaluationLoad(url, apiKey) {
  const { levels, rounds, perRound, guessLimit } = PIN_GUARD
  const totalEvaluations = levels.length * (rounds + 1) * perRound
  const needed = Math.ceil(totalEvaluations / guessLimit) + levels.reduce((a, b) => a + b, 0) + 1
  const setup = httpClient(url, apiKey, 1)
  const t0 = performance.now()
  const pool = await makeGuards(setup, needed)
  const setupMs = performance.now() - t0
  setup.close()
  const errors = []
  const fail = (what) => { if (errors.length < 5) errors.push(what) }
  let answered = 0
  const out = { guards: pool.length, guardCreateMs: setupMs / pool.length, levels: [] }
  for (const concurrency of levels) {
    const http = httpClient(url, apiKey, concurrency)
    const workers = Array.from({ length: concurrency }, () => ({ guard: null }))
    const next = (w) => {
      if (!w.guard || w.guard.used >= guessLimit) {
        w.guard = pool.shift()
        if (!w.guard) throw new Error('section 11: ran out of guards')
      }
      return w.guard
    }
    const burst = async (kind, count, lat) => {
      let left = count
      const t = performance.now()
      await Promise.all(workers.map(async (w) => {
        while (left > 0) {
          left--
          const g = next(w)
          const path = `/api/v3/clients/me/pin-guards/${g.backupId}`
          const t1 = performance.now()
          const res = kind === 'evaluate' ? await http.call('POST', `${path}/evaluate`, g.body) : await http.call('GET', path)
          lat?.push(performance.now() - t1)
          answered++
          if (kind === 'evaluate') {
            g.used++
            if (res.status !== 200 || res.json?.evaluatedElement !== g.expected || res.json?.guessesLeft !== guessLimit - g.used) {
              fail(`evaluate: ${res.status} ${JSON.stringify(res.json).slice(0, 200)} (guess ${g.used})`)
            }
          } else if (res.status !== 200 || res.json?.guessesLeft !== guessLimit - g.used || res.json?.guessLimit !== guessLimit) {
            fail(`status: ${res.status} ${JSON.stringify(res.json).slice(0, 200)}`)
          }
        }
      }))
      return performance.now() - t
    }
    const s = { evaluate: { ms: 0, n: 0, lat: [] }, status: { ms: 0, n: 0, lat: [] } }
    for (let round = -1; round < rounds; round++) {
      const order = round % 2 ? ['status', 'evaluate'] : ['evaluate', 'status']
      for (const kind of order) {
        const lat = round >= 0 ? s[kind].lat : null
        const elapsed = await burst(kind, perRound, lat)
        if (round >= 0) {
          s[kind].ms += elapsed
          s[kind].n += perRound
        }
      }
    }
    http.close()
    const result = (k) => ({ n: s[k].n, perSecond: (s[k].n * 1000) / s[k].ms, p50: quantile(s[k].lat, 0.5), p99: quantile(s[k].lat, 0.99) })
    out.levels.push({ concurrency, evaluate: result('evaluate'), status: result('status') })
  }
  return { ...out, answered, errors }
}

/** One service on `backend` for the evaluation load: a client allowing PIN_GUARD.guessLimit guesses. */
async function loadRun(label, databaseUrl) {
  const dir = mkdtempSync(join(tmpdir(), 'wallet-backup-bench-pin-guard-'))
  const backend = { dataDir: join(dir, 'data'), databaseUrl }
  let svc = null
  try {
    const apiKey = await newClient(backend, { name: 'bench-pin-guard-load', pinGuessLimit: PIN_GUARD.guessLimit })
    // The guards' pairs stay pending (never confirmed): no client limits, as in section 9.
    svc = await startService(backend, join(dir, 'service.log'), KEEP_EVERYTHING)
    const load = await evaluationLoad(svc.url, apiKey)
    const exit = await stopService(svc.child)
    svc = null
    return { label, ...load, serviceExit: exit }
  } finally {
    if (svc) await stopService(svc.child)
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The Portal rounds in headless Chromium, on the bench page (pkg/web), calling the service (CORS). */
async function chromiumRounds(cfg) {
  const server = await startServer()
  const stopServer = onCleanup(() => new Promise((r) => server.close(r)))
  const browser = await launchChromium({ timeout: 30_000 })
  const closeBrowser = onCleanup(() => browser.close().catch(() => {}))
  try {
    const page = await (await browser.newContext()).newPage()
    page.on('pageerror', (e) => log('page error:', e.message))
    page.on('requestfailed', (q) => log('page request failed:', q.method(), q.url(), q.failure()?.errorText))
    await page.goto(`http://127.0.0.1:${server.address().port}/bench/page/index.html`)
    const r = await page.evaluate(async (c) => {
      const { Portal } = await import('/pkg/web/index.js') // initialises the wasm
      const { pinGuardRounds } = await import('/bench/page/pin-guard.js')
      return pinGuardRounds({ Portal, ...c })
    }, cfg)
    return { ...r, version: browser.version() }
  } finally {
    closeBrowser.forget()
    stopServer.forget()
    await browser.close().catch(() => {})
    await new Promise((r) => server.close(r))
  }
}

/**
 * Section 11: the Portal rounds in Node.js and Chromium against one release service on SQLite,
 * then the evaluation load on SQLite and on PostgreSQL (skipped, with the reason, without it).
 */
export async function pinGuardSection() {
  const out = { settings: PIN_GUARD, engines: {}, load: [], code: guardCodeSize() }
  const dir = mkdtempSync(join(tmpdir(), 'wallet-backup-bench-pin-guard-'))
  const backend = { dataDir: join(dir, 'data') }
  let svc = null
  try {
    const apiKey = await newClient(backend, { name: 'bench-pin-guard' })
    svc = await startService(backend, join(dir, 'service.log'))
    const cfg = { apiKey, apiHost: svc.url, runs: PIN_GUARD.portalRuns, warmup: PIN_GUARD.portalWarmup }
    log('section 11: Portal rounds in Node.js')
    const { Portal } = await import(pathToFileURL(join(pkg, 'node', 'index.mjs')).href)
    out.engines['Node.js'] = await pinGuardRounds({ Portal, ...cfg })
    log('section 11: Portal rounds in Chromium')
    const chromium = await chromiumRounds(cfg)
    out.engines[`Chromium ${chromium.version}`] = chromium
    await stopService(svc.child)
    svc = null
  } finally {
    if (svc) await stopService(svc.child)
    rmSync(dir, { recursive: true, force: true })
  }
  log(`section 11: evaluation load (levels ${PIN_GUARD.levels.join(', ')}), SQLite`)
  out.load.push(await loadRun('SQLite', null))
  const pg = await postgresForBench()
  if (pg.skipped) {
    out.postgresSkipped = pg.skipped
  } else {
    try {
      log('section 11: evaluation load, PostgreSQL')
      out.load.push({ ...(await loadRun(`PostgreSQL ${pg.version}`, pg.url)), postgres: pg.source })
    } finally {
      await pg.drop()
      pg.stop()
    }
  }
  return out
}

/** Every recovery restored the shares; every load answer was right; the services stopped cleanly. */
export function pinGuardChecks(r) {
  const p = r.pinGuard
  const checks = []
  for (const [engine, e] of Object.entries(p.engines)) {
    checks.push([`section 11: in ${engine}, every recovery with and without a guess limit restores the shares`, e.recoveredOk, e.failures.join('; ')])
  }
  for (const l of p.load) {
    checks.push([`section 11: on ${l.label}, every evaluation answered 200 with noble's evaluated element and one guess fewer, every status read the guesses left`, l.errors.length === 0 && l.answered > 0, l.errors.join('; ')])
    checks.push([`section 11: the service on ${l.label} stopped cleanly on SIGTERM`, l.serviceExit === 0, `exit ${l.serviceExit}`])
  }
  return checks
}

/** The section's Markdown lines; `r.sizes` (section 1) gives the shipped size. */
export function pinGuardReport(r) {
  const L = []
  const { t, head } = table(L)
  const p = r.pinGuard
  const s = p.settings
  L.push(`## 11. Guess-limited PINs (issue 15): backup / recovery with and without a guess limit, size, the service's evaluations`, '')
  L.push(`Through the real \`Portal\` against the release service (SQLite, loopback, one client, the default 10 guesses): \`backupWallet('password')\` on one device, \`recoverWallet(cipherText)\` on a new one (empty keychain); ${s.portalRuns} interleaved rounds after ${s.portalWarmup} warm-up rounds, the order alternating. The module's own Argon2id (wasm) in both cases; the guess-limited one adds the OPRF (ristretto255) and its service calls.`, '')
  head('Engine', 'Operation', 'Without guess limit: median', 'p10–p90 / p99', 'Guess-limited: median', 'p10–p90 / p99', 'Guess-limited ÷ without')
  const [plain, guarded] = ['password (no guess limit)', 'password, guess-limited (OPRF with the service)']
  for (const [engine, e] of Object.entries(p.engines)) {
    for (const op of ['backup', 'recovery']) {
      const a = e.cases[plain][op]
      const b = e.cases[guarded][op]
      t(op === 'backup' ? engine : '', op === 'backup' ? '`backupWallet`' : '`recoverWallet(cipherText)`', ms(a.median), `${spread(a)} / ${ms(a.p99)}`, `**${ms(b.median)}**`, `${spread(b)} / ${ms(b.p99)}`, ratio(b.median / a.median))
    }
  }
  const hermesRow = Object.entries(r.hermes?.cases ?? {}).find(([name]) => name.includes('guess-limited'))
  const hermesPlain = r.hermes?.cases?.['password, app KDF: native Argon2id module']
  if (hermesRow && hermesPlain) {
    const [, c] = hermesRow
    L.push('', `Hermes (section 8, the app's KDF as a native module, \`recoverWallet('')\`): backup ${ms(hermesPlain.hermes.backup.median)} → ${ms(c.hermes.backup.median)} guess-limited (${ratio(c.hermes.backup.median / hermesPlain.hermes.backup.median)}), recovery ${ms(hermesPlain.hermes.recovery.median)} → ${ms(c.hermes.recovery.median)} (${ratio(c.hermes.recovery.median / hermesPlain.hermes.recovery.median)}).`)
  }
  const web = r.sizes?.entries?.[0]
  if (web) {
    L.push('', `**Size:** the web build's wasm + glue is ${kb(web.wasmGlueGzip)} gzip now (section 1); at ${BEFORE_ISSUE_15.commit}, just before issue 15's first module commit, it was ${kb(BEFORE_ISSUE_15.gzip)} (\`node bench/size-at-commit.mjs 09d82f0^\`, built by that tree's own toolchain script), so the guess limit costs **+${kb(web.wasmGlueGzip - BEFORE_ISSUE_15.gzip)}** gzip.`)
  }
  const code = p.code
  if (code?.skipped) L.push('', `Code by crate: skipped, ${code.skipped}.`)
  else if (code) {
    const total = Object.values(code.groups).reduce((a, g) => a + g.bytes, 0)
    L.push('', `Where it goes, from the same build before wasm-bindgen and wasm-opt (the one that still names its functions: ${code.functions} functions, ${kb(code.codeBytes)} of code, ${kb(code.codeGzip)} gzip): the OPRF's crates and the module's guard code are ${kb(total)} of code; without them the code gzips ${kb(code.codeGzip - code.withoutGuardGzip)} smaller. The rest of the cost is generic code instantiated for the OPRF in shared crates (digest, generic-array), the flows' new branches and their strings, which this count leaves out.`, '')
    head('Part', 'Functions', 'Code bytes (before wasm-opt)', 'Share of the code')
    for (const [name, g] of Object.entries(code.groups).sort((a, b) => b[1].bytes - a[1].bytes)) t(name, g.functions, kb(g.bytes), `${((100 * g.bytes) / code.codeBytes).toFixed(1)} %`)
  }
  L.push('', `### The service's OPRF evaluations (release service, \`--rate-limit 0\`, keep-alive HTTP/1.1 from this Node.js process, one connection per worker, each worker on its own guards)`, '')
  L.push(`${p.load[0]?.guards ?? 0} guards per database made over HTTP as the module makes them (\`POST …/backup-share-pairs\` with \`pinGuard\`, the OPRF key from @noble/curves; about ${ms(p.load[0]?.guardCreateMs ?? NaN)} each on SQLite, one at a time), on a client allowing ${s.guessLimit} guesses (\`create-client --pin-guess-limit\`). Per level: ${s.rounds} interleaved rounds after one warm-up round, each ${s.perRound} \`POST …/pin-guards/{backupId}/evaluate\` (blinded elements from noble's \`blind\`, made before the timing) and ${s.perRound} \`GET …/pin-guards/{backupId}\` status reads of the same guards (the reference). Latencies in ms.`, '')
  head('Database', 'Concurrency', 'Value: evaluations/s', 'evaluate p50 / p99', 'Reference: status reads/s', 'status p50 / p99', 'Evaluation time ÷ status read (p50)')
  for (const l of p.load) {
    l.levels.forEach((v, i) => {
      t(i ? '' : l.label, v.concurrency, `**${v.evaluate.perSecond.toFixed(0)}**`, `${v.evaluate.p50.toFixed(2)} / ${v.evaluate.p99.toFixed(2)}`, v.status.perSecond.toFixed(0), `${v.status.p50.toFixed(2)} / ${v.status.p99.toFixed(2)}`, ratio(v.evaluate.p50 / v.status.p50))
    })
  }
  L.push('', `Both read the pair and its guard (the API key checked first); an evaluation then unseals the guard's keys (KMS: the local key file), multiplies, and counts the guess before it answers (one conditional \`UPDATE\`, committed: SQLite in WAL with synchronous=FULL, PostgreSQL with fsync on). So the ratio is what the OPRF and the counted write add to a guard's read. ${p.postgresSkipped ? `PostgreSQL: **skipped** (${p.postgresSkipped}).` : `PostgreSQL: ${p.load.find((l) => l.postgres)?.postgres}, a fresh database.`} The load generator shares the cores with the service. No timing target.`, '')
  return L
}
