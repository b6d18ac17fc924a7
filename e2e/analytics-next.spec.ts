import { existsSync } from 'node:fs'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import commonjs from '@rollup/plugin-commonjs'
import { nodeResolve } from '@rollup/plugin-node-resolve'
import type { BrowserContext, Page } from '@playwright/test'
import { rollup } from 'rollup'
import { expect, MixpanelInbox, test as base } from './fixtures'

// The real @segment/analytics-next with the built ESM entry (dist/index.js),
// bundled the way an application's bundler would, and served by the `site` fixture.
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BUILD = 'e2e/.build'
const ENTRY = `
import { AnalyticsBrowser } from '@segment/analytics-next'
import { createAnalytics, mixpanelDestination } from '../../dist/index.js'
window.AnalyticsBrowser = AnalyticsBrowser
window.createAnalytics = createAnalytics
window.mixpanelDestination = mixpanelDestination
// A JSON image of a value that keeps Dates recognisable, to see any mutation.
window.snapshot = function snapshot(value) {
  if (value instanceof Date) return { $date: value.toISOString() }
  if (Array.isArray(value)) return value.map(snapshot)
  if (value !== null && typeof value === 'object') {
    const out = {}
    for (const key of Object.keys(value)) out[key] = snapshot(value[key])
    return out
  }
  return value
}
`

const test = base.extend<{ segment: string[] }, { bundle: string }>({
  bundle: [
    async ({}, use, workerInfo) => {
      if (!existsSync(`${ROOT}dist/index.js`)) throw new Error('dist/index.js is missing: run `npm run build` first')
      await mkdir(`${ROOT}${BUILD}`, { recursive: true })
      const entry = `${ROOT}${BUILD}/entry-${workerInfo.workerIndex}.js`
      await writeFile(entry, ENTRY)
      const bundle = await rollup({
        input: entry,
        plugins: [nodeResolve({ browser: true }), commonjs()],
        onwarn: () => {},
      })
      const { output } = await bundle.generate({ format: 'iife', inlineDynamicImports: true })
      await bundle.close()
      // Written under a temporary name, then renamed: never served half-written.
      const file = `${BUILD}/analytics-next-${workerInfo.workerIndex}.js`
      await writeFile(`${ROOT}${file}.tmp`, output[0].code)
      await rename(`${ROOT}${file}.tmp`, `${ROOT}${file}`)
      await use(`/${file}`)
    },
    { scope: 'worker', timeout: 60_000 },
  ],
  // Segment's own hosts (Analytics Next still posts to api.segment.io) answer
  // 200 locally; registered after the inbox's catch-all, so this route wins.
  segment: async ({ context, inbox }, use) => {
    void inbox
    const seen: string[] = []
    await context.route(/^https:\/\/([a-z0-9-]+\.)*segment\.(io|com)\//, (route) => {
      seen.push(route.request().url())
      return route.fulfill({ status: 200, contentType: 'application/json', body: '{}' })
    })
    await use(seen)
  },
})

const SETTINGS = {
  token: 'next-token',
  groupIdentifierTraits: ['company_id'],
  mixpanelConfig: { batch_requests: false },
}

/** A page with the bundle; `script` runs in it after load. */
function pageHtml(bundle: string, script = ''): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Next Page</title>
<script src="${bundle}"></script></head><body><script>${script}</script></body></html>`
}

// Loads Analytics Next with only our plugin (no settings request: FACTS.md).
const LOAD = `
  window.load = (settings, extra = []) => AnalyticsBrowser.load({
    writeKey: 'test-write-key',
    cdnSettings: { integrations: {} },
    plugins: [mixpanelDestination(settings), ...extra],
  }).then(([analytics]) => (window.analytics = analytics))
