// The packed tarball through the four bundlers web wallets use (Vite, webpack
// 5, Rollup, esbuild), each building every entry shape of
// bundler-consumer/ on its own (free functions only, `Portal` only, both, a
// dynamic `import()`), with production settings and only the plugins a
// bundler needs for the wasm file; each bundle loaded in headless Chromium
// from a static server on loopback, doing a password backup and recovery
// with no console warning or error.
//
// One build per shape: in a shared build, one shape's use of `Portal` would
// keep the wasm start-up for all of them and hide a bundler dropping it
// (what `"sideEffects": false` did to `import { backupWallet, recoverWallet }`).
//
//   node --test tests/packaging/bundlers.test.mjs
//
// Needs Chromium (/usr/bin/chromium or CHROMIUM_PATH) and the dev
// dependencies (vite, webpack, rollup with @rollup/plugin-node-resolve and
// @web/rollup-plugin-import-meta-assets, esbuild).

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'

import { ROOT, packAndInstall } from './consumer.mjs'
import { launchChromium } from '../../dev/chromium.mjs'

const FIXTURE = join(ROOT, 'tests', 'packaging', 'bundler-consumer')
const SHAPES = ['free', 'portal', 'both', 'dynamic']
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm' }

let c // the consumer: the fixture with the tarball installed
let dist // every build's output, dist/<bundler>/<shape>/
let server
let origin
let browser
const served = [] // [{ path, status, type }]

before(async () => {
  c = await packAndInstall('bundlers', { fixture: FIXTURE, packageJson: { name: 'wallet-backup-bundler-consumer', private: true, type: 'module' } })
  dist = join(c.consumer, 'dist')
  server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname)
    const file = normalize(join(dist, path))
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
  browser = await launchChromium({ timeout: 60_000 })
})

after(async () => {
  if (browser) await browser.close()
  if (server) await new Promise((resolve) => server.close(resolve))
  if (c) await c.cleanup()
})

/** A page loading `script` (an ES module unless `classic`). */
const page = (script, { classic = false } = {}) =>
  `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>wallet-backup bundler consumer</title><link rel="icon" href="data:,"></head>\n` +
  `<body><script ${classic ? '' : 'type="module" '}src="${script}"></script></body></html>\n`

/** Each bundler's production build of one shape into `out`; resolves to the page's path below `out` and the build's warnings. */
const BUILDERS = {
  async vite(shape, out) {
    // Vite's own flow: an HTML page whose module script is the shape.
    await writeFile(join(c.consumer, `${shape}.html`), page(`./${shape}.js`))
    const warnings = []
    const { build } = await import('vite')
    await build({
      root: c.consumer,
      configFile: false,
      mode: 'production',
      logLevel: 'warn',
      base: './',
      customLogger: { info() {}, warn: (m) => warnings.push(m), warnOnce: (m) => warnings.push(m), error: (m) => warnings.push(m), clearScreen() {}, hasErrorLogged: () => false, hasWarned: false },
      build: { outDir: out, emptyOutDir: true, rollupOptions: { input: join(c.consumer, `${shape}.html`) } },
    })
    return { html: `${shape}.html`, warnings }
  },

  async webpack(shape, out) {
    // Webpack 5's defaults: `new URL('./x.wasm', import.meta.url)` becomes an asset module, top-level await an async module.
    const { default: webpack } = await import('webpack')
    const compiler = webpack({
      mode: 'production',
      context: c.consumer,
      entry: `./${shape}.js`,
      target: 'web',
      devtool: false,
      output: { path: out, filename: 'main.js', clean: true },
      performance: { hints: false },
    })
    const stats = await new Promise((resolve, reject) => compiler.run((error, s) => compiler.close(() => (error ? reject(error) : resolve(s)))))
    const info = stats.toJson({ all: false, errors: true, warnings: true })
    assert.deepEqual(info.errors.map((e) => e.message), [], 'webpack errors')
    await writeFile(join(out, 'index.html'), page('./main.js', { classic: true }))
    return { html: 'index.html', warnings: info.warnings.map((w) => w.message) }
  },

  async rollup(shape, out) {
    // Rollup needs node-resolve for the package (browser condition) and a plugin emitting `new URL(..., import.meta.url)` files.
    const { rollup } = await import('rollup')
    const { nodeResolve } = await import('@rollup/plugin-node-resolve')
    const { importMetaAssets } = await import('@web/rollup-plugin-import-meta-assets')
    const warnings = []
    const bundle = await rollup({
      input: join(c.consumer, `${shape}.js`),
      plugins: [nodeResolve({ browser: true }), importMetaAssets()],
      onwarn: (w) => warnings.push(`${w.code}: ${w.message}`),
    })
    await bundle.write({ dir: out, format: 'es', entryFileNames: 'main.js' })
    await bundle.close()
    await writeFile(join(out, 'index.html'), page('./main.js'))
    return { html: 'index.html', warnings }
  },

  async esbuild(shape, out) {
    // esbuild leaves `new URL('./wallet_backup_bg.wasm', import.meta.url)` alone: the wasm is copied next to the chunks.
    const esbuild = await import('esbuild')
    const result = await esbuild.build({
      entryPoints: { main: join(c.consumer, `${shape}.js`) },
      absWorkingDir: c.consumer,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'browser',
      minify: true,
      outdir: out,
      logLevel: 'silent',
    })
    await cp(join(c.installed, 'web', 'wallet_backup_bg.wasm'), join(out, 'wallet_backup_bg.wasm'))
    await writeFile(join(out, 'index.html'), page('./main.js'))
    return { html: 'index.html', warnings: result.warnings.map((w) => w.text) }
  },
}

