// Two service processes on one PostgreSQL database behind a round-robin TCP
// proxy (README "Many instances"): what one instance writes, the other
// serves; a passkey ceremony is used once across both; migrations race
// safely; a kill -9 of one instance under load loses nothing acknowledged;
// the per-key rate limit is per instance. PostgreSQL only
// (WALLET_BACKUP_TEST_POSTGRES, a server URL; scripts/test.mjs starts one).
//
//   WALLET_BACKUP_TEST_POSTGRES=postgres://postgres@127.0.0.1:54329 node --test tests/service-scenarios/multi_instance.test.mjs
//
// Every HTTP request here says `Connection: close` (the global fetch is
// wrapped, for the module's requests too), so each request is a connection of
// its own, and the proxy, which hands each new connection to the next
// instance, sends consecutive requests to alternate instances. Its log says
// which instance served which request line.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Portal } from '../../pkg/node/index.mjs'
import { ROOT, ServiceProcess } from '../../dev/service.mjs'
import { KEEP_EVERYTHING, call, load, lostAfterRestart, sleep, tally } from '../../dev/backup-load.mjs'
import { createPasskeyDouble } from '../../dev/passkey-double.mjs'
import { createDatabase, dropDatabase, psql } from './harness.mjs'
import { api, login, register } from './passkey_scenarios.mjs'
import { failOnUnhandled } from '../unhandled.mjs'

const POSTGRES = process.env.WALLET_BACKUP_TEST_POSTGRES || null
const TIMEOUT = 120_000
const PASSKEY_ORIGIN = 'http://localhost:5173'
const PASSKEY_ARGS = ['--passkey-rp-id', 'localhost', '--passkey-origin', PASSKEY_ORIGIN]

failOnUnhandled('the multi-instance tests')

// One connection per request (see the file's head).
const plainFetch = globalThis.fetch
globalThis.fetch = (input, init = {}) => {
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined))
  headers.set('connection', 'close')
  return plainFetch(input, { ...init, headers })
}

/**
 * A TCP proxy on 127.0.0.1 handing each new connection to the next of
 * `ports` in turn. A port that refuses the connection is skipped for the
 * next one, as a load balancer skips an instance that is down; nothing has
 * been sent to it then. `log`: { upstream (index in `ports`), request (the
 * first line the client sent) } per connection.
 */
