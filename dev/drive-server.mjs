// A local Google Drive API v3 server, a DEVELOPMENT stand-in for the tests and the demo,
// written from Google's public reference (developers.google.com/drive/api/reference/rest/v3):
// the routes the module uses, in the app data folder a `drive.appdata` token reaches.
//
//   const drive = await startDriveServer()
//   drive.origin                               http://127.0.0.1:PORT, the `driveHost`
//   await drive.close()
//
// Drive routes (every answer carries CORS headers; OPTIONS preflights are answered):
//   GET    /drive/v3/files?spaces=appDataFolder&q=…&orderBy=createdTime&pageSize=N&fields=…
//          q: clauses joined by `and`: name = '…' (\' and \\ escapes), trashed = true|false,
//          'appDataFolder' in parents. spaces other than appDataFolder: 403 (the scope reaches
//          only the app data folder). Answer { kind: 'drive#fileList', files: [{ kind, id, name, mimeType }] }.
//   GET    /drive/v3/files/{id}[?alt=media]     metadata, or the content with alt=media
//   POST   /upload/drive/v3/files?uploadType=multipart   multipart/related: metadata JSON part, then
//          the media part; parents must be ['appDataFolder']. uploadType=media: the body is the content.
//   PATCH  /upload/drive/v3/files/{id}?uploadType=multipart|media   content (and name) updated in place
//   DELETE /drive/v3/files/{id}                 204
// Errors have Google's shape { error: { code, message, errors: [{ domain, reason, message }], status } }.
// Authorization: `Bearer <token>`; a missing, unknown or expired token is 401 UNAUTHENTICATED. A token
// without the drive.appdata scope (the user unticked it on Google's consent screen) gets, on every route,
// Drive's answer to a token lacking a scope: 403 PERMISSION_DENIED "Request had insufficient authentication
// scopes.", reason insufficientPermissions, ErrorInfo ACCESS_TOKEN_SCOPE_INSUFFICIENT, and a
// `WWW-Authenticate: Bearer … error="insufficient_scope"` header (exposed to pages by CORS).
// File metadata carries createdTime and modifiedTime (RFC 3339, UTC; the content's last write).
// Files belong to the token's user: another user's file id is 404.
//
// Control routes (JSON; no token), for scenarios in Node.js and in the page alike:
//   POST /__drive/token  { user, scopes? }               -> { token }  (scopes default to [drive.appdata])
//   POST /__drive/expire { token }                       the token is refused from now on (401)
//   POST /__drive/fault  { route, action, times?, skip?, status?, reason? } -> {}
//          (the fault applies to `times` matching requests, -1: all, after `skip` of them)
//          route: list | get | media | create | update | delete | any
//          action: status (answer `status`, default 503, with Google's error body),
//                  drop (close the connection), corrupt (media only: answer the stored
//                  content with its last character changed; what is stored is unchanged)
//   POST /__drive/hold   { route, count }                the next `count` requests on `route` wait until all
//          `count` have arrived, then go on together (a race made to happen: two devices creating at once)
//   POST /__drive/put    { user, name, content }         plants a file in the user's app data folder
//   GET  /__drive/files?user=U                           [{ id, name, parents, content, createdTime }]
//   GET  /__drive/log                                    [{ method, route, user, status, url }]
//   POST /__drive/reset                                  clears faults, holds (releasing what they hold) and the log

import { randomBytes } from 'node:crypto'
import { dropConnection, faultQueue, readBody, startStandInServer } from './stand-in-http.mjs'

const MAX_BODY = 5 * 1024 * 1024

const APPDATA_SCOPE = 'https://www.googleapis.com/auth/drive.appdata'
// The scopes that reach the app data folder, as Drive names them in its WWW-Authenticate header.
const APPDATA_SCOPES = ['https://www.googleapis.com/auth/drive', APPDATA_SCOPE]
const METHOD_NAMES = { list: 'List', get: 'Get', media: 'Get', create: 'Create', update: 'Update', delete: 'Delete' }

const STATUS_NAMES = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 500: 'INTERNAL', 503: 'UNAVAILABLE' }

