// The module in Node.js calling the service over HTTPS (issue 13): the
// service binary with `serve --tls-cert/--tls-key`, on a certificate for
// localhost signed by a CA made here with the openssl command, and the
// package (pkg/node) doing a password backup and recovery with
// `apiHost: 'https://localhost:PORT'`. Node's fetch trusts the test CA
// through NODE_EXTRA_CA_CERTS, set on a child process (https_client.mjs);
// without it the same child is refused.
//
//   npm run build:service && npm run build        (or: npm run test:service)
//   node --test tests/service-scenarios/https.test.mjs

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'
import { ROOT, createClient, startService, stopProcess } from '../../dev/service.mjs'

const run = promisify(execFile)
const CLIENT = join(ROOT, 'tests', 'service-scenarios', 'https_client.mjs')

let dir
let service
let key
let ca

/** A CA, and a certificate for localhost and 127.0.0.1 signed by it (EC P-256, two days). */
async function makeCertificates() {
  const file = (name) => join(dir, name)
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await run('openssl', ['req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2',
    '-subj', '/CN=wallet-backup https test CA'])
  await run('openssl', ['req', ...ec, '-keyout', file('key.pem'), '-out', file('cert.csr'), '-subj', '/CN=localhost'])
  await writeFile(file('cert.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' +
    'keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n')
  await run('openssl', ['x509', '-req', '-in', file('cert.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-days', '2', '-extfile', file('cert.ext'), '-out', file('cert.pem')])
  return { ca: file('ca.pem'), cert: file('cert.pem'), key: file('key.pem') }
}

/** Runs https_client.mjs against `apiHost` with `env`; resolves to its JSON line. */
async function client(apiHost, env) {
  const childEnv = { ...process.env, ...env }
  if (!env.NODE_EXTRA_CA_CERTS) delete childEnv.NODE_EXTRA_CA_CERTS
  const { stdout } = await run(process.execPath, [CLIENT, apiHost, key], { env: childEnv, timeout: 60_000 })
  return JSON.parse(stdout.trim().split('\n').pop())
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wallet-backup-https-'))
  const files = await makeCertificates()
  ca = files.ca
  const dataDir = join(dir, 'data')
  key = await createClient({ dataDir, name: 'https' })
  service = await startService({ dataDir, serveArgs: ['--tls-cert', files.cert, '--tls-key', files.key] })
})

after(async () => {
  if (service) await stopProcess(service.child)
  if (dir) await rm(dir, { recursive: true, force: true })
})

test('the service prints its https:// address', () => {
  assert.match(service.url, /^https:\/\/127\.0\.0\.1:\d+$/)
})

test('the module backs up and recovers over HTTPS, trusting the test CA', async () => {
  const result = await client(`https://localhost:${service.port}`, { NODE_EXTRA_CA_CERTS: ca })
  assert.equal(result.ok, true, JSON.stringify(result))
  assert.match(result.cipherText, /^wbk1\./)
  assert.equal(result.recovered, true, 'recoverWallet(\'\') and recoverWallet(cipherText) give the shares back')
  assert.equal(result.backedUp, true)
})

test('without the CA, the module refuses the service\'s certificate', async () => {
  const result = await client(`https://localhost:${service.port}`, {})
  assert.equal(result.ok, false, JSON.stringify(result))
  assert.equal(result.code, 'NETWORK_ERROR', JSON.stringify(result))
  assert.match(`${result.message} ${result.cause}`, /certificate|self.signed|issuer/i)
})
