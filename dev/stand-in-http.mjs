// The HTTP plumbing the two protocol stand-ins (drive-server.mjs and
// cloudkit-server.mjs) share: a request body with a size limit, the queue of
// faults their control routes inject, dropping a connection, and a loopback
// server that answers CORS preflights and sends control routes and API routes
// to their handlers. What each stand-in answers, and in which shape, stays in
// its own file.

import http from 'node:http'

/** The request's body as a Buffer; rejects (and destroys the request) past `maxBytes`. */
export function readBody(req, maxBytes) {
  return new Promise((resolve, reject) => {
    const chunks = []
    let size = 0
    req.on('data', (c) => {
      size += c.length
      if (size > maxBytes) {
        reject(new Error('body too large'))
        req.destroy()
      } else chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

/**
 * The faults a control route sets: `add(body, extra)` queues
 * { route, action, times, skip, ...extra } from the route's JSON body; a fault
 * applies to `times` matching requests (-1: all) after `skip` of them, and
 * `take(route)` returns the one that applies to a request on `route` (or on
 * any route), or null.
 */
export function faultQueue() {
  let faults = []
  return {
    add(body, extra = {}) {
      faults.push({ route: body.route, action: body.action, times: body.times ?? 1, skip: body.skip ?? 0, ...extra })
    },
    take(route) {
      const f = faults.find((f) => f.route === route || f.route === 'any')
      if (!f) return null
      if (f.skip > 0) {
        f.skip--
        return null
      }
      if (f.times > 0 && --f.times === 0) faults = faults.filter((x) => x !== f)
      return f
    },
    clear() {
      faults = []
    },
  }
}

/** A `drop` fault: closes the connection without an answer, logged as `dropped` in `entry`. */
export function dropConnection(req, res, entry) {
  entry.status = 'dropped'
  res.destroy()
  req.socket.destroy()
}

/**
 * Starts a stand-in on a free loopback port. An OPTIONS preflight calls
 * `onPreflight(url)`, then gets 204 with `cors(res)`'s headers and the
 * allowed `methods` and `headers`; a path under `controlPrefix` goes to
 * `control(req, res, url)`, any other to `api(req, res, url)`; what they throw
 * is answered by `fail(res, error)`. Resolves to { origin, close }.
 */
export async function startStandInServer({ cors, methods, headers, onPreflight = () => {}, controlPrefix, control, api, fail }) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost')
    const run = async () => {
      if (req.method === 'OPTIONS') {
        onPreflight(url)
        cors(res)
        res.writeHead(204, {
          'Access-Control-Allow-Methods': methods,
          'Access-Control-Allow-Headers': headers,
          'Access-Control-Max-Age': '600',
        })
        return res.end()
      }
      if (url.pathname.startsWith(controlPrefix)) return control(req, res, url)
      return api(req, res, url)
    }
    run().catch((e) => fail(res, e))
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r) }),
  }
}