function cors(res) {
  res.setHeader('Access-Control-Allow-Origin', '*')
  res.setHeader('Access-Control-Expose-Headers', 'Content-Type, WWW-Authenticate')
}

function send(res, status, body, type = 'application/json; charset=UTF-8', headers = {}) {
  if (res.destroyed || res.headersSent) return
  cors(res)
  const data = body === null ? '' : typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(data), 'cache-control': 'no-store', ...headers })
  res.end(data)
}

function googleError(res, status, reason, message) {
  send(res, status, {
    error: { code: status, message, errors: [{ domain: 'global', reason, message }], status: STATUS_NAMES[status] ?? 'UNKNOWN' },
  })
}

/** The boundary parameter of a multipart Content-Type (quoted or not), or null. */
function boundaryOf(contentType) {
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '')
  return m ? m[1] ?? m[2] : null
}

/**
 * Parses a multipart/related body (RFC 2387, RFC 2046 §5.1): the parts between
 * `--boundary` delimiter lines, each with headers, a blank line and content.
 * Returns [{ headers, body }] or null when malformed.
 */
export function parseMultipart(body, boundary) {
  const text = body.toString('utf8')
  const delimiter = `--${boundary}`
  const parts = []
  let at = text.indexOf(delimiter)
  if (at !== 0 && text.slice(0, at).trim() !== '') return null
  if (at < 0) return null
  for (;;) {
    at += delimiter.length
    if (text.startsWith('--', at)) break // close delimiter
    const lineEnd = text.indexOf('\r\n', at)
    if (lineEnd < 0) return null
    const next = text.indexOf(`\r\n${delimiter}`, lineEnd)
    if (next < 0) return null
    const part = text.slice(lineEnd + 2, next)
    const split = part.indexOf('\r\n\r\n')
    if (split < 0) return null
    const headers = {}
    for (const line of part.slice(0, split).split('\r\n')) {
      const colon = line.indexOf(':')
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    parts.push({ headers, body: part.slice(split + 4) })
    at = next + 2
  }
  return parts
}

/** Parses Drive's query language, the subset the app data folder needs; null if unsupported. */
export function parseQuery(q) {
  const clauses = []
  let rest = q.trim()
  while (rest.length) {
    let m
    if ((m = /^name\s*=\s*'((?:[^'\\]|\\.)*)'/.exec(rest))) {
      clauses.push({ name: m[1].replace(/\\(.)/g, '$1') })
    } else if ((m = /^trashed\s*=\s*(true|false)/.exec(rest))) {
      clauses.push({ trashed: m[1] === 'true' })
    } else if ((m = /^'appDataFolder'\s+in\s+parents/.exec(rest))) {
      clauses.push({ inAppData: true })
    } else return null
    rest = rest.slice(m[0].length).trim()
    if (!rest.length) break
    const and = /^and\s+/i.exec(rest)
    if (!and) return null
    rest = rest.slice(and[0].length)
  }
  return clauses
}

const matches = (file, clauses) =>
  clauses.every((c) => ('name' in c ? file.name === c.name : 'trashed' in c ? file.trashed === c.trashed : file.parents.includes('appDataFolder')))

/** Drive's answer to a token without a scope the route needs (here: any that reaches the app data folder). */
function scopeMissing(res, route) {
  const message = 'Request had insufficient authentication scopes.'
  send(res, 403, {
    error: {
      code: 403,
      message,
      errors: [{ message: 'Insufficient Permission', domain: 'global', reason: 'insufficientPermissions' }],
      status: 'PERMISSION_DENIED',
      details: [{
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
        domain: 'googleapis.com',
        metadata: { service: 'drive.googleapis.com', method: `google.apps.drive.v3.DriveFiles.${METHOD_NAMES[route] ?? 'List'}` },
      }],
    },
  }, undefined, {
    'www-authenticate': `Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="${APPDATA_SCOPES.join(' ')}"`,
  })
}

const fileId = () => randomBytes(24).toString('base64url')
const metadata = (f) => ({ kind: 'drive#file', id: f.id, name: f.name, mimeType: f.mimeType, createdTime: f.createdAt, modifiedTime: f.modifiedTime })

