// The demo: the backup service serving the demo page (www/ at /, pkg/ at
// /pkg/) and its API on loopback. Node built-ins only.
//
//   npm run demo                    # builds pkg/ and the service; http://127.0.0.1:8080/
//   PORT=0 node scripts/demo.mjs    # any free port (pkg/ must be built)
//
// State lives in .demo/ at the repository root: the service's SQLite database
// and KMS key file, and the API key of the client `demo` (managed backups),
// created on the first run and saved to .demo/demo-client.key (mode 0600).
// The service gives that key to the page at /demo-config.json, which it
// serves only on loopback. Delete .demo/ to start over.
//
// Tests start it in-process:
//   const { url, apiKey, pid, close } = await startDemo({ port: 0, dataDir })
// (`build: false` to use the binary as it is; `profile: 'debug'` for target/debug/.)

import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import { chmodSync, existsSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const KEY_FILE = 'demo-client.key'
const DATABASE_FILE = 'wallet-backup.db'
const KEY_PATTERN = /^wbk_live_[A-Za-z0-9_-]{43}$/
const LISTENING = /^listening on (http:\/\/\S+)$/m

/** The service binary of a `profile` build, in $CARGO_TARGET_DIR (relative to the repository root) or target/. */
function serviceBinary(profile) {
  const target = process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target')
  return join(target, profile, process.platform === 'win32' ? 'wallet-backup-service.exe' : 'wallet-backup-service')
}

function checkProfile(profile) {
  if (profile !== 'release' && profile !== 'debug') throw new Error(`demo: profile must be 'release' or 'debug', got ${profile}`)
}

/** The environment of the service: the demo's own data directory, whatever the shell has set. */
function serviceEnv() {
  const env = { ...process.env }
  for (const name of ['DATABASE_URL', 'WALLET_BACKUP_DATA_DIR', 'WALLET_BACKUP_KMS_FILE']) delete env[name]
  return env
}

/** Runs a command to its end; rejects with its stderr's tail when it fails. */
function run(cmd, args, { echo = false } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: serviceEnv(), stdio: ['ignore', 'pipe', echo ? 'inherit' : 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-8000)))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (code === 0) resolvePromise(stdout)
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? signal})${stderr ? `:\n${stderr.trim()}` : ''}`))
    })
  })
}

/** `cargo build -p wallet-backup-service [--release]`. */
export async function buildService({ profile = 'release', echo = false } = {}) {
  checkProfile(profile)
  await run('cargo', ['build', '-p', 'wallet-backup-service', ...(profile === 'release' ? ['--release'] : [])], { echo })
}

/**
 * The demo client's API key: read from `<dataDir>/demo-client.key`, or, on
 * the first run (or after the database was deleted), a new client `demo`
 * whose key is saved there with mode 0600.
 */
async function demoKey(bin, dataDir) {
  const keyFile = join(dataDir, KEY_FILE)
  if (existsSync(keyFile) && existsSync(join(dataDir, DATABASE_FILE))) {
    const key = readFileSync(keyFile, 'utf8').trim()
    if (KEY_PATTERN.test(key)) return key
  }
  const key = (await run(bin, ['--data-dir', dataDir, 'create-client', '--name', 'demo'])).trim()
  if (!KEY_PATTERN.test(key)) throw new Error('demo: create-client did not print an API key')
  writeFileSync(keyFile, `${key}\n`, { mode: 0o600 })
  chmodSync(keyFile, 0o600)
  return key
}

/** Starts the service; resolves once it printed its address. */
async function launch({ port, dataDir, build, profile, logs }) {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`demo: bad port ${port}`)
  checkProfile(profile)
  const pkg = join(ROOT, 'pkg')
  if (!existsSync(pkg) || !statSync(pkg).isDirectory()) {
    throw new Error('demo: pkg/ is missing; build it first with `node scripts/build.mjs` (`npm run demo` does)')
  }
  if (build) await buildService({ profile, echo: logs === 'inherit' })
  const bin = serviceBinary(profile)
  if (!existsSync(bin)) {
    const flag = profile === 'release' ? ' --release' : ''
    throw new Error(`demo: ${bin} is missing; run cargo build -p wallet-backup-service${flag}`)
  }
  const apiKey = await demoKey(bin, dataDir)
  const keyFile = join(dataDir, KEY_FILE)
  const args = ['--data-dir', dataDir, 'serve', '--listen', `127.0.0.1:${port}`,
    '--www', join(ROOT, 'www'), '--pkg', pkg, '--demo-key-file', keyFile]
  const child = spawn(bin, args, { cwd: ROOT, env: serviceEnv(), stdio: ['ignore', 'pipe', logs] })

  // The service prints `listening on http://ADDR` on stdout; its logs go to stderr.
  let stderr = ''
  child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-16000)))
  const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })))
  const address = await new Promise((resolvePromise, reject) => {
    let out = ''
    const timer = setTimeout(() => fail(new Error('demo: the service did not start within 60 s')), 60_000)
    function fail(error) {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(error)
    }
    child.once('error', fail)
    exited.then(({ code, signal }) => {
      const hint = stderr.includes('not a key of any client') ? `\n(delete ${dataDir} to start over)` : ''
      fail(new Error(`demo: the service exited (${code ?? signal})${stderr ? `:\n${stderr.trim()}` : ''}${hint}`))
    })
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', function onData(d) {
      out += d
      const m = out.match(LISTENING)
      if (!m) return
      clearTimeout(timer)
      child.stdout.off('data', onData)
      child.stdout.resume()
      resolvePromise(m[1])
    })
  })
  return { url: `${address}/`, apiKey, child, exited }
}

/**
 * Starts the demo (the service with www/, pkg/ and /demo-config.json) on
 * 127.0.0.1. Builds the service first unless `build` is false.
 *
 * @param {{ port?: number, dataDir?: string, build?: boolean, profile?: 'release' | 'debug' }} [options]
 *   port 0 picks a free port; dataDir defaults to .demo/ at the repository root; profile
 *   (default 'release') picks the cargo build the binary comes from
 * @returns {Promise<{ url: string, apiKey: string, pid: number, close: () => Promise<void> }>}
 */
export async function startDemo({ port = 0, dataDir = join(ROOT, '.demo'), build = true, profile = 'release' } = {}) {
  const options = { port, dataDir: resolve(dataDir), build, profile, logs: 'pipe' }
  const { url, apiKey, child, exited } = await launch(options)
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
  }
  return { url, apiKey, pid: child.pid, close }
}

function isMainScript() {
  if (!process.argv[1]) return false
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href
  } catch {
    return false
  }
}

if (isMainScript()) {
  const raw = process.env.PORT || '8080'
  const port = Number(raw)
  if (!/^\d+$/.test(raw) || port > 65535) {
    console.error(`demo: PORT must be a number from 0 to 65535, got ${JSON.stringify(raw)}`)
    process.exit(1)
  }
  let demo
  try {
    console.error('demo: cargo build -p wallet-backup-service --release')
    demo = await launch({ port, dataDir: join(ROOT, '.demo'), build: true, profile: 'release', logs: 'inherit' })
  } catch (err) {
    console.error(err.message)
    process.exit(1)
  }
  console.log(`wallet-backup demo: ${demo.url}`)
  console.log(`  data in ${join(ROOT, '.demo')}; API key in .demo/${KEY_FILE}; Ctrl-C stops`)
  // The service stops gracefully on either signal; this process ends with it.
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => demo.child.kill(signal))
  }
  const { code, signal } = await demo.exited
  process.exit(code ?? 128 + (constants.signals[signal] ?? 0))
}
