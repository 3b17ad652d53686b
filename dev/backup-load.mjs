// A load of managed backups against the backup service in which every 2xx is read back at once,
// and the check that acknowledged backups are still there afterwards: shared by the bench's
// fault runs (bench/sections/faults.mjs, section 9) and the tests that kill a service under load
// (tests/service-scenarios/multi_instance.test.mjs). Talks plain HTTP through the global fetch.
//
//   const t = tally()
//   await load(baseUrl, apiKeys, workers, t, () => stop, { shareBytes: 300, padding: 100 })
//   const lost = await lostAfterRestart(baseUrl, t.acked)     // must be 0
import { randomBytes } from 'node:crypto'

/**
 * `serve` flags under which no client limit or retention removes an acknowledged backup that a
 * load reads back. (No rate limit either: give `--rate-limit 0` too, or a high one.)
 */
export const KEEP_EVERYTHING = ['--keep-completed', '100000', '--max-pairs', '100000000',
  '--max-pending-pairs', '100000', '--max-stored-bytes', '1000000000000', '--prune-interval-secs', '0']

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** A `wbk1.` text with a valid header start for PASSWORD and `backupId` (what the service checks). */
export function envelope(backupId, padding) {
  const bytes = Buffer.concat([Buffer.from('wbk\x01\x01', 'latin1'), Buffer.from(backupId, 'hex'), randomBytes(60 + padding)])
  return `wbk1.${bytes.toString('base64url')}`
}

/** A request to the service: { status, body, ms }; a network failure or timeout is status 0. */
export async function call(base, key, method, path, body) {
  const started = performance.now()
  try {
    const init = { method, headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(15000) }
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json'
      init.body = JSON.stringify(body)
    }
    const answer = await fetch(`${base}${path}`, init)
    const text = await answer.text()
    let parsed = null
    try { parsed = JSON.parse(text) } catch {}
    return { status: answer.status, body: parsed, ms: performance.now() - started }
  } catch {
    return { status: 0, body: null, ms: performance.now() - started }
  }
}

/** Counters of one load. */
export function tally() {
  return { started: 0, acked: [], writes: 0, contradicted: 0, contradictions: [], refused: 0, failed: 0, failures: {}, latencies: [] }
}

/**
 * One managed backup: create → cipherText → confirm, each 2xx read back at once. A confirmed
 * backup goes into `t.acked` (what a restart must keep). Stops at the first refused or failed step.
 */
export async function backupReread(base, key, t, { shareBytes, padding }) {
  t.started++
  const backupId = randomBytes(16).toString('hex')
  const share = randomBytes(Math.ceil(shareBytes * 3 / 4)).toString('base64url').slice(0, shareBytes)
  const pairs = '/api/v3/clients/me/backup-share-pairs'
  const reread = async (expect, what) => {
    const r = await call(base, key, 'GET', `/api/v3/clients/me/custodian-shares/${backupId}`)
    if (r.status === 200 && r.body?.status === expect && r.body?.custodianShare === share) return true
    if (r.status === 503 || r.status === 0) return true // unknown now, checked after the restart
    t.contradicted++
    t.contradictions.push(`${what}: re-read ${r.status} ${r.body?.status ?? r.body?.error?.code ?? ''}`)
    return false
  }
  const step = async (method, path, body, ok, expect, what) => {
    const r = await call(base, key, method, path, body)
    t.writes++
    t.latencies.push(r.ms)
    if (r.status === ok) return (await reread(expect, what)) ? r : null
    if (r.status === 503) t.refused++
    else {
      t.failed++
      const why = r.status ? `${r.status} ${r.body?.error?.code ?? ''}` : 'network'
      t.failures[why] = (t.failures[why] ?? 0) + 1
    }
    return null
  }
  const created = await step('POST', pairs, { backupMethod: 'PASSWORD', backupId, custodianShare: share }, 201, 'PENDING', 'create')
  if (!created) return
  const id = created.body.id
  const cipherText = envelope(backupId, padding)
  if (!(await step('PUT', `${pairs}/${id}/cipher-text`, { cipherText }, 200, 'STORED_CLIENT_BACKUP_SHARE', 'cipherText'))) return
  if (!(await step('POST', `${pairs}/${id}/confirm`, undefined, 200, 'COMPLETED', 'confirm'))) return
  t.acked.push({ key, backupId, share })
}

/** `workers` loops of backups over `keys` until `stop()` says so. */
export async function load(base, keys, workers, t, stop, shape) {
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    while (!stop()) {
      await backupReread(base, keys[w % keys.length], t, shape)
      if (t.failed + t.refused > 0 && t.writes % 50 === 0) await sleep(5)
    }
  }))
}

/** Acknowledged backups a restarted service no longer has whole. */
export async function lostAfterRestart(base, acked) {
  let lost = 0
  for (const a of acked) {
    const r = await call(base, a.key, 'GET', `/api/v3/clients/me/custodian-shares/${a.backupId}`)
    if (!(r.status === 200 && r.body?.status === 'COMPLETED' && r.body?.custodianShare === a.share)) lost++
  }
  return lost
}
