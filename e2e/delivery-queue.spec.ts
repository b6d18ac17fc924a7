import type { Page, Route } from '@playwright/test'
import { analyticsPage, expect, MIXPANEL_HOSTS, own, test, watch } from './fixtures'

// The delivery queue (docs/delivery.md): every record mixpanel-browser
// finishes is stored before the call resolves, sent by fetch in batches,
// retried until Mixpanel answers 2xx, and taken over by the next page when
// this one is left. Beacons and keepalive requests sent while a page is left
// never reach Playwright's routing (the fixture drops them): what arrives
// here was sent by a page that was alive.

const TOKEN = 'queue-token'
const PREFIX = '[mixpanel-device-mode]'

/** The queue's records still stored by the page (key → event or update). */
const stored = (page: Page): Promise<string[]> =>
  page.evaluate((prefix) => Object.keys(localStorage).filter((key) => key.startsWith(prefix) && key.includes('.')), `__mpdm_${TOKEN}_`)

/** One record per $insert_id (what Mixpanel counts), in order of arrival. */
const unique = (events: Record<string, any>[]): Record<string, any>[] =>
  events.filter((e, i) => events.findIndex((o) => o.properties.$insert_id === e.properties.$insert_id) === i)

/** Answers the Mixpanel hosts with `answer(n)` for the n-th request (from 0), 200 when it returns undefined; records go to the inbox only when answered 200. */
async function failFirst(page: Page, answer: (n: number, route: Route) => Promise<boolean> | boolean): Promise<void> {
  let n = 0
  await page.route(MIXPANEL_HOSTS, async (route) => {
    if (!(await answer(n++, route))) await route.fallback()
  })
}

test('an event tracked on a link click, right before the page is left, is sent once by the next page with the same $insert_id and time', async ({ page, site, inbox }) => {
  site.page('/queue/next.html', analyticsPage({ token: TOKEN }, `analytics.track('Next Page')`))
  const url = site.page(
    '/queue/leaving.html',
    analyticsPage({ token: TOKEN }, `
      document.getElementById('go').addEventListener('click', () => {
        analytics.track('Clicked Link', { n: 1 })
        analytics.track('Clicked Link', { n: 2 })
        window.sent = JSON.parse(JSON.stringify(Object.entries(localStorage).filter(([key]) => key.startsWith('__mpdm_${TOKEN}_') && key.includes('.'))))
        sessionStorage.setItem('sent', JSON.stringify(window.sent))
      })
    `).replace('<body>', '<body><a id="go" href="/queue/next.html">next</a>'),
  )
  await page.goto(url)
  await page.click('#go')
  await page.waitForURL('**/queue/next.html')
  const queued = (JSON.parse((await page.evaluate(() => sessionStorage.getItem('sent')))!) as [string, string][])
    .sort(([a], [b]) => +a.split('.')[1]! - +b.split('.')[1]!)
    .map(([, value]) => JSON.parse(value.split('\n')[2]!))
  expect(queued.map((e) => [e.event, own(e.properties)])).toEqual([['Clicked Link', { n: 1 }], ['Clicked Link', { n: 2 }]])

  await inbox.until((i) => unique(i.events('Clicked Link')).length === 2 && i.events('Next Page').length === 1)
  // Sent by the first page before it went, or by the next one: once after $insert_id dedupe, same time.
  expect(unique(inbox.events('Clicked Link')).map((e) => [own(e.properties), e.properties.$insert_id, e.properties.time])).toEqual(
    queued.map((e) => [own(e.properties), e.properties.$insert_id, e.properties.time]),
  )
  console.log(`raw copies of 2 events: ${inbox.events('Clicked Link').length}`)
  await expect.poll(() => stored(page)).toEqual([])
})

/** The events of a request body (`data=` form field, JSON). */
const eventsIn = (body: string | null): Record<string, any>[] => JSON.parse(new URLSearchParams(body ?? '').get('data') ?? '[]')

