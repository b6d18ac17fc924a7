import { AUTO_EVENT_KEYS, AUTO_PEOPLE_KEYS, omit } from './shared'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test as base, expect, type BrowserContext, type Page, type Request, type Route } from '@playwright/test'

export { expect }

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.css': 'text/css',
}

/** A local http site on 127.0.0.1: files of the repository plus pages a test adds. */
export interface Site {
  origin: string
  /** Serves `html` at `path` (e.g. '/t/page.html') and returns its URL. */
  page(path: string, html: string): string
}

/** One decoded record that left the page for the Mixpanel API. */
export interface MixpanelRecord {
  /** 'track' | 'engage' | 'groups' (from the URL path). */
  endpoint: string
  host: string
  /** 'xhr' | 'beacon' | 'other' (Playwright's resourceType of the request). */
  transport: string
  url: string
  body: Record<string, any>
}

/** Decodes a Mixpanel API request body: `data=` form field (JSON or base64 JSON) or a raw JSON body; one record or a batch. */
export function decodeBody(raw: string | null, url: string): Record<string, any>[] {
  let data: string | null = null
  if (raw) {
    const trimmed = raw.trim()
    if (trimmed.startsWith('[') || trimmed.startsWith('{')) data = trimmed
    else data = new URLSearchParams(raw).get('data')
  }
  if (data === null) data = new URL(url).searchParams.get('data')
  if (data === null) return []
  let parsed: unknown
  try {
    parsed = JSON.parse(data)
  } catch {
    parsed = JSON.parse(Buffer.from(data, 'base64').toString('utf8'))
  }
  return Array.isArray(parsed) ? (parsed as Record<string, any>[]) : [parsed as Record<string, any>]
}

export const MIXPANEL_HOSTS = /^https:\/\/api(-js|-eu|-in)?\.mixpanel\.com\//

/** Records every request to the Mixpanel API hosts (or `extra`, e.g. an apiHost) and answers as Mixpanel does. */
export class MixpanelInbox {
  readonly records: MixpanelRecord[] = []
  readonly requests: Request[] = []

  async attach(context: BrowserContext | Page, extra?: RegExp): Promise<void> {
    const handler = (route: Route): Promise<void> => this.handle(route)
    await context.route(MIXPANEL_HOSTS, handler)
    if (extra) await context.route(extra, handler)
  }

  private async handle(route: Route): Promise<void> {
    const request = route.request()
    const url = new URL(request.url())
    this.requests.push(request)
    const endpoint = url.pathname.replace(/^\/+|\/+$/g, '').split('/')[0] ?? ''
    if (request.method() === 'POST' || request.method() === 'GET') {
      for (const body of decodeBody(request.postData(), request.url())) {
        this.records.push({ endpoint, host: url.host, transport: request.resourceType(), url: request.url(), body })
      }
    }
    const verbose = url.searchParams.get('verbose') === '1'
    // No CORS wildcard: mixpanel-browser sends with credentials (see FACTS.md).
    await route.fulfill({ status: 200, contentType: 'application/json', body: verbose ? '{"status":1,"error":null}' : '1' })
  }

  of(endpoint: string): MixpanelRecord[] {
    return this.records.filter((r) => r.endpoint === endpoint)
  }

  events(name?: string): Record<string, any>[] {
    return this.of('track')
      .map((r) => r.body)
      .filter((b) => name === undefined || b.event === name)
  }

  /**
   * The events as Mixpanel counts them: copies with the same `$insert_id` once
   * (a page being left sends what waits, and the next page sends it again
   * until answered; docs/delivery.md).
   */
  counted(name?: string): Record<string, any>[] {
    const seen = new Set<unknown>()
    return this.events(name).filter((b) => {
      const id = b.properties?.$insert_id
      if (id !== undefined && seen.has(id)) return false
      seen.add(id)
      return true
    })
  }

  engage(): Record<string, any>[] {
    return this.of('engage').map((r) => r.body)
  }

  groups(): Record<string, any>[] {
    return this.of('groups').map((r) => r.body)
  }

