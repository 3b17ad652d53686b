// npm run bench (= node scripts/build.mjs && node bench/run.mjs)
//
// Measures, in one run, in Node.js and in headless Chromium:
//   1. size of the production pkg/ files (raw, gzip -9): the one shipped wasm
//      build with its web and Node.js glue;
//   2. bytes-to-usable start time of the shipped build (fresh process / fresh
//      browser context per sample);
//   3. password backup and recovery through the real Portal API;
//   4. Argon2id (m=19456 KiB, t=2, p=1): this module's wasm (the shipped build,
//      and a +simd128 build that is not shipped) vs npm hash-wasm vs native Rust
//      (bench/native), outputs cross-checked;
//   5. AES-256-GCM seal/open of 256 B and 4 KiB: the shipped build vs WebCrypto
//      (+ native), ciphertexts cross-checked;
//   6. the backup service (release build, its own process on loopback) under a
//      bounded load from a second process (bench/native `load`): whole managed
//      backups per second and latency at a few concurrency levels, on SQLite and
//      PostgreSQL, and the service's peak memory;
//   7. backup and recovery with each built method (password, firebase) through
//      Portal in Node.js against the release service and its development
//      Firebase issuer, vs password with in-memory adapters in the same rounds;
//   8. the React Native build in the real Hermes engine:
//      backup and recovery per method over real HTTP through the test bridge,
//      and password with the app's KDF vs the module's Argon2id, each vs the
//      same scenarios in Node.js in the same rounds;
//   9. the service under faults: kill -9 under load, the disk
//      filling under load, an attacker holding stalled connections; acknowledged
//      backups lost and 2xx answers contradicted by a re-read (both must be 0),
//      latency against the same load without the fault, peak memory;
//  10. a whole managed password backup through Portal in Node.js with each KMS
//      backend of the service (local key file, AWS KMS through moto's server):
//      backups per second, p50/p99, same rounds;
//  11. guess-limited PINs: backup and recovery with and without a guess limit through Portal in
//      Node.js and Chromium against the release service, the wasm size they add, and the
//      service's OPRF evaluations per second (vs status reads, same rounds) on SQLite and PostgreSQL.
// One file per section (sections/): each measures, then gives its report lines and checks; this
// file builds first (no compiler shares the cores with a timing), then arms the watchdog, runs the
// sections in order, and writes the report.
//   sections/sizes.mjs 1 · start.mjs 2 · engines.mjs 3–5 · service-load.mjs 6 · methods.mjs 7 ·
//   hermes.mjs 8 · faults.mjs 9 · kms.mjs 10 · pin-guard.mjs 11; common.mjs: settings, child processes, the service with the
//   bench's settings, number formats; page-server.mjs: the page's HTTP server.
// Prints a Markdown table, writes bench/out/results.md and bench/out/results.json.
// Exits non-zero when a cross-check fails (or the bench cannot run); never on timing.
//
// Options: --quick (fewer samples, for trying the script), --skip-build (reuse bench/out/wasm).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { buildBenchWasm } from './build-wasm.mjs'
import { nativeBinary } from './native-client.mjs'
import { startServer } from './page-server.mjs'
import { QUICK, SKIP_BUILD, START_RUNS, SUITE, SERVICE, WASM_VARIANTS, benchWasmFiles, cleanup, log, met, ms, onCleanup, outDir, pkg, ratio, root, serviceBinary, spread, table } from './common.mjs'
import { buildService, serviceBuildCommand } from '../dev/service.mjs'
import { launchChromium } from '../dev/chromium.mjs'
import { measureSizes, sizesReport, sizesTarget } from './sections/sizes.mjs'
import { chromiumStart, nodeStart, startReport, startTarget } from './sections/start.mjs'
import { chromiumSuite, engineChecks, enginesReport, enginesTarget, nodeSuite, runNative } from './sections/engines.mjs'
import { serviceLoadChecks, serviceLoadReport, serviceSection } from './sections/service-load.mjs'
import { methodsChecks, methodsReport, methodsSection } from './sections/methods.mjs'
import { hermesChecks, hermesReport, hermesSection } from './sections/hermes.mjs'
import { faultChecks, faultReport, faultSection } from './sections/faults.mjs'
import { kmsChecks, kmsReport, kmsSection } from './sections/kms.mjs'
import { pinGuardChecks, pinGuardReport, pinGuardSection } from './sections/pin-guard.mjs'

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    await cleanup()
    process.exit(130)
  })
}
// Watchdog: a hung engine must not hang CI. It guards the measuring only, armed once the builds are
// done (on a fresh 2-core machine the release builds alone take about 9 minutes). 14 minutes:
// section 8, Hermes, takes about 3; section 9, the faults, about 1.
let watchdog = null
function armWatchdog() {
  watchdog = setTimeout(async () => {
    console.error('bench: watchdog: measuring exceeded 14 minutes, aborting')
    await cleanup()
    process.exit(2)
  }, 14 * 60 * 1000)
  watchdog.unref()
}

