// The demo: the backup service serving the demo page (www/ at /, pkg/ at
// /pkg/) and its API on loopback, with the development Firebase issuer
// beside it. Node built-ins only.
//
//   npm run demo                    # builds pkg/ and the service; http://localhost:8080/
//   PORT=0 node scripts/demo.mjs    # any free port (pkg/ must be built)
//
// Open the page at http://localhost:<port>/ (the URL it prints): passkeys
// need a domain, and the service's passkey relying party is `localhost`
// with the origin http://localhost:<port>, so 127.0.0.1 works for the
// password and Firebase methods only. The port is fixed before the service
// starts (PORT=0: a free one is picked first).
//
// Firebase: `wallet-backup-service dev-firebase-issuer` (a DEVELOPMENT
// stand-in for Google's token issuer, loopback only) runs as a child process
// and stops with the demo; the service checks ID tokens against its JWK Set,
// and the page signs a test user in with it (its URL is in /demo-config.json).
//
// Google Drive, iCloud and the custom method: DEVELOPMENT stand-ins
// (dev/stand-ins.mjs) run in this process on loopback: a local
// Drive v3 server, a local CloudKit Web Services server and an "app server"
// key-value store; the service names them to the page (`serve --demo-stand-in`).
//
// State lives in .demo/ at the repository root: the service's SQLite database
// and KMS key file, and the API key of the client `demo` (managed backups,
// Firebase project `wallet-backup-demo`), created on the first run and saved
// to .demo/demo-client.key (mode 0600). The service gives that key to the
// page at /demo-config.json, which it serves only on loopback. Delete .demo/
// to start over.
//
// Tests start it in-process:
//   const { url, apiKey, issuerUrl, pid, close } = await startDemo({ port: 0, dataDir })
// (`build: false` to use the binary as it is; `profile: 'debug'` for target/debug/.)

import { constants } from 'node:os'
import { chmodSync, existsSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createServer } from 'node:net'
import { pathToFileURL } from 'node:url'

import { ROOT, buildService, createClient, runService, serviceBinary, serviceBuildCommand, startIssuer, startService, stopProcess } from '../dev/service.mjs'
import { startStandIns } from '../dev/stand-ins.mjs'

const KEY_FILE = 'demo-client.key'
const DATABASE_FILE = 'wallet-backup.db'
const KEY_PATTERN = /^wbk_live_[A-Za-z0-9_-]{43}$/
/** The Firebase project of the demo client and of the development issuer's tokens. */
export const FIREBASE_PROJECT_ID = 'wallet-backup-demo'

function checkProfile(profile) {
  if (profile !== 'release' && profile !== 'debug') throw new Error(`demo: profile must be 'release' or 'debug', got ${profile}`)
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
    if (KEY_PATTERN.test(key)) return { key, created: false }
  }
  const key = await createClient({ bin, dataDir, name: 'demo', firebaseProjectId: FIREBASE_PROJECT_ID })
  writeFileSync(keyFile, `${key}\n`, { mode: 0o600 })
  chmodSync(keyFile, 0o600)
  return { key, created: true }
}

/**
 * Gives an existing demo client (from a .demo/ made before the demo had the
 * Firebase method) the demo's Firebase project: its id from the running
 * service, then `set-firebase-project` (the SQLite database is in WAL mode,
 * so this second writer waits its turn).
 */
async function setFirebaseProject(bin, dataDir, url, apiKey) {
  const response = await fetch(new URL('/api/v3/clients/me', url), { headers: { Authorization: `Bearer ${apiKey}` } })
  if (!response.ok) throw new Error(`demo: GET /api/v3/clients/me answered ${response.status}`)
  const { id } = await response.json()
  if (typeof id !== 'string' || !id) throw new Error('demo: GET /api/v3/clients/me gave no client id')
  await runService(['--data-dir', dataDir, 'set-firebase-project', '--client-id', id, '--firebase-project-id', FIREBASE_PROJECT_ID], { bin })
}

/** A port that is free on 127.0.0.1 now (the service binds it a moment later). */
function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolvePromise(port))
    })
  })
}

/**
 * Starts the development Firebase issuer, then the service; resolves once
 * both printed their addresses. On a failure, whatever was started is stopped.
 */
