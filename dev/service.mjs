// The one way to start the backup service (and its development Firebase
// issuer) from JavaScript: used by the tests, the bench and the demo. It
// knows how the binary is built and where it is, starts a command and waits
// for `listening on http://ADDR` (or https://) on its stdout, stops it, and runs the
// one-shot commands (create-client, set-passkey-rp, …). Node built-ins only.
//
//   const svc = await startService({ dataDir, serveArgs: ['--rate-limit', '0'] })
//   svc.url                                   // http://127.0.0.1:PORT
//   const key = await createClient({ dataDir, name: 'c1' })
//   await stopProcess(svc.child)              // SIGTERM, then SIGKILL after 10 s
//
//   const p = new ServiceProcess('main', { dataDir })   // restartable on the same port
//   await p.start(); await p.kill(); await p.start()
//
// Every process started here is SIGKILLed by killAll() (the bench's watchdog
// and signal handlers call it).
//
//   node dev/service.mjs build [release]      (npm run build:service: the tests' debug build)
//
// Every build here has the service's `dev` feature (DEV_FEATURE): the tests, the demo and the
// bench use its development Firebase issuer and demo settings.

import { spawn } from 'node:child_process'
import { closeSync, openSync, realpathSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

const PACKAGE = 'wallet-backup-service'
const LISTENING = /^listening on (https?:\/\/\S+)$/m
const KEY_PATTERN = /^wbk_live_[A-Za-z0-9_-]{43}$/

// ---- the binary ---------------------------------------------------------------------------------

/**
 * The service's `dev` feature: the development-only parts (the development Firebase issuer,
 * the demo settings), which the tests, the demo and the bench use and a production build never
 * has. Spelled `--features dev`, which cargo gives every selected package that has the feature
 * (only the service has one). Not `wallet-backup-service/dev`: the service has itself as a
 * dev-dependency, so cargo reads that as "the feature of the dependency", and a `cargo build`
 * (no dev-dependencies) then builds the service without it, silently.
 */
export const DEV_FEATURE = ['--features', 'dev']

/**
 * `cargo test --workspace` as the Rust tests run it (`npm run test:rust`), with the service's
 * `dev` feature named (its tests turn it on anyway, through the service's dev-dependency on
 * itself, so the feature set, and what is compiled, is the same).
 */
export const WORKSPACE_TEST = ['test', '--workspace', ...DEV_FEATURE]

/**
 * The cargo command that builds the service binary of `profile`, always with the `dev` feature:
 * - `debug` (tests, the demo's e2e test): the binary the Rust tests' build
 *   (WORKSPACE_TEST) makes for the service's integration tests, by that same
 *   build, so after the Rust tests this is a no-op. `cargo build -p
 *   wallet-backup-service` resolves other features (no dev-dependencies, one
 *   package) and compiled the service's dependency tree a second time (71 s
 *   on a fresh 2-core machine); so does any narrower `cargo test`. Run alone
 *   first, it builds every test of the workspace, which the Rust tests need
 *   anyway.
 * - `release` (the demo, the bench): `cargo build --release`, with `packages`
 *   built in the same command (the bench's native crate), so they share one
 *   feature resolution.
 */
export function serviceBuildCommand({ profile = 'debug', packages = [] } = {}) {
  if (profile === 'debug') {
    if (packages.length) throw new Error('dev/service.mjs: extra packages are for the release build only')
    // Exactly the Rust tests' build: narrowing it (`--test binary`, `-p …`) changes the features.
    return ['cargo', [...WORKSPACE_TEST, '--no-run']]
  }
  if (profile === 'release') {
    return ['cargo', ['build', '--release', '-p', PACKAGE, ...packages.flatMap((p) => ['-p', p]), ...DEV_FEATURE]]
  }
  throw new Error(`dev/service.mjs: profile must be 'debug' or 'release', got ${profile}`)
}

/**
 * Builds the service binary of `profile` (see serviceBuildCommand). `echo`:
 * cargo's output on this process's stderr; otherwise it is kept and shown
 * only when the build fails.
 */
export function buildService({ echo = true, ...options } = {}) {
  const [cmd, args] = serviceBuildCommand(options)
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', echo ? 2 : 'pipe', echo ? 'inherit' : 'pipe'] })
    let output = ''
    child.stdout?.on('data', (d) => (output = (output + d).slice(-8000)))
    child.stderr?.on('data', (d) => (output = (output + d).slice(-8000)))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (code === 0) resolvePromise()
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? signal})${output ? `:\n${output.trim()}` : ''}`))
    })
  })
}

/** cargo's output folder: $CARGO_TARGET_DIR (relative to the repository root) or target/. */
export const cargoTargetDir = () => (process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target'))

/** The service binary: $WALLET_BACKUP_SERVICE_BIN, else the `profile` build in cargo's output folder. */
export function serviceBinary(profile = 'debug') {
  if (process.env.WALLET_BACKUP_SERVICE_BIN) return resolve(process.env.WALLET_BACKUP_SERVICE_BIN)
  if (profile !== 'debug' && profile !== 'release') throw new Error(`dev/service.mjs: profile must be 'debug' or 'release', got ${profile}`)
  return join(cargoTargetDir(), profile, process.platform === 'win32' ? `${PACKAGE}.exe` : PACKAGE)
}

/** The binary with the development Firebase issuer (`dev-firebase-issuer`): for now the service's own. */
export const issuerBinary = (profile = 'debug') => serviceBinary(profile)

// ---- processes ----------------------------------------------------------------------------------

const live = new Set()

/** SIGKILLs every process started here that is still running. */
export function killAll() {
  for (const child of live) child.kill('SIGKILL')
  live.clear()
}

/** The environment of the service: the caller's without the shell's own service settings, plus `extra`. */
export function serviceEnv(extra = {}) {
  const env = { ...process.env }
  for (const name of ['DATABASE_URL', 'WALLET_BACKUP_DATA_DIR', 'WALLET_BACKUP_KMS_FILE', 'WALLET_BACKUP_ALLOWED_ORIGINS',
    'WALLET_BACKUP_KMS', 'WALLET_BACKUP_KMS_ALSO', 'WALLET_BACKUP_AWS_KMS_KEY_ID', 'WALLET_BACKUP_AWS_REGION', 'WALLET_BACKUP_AWS_ENDPOINT_URL']) delete env[name]
  return { ...env, ...extra }
}

/** `--data-dir D [--database-url U]`. */
export const backendArgs = ({ dataDir, databaseUrl = null }) => ['--data-dir', dataDir, ...(databaseUrl ? ['--database-url', databaseUrl] : [])]

/**
 * Runs a one-shot command of the binary (`create-client`, `set-passkey-rp`, …)
 * to its end: resolves to its stdout; rejects with its stderr's tail.
 */
export function runService(args, { bin = serviceBinary(), env = {}, timeoutMs = 60_000 } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, args, { cwd: ROOT, env: serviceEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-8000)))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', (e) => { clearTimeout(timer); live.delete(child); reject(e) })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      live.delete(child)
      if (code === 0) resolvePromise(stdout)
      else reject(new Error(`${bin} ${args.join(' ')} failed (${code ?? signal})${stderr ? `:\n${stderr.trim()}` : ''}`))
    })
  })
}

/**
 * `create-client` on the backend of `dataDir` (and `databaseUrl`): resolves
 * to the API key. `passkeyRpId` and `passkeyOrigins` give the client its own
 * passkey relying party; `pinGuessLimit`, its guess-limited PINs' limit (the service's default: 10).
 */
export async function createClient({ bin, dataDir, databaseUrl = null, name, managedBackups = true, firebaseProjectId = null,
  passkeyRpId = null, passkeyOrigins = [], pinGuessLimit = null, env = {} }) {
  const out = await runService([
    ...backendArgs({ dataDir, databaseUrl }),
    'create-client', '--name', name, '--managed-backups', String(managedBackups),
    ...(firebaseProjectId ? ['--firebase-project-id', firebaseProjectId] : []),
    ...(passkeyRpId ? ['--passkey-rp-id', passkeyRpId] : []),
    ...passkeyOrigins.flatMap((o) => ['--passkey-origin', o]),
    ...(pinGuessLimit !== null ? ['--pin-guess-limit', String(pinGuessLimit)] : []),
  ], { bin, env })
  const key = out.trim()
  if (!KEY_PATTERN.test(key)) throw new Error(`create-client (${name}) did not print an API key`)
  return key
}

/**
 * Spawns `bin args` and resolves once it printed `listening on http://ADDR` (https:// with TLS):
 * { child, url, port, exited, log() }. `exited` resolves to { code, signal }.
 * `log`: where its stderr (its log) goes: 'keep' (the last 20 000 characters,
 * from `log()` and in a start failure's message), 'inherit', 'ignore', or
 * { file } (appended). Rejects, with the process killed, when it exits
 * first or does not listen within `timeoutMs`.
 */
export async function startListening(args, { bin = serviceBinary(), env = {}, log = 'keep', timeoutMs = 60_000, what = 'the service' } = {}) {
  let stderr = log === 'keep' ? 'pipe' : log
  if (typeof log === 'object') stderr = openSync(log.file, 'a')
  const child = spawn(bin, args, { cwd: ROOT, env: serviceEnv(env), stdio: ['ignore', 'pipe', stderr] })
  if (typeof stderr === 'number') closeSync(stderr)
  live.add(child)
  let kept = ''
  child.stderr?.on('data', (d) => (kept = (kept + d).slice(-20_000)))
  const exited = new Promise((done) => child.once('exit', (code, signal) => { live.delete(child); done({ code, signal }) }))
  const url = await new Promise((resolvePromise, reject) => {
    let out = ''
    const tail = () => (kept ? `\n--- log (tail) ---\n${kept.slice(-4000)}` : '')
    const timer = setTimeout(() => fail(new Error(`${what} did not print its address within ${timeoutMs / 1000} s`)), timeoutMs)
    function fail(error) {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(Object.assign(new Error(`${error.message}${tail()}`), { log: kept }))
    }
    child.once('error', fail)
    exited.then(({ code, signal }) => fail(new Error(`${what} exited (${code ?? signal}) before it listened`)))
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', function onData(d) {
      out += d
      const m = LISTENING.exec(out)
      if (!m) return
      clearTimeout(timer)
      child.stdout.off('data', onData)
      child.stdout.resume()
      resolvePromise(m[1])
    })
  })
  return { child, url, port: Number(new URL(url).port), exited, log: () => kept }
}