`

type Rec = Record<string, any>

/** Every record with what differs between two runs (ids, times) replaced by placeholders, in a stable order. */
function comparable(inbox: MixpanelInbox): Rec[] {
  const devices = new Set(inbox.records.map((r) => r.body.$device_id ?? r.body.properties?.$device_id).filter(Boolean))
  let text = JSON.stringify(inbox.records.map((r) => ({ endpoint: r.endpoint, body: r.body })))
  for (const device of devices) text = text.split(device).join('<device>')
  const records: Rec[] = JSON.parse(text)
  for (const { body } of records) {
    if (body.properties) {
      expect(typeof body.properties.$insert_id).toBe('string')
      expect(typeof body.properties.time).toBe('number')
      body.properties.$insert_id = '<insert_id>'
      body.properties.time = '<time>'
    }
    if (body.$append?.$transactions) body.$append.$transactions.$time = '<time>'
  }
  return records.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1))
}

const EVENTS = ['$create_alias', '$identify', '$identify', 'Loaded a Page', 'Loaded a Screen', 'Signed Up']

test('page, identify, track, group, alias and screen reach Mixpanel with the same payloads as the facade', async ({ page, site, bundle, inbox, context, segment }) => {
  const url = site.page('/next/compare.html', pageHtml(bundle, LOAD))
  // The same calls, awaited one by one, through either API.
  const calls = async (api: any) => {
    await api.page('Docs', 'Intro', { section: 'a' })
    await api.identify('user-1', {
      email: 'ada@example.com',
      name: 'Ada Lovelace',
      tags: ['x', 'y'],
      created: new Date('2024-01-02T03:04:05Z'),
    })
    await api.track('Signed Up', { plan: 'pro', revenue: '$9.50', when: new Date('2024-05-06T07:08:09Z'), length: 3, token: 'bad' })
    await api.group('acme', { company_id: 'acme', name: 'Acme', founded: new Date('1999-01-01T00:00:00Z') })
    await api.alias('user-2')
    await api.screen('Home', { tab: 1 })
  }
  // mixpanel-browser's alias() identifies as the alias afterwards (a second $identify),
  // and the first People update carries $set_once of the initial referrer.
  const settle = () =>
    inbox.until((i) => i.events().length === 6 && i.engage().length === 5 && i.groups().length === 1)

  await page.goto(url)
  await page.evaluate(`(${calls.toString()})(createAnalytics(${JSON.stringify(SETTINGS)}))`)
  await settle()
  await page.waitForTimeout(300) // nothing more may arrive
  const facade = comparable(inbox)

  // A fresh visitor: no cookie, no storage, nothing recorded.
  await page.evaluate(() => localStorage.clear())
  await context.clearCookies()
  inbox.records.length = 0
  await page.goto(url)
  await page.evaluate(`load(${JSON.stringify(SETTINGS)}).then(${calls.toString()})`)
  await settle()
  await page.waitForTimeout(300)
  const next = comparable(inbox)

  expect(next).toEqual(facade)
  expect(next.length).toBe(12)
  expect(next.filter((r) => r.endpoint === 'track').map((r) => r.body.event).sort()).toEqual(EVENTS)
  // And what they are, so equality of two wrong answers cannot pass.
  const event = (name: string) => next.find((r) => r.body.event === name)!.body.properties
  expect(event('Loaded a Page')).toMatchObject({ section: 'a', name: 'Intro', category: 'Docs', path: '/next/compare.html', url, title: 'Next Page', search: '', referrer: '' })
  expect(event('Signed Up')).toMatchObject({ plan: 'pro', revenue: '$9.50', when: '2024-05-06T07:08:09.000Z', length_: 3, token: 'next-token', distinct_id: 'user-1' })
  expect(event('Loaded a Screen')).toMatchObject({ name: 'Home', tab: 1, path: '/next/compare.html', title: 'Next Page' })
  expect(event('$create_alias')).toMatchObject({ alias: 'user-2', distinct_id: 'user-1' })
  const who = { $token: 'next-token', $distinct_id: 'user-1', $device_id: '<device>', $user_id: 'user-1' }
  const browser = { $os: 'Linux', $browser: 'Chrome', $browser_version: expect.any(Number) }
  expect(next.filter((r) => r.endpoint === 'engage').map((r) => r.body)).toEqual(
    expect.arrayContaining([
      { ...who, $set_once: { $initial_referrer: '$direct', $initial_referring_domain: '$direct' } },
      { ...who, $set: { ...browser, $email: 'ada@example.com', $first_name: 'Ada', $last_name: 'Lovelace', $name: 'Ada Lovelace', $created: '2024-01-02T03:04:05.000Z', id: 'user-1' } },
      { ...who, $union: { tags: ['x', 'y'] } },
      { ...who, $append: { $transactions: { $amount: 9.5, $time: '<time>' } } },
      { ...who, $set: { ...browser, company_id: ['acme'] } },
    ]),
  )
  expect(next.find((r) => r.endpoint === 'groups')!.body).toEqual({
    $token: 'next-token',
    $group_key: 'company_id',
    $group_id: 'acme',
    $set: { company_id: 'acme', name: 'Acme', founded: '1999-01-01T00:00:00.000Z' },
  })
  // Analytics Next itself only talked to the local stub.
  expect(segment.length).toBeGreaterThan(0)
  expect(segment.every((u) => u.startsWith('https://api.segment.io/'))).toBe(true)
})

test('alias sends the new id although Analytics Next puts the current user id in the event', async ({ page, site, bundle, inbox }) => {
  await page.goto(site.page('/next/alias.html', pageHtml(bundle, LOAD)))
  await page.evaluate(async (settings) => {
    const analytics = await (window as any).load(settings)
    await analytics.identify('user-1')
    // Analytics Next 1.84 builds this event with userId 'user-1': only its 'alias' emit carries 'user-2'.
    const ctx = await analytics.alias('user-2')
    ;(window as any).aliasEventUserId = ctx.event.userId
    await analytics.alias('user-3', { integrations: { Mixpanel: false } })
    await analytics.alias('user-4', 'user-2')
  }, SETTINGS)
  await inbox.until((i) => i.events('$create_alias').length === 2)
  await page.waitForTimeout(300)
  expect(await page.evaluate(() => (window as any).aliasEventUserId)).toBe('user-1')
  expect(inbox.events('$create_alias').map((e) => [e.properties.alias, e.properties.distinct_id])).toEqual([
    ['user-2', 'user-1'],
    ['user-4', 'user-2'],
  ])
})

test('calls made before Analytics Next and the plugin are loaded reach Mixpanel once, in order', async ({ page, site, bundle, inbox }) => {
  await page.goto(site.page('/next/early.html', pageHtml(bundle)))
  await page.evaluate(async (settings) => {
    const w = window as any
    // Calls on an AnalyticsBrowser that is not loaded yet are buffered by Analytics Next.
    const analytics = new w.AnalyticsBrowser()
    const early = [
      analytics.page('Docs', 'Early'),
      analytics.identify('early-user', { plan: 'pro' }),
      analytics.track('Early 1', { n: 1 }),
      analytics.track('Early 2', { n: 2 }),
    ]
    await new Promise((resolve) => setTimeout(resolve, 300))
    // Events handed to the plugin before its load() ran wait in the plugin.
    const plugin = w.mixpanelDestination(settings)
    w.loadedBefore = plugin.isLoaded()
    await plugin.track({ event: { type: 'track', event: 'Handed Before Load', properties: { n: 0 } } })
    analytics.load({ writeKey: 'test-write-key', cdnSettings: { integrations: {} }, plugins: [plugin] })
    // Analytics Next replays its buffer in a later task: a call made right
    // after load() could overtake it, so wait for the buffered ones.
    await Promise.all(early)
    await analytics.track('Late', { n: 3 })
    w.loadedAfter = plugin.isLoaded()
  }, SETTINGS)
  await inbox.until((i) => i.events('Late').length === 1)
  await page.waitForTimeout(300)
  expect(await page.evaluate(() => [(window as any).loadedBefore, (window as any).loadedAfter])).toEqual([false, true])
  // One request per event (no batching), in the order of the calls.
  expect(inbox.events().map((e) => [e.event, e.properties.distinct_id, e.properties.n])).toEqual([
    ['Handed Before Load', expect.stringMatching(/^\$device:/), 0],
    ['Loaded a Page', expect.stringMatching(/^\$device:/), undefined],
    ['$identify', 'early-user', undefined],
    ['Early 1', 'early-user', 1],
    ['Early 2', 'early-user', 2],
    ['Late', 'early-user', 3],
  ])
  expect(inbox.events('Loaded a Page')[0]!.properties).toMatchObject({ name: 'Early', category: 'Docs' })
  expect(inbox.events('Early 2')[0]!.properties).toMatchObject({ plan: 'pro', id: 'early-user' })
})

test('analytics.reset() resets Mixpanel: a new device id and no super properties on the next event', async ({ page, site, bundle, inbox }) => {
  await page.goto(site.page('/next/reset.html', pageHtml(bundle, LOAD)))
  await page.evaluate(async (settings) => {
    const analytics = await (window as any).load(settings)
    await analytics.identify('user-1', { plan: 'pro', email: 'ada@example.com' })
    await analytics.track('Before Reset')
    analytics.reset()
    await analytics.track('After Reset')
  }, SETTINGS)
  await inbox.until((i) => i.events('After Reset').length === 1)
  const [before] = inbox.events('Before Reset')
  const [after] = inbox.events('After Reset')
  expect(before!.properties).toMatchObject({ distinct_id: 'user-1', $user_id: 'user-1', plan: 'pro', email: 'ada@example.com', id: 'user-1', mp_name_tag: 'ada@example.com' })
  const device = after!.properties.$device_id
  expect(device).toEqual(expect.any(String))
  expect(device).not.toBe(before!.properties.$device_id)
  // Only what mixpanel-browser adds to every event of an anonymous visitor (it re-registers the initial referrer).
  expect(Object.keys(after!.properties).sort()).toEqual(
    ['$browser', '$browser_version', '$current_url', '$device_id', '$initial_referrer', '$initial_referring_domain', '$insert_id', '$lib_version', '$os', '$screen_height', '$screen_width', 'distinct_id', 'mp_lib', 'time', 'token'].sort(),
  )
  expect(after!.properties.distinct_id).toBe(`$device:${device}`)
})

test('integrations: { Mixpanel: false } keeps a call from Mixpanel', async ({ page, site, bundle, inbox }) => {
  await page.goto(site.page('/next/integrations.html', pageHtml(bundle, LOAD)))
  await page.evaluate(async (settings) => {
    const analytics = await (window as any).load(settings)
    await analytics.identify('hidden-user', { plan: 'pro' }, { integrations: { Mixpanel: false } })
    await analytics.track('Hidden', {}, { integrations: { Mixpanel: false } })
    await analytics.page('Hidden Page', {}, { integrations: { Mixpanel: false } })
    await analytics.track('All Off', {}, { integrations: { All: false } })
    await analytics.track('All Off But Mixpanel', {}, { integrations: { All: false, Mixpanel: true } })
    await analytics.track('Shown')
  }, SETTINGS)
  await inbox.until((i) => i.events('Shown').length === 1)
  await page.waitForTimeout(300)
  expect(inbox.events().map((e) => e.event)).toEqual(['All Off But Mixpanel', 'Shown'])
  expect(inbox.events('Shown')[0]!.properties.distinct_id).toMatch(/^\$device:/)
  expect(inbox.engage()).toEqual([])
})

test('screen calls are forwarded: Loaded a Screen, or Viewed <Name> Screen with trackNamedPages', async ({ page, site, bundle, inbox }) => {
  const url = site.page('/next/screen.html', pageHtml(bundle, LOAD))
  await page.goto(url)
  await page.evaluate(async (settings) => {
    const analytics = await (window as any).load(settings)
    await analytics.screen('Home', { tab: 1 })
  }, SETTINGS)
  await inbox.until((i) => i.events('Loaded a Screen').length === 1)
  expect(inbox.events('Loaded a Screen')[0]!.properties).toMatchObject({ name: 'Home', tab: 1, path: '/next/screen.html', url, title: 'Next Page', referrer: '', search: '' })

  await page.reload()
  await page.evaluate(async (settings) => {
    const analytics = await (window as any).load(settings)
    await analytics.screen('Settings', { tab: 2 })
  }, { ...SETTINGS, consolidatedPageCalls: false, trackNamedPages: true })
  await inbox.until((i) => i.events('Viewed Settings Screen').length === 1)
  expect(inbox.events('Viewed Settings Screen')[0]!.properties).toMatchObject({ name: 'Settings', tab: 2, path: '/next/screen.html' })
})

test('the plugin never mutates the event', async ({ page, site, bundle, inbox }) => {
  await page.goto(site.page('/next/mutation.html', pageHtml(bundle, LOAD)))
  const results = await page.evaluate(async (settings) => {
    const w = window as any
    // The event as the destinations get it, and as it is once they all ran.
    const seen = new Map<string, unknown>()
    const capture = {
      name: 'Capture',
      type: 'enrichment',
      version: '1',
      isLoaded: () => true,
      load: () => Promise.resolve(),
      ...Object.fromEntries(
        ['track', 'page', 'screen', 'identify', 'group', 'alias'].map((type) => [
          type,
          (ctx: any) => (seen.set(ctx.event.messageId, w.snapshot(ctx.event)), ctx),
        ]),
      ),
    }
    const analytics = await w.load(settings, [capture])
    const when = new Date('2024-05-06T07:08:09Z')
    const contexts = [
      await analytics.page('Docs', 'Intro', { section: 'a', at: when }),
      await analytics.identify('user-1', { Email: 'ada@example.com', name: 'Ada Lovelace', created: when, tags: ['x'], address: { since: when } }),
      await analytics.track('Order Completed', {
        total: '$10.50',
        when,
        nested: { at: when, list: [when, { deep: when }] },
        length: 3,
        bucket: 'b',
        token: 'nope',
        distinct_id: 'nope',
        tags: ['a'],
      }),
      await analytics.group('acme', { company_id: 'acme', founded: when }),
      await analytics.screen('Home', { at: when }),
      await analytics.alias('user-2'),
    ]
    return contexts.map((ctx: any) => ({ type: ctx.event.type, before: seen.get(ctx.event.messageId), after: w.snapshot(ctx.event) }))
  }, { ...SETTINGS, propIncrements: ['length'], superProperties: ['tags'], groupTraitsToSetOnce: ['founded'] })
  await inbox.until((i) => i.events('Order Completed').length === 1 && i.events('$create_alias').length === 1)
  expect(results.map((r) => r.type)).toEqual(['page', 'identify', 'track', 'group', 'screen', 'alias'])
  for (const { before, after } of results) {
    expect(before).toBeDefined()
    expect(after).toEqual(before)
  }
  // The inputs did contain what translation rewrites.
  expect(results[2]!.after).toMatchObject({ properties: { when: { $date: '2024-05-06T07:08:09.000Z' }, length: 3, token: 'nope' } })
  expect(inbox.events('Order Completed')[0]!.properties).toMatchObject({ when: '2024-05-06T07:08:09.000Z', length_: 3, bucket_: 'b', token: 'next-token', distinct_id: 'user-1' })
})

test('the plugin is a destination named Mixpanel and rejects bad settings at creation', async ({ page, site, bundle }) => {
  await page.goto(site.page('/next/shape.html', pageHtml(bundle)))
  const shape = await page.evaluate(() => {
    const w = window as any
    const plugin = w.mixpanelDestination({ token: 't' })
    let error = ''
    try {
      w.mixpanelDestination({ token: 't', peopel: true })
    } catch (e) {
      error = String(e)
    }
    return { name: plugin.name, type: plugin.type, version: typeof plugin.version, error }
  })
  expect(shape).toEqual({ name: 'Mixpanel', type: 'destination', version: 'string', error: 'SettingsError: mixpanel-device-mode: unknown setting `peopel`' })
})
