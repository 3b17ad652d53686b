// The Vite consumer: the packed tarball installed into a small app
// (vite-consumer/: index.html and main.js, `import { Portal, BackupMethods }
// from 'wallet-backup'`), built with `vite build` (production, Vite's
// defaults, no config file), served as static files from loopback, loaded
// in headless Chromium, where it does a full password backup and recovery.
//
//   node --test tests/packaging/vite.test.mjs
//
// Needs Chromium (/usr/bin/chromium or CHROMIUM_PATH) and the dev dependencies.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { readFile, readdir } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'

import { ROOT, packAndInstall } from './consumer.mjs'
import { launchChromium } from '../../dev/chromium.mjs'

const FIXTURE = join(ROOT, 'tests', 'packaging', 'vite-consumer')
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css', '.wasm': 'application/wasm' }

let c // the consumer
let dist
let output // Vite's (Rolldown's) output: chunks and assets
let server
let origin
const served = [] // [{ path, status, type }]

before(async () => {
  c = await packAndInstall('vite', { fixture: FIXTURE, packageJson: { name: 'wallet-backup-vite-consumer', private: true, type: 'module' } })
  const { build } = await import('vite')
  const result = await build({ root: c.consumer, configFile: false, mode: 'production', logLevel: 'warn' })
  output = (Array.isArray(result) ? result[0] : result).output
  dist = join(c.consumer, 'dist')

  // A static server for dist/, with the MIME type a server gives .wasm.
  server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname
    const file = normalize(join(dist, path === '/' ? 'index.html' : decodeURIComponent(path)))
    let status = 404
    let type = 'text/plain'
    let body = 'not found'
    if (file.startsWith(dist + sep)) {
      try {
        body = await readFile(file)
        status = 200
        type = TYPES[extname(file)] ?? 'application/octet-stream'
      } catch {}
    }
    served.push({ path, status, type })
    res.writeHead(status, { 'content-type': type })
    res.end(body)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${server.address().port}`
})

after(async () => {
  if (server) await new Promise((resolve) => server.close(resolve))
  if (c) await c.cleanup()
})

test('vite build takes the browser entry (web/index.js) and emits the wasm as a separate asset', async (t) => {
  const chunks = output.filter((o) => o.type === 'chunk')
  const assets = output.filter((o) => o.type === 'asset')
  const modules = chunks.flatMap((ch) => ch.moduleIds)
  const fromPackage = modules.filter((m) => m.includes(`${sep}node_modules${sep}wallet-backup${sep}`)).map((m) => m.slice(c.installed.length + 1)).sort()
  assert.deepEqual(fromPackage, ['api.js', 'web/index.js', 'web/wallet_backup.js'])

  // web/index.js loads the wasm with `new URL('./wallet_backup_bg.wasm', import.meta.url)`:
  // Vite emits it as a hashed file (above assetsInlineLimit, so no data: URL) and rewrites the URL.
  const wasmAssets = assets.filter((a) => a.fileName.endsWith('.wasm'))
  assert.equal(wasmAssets.length, 1, `assets: ${assets.map((a) => a.fileName)}`)
  const wasmName = wasmAssets[0].fileName
  assert.match(wasmName, /^assets\/wallet_backup_bg-[\w-]+\.wasm$/)
  const shipped = await readFile(join(c.installed, 'web', 'wallet_backup_bg.wasm'))
  assert.ok((await readFile(join(dist, wasmName))).equals(shipped), 'the emitted wasm differs from the package\'s')
  const js = chunks.map((ch) => ch.code).join('\n')
  assert.ok(js.includes(wasmName.slice('assets/'.length)), 'the bundle does not refer to the emitted wasm file')
  assert.doesNotMatch(js, /data:application\/wasm|AGFzbQ/, 'the wasm is inlined as base64')
  assert.doesNotMatch(js, /wallet-backup\/(node|react-native)\//)
  const files = await readdir(join(dist, 'assets'))
  t.diagnostic(`vite build: ${files.map((f) => f).join(', ')}`)
})

test('the Vite-built page does a full backup and recovery in headless Chromium', async () => {
  const browser = await launchChromium({ timeout: 60_000 })
  try {
    const page = await browser.newPage()
    const messages = []
    page.on('console', (m) => { if (m.type() === 'warning' || m.type() === 'error') messages.push(`${m.type()}: ${m.text()}`) })
    page.on('pageerror', (e) => messages.push(`pageerror: ${e.message}`))
    await page.goto(`${origin}/`)
    await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 60_000 })
    const result = await page.evaluate(() => window.__result)
    assert.equal(result.error, undefined, `the page failed: ${result.error}`)
    assert.equal(result.recovered, result.original, 'the recovered shares differ from the original')
    assert.match(result.original, /"share":"[0-9a-f]{64}"/)
    assert.match(result.cipherText, /^wbk1\./)
    assert.equal(result.done, true)
    // The wasm came from the server as application/wasm (so instantiateStreaming, no fallback warning).
    const wasm = served.filter((s) => s.path.endsWith('.wasm'))
    assert.deepEqual(wasm.map((s) => [s.status, s.type]), [[200, 'application/wasm']])
    assert.deepEqual(messages, [])
    assert.deepEqual(served.filter((s) => s.status !== 200), [])
  } finally {
    await browser.close()
  }
})