test('ten events then an immediate reload: each arrives once, sent again by the reloaded page with the same $insert_id', async ({ page, site, inbox }) => {
  const url = site.page('/queue/reload.html', analyticsPage({ token: TOKEN }, `analytics.track('Loaded')`))
  await page.goto(url)
  await inbox.until((i) => i.events('Loaded').length === 1)
  await Promise.all([
    page.waitForEvent('load'),
    page.evaluate(() => {
      for (let n = 0; n < 10; n++) (window as any).analytics.track('Tick', { n })
      location.reload()
    }),
  ])
  await inbox.until((i) => unique(i.events('Tick')).length === 10 && i.events('Loaded').length === 2)
  expect(unique(inbox.events('Tick')).map((e) => own(e.properties).n).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  console.log(`raw copies of 10 events: ${inbox.events('Tick').length}`)
  await expect.poll(() => stored(page)).toEqual([])
})

test('a connection reset drops nothing: $identify, the event and the People update are sent again with the same $insert_id', async ({ page, site, inbox }) => {
  const reset: Record<string, any>[] = []
  await page.route(MIXPANEL_HOSTS, async (route) => {
    const path = new URL(route.request().url()).pathname
    // The first request to each endpoint: the connection is reset after the body was read.
    if (!reset.some((r) => r.path === path)) {
      reset.push({ path, records: eventsIn(route.request().postData()) })
      return route.abort('connectionreset')
    }
    return route.fallback()
  })
  const url = site.page('/queue/reset.html', analyticsPage({ token: TOKEN }, `analytics.identify('u1', { plan: 'pro' }); analytics.track('A', { n: 1 })`))
  await page.goto(url)
  await inbox.until((i) => i.events('A').length === 1 && i.engage().length === reset.find((r) => r.path === '/engage/')?.records.length, 15_000)
  expect(reset.map((r) => r.path).sort()).toEqual(['/engage/', '/track/'])
  const lost = reset.find((r) => r.path === '/track/')!.records
  expect(inbox.events().map((e) => [e.event, e.properties.$insert_id, e.properties.time])).toEqual(
    lost.map((e: any) => [e.event, e.properties.$insert_id, e.properties.time]),
  )
  expect(inbox.events().map((e) => e.event)).toEqual(['$identify', 'A'])
  expect(inbox.engage()).toEqual(reset.find((r) => r.path === '/engage/')!.records)
  await expect.poll(() => stored(page)).toEqual([])
})

test("every record leaves through the queue (fetch, never mixpanel-browser's XHR): $identify and $create_alias included", async ({ page, site, inbox }) => {
  const url = site.page(
    '/queue/all-through.html',
    analyticsPage({ token: TOKEN, groupIdentifierTraits: ['company_id'] }, `
      analytics.alias('new-id')
      analytics.identify('u1', { plan: 'pro' })
      analytics.group('acme', { company_id: 'acme' })
      analytics.track('Done')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1 && i.groups().length === 1)
  // identify() and alias() track these with skip_hooks (mixpanel-browser 2.83
  // internals): if an upgrade sends them another way, they come by XHR here.
  expect(inbox.events().map((e) => e.event)).toEqual(['$create_alias', '$identify', '$identify', 'Done'])
  expect(inbox.records.map((r) => r.transport)).toEqual(inbox.records.map(() => 'fetch'))
})

test('a batch answered 400 is split: the refused event is dropped with a debug note naming it, the others are delivered', async ({ page, site, inbox }) => {
  const seen = watch(page)
  await page.route(MIXPANEL_HOSTS, (route) =>
    eventsIn(route.request().postData()).some((e) => e.event === 'Refused') ? route.fulfill({ status: 400, body: '0' }) : route.fallback(),
  )
  const url = site.page(
    '/queue/refused.html',
    analyticsPage({ token: TOKEN, debug: true }, `for (const name of ['A', 'Refused', 'B', 'C']) analytics.track(name)`),
  )
  await page.goto(url)
  await inbox.until((i) => i.events().length === 3)
  await expect.poll(() => stored(page)).toEqual([])
  expect(inbox.events().map((e) => e.event).sort()).toEqual(['A', 'B', 'C'])
  const dropped = seen.console.filter((line) => line.includes('delivery: dropped'))
  expect(dropped).toEqual([expect.stringMatching(new RegExp(`^log: \\${PREFIX} delivery: dropped "Refused" \\([0-9a-z-]+\\): the API refused it \\(400\\)$`))])
})

test('429 with Retry-After: the batch is sent again, with the same $insert_id', async ({ page, site, inbox }) => {
  const refused: Record<string, any>[] = []
  await page.route(MIXPANEL_HOSTS, (route) => {
    if (refused.length) return route.fallback()
    refused.push(...eventsIn(route.request().postData()))
    return route.fulfill({ status: 429, headers: { 'Retry-After': '1' }, body: '0' })
  })
  const url = site.page('/queue/429.html', analyticsPage({ token: TOKEN }, `analytics.track('A', { n: 1 })`))
  await page.goto(url)
  await inbox.until((i) => i.events('A').length === 1)
  expect(inbox.events('A').map((e) => e.properties.$insert_id)).toEqual(refused.map((e) => e.properties.$insert_id))
})

test('cookies that throw (a sandboxed frame): localStorage persistence takes over, events are delivered, and debug says so', async ({ page, site, inbox }) => {
  const seen = watch(page)
  const block = `<script>
    const denied = () => { throw new DOMException('The operation is insecure.', 'SecurityError') }
    Object.defineProperty(Document.prototype, 'cookie', { get: denied, set: denied })
  </script>`
  const url = site.page('/queue/cookies-throw.html', analyticsPage({ token: TOKEN, debug: true }, `analytics.identify('u1', { plan: 'pro' }); analytics.track('A', { n: 1 })`, block))
  await page.goto(url)
  await inbox.until((i) => i.events('A').length === 1 && i.engage().some((b) => b.$set?.plan))
  expect(own(inbox.events('A')[0]!.properties)).toEqual({ n: 1, plan: 'pro', id: 'u1', mp_name_tag: 'u1' })
  expect(seen.errors).toEqual([])
  expect(seen.console).toContain(`log: ${PREFIX} storage failing: \`cookie\` asked, mixpanel-browser uses localStorage, the delivery queue localStorage`)
})

test("a page listens for another page's lease release only while another page holds records, and then sends them when that page is closed", async ({ context, site, inbox }) => {
  // Counts the page's `storage` listeners (a listener costs start-up time, docs/delivery.md).
  await context.addInitScript(() => {
    const add = window.addEventListener
    ;(window as any).storageListeners = 0
    window.addEventListener = function (this: Window, type: string, ...rest: unknown[]) {
      if (type === 'storage') (window as any).storageListeners++
      return (add as any).call(this, type, ...rest)
    } as typeof window.addEventListener
  })
  const url = site.page('/queue/neighbour.html', analyticsPage({ token: TOKEN }, `window.track = (name) => analytics.track(name)`))
  const first = await context.newPage()
  // The first page cannot reach Mixpanel: its record stays stored under its lease.
  await first.route(MIXPANEL_HOSTS, (route) => route.abort('connectionrefused'))
  await first.goto(url)
  await first.evaluate(() => (window as any).track('Held'))
  await expect.poll(() => stored(first)).toHaveLength(1)
  // Alone when it started: no listener.
  expect(await first.evaluate(() => (window as any).storageListeners)).toBe(0)

  const second = await context.newPage()
  await second.goto(url)
  // Its first heartbeat saw the first page's record under a live lease.
  await expect.poll(() => second.evaluate(() => (window as any).storageListeners)).toBe(1)
  await first.close({ runBeforeUnload: true })
  await inbox.until((i) => unique(i.events('Held')).length === 1)
  expect(unique(inbox.events('Held')).map((e) => e.event)).toEqual(['Held'])
  await expect.poll(() => stored(second)).toEqual([])
})
