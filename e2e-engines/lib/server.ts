import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { tmpdir } from 'node:os'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { closeServer, startCollector, type Collector, type CollectorRecord } from '../../demo/collector.mjs'
import { startFaultyApi, type FaultyApi } from './api'

// The local end of every scenario, on 127.0.0.1 only:
// - a site that serves the repository's files (the built script-tag bundle)
//   and the pages a scenario registers, under any host name, so each scenario
//   can have its own `<scenario>.localhost` origin (its own cookies);
// - the demo's collector as the library's `apiHost`: it answers CORS
//   preflights, echoes the Origin with credentials allowed, and decodes every
//   body (data= form or JSON, base64 or not, one record or a batch, beacons
//   too). The drivers of Firefox and WebKit cannot intercept requests as
//   Playwright does, so the traffic really goes there in every engine;
// - in front of the collector, the fault-injecting API (api.ts) that is the
//   library's `apiHost`: it logs every request and answers with the fault a
//   scenario programmed (reset, an HTTP status, held, the network down), or
//   passes the request on to the collector.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
}

export interface LocalServers {
  /** Port of the site; pages are reachable on `http://<any>.localhost:<port>` and `http://127.0.0.1:<port>`. */
  sitePort: number
  /** The same site over https (a self-signed certificate the drivers accept). */
  secureSitePort: number
  /** The API front's base URL, `http://127.0.0.1:<port>`: the library's `apiHost`. */
  apiHost: string
  /** The API front: every request it received, and the faults scenarios program. */
  api: FaultyApi
  /** Serves `html` at `path` on every host name. */
  page(path: string, html: string): void
  /** Everything that reached the collector (delivered), decoded, in arrival order. */
  records: CollectorRecord[]
  close(): Promise<void>
}

export async function startServers(): Promise<LocalServers> {
  const pages = new Map<string, string>()
  const collector: Collector = await startCollector({ port: 0, host: '127.0.0.1' })
  const api = await startFaultyApi(collector.port)
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://site').pathname)
    // /api/… goes to the API front: a same-origin apiHost for https pages
    // (WebKit blocks an https page's requests to http://127.0.0.1).
    if (path.startsWith('/api/')) return api.handle(req, res, (req.url ?? '/').replace(/^\/api/, ''))
    const html = pages.get(path)
    res.setHeader('Cache-Control', 'no-store')
    if (html !== undefined) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end(html)
      return
    }
    // Only the built bundles and node_modules files a page may load.
    const file = normalize(join(ROOT, path))
    if (!file.startsWith(join(ROOT, 'dist')) && !file.startsWith(join(ROOT, 'node_modules'))) {
      res.writeHead(404).end('not found')
      return
    }
    try {
      const body = await readFile(file)
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
      res.end(body)
    } catch {
      res.writeHead(404).end('not found')
    }
  }
  const site: Server = createServer(handler)
  const secureSite: Server = createHttpsServer(selfSignedCertificate(), handler)
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve))
  await new Promise<void>((resolve) => secureSite.listen(0, '127.0.0.1', resolve))
  return {
    sitePort: (site.address() as AddressInfo).port,
    secureSitePort: (secureSite.address() as AddressInfo).port,
    apiHost: api.url,
    api,
    page: (path, html) => void pages.set(path, html),
    records: collector.records,
    async close() {
      await Promise.all([closeServer(site), closeServer(secureSite), api.close(), collector.close()])
    },
  }
}

/** The token a record belongs to (events carry it in properties, profile and group updates as `$token`). */
export function recordToken(record: CollectorRecord): string | undefined {
  return record.body.properties?.token ?? record.body.$token
}

/** A throwaway self-signed certificate for the https site (the drivers are told to accept it). */
function selfSignedCertificate(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'engines-tls-'))
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,DNS:*.localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' })
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
