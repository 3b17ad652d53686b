// The bench's page server: the repository's whitelisted folders over HTTP on 127.0.0.1 only, with
// the headers that make the page cross-origin isolated (for performance.now()'s resolution).
import { createServer } from 'node:http'
import { createReadStream, existsSync, statSync } from 'node:fs'
import { extname, join, normalize, relative, sep } from 'node:path'
import { root } from './common.mjs'

const SERVED = ['/pkg/', '/bench/page/', '/bench/out/wasm/', '/node_modules/hash-wasm/dist/']
const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.cjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html; charset=utf-8', '.json': 'application/json' }

/** Resolves to the listening server (port 0: a free one). */
export function startServer() {
  return new Promise((resolvePromise, reject) => {
    const s = createServer((req, res) => {
      let file
      try {
        file = normalize(join(root, decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname)))
      } catch {
        file = ''
      }
      // Only whitelisted folders of the repository, checked after normalisation (no '..' escapes).
      const rel = '/' + relative(root, file).split(sep).join('/')
      const ok = req.method === 'GET' && file.startsWith(root + sep) && SERVED.some((p) => rel.startsWith(p)) && existsSync(file) && statSync(file).isFile()
      if (!ok) {
        res.writeHead(404).end('not found')
        return
      }
      res.writeHead(200, {
        'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
        'Cache-Control': 'no-store',
        // Cross-origin isolation gives performance.now() its fine (5 µs) resolution.
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cross-Origin-Resource-Policy': 'same-origin',
      })
      createReadStream(file).pipe(res)
    })
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => resolvePromise(s))
  })
}