/**
 * The release service and bench/native, in one cargo command (one feature resolution). The service
 * with its `dev` feature: sections 7 and 8 use its development Firebase issuer.
 */
async function buildNative() {
  const build = { profile: 'release', packages: ['wallet-backup-bench-native'] }
  log(serviceBuildCommand(build).flat().join(' '))
  await buildService(build)
}

/** Headless Chromium and the page server for sections 2–5; both stop at cleanup(). */
async function startBrowser() {
  const server = await startServer()
  const stopServer = onCleanup(() => new Promise((r) => server.close(r)))
  const browser = await launchChromium({ timeout: 30_000 })
  const closeBrowser = onCleanup(() => browser.close().catch(() => {}))
  return {
    browser,
    base: `http://127.0.0.1:${server.address().port}`,
    async close() {
      closeBrowser.forget()
      stopServer.forget()
      await browser.close().catch(() => {})
      await new Promise((r) => server.close(r))
    },
  }
}

// ---- checks and report ----------------------------------------------------------------------

function crossChecks(r) {
  const checks = []
  const check = (name, ok, detail = '') => checks.push({ name, ok: !!ok, detail })
  for (const [name, ok, detail] of engineChecks(r)) check(name, ok, detail)
  for (const [name, ok, detail] of methodsChecks(r)) check(name, ok, detail)
  for (const [name, ok, detail] of hermesChecks(r)) check(name, ok, detail)
  for (const [name, ok, detail] of faultChecks(r.faults)) check(name, ok, ok ? '' : detail)
  for (const [name, ok, detail] of serviceLoadChecks(r)) check(name, ok, detail)
  for (const [name, ok, detail] of kmsChecks(r)) check(name, ok, detail)
  for (const [name, ok, detail] of pinGuardChecks(r)) check(name, ok, ok ? '' : detail)
  return checks
}

function report(r) {
  const L = []
  const { t, head } = table(L)
  L.push(`# wallet-backup benchmark`, '')
  L.push(`${r.meta.date} · ${r.meta.cpus} × ${r.meta.cpuModel} · Node ${r.meta.node} · ${r.meta.chromium} · load average ${r.meta.loadStart} → ${r.meta.loadEnd} · medians; p10–p90 in ms unless noted${QUICK ? ' · **--quick run (few samples)**' : ''}`, '')

  L.push(...sizesReport(r))
  L.push(...startReport(r))
  L.push(...enginesReport(r))
  L.push(...serviceLoadReport(r))
  L.push(...methodsReport(r))
  L.push(...hermesReport(r.hermes, { ms, spread, ratio }))
  L.push(...faultReport(r.faults, { ms }))
  L.push(...kmsReport(r))
  L.push(...pinGuardReport(r))

  L.push('## Targets and cross-checks', '')
  head('Check', 'Result')
  for (const c of r.targets) t(`target: ${c.name}`, `${met(c.ok)} ${c.detail}`)
  const failed = r.checks.filter((c) => !c.ok)
  t(`cross-checks (identical outputs; ${r.checks.length} checks)`, failed.length ? `❌ ${failed.length} failed` : '✅ all identical')
  for (const c of failed) t(`FAILED: ${c.name}`, `❌ ${c.detail}`)
  L.push('')
  L.push('Ratios: "× native" = time ÷ the native Rust time measured in the same rounds (1.00× = as fast as native; lower is better). "wasm ÷ WebCrypto" < 1 means the wasm call is faster than the (asynchronous) WebCrypto call. Targets are checked on medians; a missed timing target never fails the run, a failed cross-check does.')
  return L.join('\n') + '\n'
}

