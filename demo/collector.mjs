// A local stand-in for the Mixpanel ingestion API: it accepts what
// mixpanel-browser and server-side clients send to /track, /engage and
// /groups, decodes it, keeps the records, and answers as Mixpanel does.
// Used by the demo, the shim's tests and anyone who wants to see payloads.
import { createServer } from 'node:http'
import { gunzipSync, inflateSync } from 'node:zlib'

const ENDPOINTS = new Set(['track', 'engage', 'groups', 'import'])
const MAX_BODY = 10 * 1024 * 1024
const MAX_RECORDS = 10_000

/**
 * @typedef {object} CollectorRecord
 * @property {number} id       increasing from 1; `GET /records?since=<id>` returns the later ones
 * @property {string} time     ISO time it was received
 * @property {'track'|'engage'|'groups'|'import'} endpoint
 * @property {string|null} origin  the browser page that sent it (null: a server, such as the shim)
 * @property {Record<string, any>} body  one decoded event or profile update
 */

/**
 * Starts the collector.
 *
 * @param {{ port?: number, host?: string, onRecord?: (record: CollectorRecord) => void }} [options]
 *   `port` 0 (the default) picks a free port.
 * @returns {Promise<{ url: string, port: number, host: string, records: CollectorRecord[], clear(): void, close(): Promise<void> }>}
 *
 * @example
 * const collector = await startCollector({ port: 0 })
 * // mixpanel.init(token, { api_host: collector.url }) or MIXPANEL_API_HOST=collector.url
 * collector.records // [{ id: 1, endpoint: 'track', body: { event: 'Signed Up', properties: {…} } }]
 */
export async function startCollector({ port = 0, host = '127.0.0.1', onRecord } = {}) {
  /** @type {CollectorRecord[]} */
  const records = []
  let nextId = 1

  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      if (!res.headersSent) send(req, res, 500, 'application/json', JSON.stringify({ error: String(error?.message ?? error) }))
      else res.destroy()
    })
  })

  async function handle(req, res) {
    const url = new URL(req.url ?? '/', 'http://collector')
    const path = url.pathname.replace(/\/+$/, '') || '/'

    if (req.method === 'OPTIONS') {
      // CORS preflight (a JSON body or custom headers from a browser).
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS')
      res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] ?? 'Content-Type')
      res.setHeader('Access-Control-Max-Age', '600')
      return send(req, res, 204)
    }

    if (path === '/records') {
      if (req.method === 'DELETE') {
        records.length = 0
        return send(req, res, 200, 'application/json', '{"cleared":true}')
      }
      const since = Number(url.searchParams.get('since') ?? 0) || 0
      const list = since > 0 ? records.filter((r) => r.id > since) : records
      return send(req, res, 200, 'application/json', JSON.stringify({ records: list, last: nextId - 1 }))
    }

    if (path === '/') {
      return send(req, res, 200, 'application/json', JSON.stringify({
        name: 'mixpanel-compatible collector',
        endpoints: ['POST|GET /track', 'POST|GET /engage', 'POST|GET /groups', 'GET /records?since=<id>', 'DELETE /records'],
        records: records.length,
      }))
    }

    const endpoint = path.slice(1)
    if (!ENDPOINTS.has(endpoint) || (req.method !== 'POST' && req.method !== 'GET')) {
      return send(req, res, 404, 'application/json', JSON.stringify({ error: `no route for ${req.method} ${url.pathname}` }))
    }

    const verbose = url.searchParams.get('verbose') === '1'
    let bodies
    try {
      const raw = req.method === 'POST' ? await readBody(req) : ''
      bodies = decodePayload(raw, req.headers['content-type'] ?? '', url.searchParams)
    } catch (error) {
      // Mixpanel answers 0 (or status 0 with verbose) to a payload it cannot read.
      const message = String(error?.message ?? error)
      return send(req, res, 200, verbose ? 'application/json' : 'text/plain', verbose ? JSON.stringify({ status: 0, error: message }) : '0')
    }
    const origin = typeof req.headers.origin === 'string' ? req.headers.origin : null
    for (const body of bodies) {
      const record = { id: nextId++, time: new Date().toISOString(), endpoint, origin, body }
      records.push(record)
      if (records.length > MAX_RECORDS) records.shift()
      try {
        onRecord?.(record)
      } catch {
        // A listener's failure is not the sender's problem.
      }
    }
    return send(req, res, 200, verbose ? 'application/json' : 'text/plain', verbose ? '{"status":1,"error":null}' : '1')
  }

  await listen(server, port, host)
  const address = server.address()
  const actualPort = typeof address === 'object' && address ? address.port : port
  return {
    url: `http://${host}:${actualPort}`,
    port: actualPort,
    host,
    records,
    clear() {
      records.length = 0
    },
    close: () => closeServer(server),
  }
}

