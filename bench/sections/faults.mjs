// Section 9 of `npm run bench`: the backup service (release binary) under faults, with a load of
// managed backups in which every 2xx is read back at once:
//   - kill -9 of the service in the middle of the load, then a restart on the same data;
//   - the disk filling up under the load (a 32 MiB tmpfs; needs root to mount, else skipped
//     with the reason), then space returning, then a restart;
//   - an attacker holding stalled connections (partial request heads, re-opened as soon as the
//     service closes them) from 20 addresses, against the same load without the attack.
// Figures per run: backups acknowledged, acknowledged ones lost after the restart (must be 0),
// 2xx answers a re-read contradicted (must be 0), 503 refusals, other failures, latency of the
// load's writes against the same load without the fault, and the service's peak memory.
// Starts the release service through bench/common.mjs (dev/service.mjs); cleans up after itself.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeSync, openSync, closeSync, unlinkSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { quantile } from '../page/measure.js'
import { newClient, processMemory, startService, stopService } from '../common.mjs'
import { KEEP_EVERYTHING, load, lostAfterRestart, sleep, tally } from '../../dev/backup-load.mjs'

function figures(t, extra = {}) {
  return {
    started: t.started,
    acknowledged: t.acked.length,
    writes: t.writes,
    contradicted: t.contradicted,
    contradictions: t.contradictions.slice(0, 5),
    refused: t.refused,
    failed: t.failed,
    failures: t.failures,
    latency: t.latencies.length ? { p50: quantile(t.latencies, 0.5), p99: quantile(t.latencies, 0.99), n: t.latencies.length } : null,
    ...extra,
  }
}

async function makeClients(backend, n) {
  const keys = []
  for (let i = 0; i < n; i++) keys.push(await newClient(backend, { name: `fault-${i}` }))
  return keys
}

// ---- kill -9 under load

