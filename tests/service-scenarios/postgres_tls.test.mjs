// The service on PostgreSQL over TLS (README "Many instances"): a throwaway
// PostgreSQL server with `ssl = on` (scripts/pg-test-server.sh with
// PGTLS_CERT/PGTLS_KEY) and a certificate for `localhost` signed by a CA made
// here with the openssl CLI. verify-full with that CA connects and serves a
// backup, over TLS; another CA, another host name, or sslmode=require against
// a server without TLS (WALLET_BACKUP_TEST_POSTGRES's) refuse to start, with
// a message saying why. Needs PostgreSQL's binaries; runs when
// WALLET_BACKUP_TEST_POSTGRES is set, as the other PostgreSQL tests.
//
//   WALLET_BACKUP_TEST_POSTGRES=postgres://postgres@127.0.0.1:54329 node --test tests/service-scenarios/postgres_tls.test.mjs

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Portal } from '../../pkg/node/index.mjs'
import { ROOT, createClient, startService } from '../../dev/service.mjs'
import { createDatabase, dropDatabase, psql } from './harness.mjs'

const POSTGRES = process.env.WALLET_BACKUP_TEST_POSTGRES || null
const TIMEOUT = 60_000
const run = promisify(execFile)

/** A port free now on loopback. */
async function freePort() {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  await new Promise((r) => server.close(r))
  return port
}

const openssl = (dir, ...args) => run('openssl', args, { cwd: dir })

/** A CA (`name`.crt/.key) in `dir`. */
async function makeCa(dir, name) {
  await openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`)
}

/** server.crt/.key in `dir`: a certificate for the DNS name `localhost` only, signed by the CA `ca`. */
async function makeServerCertificate(dir, ca) {
  await openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost')
  await writeFile(join(dir, 'server.ext'), 'subjectAltName = DNS:localhost\nextendedKeyUsage = serverAuth\n')
  await openssl(dir, 'x509', '-req', '-in', 'server.csr', '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-days', '2', '-extfile', 'server.ext', '-out', 'server.crt')
}

describe('PostgreSQL over TLS', { skip: POSTGRES ? false : 'WALLET_BACKUP_TEST_POSTGRES is not set' }, () => {
  const script = join(ROOT, 'scripts', 'pg-test-server.sh')
  let dir
  let port
  let tlsServer // the TLS server's URL, no database name
  let db

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wallet-backup-pg-tls-'))
    await makeCa(dir, 'ca')
    await makeCa(dir, 'other-ca')
    await makeServerCertificate(dir, 'ca')
    port = await freePort()
    const env = { ...process.env, PGPORT: String(port), PGTLS_CERT: join(dir, 'server.crt'), PGTLS_KEY: join(dir, 'server.key') }
    tlsServer = (await run('bash', [script, 'start'], { env })).stdout.trim()
    db = await createDatabase(tlsServer)
  })

  after(async () => {
    if (db) await dropDatabase(tlsServer, db.name)
    if (port) await run('bash', [script, 'stop'], { env: { ...process.env, PGPORT: String(port) } }).catch(() => {})
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  /** The TLS server's database at `host`, with these URL parameters. */
  const url = (host, params) => `postgres://postgres@${host}:${port}/${db.name}?${new URLSearchParams(params)}`

  /** Starts `serve` on `databaseUrl`, expecting it to refuse: resolves to its log. */
  async function refused(databaseUrl) {
    const dataDir = await mkdtemp(join(dir, 'data-'))
    const error = await startService({ dataDir, databaseUrl, timeoutMs: 30_000 }).then(
      async (svc) => {
        svc.child.kill('SIGKILL')
        assert.fail(`serve started on ${databaseUrl}`)
      },
      (e) => e,
    )
    assert.match(error.message, /exited \(1\) before it listened/, 'serve exits with status 1')
    return error.log
  }

  test('verify-full with the right CA: the service starts, serves a backup, and its connections use TLS', { timeout: TIMEOUT }, async () => {
    const databaseUrl = url('localhost', { sslmode: 'verify-full', sslrootcert: join(dir, 'ca.crt') })
    const dataDir = await mkdtemp(join(dir, 'data-'))
    const apiKey = await createClient({ dataDir, databaseUrl, name: 'tls' })
    const svc = await startService({ dataDir, databaseUrl })
    try {
      const state = { shares: JSON.stringify({ secp256k1: { id: 'tls', share: 'ab'.repeat(32) } }) }
      const keychain = { getShares: async () => state.shares, setShares: async (s) => void (state.shares = s) }
      const password = { passwordStorage: { password: 'correct horse battery staple' } }
      const portal = new Portal({ apiKey, apiHost: svc.url, keychain })
      const shares = state.shares
      const cipherText = await portal.backupWallet('password', () => {}, password)
      state.shares = null
      await portal.recoverWallet(cipherText, 'password', () => {}, password)
      assert.equal(state.shares, shares, 'recovered shares')
      // Every connection to the database is a TLS one (psql's own goes to the `postgres` database).
      const sessions = await psql(`${tlsServer}/postgres`, `SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = '${db.name}'`)
      const flags = sessions.trim().split('\n').filter(Boolean)
      assert.ok(flags.length > 0, 'the service holds connections to its database')
      assert.deepEqual([...new Set(flags)], ['t'], `pg_stat_ssl.ssl of the service's connections: ${flags}`)
    } finally {
      svc.child.kill('SIGKILL')
      await svc.exited
    }
  })

  test('verify-full with another CA refuses to start, saying the certificate is refused', { timeout: TIMEOUT }, async () => {
    const log = await refused(url('localhost', { sslmode: 'verify-full', sslrootcert: join(dir, 'other-ca.crt') }))
    assert.match(log, /error: .*TLS certificate is refused: invalid peer certificate: UnknownIssuer/, log)
  })

  test('verify-full with a host name the certificate does not name refuses to start', { timeout: TIMEOUT }, async () => {
    const log = await refused(url('127.0.0.1', { sslmode: 'verify-full', sslrootcert: join(dir, 'ca.crt') }))
    assert.match(log, /error: .*TLS certificate is refused: .*not valid for name "127\.0\.0\.1"/, log)
  })

  test('verify-full with a missing sslrootcert refuses to start, naming the cause', { timeout: TIMEOUT }, async () => {
    const log = await refused(url('localhost', { sslmode: 'verify-full', sslrootcert: join(dir, 'missing.crt') }))
    assert.match(log, /error: .*No such file or directory.*sslrootcert/, log)
  })

  test('sslmode=require against a server without TLS refuses to start', { timeout: TIMEOUT }, async () => {
    const plain = await createDatabase(POSTGRES)
    try {
      const databaseUrl = new URL(plain.url)
      databaseUrl.searchParams.set('sslmode', 'require')
      const log = await refused(databaseUrl.toString())
      assert.match(log, /error: .*asks for TLS.*server does not support TLS/, log)
    } finally {
      await dropDatabase(POSTGRES, plain.name)
    }
  })
})
