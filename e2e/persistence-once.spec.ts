import type { BrowserContext, Page } from '@playwright/test'
import { analyticsPage, expect, iifePage, MixpanelInbox, test } from './fixtures'

// One persistence read per call (src/mixpanel/persistence-once.ts,
// docs/performance.md) in the built script-tag bundle with mixpanel-browser's
// real core: the internals it relies on are pinned here, so an upgrade that
// renames them fails these tests; what is sent and stored is the same with it
// and without it.

const TOKEN = 'once-token'
type Persistence = 'cookie' | 'localStorage'
const settings = (persistence: Persistence) => ({
  token: TOKEN,
  persistence,
  groupIdentifierTraits: ['company_id'],
  propIncrements: ['items'],
  superProperties: ['price'],
  mixpanelConfig: { batch_requests: false },
})

// Counts every real read of mixpanel-browser's persistence entry. `frozen`
// makes `load` read-only, so the library cannot replace it and falls back to
// mixpanel-browser's own reads and writes: the run "without it".
const COUNT_LOADS = `
  window.loads = 0
  const persistence = analytics.mixpanel.persistence
  const load = persistence.load
  Object.defineProperty(persistence, 'load', {
    configurable: true, writable: !window.frozen,
    value: function () { window.loads += 1; return load.apply(this, arguments) },
  })
`

// Every kind of call, with the paths that read state: anonymous People
// updates queued in the persistence, the queue flushed by identify, arrays
// unioned with the registered ones, increments, revenue, groups, reset.
// (Not alias: mixpanel-browser identifies in the callback of its request, at
// a time that depends on the network, in both modes.)
const CALLS = `
  // The loads made synchronously by each call (a call's work is synchronous).
  window.perCall = []
  const call = (method, ...args) => {
    const before = window.loads
    const done = analytics[method](...args)
    window.perCall.push(window.loads - before)
    return done
  }
  window.run = async () => {
    await call('identify', { plan: 'free', tags: ['a'] })
    await call('page')
    await call('track', 'Viewed', { price: 3, items: 2 })
    await call('identify', 'u1', { email: 'ada@example.com', name: 'Ada Lovelace', tags: ['b'], roles: ['x'], createdAt: '2024-01-02T03:04:05.000Z' })
    await call('identify', 'u1', { tags: ['c'] })
    await call('group', 'g1', { company_id: 'acme', name: 'Acme', plan: 'gold' })
    await call('track', 'Order Completed', { revenue: 12.5, items: 3, price: 4 })
    await call('reset')
    await call('identify', 'u2', { plan: 'pro', tags: ['d'] })
    await call('track', 'After', { x: 1 })
  }
`

/** The persisted entry of mixpanel-browser (cookie or localStorage), parsed. */
async function persisted(page: Page, context: BrowserContext, persistence: Persistence): Promise<unknown> {
  const name = `mp_${TOKEN}_mixpanel`
  if (persistence === 'localStorage') return JSON.parse((await page.evaluate((key) => localStorage.getItem(key), name)) ?? 'null')
  const cookie = (await context.cookies()).find((c) => c.name === name)
  return cookie ? JSON.parse(decodeURIComponent(cookie.value)) : null
}

/**
 * What differs between two runs by chance, replaced by placeholders: device
 * ids (by order of appearance), times, insert ids. Records sorted, since
 * requests may arrive in any order.
 */
