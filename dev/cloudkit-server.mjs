// A local CloudKit Web Services server, a DEVELOPMENT stand-in for the tests and the demo,
// written from Apple's public "CloudKit Web Services Reference" (Composing Web
// Service Requests, records/lookup, records/modify, Error Codes): the record
// routes the module uses, in the private database of one container.
//
//   const ck = await startCloudKitServer()
//   ck.origin                 http://127.0.0.1:PORT, the `cloudKitHost`
//   ck.containerIdentifier    iCloud.com.example.walletbackup
//   ck.apiToken               the container's API token (64 hex digits)
//   await ck.close()
//
// CloudKit routes (every answer carries CORS headers and exposes
// X-Apple-CloudKit-Web-Auth-Token; OPTIONS preflights are answered and logged):
//   POST /database/1/{container}/{environment}/{database}/records/lookup?ckAPIToken=…&ckWebAuthToken=…
//        { records: [{ recordName }], desiredKeys? } -> { records: [record | { recordName, reason, serverErrorCode: 'NOT_FOUND' }] }
//   POST /database/1/{container}/{environment}/{database}/records/modify?ckAPIToken=…&ckWebAuthToken=…
//        { operations: [{ operationType, record: { recordName, recordType, recordChangeTag?, fields } }] }
//        -> { records: [record | { recordName, reason, serverErrorCode }] }
//        create       EXISTS if the record exists
//        update       only the fields given change; NOT_FOUND if missing, CONFLICT unless
//                     recordChangeTag is the record's current tag
//        forceUpdate  update regardless of the tag; creates a missing record
//        replace      like update, but the fields are replaced as a whole
//        forceReplace replace regardless of the tag; creates a missing record
//        delete       NOT_FOUND if missing, CONFLICT unless the tag is current; answers { recordName, deleted: true }
//        forceDelete  delete regardless of the tag; NOT_FOUND if missing
//   A record: { recordName, recordType, recordChangeTag, fields: { name: { value, type } }, created, modified }.
//   Every change gives the record a new recordChangeTag. In `production`, only the schema's record type
//   WalletBackupKeys (field `keys`, STRING) can be written (BAD_REQUEST otherwise); `development` takes any.
//   database must be `private` (this server has nothing else: 400 BAD_REQUEST).
//   Errors of a whole request: HTTP status of Apple's table, body { uuid, serverErrorCode, reason }:
//   a missing or wrong ckAPIToken is 401 AUTHENTICATION_FAILED; a missing, unknown, used or expired
//   ckWebAuthToken is 421 AUTHENTICATION_REQUIRED (with a redirectURL); a malformed body 400 BAD_REQUEST.
//   Web auth tokens (`106__54__` + standard base64, so `+`, `/` and `=` must be URL-encoded) belong to one
//   user and are good for ONE answered request ("short-lived and expire after a single use", Apple's
//   CKFetchWebAuthTokenOperation): each 2xx answer carries the next one in X-Apple-CloudKit-Web-Auth-Token.
//   A request that gets no 2xx answer leaves its token usable. Each user sees only their own records.
//
// Control routes (JSON; no token), for scenarios in Node.js and in the page alike:
//   POST /__cloudkit/token  { user }                 -> { webAuthToken }   a signed-in session
//   GET  /__cloudkit/container                      -> { containerIdentifier, apiToken }   (for the demo page)
//   POST /__cloudkit/expire { user }                 every token of the user is refused from now on (421)
//   POST /__cloudkit/fault  { route, action, times?, skip?, status?, serverErrorCode?, value? } -> {}
//          (applies to `times` matching requests, -1: all, after `skip` of them)
//          route: lookup | modify | any
//          action: status     answer `status` (default 503) with { uuid, serverErrorCode, reason }
//                             (serverErrorCode default: Apple's for the status, e.g. TRY_AGAIN_LATER)
//                  drop       close the connection without an answer
//                  corrupt    lookup: answer the stored record with the last character of each STRING
//                             value changed (what is stored is unchanged)
//                  record-error  answer 200 with a per-record error `serverErrorCode` (default QUOTA_EXCEEDED)
//                  concurrent modify: before applying it, another device changes the record: a new
//                             recordChangeTag and, with `value`, field `keys` set to `value` (creating
//                             the record if missing)
//   POST /__cloudkit/put    { user, environment?, recordName, recordType, fields }   plants a record
//   GET  /__cloudkit/records?user=U[&environment=E]   [{ recordName, recordType, recordChangeTag, fields }]
//   GET  /__cloudkit/log                              [{ method, route, user, status, environment, operations, tokenUsed }]
//                                                     (tokenUsed: which of the user's tokens, 1-based; never the token)
//   POST /__cloudkit/reset                            clears faults and the log

