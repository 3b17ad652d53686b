// The passkey method against the real service binary, in Node.js (the
// module given `passkeys`: the software double of dev/passkey-double.mjs,
// shaped like react-native-passkeys) and in headless Chromium (no
// `passkeys`: the module calls navigator.credentials, answered by the
// DevTools virtual authenticator). The scenarios are passkey_scenarios.mjs.
//
// WebAuthn needs a domain as rp id, so the page is served from
// http://localhost:<port> by a small server here, and the services run with
// `--passkey-rp-id localhost --passkey-origin http://localhost:<port>`:
//   main    that relying party
//   short   the same, with --passkey-ceremony-ttl 1
//   plain   no relying party
// A second port of the same server is an origin the services do not allow.

import { test, before, after, describe } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { extname, join } from 'node:path'
import * as pkg from '../../pkg/node/index.mjs'
import { ServiceProcess } from '../../dev/service.mjs'
import { openTestPage, pageFile } from './harness.mjs'
import { createPasskeyDouble } from '../../dev/passkey-double.mjs'
import { addVirtualAuthenticator } from '../../dev/chromium.mjs'
import { NODE_ONLY, originScenarios, passkeyScenarios, registerWith } from './passkey_scenarios.mjs'

const TIMEOUT = 60_000

const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>wallet-backup passkey scenarios</title><link rel="icon" href="data:,"></head>
<body>
<script type="module">
  import { Portal, PasskeyStorage } from '/pkg/web/index.js'
  import { passkeyScenarios, originScenarios, browserWebAuthn, registerWith } from '/tests/service-scenarios/passkey_scenarios.mjs'
  const all = { ...passkeyScenarios, ...originScenarios }
  const control = (op, ...args) => window.pkControl(op, args)
  window.pkRegister = (apiHost, apiKey) => registerWith(browserWebAuthn(), apiHost, apiKey)
  window.runPasskeyScenario = async (name, base) => {
    const ctx = {
      ...base,
      kind: 'chromium',
      Portal,
      PasskeyStorage,
      passkeys: undefined,
      webauthn: browserWebAuthn(),
      foreignWebauthn: browserWebAuthn(),
      foreignPasskeys: undefined,
      newClient: (options = {}) => control('newClient', options),
      registerElsewhere: (apiKey) => control('registerElsewhere', apiKey),
      authenticator: {
        setUserVerified: (v) => control('setUserVerified', v),
        clearUvFlag: (v) => control('clearUvFlag', v),
        useDevice: (o) => control('useDevice', o),
        setSignCount: (id, n) => control('setSignCount', id, n),
      },
    }
    await all[name](ctx)
  }
  document.body.dataset.ready = 'true'
</script>
</body>
</html>
`

const CONTENT_TYPES = { '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json' }

/** The test page, pkg/ and the scenarios, on 127.0.0.1 (the page is opened as http://localhost:port). */
async function startPageServer() {
  const handler = async (req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      return res.end(PAGE)
    }
    const file = pageFile(path)
    const data = file && (await readFile(file).catch(() => null))
    if (!data) {
      res.writeHead(404, { 'content-type': 'text/plain' })
      return res.end('not found')
    }
    res.writeHead(200, { 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' })
    res.end(data)
  }
  const servers = []
  for (let i = 0; i < 2; i++) {
    const server = http.createServer((req, res) => handler(req, res).catch((e) => res.destroy(e)))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    servers.push(server)
  }
  return {
    origins: servers.map((s) => `http://localhost:${s.address().port}`),
    close: () => Promise.all(servers.map((s) => (s.closeAllConnections(), new Promise((r) => s.close(r))))),
  }
}

let pages
let dataDir
const services = {}
let clientSeq = 0

const hosts = () => Object.fromEntries(Object.entries(services).map(([n, s]) => [n, s.url]))

const clientNames = new Map() // API key -> client name