async function roundRobinProxy(ports) {
  let next = 0
  const log = []
  const open = new Set()
  const server = net.createServer((client) => {
    client.pause()
    open.add(client)
    const entry = { upstream: null, request: null }
    log.push(entry)
    const attempt = (index, left) => {
      const up = net.connect(ports[index], '127.0.0.1')
      open.add(up)
      let connected = false
      up.once('connect', () => {
        connected = true
        entry.upstream = index
        client.once('data', (d) => (entry.request = d.toString('latin1').split('\r\n')[0]))
        client.pipe(up)
        up.pipe(client)
        client.resume()
      })
      up.on('error', () => {
        if (!connected && left > 1) attempt((index + 1) % ports.length, left - 1)
        else client.destroy()
      })
      up.on('close', (hadError) => {
        open.delete(up)
        // After a clean end, the pipe ends the client's side once the answer is written.
        if (connected && hadError) client.destroy()
      })
      client.on('error', () => up.destroy())
      client.on('close', () => connected && up.destroy())
    }
    client.on('close', () => open.delete(client))
    attempt(next++ % ports.length, ports.length)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    log,
    close: async () => {
      for (const s of open) s.destroy()
      await new Promise((r) => server.close(r))
    },
  }
}

/**
 * Two instances (`a`, `b`) on a new database, sharing one data directory
 * (its local KMS key file: every instance must hold the same master keys),
 * behind a round-robin proxy. `serveArgs`: both instances' extra flags.
 */
async function startPair({ serveArgs = [], rateLimit = 1000, rateBurst = 1000 } = {}) {
  const db = await createDatabase(POSTGRES)
  const dataDir = await mkdtemp(join(tmpdir(), 'wallet-backup-multi-'))
  const instances = ['a', 'b'].map((name) => new ServiceProcess(name, { dataDir, databaseUrl: db.url, rateLimit, rateBurst, serveArgs }))
  let proxy = null
  const stop = async () => {
    await proxy?.close()
    await Promise.all(instances.map((i) => i.kill()))
    await dropDatabase(POSTGRES, db.name)
    await rm(dataDir, { recursive: true, force: true })
  }
  try {
    await Promise.all(instances.map((i) => i.start()))
    proxy = await roundRobinProxy(instances.map((i) => i.port))
  } catch (e) {
    await stop()
    throw e
  }
  let clients = 0
  return {
    db,
    instances,
    proxy,
    stop,
    newClient: () => instances[0].createClient(`multi-${++clients}`),
    /** The proxy's log entries from `from` on that `pattern` matches: [{ upstream, request }]. */
    served: (pattern, from = 0) => proxy.log.slice(from).filter((e) => pattern.test(e.request ?? '')),
    logs: () => instances.map((i) => `--- instance ${i.name} (tail) ---\n${i.log.slice(-2000)}`).join('\n'),
  }
}

/** Runs `fn`, adding the instances' logs to a failure. */
async function withLogs(pair, fn) {
  try {
    await fn()
  } catch (e) {
    e.message += `\n${pair.logs()}`
    throw e
  }
}

function memoryKeychain() {
  const state = { shares: null }
  return { state, keychain: { getShares: async () => state.shares, setShares: async (s) => void (state.shares = s) } }
}

const password = { passwordStorage: { password: 'correct horse battery staple' } }
const randomHex = (n) => Buffer.from(crypto.getRandomValues(new Uint8Array(n))).toString('hex')

describe('two instances on one PostgreSQL database', { skip: POSTGRES ? false : 'WALLET_BACKUP_TEST_POSTGRES is not set' }, () => {
  let pair
  before(async () => {
    pair = await startPair({ serveArgs: PASSKEY_ARGS })
  })
  after(async () => {
    await pair?.stop()
  })

  test('a backup created on one instance is confirmed on the other; recovery through the proxy and through each instance', { timeout: TIMEOUT }, () => withLogs(pair, async () => {
    const apiKey = await pair.newClient()
    const wallet = memoryKeychain()
    const shares = JSON.stringify({ secp256k1: { id: 'multi', share: randomHex(32) } })
    wallet.state.shares = shares
    const from = pair.proxy.log.length
    const portal = new Portal({ apiKey, apiHost: pair.proxy.url, keychain: wallet.keychain })
    const cipherText = await portal.backupWallet('password', () => {}, password)
    const [created] = pair.served(/^POST \/api\/v3\/clients\/me\/backup-share-pairs /, from)
    const [confirmed] = pair.served(/^POST \/api\/v3\/clients\/me\/backup-share-pairs\/[^/]+\/confirm /, from)
    assert.ok(created && confirmed, `the backup's create and confirm: ${JSON.stringify(pair.proxy.log.slice(from))}`)
    assert.notEqual(created.upstream, confirmed.upstream, `create and confirm on different instances: ${JSON.stringify(pair.proxy.log.slice(from))}`)

    for (const [what, apiHost] of [['the proxy', pair.proxy.url], ['instance a', pair.instances[0].url], ['instance b', pair.instances[1].url]]) {
      for (const from of ['', cipherText]) {
        const device = memoryKeychain()
        const recovering = new Portal({ apiKey, apiHost, keychain: device.keychain })
        await recovering.recoverWallet(from, 'password', () => {}, password)
        assert.equal(device.state.shares, shares, `recoverWallet(${from ? 'cipherText' : "''"}) through ${what}`)
      }
    }
    const upstreams = new Set(pair.proxy.log.slice(from).map((e) => e.upstream))
    assert.deepEqual([...upstreams].sort(), [0, 1], 'the proxy used both instances')
  }))

  test('a passkey ceremony begun on one instance is finished on the other', { timeout: TIMEOUT }, () => withLogs(pair, async () => {
    const ctx = { apiHost: pair.proxy.url, apiKey: await pair.newClient(), webauthn: createPasskeyDouble({ origin: PASSKEY_ORIGIN }) }
    const from = pair.proxy.log.length
    const reg = await register(ctx)
    assert.equal(reg.finish.status, 200, `finish-registration: ${JSON.stringify(reg.finish.body)}`)
    const backupId = randomHex(16)
    const encryptionKey = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
    const w = await login(ctx)
    const write = await api(ctx, 'POST', 'finish-login/write', { ceremonyId: w.begin.ceremonyId, credential: w.assertion, backupId, encryptionKey })
    assert.equal(write.status, 200, `finish-login/write: ${JSON.stringify(write.body)}`)
    const r = await login(ctx, { backupId })
    const read = await api(ctx, 'POST', 'finish-login/read', { ceremonyId: r.begin.ceremonyId, credential: r.assertion, backupId })
    assert.equal(read.status, 200, `finish-login/read: ${JSON.stringify(read.body)}`)
    assert.equal(read.body.encryptionKey, encryptionKey, 'the key read back')

    const served = pair.served(/^POST \/passkeys\//, from)
    const route = (e) => e.request.split(' ')[1].slice('/passkeys/'.length)
    assert.deepEqual(served.map(route), ['begin-registration', 'finish-registration', 'begin-login', 'finish-login/write', 'begin-login', 'finish-login/read'])
    for (let i = 0; i < served.length; i += 2) {
      assert.notEqual(served[i].upstream, served[i + 1].upstream, `${route(served[i])} and ${route(served[i + 1])} on different instances`)
    }
  }))

  test('the same ceremony finished on both instances at once: exactly one succeeds, the other gets PASSKEY_CEREMONY_UNKNOWN', { timeout: TIMEOUT }, () => withLogs(pair, async () => {
    const [a, b] = pair.instances.map((i) => ({ apiHost: i.url }))
    const apiKey = await pair.newClient()
    const webauthn = createPasskeyDouble({ origin: PASSKEY_ORIGIN })
    const ctx = { apiHost: a.apiHost, apiKey, webauthn }
    /** The two answers of one body sent to both instances at once, the successful one first. */
    const race = async (route, body) => {
      const answers = await Promise.all([api(ctx, 'POST', route, body, a), api(ctx, 'POST', route, body, b)])
      const statuses = answers.map((x) => x.status).sort()
      assert.deepEqual(statuses, [200, 403], `${route} on both: ${JSON.stringify(answers)}`)
      const lost = answers.find((x) => x.status === 403)
      assert.equal(lost.body?.error?.code, 'PASSKEY_CEREMONY_UNKNOWN', `${route}: the second finish`)
      return answers.find((x) => x.status === 200).body
    }

    // Registration: 3 rounds (each registers a new credential; a client keeps at most 10).
    for (let round = 0; round < 3; round++) {
      const begin = (await api(ctx, 'POST', 'begin-registration', { userName: 'race' }, round % 2 ? b : a)).body
      // A further credential on the same device: the authenticator would refuse the client's own in excludeCredentials.
      const credential = await webauthn.create({ ...begin.options, excludeCredentials: [] })
      await race('finish-registration', { ceremonyId: begin.ceremonyId, credential: { ...credential, clientExtensionResults: {} } })
    }
    const status = await api(ctx, 'GET', 'status')
    assert.equal(status.body.credentials, 3, 'credentials registered by the races')

    // finish-login/write then /read, 10 rounds each: one key stored per round, read back once.
    for (let round = 0; round < 10; round++) {
      const backupId = randomHex(16)
      const encryptionKey = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
      const w = await login(ctx, { on: round % 2 ? b : a })
      await race('finish-login/write', { ceremonyId: w.begin.ceremonyId, credential: w.assertion, backupId, encryptionKey })
      const r = await login(ctx, { backupId, on: round % 2 ? a : b })
      const read = await race('finish-login/read', { ceremonyId: r.begin.ceremonyId, credential: r.assertion, backupId })
      assert.equal(read.encryptionKey, encryptionKey, `round ${round}: the key read back`)
    }
    const left = await psql(pair.db.url, 'SELECT COUNT(*) FROM passkey_ceremonies')
    assert.equal(left.trim(), '0', 'no ceremony left over')
  }))
})

describe('migrations when two instances start at once on an empty database', { skip: POSTGRES ? false : 'WALLET_BACKUP_TEST_POSTGRES is not set' }, () => {
  /** Columns and indexes of the public schema, one a line. */
  const schemaOf = (url) => psql(url, `SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
    FROM information_schema.columns WHERE table_schema = 'public' UNION ALL
    SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`)
  const migrations = readdirSync(join(ROOT, 'service', 'migrations')).filter((f) => f.endsWith('.sql')).sort()

  test('both come up, every migration is applied once, and the schema is the one a single start makes', { timeout: TIMEOUT }, async (t) => {
    // The reference: one instance alone on an empty database.
    const single = await startSingle()
    const reference = await schemaOf(single.db.url)
    await single.stop()
    assert.match(reference, /backup_share_pairs\.custodian_share/, 'the reference schema')

    const times = []
    for (let round = 0; round < 3; round++) {
      const db = await createDatabase(POSTGRES)
      const dataDir = await mkdtemp(join(tmpdir(), 'wallet-backup-migrate-'))
      const instances = ['a', 'b'].map((name) => new ServiceProcess(name, { dataDir, databaseUrl: db.url }))
      try {
        const started = performance.now()
        const ready = await Promise.all(instances.map(async (i) => (await i.start(), performance.now() - started)))
        times.push(...ready)
        const applied = await psql(db.url, 'SELECT version || \' \' || success FROM _sqlx_migrations ORDER BY version')
        assert.deepEqual(applied.trim().split('\n'), migrations.map((f) => `${Number(f.split('_')[0])} true`), `round ${round}: _sqlx_migrations`)
        assert.equal(await schemaOf(db.url), reference, `round ${round}: the schema`)
        for (const i of instances) {
          assert.doesNotMatch(i.log, /ERROR|error:|migrations:/, `round ${round}: instance ${i.name}'s log`)
          // Both serve.
          assert.equal((await call(i.url, 'none', 'GET', '/api/v3/clients/me')).status, 401, `round ${round}: instance ${i.name} answers`)
        }
      } finally {
        await Promise.all(instances.map((i) => i.kill()))
        await dropDatabase(POSTGRES, db.name)
        await rm(dataDir, { recursive: true, force: true })
      }
    }
    const sorted = [...times].sort((x, y) => x - y)
    t.diagnostic(`two racing starts, spawn to listening: ${sorted.map((ms) => `${Math.round(ms)} ms`).join(', ')}`)
  })

  /** One instance on a new database; { db, stop }. */
  async function startSingle() {
    const db = await createDatabase(POSTGRES)
    const dataDir = await mkdtemp(join(tmpdir(), 'wallet-backup-migrate-'))
    const one = new ServiceProcess('single', { dataDir, databaseUrl: db.url })
    const stop = async () => {
      await one.kill()
      await dropDatabase(POSTGRES, db.name)
      await rm(dataDir, { recursive: true, force: true })
    }
    await one.start().catch(async (e) => {
      await stop()
      throw e
    })
    return { db, stop }
  }
})

describe('kill -9 of one instance under load', { skip: POSTGRES ? false : 'WALLET_BACKUP_TEST_POSTGRES is not set' }, () => {
  test('every acknowledged backup is whole on the surviving instance; the survivor goes on acknowledging', { timeout: TIMEOUT }, async (t) => {
    const pair = await startPair({ serveArgs: KEEP_EVERYTHING, rateLimit: 0, rateBurst: 1 })
    try {
      await withLogs(pair, async () => {
        const keys = []
        for (let i = 0; i < 4; i++) keys.push(await pair.newClient())
        const load1 = tally()
        let stopped = false
        const running = load(pair.proxy.url, keys, 8, load1, () => stopped, { shareBytes: 300, padding: 100 })
        await sleep(2500)
        const ackedBeforeKill = load1.acked.length
        const failedBeforeKill = load1.failed
        await pair.instances[0].kill()
        await sleep(2500)
        stopped = true
        await running
        const afterKill = load1.acked.length - ackedBeforeKill
        const lost = await lostAfterRestart(pair.instances[1].url, load1.acked)
        t.diagnostic(`backups acknowledged: ${load1.acked.length} (${ackedBeforeKill} before the kill, ${afterKill} after), ` +
          `lost: ${lost}, 2xx contradicted by their re-read: ${load1.contradicted}, 503: ${load1.refused}, failed: ${load1.failed} (${failedBeforeKill} before the kill; ${JSON.stringify(load1.failures)})`)
        assert.ok(ackedBeforeKill > 0, 'backups acknowledged before the kill')
        assert.ok(afterKill > 0, 'the surviving instance acknowledged backups after the kill')
        assert.equal(load1.contradicted, 0, `2xx contradicted by their re-read: ${load1.contradictions.join('; ')}`)
        assert.equal(lost, 0, 'acknowledged backups lost')
        // Whatever the killed instance was doing left no pair half-written: every stored pair's status is one of the four.
        const statuses = await psql(pair.db.url, 'SELECT DISTINCT status FROM backup_share_pairs ORDER BY 1')
        for (const s of statuses.trim().split('\n')) assert.ok(['COMPLETED', 'FAILED', 'PENDING', 'STORED_CLIENT_BACKUP_SHARE'].includes(s), `status ${s}`)
      })
    } finally {
      await pair.stop()
    }
  })
})

describe('the per-key rate limit is per instance', { skip: POSTGRES ? false : 'WALLET_BACKUP_TEST_POSTGRES is not set' }, () => {
  test('behind two instances a key gets twice the burst, and each instance refuses on its own', { timeout: TIMEOUT }, async () => {
    // A burst of 3 and one token per 1000 s: no token comes back during the test.
    const burst = 3
    const pair = await startPair({ rateLimit: 0.001, rateBurst: burst })
    try {
      await withLogs(pair, async () => {
        const key = await pair.newClient()
        const from = pair.proxy.log.length
        const answers = []
        for (let i = 0; i < 4 * burst; i++) answers.push((await call(pair.proxy.url, key, 'GET', '/api/v3/clients/me')).status)
        const served = pair.proxy.log.slice(from)
        const byInstance = [0, 1].map((u) => answers.filter((s, i) => served[i].upstream === u))
        assert.deepEqual(byInstance.map((s) => s.filter((x) => x === 200).length), [burst, burst], `200s per instance: ${JSON.stringify(byInstance)}`)
        assert.equal(answers.filter((s) => s === 200).length, 2 * burst, `answers through the proxy: ${answers}`)
        assert.deepEqual(answers.filter((s) => s !== 200 && s !== 429), [], 'other answers')
        // Each instance on its own refuses now: its own bucket is empty.
        for (const i of pair.instances) assert.equal((await call(i.url, key, 'GET', '/api/v3/clients/me')).status, 429, `instance ${i.name}`)
      })
    } finally {
      await pair.stop()
    }
  })
})
