// The test command. `npm test` runs every suite below, in this order, with one
// summary (and builds pkg/ before the first suite that needs it);
// `npm run test:<suite>` runs one suite, after `npm run build`. What each
// suite covers and needs: tests/README.md.
//
//   node scripts/test.mjs                every suite
//   node scripts/test.mjs rust wasm      the named suites only (pkg/ as it is)
//
// Ends with "total: N passed, M failed" and exits non-zero on any failure.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { WORKSPACE_TEST, serviceBuildCommand } from '../dev/service.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

const wasmTest = ['test', '--target', 'wasm32-unknown-unknown', '-p', 'wallet-backup', '--test', 'wasm']
const wasmEnv = { CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER: 'wasm-bindgen-test-runner' }
const nodeTest = (dir) => ['--test', '--test-concurrency=1', dir]

/**
 * The suites, in `npm test`'s order. A step: [name, cmd, args, options?]
 * (cmd 'cargo-test-executables': args name test targets of the workspace's
 * test build, run directly);
 * options are environment variables, except `postgres: true`, which runs the
 * step with a throwaway PostgreSQL server (scripts/pg-test-server.sh) in
 * WALLET_BACKUP_TEST_POSTGRES. A suite: `count`, its test results add to the
 * total; `pkg`, it needs pkg/ built; `service`, it needs the service binary
 * (built with dev/service.mjs's command first: a no-op after the Rust tests).
 */
const SUITES = {
  lint: {
    steps: [
      ['rustfmt', 'cargo', ['fmt', '--all', '--check']],
      ['clippy (native)', 'cargo', ['clippy', '--workspace', '--all-targets', '--', '-D', 'warnings']],
      // The service as production builds it: without its `dev` feature (which its tests turn on).
      ['clippy (service, production build)', 'cargo', ['clippy', '-p', 'wallet-backup-service', '--lib', '--bins', '--', '-D', 'warnings']],
      ['clippy (wasm32)', 'cargo', ['clippy', '--target', 'wasm32-unknown-unknown', '-p', 'wallet-backup', '--all-targets', '--', '-D', 'warnings']],
    ],
  },
  rust: {
    count: true,
    steps: [
      ['native tests (service on SQLite)', 'cargo', WORKSPACE_TEST],
      // The service's in-process suites again, on PostgreSQL: the test executables the step above
      // built, run as cargo runs them. A cargo command naming them (`-p wallet-backup-service`, or
      // even `--workspace --test api …`) resolves other features and compiles the service's
      // dependency tree again (3 min 13 s on a fresh 2-core machine).
      ['service API, webhook, storage-fault and PIN guard tests on PostgreSQL', 'cargo-test-executables', ['api', 'webhook', 'storage_faults', 'pin_guard'], { postgres: true }],
    ],
  },
  wasm: {
    count: true,
    steps: [
      ['wasm tests in Node.js', 'cargo', wasmTest, wasmEnv],
      ['wasm tests in headless Chromium', 'cargo', wasmTest, {
        ...wasmEnv,
        WASM_BINDGEN_USE_BROWSER: '1',
        CHROMEDRIVER: process.env.CHROMEDRIVER ?? '/usr/bin/chromedriver',
      }],
    ],
  },
  js: { count: true, pkg: true, steps: [['JS suites against pkg/ (tests/js/)', 'node', nodeTest('tests/js/')]] },
  packaging: { count: true, pkg: true, steps: [['packed tarball in its consumers (tests/packaging/)', 'node', nodeTest('tests/packaging/')]] },
  docs: { count: true, pkg: true, service: true, steps: [['code blocks of the READMEs and docs/ (tests/docs/)', 'node', nodeTest('tests/docs/')]] },
  e2e: { count: true, pkg: true, service: true, steps: [['the demo end to end in Chromium (tests/e2e/)', 'node', nodeTest('tests/e2e/')]] },
  drive: { count: true, pkg: true, service: true, steps: [['gdrive against the Drive v3 stand-in (tests/drive/)', 'node', nodeTest('tests/drive/')]] },
  icloud: { count: true, pkg: true, service: true, steps: [['icloud against the CloudKit stand-in (tests/icloud/)', 'node', nodeTest('tests/icloud/')]] },
  service: {
    count: true, pkg: true, service: true,
    steps: [['service scenarios (Node.js on SQLite and PostgreSQL, Chromium on SQLite; two instances and TLS on PostgreSQL)', 'node', nodeTest('tests/service-scenarios/'), { postgres: true }]],
  },
  hermes: { count: true, pkg: true, service: true, steps: [['React Native build in Hermes', 'node', ['--test', 'tests/hermes/']]] },
}

const totals = { passed: 0, failed: 0 }
const failures = []
const durations = [] // [step, seconds], for the summary: where the time goes

const minutes = (seconds) => (seconds >= 60 ? `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s` : `${seconds.toFixed(1)} s`)

