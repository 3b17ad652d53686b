// Section 10 of the bench: a whole managed password backup (the module in Node.js through
// `Portal`, against the release service on SQLite) with each KMS backend of the service, in the
// same interleaved rounds: backups per second and p50/p99. One entry of BACKENDS per backend.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { summary } from '../page/measure.js'
import { QUICK, ms, newClient, onCleanup, pkg, serviceBinary, startService, stopService, table } from '../common.mjs'

const RUNS = QUICK ? 20 : 150

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolvePromise, reject) => {
    const s = createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolvePromise(port))
    })
  })
}

/** Resolves once 127.0.0.1:`port` accepts a connection (60 s at most). */
async function waitForPort(port) {
  const until = Date.now() + 60_000
  while (Date.now() < until) {
    const ok = await new Promise((r) => {
      const c = connect(port, '127.0.0.1', () => { c.end(); r(true) })
      c.on('error', () => r(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`)
}

/**
 * AWS KMS as moto's server implements it (`python3 -m moto.server`, from scripts/setup.sh) on a
 * free loopback port, with a key made through the AWS SDK (boto3, a dependency of moto).
 */
async function motoBackend() {
  const port = await freePort()
  const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' })
  const stopAtCleanup = onCleanup(() => child.kill('SIGKILL'))
  await waitForPort(port)
  const url = `http://127.0.0.1:${port}`
  const credentials = { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_EC2_METADATA_DISABLED: 'true' }
  const arn = execFileSync('python3', ['-c',
    `import boto3; print(boto3.client('kms', endpoint_url='${url}', region_name='us-east-1').create_key()['KeyMetadata']['Arn'])`],
  { env: { ...process.env, ...credentials }, encoding: 'utf8' }).trim()
  return {
    env: { ...credentials, WALLET_BACKUP_KMS: 'aws', WALLET_BACKUP_AWS_KMS_KEY_ID: arn, WALLET_BACKUP_AWS_REGION: 'us-east-1', WALLET_BACKUP_AWS_ENDPOINT_URL: url },
    stop: () => { stopAtCleanup.forget(); child.kill('SIGKILL') },
  }
}

/**
 * A PKCS#11 token: SoftHSM2 (from scripts/setup.sh) with a token made for the run in a temporary
 * directory, and the master key made by the service's own `kms pkcs11 create-key`.
 */
async function softhsmBackend() {
  const dir = mkdtempSync(join(tmpdir(), 'wallet-backup-bench-hsm-'))
  mkdirSync(join(dir, 'tokens'))
  writeFileSync(join(dir, 'softhsm2.conf'), `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\n`)
  writeFileSync(join(dir, 'pin'), '1234', { mode: 0o600 })
  const env = {
    SOFTHSM2_CONF: join(dir, 'softhsm2.conf'),
    WALLET_BACKUP_KMS: 'pkcs11',
    WALLET_BACKUP_PKCS11_TOKEN: 'bench',
    WALLET_BACKUP_PKCS11_PIN_FILE: join(dir, 'pin'),
    WALLET_BACKUP_PKCS11_KEY_LABEL: 'master',
  }
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--so-pin', '5678', '--pin', '1234'], { env: { ...process.env, ...env }, stdio: 'ignore' })
  execFileSync(serviceBinary(), ['kms', 'pkcs11', 'create-key'], { env: { ...process.env, ...env }, stdio: 'ignore' })
  return { env, stop: () => rmSync(dir, { recursive: true, force: true }) }
}

/**
 * The backends measured: a name and `start()`, which resolves { env, stop }: the service's
 * environment selecting the backend (the global flags' variables) and how to stop what it started.
 */
export const BACKENDS = [
  { name: 'local (key file)', start: async () => ({ env: { WALLET_BACKUP_KMS: 'local' }, stop: () => {} }) },
  { name: 'AWS KMS (moto server, loopback)', start: motoBackend },
  { name: 'PKCS#11 (SoftHSM2 token)', start: softhsmBackend },
]

/** Section 10: the same password backup against one service per backend, interleaved rounds. */
export async function kmsSection() {
  const { Portal } = await import(pathToFileURL(join(pkg, 'node', 'index.mjs')).href)
  const shares = JSON.stringify({ secp256k1: { id: 'bench', share: 'ab'.repeat(32) } })
  const password = { passwordStorage: { password: 'correct horse battery staple' } }
  const runs = []
  try {
    for (const backend of BACKENDS) {
      const dir = mkdtempSync(join(tmpdir(), 'wallet-backup-bench-kms-'))
      const run = { backend, dir, samples: [], started: null, svc: null }
      runs.push(run)
      run.started = await backend.start()
      const data = { dataDir: join(dir, 'data') }
      const apiKey = await newClient(data, { name: 'bench-kms', env: { RUST_LOG: 'warn', ...run.started.env } })
      run.svc = await startService(data, join(dir, 'service.log'), [], run.started.env)
      run.apiKey = apiKey
    }
    let recoveredOk = true
    for (let round = -2; round < RUNS; round++) {
      for (const run of runs) {
        const state = { shares }
        const keychain = { getShares: async () => state.shares, setShares: async (v) => void (state.shares = v) }
        const portal = new Portal({ apiKey: run.apiKey, apiHost: run.svc.url, keychain })
        const t = performance.now()
        await portal.backupWallet('password', null, password)
        const elapsed = performance.now() - t
        if (round >= 0) run.samples.push(elapsed)
        if (round === -1) {
          state.shares = ''
          await portal.recoverWallet('', 'password', null, password)
          if (state.shares !== shares) recoveredOk = false
        }
      }
    }
    const out = { runs: RUNS, recoveredOk, backends: {} }
    for (const run of runs) {
      const s = summary(run.samples)
      const sorted = [...run.samples].sort((a, b) => a - b)
      const p99 = sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]
      const total = run.samples.reduce((a, b) => a + b, 0)
      out.backends[run.backend.name] = { p50: s.median, p99, perSecond: (run.samples.length * 1000) / total, n: s.n }
    }
    return out
  } finally {
    for (const run of runs) {
      if (run.svc) await stopService(run.svc.child)
      if (run.started) run.started.stop()
      rmSync(run.dir, { recursive: true, force: true })
    }
  }
}

/** Every backend's warm-up recovery restored the shares: [name, ok, detail]. */
export function kmsChecks(r) {
  return [['section 10: a backup made with each KMS backend recovers', r.kms.recoveredOk]]
}

/** The section's Markdown lines. */
export function kmsReport(r) {
  const L = []
  const { t, head } = table(L)
  L.push(`## 10. A whole managed password backup per KMS backend (Node.js, \`Portal\`, release service on SQLite, loopback, ${r.kms.runs} interleaved rounds, one at a time)`, '')
  head('KMS backend', 'Backups/s', 'p50', 'p99')
  for (const [name, b] of Object.entries(r.kms.backends)) t(name, b.perSecond.toFixed(1), `**${ms(b.p50)}**`, ms(b.p99))
  L.push('', 'A backup: Argon2id in wasm, then create → read back → cipherText → confirm; the service wraps the custodian share\'s data key once (create) and unwraps it once (read back), so a remote KMS adds two round trips. moto runs in one Python process on the same 2 cores. No timing target.', '')
  return L
}