/**
 * `serve` on `listen` (default 127.0.0.1:0, a free port) with the backend of
 * `dataDir` (and `databaseUrl`) and `serveArgs`; see startListening for the rest.
 */
export function startService({ dataDir, databaseUrl = null, listen = '127.0.0.1:0', serveArgs = [], ...options }) {
  return startListening([...backendArgs({ dataDir, databaseUrl }), 'serve', '--listen', listen, ...serveArgs], options)
}

/** `dev-firebase-issuer` for `projectId` on 127.0.0.1:0 (a DEVELOPMENT stand-in for Google's token issuer). */
export function startIssuer({ projectId, bin = issuerBinary(), ...options }) {
  return startListening(['dev-firebase-issuer', '--listen', '127.0.0.1:0', '--project-id', projectId],
    { what: 'the development Firebase issuer', ...options, bin })
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code, or the signal. */
export function stopProcess(child, { graceMs = 10_000 } = {}) {
  return new Promise((resolvePromise) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolvePromise(child.exitCode ?? child.signalCode)
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolvePromise(code ?? signal)
    })
    child.kill('SIGTERM')
  })
}

/**
 * One service that can be killed (SIGKILL) and started again on the same
 * port and data: `start()` serves on a free port the first time, then on
 * that port again. `rateLimit` and `rateBurst` are passed as
 * `--rate-limit`/`--rate-burst` when given. Its stderr is kept (`log`).
 */