import { randomBytes, randomUUID } from 'node:crypto'
import { dropConnection, faultQueue, readBody, startStandInServer } from './stand-in-http.mjs'

const MAX_BODY = 1024 * 1024
const CONTAINER = 'iCloud.com.example.walletbackup'
const TOKEN_HEADER = 'X-Apple-CloudKit-Web-Auth-Token'
const SCHEMA = { WalletBackupKeys: { keys: 'STRING' } }
const OPERATION_TYPES = ['create', 'update', 'forceUpdate', 'replace', 'forceReplace', 'delete', 'forceDelete']
const CODES = { 400: 'BAD_REQUEST', 401: 'AUTHENTICATION_FAILED', 403: 'ACCESS_DENIED', 404: 'NOT_FOUND', 409: 'CONFLICT', 413: 'QUOTA_EXCEEDED', 421: 'AUTHENTICATION_REQUIRED', 429: 'THROTTLED', 500: 'INTERNAL_ERROR', 503: 'TRY_AGAIN_LATER' }

function cors(res) {
  res.setHeader('Access-Control-Allow-Origin', '*')
  res.setHeader('Access-Control-Expose-Headers', `X-Apple-Request-UUID, ${TOKEN_HEADER}`)
}

function send(res, status, body, headers = {}, type = 'application/json; charset=UTF-8') {
  if (res.destroyed || res.headersSent) return
  cors(res)
  const data = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(data), 'cache-control': 'no-store', ...headers })
  res.end(data)
}

const newTag = () => randomBytes(6).toString('hex')
const recordError = (recordName, serverErrorCode, reason) => ({ recordName, reason, serverErrorCode })
const copy = (v) => JSON.parse(JSON.stringify(v))

/** A record's answer form, with only `desiredKeys` among its fields when given. */
function answerOf(r, desiredKeys) {
  const fields = {}
  for (const [k, v] of Object.entries(r.fields)) if (!desiredKeys || desiredKeys.includes(k)) fields[k] = copy(v)
  return { recordName: r.recordName, recordType: r.recordType, recordChangeTag: r.recordChangeTag, fields, created: r.created, modified: r.modified, deleted: false }
}

/** Checks a request's `fields` dictionary: { name: { value, type? } }; returns an error reason or null. */
function badFields(fields, recordType, environment) {
  if (fields === undefined) return null
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) return 'fields must be a dictionary'
  const schema = SCHEMA[recordType]
  for (const [name, field] of Object.entries(fields)) {
    if (!field || typeof field !== 'object' || !('value' in field)) return `field ${name} has no value`
    if (field.type !== undefined && typeof field.type !== 'string') return `field ${name} has a bad type`
    if (environment === 'production' && schema?.[name] === undefined) return `field ${name} is not in the production schema`
    if (schema?.[name] === 'STRING' && typeof field.value !== 'string') return `field ${name} must be a STRING`
  }
  return null
}

