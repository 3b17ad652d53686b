// What the bench's sections share: the run's settings (bench/run.mjs's
// options, sample counts, inputs and targets), child processes that
// cleanup() stops, the release service with the bench's settings (through
// dev/service.mjs, the one launcher), and the report's number formats.
import { spawn } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { VARIANTS, benchWasmDir, root } from './build-wasm.mjs'
import { createClient, killAll, serviceBinary as launcherBinary, startIssuer as launchIssuer, startService as launchService, stopProcess } from '../dev/service.mjs'

export { root }

// ---- settings -------------------------------------------------------------------------------

const argv = process.argv.slice(2)
export const QUICK = argv.includes('--quick')
export const SKIP_BUILD = argv.includes('--skip-build')
export const outDir = join(root, 'bench', 'out')
export const pkg = join(root, 'pkg')
export const log = (...a) => console.error('bench:', ...a)

export const ARGON2 = { memoryKiB: 19456, iterations: 2, parallelism: 1 }
export const INPUTS = {
  passwordHex: Buffer.from('correct horse battery staple').toString('hex'),
  saltHex: '000102030405060708090a0b0c0d0e0f',
  keyHex: '42'.repeat(32),
  nonceHex: '24'.repeat(12),
}
export const SUITE = {
  ...INPUTS,
  argon2: ARGON2,
  argon2Runs: QUICK ? 8 : 40, // a multiple of the 4 balanced orders of the 4 implementations (measure.js balancedOrders)
  argon2Warmup: 2,
  portalRuns: QUICK ? 3 : 11,
  portalWarmup: 2,
  portalPassword: 'bench password 1234',
  aesSizes: [256, 4096],
  aesBatches: QUICK ? 5 : 15,
  aesBatchMs: QUICK ? 5 : 15,
}
export const START_RUNS = QUICK ? 5 : 21
// Section 6. Each level stops at maxBackups started backups or after maxSeconds, whichever comes
// first. The service runs with --rate-limit 0 (no per-key limit); workers spread over `clients` keys.
export const SERVICE = {
  levels: [1, 8, 32],
  maxSeconds: QUICK ? 1.5 : 5,
  maxBackups: QUICK ? 300 : 2000,
  warmup: QUICK ? 10 : 30,
  clients: 8,
  shareBytes: 300,
  serveArgs: ['--rate-limit', '0'],
}
// Size budget: 96 KB for the six methods; restated at 97 KB when the adapter time limits (a hung
// keychain or adapter no longer locks the wallet for good) took the module to 96.4 KB.
export const TARGETS = { sizeGzipKB: 97, chromiumStartMs: 15, chromiumArgonXNative: 1.3 }
// The bench-feature builds (bench/build-wasm.mjs) and their names in the results:
// `baseline` has the settings of pkg/ ("wasm"); `simd` adds +simd128 and is not shipped.
export const WASM_VARIANTS = Object.keys(VARIANTS)
export const benchWasmFiles = (v) => ({ glue: join(benchWasmDir, v, 'wallet_backup.js'), wasm: join(benchWasmDir, v, 'wallet_backup_bg.wasm') })

// ---- process hygiene: everything started here is stopped by cleanup() -------------------------

const children = new Set()
const cleanups = new Set()

/** Runs `fn` at cleanup() (once), unless `forget()` is called first. */
export function onCleanup(fn) {
  cleanups.add(fn)
  return { forget: () => cleanups.delete(fn) }
}

/** SIGKILLs every child still running and runs the registered cleanups. */
export async function cleanup() {
  for (const c of children) c.kill('SIGKILL')
  children.clear()
  killAll() // the services and issuers started through dev/service.mjs
  for (const fn of [...cleanups]) {
    cleanups.delete(fn)
    await fn()
  }
}

/** Runs a command, resolves with stdout; stderr passes through. */
export function runChild(cmd, args, { cwd = root, env = {} } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
    children.add(child)
    let stdout = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      children.delete(child)
      if (code === 0) resolvePromise(stdout)
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}`))
    })
  })
}

/** A command's stdout; its stderr is kept and shown only when it fails. */
export function runQuiet(cmd, args, env = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      children.delete(child)
      if (code === 0) resolvePromise(out)
      else reject(new Error(`${cmd} ${args[0]} … exited with ${code ?? signal}: ${err.trim().slice(-2000)}`))
    })
  })
}

export const lastJson = (stdout) => JSON.parse(stdout.trim().split('\n').pop())

/** The one wasm file of a pkg/ folder; anything else means pkg/ is not what this bench measures. */
export function shippedWasm(dir) {
  const wasm = readdirSync(dir).filter((f) => f.endsWith('.wasm'))
  if (wasm.length !== 1 || wasm[0] !== 'wallet_backup_bg.wasm') {
    throw new Error(`${relative(root, dir)}: expected exactly one wasm, wallet_backup_bg.wasm; found ${wasm.join(', ') || 'none'}`)
  }
  return join(dir, wasm[0])
}

// ---- the release service (sections 6, 7, 9) -----------------------------------------------------

export const serviceBinary = () => launcherBinary('release')

/**
 * The release service on 127.0.0.1:0 (dev/service.mjs) with the bench's
 * settings (SERVICE.serveArgs, then `extraArgs`; RUST_LOG=info and `env`), its log
 * appended to `logFile`; resolves { child, url }.
 */
export function startService(backend, logFile, extraArgs = [], env = {}) {
  return launchService({ ...backend, bin: serviceBinary(), serveArgs: [...SERVICE.serveArgs, ...extraArgs],
    env: { RUST_LOG: 'info', ...env }, log: { file: logFile }, what: `the service (see ${logFile})` })
}

/** SIGTERM, then SIGKILL after 10 s; resolves with the exit code or signal. */
export const stopService = (child) => stopProcess(child)

/** `create-client` on `backend` with `options` (RUST_LOG=warn); resolves to the API key. */
export const newClient = (backend, options) => createClient({ ...backend, bin: serviceBinary(), env: { RUST_LOG: 'warn' }, ...options })

/** `dev-firebase-issuer` on 127.0.0.1:0; resolves { child, url }. */
export function startIssuer(projectId) {
  return launchIssuer({ projectId, bin: serviceBinary(), log: 'ignore' })
}

/** `VmHWM` and `VmRSS` of a process, in kB (Linux /proc; null elsewhere). */
export function processMemory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kB = (k) => Number(status.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN)
    return { vmHWMkB: kB('VmHWM'), vmRSSkB: kB('VmRSS') }
  } catch {
    return null
  }
}

// ---- the report's number formats ----------------------------------------------------------------

export const kb = (b) => `${(b / 1000).toFixed(1)} KB`
export const ms = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(1)) + ' ms'
export const us = (ns) => (ns / 1000 < 10 ? (ns / 1000).toFixed(2) : (ns / 1000).toFixed(1)) + ' µs'
export const ratio = (x) => `${x.toFixed(2)}×`
export const met = (ok) => (ok ? '✅' : '❌')
export const spread = (s) => `${s.p10 < 10 ? s.p10.toFixed(2) : s.p10.toFixed(1)}–${s.p90 < 10 ? s.p90.toFixed(2) : s.p90.toFixed(1)}`

/** A Markdown table writer over `lines`: `t(...cells)` adds a row, `head(...cells)` a header and its rule. */
export function table(lines) {
  const t = (...cells) => lines.push(`| ${cells.join(' | ')} |`)
  const head = (...cells) => { t(...cells); t(...cells.map(() => '---')) }
  return { t, head }
}
