// The test command (`npm test`): every suite, in order, with one summary.
//
//   1. cargo fmt --check and clippy (native and wasm32), warnings are errors
//   2. native cargo tests of the workspace (core: unit, vectors, flows,
//      properties; the backup service on SQLite), then the service's API
//      suite again on a throwaway PostgreSQL server (scripts/pg-test-server.sh)
//   3. wasm-bindgen tests of the exports in Node.js, then in headless Chromium
//   4. npm run build (pkg/), then the JS suites against pkg/: API and errors,
//      the custom method, Google Drive against a local Drive v3 server (tests/drive/),
//      iCloud against a local CloudKit Web Services server and a key-value store (tests/icloud/),
//      cross-implementation decoder, packed-tarball consumers (ESM, CJS,
//      TypeScript), and the demo page end to end in Chromium
//   5. the service scenarios (tests/service/): the module against the real
//      service binary behind a fault-injecting proxy, in Node.js on SQLite and
//      PostgreSQL (a throwaway server again), and in headless Chromium
//   6. the React Native build in the real Hermes engine (tests/hermes/),
//      its native side (fetch, timers, native modules) bridged to Node:
//      backup and recovery with the app's and the module's Argon2id, memory
//      growth, cross-engine with Node.js; every method (password, firebase,
//      passkey in PRF and enclave mode, gdrive, icloud, custom) backed up and
//      recovered on a new device over real HTTP against the service binary,
//      its development Firebase issuer, the local Drive and CloudKit servers, with
//      error codes crossing the boundary; hermesc compiling the bundle
//
// Ends with "total: N passed, M failed" and exits non-zero on any failure.
import { execFileSync, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const totals = { passed: 0, failed: 0 }
const failures = []

/** Runs a command, echoing its output, and returns the output. */
function run(name, cmd, args, env = {}) {
  console.log(`\n=== ${name}: ${cmd} ${args.join(' ')}`)
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    const take = (stream, sink) => stream.on('data', (d) => { out += d; sink.write(d) })
    take(child.stdout, process.stdout)
    take(child.stderr, process.stderr)
    child.on('close', (code) => {
      if (code !== 0) failures.push(`${name} (exit ${code})`)
      resolve(out)
    })
  })
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

const wasmTest = ['test', '--target', 'wasm32-unknown-unknown', '-p', 'wallet-backup', '--test', 'wasm']
const wasmEnv = { CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER: 'wasm-bindgen-test-runner' }

await run('rustfmt', 'cargo', ['fmt', '--all', '--check'])
await run('clippy (native)', 'cargo', ['clippy', '--workspace', '--all-targets', '--', '-D', 'warnings'])
// The service as production builds it: without its `dev` feature (which its tests turn on).
await run('clippy (service, production build)', 'cargo', ['clippy', '-p', 'wallet-backup-service', '--lib', '--bins', '--', '-D', 'warnings'])
await run('clippy (wasm32)', 'cargo', ['clippy', '--target', 'wasm32-unknown-unknown', '-p', 'wallet-backup', '--all-targets', '--', '-D', 'warnings'])
count(await run('native tests (service on SQLite)', 'cargo', ['test', '--workspace']))
{
  // The service's in-process suites again, against a real PostgreSQL server on loopback.
  const pg = join(root, 'scripts', 'pg-test-server.sh')
  const url = execFileSync('bash', [pg, 'start'], { cwd: root, encoding: 'utf8' }).trim()
  try {
    count(await run('service API, webhook and storage-fault tests on PostgreSQL', 'cargo',
      ['test', '-p', 'wallet-backup-service', '--test', 'api', '--test', 'webhook', '--test', 'storage_faults'],
      { WALLET_BACKUP_TEST_POSTGRES: url }))
  } finally {
    execFileSync('bash', [pg, 'stop'], { cwd: root })
  }
}
count(await run('wasm tests in Node.js', 'cargo', wasmTest, wasmEnv))
count(await run('wasm tests in headless Chromium', 'cargo', wasmTest, {
  ...wasmEnv,
  WASM_BINDGEN_USE_BROWSER: '1',
  CHROMEDRIVER: process.env.CHROMEDRIVER ?? '/usr/bin/chromedriver',
}))
await run('build pkg/', 'node', ['scripts/build.mjs'])
// The demo's e2e test and the service scenarios run the service binary.
// With the `dev` feature (the demo settings, the development Firebase issuer), as the native tests built it.
await run('build the service binary', 'cargo', ['build', '-p', 'wallet-backup-service', '--features', 'dev'])
count(await run('JS suites against pkg/', 'node', ['--test', '--test-concurrency=1',
  'tests/js/', 'tests/packaging/', 'tests/e2e/', 'tests/drive/', 'tests/icloud/']))
{
  // The module's managed mode against the real service binary behind a
  // fault-injecting proxy (tests/service/): in Node.js on SQLite and on a
  // throwaway PostgreSQL server, and in headless Chromium on SQLite.
  const pg = join(root, 'scripts', 'pg-test-server.sh')
  const url = execFileSync('bash', [pg, 'start'], { cwd: root, encoding: 'utf8' }).trim()
  try {
    count(await run('service scenarios (Node.js on SQLite and PostgreSQL, Chromium on SQLite)', 'node',
      ['--test', '--test-concurrency=1', 'tests/service/'], { WALLET_BACKUP_TEST_POSTGRES: url }))
  } finally {
    execFileSync('bash', [pg, 'stop'], { cwd: root })
  }
}

// The React Native build (pkg/react-native/) in the real Hermes binary, and hermesc (tests/hermes/).
count(await run('React Native build in Hermes', 'node', ['--test', 'tests/hermes/']))

console.log('\n=== summary')
if (failures.length) console.log(`failed steps: ${failures.join(', ')}`)
if (failures.length && totals.failed === 0) totals.failed = failures.length
console.log(`total: ${totals.passed} passed, ${totals.failed} failed`)
process.exit(failures.length ? 1 : 0)
