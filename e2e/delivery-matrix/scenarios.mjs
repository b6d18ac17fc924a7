// The delivery fault matrix: each scenario drives real pages through the
// harness (harness.mjs) the way a site's visitor would, and reports which of
// the events whose call resolved reached the Mixpanel API, how many raw copies
// arrived, and whether Mixpanel would count any event twice. Used by the
// Playwright suite (which asserts) and by bench/delivery.mjs (which prints the
// same matrix for plain mixpanel-browser as a baseline). docs/delivery-tests.md
// explains each scenario.
import { chromium } from 'playwright'
import { CHROMIUM, chromiumArgs, startHarness } from './harness.mjs'

/**
 * Short intervals through public settings only, so the matrix runs in
 * minutes: plain mixpanel-browser flushes every 500 ms instead of 5 s
 * (retries back off from there). Ours gets the same object as
 * `mixpanelConfig`, where it changes nothing (batching is always off; the
 * delivery queue sends at once and paces its own retries).
 */
export const MIXPANEL_CONFIG = { batch_flush_interval_ms: 500 }

/** The same small adapter on every page, so a scenario drives either library the same way. */
export const LIBS = {
  /** The script-tag build with default settings (batching as shipped). */
  ours: {
    label: 'mixpanel-device-mode',
    script: '/dist/mixpanel-device-mode.iife.js',
    setup: (token) => `
      const analytics = MixpanelDeviceMode.createAnalytics({ token: ${JSON.stringify(token)}, mixpanelConfig: ${JSON.stringify(MIXPANEL_CONFIG)} })
      window.lib = {
        track: (event, properties) => analytics.track(event, properties),
        identify: (id, traits) => analytics.identify(id, traits),
      }`,
  },
  /**
   * Plain mixpanel-browser as a site uses it: `track` is synchronous; the call
   * has "resolved" when it returned without throwing.
   */
  plain: {
    label: 'mixpanel-browser',
    script: '/node_modules/mixpanel-browser/dist/mixpanel.umd.js',
    setup: (token) => `
      try { mixpanel.init(${JSON.stringify(token)}, ${JSON.stringify(MIXPANEL_CONFIG)}) } catch (error) { window.initError = String(error) }
      window.lib = {
        track: async (event, properties) => { mixpanel.track(event, properties) },
        identify: async (id, traits) => { mixpanel.identify(id); if (traits) mixpanel.people.set(traits) },
      }`,
  },
}

export const EVENT = 'Matrix Event'

