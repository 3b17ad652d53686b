// Self-managed custodians end to end: the module in Node.js (pkg/node), the
// service binary, and the example operator (examples/operator/operator.py, a
// real Python process with its SQLite file), all on loopback. The service
// delivers each custodian share to the operator's /backup, checks it with
// /backup/fetch, and fetches it again at recovery, so recoverWallet('') and
// recoverWallet(cipherText) work with no app code.
//
// Faults come from the operator itself (killed and restarted on its port and
// file; its SQLite rows changed as a broken operator would) and from two small
// relays: one between the service and the operator (slow, garbage answers),
// one between the module and the service (an answer carrying another
// backup's custodian share, to prove the module's own check).
//
//   npm run build:service && npm run build
//   node --test tests/service-scenarios/operator.test.mjs

import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { Portal } from '../../pkg/node/index.mjs'
import { backendArgs, runService } from '../../dev/service.mjs'
import { ROOT, startOwnService } from './harness.mjs'
import { makeShares, PASSWORD } from './scenarios.mjs'
import { failOnUnhandled } from '../unhandled.mjs'

failOnUnhandled('the operator scenarios')

const SECRET = 'example-operator-secret-0123456789abcdef'
const OPERATOR = join(ROOT, 'examples/operator/operator.py')
const pw = { passwordStorage: { password: PASSWORD } }

/** The example operator as a child process: start(port 0 the first time), kill, start again on its port. */
class OperatorProcess {
  constructor(dir) {
    this.db = join(dir, 'operator.sqlite3')
    this.secretFile = join(dir, 'secret')
    this.port = 0
    this.child = null
  }

  async start() {
    const args = [OPERATOR, '--listen', `127.0.0.1:${this.port}`, '--secret-file', this.secretFile, '--db', this.db, '--base-path', '/custody']
    const child = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.log = ''
    child.stderr.on('data', (d) => (this.log = (this.log + d).slice(-8000)))
    // Read stdout with a listener (never closing it: the operator would get EPIPE), until it listens or exits.
    const port = await new Promise((resolvePort) => {
      let out = ''
      child.stdout.on('data', (chunk) => {
        out += chunk
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)
        if (m) resolvePort(Number(m[1]))
      })
      child.on('exit', () => resolvePort(0))
    })
    this.port = port || this.port
    if (!port) throw new Error(`the operator did not start: ${this.log}`)
    this.child = child
  }

  async kill() {
    const exited = once(this.child, 'exit')
    this.child.kill('SIGKILL')
    await exited
    this.child = null
  }

  /** Runs `sql` on the operator's SQLite file (python3's sqlite3); resolves to the rows as JSON. */
  async sql(sql, params = []) {
    const script = 'import json,sqlite3,sys; db=sqlite3.connect(sys.argv[1]); rows=db.execute(sys.argv[2], json.loads(sys.argv[3])).fetchall(); db.commit(); print(json.dumps(rows))'
    const { stdout } = await promisify(execFile)('python3', ['-c', script, this.db, sql, JSON.stringify(params)])
    return JSON.parse(stdout)
  }
}

/**
 * A relay to 127.0.0.1:`port()`. `relay.hook(path)` decides per request:
 * undefined (forward), 'drop', { delayMs } (then forward), { status, body }
 * (answer that), or a function (forward, then rewrite the answer's text).
 */