/** Loads a built page in Chromium and returns its result and what went wrong around it. */
async function load(path) {
  const from = served.length
  const tab = await browser.newPage()
  const messages = []
  tab.on('console', (m) => { if (m.type() === 'warning' || m.type() === 'error') messages.push(`${m.type()}: ${m.text()}`) })
  tab.on('pageerror', (e) => messages.push(`pageerror: ${e.message}`))
  try {
    await tab.goto(`${origin}/${path}`)
    await tab.waitForFunction(() => window.__result !== undefined, null, { timeout: 60_000 })
    return { result: await tab.evaluate(() => window.__result), messages, requests: served.slice(from) }
  } finally {
    await tab.close()
  }
}

for (const bundler of Object.keys(BUILDERS)) {
  test(`${bundler}: every entry shape, built for production, does a backup and recovery in Chromium`, async (t) => {
    for (const shape of SHAPES) {
      await t.test(shape, async (t) => {
        const out = join(dist, bundler, shape)
        await mkdir(out, { recursive: true })
        const { html, warnings } = await BUILDERS[bundler](shape, out)
        const files = await readdir(out, { recursive: true })
        t.diagnostic(`${bundler}/${shape}: ${files.filter((f) => /\.(js|wasm)$/.test(f)).join(', ')}${warnings.length ? `; warnings: ${warnings.join(' | ')}` : ''}`)
        assert.equal(files.filter((f) => f.endsWith('.wasm')).length, 1, `one wasm file in the output: ${files}`)

        const { result, messages, requests } = await load(`${bundler}/${shape}/${html}`)
        assert.equal(result.error, undefined, `the page failed: ${result.error}`)
        assert.equal(result.shape, shape)
        assert.match(result.original, /"share":"[0-9a-f]{64}"/)
        assert.equal(result.recovered, result.original, 'the recovered shares differ from the original')
        assert.match(result.cipherText, /^wbk1\./)
        assert.equal(result.done, true, 'no Done progress event last')
        assert.deepEqual(messages, [], 'console warnings or errors')
        // Everything the page asked for was there; the wasm came as application/wasm (streaming compilation, no fallback).
        assert.deepEqual(requests.filter((r) => r.status !== 200), [])
        assert.deepEqual(requests.filter((r) => r.path.endsWith('.wasm')).map((r) => [r.status, r.type]), [[200, 'application/wasm']])
      })
    }
  })
}
