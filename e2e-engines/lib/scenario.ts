import { AUTO_EVENT_KEYS, AUTO_PEOPLE_KEYS, omit } from '../../e2e/shared'
import type { CollectorRecord } from '../../demo/collector.mjs'
import { poll, type EngineDriver, type EngineName, type Tab } from '../drivers/types'
import type { ApiRequest, FaultRule } from './api'
import { recordToken, type LocalServers } from './server'

/**
 * What a scenario gets: its own token and host name (so nothing of another
 * scenario, in the same browser session, is in its cookies, storage or inbox),
 * the engine, and the decoded traffic.
 */
export interface ScenarioContext {
  /** For the documented engine-specific expectations (docs/browsers.md). */
  engine: EngineName
  driver: EngineDriver
  /** Unique per scenario and run: the Mixpanel token, also the cookie name `mp_<token>_mixpanel`. */
  token: string
  /** `<slug>.localhost`: a host of its own, resolving to 127.0.0.1 in every engine. */
  host: string
  apiHost: string
  /** Registers `html` at `/<slug><path>` and returns its URL on `host` (or another host name). */
  page(path: string, html: string, host?: string): string
  /** As `page`, over https (a self-signed certificate the drivers accept). */
  securePage(path: string, html: string, host?: string): string
  /** The collector as an https `apiHost` on the page's own origin (`https://<host>:<port>/api`). */
  secureApiHost(host?: string): string
  /** A page with the script-tag build that creates `window.analytics` with `settings` (plus `token` and `apiHost`), then runs `script`. */
  analyticsPage(settings: Record<string, unknown>, script?: string): string
  /** Opens a tab (closed after the scenario). */
  open(url: string): Promise<Tab>
  /** What reached the collector (delivered), decoded. */
  inbox: Inbox
  /** The API front (lib/api.ts): this scenario's requests and faults. */
  api: ScenarioApi
}

/** The API front as one scenario sees it: its token's requests and faults, undone after the scenario. */
export interface ScenarioApi {
  /** This scenario's requests (every attempt, faulted or not), in arrival order. */
  requests(endpoint?: string): ApiRequest[]
  /** Programs the answers to this scenario's requests (null: none). */
  fault(rule: FaultRule | null): void
  /** The network down (every connection to the API dropped) or back. */
  down(on: boolean): void
  /** Connections dropped while down (any scenario's: they carry no token). */
  dropped(): number
  /** Lets the held requests through to the collector. */
  release(): void
}

/** One behaviour, written once, run in every engine. */
export interface Scenario {
  name: string
  run(t: ScenarioContext): Promise<void>
  /**
   * A failure the project knows and tracks elsewhere: a failure whose message
   * matches `matches` is reported as a known issue (skipped, with the reason)
   * instead of failing the run, unless ENGINES_STRICT=1. Any other failure
   * still fails. Remove the mark when the issue is fixed.
   */
  knownIssue?: { reason: string; matches: RegExp }
}

export { AUTO_EVENT_KEYS, AUTO_PEOPLE_KEYS, omit }

/** Event properties without what mixpanel-browser adds to every event. */
export const own = (props: Record<string, any> | undefined): Record<string, any> => omit(props, AUTO_EVENT_KEYS)
/** A People `$set` without the browser facts mixpanel-browser adds. */
export const ownSet = (set: Record<string, any> | undefined): Record<string, any> => omit(set, AUTO_PEOPLE_KEYS)

/** The decoded records of one token, raw (every copy that arrived) or deduplicated as Mixpanel does. */
export class Inbox {
  constructor(
    private readonly all: CollectorRecord[],
    private readonly token: string,
  ) {}

  /** Every record of this token, duplicates included, in arrival order. */
  raw(endpoint?: string): CollectorRecord[] {
    return this.all.filter((r) => recordToken(r) === this.token && (endpoint === undefined || r.endpoint === endpoint))
  }

  /**
   * Events as Mixpanel counts them: one per `$insert_id` (Mixpanel drops
   * later copies with the same `$insert_id`), in order of first arrival.
   */
  events(name?: string): Record<string, any>[] {
    const seen = new Set<string>()
    const out: Record<string, any>[] = []
    for (const { body } of this.raw('track')) {
      const id = body.properties?.$insert_id
      if (id !== undefined && seen.has(id)) continue
      if (id !== undefined) seen.add(id)
      if (name === undefined || body.event === name) out.push(body)
    }
    return out
  }

  /** Copies of the same event (same `$insert_id`) that arrived more than once: `[event, copies]`. */
  duplicates(): Array<[string, number]> {
    const counts = new Map<string, { event: string; n: number }>()
    for (const { body } of this.raw('track')) {
      const id = body.properties?.$insert_id
      if (id === undefined) continue
      const entry = counts.get(id) ?? { event: body.event, n: 0 }
      entry.n++
      counts.set(id, entry)
    }
    return [...counts.values()].filter((e) => e.n > 1).map((e) => [e.event, e.n])
  }

  engage(): Record<string, any>[] {
    return this.raw('engage').map((r) => r.body)
  }

  groups(): Record<string, any>[] {
    return this.raw('groups').map((r) => r.body)
  }

  /** Waits until `predicate` holds (polling the records). */
  async until(predicate: (inbox: Inbox) => boolean, timeoutMs = 15_000): Promise<void> {
    await poll(async () => predicate(this), timeoutMs, 'inbox condition')
  }
}

/** Builds the context of one scenario run. */
export function scenarioContext(driver: EngineDriver, servers: LocalServers, slug: string, tabs: Tab[]): ScenarioContext {
  const token = `${slug}-${driver.engine}-${Date.now().toString(36)}`
  const host = `${slug}.localhost`
  // Every tab is closed once: by the scenario, or after it; tabs it opens too.
  const track = (tab: Tab): Tab => {
    let closed = false
    const { close, openTab } = tab
    tab.close = async () => {
      if (closed) return
      closed = true
      await close()
    }
    tab.openTab = async (url) => track(await openTab(url))
    tabs.push(tab)
    return tab
  }
  const page = (path: string, html: string, onHost = host): string => {
    servers.page(`/${slug}${path}`, html)
    return `http://${onHost}:${servers.sitePort}/${slug}${path}`
  }
  return {
    engine: driver.engine,
    driver,
    token,
    host,
    apiHost: servers.apiHost,
    page,
    securePage: (path, html, onHost = host) => {
      servers.page(`/${slug}${path}`, html)
      return `https://${onHost}:${servers.secureSitePort}/${slug}${path}`
    },
    secureApiHost: (onHost = host) => `https://${onHost}:${servers.secureSitePort}/api`,
    analyticsPage: (settings, script = '') => analyticsPage({ token, apiHost: servers.apiHost, ...settings }, script),
    open: async (url) => track(await driver.open(url)),
    inbox: new Inbox(servers.records, token),
    api: {
      requests: (endpoint) => servers.api.requests.filter((r) => r.token === token && (endpoint === undefined || r.endpoint === endpoint)),
      fault: (rule) => servers.api.fault(token, rule),
      down: (on) => servers.api.down(on),
      dropped: () => servers.api.dropped,
      release: () => servers.api.release(),
    },
  }
}

/** A page with only the script-tag build, creating `window.analytics` and then running `script`. */
export function analyticsPage(settings: Record<string, unknown>, script: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Test Page</title>
<script src="/dist/mixpanel-device-mode.iife.js"></script></head>
<body><script>
window.analytics = MixpanelDeviceMode.createAnalytics(${JSON.stringify(settings)});
${script}
</script></body></html>`
}