function pageHtml(lib, token) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Matrix</title>
<script src="${lib.script}"></script></head>
<body><a id="next" href="next.html">next page</a> <a id="back" href="index.html">first page</a>
<script>${lib.setup(token)}
window.libReady = true</script></body></html>`
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `predicate` every 50 ms until it holds or `ms` have passed; returns whether it held. */
async function waitFor(predicate, ms) {
  const end = Date.now() + ms
  for (;;) {
    if (predicate()) return true
    if (Date.now() >= end) return false
    await sleep(50)
  }
}

/**
 * One scenario run's context: a fresh browser context (own storage), pages of
 * the chosen library under a path of its own, and the list of calls that
 * resolved (what must be delivered).
 */
class Run {
  constructor(browser, harness, lib, name, options) {
    this.browser = browser
    this.harness = harness
    this.lib = lib
    this.token = `matrix-${name}-${Math.random().toString(36).slice(2, 8)}`
    this.base = `/${this.token}/`
    this.expected = []
    this.notes = []
    this.options = options
    harness.page(this.base + 'index.html', pageHtml(lib, this.token))
    harness.page(this.base + 'next.html', pageHtml(lib, this.token))
  }

  async start(initScript) {
    this.context = await this.browser.newContext({ ignoreHTTPSErrors: true })
    // Every pageshow is recorded, to tell a back/forward-cache restore from a load.
    await this.context.addInitScript(() => {
      window.__pageshows = []
      addEventListener('pageshow', (event) => window.__pageshows.push(event.persisted))
    })
    if (initScript) await this.context.addInitScript(initScript)
  }

  /** Opens a new tab on the site's first page and waits for the library. */
  async open(path = 'index.html') {
    const page = await this.context.newPage()
    await page.goto(this.harness.origin + this.base + path)
    await page.waitForFunction(() => window.libReady === true)
    return page
  }

  /**
   * Tracks events one after the other (`await` each, as a site's click
   * handler would). Every call is owed: ours must never reject, and a plain
   * mixpanel-browser call that throws (its `init` failed) is an event the site
   * lost; the notes say how many threw.
   */
  async track(page, prefix, count) {
    const threw = await page.evaluate(async ({ event, prefix, count }) => {
      let threw = 0
      for (let i = 0; i < count; i++) {
        try {
          await window.lib.track(event, { seq: `${prefix}${i}` })
        } catch {
          threw++
        }
      }
      return threw
    }, { event: EVENT, prefix, count })
    for (let i = 0; i < count; i++) this.expected.push(`${prefix}${i}`)
    if (threw) this.notes.push(`${threw} track calls threw`)
    this.threw = (this.threw ?? 0) + threw
  }

  async identify(page, id, traits) {
    const ok = await page.evaluate(async ({ id, traits }) => {
      try {
        await window.lib.identify(id, traits)
        return true
      } catch {
        return false
      }
    }, { id, traits })
    this.expected.push(`profile:${traits.seq}`)
    if (!ok) this.notes.push('identify threw')
  }

  /** The delivered keys: events by `seq`, profile updates by `$set.seq`. */
  delivered() {
    const events = new Map()
    const profiles = new Map()
    for (const { endpoint, record } of this.harness.accepted(this.token)) {
      if (endpoint === 'engage' && record?.$set?.seq) {
        const key = `profile:${record.$set.seq}`
        profiles.set(key, (profiles.get(key) ?? 0) + 1)
      } else if (record?.event === EVENT && typeof record.properties?.seq === 'string') {
        const list = events.get(record.properties.seq) ?? []
        list.push(record.properties)
        events.set(record.properties.seq, list)
      }
    }
    return { events, profiles }
  }

  allDelivered() {
    const { events, profiles } = this.delivered()
    return this.expected.every((key) => events.has(key) || profiles.has(key))
  }

  /** Waits (bounded) for every resolved call to arrive, then a short grace for late copies, and reports. */
  async settle(deadline = this.options.deadline) {
    const complete = await waitFor(() => this.allDelivered(), deadline)
    if (complete) await sleep(this.options.grace)
    const { events, profiles } = this.delivered()
    const lost = this.expected.filter((key) => !events.has(key) && !profiles.has(key))
    let rawCopies = 0
    let rawDuplicates = 0
    const countedTwice = []
    const mismatched = []
    for (const [seq, copies] of events) {
      rawCopies += copies.length
      // Mixpanel counts one event per $insert_id (with the same time, name and distinct_id).
      const ids = new Map()
      for (const copy of copies) {
        const seen = ids.get(copy.$insert_id)
        if (seen === undefined) ids.set(copy.$insert_id, copy)
        else {
          rawDuplicates++
          if (seen.time !== copy.time || seen.distinct_id !== copy.distinct_id) mismatched.push(seq)
        }
      }
      if (ids.size > 1 || [...ids.keys()].some((id) => typeof id !== 'string' || id === '')) countedTwice.push(seq)
    }
    for (const [, count] of profiles) {
      rawCopies += count
      rawDuplicates += count - 1
    }
    return {
      expected: this.expected.length,
      delivered: this.expected.length - lost.length,
      lost,
      rawCopies,
      rawDuplicates,
      countedTwice: [...new Set([...countedTwice, ...mismatched])],
      threw: this.threw ?? 0,
      notes: this.notes,
    }
  }

  async close() {
    this.harness.fault = null
    await this.context?.close().catch(() => {})
  }
}

/** Waits for the page to show again from the back/forward cache (or from a load) after `goBack`. */
async function backAndShown(run, page) {
  await page.goBack({ waitUntil: 'commit' })
  await page.waitForFunction(() => window.libReady === true && window.__pageshows.length > 0)
  const restored = await page.evaluate(() => window.__pageshows.includes(true))
  run.notes.push(restored ? 'restored from the back/forward cache' : 'NOT restored from the back/forward cache (reloaded)')
  return restored
}

/** Waits until the API has answered some request with the fault (bounded). */
async function faultSeen(run, outcome, ms = 8000) {
  const seen = await waitFor(() => run.harness.requests.some((r) => r.outcome === outcome && r.records.some((x) => (x?.properties?.token ?? x?.$token) === run.token)), ms)
  if (!seen) run.notes.push(`the library sent nothing while the fault (${outcome}) was on`)
}

const NAVIGATION_SIZES = [1, 3, 10, 50]

/** Every scenario: name, what it does (docs), and its steps. `run.settle()` gives the result. */
export const SCENARIOS = [
  ...NAVIGATION_SIZES.map((n) => ({
    name: `link-${n}`,
    title: `${n} event(s), then a link to the next page`,
    async steps(run) {
      const page = await run.open()
      await run.track(page, 'e', n)
      await Promise.all([page.waitForURL('**/next.html'), page.click('#next')])
      await page.waitForFunction(() => window.libReady === true)
    },
  })),
  ...NAVIGATION_SIZES.map((n) => ({
    name: `reload-${n}`,
    title: `${n} event(s), then a reload`,
    async steps(run) {
      const page = await run.open()
      await run.track(page, 'e', n)
      await page.reload()
      await page.waitForFunction(() => window.libReady === true)
    },
  })),
  ...NAVIGATION_SIZES.map((n) => ({
    name: `close-${n}`,
    title: `${n} event(s), then the tab is closed; the site is opened again later`,
    async steps(run) {
      const page = await run.open()
      await run.track(page, 'e', n)
      await page.close()
      await run.open('next.html')
    },
  })),
  {
    name: 'close-mid-flight',
    title: '3 events sent in a slow batch; 3 more, then the tab is closed while the batch is in flight',
    async steps(run) {
      run.harness.fault = ({ path }) => (path === 'track' ? { delay: 3000 } : null)
      const page = await run.open()
      await run.track(page, 'a', 3)
      await faultSeen(run, 'accepted')
      await run.track(page, 'b', 3)
      await page.close()
      run.harness.fault = null
      await run.open('next.html')
    },
  },
  {
    name: 'bfcache',
    title: '3 events, a link away, back (page restored from the back/forward cache), 3 more',
    async steps(run) {
      const page = await run.open()
      await run.track(page, 'a', 3)
      await Promise.all([page.waitForURL('**/next.html'), page.click('#next')])
      await page.waitForFunction(() => window.libReady === true)
      await backAndShown(run, page)
      await run.track(page, 'b', 3)
    },
  },
  {
    name: 'connection-reset',
    title: 'profile update + 30 events while the API resets every connection after reading the body, then recovery',
    async steps(run) {
      run.harness.fault = () => 'reset'
      const page = await run.open()
      await run.identify(page, 'u1', { plan: 'pro', seq: 'reset' })
      await run.track(page, 'e', 30)
      await faultSeen(run, 'reset')
      await sleep(1000)
      run.harness.fault = null
    },
  },
  {
    name: 'http-500',
    title: '10 events while the API answers 500, then recovery',
    async steps(run) {
      run.harness.fault = () => ({ status: 500 })
      const page = await run.open()
      await run.track(page, 'e', 10)
      await faultSeen(run, 'refused')
      await sleep(1000)
      run.harness.fault = null
    },
  },
  {
    name: 'http-429',
    title: '10 events; the API answers 429 with Retry-After: 2 (seconds) for 2 s after its first 429; no retry may come sooner',
    async steps(run) {
      let first = 0
      run.harness.fault = ({ at }) => {
        if (first === 0) first = at
        return at - first < 2000 ? { status: 429, headers: { 'retry-after': '2' } } : null
      }
      const page = await run.open()
      await run.track(page, 'e', 10)
      await faultSeen(run, 'refused')
    },
    /**
     * Extra figure: the shortest time between a 429 and the next copy of one
     * of its events (a retry), which Retry-After says may not be under 2 s.
     */
    check(run) {
      let shortest = null
      const requests = run.harness.requests
      requests.forEach((request, i) => {
        if (request.status !== 429) return
        const seqs = new Set(request.records.filter((x) => x?.properties?.token === run.token).map((x) => x.properties.seq))
        const retry = requests.slice(i + 1).find((later) => later.records.some((x) => x?.properties?.token === run.token && seqs.has(x.properties.seq)))
        if (retry && (shortest === null || retry.at - request.at < shortest)) shortest = retry.at - request.at
      })
      return { retryAfterMs: shortest }
    },
  },
  {
    name: 'offline-online',
    title: '10 events while the browser is offline, then back online',
    async steps(run) {
      const page = await run.open()
      await run.context.setOffline(true)
      await run.track(page, 'e', 10)
      await sleep(1500)
      await run.context.setOffline(false)
    },
  },
  {
    name: 'cookies-throw',
    title: 'document.cookie throws (sandboxed-iframe-like); 3 events, then a link to the next page',
    initScript: () => {
      const fail = () => {
        throw new DOMException('The document is sandboxed and lacks the allow-same-origin flag.', 'SecurityError')
      }
      Object.defineProperty(Document.prototype, 'cookie', { configurable: true, get: fail, set: fail })
    },
    async steps(run) {
      const page = await run.open()
      await run.track(page, 'e', 3)
      await Promise.all([page.waitForURL('**/next.html'), page.click('#next')])
      await page.waitForFunction(() => window.libReady === true)
    },
  },
]

export const DEFAULT_OPTIONS = { deadline: 8000, grace: 1000 }

/** Runs one scenario on one library in its own browser context and returns its result (never throws for a lost event). */
export async function runScenario(browser, harness, scenario, libName, options = DEFAULT_OPTIONS) {
  const run = new Run(browser, harness, LIBS[libName], scenario.name, options)
  const started = Date.now()
  try {
    await run.start(scenario.initScript)
    await scenario.steps(run)
    const result = await run.settle()
    return { scenario: scenario.name, lib: libName, ...result, ...(scenario.check ? scenario.check(run) : {}), ms: Date.now() - started }
  } catch (error) {
    return { scenario: scenario.name, lib: libName, expected: run.expected.length, delivered: 0, lost: run.expected, rawCopies: 0, rawDuplicates: 0, countedTwice: [], threw: run.threw ?? 0, notes: [...run.notes, `error: ${String(error).split('\n')[0]}`], ms: Date.now() - started }
  } finally {
    await run.close()
  }
}

/** Starts the harness and a Chromium pointed at it (back/forward cache on, unlike Playwright's default). */
export async function startMatrix() {
  const harness = await startHarness()
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: chromiumArgs(harness),
    ignoreDefaultArgs: ['--disable-back-forward-cache'],
  })
  return { harness, browser, stop: async () => { await browser.close(); await harness.close() } }
}