function normalize(records: unknown[], state: unknown): { records: string[]; state: unknown } {
  let text = JSON.stringify({ records, state })
  const devices = [...new Set([...text.matchAll(/"\$device_id":"([^"]+)"/g)].map((m) => m[1]!))]
  devices.forEach((id, i) => (text = text.split(id).join(`DEVICE${i + 1}`)))
  text = text.replace(/"(\$insert_id|time|\$time)":("[^"]*"|[\d.]+)/g, '"$1":"…"').replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?/g, (t) => (t.startsWith('2024-01-02') ? t : 'NOW'))
  const parsed = JSON.parse(text) as { records: unknown[]; state: unknown }
  return { records: parsed.records.map((r) => JSON.stringify(r)).sort(), state: parsed.state }
}

async function runCalls(browser: import('@playwright/test').Browser, url: string, persistence: Persistence, frozen: boolean) {
  const context = await browser.newContext()
  const inbox = new MixpanelInbox()
  await inbox.attach(context)
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])(?!api(-js|-eu|-in)?\.mixpanel\.com)/, (route) => route.abort())
  const page = await context.newPage()
  if (frozen) await page.addInitScript(() => ((window as any).frozen = true))
  await page.goto(url)
  await page.evaluate(() => (window as any).run())
  // Sent once the delivery queue holds nothing more: every record answered (docs/delivery.md).
  await expect
    .poll(async () => inbox.requests.length > 0 && (await page.evaluate(() => Object.keys(localStorage).some((k) => k.startsWith('__mpdm_')))) === false)
    .toBe(true)
  const sent = inbox.requests.length
  const result = {
    perCall: await page.evaluate(() => (window as any).perCall as number[]),
    sent,
    ...normalize(inbox.records.map((r) => ({ endpoint: r.endpoint, body: r.body })), await persisted(page, context, persistence)),
  }
  await context.close()
  return result
}

for (const persistence of ['cookie', 'localStorage'] as const) {
  test(`${persistence}: the records sent and the state persisted are the same with one read per call and without it`, async ({ browser, site }) => {
    const url = site.page(`/once/${persistence}.html`, analyticsPage(settings(persistence), COUNT_LOADS + CALLS))
    const without = await runCalls(browser, url, persistence, true)
    const withIt = await runCalls(browser, url, persistence, false)
    // Without it mixpanel-browser re-reads its entry again and again in a call; with it,
    // once per call, the facade's own check of the user (identify) included.
    expect(withIt.perCall).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    expect(without.perCall.every((loads, i) => loads >= withIt.perCall[i]!)).toBe(true)
    expect(without.perCall.reduce((a, b) => a + b), without.perCall.join()).toBeGreaterThan(60)
    expect(withIt.records.length).toBeGreaterThan(15)
    expect(withIt.records).toEqual(without.records)
    expect(withIt.state).toEqual(without.state)
    // The comparison covers the paths that read state.
    const state = withIt.state as Record<string, unknown>
    expect(state).toMatchObject({ distinct_id: 'u2', $user_id: 'u2', plan: 'pro', tags: ['d'] })
    expect(withIt.records.some((r) => r.includes('"$union":{"tags":["a","b","c"]') || r.includes('"tags":["a","b","c"]'))).toBe(true)
  })
}

test("mixpanel-browser's internals it relies on: persistence.load() re-reads the stored entry into props, save() writes props, remove() deletes it; get_property, register and reset go through them", async ({ page, site, inbox }) => {
  await inbox.attach(page)
  await page.goto(site.page('/once/internals.html', analyticsPage(settings('localStorage'), '')))
  const seen = await page.evaluate((token) => {
    const mp = (window as any).analytics.mixpanel
    const persistence = mp.persistence
    const proto = Object.getPrototypeOf(persistence)
    const key = `mp_${token}_mixpanel`
    const stored = () => JSON.parse(localStorage.getItem(key) ?? 'null')
    const shape = ['load', 'save', 'remove'].map((name) => [typeof proto[name], Object.prototype.hasOwnProperty.call(persistence, name)])
    const count = { load: 0, save: 0, remove: 0 }
    for (const name of ['load', 'save', 'remove'] as const) {
      const original = persistence[name]
      persistence[name] = function (this: unknown) {
        count[name] += 1
        return original.apply(this, arguments)
      }
    }
    mp.get_property('plan')
    const byGet = { ...count }
    mp.register({ plan: 'pro' })
    const byRegister = { load: count.load - byGet.load, save: count.save - byGet.save }
    const inProps = persistence.props.plan
    // A change written behind its back is what the next load() brings into props.
    localStorage.setItem(key, JSON.stringify({ ...stored(), plan: 'changed' }))
    const beforeLoad = persistence.props.plan
    persistence.load()
    const afterLoad = persistence.props.plan
    // save() writes props as they are.
    persistence.props.plan = 'saved'
    persistence.save()
    const afterSave = stored().plan
    // reset() removes the entry, then saves a new one.
    const before = { ...count }
    mp.reset()
    const byReset = { remove: count.remove - before.remove, save: count.save - before.save }
    const afterReset = stored().plan
    persistence.remove()
    const afterRemove = stored()
    for (const name of ['load', 'save', 'remove']) delete persistence[name]
    return { shape, byGet, byRegister, inProps, beforeLoad, afterLoad, afterSave, byReset, afterReset, afterRemove }
  }, TOKEN)
  expect(seen).toEqual({
    shape: [['function', false], ['function', false], ['function', false]],
    byGet: { load: 1, save: 0, remove: 0 },
    byRegister: { load: 1, save: 1 },
    inProps: 'pro',
    beforeLoad: 'pro',
    afterLoad: 'changed',
    afterSave: 'saved',
    byReset: { remove: 1, save: 1 },
    afterReset: undefined,
    afterRemove: null,
  })
})