// mixpanel-browser sends with credentials: a wildcard origin would make the
// browser drop the answer, so the caller's origin is echoed.
function send(req, res, status, type, body) {
  const origin = req.headers.origin
  if (origin) {
    res.setHeader('Access-Control-Allow-Origin', origin)
    res.setHeader('Access-Control-Allow-Credentials', 'true')
    res.setHeader('Vary', 'Origin')
  }
  if (type) res.setHeader('Content-Type', `${type}; charset=utf-8`)
  res.setHeader('Cache-Control', 'no-store')
  res.writeHead(status)
  res.end(body)
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = []
    let size = 0
    req.on('data', (chunk) => {
      size += chunk.length
      if (size > MAX_BODY) {
        reject(new Error('body too large'))
        req.destroy()
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => {
      let buffer = Buffer.concat(chunks)
      const encoding = String(req.headers['content-encoding'] ?? '').toLowerCase()
      try {
        if (encoding === 'gzip') buffer = gunzipSync(buffer)
        else if (encoding === 'deflate') buffer = inflateSync(buffer)
      } catch (error) {
        reject(error)
        return
      }
      resolve(buffer.toString('utf8'))
    })
    req.on('error', reject)
  })
}

/**
 * Decodes a Mixpanel API payload into records: a `data=` form field (in the
 * body or the query), holding JSON or base64 JSON, or a raw JSON body; one
 * object or a batch array.
 *
 * @param {string} raw  the request body
 * @param {string} [contentType]
 * @param {URLSearchParams} [query]
 * @returns {Record<string, any>[]}
 */
export function decodePayload(raw, contentType = '', query = new URLSearchParams()) {
  const text = raw.trim()
  let data
  if (text.startsWith('[') || text.startsWith('{') || /json/i.test(contentType)) data = text
  else if (text !== '') data = new URLSearchParams(text).get('data')
  data ??= query.get('data')
  if (data === null || data === undefined || data === '') throw new Error('no data: expected a data= field or a JSON body')
  let parsed
  try {
    parsed = JSON.parse(data)
  } catch {
    parsed = JSON.parse(decodeBase64(data))
  }
  const list = Array.isArray(parsed) ? parsed : [parsed]
  if (list.length === 0 || !list.every((item) => item !== null && typeof item === 'object' && !Array.isArray(item))) {
    throw new Error('data must be an object or an array of objects')
  }
  return list
}

// mixpanel-browser's base64 encoder writes characters outside the BMP (emoji)
// as CESU-8: two 3-byte surrogates. This decoder accepts both that and UTF-8.
function decodeBase64(text) {
  const bytes = Buffer.from(text.replace(/ /g, '+'), 'base64')
  const units = []
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]
    if (b < 0x80) {
      units.push(b)
      i += 1
    } else if (b >= 0xf0 && i + 3 < bytes.length) {
      const cp = ((b & 0x07) << 18) | ((bytes[i + 1] & 0x3f) << 12) | ((bytes[i + 2] & 0x3f) << 6) | (bytes[i + 3] & 0x3f)
      const v = cp - 0x10000
      units.push(0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff))
      i += 4
    } else if (b >= 0xe0 && i + 2 < bytes.length) {
      units.push(((b & 0x0f) << 12) | ((bytes[i + 1] & 0x3f) << 6) | (bytes[i + 2] & 0x3f))
      i += 3
    } else if (b >= 0xc0 && i + 1 < bytes.length) {
      units.push(((b & 0x1f) << 6) | (bytes[i + 1] & 0x3f))
      i += 2
    } else {
      units.push(0xfffd)
      i += 1
    }
  }
  let out = ''
  for (let i = 0; i < units.length; i += 4096) out += String.fromCharCode(...units.slice(i, i + 4096))
  return out
}

/** Listens on `port`; rejects with the listen error (EADDRINUSE…). */
export function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    const onError = (error) => {
      server.off('listening', onListening)
      reject(error)
    }
    const onListening = () => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(port, host)
  })
}

/** Stops accepting and ends idle keep-alive connections (a polling page holds some). */
export function closeServer(server) {
  return new Promise((resolve) => {
    if (!server.listening) return resolve()
    server.close(() => resolve())
    server.closeIdleConnections?.()
    setTimeout(() => server.closeAllConnections?.(), 1000).unref()
  })
}