export async function startCloudKitServer() {
  const apiToken = randomBytes(32).toString('hex')
  const tokens = new Map() // webAuthToken -> { user, n, used, expired }
  const counts = new Map() // user -> tokens issued
  const databases = new Map() // `${environment}/${user}` -> Map(recordName -> record)
  const faults = faultQueue()
  let log = []
  let clock = Date.now()

  function issue(user) {
    const n = (counts.get(user) ?? 0) + 1
    counts.set(user, n)
    // Shaped like Apple's (`106__54__…`), with base64's `+`, `/` and `=` that must be URL-encoded.
    let token
    do token = `106__54__${randomBytes(31).toString('base64')}`
    while (!token.includes('+'))
    tokens.set(token, { user, n, used: false, expired: false })
    return token
  }

  const database = (environment, user) => {
    const key = `${environment}/${user}`
    if (!databases.has(key)) databases.set(key, new Map())
    return databases.get(key)
  }

  async function control(req, res, url) {
    const body = req.method === 'POST' ? JSON.parse((await readBody(req, MAX_BODY)).toString() || '{}') : {}
    switch (`${req.method} ${url.pathname}`) {
      case 'POST /__cloudkit/token':
        return send(res, 200, { webAuthToken: issue(String(body.user)) })
      case 'GET /__cloudkit/container':
        // What a web app's CloudKit set-up holds (the API token is public: it ships in the page).
        return send(res, 200, { containerIdentifier: CONTAINER, apiToken })
      case 'POST /__cloudkit/expire':
        for (const t of tokens.values()) if (t.user === String(body.user)) t.expired = true
        return send(res, 200, {})
      case 'POST /__cloudkit/fault':
        faults.add(body, { status: body.status ?? 503, serverErrorCode: body.serverErrorCode, value: body.value })
        return send(res, 200, {})
      case 'POST /__cloudkit/put': {
        const r = { recordName: body.recordName, recordType: body.recordType, fields: copy(body.fields ?? {}), recordChangeTag: newTag(), created: { timestamp: ++clock }, modified: { timestamp: clock } }
        database(body.environment ?? 'development', String(body.user)).set(r.recordName, r)
        return send(res, 200, {})
      }
      case 'GET /__cloudkit/records': {
        const records = database(url.searchParams.get('environment') ?? 'development', url.searchParams.get('user'))
        return send(res, 200, [...records.values()].map(({ recordName, recordType, recordChangeTag, fields }) => copy({ recordName, recordType, recordChangeTag, fields })))
      }
      case 'GET /__cloudkit/log':
        return send(res, 200, log)
      case 'POST /__cloudkit/reset':
        faults.clear()
        log = []
        return send(res, 200, {})
      default:
        return send(res, 404, { error: 'no such control route' })
    }
  }

  /** Applies one record operation to `records`; returns the answer's entry. */
  function apply(records, op, environment) {
    const type = op?.operationType
    const rec = op?.record
    if (!OPERATION_TYPES.includes(type) || !rec || typeof rec !== 'object') {
      return recordError(rec?.recordName, 'BAD_REQUEST', 'invalid operation')
    }
    const name = rec.recordName ?? (type === 'create' ? randomUUID().toUpperCase() : undefined)
    if (typeof name !== 'string' || !name) return recordError(name, 'BAD_REQUEST', 'missing recordName')
    const existing = records.get(name)
    const tagMatches = existing && rec.recordChangeTag === existing.recordChangeTag
    if (type === 'delete' || type === 'forceDelete') {
      if (!existing) return recordError(name, 'NOT_FOUND', 'record not found')
      if (type === 'delete' && !tagMatches) return recordError(name, 'CONFLICT', 'oplock error')
      records.delete(name)
      return { recordName: name, deleted: true }
    }
    if (type === 'create' && existing) return recordError(name, 'EXISTS', 'record to insert already exists')
    if ((type === 'update' || type === 'replace') && !existing) return recordError(name, 'NOT_FOUND', 'record not found')
    if ((type === 'update' || type === 'replace') && !tagMatches) return recordError(name, 'CONFLICT', 'oplock error')
    const recordType = existing?.recordType ?? rec.recordType
    if (typeof recordType !== 'string' || !recordType) return recordError(name, 'BAD_REQUEST', 'missing recordType')
    if (existing && rec.recordType !== undefined && rec.recordType !== existing.recordType) {
      return recordError(name, 'BAD_REQUEST', 'recordType does not match the existing record')
    }
    if (environment === 'production' && !SCHEMA[recordType]) {
      return recordError(name, 'BAD_REQUEST', `Cannot create new type ${recordType} in production schema`)
    }
    const bad = badFields(rec.fields, recordType, environment)
    if (bad) return recordError(name, 'BAD_REQUEST', bad)
    const merge = existing && (type === 'update' || type === 'forceUpdate')
    const fields = { ...(merge ? existing.fields : {}), ...copy(rec.fields ?? {}) }
    const now = { timestamp: ++clock }
    const saved = { recordName: name, recordType, fields, recordChangeTag: newTag(), created: existing?.created ?? now, modified: now }
    records.set(name, saved)
    return answerOf(saved)
  }

  async function cloudKit(req, res, url) {
    const m = /^\/database\/1\/([^/]+)\/([^/]+)\/([^/]+)\/records\/(lookup|modify)$/.exec(url.pathname)
    const route = m ? m[4] : 'other'
    const webToken = url.searchParams.get('ckWebAuthToken')
    const session = webToken === null ? undefined : tokens.get(webToken)
    const entry = { method: req.method, route, user: session?.user ?? null, status: 0, environment: m?.[2] ?? null, operations: null, tokenUsed: session?.n ?? null }
    log.push(entry)
    const fail = (status, serverErrorCode = CODES[status] ?? 'INTERNAL_ERROR', reason = 'request failed', extra = {}) => {
      entry.status = status
      send(res, status, { uuid: randomUUID(), serverErrorCode, reason, ...extra })
    }
    let body
    try {
      body = JSON.parse((await readBody(req, MAX_BODY)).toString('utf8'))
    } catch {
      body = undefined
    }
    if (!m || req.method !== 'POST') return fail(404, 'NOT_FOUND', 'no such endpoint')
    const [, container, environment, db] = m
    if (decodeURIComponent(container) !== CONTAINER || !['development', 'production'].includes(environment)) {
      return fail(400, 'BAD_REQUEST', 'unknown container or environment')
    }
    if (url.searchParams.get('ckAPIToken') !== apiToken) return fail(401, 'AUTHENTICATION_FAILED', 'Authentication failed')
    if (!session || session.used || session.expired) {
      return fail(421, 'AUTHENTICATION_REQUIRED', 'request needs authorization', { redirectURL: 'https://idmsa.apple.com/IDMSWebAuth/signin?synthetic=1' })
    }
    if (db !== 'private') return fail(400, 'BAD_REQUEST', 'this server holds only the private database')
    if (body === undefined || body === null || typeof body !== 'object') return fail(400, 'BAD_REQUEST', 'the body is not JSON')

    const fault = faults.take(route)
    if (fault?.action === 'drop') return dropConnection(req, res, entry)
    if (fault?.action === 'status') return fail(fault.status, fault.serverErrorCode ?? CODES[fault.status], 'Injected failure')

    const records = database(environment, session.user)
    let answer
    if (route === 'lookup') {
      if (!Array.isArray(body.records)) return fail(400, 'BAD_REQUEST', 'records is required')
      answer = body.records.map((r) => {
        const found = typeof r?.recordName === 'string' ? records.get(r.recordName) : undefined
        if (!found) return recordError(r?.recordName, 'NOT_FOUND', 'record not found')
        const a = answerOf(found, body.desiredKeys)
        if (fault?.action === 'corrupt') {
          for (const f of Object.values(a.fields)) {
            if (typeof f.value === 'string' && f.value) f.value = f.value.slice(0, -1) + (f.value.endsWith('A') ? 'B' : 'A')
          }
        }
        return a
      })
    } else {
      if (!Array.isArray(body.operations)) return fail(400, 'BAD_REQUEST', 'operations is required')
      entry.operations = body.operations.map((o) => o?.operationType)
      if (fault?.action === 'concurrent') {
        // Another device writes between the module's read and this write.
        for (const o of body.operations) {
          const name = o?.record?.recordName
          const other = records.get(name) ?? { recordName: name, recordType: 'WalletBackupKeys', fields: {}, created: { timestamp: ++clock } }
          if (fault.value !== undefined) other.fields = { ...other.fields, keys: { value: fault.value, type: 'STRING' } }
          other.recordChangeTag = newTag()
          other.modified = { timestamp: ++clock }
          records.set(name, other)
        }
      }
      answer = body.operations.map((o) => apply(records, o, environment))
    }
    if (fault?.action === 'record-error') {
      answer = answer.map((a) => recordError(a.recordName, fault.serverErrorCode ?? 'QUOTA_EXCEEDED', 'Injected failure'))
    }
    // The token is spent; the answer hands on the next one.
    session.used = true
    entry.status = 200
    entry.outcome = answer.map((a) => a.serverErrorCode ?? (a.deleted ? 'deleted' : 'ok'))
    return send(res, 200, { records: answer }, { [TOKEN_HEADER]: issue(session.user) })
  }

  const server = await startStandInServer({
    cors,
    methods: 'POST',
    headers: 'Content-Type',
    onPreflight: (url) => {
      if (!url.pathname.startsWith('/__cloudkit/')) log.push({ method: 'OPTIONS', route: 'preflight', user: null, status: 204 })
    },
    controlPrefix: '/__cloudkit/',
    control,
    api: cloudKit,
    fail: (res, e) => send(res, 500, { error: String(e) }),
  })
  return { ...server, containerIdentifier: CONTAINER, apiToken }
}
