// The React Native build in the real Hermes engine (npm hermes-engine-cli
// 0.12, a static Linux binary): scenarios.js, bundled from the package's
// `react-native` export condition as Metro resolves it, runs backup and
// recovery with the password method through Portal, the custodian adapter
// and an in-memory keychain; with the app's Argon2id (`deriveKey`) and
// with the module's; a case that grows the module's memory; and the
// cross-engine cases: sealed in Hermes with the app's KDF, opened in Node
// by the wasm build, and the reverse. hermesc (npm hermes-compiler, today's
// React Native compiler) compiles the bundle.
//
//   node --test tests/hermes/      (needs pkg/ built: node scripts/build.mjs)
//
// Not covered in Hermes yet: the service-backed methods (firebase, passkey
// enclave mode, managed backups). Hermes 0.12's CLI has setTimeout and
// Promise but no fetch; React Native supplies fetch on a device.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, existsSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

import * as esbuild from 'esbuild'

import { lowerToEs5 } from '../../scripts/wasm-toolchain.mjs'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PKG = join(ROOT, 'pkg')
const HERMES = join(ROOT, 'node_modules', 'hermes-engine-cli', 'linux64-bin', 'hermes')
const HERMESC = join(ROOT, 'node_modules', 'hermes-compiler', 'hermesc', 'linux64-bin', 'hermesc')
const node = createRequire(import.meta.url)(join(PKG, 'node', 'index.cjs'))

let tmp
let bundle
let inputs
const results = {}
let hermesOutput = ''

function run(cmd, args, timeout) {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 256 << 20, timeout }, (error, stdout, stderr) => resolve({ error, stdout, stderr }))
  })
}

function memoryWallet(shares, record = null) {
  const state = { shares, record }
  return {
    state,
    keychain: { async getShares() { return state.shares }, async setShares(s) { state.shares = s } },
    custodian: { async read() { return state.record }, async write(r) { state.record = r } },
  }
}

before(async () => {
  assert.ok(existsSync(join(PKG, 'react-native', 'index.js')), 'pkg/ is not built: node scripts/build.mjs')
  tmp = mkdtempSync(join(tmpdir(), 'wallet-backup-hermes-'))
  // A consumer where `wallet-backup` is the built package, as an app's node_modules has it.
  mkdirSync(join(tmp, 'node_modules'))
  symlinkSync(PKG, join(tmp, 'node_modules', 'wallet-backup'), 'dir')

  // Sealed in Node by the wasm build (in-module Argon2id), for Hermes to open.
  const shares = JSON.stringify({ ed25519: { id: 'node-w1', share: '0f1e2d3c'.repeat(16) } })
  const w = memoryWallet(shares)
  const password = 'sealed in node ✓'
  const cipherText = await new node.Portal({ keychain: w.keychain, custodian: w.custodian })
    .backupWallet('password', null, { passwordStorage: { password, kdf: { memoryKiB: 20480, iterations: 2 } } })
  inputs = { seed: randomBytes(32).toString('hex'), nodeSealed: { cipherText, record: w.state.record, shares, password } }

  const built = await esbuild.build({
    entryPoints: [join(ROOT, 'tests', 'hermes', 'scenarios.js')],
    absWorkingDir: tmp,
    preserveSymlinks: true,
    nodePaths: [join(tmp, 'node_modules'), join(ROOT, 'node_modules')],
    bundle: true,
    format: 'iife',
    target: 'es2016',
    // What Metro asks a package's exports for.
    conditions: ['react-native'],
    mainFields: ['react-native', 'browser', 'module', 'main'],
    define: { __INPUT__: JSON.stringify(inputs) },
    outfile: join(tmp, 'bundle.js'),
    metafile: true,
    logLevel: 'warning',
    plugins: [{
      name: 'es5',
      setup(b) {
        // The package's React Native file is ES5 already; the test's own code and @noble/hashes are not.
        b.onLoad({ filter: /\.m?js$/ }, async (args) => {
          const source = readFileSync(args.path, 'utf8')
          if (args.path.includes(`${join('react-native', 'index.js')}`)) return { contents: source, loader: 'js' }
          return { contents: await lowerToEs5(source, args.path), loader: 'js' }
        })
      },
    }],
  })
  bundle = join(tmp, 'bundle.js')
  results.inputs = Object.keys(built.metafile.inputs)

  const started = Date.now()
  const r = await run(HERMES, [bundle], 600_000)
  hermesOutput = r.stdout + r.stderr
  results.hermesMs = Date.now() - started
  if (r.error) throw new Error(`hermes failed: ${r.error.message}\n${hermesOutput}`)
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('RESULT ')) {
      const result = JSON.parse(line.slice(7))
      results[result.name] = result
    }
  }
})

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