export async function startDriveServer() {
  const tokens = new Map() // token -> { user, expired }
  const files = new Map() // id -> { id, user, name, parents, mimeType, content, createdTime, trashed }
  const faults = faultQueue()
  let log = []
  let clock = 0
  let lastTime = 0
  let hold = null // { route, count, waiting: [release] }
  /** RFC 3339 in UTC with milliseconds, as Drive writes them; strictly increasing. */
  const now = () => new Date((lastTime = Math.max(Date.now(), lastTime + 1))).toISOString()
  const release = () => {
    const h = hold
    hold = null
    h?.waiting.forEach((go) => go())
  }

  async function control(req, res, url) {
    const body = req.method === 'POST' ? JSON.parse((await readBody(req, MAX_BODY)).toString() || '{}') : {}
    switch (`${req.method} ${url.pathname}`) {
      case 'POST /__drive/token': {
        const token = `ya29.${randomBytes(24).toString('base64url')}`
        const scopes = Array.isArray(body.scopes) ? body.scopes.map(String) : [APPDATA_SCOPE]
        tokens.set(token, { user: String(body.user), expired: false, scopes })
        return send(res, 200, { token })
      }
      case 'POST /__drive/expire': {
        const t = tokens.get(body.token)
        if (t) t.expired = true
        return send(res, 200, {})
      }
      case 'POST /__drive/fault':
        faults.add(body, { status: body.status ?? 503, reason: body.reason ?? 'backendError' })
        return send(res, 200, {})
      case 'POST /__drive/hold':
        release()
        hold = { route: body.route, count: Number(body.count ?? 2), waiting: [] }
        return send(res, 200, {})
      case 'POST /__drive/put': {
        const at = now()
        const f = { id: fileId(), user: String(body.user), name: body.name, parents: ['appDataFolder'], mimeType: 'text/plain', content: String(body.content), createdTime: ++clock, createdAt: at, modifiedTime: at, trashed: false }
        files.set(f.id, f)
        return send(res, 200, { id: f.id })
      }
      case 'GET /__drive/files': {
        const user = url.searchParams.get('user')
        return send(res, 200, [...files.values()].filter((f) => f.user === user).map(({ id, name, parents, content, createdTime }) => ({ id, name, parents, content, createdTime })))
      }
      case 'GET /__drive/log':
        return send(res, 200, log)
      case 'POST /__drive/reset':
        faults.clear()
        release()
        log = []
        return send(res, 200, {})
      default:
        return send(res, 404, { error: 'no such control route' })
    }
  }

  async function drive(req, res, url) {
    const path = url.pathname
    let route = 'other'
    let id = null
    let m
    if (path === '/drive/v3/files' && req.method === 'GET') route = 'list'
    else if ((m = /^\/drive\/v3\/files\/([^/]+)$/.exec(path)) && req.method === 'GET') [route, id] = [url.searchParams.get('alt') === 'media' ? 'media' : 'get', m[1]]
    else if ((m = /^\/drive\/v3\/files\/([^/]+)$/.exec(path)) && req.method === 'DELETE') [route, id] = ['delete', m[1]]
    else if (path === '/upload/drive/v3/files' && req.method === 'POST') route = 'create'
    else if ((m = /^\/upload\/drive\/v3\/files\/([^/]+)$/.exec(path)) && req.method === 'PATCH') [route, id] = ['update', m[1]]

    const auth = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')
    const token = auth && tokens.get(auth[1])
    const entry = { method: req.method, route, user: token?.user ?? null, status: 0, url: req.url }
    log.push(entry)
    const answer = (status, ...rest) => {
      entry.status = status
      return status >= 400 ? googleError(res, status, ...rest) : send(res, status, ...rest)
    }
    const body = await readBody(req, MAX_BODY)

    if (!token || token.expired) {
      return answer(401, 'authError', 'Request had invalid authentication credentials. Expected OAuth 2 access token.')
    }
    if (!APPDATA_SCOPES.some((s) => token.scopes.includes(s))) {
      entry.status = 403
      return scopeMissing(res, route)
    }
    if (hold?.route === route) {
      const h = hold
      await new Promise((go) => {
        h.waiting.push(go)
        if (h.waiting.length >= h.count) release()
      })
    }
    const fault = faults.take(route)
    if (fault?.action === 'drop') return dropConnection(req, res, entry)
    if (fault?.action === 'status') return answer(fault.status, fault.reason, 'Injected failure')
    const own = id !== null ? files.get(id) : null
    if (id !== null && (!own || own.user !== token.user)) return answer(404, 'notFound', `File not found: ${id}.`)

    switch (route) {
      case 'list': {
        if (url.searchParams.get('spaces') !== 'appDataFolder') {
          return answer(403, 'insufficientScopes', 'The granted scopes do not give access to all of the requested spaces.')
        }
        const clauses = parseQuery(url.searchParams.get('q') ?? '')
        if (!clauses) return answer(400, 'invalid', 'Invalid Value')
        const orderBy = url.searchParams.get('orderBy')
        if (orderBy && orderBy !== 'createdTime') return answer(400, 'invalid', 'Invalid Value')
        const pageSize = Number(url.searchParams.get('pageSize') ?? 100)
        const found = [...files.values()]
          .filter((f) => f.user === token.user && matches(f, clauses))
          .sort((a, b) => a.createdTime - b.createdTime)
          .slice(0, pageSize)
        entry.status = 200
        return send(res, 200, { kind: 'drive#fileList', incompleteSearch: false, files: found.map(metadata) })
      }
      case 'get':
        entry.status = 200
        return send(res, 200, metadata(own))
      case 'media': {
        let content = own.content
        if (fault?.action === 'corrupt') content = content.slice(0, -1) + (content.endsWith('A') ? 'B' : 'A')
        entry.status = 200
        return send(res, 200, content, own.mimeType)
      }
      case 'create':
      case 'update': {
        const type = url.searchParams.get('uploadType')
        let meta = {}
        let content
        if (type === 'multipart') {
          const boundary = boundaryOf(req.headers['content-type'])
          if (!/^multipart\/related/i.test(req.headers['content-type'] ?? '') || !boundary) {
            return answer(400, 'badContent', 'Bad content type. Please use multipart/related.')
          }
          const parts = parseMultipart(body, boundary)
          if (!parts || parts.length !== 2 || !/^application\/json/i.test(parts[0].headers['content-type'] ?? '')) {
            return answer(400, 'badContent', 'Malformed multipart body.')
          }
          try {
            meta = JSON.parse(parts[0].body || '{}')
          } catch {
            return answer(400, 'parseError', 'Parse Error')
          }
          content = parts[1].body
        } else if (type === 'media') {
          content = body.toString('utf8')
        } else return answer(400, 'invalid', 'Invalid Value')
        if (route === 'update') {
          if (meta.parents) return answer(403, 'fieldNotWritable', 'The resource body includes fields which are not directly writable.')
          if (typeof meta.name === 'string') own.name = meta.name
          own.content = content
          own.modifiedTime = now()
          entry.status = 200
          return send(res, 200, metadata(own))
        }
        if (JSON.stringify(meta.parents) !== '["appDataFolder"]') {
          return answer(403, 'insufficientScopes', 'The granted scopes do not allow use of the Drive space outside the app data folder.')
        }
        const at = now()
        const f = { id: fileId(), user: token.user, name: meta.name ?? 'Untitled', parents: ['appDataFolder'], mimeType: meta.mimeType ?? 'application/octet-stream', content, createdTime: ++clock, createdAt: at, modifiedTime: at, trashed: false }
        files.set(f.id, f)
        entry.status = 200
        return send(res, 200, metadata(f))
      }
      case 'delete':
        files.delete(id)
        entry.status = 204
        cors(res)
        res.writeHead(204)
        return res.end()
      default:
        return answer(404, 'notFound', 'Not Found')
    }
  }

  return startStandInServer({
    cors,
    methods: 'GET, POST, PATCH, DELETE',
    headers: 'Authorization, Content-Type',
    controlPrefix: '/__drive/',
    control,
    api: drive,
    fail: (res, e) => send(res, 500, { error: String(e) }),
  })
}
