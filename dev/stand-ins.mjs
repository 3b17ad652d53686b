// The demo's DEVELOPMENT stand-ins for the remote storage a real app uses,
// on loopback only, started by scripts/demo.mjs beside the service:
//
//   gdrive      a local Google Drive v3 server (dev/drive-server.mjs, written
//               from Google's public reference; the tests use it too). The
//               page "signs in" by asking it for an access token
//               (POST /__drive/token), in place of Google's OAuth consent screen.
//   icloud      a local CloudKit Web Services server (dev/cloudkit-server.mjs,
//               written from Apple's public reference; the tests use it too).
//               The page "signs in" by asking it for a web auth token, in
//               place of Apple's sign-in.
//   app-server  "your app's own server" for the custom method: one string per
//               user, GET / PUT / DELETE /keys/{user} (GET: 204 when there is none).
//               A real app's server would authenticate its user; this one
//               keeps the demo's test user only.
//
// Nothing here talks to Google or Apple. State is in memory: it ends with the demo.
//
//   const { origins, close } = await startStandIns()   // origins: { gdrive, icloud, 'app-server' }

import http from 'node:http'

import { startCloudKitServer } from './cloudkit-server.mjs'
import { startDriveServer } from './drive-server.mjs'

/** Largest string the app-server stand-in keeps (a keys record is a few hundred bytes). */
const MAX_VALUE = 64 * 1024
/** The only user the app-server stand-in keeps strings for. */
const APP_SERVER_USERS = new Set(['demo-user'])

/** The app-server stand-in: `{ origin, close }`. */
export async function startAppServer() {
  const values = new Map()
  const server = http.createServer((req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*')
    res.setHeader('Cache-Control', 'no-store')
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'Access-Control-Allow-Methods': 'GET, PUT, DELETE', 'Access-Control-Allow-Headers': 'Content-Type', 'Access-Control-Max-Age': '600' })
      return res.end()
    }
    const match = /^\/keys\/([a-z0-9-]{1,64})$/.exec(new URL(req.url, 'http://stand-in').pathname)
    const user = match?.[1]
    const answer = (status, body = '') => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' })
      res.end(body)
    }
    if (!user || !APP_SERVER_USERS.has(user)) return answer(404, 'no such user')
    if (req.method === 'GET') return values.has(user) ? answer(200, values.get(user)) : answer(204)
    if (req.method === 'DELETE') return answer(values.delete(user) ? 204 : 404, '')
    if (req.method !== 'PUT') return answer(405, 'GET, PUT or DELETE')
    let body = ''
    let tooLarge = false
    req.setEncoding('utf8')
    req.on('data', (chunk) => {
      body += chunk
      if (body.length > MAX_VALUE) tooLarge = true
    })
    req.on('end', () => {
      if (tooLarge) return answer(413, 'too large')
      values.set(user, body)
      answer(204)
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${server.address().port}`
  return { origin, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

/** Starts every stand-in; resolves to their origins and one `close`. */
export async function startStandIns() {
  const started = []
  const origins = {}
  try {
    const drive = await startDriveServer()
    started.push(drive)
    origins.gdrive = drive.origin
    const cloudkit = await startCloudKitServer()
    started.push(cloudkit)
    origins.icloud = cloudkit.origin
    const app = await startAppServer()
    started.push(app)
    origins['app-server'] = app.origin
  } catch (err) {
    await Promise.all(started.map((s) => s.close()))
    throw err
  }
  let closing = null
  // Idempotent: the demo closes them when the service exits and again on close().
  const close = () => (closing ??= Promise.all(started.map((s) => s.close())).then(() => undefined))
  return { origins, close }
}