/** A new client of `service` (main, short, plain); resolves to its API key. */
async function newClient({ service = 'main', passkeyRpId = null, passkeyOrigins = [] } = {}) {
  const name = `pk-${++clientSeq}`
  const key = await services[service].createClient(name, { passkeyRpId, passkeyOrigins })
  clientNames.set(key, name)
  return key
}

/** `set-passkey-rp` for the main service's client of `apiKey`. */
const setPasskeyRp = (apiKey, options) => services.main.setPasskeyRp(clientNames.get(apiKey), options)

before(async () => {
  pages = await startPageServer()
  dataDir = await mkdtemp(join(tmpdir(), 'wallet-backup-passkey-'))
  const rp = ['--passkey-rp-id', 'localhost', '--passkey-origin', pages.origins[0], '--passkey-rp-name', 'Wallet backup tests']
  const specs = { main: rp, short: [...rp, '--passkey-ceremony-ttl', '1'], plain: [] }
  for (const [name, args] of Object.entries(specs)) {
    services[name] = new ServiceProcess(name, { dataDir: join(dataDir, name), rateLimit: 1000, rateBurst: 1000, serveArgs: args })
  }
  await Promise.all(Object.values(services).map((s) => s.start()))
})

after(async () => {
  await Promise.all(Object.values(services).map((s) => s.kill()))
  await pages?.close()
  if (dataDir) await rm(dataDir, { recursive: true, force: true })
})

/** Appends the services' logs to a failure. */
async function withLogs(fn) {
  try {
    await fn()
  } catch (e) {
    e.message += `\n${Object.values(services).map((s) => `--- service ${s.name} (tail) ---\n${s.log.slice(-1200)}`).join('\n')}`
    throw e
  }
}

describe('passkey in Node.js (react-native-passkeys double)', () => {
  /** A scenario context around a fresh double whose origin is the allowed one. */
  async function nodeContext() {
    const ctx = {
      kind: 'node',
      Portal: pkg.Portal,
      PasskeyStorage: pkg.PasskeyStorage,
      apiHost: services.main.url,
      apiKey: await newClient(),
      hosts: hosts(),
      newClient,
      setPasskeyRp,
    }
    ctx.passkeys = ctx.webauthn = createPasskeyDouble({ origin: pages.origins[0] })
    // The same passkeys in an app whose origin the relying party does not list.
    ctx.foreignPasskeys = ctx.foreignWebauthn = ctx.passkeys.device({ origin: pages.origins[1] })
    ctx.registerElsewhere = (apiKey) => registerWith(ctx.passkeys, services.main.url, apiKey)
    ctx.authenticator = {
      setUserVerified: async (v) => void (ctx.passkeys.userVerified = v),
      clearUvFlag: async (v) => void (ctx.passkeys.userVerified = !v),
      useDevice: async ({ prf }) => void (ctx.passkeys = ctx.webauthn = ctx.passkeys.device({ prf })),
      setSignCount: async (id, n) => ctx.passkeys.setCounter(id, n),
    }
    return ctx
  }

  for (const [name, scenario] of Object.entries({ ...passkeyScenarios, ...originScenarios, ...NODE_ONLY })) {
    test(name, { timeout: TIMEOUT }, () => withLogs(async () => scenario(await nodeContext())))
  }
})

/** A DevTools virtual authenticator on one page, replaceable (another device) and resettable. */
class VirtualAuthenticator {
  constructor(cdp) {
    this.cdp = cdp
    this.id = null
  }