async function startRelay(port) {
  const sockets = new Set()
  const relay = { hook: () => undefined }
  const server = http.createServer(async (req, res) => {
    const chunks = []
    for await (const c of req) chunks.push(c)
    let hook = relay.hook(req.url)
    if (hook === 'drop') return req.socket.destroy()
    if (hook?.delayMs) {
      await new Promise((r) => setTimeout(r, hook.delayMs))
      hook = undefined
    }
    if (hook?.status) {
      res.writeHead(hook.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(hook.body) })
      return res.end(hook.body)
    }
    const up = http.request({ host: '127.0.0.1', port: port(), method: req.method, path: req.url, headers: req.headers }, async (answer) => {
      const parts = []
      for await (const c of answer) parts.push(c)
      let body = Buffer.concat(parts)
      if (typeof hook === 'function') body = Buffer.from(hook(body.toString()))
      const headers = { ...answer.headers, 'content-length': body.length }
      delete headers['transfer-encoding']
      res.writeHead(answer.statusCode, headers)
      res.end(body)
    })
    // Nothing listening behind the relay: the caller sees a dropped connection, as with no relay.
    up.on('error', () => req.socket.destroy())
    up.end(Buffer.concat(chunks))
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  relay.url = `http://127.0.0.1:${server.address().port}`
  relay.close = async () => {
    for (const s of sockets) s.destroy()
    server.close()
  }
  return relay
}

function memoryKeychain() {
  const state = { shares: null, writes: 0 }
  return {
    state,
    keychain: {
      async getShares() {
        return state.shares
      },
      async setShares(s) {
        state.writes++
        state.shares = s
      },
    },
  }
}

async function rejectsWith(promise, code, cause, what) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.code, code, `${what}: ${e.code}: ${e.message} (cause ${JSON.stringify(e.cause)})`)
    if (cause) assert.deepEqual({ status: e.cause?.status, code: e.cause?.code }, cause, `${what}: cause`)
    return true
  }, what)
}

