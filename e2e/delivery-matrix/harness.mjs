// The delivery matrix's world: one real HTTPS server on 127.0.0.1 that plays
// both the site (https://app.example.test) and the Mixpanel API host
// (https://api-js.mixpanel.com), and a Chromium whose resolver maps only those
// two names to it. Nothing is intercepted by Playwright: beacons sent while a
// page is being left never reach Playwright's `route` handlers, but they do
// reach a real server (docs/delivery-tests.md). Shared by the Playwright suite
// (delivery-matrix.pw.ts) and the bench (bench/delivery.mjs), so both measure
// the same thing.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:https'
import { tmpdir } from 'node:os'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const SITE_HOST = 'app.example.test'
export const API_HOST = 'api-js.mixpanel.com'
export const ORIGIN = `https://${SITE_HOST}`

/** Only these files of the repository are served to the pages. */
const STATIC = ['/dist/mixpanel-device-mode.iife.js', '/node_modules/mixpanel-browser/dist/mixpanel.umd.js']
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' }

/** A self-signed certificate for both names, made with openssl for this run only. */
function makeCertificate() {
  const dir = mkdtempSync(join(tmpdir(), 'delivery-matrix-'))
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
      '-subj', `/CN=${SITE_HOST}`, '-addext', `subjectAltName=DNS:${SITE_HOST},DNS:${API_HOST}`,
    ], { stdio: 'ignore' })
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Decodes a Mixpanel API request body: `data=` form field (JSON or base64
 * JSON, also in the query string), or a raw JSON body; one record or a batch.
 * Returns [] for a body it cannot read (counted as `undecoded`).
 */
export function decodeBody(raw, url) {
  let data = null
  const trimmed = raw.trim()
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) data = trimmed
  else if (trimmed) data = new URLSearchParams(trimmed).get('data')
  if (data === null) data = new URL(url, 'https://x').searchParams.get('data')
  if (data === null) return null
  let parsed
  try {
    parsed = JSON.parse(data)
  } catch {
    try {
      parsed = JSON.parse(Buffer.from(data, 'base64').toString('utf8'))
    } catch {
      return null
    }
  }
  return Array.isArray(parsed) ? parsed : [parsed]
}

/**
 * Starts the server. `fault` (settable at any time) decides the answer to each
 * API request after its body was read: `{ status, headers? }`, `'reset'` (the
 * socket is destroyed: status 0 for the page), or `{ delay, status? }`.
 */
export async function startHarness() {
  const pages = new Map()
  /** Every API request: { at, path, status, outcome: 'accepted'|'refused'|'reset', records, undecoded } */
  const requests = []
  const harness = {
    origin: ORIGIN,
    port: 0,
    requests,
    /** (info: { path, at, index }) => answer; null answers 200 at once. */
    fault: null,
    /** Serves `html` at `path` on the site and returns its URL. */
    page(path, html) {
      pages.set(path, html)
      return ORIGIN + path
    },
    /** Records that reached the API and were answered 2xx (or were read by a slow answer), optionally of one token. */
    accepted(token) {
      const out = []
      for (const request of requests) {
        if (request.outcome !== 'accepted') continue
        for (const record of request.records) {
          const recordToken = record?.properties?.token ?? record?.$token
          if (token === undefined || recordToken === token) out.push({ endpoint: request.path, at: request.at, record })
        }
      }
      return out
    },
    close: () => new Promise((resolve) => {
      server.closeAllConnections?.()
      server.close(() => resolve())
    }),
  }

  const server = createServer(makeCertificate(), (req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '')
    if (host === API_HOST) return void api(req, res)
    if (host === SITE_HOST) return void site(req, res)
    res.writeHead(421).end()
  })
  server.keepAliveTimeout = 30_000

  async function site(req, res) {
    const path = decodeURIComponent(new URL(req.url ?? '/', ORIGIN).pathname)
    const html = pages.get(path)
    if (html !== undefined) {
      // No `no-store`: it would keep the pages out of the back/forward cache.
      res.writeHead(200, { 'content-type': TYPES['.html'] })
      return void res.end(html)
    }
    if (!STATIC.includes(path)) return void res.writeHead(404).end('not found')
    try {
      const body = await readFile(normalize(join(ROOT, path)))
      res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'cache-control': 'max-age=600' })
      res.end(body)
    } catch {
      res.writeHead(404).end('not built')
    }
  }

  function api(req, res) {
    const origin = req.headers.origin
    // mixpanel-browser sends with credentials: echo the origin, never `*`.
    // Retry-After is not a CORS-safelisted response header: a page can read it
    // only when the API exposes it, as this one does (docs/delivery-tests.md).
    const cors = origin
      ? { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'Retry-After', vary: 'Origin' }
      : {}
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...cors,
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-allow-headers': req.headers['access-control-request-headers'] ?? 'content-type',
        'access-control-max-age': '600',
      })
      return void res.end()
    }
    const chunks = []
    req.on('data', (chunk) => chunks.push(chunk))
    req.on('error', () => {})
    req.on('end', () => {
      const url = new URL(req.url ?? '/', `https://${API_HOST}`)
      const path = url.pathname.replace(/^\/+|\/+$/g, '').split('/')[0] ?? ''
      const raw = Buffer.concat(chunks).toString('utf8')
      const decoded = decodeBody(raw, req.url ?? '/')
      const entry = { at: Date.now(), path, status: 0, outcome: 'accepted', records: decoded ?? [], undecoded: decoded === null ? raw.slice(0, 200) : null }
      requests.push(entry)
      const answer = harness.fault?.({ path, at: entry.at, index: requests.length - 1 }) ?? null
      if (answer === 'reset') {
        entry.outcome = 'reset'
        return void req.socket.destroy()
      }
      const status = answer?.status ?? 200
      entry.status = status
      if (status < 200 || status > 299) entry.outcome = 'refused'
      const send = () => {
        if (res.destroyed || res.writableEnded) return
        const verbose = url.searchParams.get('verbose') === '1'
        res.writeHead(status, { ...cors, 'content-type': 'application/json', ...(answer?.headers ?? {}) })
        res.end(status === 200 ? (verbose ? '{"status":1,"error":null}' : '1') : (verbose ? '{"status":0,"error":"fault"}' : '0'))
      }
      if (answer?.delay) setTimeout(send, answer.delay)
      else send()
    })
  }

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  harness.port = server.address().port
  return harness
}

/**
 * Chromium switches: the two names (and only them) go to the harness; every
 * other name fails to resolve, so nothing can leave the machine; the
 * harness's self-signed certificate is accepted.
 */
export function chromiumArgs(harness) {
  return [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic',
    `--host-resolver-rules=MAP ${SITE_HOST} 127.0.0.1:${harness.port}, MAP ${API_HOST} 127.0.0.1:${harness.port}, MAP * ~NOTFOUND`,
    '--ignore-certificate-errors',
  ]
}

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