export class ServiceProcess {
  constructor(name, { bin = serviceBinary(), dataDir, databaseUrl = null, rateLimit = null, rateBurst = null, serveArgs = [] }) {
    Object.assign(this, { name, bin, dataDir, databaseUrl, rateLimit, rateBurst, serveArgs })
    this.port = 0
    this.url = null
    this.proc = null // startService's handle while it runs
    this.pastLog = '' // the stderr of its earlier runs
  }

  get running() {
    return this.proc !== null
  }

  /** Its stderr (the request log) over every run, the last 20 000 characters. */
  get log() {
    return (this.pastLog + (this.proc?.log() ?? '')).slice(-20_000)
  }

  #ended(log) {
    this.pastLog = (this.pastLog + log).slice(-20_000)
  }

  /** `--data-dir D [--database-url U]`. */
  backendArgs() {
    return backendArgs(this)
  }

  /** Starts `serve`; resolves once it listens. */
  async start() {
    if (this.proc) throw new Error(`service ${this.name} is already running`)
    const serveArgs = [
      ...(this.rateLimit !== null ? ['--rate-limit', String(this.rateLimit)] : []),
      ...(this.rateBurst !== null ? ['--rate-burst', String(this.rateBurst)] : []),
      ...this.serveArgs,
    ]
    let lastError
    // A restart may race the kernel releasing the port of the killed process: retry briefly.
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        const proc = await startService({ bin: this.bin, dataDir: this.dataDir, databaseUrl: this.databaseUrl,
          listen: `127.0.0.1:${this.port}`, serveArgs, what: `service ${this.name}`, timeoutMs: 30_000 })
        this.proc = proc
        proc.exited.then(() => {
          if (this.proc !== proc) return
          this.#ended(proc.log())
          this.proc = null
        })
        this.url = proc.url
        this.port = proc.port
        return this
      } catch (e) {
        lastError = e
        if (e.log) this.#ended(e.log)
        if (!this.port || !/in use|AddrInUse/i.test(e.message)) throw e
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    throw lastError
  }

  /** SIGKILL; resolves once the process is gone. */
  async kill() {
    const proc = this.proc
    if (!proc) return
    proc.child.kill('SIGKILL')
    await proc.exited
    if (this.proc === proc) {
      this.#ended(proc.log())
      this.proc = null
    }
  }

  /** `create-client` on this service's backend: resolves to the API key. */
  createClient(name, options = {}) {
    return createClient({ bin: this.bin, dataDir: this.dataDir, databaseUrl: this.databaseUrl, name, ...options })
  }

  /** `set-passkey-rp`: gives the client `name` its own passkey relying party, or with `clear` takes it away. */
  async setPasskeyRp(name, { rpId = null, origins = [], clear = false } = {}) {
    await runService([
      ...this.backendArgs(),
      'set-passkey-rp', name,
      ...(clear ? ['--clear'] : ['--rp-id', rpId, ...origins.flatMap((o) => ['--origin', o])]),
    ], { bin: this.bin })
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  const [command, profile = 'debug'] = process.argv.slice(2)
  if (command !== 'build') {
    console.error('usage: node dev/service.mjs build [debug|release]')
    process.exit(2)
  }
  const [cmd, args] = serviceBuildCommand({ profile })
  console.error(`${cmd} ${args.join(' ')}`)
  await buildService({ profile }).catch((e) => {
    console.error(e.message)
    process.exit(1)
  })
  console.log(serviceBinary(profile))
}