function scenario(name) {
  const r = results[name]
  assert.ok(r, `no result for ${name}; Hermes printed:\n${hermesOutput.slice(0, 4000)}`)
  assert.equal(r.error, undefined, `${name} failed in Hermes: ${r.error}`)
  return r
}

test('the bundle takes the react-native export condition and runs to the end in Hermes', (t) => {
  assert.ok(results.inputs.some((p) => p.endsWith('wallet-backup/react-native/index.js')), results.inputs.join('\n'))
  assert.ok(!results.inputs.some((p) => /wallet-backup\/(web|node)\//.test(p)), results.inputs.join('\n'))
  assert.match(hermesOutput, /^DONE$/m, hermesOutput.slice(0, 4000))
  assert.doesNotMatch(hermesOutput, /FATAL/)
  const size = statSync(join(PKG, 'react-native', 'index.js')).size
  const gz = gzipSync(readFileSync(join(PKG, 'react-native', 'index.js')), { level: 9 }).length
  t.diagnostic(`react-native/index.js: ${(size / 1024).toFixed(0)} KB, ${(gz / 1024).toFixed(0)} KB gzip; Hermes run ${results.hermesMs} ms`)
})

test('hermesc of today\'s React Native compiles the bundle', async () => {
  const r = await run(HERMESC, ['-emit-binary', '-O', '-out', join(tmp, 'bundle.hbc'), bundle], 300_000)
  assert.equal(r.error, null, `hermesc failed:\n${r.stdout}\n${r.stderr}`)
  assert.ok(statSync(join(tmp, 'bundle.hbc')).size > 0)
})

test('without crypto.getRandomValues a backup fails with RANDOM_UNAVAILABLE', () => {
  const r = scenario('no-random-source')
  assert.equal(r.hasCrypto, 'undefined')
  assert.equal(r.code, 'RANDOM_UNAVAILABLE')
})

test('password backup and recovery in Hermes with the app\'s Argon2id (deriveKey)', (t) => {
  const r = scenario('app-kdf')
  assert.equal(r.restored, true)
  assert.deepEqual(r.statuses.slice(-1), ['Done'])
  assert.equal(r.kdfCallsBackup, 1, 'one key derivation per backup')
  assert.equal(r.kdfCalls, 3, 'backup, recovery, wrong-password recovery')
  assert.equal(r.wrong, 'WRONG_PASSWORD')
  for (const q of r.requests) {
    assert.deepEqual(q, { memoryKiB: 19456, iterations: 2, parallelism: 1, hashLength: 32, algorithm: 'argon2id', version: 0x13, saltLength: 16 })
  }
  t.diagnostic(`Hermes, app KDF (@noble/hashes Argon2id in Hermes): backup ${r.backupMs} ms, recovery ${r.recoveryMs} ms; KDF ${Math.round(r.kdfMs / r.kdfCalls)} ms per call`)
})

test('what the app\'s deriveKey gives is checked: 32 bytes, a function, failures coded', () => {
  const r = scenario('app-kdf-bad-output')
  assert.deepEqual(r, {
    name: 'app-kdf-bad-output',
    short: 'INVALID_ARGUMENT', long: 'INVALID_ARGUMENT', notBytes: 'INVALID_ARGUMENT',
    throws: 'INVALID_ARGUMENT', rejects: 'INVALID_ARGUMENT', notFunction: 'INVALID_ARGUMENT',
  })
})

test('memory growth: 600 KB of shares round-trip intact (the stale memory view trap)', () => {
  const r = scenario('memory-growth')
  assert.equal(r.restored, true)
  assert.ok(r.length > 600000)
})

test('password backup and recovery in Hermes with the module\'s Argon2id (wasm2js)', (t) => {
  const r = scenario('in-module-argon2id')
  assert.equal(r.restored, true)
  t.diagnostic(`Hermes, in-module Argon2id (wasm2js): backup ${r.backupMs} ms, recovery ${r.recoveryMs} ms`)
})

test('cross-engine: sealed in Hermes with the app\'s KDF, opened in Node by the wasm build', async () => {
  for (const name of ['app-kdf', 'in-module-argon2id']) {
    const r = scenario(name)
    const password = name === 'app-kdf' ? 'pässwörd 🔑' : 'pw'
    const w = memoryWallet('', r.record)
    await new node.Portal({ keychain: w.keychain, custodian: w.custodian }).recoverWallet(r.cipherText, 'password', null, { passwordStorage: { password } })
    assert.equal(w.state.shares, JSON.stringify({ secp256k1: { id: 'hermes-w1', share: 'a1b2c3d4e5f60718293a4b5c6d7e8f90'.repeat(8) } }))
  }
})

test('cross-engine: sealed in Node by the wasm build, opened in Hermes with the app\'s KDF', () => {
  const r = scenario('sealed-in-node')
  assert.equal(r.restored, true)
  assert.equal(r.kdfCalls, 1)
})