async function launch({ port, dataDir, build, profile, logs }) {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`demo: bad port ${port}`)
  checkProfile(profile)
  const pkg = join(ROOT, 'pkg')
  if (!existsSync(pkg) || !statSync(pkg).isDirectory()) {
    throw new Error('demo: pkg/ is missing; build it first with `node scripts/build.mjs` (`npm run demo` does)')
  }
  if (build) await buildService({ profile, echo: logs === 'inherit' })
  const bin = serviceBinary(profile)
  if (!existsSync(bin)) throw new Error(`demo: ${bin} is missing; run ${serviceBuildCommand({ profile }).flat().join(' ')}`)
  // WebAuthn's origin must be known before the service starts: fix the port now.
  const servicePort = port === 0 ? await freePort() : port
  const origin = `http://localhost:${servicePort}`
  const { key: apiKey, created } = await demoKey(bin, dataDir)

  const log = logs === 'inherit' ? 'inherit' : 'keep'
  const issuer = await startIssuer({ projectId: FIREBASE_PROJECT_ID, bin, log })
  const issuerUrl = issuer.url
  let service
  let standIns
  try {
    standIns = await startStandIns()
    const keyFile = join(dataDir, KEY_FILE)
    const serveArgs = ['--www', join(ROOT, 'www'), '--pkg', pkg, '--demo-key-file', keyFile,
      '--passkey-rp-id', 'localhost', '--passkey-origin', origin,
      '--firebase-jwks-url', `${issuerUrl}/jwks`, '--demo-firebase-issuer', issuerUrl,
      ...Object.entries(standIns.origins).flatMap(([name, origin]) => ['--demo-stand-in', `${name}=${origin}`])]
    try {
      service = await startService({ bin, dataDir, listen: `127.0.0.1:${servicePort}`, serveArgs, log, what: 'demo: the service' })
    } catch (err) {
      if (err.log?.includes('not a key of any client')) err.message += `\n(delete ${dataDir} to start over)`
      throw err
    }
    if (!created) await setFirebaseProject(bin, dataDir, service.url, apiKey)
  } catch (err) {
    if (service) await stopProcess(service.child)
    await stopProcess(issuer.child)
    await standIns?.close()
    throw err
  }
  // The issuer and the stand-ins stop with the service.
  service.exited.then(() => Promise.all([stopProcess(issuer.child), standIns.close()]))
  return { url: `${origin}/`, apiKey, issuerUrl, standIns: standIns.origins, service, issuer, closeStandIns: standIns.close }
}

/**
 * Starts the demo (the service with www/, pkg/ and /demo-config.json) on
 * 127.0.0.1, and the development Firebase issuer it trusts. Builds the
 * service first unless `build` is false.
 *
 * @param {{ port?: number, dataDir?: string, build?: boolean, profile?: 'release' | 'debug' }} [options]
 *   port 0 picks a free port; dataDir defaults to .demo/ at the repository root; profile
 *   (default 'release') picks the cargo build the binary comes from
 * @returns {Promise<{ url: string, apiKey: string, issuerUrl: string, standIns: Record<string, string>, pid: number, close: () => Promise<void> }>}
 *   url is http://localhost:<port>/ (open the page there: passkeys need the name);
 *   issuerUrl the development Firebase issuer's; standIns the other stand-ins' origins
 *   by name (gdrive, icloud, app-server); pid the service's; close stops them all
 */
export async function startDemo({ port = 0, dataDir = join(ROOT, '.demo'), build = true, profile = 'release' } = {}) {
  const options = { port, dataDir: resolve(dataDir), build, profile, logs: 'pipe' }
  const { url, apiKey, issuerUrl, standIns, service, issuer, closeStandIns } = await launch(options)
  const close = async () => {
    await stopProcess(service.child)
    await stopProcess(issuer.child)
    await closeStandIns()
  }
  return { url, apiKey, issuerUrl, standIns, pid: service.child.pid, close }
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
    console.error(`demo: ${serviceBuildCommand({ profile: 'release' }).flat().join(' ')}`)
    demo = await launch({ port, dataDir: join(ROOT, '.demo'), build: true, profile: 'release', logs: 'inherit' })
  } catch (err) {
    console.error(err.message)
    process.exit(1)
  }
  console.log(`wallet-backup demo: ${demo.url}`)
  console.log(`  open it at localhost (passkeys need the name); data in ${join(ROOT, '.demo')}; API key in .demo/${KEY_FILE}`)
  console.log(`  development Firebase issuer (a stand-in for Google): ${demo.issuerUrl}`)
  for (const [name, origin] of Object.entries(demo.standIns)) console.log(`  development ${name} stand-in: ${origin}`)
  console.log('  Ctrl-C stops')
  // The service stops gracefully on either signal, and the issuer with it; this process ends with them.
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      demo.service.child.kill(signal)
      demo.issuer.child.kill(signal)
    })
  }
  const { code, signal } = await demo.service.exited
  await stopProcess(demo.issuer.child)
  await demo.closeStandIns()
  process.exit(code ?? 128 + (constants.signals[signal] ?? 0))
}