describe('self-managed custodian: service + example operator + module in Node.js', () => {
  let dir, operator, toOperator, toService, own, portal, wallet

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wallet-backup-operator-'))
    operator = new OperatorProcess(dir)
    await writeFile(operator.secretFile, SECRET + '\n', { mode: 0o600 })
    await operator.start()
    toOperator = await startRelay(() => operator.port)
    // Short webhook limits, so a slow operator is a quick failure: 1 s per attempt, 2 attempts.
    own = await startOwnService('operator', { serveArgs: ['--webhook-timeout-ms', '1000', '--webhook-attempts', '2'] })
    await writeFile(join(dir, 'service-secret'), SECRET, { mode: 0o600 })
    const key = (await runService([
      ...backendArgs(own.service), 'create-client', '--name', 'self-managed', '--managed-backups', 'true',
      '--custodian-webhook-url', `${toOperator.url}/custody`, '--custodian-webhook-secret-file', join(dir, 'service-secret'),
    ], { bin: own.service.bin })).trim()
    toService = await startRelay(() => own.service.port)
    wallet = memoryKeychain()
    portal = new Portal({ apiKey: key, apiHost: toService.url, keychain: wallet.keychain })
  })

  after(async () => {
    await toService?.close()
    await toOperator?.close()
    await own?.stop()
    if (operator?.child) await operator.kill()
    await rm(dir, { recursive: true, force: true })
  })

  const backup = async (shares) => {
    wallet.state.shares = shares
    return portal.backupWallet('password', null, pw)
  }
  const recover = async (cipherText) => {
    wallet.state.shares = null
    await portal.recoverWallet(cipherText, 'password', null, pw)
    return wallet.state.shares
  }
  /** The operator's rows: { pairId, share document }, newest first. */
  const rows = async () => (await operator.sql('SELECT pair_id, client_id, share FROM custodian_shares ORDER BY stored_at DESC'))
    .map(([pairId, clientId, share]) => ({ pairId, clientId, doc: JSON.parse(share), share }))
  /** A recovery that fails with `code` (and `cause`), leaving the keychain as it was. */
  const recoveryFails = async (cipherText, code, cause, what) => {
    wallet.state.shares = null
    const writes = wallet.state.writes
    await rejectsWith(portal.recoverWallet(cipherText, 'password', null, pw), code, cause, what)
    assert.equal(wallet.state.shares, null, `${what}: the keychain was written`)
    assert.equal(wallet.state.writes, writes, `${what}: the keychain was written`)
  }

  let sharesA, cipherA, sharesB, cipherB

  /** A test whose failure carries the service's log and the operator's. */
  const step = (name, fn) => test(name, async () => {
    try {
      await fn()
    } catch (e) {
      e.message += `\nservice log:\n${own.service.log}\noperator log:\n${operator.log}`
      throw e
    }
  })

  step('backup → the operator stores the share in SQLite → device lost → recoverWallet(\'\') and (cipherText)', async () => {
    sharesA = makeShares('A')
    cipherA = await backup(sharesA)
    const [row] = await rows()
    assert.equal(row.doc.backupMethod, 'PASSWORD')
    assert.match(row.doc.pairId, /^[0-9a-f]{32}$/)
    assert.equal(row.pairId, row.doc.pairId, 'keyed by the pair id')
    assert.match(row.doc.custodianShare, /^[A-Za-z0-9_-]+$/)
    assert.ok(!row.share.includes(sharesA) && !operator.log.includes(row.doc.custodianShare), 'only the custodian half, never logged')
    assert.equal(await recover(''), sharesA, "recoverWallet('')")
    assert.equal(await recover(cipherA), sharesA, 'recoverWallet(cipherText)')

    // A second backup: the operator keeps both (keyed by pair id); each recovers.
    sharesB = makeShares('B')
    cipherB = await backup(sharesB)
    assert.equal((await rows()).length, 2)
    assert.equal(await recover(''), sharesB, "recoverWallet('') gives the newest")
    assert.equal(await recover(cipherA), sharesA, 'the previous backup still recovers')
  })

  step('operator down at recovery: CUSTODIAN_UNAVAILABLE (retryable), then recovers when it is back', async () => {
    await operator.kill()
    await recoveryFails('', 'CUSTODIAN_UNAVAILABLE', { status: 503, code: 'CUSTODIAN_WEBHOOK_FAILED' }, 'operator down')
    // A backup cannot be made either, and nothing changes for recovery.
    wallet.state.shares = makeShares('C')
    await rejectsWith(portal.backupWallet('password', null, pw), 'CUSTODIAN_UNAVAILABLE', { status: 502, code: 'CUSTODIAN_WEBHOOK_FAILED' }, 'backup while down')
    await operator.start()
    assert.equal(await recover(''), sharesB, 'after the operator restarted (same SQLite file)')
  })

  step('operator slow (past the webhook time limit) or answering garbage: CUSTODIAN_UNAVAILABLE, then recovers', async () => {
    for (const [what, hook] of [
      ['slow', { delayMs: 2500 }],
      ['garbage', { status: 200, body: '<html>maintenance</html>' }],
      ['refusing', { status: 403, body: '{}' }],
      ['a list of non-shares', { status: 200, body: JSON.stringify({ backupShares: [1, 'x', { pairId: 'y' }] }) }],
    ]) {
      toOperator.hook = (path) => (path.endsWith('/backup/fetch') ? hook : undefined)
      const expected = what === 'a list of non-shares'
        ? ['INVALID_CUSTODIAN_SHARE', { status: 404, code: 'CUSTODIAN_SHARE_NOT_FOUND' }]
        : ['CUSTODIAN_UNAVAILABLE', { status: 503, code: 'CUSTODIAN_WEBHOOK_FAILED' }]
      await recoveryFails(cipherB, ...expected, `operator ${what}`)
      toOperator.hook = () => undefined
    }
    assert.equal(await recover(cipherB), sharesB)
  })

  step("operator answering another backup's share: never handed over, the module says so", async () => {
    const [b, a] = await rows()
    assert.equal(b.doc.backupId, cipherIdOf(cipherB))
    // B's row holds A's custodian share (right ids, other bytes).
    const swapped = JSON.stringify({ ...b.doc, custodianShare: a.doc.custodianShare })
    await operator.sql('UPDATE custodian_shares SET share = ? WHERE pair_id = ?', [swapped, b.pairId])
    await recoveryFails(cipherB, 'INVALID_CUSTODIAN_SHARE', { status: 404, code: 'CUSTODIAN_SHARE_NOT_FOUND' }, 'swapped bytes')
    // The operator lost B's share and lists only the previous one (A's).
    await operator.sql('DELETE FROM custodian_shares WHERE pair_id = ?', [b.pairId])
    await recoveryFails('', 'INVALID_CUSTODIAN_SHARE', { status: 404, code: 'CUSTODIAN_SHARE_NOT_FOUND' }, 'lost the share')
    await recoveryFails(cipherB, 'INVALID_CUSTODIAN_SHARE', { status: 404, code: 'CUSTODIAN_SHARE_NOT_FOUND' }, 'lost the share')
    // A's backup is intact and recovers.
    assert.equal(await recover(cipherA), sharesA)
    // Put B back as delivered.
    await operator.sql('INSERT INTO custodian_shares VALUES (?, ?, ?, ?, ?)', [b.pairId, b.clientId, 'PASSWORD', b.share, Date.now() / 1000])
    assert.equal(await recover(cipherB), sharesB)
  })

  step('the operator refuses calls without the secret, with a bad or stale signature, or too large', async () => {
    const { createHmac } = await import('node:crypto')
    const url = `http://127.0.0.1:${operator.port}/custody/backup/fetch`
    const body = JSON.stringify({ clientId: 'anyone' })
    const sign = (t, b = body, secret = SECRET) => `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${b}`).digest('hex')}`
    const now = Math.floor(Date.now() / 1000)
    const call = (headers, b = body) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: b })
    assert.equal((await call({ 'x-webhook-secret': SECRET, 'x-wallet-backup-signature': sign(now) })).status, 200, 'a proper call')
    assert.equal((await call({ 'x-wallet-backup-signature': sign(now) })).status, 401, 'no secret')
    assert.equal((await call({ 'x-webhook-secret': SECRET.slice(1) + 'x', 'x-wallet-backup-signature': sign(now) })).status, 401, 'wrong secret')
    assert.equal((await call({ 'x-webhook-secret': SECRET, 'x-wallet-backup-signature': sign(now, '{}') })).status, 401, 'signature of another body')
    assert.equal((await call({ 'x-webhook-secret': SECRET, 'x-wallet-backup-signature': sign(now - 600) })).status, 401, 'stale')
    assert.equal((await call({ 'x-webhook-secret': SECRET })).status, 401, 'no signature')
    // A body announced larger than the largest share's: 413 from the head alone, before any of it is read.
    const tooLarge = await new Promise((resolveStatus, reject) => {
      const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': 2_000_000, 'x-webhook-secret': SECRET } })
      req.on('response', (res) => {
        res.resume()
        resolveStatus(res.statusCode)
        req.destroy()
      })
      req.on('error', reject)
      req.flushHeaders()
    })
    assert.equal(tooLarge, 413, 'too large')
    // Nothing of this reached the table.
    assert.equal((await operator.sql("SELECT COUNT(*) FROM custodian_shares WHERE client_id IN ('anyone', 'x')"))[0][0], 0)
  })

  step("the module never restores from a mismatched pair, even if the service hands one over", async () => {
    const [b, a] = await rows()
    // Between the module and the service: B's answer carries A's custodian share.
    toService.hook = (path) => (path.includes('/custodian-shares/')
      ? (text) => JSON.stringify({ ...JSON.parse(text), custodianShare: a.doc.custodianShare })
      : undefined)
    try {
      await recoveryFails(cipherB, 'BACKUP_SHARE_MISMATCH', null, "A's custodian share with B's cipherText")
      assert.notEqual(b.doc.custodianShare, a.doc.custodianShare)
    } finally {
      toService.hook = () => undefined
    }
    assert.equal(await recover(cipherB), sharesB)
  })
})

/** The backup id (hex) in a cipherText's header: bytes 5..21 of the envelope. */
function cipherIdOf(cipherText) {
  const bytes = Buffer.from(cipherText.slice('wbk1.'.length), 'base64url')
  return bytes.subarray(5, 21).toString('hex')
}