test('each call reads the entry once, so a change made between calls (another tab) is seen by the next call', async ({ page, site, inbox }) => {
  await inbox.attach(page)
  await page.goto(site.page('/once/between.html', analyticsPage({ ...settings('localStorage'), superProperties: [] }, COUNT_LOADS)))
  await page.evaluate(async (token) => {
    const analytics = (window as any).analytics
    await analytics.identify('u1', { plan: 'free' })
    const key = `mp_${token}_mixpanel`
    localStorage.setItem(key, JSON.stringify({ ...JSON.parse(localStorage.getItem(key)!), plan: 'changed in another tab' }))
    ;(window as any).loads = 0
    await analytics.track('After')
  }, TOKEN)
  await inbox.until((i) => i.events('After').length === 1)
  expect(inbox.events('After')[0]!.properties.plan).toBe('changed in another tab')
  expect(await page.evaluate(() => (window as any).loads)).toBe(1)
})

test('start-up reads the stored entry no more for its own checks (stored `length`/`bucket`, the known user re-identified): init() has just read it', async ({ browser, site }) => {
  const key = `mp_${TOKEN}_mixpanel`
  // Reads of mixpanel-browser's entry from its \`loaded\` callback (inside
  // init) to the end of createAnalytics(): the rest of init's own work
  // (default super properties, the initial referrer) and our start-up.
  // `frozen`: \`load\` made read-only in \`loaded\`, so our start-up reads as mixpanel-browser always does.
  const script = (frozen: boolean) => `
    const getItem = Storage.prototype.getItem
    window.reads = 0
    Storage.prototype.getItem = function (name) {
      if (name === ${JSON.stringify(key)}) window.reads += 1
      return getItem.apply(this, arguments)
    }
    const create = ${JSON.stringify(settings('localStorage'))}
    create.mixpanelConfig.loaded = (mp) => {
      window.reads = 0
      if (${frozen}) Object.defineProperty(mp.persistence, 'load', { value: mp.persistence.load, writable: false })
    }
    window.analytics = MixpanelDeviceMode.createAnalytics(create)`
  const readsAtStart = async (frozen: boolean) => {
    const context = await browser.newContext()
    const inbox = new MixpanelInbox()
    await inbox.attach(context)
    const page = await context.newPage()
    // A known user with a People update, stored by an earlier page.
    await page.goto(site.page('/once/first.html', analyticsPage(settings('localStorage'), '')))
    await page.evaluate(() => (window as any).analytics.identify('u1', { plan: 'pro', tags: ['a'] }))
    await page.goto(site.page(`/once/start-${frozen}.html`, iifePage(script(frozen))))
    const reads = await page.evaluate(() => (window as any).reads as number)
    await context.close()
    return reads
  }
  const without = await readsAtStart(true)
  const withIt = await readsAtStart(false)
  // mixpanel-browser's own 7 after \`loaded\`, then ours: none (init() read
  // the entry in the same task), where reading as mixpanel-browser does takes
  // 17 (4 checks, then identify).
  expect({ ours: withIt - 7, without: without - 7 }).toEqual({ ours: 0, without: 17 })
})
