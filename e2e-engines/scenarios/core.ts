import { expect } from '@playwright/test'
import type { EngineCookie, EngineName, Tab } from '../drivers/types'
import { omit, own, ownSet, type Scenario, type ScenarioContext } from '../lib/scenario'

// The core of the wire-level suite, written once and run in Chromium, Firefox
// ESR and WebKitGTK: what leaves the page, decoded by the local collector.
// Unbatched sends (as in the main e2e suite) keep each scenario short; the
// delivery scenarios (delivery.ts) keep mixpanel-browser's default batching.
// Where an engine differs, the expectation says so and docs/browsers.md explains.

const unbatched = { mixpanelConfig: { batch_requests: false } }
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const ENGAGE_IDS = ['$token', '$distinct_id', '$device_id', '$user_id']
/** What mixpanel-browser reports as `$browser`: WebKitGTK's user agent says Safari. */
const BROWSER: Record<EngineName, string> = { chromium: 'Chrome', firefox: 'Firefox', webkit: 'Safari' }

/**
 * `list` in a stable order. Unbatched sends are separate requests that may
 * arrive in any order (in every engine), so where the order is not the point,
 * both sides are compared sorted.
 */
function bag<T>(list: T[]): T[] {
  return [...list].sort((a, b) => (canonical(a) < canonical(b) ? -1 : 1))
}

/** JSON with object keys sorted (matchers such as expect.any() sort as objects). */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  )
}

/** The Mixpanel cookies the engine exposes for the tab's URL. */
async function mixpanelCookies(tab: Tab): Promise<EngineCookie[]> {
  return (await tab.cookies()).filter((c) => c.name.startsWith('mp_'))
}

/** The decoded JSON value of a Mixpanel cookie. */
const cookieJson = (cookie: EngineCookie | undefined): Record<string, any> => JSON.parse(decodeURIComponent(cookie!.value))

/** mixpanel-browser's keys in the tab's localStorage. */
async function mixpanelStorage(tab: Tab): Promise<Record<string, string>> {
  const all = await tab.localStorage()
  // The delivery queue's records (`__mpdm_`) live until Mixpanel answers: not state (docs/delivery.md).
  return Object.fromEntries(Object.entries(all).filter(([key]) => (key.startsWith('mp_') || key.startsWith('__mp')) && !key.startsWith('__mpdm_')))
}

/** Opens a page that tracks `Visit` and waits for it; returns the tab and the event. */
async function visit(t: ScenarioContext, url: string, count = 1): Promise<Tab> {
  const tab = await t.open(url)
  await t.inbox.until((i) => i.events('Visit').length === count)
  return tab
}

