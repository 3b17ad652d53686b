// Static server of the wallet-backup demo page: `www/` at `/`, the built
// npm package `pkg/` at `/pkg/`. Node built-ins only, no npm dependencies.
//
//   node scripts/serve-demo.mjs          # http://127.0.0.1:8080/
//   PORT=0 node scripts/serve-demo.mjs   # any free port
//
// Tests start it in-process: `const { url, close } = await startDemoServer({ port: 0 })`.

import { createServer } from 'node:http'
import { open, realpath } from 'node:fs/promises'
import { existsSync, realpathSync } from 'node:fs'
import { extname, join, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))

/** URL prefix → folder it serves. Longest prefix first. */
const MOUNTS = [
  { prefix: '/pkg/', dir: join(ROOT, 'pkg') },
  { prefix: '/', dir: join(ROOT, 'www') },
]

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.ts': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
}

// The page runs under a strict policy: scripts only from this origin, plus
// 'wasm-unsafe-eval' which WebAssembly compilation needs. The favicon is an
// inline `data:` URL so the browser makes no request that would 404.
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cache-Control': 'no-store',
}

function send(res, status, message, extraHeaders = {}) {
  const body = `${status} ${message}\n`
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    ...extraHeaders,
  })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

/**
 * Maps a request path to a file inside one of the mounts, or null when the
 * path is malformed or would leave its folder (`..`, encoded slashes, NUL).
 */
function resolveRequestPath(rawPath) {
  let path
  try {
    path = decodeURIComponent(rawPath)
  } catch {
    return null
  }
  if (path.includes('\0') || path.includes('\\')) return null
  if (path.split('/').some((segment) => segment === '..' || segment === '.')) return null
  if (path === '/pkg') path = '/pkg/'
  const mount = MOUNTS.find((m) => path.startsWith(m.prefix))
  if (!mount) return null
  let rest = path.slice(mount.prefix.length)
  if (rest === '' || rest.endsWith('/')) rest += 'index.html'
  const file = resolve(mount.dir, rest)
  if (!file.startsWith(mount.dir + sep)) return null
  return { file, dir: mount.dir }
}

async function handle(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' })
  }
  let pathname
  try {
    pathname = new URL(req.url, 'http://localhost').pathname
  } catch {
    return send(res, 400, 'Bad Request')
  }
  const target = resolveRequestPath(pathname)
  if (!target) return send(res, 400, 'Bad Request')

  let fh
  try {
    // Symbolic links must not lead out of the served folder either.
    const real = await realpath(target.file)
    const realDir = await realpath(target.dir)
    if (!real.startsWith(realDir + sep)) return send(res, 404, 'Not Found')
    fh = await open(real, 'r')
    const stat = await fh.stat()
    if (!stat.isFile()) {
      await fh.close()
      return send(res, 404, 'Not Found')
    }
    const type = CONTENT_TYPES[extname(real).toLowerCase()] ?? 'application/octet-stream'
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': stat.size })
    if (req.method === 'HEAD') {
      await fh.close()
      return res.end()
    }
    const stream = fh.createReadStream()
    stream.on('error', () => res.destroy())
    stream.pipe(res)
  } catch (err) {
    await fh?.close().catch(() => {})
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR' || err.code === 'EISDIR') return send(res, 404, 'Not Found')
    console.error('serve-demo:', err)
    if (!res.headersSent) send(res, 500, 'Internal Server Error')
    else res.destroy()
  }
}

/**
 * Starts the demo server. Resolves once it is listening.
 *
 * @param {{ port?: number, host?: string }} [options] port 0 picks a free port
 * @returns {Promise<{ url: string, port: number, close: () => Promise<void> }>}
 */
export function startDemoServer({ port = 8080, host = '127.0.0.1' } = {}) {
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      console.error('serve-demo:', err)
      res.destroy()
    })
  })
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      const address = server.address()
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
      const url = `http://${shownHost}:${address.port}/`
      const close = () =>
        new Promise((done) => {
          server.close(() => done())
          server.closeAllConnections()
        })
      resolvePromise({ url, port: address.port, close })
    })
  })
}

function isMainScript() {
  if (!process.argv[1]) return false
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href
  } catch {
    return false
  }
}

if (isMainScript()) {
  const raw = process.env.PORT ?? '8080'
  const port = Number(raw)
  if (!/^\d+$/.test(raw) || port > 65535) {
    console.error(`serve-demo: PORT must be a number from 0 to 65535, got ${JSON.stringify(raw)}`)
    process.exit(1)
  }
  if (!existsSync(join(ROOT, 'pkg', 'web', 'index.js'))) {
    console.warn('serve-demo: pkg/web/index.js is missing; build it first with `npm run build`')
  }
  try {
    const { url, close } = await startDemoServer({ port })
    console.log(`wallet-backup demo: ${url}`)
    const stop = () => close().then(() => process.exit(0))
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  } catch (err) {
    console.error(`serve-demo: cannot listen on 127.0.0.1:${port}: ${err.message}`)
    process.exit(1)
  }
}