/** Runs a command, echoing its output, and returns the output. */
function run(name, cmd, args, env = {}, cwd = root) {
  console.log(`\n=== ${name}: ${[cmd, ...args].join(' ')}`)
  const started = Date.now()
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const take = (stream, sink) => stream.on('data', (d) => { out += d; sink.write(d) })
    take(child.stdout, process.stdout)
    take(child.stderr, process.stderr)
    child.on('error', (e) => { out += String(e); process.stderr.write(`${e}\n`) })
    child.on('close', (code) => {
      if (code !== 0) failures.push(`${name} (exit ${code})`)
      durations.push([name, (Date.now() - started) / 1000])
      resolve(out)
    })
  })
}

/**
 * The executables of the integration test targets `names` of the Rust tests' build (WORKSPACE_TEST;
 * asking cargo for them builds nothing when that build is fresh): [{ name, executable, cwd }].
 */
function cargoTestExecutables(names) {
  const out = execFileSync('cargo', [...WORKSPACE_TEST, '--no-run', '--message-format=json-render-diagnostics'],
    { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] })
  const found = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
    .filter((m) => m.reason === 'compiler-artifact' && m.executable && m.target.kind.includes('test') && names.includes(m.target.name))
    .map((m) => ({ name: m.target.name, executable: m.executable, cwd: dirname(m.manifest_path) }))
  const missing = names.filter((n) => !found.some((f) => f.name === n))
  if (missing.length) throw new Error(`cargo ${WORKSPACE_TEST.join(' ')} builds no test target ${missing.join(', ')}`)
  return names.map((n) => found.find((f) => f.name === n))
}

/** Runs test executables one after the other (with cargo test's working directory: their package's); their output. */
async function runTestExecutables(name, names, env) {
  let executables
  try {
    executables = cargoTestExecutables(names)
  } catch (e) {
    console.log(`\n=== ${name}\n${e.message}`)
    failures.push(`${name} (${e.message.split('\n')[0]})`)
    return ''
  }
  let output = ''
  for (const t of executables) output += await run(`${name}: ${t.name}`, t.executable, [], env, t.cwd)
  return output
}

/** Adds the counts of cargo's and node --test's summary lines. */
function count(output) {
  for (const m of output.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    totals.passed += Number(m[1])
    totals.failed += Number(m[2])
  }
  const pass = [...output.matchAll(/^# pass (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0)
  const fail = [...output.matchAll(/^# fail (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0)
  totals.passed += pass
  totals.failed += fail
}

/** Runs `fn(url)` with a throwaway PostgreSQL server, stopped afterwards. */
async function withPostgres(fn) {
  const pg = join(root, 'scripts', 'pg-test-server.sh')
  let url
  try {
    url = execFileSync('bash', [pg, 'start'], { cwd: root, encoding: 'utf8' }).trim()
  } catch (e) {
    failures.push(`PostgreSQL test server (${e.message.split('\n')[0]})`)
    return
  }
  try {
    await fn(url)
  } finally {
    execFileSync('bash', [pg, 'stop'], { cwd: root })
  }
}

// `npm run test:<suite>` for every suite, and nothing else: the list above is the one list.
const scripts = Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts).filter((s) => s.startsWith('test:'))
const expected = Object.keys(SUITES).map((s) => `test:${s}`)
if (scripts.join() !== expected.join()) {
  console.error(`package.json's test scripts (${scripts.join(', ')}) differ from scripts/test.mjs's suites (${expected.join(', ')})`)
  process.exit(2)
}

const all = process.argv.length <= 2
const chosen = all ? Object.keys(SUITES) : process.argv.slice(2)
for (const name of chosen) {
  if (!SUITES[name]) {
    console.error(`no suite ${name}; the suites: ${Object.keys(SUITES).join(', ')}`)
    process.exit(2)
  }
}

let pkgReady = false
let serviceReady = false
for (const name of chosen) {
  const suite = SUITES[name]
  if (suite.pkg && !pkgReady) {
    if (all) await run('build pkg/', 'node', ['scripts/build.mjs'])
    else if (!existsSync(join(root, 'pkg', 'package.json'))) {
      failures.push(`${name}: pkg/ is not built (npm run build)`)
      break
    }
    pkgReady = true
  }
  if (suite.service && !serviceReady) {
    const [cmd, args] = serviceBuildCommand({ profile: 'debug' })
    await run('build the service binary', cmd, args)
    serviceReady = true
  }
  for (const [stepName, cmd, args, { postgres = false, ...env } = {}] of suite.steps) {
    const step = async (extra = {}) => {
      const output = cmd === 'cargo-test-executables'
        ? await runTestExecutables(stepName, args, { ...env, ...extra })
        : await run(stepName, cmd, args, { ...env, ...extra })
      if (suite.count) count(output)
    }
    if (postgres) await withPostgres((url) => step({ WALLET_BACKUP_TEST_POSTGRES: url }))
    else await step()
  }
}

console.log('\n=== summary')
for (const [name, seconds] of durations) console.log(`${minutes(seconds).padStart(12)}  ${name}`)
if (failures.length) console.log(`failed steps: ${failures.join(', ')}`)
if (failures.length && totals.failed === 0) totals.failed = failures.length
console.log(`total: ${totals.passed} passed, ${totals.failed} failed`)
process.exit(failures.length ? 1 : 0)
