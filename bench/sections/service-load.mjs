// Section 6 of the bench: the backup service (release build, its own process on loopback) under a
// bounded load from a second process (bench/native `load`): whole managed backups per second and
// latency at a few concurrency levels, on SQLite and PostgreSQL, and the service's peak memory.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nativeBinary } from '../native-client.mjs'
import { SERVICE, lastJson, log, newClient, onCleanup, processMemory, root, runChild, runQuiet, startService, stopService, table } from '../common.mjs'

/** A free TCP port on 127.0.0.1 (for the throwaway PostgreSQL server). */
function freePort() {
  return new Promise((resolvePromise, reject) => {
    const s = createNetServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolvePromise(port))
    })
  })
}

/**
 * A PostgreSQL server for section 6: WALLET_BACKUP_BENCH_POSTGRES (a server URL without database
 * name, like the tests' WALLET_BACKUP_TEST_POSTGRES), else a throwaway one started here with
 * scripts/pg-test-server.sh on a free port. A fresh database is created on it; returns
 * { url, drop, stop } or { skipped } when no PostgreSQL is installed.
 */
export async function postgresForBench() {
  const pgBins = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').map((v) => join('/usr/lib/postgresql', v, 'bin')).filter((b) => existsSync(join(b, 'psql'))) : []
  const psql = pgBins.length ? join(pgBins.sort().at(-1), 'psql') : 'psql'
  let server = process.env.WALLET_BACKUP_BENCH_POSTGRES
  let source = 'WALLET_BACKUP_BENCH_POSTGRES'
  let stop = () => {}
  let stopAtCleanup = { forget: () => {} }
  if (!server) {
    if (!pgBins.length) return { skipped: 'no PostgreSQL in /usr/lib/postgresql and WALLET_BACKUP_BENCH_POSTGRES not set' }
    const port = await freePort()
    const env = { ...process.env, PGPORT: String(port) }
    const script = join(root, 'scripts', 'pg-test-server.sh')
    stop = () => {
      try {
        execFileSync('bash', [script, 'stop'], { env, stdio: 'ignore' })
      } catch {}
    }
    stopAtCleanup = onCleanup(stop)
    log(`starting a throwaway PostgreSQL on 127.0.0.1:${port}`)
    server = execFileSync('bash', [script, 'start'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()
    source = `throwaway server (scripts/pg-test-server.sh, port ${port})`
  }
  server = server.replace(/\/+$/, '')
  const name = `wbbench_${Date.now().toString(36)}_${process.pid}`
  await runQuiet(psql, [`${server}/postgres`, '-v', 'ON_ERROR_STOP=1', '-q', '-c', `CREATE DATABASE ${name}`])
  const version = (await runQuiet(psql, [`${server}/postgres`, '-A', '-t', '-c', 'SHOW server_version'])).trim().split(' ')[0]
  const drop = () => runQuiet(psql, [`${server}/postgres`, '-q', '-c', `DROP DATABASE IF EXISTS ${name}`]).catch((e) => log('could not drop', name, e.message))
  // Stops the throwaway server (if this run started one) now rather than at cleanup.
  const stopNow = () => { stopAtCleanup.forget(); stop() }
  return { url: `${server}/${name}`, drop, stop: stopNow, source, version }
}

/** One backend: fresh data dir, clients, service, load run, peak memory, stop. */
async function serviceRun(label, databaseUrl) {
  const dataDir = mkdtempSync(join(tmpdir(), 'wallet-backup-bench-service-'))
  const backend = { dataDir: join(dataDir, 'data'), databaseUrl }
  let svc = null
  try {
    const keys = []
    for (let i = 0; i < SERVICE.clients; i++) keys.push(await newClient(backend, { name: `bench-${i}`, managedBackups: true }))
    const logFile = join(dataDir, 'service.log')
    svc = await startService(backend, logFile)
    const load = lastJson(await runChild(nativeBinary(), ['load', '--base', svc.url, '--levels', SERVICE.levels.join(','),
      '--max-seconds', String(SERVICE.maxSeconds), '--max-backups', String(SERVICE.maxBackups), '--warmup', String(SERVICE.warmup),
      '--share-bytes', String(SERVICE.shareBytes)], { env: { WALLET_BACKUP_BENCH_KEYS: keys.join(',') } }))
    const memory = processMemory(svc.child.pid)
    const exit = await stopService(svc.child)
    svc = null
    return { label, ...load, memory, serviceExit: exit }
  } finally {
    if (svc) await stopService(svc.child)
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/** Section 6: the load on SQLite, then on PostgreSQL. */
export async function serviceSection() {
  const out = { config: SERVICE, runs: [] }
  out.runs.push(await serviceRun('SQLite', null))
  const pg = await postgresForBench()
  if (pg.skipped) {
    log('service on PostgreSQL skipped:', pg.skipped)
    out.postgresSkipped = pg.skipped
  } else {
    try {
      out.runs.push({ ...(await serviceRun(`PostgreSQL ${pg.version}`, pg.url)), postgres: pg.source })
    } finally {
      await pg.drop()
      pg.stop()
    }
  }
  return out
}

/** Every load-run call answered as expected, and the service stopped cleanly: [name, ok, detail]. */
export function serviceLoadChecks(r) {
  const checks = []
  for (const run of r.service.runs) {
    const all = [run.warmup, ...run.levels]
    const errors = all.reduce((n, l) => n + l.errors, 0)
    const firstError = all.find((l) => l.first_error)?.first_error ?? ''
    checks.push([`service on ${run.label}: every backup call answered 201/200 with the expected status`, errors === 0 && run.levels.every((l) => l.backups > 0), errors ? `${errors} errors, first: ${firstError}` : ''])
    checks.push([`service on ${run.label}: stopped cleanly on SIGTERM`, run.serviceExit === 0, `exit ${run.serviceExit}`])
  }
  return checks
}

/** The section's Markdown lines. */
export function serviceLoadReport(r) {
  const L = []
  const { t, head } = table(L)
  const sv = r.service
  const c = sv.config
  L.push(`## 6. Backup service under load (release build, own process, loopback; ${c.clients} clients, \`--rate-limit 0\`)`, '')
  L.push(`Whole managed backup = create pair (${c.shareBytes}-character custodian share) → PUT cipherText (\`wbk1.\` envelope) → confirm, over keep-alive HTTP/1.1 from a second process (\`wallet-backup-bench-native load\`). ` +
    `Each level: at most ${c.maxBackups} backups or ${c.maxSeconds} s; one connection per worker, worker *w* uses client *w* mod ${c.clients}. Latencies in ms, p50 / p99.`, '')
  head('Database', 'Concurrency', 'Backups', 'Value: backups/s', 'Whole backup p50 / p99', 'create', 'cipherText', 'confirm', 'Errors', 'Service peak RSS (VmHWM)')
  const lat = (s) => (s ? `${s.p50.toFixed(2)} / ${s.p99.toFixed(2)}` : '—')
  for (const run of sv.runs) {
    run.levels.forEach((l, i) => {
      t(i ? '' : run.label, l.concurrency, l.backups, `**${l.backups_per_s.toFixed(0)}**`, lat(l.backup_ms), lat(l.create_ms), lat(l.cipher_text_ms), lat(l.confirm_ms), l.errors,
        i ? '' : (run.memory ? `${(run.memory.vmHWMkB / 1024).toFixed(1)} MiB` : 'n/a'))
    })
  }
  L.push('')
  const pgRun = sv.runs.find((x) => x.postgres)
  L.push(`SQLite: the default file in a fresh temp data dir (WAL, synchronous=FULL). ${sv.postgresSkipped ? `PostgreSQL: **skipped** (${sv.postgresSkipped}).` : `PostgreSQL: ${pgRun.postgres}, a fresh database, fsync on.`} ` +
    `The load generator shares the machine's ${r.meta.cpus} cores with the service (and PostgreSQL). Peak RSS is the service's VmHWM after all levels (warm-up of ${c.warmup} backups included). No timing target.`, '')

  return L
}