export const core: Scenario[] = [
  {
    name: 'page calls are named Loaded a Page and carry the page properties, name and category',
    async run(t) {
      const url = t.page(
        '/page.html',
        t.analyticsPage(unbatched, `
          analytics.page()
          analytics.page('Docs', 'Intro', { section: 'a' })
          analytics.track('Done')
        `),
      )
      await t.open(`${url}?q=1#top`)
      await t.inbox.until((i) => i.events('Done').length === 1)
      const defaults = { path: new URL(url).pathname, referrer: '', search: '?q=1', title: 'Test Page', url: `${url}?q=1` }
      expect(bag(t.inbox.events().map((e) => [e.event, own(e.properties)]))).toEqual(bag([
        ['Loaded a Page', defaults],
        ['Loaded a Page', { ...defaults, name: 'Intro', category: 'Docs', section: 'a' }],
        ['Done', {}],
      ]))
      expect(t.inbox.events('Done')[0]!.properties).toMatchObject({ token: t.token, $current_url: `${url}?q=1#top`, $browser: BROWSER[t.engine] })
    },
  },
  {
    name: 'identify sets special traits as $ names on the profile and registers the traits on the next event',
    async run(t) {
      const url = t.page(
        '/identify.html',
        t.analyticsPage(unbatched, `
          analytics.identify('u1', {
            Email: 'ada@example.com',
            name: 'Ada Lovelace',
            created_at: new Date(Date.UTC(2020, 0, 2, 3, 4, 5)),
            plan: 'pro',
          })
          analytics.track('Next')
        `),
      )
      await t.open(url)
      await t.inbox.until((i) => i.events('Next').length === 1 && i.engage().some((b) => b.$set?.$email))
      const sets = t.inbox.engage().filter((b) => b.$set && b.$distinct_id === 'u1')
      expect(sets.map((b) => ownSet(b.$set))).toEqual([
        {
          $email: 'ada@example.com',
          $name: 'Ada Lovelace',
          $first_name: 'Ada',
          $last_name: 'Lovelace',
          $created: '2020-01-02T03:04:05.000Z',
          plan: 'pro',
          id: 'u1',
        },
      ])
      const next = t.inbox.events('Next')[0]!.properties
      expect(own(next)).toEqual({
        Email: 'ada@example.com',
        name: 'Ada Lovelace',
        created_at: '2020-01-02T03:04:05.000Z',
        plan: 'pro',
        id: 'u1',
        mp_name_tag: 'ada@example.com',
      })
      expect(next).toMatchObject({ distinct_id: 'u1', $user_id: 'u1' })
      expect(t.inbox.events().map((e) => e.event).sort()).toEqual(['$identify', 'Next'])
    },
  },
  {
    name: 'identify sends arrays as People $union and unions registered arrays on the next event',
    async run(t) {
      const url = t.page(
        '/arrays.html',
        t.analyticsPage(unbatched, `
          analytics.identify('u1', { tags: ['a', 'b'], roles: [] })
          analytics.identify('u1', { tags: ['b', 'c', 1] })
          analytics.track('Next')
        `),
      )
      await t.open(url)
      await t.inbox.until((i) => i.events('Next').length === 1 && i.engage().filter((b) => b.$union).length === 2)
      const mine = t.inbox.engage().filter((b) => b.$distinct_id === 'u1' && (b.$union || b.$set))
      expect(bag(mine.map((b) => omit(b, ENGAGE_IDS)).map((b) => (b.$set ? { $set: ownSet(b.$set) } : b)))).toEqual(bag([
        { $set: { roles: [], id: 'u1' } },
        { $union: { tags: ['a', 'b'] } },
        { $set: { id: 'u1' } },
        { $union: { tags: ['b', 'c', 1] } },
      ]))
      expect(own(t.inbox.events('Next')[0]!.properties)).toEqual({ tags: ['a', 'b', 'c', 1], roles: [], id: 'u1', mp_name_tag: 'u1' })
    },
  },
  {
    name: 'revenue is appended to $transactions and stays on the event',
    async run(t) {
      const url = t.page(
        '/revenue.html',
        t.analyticsPage(unbatched, `
          analytics.identify('u1')
          analytics.track('Upgraded', { revenue: 9.99 })
          analytics.track('Order Completed', { total: '$10.50', currency: 'USD' })
          analytics.track('Done')
        `),
      )
      await t.open(url)
      await t.inbox.until((i) => i.events('Done').length === 1 && i.engage().filter((b) => b.$append).length === 2)
      const appends = t.inbox.engage().filter((b) => b.$append)
      expect(bag(appends.map((b) => [b.$distinct_id, b.$append.$transactions.$amount]))).toEqual([['u1', 10.5], ['u1', 9.99]])
      for (const b of appends) expect(b.$append).toEqual({ $transactions: { $amount: expect.any(Number), $time: expect.stringMatching(ISO) } })
      expect(own(t.inbox.events('Upgraded')[0]!.properties)).toEqual({ revenue: 9.99, id: 'u1', mp_name_tag: 'u1' })
      expect(own(t.inbox.events('Order Completed')[0]!.properties)).toEqual({ total: '$10.50', currency: 'USD', id: 'u1', mp_name_tag: 'u1' })
    },
  },
  {
    name: 'group writes $set_once and $set on the group profile for each identifier trait, and the membership on later events',
    async run(t) {
      const url = t.page(
        '/group.html',
        t.analyticsPage({ ...unbatched, groupIdentifierTraits: ['company_id', 'team_id'], groupTraitsToSetOnce: ['founded'] }, `
          analytics.identify('u1')
          analytics.group('acme', { company_id: 'acme', team_id: 42, name: 'Acme', founded: new Date(Date.UTC(1999, 0, 1)) })
          analytics.track('After Group')
        `),
      )
      await t.open(url)
      await t.inbox.until((i) => i.events('After Group').length === 1 && i.groups().length === 4)
      const set = { company_id: 'acme', team_id: 42, name: 'Acme' }
      expect(bag(t.inbox.groups())).toEqual(bag([
        { $token: t.token, $group_key: 'company_id', $group_id: 'acme', $set_once: { founded: '1999-01-01T00:00:00.000Z' } },
        { $token: t.token, $group_key: 'company_id', $group_id: 'acme', $set: set },
        { $token: t.token, $group_key: 'team_id', $group_id: '42', $set_once: { founded: '1999-01-01T00:00:00.000Z' } },
        { $token: t.token, $group_key: 'team_id', $group_id: '42', $set: set },
      ]))
      expect(own(t.inbox.events('After Group')[0]!.properties)).toEqual({ id: 'u1', mp_name_tag: 'u1', company_id: ['acme'], team_id: ['42'] })
    },
  },
  {
    name: 'alias sends $create_alias from the current distinct id, and never to itself',
    async run(t) {
      const url = t.page(
        '/alias.html',
        t.analyticsPage(unbatched, `
          analytics.identify('u1')
          analytics.alias('u1')
          analytics.alias('u1-new')
          analytics.track('Done')
        `),
      )
      await t.open(url)
      // mixpanel-browser identifies as the alias once $create_alias is answered: a second $identify.
      await t.inbox.until((i) => i.events('Done').length === 1 && i.events('$identify').length === 2)
      expect(t.inbox.events('$create_alias').map((e) => [e.properties.alias, e.properties.distinct_id])).toEqual([['u1-new', 'u1']])
      expect(bag(t.inbox.events().map((e) => [e.event, e.properties.distinct_id]))).toEqual(bag([
        ['$identify', 'u1'],
        ['$create_alias', 'u1'],
        ['Done', 'u1'],
        ['$identify', 'u1-new'],
      ]))
    },
  },
  {
    name: 'reset gives a new $device_id and clears the user, the super properties and the cookie',
    async run(t) {
      const url = t.page(
        '/reset.html',
        t.analyticsPage(unbatched, `
          analytics.identify('u1', { plan: 'pro' })
          analytics.track('Before')
          analytics.reset()
          analytics.track('After')
        `),
      )
      const tab = await t.open(url)
      await t.inbox.until((i) => i.events('After').length === 1)
      const before = t.inbox.events('Before')[0]!.properties
      const after = t.inbox.events('After')[0]!.properties
      expect(before).toMatchObject({ distinct_id: 'u1', $user_id: 'u1', plan: 'pro' })
      expect(own(after)).toEqual({})
      expect(after).not.toHaveProperty('$user_id')
      expect(after.$device_id).not.toBe(before.$device_id)
      expect(after.distinct_id).toBe(`$device:${after.$device_id}`)
      expect(await tab.evaluate('return analytics.user().id()')).toBeNull()
      const [cookie] = await mixpanelCookies(tab)
      expect(cookieJson(cookie)).toMatchObject({ distinct_id: after.distinct_id, $device_id: after.$device_id })
      expect(cookieJson(cookie)).not.toHaveProperty('plan')
    },
  },
  {
    name: 'with cookie persistence the user and super properties survive a reload',
    async run(t) {
      const url = t.page('/cookie-reload.html', t.analyticsPage(unbatched, `analytics.track('Visit')`))
      const tab = await visit(t, url)
      const deviceId = t.inbox.events('Visit')[0]!.properties.$device_id
      await tab.evaluate(`await analytics.identify('u1', { plan: 'pro' })`)
      const cookies = await mixpanelCookies(tab)
      // crossSubdomainCookie (the default): the cookie is for the parent domain of <scenario>.localhost.
      expect(cookies.map((c) => [c.name, c.domain, c.secure])).toEqual([[`mp_${t.token}_mixpanel`, `.${t.host}`, false]])
      expect(cookieJson(cookies[0])).toMatchObject({ distinct_id: 'u1', $device_id: deviceId, $user_id: 'u1', plan: 'pro', mp_name_tag: 'u1' })
      expect(await mixpanelStorage(tab)).toEqual({})

      await tab.reload()
      await t.inbox.until((i) => i.events('Visit').length === 2)
      const again = t.inbox.events('Visit')[1]!.properties
      expect(again).toMatchObject({ distinct_id: 'u1', $device_id: deviceId, $user_id: 'u1' })
      expect(own(again)).toEqual({ plan: 'pro', id: 'u1', mp_name_tag: 'u1' })
    },
  },
  {
    name: "with persistence 'localStorage' the state survives a reload and no cookie is written",
    async run(t) {
      const url = t.page('/local-reload.html', t.analyticsPage({ ...unbatched, persistence: 'localStorage' }, `analytics.track('Visit')`))
      const tab = await visit(t, url)
      const deviceId = t.inbox.events('Visit')[0]!.properties.$device_id
      await tab.evaluate(`await analytics.identify('u1', { plan: 'pro' })`)
      expect(await mixpanelCookies(tab)).toEqual([])
      const stored = await mixpanelStorage(tab)
      expect(Object.keys(stored)).toEqual([`mp_${t.token}_mixpanel`])
      expect(JSON.parse(stored[`mp_${t.token}_mixpanel`]!)).toMatchObject({ distinct_id: 'u1', $device_id: deviceId, plan: 'pro' })

      await tab.reload()
      await t.inbox.until((i) => i.events('Visit').length === 2)
      expect(t.inbox.events('Visit')[1]!.properties).toMatchObject({ distinct_id: 'u1', $device_id: deviceId, plan: 'pro' })
    },
  },
  {
    name: 'optOutByDefault writes no cookie and sends nothing before optIn, then tracks normally',
    async run(t) {
      const url = t.page(
        '/opt-out.html',
        t.analyticsPage({ ...unbatched, optOutByDefault: true }, `
          window.settled = Promise.all([analytics.page(), analytics.identify('u0', { plan: 'free' }), analytics.track('Before Consent')]).then(() => 'settled')
        `),
      )
      const tab = await t.open(url)
      expect(await tab.evaluate('return window.settled')).toBe('settled')
      // A request that would leave has every chance to, before looking.
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(t.inbox.raw()).toEqual([])
      expect(await mixpanelCookies(tab)).toEqual([])
      // The only thing stored is mixpanel-browser's record of the opt-out itself.
      expect(await mixpanelStorage(tab)).toEqual({ [`__mp_opt_in_out_${t.token}`]: '0' })

      await tab.evaluate(`
        await analytics.optIn()
        await analytics.identify('u1', { plan: 'pro' })
        await analytics.track('After Consent')
      `)
      await t.inbox.until((i) => i.events('After Consent').length === 1 && i.engage().some((b) => b.$set?.plan))
      expect(t.inbox.events().map((e) => e.event)).toEqual(['$opt_in', '$identify', 'After Consent'])
      expect(t.inbox.events('After Consent')[0]!.properties).toMatchObject({ distinct_id: 'u1', plan: 'pro' })
      expect((await mixpanelCookies(tab)).map((c) => c.name)).toEqual([`mp_${t.token}_mixpanel`])
    },
  },
  {
    name: 'crossSubdomainCookie shares the visitor between app.<site>.localhost and www.<site>.localhost',
    async run(t) {
      const html = t.analyticsPage(unbatched, `analytics.track('Visit')`)
      const tab = await visit(t, t.page('/cross.html', html, `app.${t.host}`))
      const cookies = await mixpanelCookies(tab)
      expect(cookies.map((c) => [c.name, c.domain])).toEqual([[`mp_${t.token}_mixpanel`, `.${t.host}`]])
      await tab.navigate(t.page('/cross.html', html, `www.${t.host}`))
      await t.inbox.until((i) => i.events('Visit').length === 2)
      const [app, www] = t.inbox.events('Visit').map((e) => e.properties)
      expect(www!.$device_id).toBe(app!.$device_id)
      expect(www!.distinct_id).toBe(app!.distinct_id)
    },
  },
  {
    name: 'crossSubdomainCookie false keeps the cookie on the host: another subdomain is a new visitor',
    async run(t) {
      const html = t.analyticsPage({ ...unbatched, crossSubdomainCookie: false }, `analytics.track('Visit')`)
      const tab = await visit(t, t.page('/host-only.html', html, `app.${t.host}`))
      const cookies = await mixpanelCookies(tab)
      // A host-only cookie: every engine reports its domain as the bare host (no leading dot).
      expect(cookies.map((c) => [c.name, c.domain])).toEqual([[`mp_${t.token}_mixpanel`, `app.${t.host}`]])
      await tab.navigate(t.page('/host-only.html', html, `www.${t.host}`))
      await t.inbox.until((i) => i.events('Visit').length === 2)
      const [app, www] = t.inbox.events('Visit').map((e) => e.properties)
      expect(www!.$device_id).not.toBe(app!.$device_id)
    },
  },
  {
    name: 'cookieName names the cookie mp_<cookieName>',
    async run(t) {
      const name = `shop_${t.engine}`
      const tab = await t.open(t.page('/cookie-name.html', t.analyticsPage({ ...unbatched, cookieName: name }, `analytics.identify('u1'); analytics.track('Visit')`)))
      await t.inbox.until((i) => i.events('Visit').length === 1)
      const cookies = await mixpanelCookies(tab)
      expect(cookies.map((c) => c.name)).toEqual([`mp_${name}`])
      expect(cookieJson(cookies[0]).distinct_id).toBe('u1')
    },
  },
  {
    name: 'secureCookie on http://<site>.localhost: a Secure cookie in Chromium and Firefox, none in WebKit',
    async run(t) {
      const url = t.page('/secure.html', t.analyticsPage({ ...unbatched, secureCookie: true }, `analytics.track('Visit')`))
      const tab = await visit(t, url)
      await tab.evaluate(`await analytics.identify('u1', { plan: 'pro' })`)
      // Every engine calls http://*.localhost a secure context...
      expect(await tab.evaluate('return isSecureContext')).toBe(true)
      const cookies = await mixpanelCookies(tab)
      await tab.reload()
      await t.inbox.until((i) => i.events('Visit').length === 2)
      const [first, second] = t.inbox.events('Visit').map((e) => e.properties)
      if (t.engine === 'webkit') {
        // ...but WebKit refuses a Secure cookie over http: nothing is stored, so
        // each page load is a new device and the user is forgotten
        // (docs/browsers.md). Events still leave, with that page's identity.
        expect(cookies).toEqual([])
        expect(second!.$device_id).not.toBe(first!.$device_id)
        expect(second!.distinct_id).toBe(`$device:${second!.$device_id}`)
        expect(own(second)).toEqual({})
      } else {
        expect(cookies.map((c) => [c.name, c.domain, c.secure])).toEqual([[`mp_${t.token}_mixpanel`, `.${t.host}`, true]])
        expect(second).toMatchObject({ distinct_id: 'u1', $device_id: first!.$device_id })
        expect(own(second)).toEqual({ plan: 'pro', id: 'u1', mp_name_tag: 'u1' })
      }
    },
  },
  {
    name: 'secureCookie on https: a Secure cookie that keeps the visitor across a reload in every engine',
    async run(t) {
      // An https apiHost: WebKit blocks an https page's requests to http://127.0.0.1 (docs/browsers.md).
      const settings = { ...unbatched, secureCookie: true, apiHost: t.secureApiHost() }
      const url = t.securePage('/secure-https.html', t.analyticsPage(settings, `analytics.track('Visit')`))
      const tab = await visit(t, url)
      await tab.evaluate(`await analytics.identify('u1', { plan: 'pro' })`)
      const cookies = await mixpanelCookies(tab)
      expect(cookies.map((c) => [c.name, c.domain, c.secure])).toEqual([[`mp_${t.token}_mixpanel`, `.${t.host}`, true]])
      await tab.reload()
      await t.inbox.until((i) => i.events('Visit').length === 2)
      const [first, second] = t.inbox.events('Visit').map((e) => e.properties)
      expect(second).toMatchObject({ distinct_id: 'u1', $device_id: first!.$device_id })
      expect(own(second)).toEqual({ plan: 'pro', id: 'u1', mp_name_tag: 'u1' })
    },
  },
]
