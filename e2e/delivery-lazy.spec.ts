import { rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { Route } from '@playwright/test'
import { expect, own, test } from './fixtures'
import { bundleSpa } from './spa/bundle'

// The delivery queue's sender is a lazy chunk of the ESM build, imported right
// after start (docs/delivery.md, "Sizes"). Records are stored before each call
// resolves whether or not it has loaded: a page left before it loaded is sent
// by the next page, once.

const RUN = `delivery-lazy-${process.pid}-${Date.now()}`
const OUT = fileURLToPath(new URL(`./spa/dist/${RUN}/`, import.meta.url))
const ASSETS = `/e2e/spa/dist/${RUN}`
const TOKEN = 'lazy-sender-token'

test.beforeAll(async () => {
  test.setTimeout(60_000)
  await bundleSpa(OUT)
})

test.afterAll(async () => {
  await rm(OUT, { recursive: true, force: true })
})

/** A page of the ESM build (bundled as an app would) that runs `script` once `analytics` exists. */
const app = (script: string): string => `<!doctype html><html><head><meta charset="utf-8"><title>Lazy sender</title></head><body>
<script>window.SETTINGS = ${JSON.stringify({ token: TOKEN })}</script>
<script type="module">
  await import('${ASSETS}/lazy-main.js')
  ${script}
  window.done = true
</script></body></html>`

test('a page left before the sender chunk loaded: its calls were stored, and the next page sends each once, with the same $insert_id and time', async ({ page, site, inbox }) => {
  // The first page's request for the chunk gets no answer: it never loads there.
  const held: Route[] = []
  let hold = true
  await page.route('**/sender.js', (route) => (hold ? void held.push(route) : route.fallback()))
  await page.goto(site.page('/lazy-sender/first.html', app(`
    await analytics.identify('u1', { plan: 'pro' })
    await analytics.track('A', { n: 1 })
    await analytics.track('B', { n: 2 })
  `)))
  await page.waitForFunction(() => (window as any).done === true)
  await expect.poll(() => held.length).toBe(1)
  // Resolved, stored, not sent.
  const stored = await page.evaluate((prefix) =>
    Object.keys(localStorage).filter((key) => key.startsWith(prefix) && key.includes('.'))
      .sort((a, b) => +a.split('.')[1]! - +b.split('.')[1]!)
      .map((key) => JSON.parse(localStorage.getItem(key)!.split('\n')[2]!)), `__mpdm_${TOKEN}_`)
  expect(stored.filter((r) => r.event).map((r) => [r.event, own(r.properties)])).toEqual([
    ['$identify', { $anon_distinct_id: expect.any(String) }],
    ['A', { n: 1, plan: 'pro', id: 'u1', mp_name_tag: 'u1' }],
    ['B', { n: 2, plan: 'pro', id: 'u1', mp_name_tag: 'u1' }],
  ])
  expect(inbox.requests).toEqual([])

  hold = false
  await page.goto(site.page('/lazy-sender/next.html', app(`await analytics.track('Next')`)))
  await inbox.until((i) => i.events('Next').length === 1 && i.events('B').length === 1 && i.engage().some((b) => b.$set?.plan))
  const events = stored.filter((r) => r.event)
  // Exactly once on the wire: the first page sent nothing, the next page sent each record once.
  expect(inbox.events().filter((e) => e.event !== 'Next').map((e) => [e.event, e.properties.$insert_id, e.properties.time])).toEqual(
    events.map((e) => [e.event, e.properties.$insert_id, e.properties.time]),
  )
  // The first page's trait update, once (the next page's re-identify sends its own $set_once of the referrer, identical).
  expect(inbox.engage().filter((b) => b.$set)).toEqual(stored.filter((r) => r.$set))
  await expect.poll(() => page.evaluate((prefix) => Object.keys(localStorage).filter((key) => key.startsWith(prefix)), `__mpdm_${TOKEN}_`)).toEqual([])
  for (const route of held) await route.abort().catch(() => {})
})

/**
 * Makes the page's first request for the sender chunk fail, as a dropped
 * connection does; returns the number of requests so far and a promise that
 * holds once the page has seen that failure (its `import()` rejects in a task
 * after the network error reaches it: a few tasks are let through).
 */
async function failFirstChunkRequest(page: import('@playwright/test').Page) {
  const state = { attempts: 0 }
  await page.route('**/sender.js', (route) => (++state.attempts === 1 ? route.abort('connectionreset') : route.fallback()))
  const failed = page.waitForEvent('requestfailed', (request) => request.url().endsWith('sender.js'))
    .then(() => page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 100))))
  return { state, failed }
}

test('a sender chunk that failed to load is loaded again by the next call on the same page, which then sends every stored record once', async ({ page, site, inbox }) => {
  // The first request for the chunk fails (a dropped connection); later ones are served.
  const { state, failed } = await failFirstChunkRequest(page)
  await page.goto(site.page('/lazy-sender/retry.html', app(`
    await analytics.identify('u1', { plan: 'pro' })
    await analytics.track('A', { n: 1 })
  `)))
  await page.waitForFunction(() => (window as any).done === true)
  await failed
  expect(state.attempts).toBe(1)
  // Stored, nothing sent: the chunk is missing on this page.
  expect(inbox.requests).toEqual([])

  await page.evaluate(() => (window as any).analytics.track('B', { n: 2 }))
  await inbox.until((i) => i.events('B').length === 1 && i.events('A').length === 1 && i.engage().some((b) => b.$set?.plan))
  expect(state.attempts).toBe(2)
  expect(inbox.events().map((e) => e.event)).toEqual(['$identify', 'A', 'B'])
  await expect.poll(() => page.evaluate((prefix) => Object.keys(localStorage).filter((key) => key.startsWith(prefix) && key.includes('.')), `__mpdm_${TOKEN}_`)).toEqual([])
})

test('calls made while the failed sender chunk loads again start one sender, and each record is sent once', async ({ page, site, inbox }) => {
  const { state, failed } = await failFirstChunkRequest(page)
  // The sender listens for `online` once when it starts: two starts would listen twice.
  const countOnline = `<script>window.onlineListeners = 0; const add = window.addEventListener
    window.addEventListener = function (type, ...rest) { if (type === 'online') window.onlineListeners++; return add.call(this, type, ...rest) }</script>`
  await page.goto(site.page('/lazy-sender/retry-twice.html', app(`await analytics.track('A', { n: 1 })`).replace('<body>', `<body>${countOnline}`)))
  await page.waitForFunction(() => (window as any).done === true)
  await failed
  expect(state.attempts).toBe(1)

  // Two calls in one task: the first loads the chunk again, the second finds that load under way.
  await page.evaluate(() => { const a = (window as any).analytics; a.track('B', { n: 2 }); a.track('C', { n: 3 }) })
  await inbox.until((i) => ['A', 'B', 'C'].every((name) => i.events(name).length === 1))
  expect(inbox.events().map((e) => e.event)).toEqual(['A', 'B', 'C'])
  expect(state.attempts).toBe(2)
  expect(await page.evaluate(() => (window as any).onlineListeners)).toBe(1)
})