  /** Waits until `predicate` holds for the records (polling), then returns them. */
  async until(predicate: (inbox: MixpanelInbox) => boolean, timeout = 10_000): Promise<this> {
    await expect.poll(() => predicate(this), { timeout }).toBe(true)
    return this
  }
}

async function startSite(): Promise<{ site: Site; server: Server }> {
  const pages = new Map<string, string>()
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    const page = pages.get(path)
    if (page !== undefined) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end(page)
      return
    }
    const file = normalize(join(ROOT, path))
    if (!file.startsWith(ROOT) || file.includes('node_modules/.cache')) {
      res.writeHead(403).end()
      return
    }
    try {
      const body = await readFile(file)
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
      res.end(body)
    } catch {
      res.writeHead(404).end('not found')
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    server,
    site: {
      origin,
      page(path, html) {
        pages.set(path, html)
        return origin + path
      },
    },
  }
}

/** A page with only the script-tag build and the given body script. */
export function iifePage(script: string, head = ''): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Test Page</title>${head}
<script src="/dist/mixpanel-device-mode.iife.js"></script></head>
<body><script>${script}</script></body></html>`
}

export const test = base.extend<{ inbox: MixpanelInbox }, { site: Site }>({
  site: [
    async ({}, use) => {
      const { site, server } = await startSite()
      await use(site)
      await new Promise((resolve) => server.close(resolve))
    },
    { scope: 'worker' },
  ],
  inbox: async ({ context }, use) => {
    const inbox = new MixpanelInbox()
    // Nothing leaves the machine: anything not local and not routed below is aborted.
    await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort())
    // A beacon sent while a page is being left never reaches Playwright's routing,
    // so it would try to leave the machine: such beacons to non-local hosts are
    // reported handed over and dropped (mixpanel-browser keeps and re-sends them).
    // The same for keepalive fetches started then (the delivery queue's unload
    // sends): they never settle, as for a page that is gone.
    await context.addInitScript(() => {
      const real = navigator.sendBeacon.bind(navigator)
      const realFetch = fetch.bind(window)
      let leaving = false
      addEventListener('beforeunload', () => (leaving = true), true)
      addEventListener('pagehide', () => (leaving = true), true)
      const away = (url: unknown): boolean => leaving && !/^https?:\/\/127\.0\.0\.1[:/]/.test(new URL(String(url), location.href).href)
      navigator.sendBeacon = (url, body) => (away(url) ? true : real(url, body))
      window.fetch = (input, init) => (init?.keepalive && away(input instanceof Request ? input.url : input) ? new Promise(() => {}) : realFetch(input, init))
    })
    await inbox.attach(context)
    await use(inbox)
  },
})

// ---------------------------------------------------------------------------
// Helpers for the behaviour suites (page, identify, track, group-alias,
// persistence, residency-consent, delivery, esm-spa).

export { AUTO_EVENT_KEYS, AUTO_PEOPLE_KEYS, omit }

/** Event properties without what mixpanel-browser adds to every event. */
export function own(props: Record<string, any> | undefined): Record<string, any> {
  return omit(props, AUTO_EVENT_KEYS)
}

/** A People `$set` without the browser facts mixpanel-browser adds to it. */
export function ownSet(set: Record<string, any> | undefined): Record<string, any> {
  return omit(set, AUTO_PEOPLE_KEYS)
}

/**
 * A page with the script-tag build that creates `window.analytics` with
 * `settings`, then runs `script` (`settings` is JSON; pass functions in `script`).
 */
export function analyticsPage(settings: Record<string, unknown>, script = '', head = ''): string {
  return iifePage(`window.analytics = MixpanelDeviceMode.createAnalytics(${JSON.stringify(settings)});\n${script}`, head)
}

/** What a page reported: uncaught errors and console lines (`type: text`). */
export interface PageWatch {
  errors: string[]
  console: string[]
}

/** Starts recording a page's uncaught errors and console output. */
export function watch(page: Page): PageWatch {
  const seen: PageWatch = { errors: [], console: [] }
  page.on('pageerror', (error) => seen.errors.push(error.message))
  page.on('console', (message) => seen.console.push(`${message.type()}: ${message.text()}`))
  return seen
}