function targets(r) {
  return [sizesTarget(r), startTarget(r), enginesTarget(r)]
}

// ---- main -----------------------------------------------------------------------------------

async function main() {
  const t0 = Date.now()
  if (!existsSync(join(pkg, 'web', 'index.js')) || !existsSync(join(pkg, 'node', 'index.cjs'))) {
    throw new Error('pkg/ is not built: run `node scripts/build.mjs` first (npm run bench does)')
  }
  mkdirSync(outDir, { recursive: true })

  // Builds first, so no compiler shares the 2 cores with a timing.
  if (!SKIP_BUILD || !WASM_VARIANTS.every((v) => existsSync(benchWasmFiles(v).wasm))) buildBenchWasm({ log })
  await buildNative()
  armWatchdog()

  const r = { meta: { loadStart: loadavg()[0].toFixed(2), date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', quick: QUICK, suite: SUITE, startRuns: START_RUNS } }

  log('sizes')
  r.sizes = measureSizes()

  log('native Rust (Argon2id, AES-GCM)')
  r.native = await runNative()

  log(`Node start (${START_RUNS} fresh processes per method)`)
  r.nodeStart = await nodeStart()

  log('Node suite (Portal, Argon2id, AES-GCM)')
  r.node = await nodeSuite()

  const { browser, base, close } = await startBrowser()
  r.meta.chromium = `Chromium ${browser.version()}`

  log(`Chromium start (${START_RUNS} fresh contexts per method)`)
  r.chromiumStart = await chromiumStart(browser, base)

  log('Chromium suite (Portal, Argon2id, AES-GCM)')
  r.chromium = await chromiumSuite(browser, base)
  await close()

  log(`service under load (levels ${SERVICE.levels.join(', ')}; SQLite, then PostgreSQL)`)
  r.service = await serviceSection()

  log('backup / recovery per method through the service (Node.js)')
  r.methods = await methodsSection()

  log('React Native build in Hermes: backup / recovery per method, password KDFs (vs Node.js)')
  r.hermes = await hermesSection({ root, serviceBin: serviceBinary(), nativeBin: nativeBinary(), runs: QUICK ? 2 : 5, slowRuns: QUICK ? 1 : 2, log })

  log('the service under faults: kill -9, a full disk, stalled connections')
  r.faults = await faultSection({ quick: QUICK, log })

  log('a managed password backup per KMS backend (local, AWS KMS through moto)')
  r.kms = await kmsSection()

  log('guess-limited PINs: backup / recovery with and without (Node.js, Chromium), the service\'s evaluations')
  r.pinGuard = await pinGuardSection()
  r.meta.loadEnd = loadavg()[0].toFixed(2)

  r.checks = crossChecks(r)
  r.targets = targets(r)
  r.meta.seconds = (Date.now() - t0) / 1000
  const md = report(r)
  process.stdout.write('\n' + md)
  writeFileSync(join(outDir, 'results.md'), md)
  // Raw numbers; the long ciphertexts are replaced by the cross-check verdicts.
  for (const a of r.native.aes_gcm) a.ciphertext_hex = `${a.ciphertext_hex.slice(0, 32)}…`
  for (const env of ['node', 'chromium']) for (const e of Object.values(r[env].aes)) for (const i of Object.values(e.impls)) i.ciphertextHex = `${i.ciphertextHex.slice(0, 32)}…`
  writeFileSync(join(outDir, 'results.json'), JSON.stringify(r, null, 2) + '\n')
  log(`wrote bench/out/results.md and bench/out/results.json (${r.meta.seconds.toFixed(0)} s)`)

  const failed = r.checks.filter((c) => !c.ok)
  if (failed.length) {
    console.error(`bench: ${failed.length} cross-check(s) FAILED:`)
    for (const c of failed) console.error(`  - ${c.name} ${c.detail}`)
    process.exitCode = 1
  }
}

try {
  await main()
} catch (e) {
  console.error('bench: error:', e?.stack ?? e)
  process.exitCode = 1
} finally {
  await cleanup()
  if (watchdog) clearTimeout(watchdog)
}