async function killUnderLoad({ seconds }) {
  const dir = mkdtempSync(join(tmpdir(), 'wallet-backup-bench-kill-'))
  const backend = { dataDir: join(dir, 'data') }
  try {
    const keys = await makeClients(backend, 2)
    let svc = await startService(backend, join(dir, 'service.log'), KEEP_EVERYTHING)
    const t = tally()
    let stopped = false
    const running = load(svc.url, keys, 8, t, () => stopped, { shareBytes: 300, padding: 100 })
    await sleep(seconds * 1000)
    const memory = processMemory(svc.child.pid)
    svc.child.kill('SIGKILL')
    await sleep(500)
    stopped = true
    await running
    await stopService(svc.child)
    svc = await startService(backend, join(dir, 'service.log'), KEEP_EVERYTHING)
    const lost = await lostAfterRestart(svc.url, t.acked)
    await stopService(svc.child)
    return figures(t, { lost, memory })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// ---- the disk fills under load

function mountTmpfs(mib) {
  const dir = mkdtempSync(join(tmpdir(), 'wallet-backup-bench-disk-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0755`, 'tmpfs', dir], { stdio: ['ignore', 'ignore', 'pipe'] })
  } catch (e) {
    rmSync(dir, { recursive: true, force: true })
    return { skipped: `mount -t tmpfs refused (${String(e.stderr ?? e.message).trim() || 'not root'}): run as root to measure it` }
  }
  const unmount = () => {
    try { execFileSync('umount', ['-l', dir], { stdio: 'ignore' }) } catch {}
    rmSync(dir, { recursive: true, force: true })
  }
  return { dir, unmount }
}

/** Writes zeros into `path` until at most `leave` bytes are free on its filesystem. */
function fill(path, leave) {
  const fd = openSync(path, 'w')
  const block = Buffer.alloc(64 * 1024)
  const free = () => { const s = statfsSync(path); return s.bavail * s.bsize }
  try {
    while (free() > leave + block.length) writeSync(fd, block)
    const rest = Math.max(0, free() - leave)
    if (rest) writeSync(fd, block, 0, Math.min(rest, block.length))
  } catch {} finally {
    closeSync(fd)
  }
}

async function diskFills({ seconds }) {
  const disk = mountTmpfs(32)
  if (disk.skipped) return { skipped: disk.skipped }
  const data = join(disk.dir, 'data')
  const backend = { dataDir: data }
  try {
    mkdirSync(data, { mode: 0o700 })
    const keys = await makeClients(backend, 2)
    const log = join(tmpdir(), `wallet-backup-bench-disk-${process.pid}.log`)
    let svc = await startService(backend, log, KEEP_EVERYTHING)
    const filler = join(disk.dir, 'filler')
    fill(filler, 3_000_000)
    const t = tally()
    const shape = { shareBytes: 64_000, padding: 64_000 }
    const deadline = Date.now() + seconds * 4000
    await load(svc.url, keys, 4, t, () => t.refused >= 40 || Date.now() > deadline, shape)
    const memory = processMemory(svc.child.pid)
    const full = figures(t)
    // Space returns: the same service takes writes again.
    unlinkSync(filler)
    const after = tally()
    const until = Date.now() + seconds * 1000
    await load(svc.url, keys, 4, after, () => Date.now() > until, { shareBytes: 300, padding: 100 })
    await stopService(svc.child)
    svc = await startService(backend, log, KEEP_EVERYTHING)
    const lost = await lostAfterRestart(svc.url, [...t.acked, ...after.acked])
    await stopService(svc.child)
    rmSync(log, { force: true })
    return { ...full, lost, memory, afterSpaceReturned: figures(after) }
  } finally {
    disk.unmount()
  }
}

// ---- stalled connections

/**
 * Holds up to `perAddress` connections from each of `addresses` (127.0.0.2, …), each having sent
 * a partial request head; a connection the service closes is opened again at once. Returns
 * { stop(): figures } with how many the service closed and how long the longest one lasted.
 */
function stallConnections(port, addresses, perAddress) {
  let stopped = false
  const open = new Set()
  const stats = { opened: 0, closedByService: 0, longestHeldMs: 0, refusedAtOnce: 0 }
  const one = (localAddress) => {
    if (stopped) return
    const started = performance.now()
    const socket = connect({ host: '127.0.0.1', port, localAddress })
    open.add(socket)
    stats.opened++
    let answered = false
    socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n'))
    socket.on('data', () => { answered = true })
    socket.on('error', () => {})
    socket.on('close', () => {
      open.delete(socket)
      if (stopped) return
      const held = performance.now() - started
      if (answered) stats.refusedAtOnce++
      else stats.closedByService++
      stats.longestHeldMs = Math.max(stats.longestHeldMs, held)
      setTimeout(() => one(localAddress), answered ? 50 : 0)
    })
  }
  for (let a = 0; a < addresses; a++) for (let i = 0; i < perAddress; i++) one(`127.0.0.${a + 2}`)
  return {
    stats,
    open: () => open.size,
    stop() {
      stopped = true
      for (const s of open) s.destroy()
      return { ...stats, addresses, perAddress }
    },
  }
}

async function stalledConnections({ seconds }) {
  const dir = mkdtempSync(join(tmpdir(), 'wallet-backup-bench-stall-'))
  const backend = { dataDir: join(dir, 'data') }
  const headerTimeoutMs = 10000
  try {
    const keys = await makeClients(backend, 2)
    const svc = await startService(backend, join(dir, 'service.log'),
      [...KEEP_EVERYTHING, '--header-timeout-ms', String(headerTimeoutMs)])
    const port = Number(new URL(svc.url).port)
    const shape = { shareBytes: 300, padding: 100 }
    const timed = async (t) => {
      const until = Date.now() + seconds * 1000
      await load(svc.url, keys, 4, t, () => Date.now() > until, shape)
    }
    const baseline = tally()
    await timed(baseline)
    const attack = stallConnections(port, 20, 60)
    await sleep(1000) // let the attacker's connections open
    const heldAtStart = attack.open()
    const under = tally()
    await timed(under)
    // Keep the attack on past the header timeout, so every first connection was closed by the service.
    const rest = headerTimeoutMs + 2000 - seconds * 1000 - 1000
    if (rest > 0) await sleep(rest)
    const memory = processMemory(svc.child.pid)
    const stalled = attack.stop()
    await stopService(svc.child)
    return { baseline: figures(baseline), underAttack: figures(under), stalled: { ...stalled, heldAtStart, headerTimeoutMs }, memory }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Runs the three fault runs. */
export async function faultSection({ quick = false, log = () => {} } = {}) {
  const seconds = quick ? 2 : 5
  log('faults: kill -9 under load')
  const kill = await killUnderLoad({ seconds })
  log('faults: the disk fills under load')
  const disk = await diskFills({ seconds })
  log('faults: stalled connections under load')
  const stall = await stalledConnections({ seconds })
  return { seconds, kill, disk, stall }
}

/** Whether every fault run kept its promises: nothing acknowledged lost or contradicted, no honest request failed. */
export function faultChecks(f) {
  const runs = [f.kill, f.disk.skipped ? null : f.disk, f.disk.skipped ? null : f.disk.afterSpaceReturned, f.stall.baseline, f.stall.underAttack].filter(Boolean)
  return [
    ['section 9: no acknowledged backup lost after a kill -9 or a full disk', (f.kill.lost ?? 0) + (f.disk.lost ?? 0) === 0, `lost: kill ${f.kill.lost}, disk ${f.disk.lost ?? 'skipped'}`],
    ['section 9: no 2xx contradicted by its re-read', runs.every((r) => r.contradicted === 0), runs.map((r) => r.contradictions).flat().join('; ')],
    ['section 9: honest requests under the stalled-connection attack all succeed', f.stall.underAttack.failed + f.stall.underAttack.refused === 0, JSON.stringify(f.stall.underAttack.failures)],
  ]
}

/** The section's Markdown. */
export function faultReport(f, { ms }) {
  const L = []
  const t = (...cells) => L.push(`| ${cells.join(' | ')} |`)
  const lat = (r) => (r?.latency ? `${ms(r.latency.p50)} / ${ms(r.latency.p99)}` : '—')
  const mem = (m) => (m ? `${(m.vmHWMkB / 1024).toFixed(1)} MiB` : 'n/a')
  L.push(`## 9. The service under faults (release build, SQLite, loopback; every 2xx read back at once)`, '')
  t('Run', 'Backups acknowledged', 'Acknowledged lost (must be 0)', '2xx contradicted by a re-read (must be 0)', 'Refused 503', 'Other failures', 'Write p50 / p99', 'Reference: same load without the fault', 'Peak RSS')
  t(...Array(9).fill('---'))
  const st = f.stall
  t(`kill -9 after ${f.seconds} s of 8 workers, restart`, f.kill.acknowledged, `**${f.kill.lost}**`, `**${f.kill.contradicted}**`, f.kill.refused,
    `${f.kill.failed} (calls while the service was down)`, lat(f.kill), '—', mem(f.kill.memory))
  if (f.disk.skipped) t('disk fills', `skipped: ${f.disk.skipped}`, '', '', '', '', '', '', '')
  else {
    t('disk fills (32 MiB tmpfs, 3 MB left, 64 KB shares and cipherTexts)', f.disk.acknowledged, `**${f.disk.lost}**`, `**${f.disk.contradicted}**`, f.disk.refused, f.disk.failed, lat(f.disk), '—', mem(f.disk.memory))
    const a = f.disk.afterSpaceReturned
    t('… space returned, same process, 300 B shares', a.acknowledged, '(counted above)', `**${a.contradicted}**`, a.refused, a.failed, lat(a), lat(st.baseline), '')
  }
  t(`stalled connections: ${st.stalled.addresses} addresses × ${st.stalled.perAddress}`, st.underAttack.acknowledged, '—', `**${st.underAttack.contradicted}**`, st.underAttack.refused,
    st.underAttack.failed, `**${lat(st.underAttack)}**`, lat(st.baseline), mem(st.memory))
  L.push('')
  L.push(`Stalled connections: ${st.stalled.heldAtStart} held open at once when the load started; the service closed ${st.stalled.closedByService} ` +
    `(each re-opened at once), the longest after ${(st.stalled.longestHeldMs / 1000).toFixed(1)} s (header timeout ${st.stalled.headerTimeoutMs / 1000} s); ` +
    `${st.stalled.refusedAtOnce} were answered 503 at the per-address cap. Latency is of the load's writes (create, cipherText, confirm), ` +
    `${f.seconds} s per run with 4 workers (8 for the kill); the reference is the same load (4 workers, 300 B shares) on the same service just before the attack.`, '')
  return L
}