  /** A new authenticator holding `credentials` (none: an empty one). */
  async replace({ prf = true, credentials = [] } = {}) {
    if (this.id) await this.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: this.id })
    const authenticatorId = await addVirtualAuthenticator(this.cdp, { hasPrf: prf })
    this.id = authenticatorId
    this.prf = prf
    for (const credential of credentials) await this.cdp.send('WebAuthn.addCredential', { authenticatorId, credential })
  }

  async credentials() {
    return (await this.cdp.send('WebAuthn.getCredentials', { authenticatorId: this.id })).credentials
  }

  /** The control operations the page calls (ctx.authenticator). */
  async control(op, args) {
    const authenticatorId = this.id
    switch (op) {
      case 'setUserVerified':
        // Once verification has failed, Chromium's virtual authenticator keeps refusing after
        // setUserVerified(true): "verified again" is a new authenticator with the same credentials.
        if (args[0]) return void (await this.replace({ prf: this.prf, credentials: await this.credentials() }))
        return void (await this.cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false }))
      case 'clearUvFlag':
        return void (await this.cdp.send('WebAuthn.setResponseOverrideBits', { authenticatorId, isBadUV: args[0] }))
      case 'useDevice':
        // Exported and added to a new authenticator: the credentials lose their PRF secrets.
        return void (await this.replace({ prf: args[0].prf, credentials: await this.credentials() }))
      case 'setSignCount': {
        const [id, signCount] = args
        const credential = (await this.credentials()).find((c) => Buffer.from(c.credentialId, 'base64').toString('base64url') === id)
        if (!credential) throw new Error(`no credential ${id} on the virtual authenticator`)
        await this.cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: credential.credentialId })
        return void (await this.cdp.send('WebAuthn.addCredential', { authenticatorId, credential: { ...credential, signCount } }))
      }
      default:
        throw new Error(`unknown authenticator operation ${op}`)
    }
  }
}

describe('passkey in headless Chromium (DevTools virtual authenticator)', () => {
  let browser
  /** [{ page, authenticator, pageErrors, consoleLines }]: the allowed origin, and another one. */
  const tabs = []

  before(async () => {
    for (const origin of pages.origins) {
      const opened = await openTestPage({ origin }, { timeout: TIMEOUT, browser })
      browser = opened.browser
      const cdp = await opened.page.context().newCDPSession(opened.page)
      await cdp.send('WebAuthn.enable')
      const tab = { ...opened, authenticator: new VirtualAuthenticator(cdp) }
      await opened.page.exposeFunction('pkControl', async (op, args) => {
        if (op === 'newClient') return newClient(args[0])
        if (op === 'registerElsewhere') {
          // Registered on the allowed origin's page, then copied to this page's authenticator.
          const home = tabs[0]
          const id = await home.page.evaluate(([h, k]) => window.pkRegister(h, k), [services.main.url, args[0]])
          const credentials = await home.authenticator.credentials()
          // This page's authenticator may hold a credential for the same user (from a refused
          // registration); an authenticator keeps one per rp id and user.
          await tab.authenticator.cdp.send('WebAuthn.clearCredentials', { authenticatorId: tab.authenticator.id })
          for (const credential of credentials) {
            await tab.authenticator.cdp.send('WebAuthn.addCredential', { authenticatorId: tab.authenticator.id, credential })
          }
          return id
        }
        return tab.authenticator.control(op, args)
      })
      tabs.push(tab)
    }
  })

  after(async () => {
    await browser?.close()
  })

  const run = (tabIndex, name) => async () => {
    const tab = tabs[tabIndex]
    for (const t of tabs) await t.authenticator.replace()
    tab.consoleLines.length = 0
    const errorsBefore = tab.pageErrors.length
    const base = { apiHost: services.main.url, apiKey: await newClient(), hosts: hosts(), foreign: tabIndex === 1 }
    await withLogs(async () => {
      try {
        await tab.page.evaluate(([n, c]) => window.runPasskeyScenario(n, c), [name, base])
        assert.deepEqual(tab.pageErrors.slice(errorsBefore), [], 'uncaught errors in the page')
      } catch (e) {
        e.message += `\npage console:\n  ${tab.consoleLines.join('\n  ')}`
        throw e
      }
    })
  }

  for (const name of Object.keys(passkeyScenarios)) test(name, { timeout: TIMEOUT }, run(0, name))
  for (const name of Object.keys(originScenarios)) test(`${name} (page on another localhost port)`, { timeout: TIMEOUT }, run(1, name))
})
