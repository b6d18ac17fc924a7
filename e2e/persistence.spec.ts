import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { BrowserContext, Cookie, Page } from '@playwright/test'
import { analyticsPage, expect, own, test } from './fixtures'

// Where mixpanel-browser keeps its state, observed on the real cookie jar and
// storage: cookie options, localStorage, none, and reset() (SPEC §2, §8).

const TOKEN = 'persist-token'
const base = { token: TOKEN, mixpanelConfig: { batch_requests: false } }
const IIFE = fileURLToPath(new URL('../dist/mixpanel-device-mode.iife.js', import.meta.url))

/** Serves `html` (and the IIFE) on an https origin, so the page gets real cookies with a domain and Secure (FACTS.md). */
async function serveHttps(context: BrowserContext, origin: string, html: string): Promise<void> {
  const iife = await readFile(IIFE)
  await context.route(`${origin}/**`, (route) =>
    new URL(route.request().url()).pathname === '/dist/mixpanel-device-mode.iife.js'
      ? route.fulfill({ body: iife, contentType: 'text/javascript' })
      : route.fulfill({ body: html, contentType: 'text/html' }),
  )
}

/** The decoded JSON value of a Mixpanel cookie. */
const cookieJson = (cookie: Cookie | undefined): Record<string, any> => JSON.parse(decodeURIComponent(cookie!.value))

const mixpanelCookies = async (context: BrowserContext): Promise<Cookie[]> => (await context.cookies()).filter((c) => c.name.startsWith('mp_'))

/** localStorage keys and values of the page's origin that belong to mixpanel-browser. */
const mixpanelStorage = (page: Page): Promise<Record<string, string>> =>
  page.evaluate(() => {
    const out: Record<string, string> = {}
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i)!
      if (key.startsWith('mp_') || key.startsWith('__mp')) out[key] = localStorage.getItem(key)!
    }
    return out
  })

test('with cookie persistence (the default) the distinct id and super properties survive a reload', async ({ page, context, site, inbox }) => {
  const url = site.page('/persist/reload.html', analyticsPage(base, `analytics.track('Visit')`))
  await page.goto(url)
  await inbox.until((i) => i.events('Visit').length === 1)
  const deviceId = inbox.events('Visit')[0]!.properties.$device_id
  await page.evaluate(() => (window as any).analytics.identify('u1', { plan: 'pro' }))

  const cookies = await mixpanelCookies(context)
  expect(cookies.map((c) => [c.name, c.domain, c.secure])).toEqual([[`mp_${TOKEN}_mixpanel`, '127.0.0.1', false]])
  expect(cookieJson(cookies[0])).toMatchObject({ distinct_id: 'u1', $device_id: deviceId, $user_id: 'u1', plan: 'pro', mp_name_tag: 'u1' })

  await page.reload()
  await inbox.until((i) => i.events('Visit').length === 2)
  const again = inbox.events('Visit')[1]!.properties
  expect(again).toMatchObject({ distinct_id: 'u1', $device_id: deviceId, $user_id: 'u1' })
  expect(own(again)).toEqual({ plan: 'pro', id: 'u1', mp_name_tag: 'u1' })
})

test('crossSubdomainCookie (the default) writes the cookie for the parent domain, not Secure', async ({ page, context, inbox }) => {
  await serveHttps(context, 'https://app.example.test', analyticsPage(base, `analytics.track('Visit')`))
  await page.goto('https://app.example.test/')
  await inbox.until((i) => i.events('Visit').length === 1)
  const cookies = await mixpanelCookies(context)
  expect(cookies.map((c) => [c.name, c.domain, c.secure])).toEqual([[`mp_${TOKEN}_mixpanel`, '.example.test', false]])
  expect(cookieJson(cookies[0]).distinct_id).toBe(inbox.events('Visit')[0]!.properties.distinct_id)
})

test('crossSubdomainCookie false keeps the cookie on the host, and secureCookie marks it Secure', async ({ page, context, inbox }) => {
  await serveHttps(context, 'https://app.example.test', analyticsPage({ ...base, crossSubdomainCookie: false, secureCookie: true }, `analytics.track('Visit')`))
  await page.goto('https://app.example.test/')
  await inbox.until((i) => i.events('Visit').length === 1)
  const cookies = await mixpanelCookies(context)
  expect(cookies.map((c) => [c.name, c.domain, c.secure])).toEqual([[`mp_${TOKEN}_mixpanel`, 'app.example.test', true]])
})

test('cookieName names the cookie mp_<cookieName>', async ({ page, context, site, inbox }) => {
  const url = site.page('/persist/cookie-name.html', analyticsPage({ ...base, cookieName: 'shop' }, `analytics.identify('u1'); analytics.track('Visit')`))
  await page.goto(url)
  await inbox.until((i) => i.events('Visit').length === 1)
  const cookies = await mixpanelCookies(context)
  expect(cookies.map((c) => c.name)).toEqual(['mp_shop'])
  expect(cookieJson(cookies[0]).distinct_id).toBe('u1')
})

test("persistence 'localStorage' keeps the state in localStorage, writes no cookie, and survives a reload", async ({ page, context, site, inbox }) => {
  const url = site.page('/persist/local.html', analyticsPage({ ...base, persistence: 'localStorage' }, `analytics.track('Visit')`))
  await page.goto(url)
  await inbox.until((i) => i.events('Visit').length === 1)
  await page.evaluate(() => (window as any).analytics.identify('u1', { plan: 'pro' }))

  expect(await mixpanelCookies(context)).toEqual([])
  // Once the delivery queue is empty (its records and lease are gone), only mixpanel-browser's state is left.
  await expect.poll(async () => Object.keys(await mixpanelStorage(page))).toEqual([`mp_${TOKEN}_mixpanel`])
  const stored = await mixpanelStorage(page)
  expect(JSON.parse(stored[`mp_${TOKEN}_mixpanel`]!)).toMatchObject({ distinct_id: 'u1', plan: 'pro' })

  await page.reload()
  await inbox.until((i) => i.events('Visit').length === 2)
  expect(inbox.events('Visit')[1]!.properties).toMatchObject({ distinct_id: 'u1', plan: 'pro' })
})

test("persistence 'none' stores nothing: no cookie, no localStorage, a reload is a new visitor, and events are still sent", async ({ page, context, site, inbox }) => {
  // No mixpanelConfig here: 'none' must turn the localStorage batch queue off by itself.
  const url = site.page('/persist/none.html', analyticsPage({ token: TOKEN, persistence: 'none' }, `analytics.identify({ plan: 'pro' }); analytics.track('Visit')`))
  await page.goto(url)
  await inbox.until((i) => i.events('Visit').length === 1)
  expect(await mixpanelCookies(context)).toEqual([])
  expect(await mixpanelStorage(page)).toEqual({})

  await page.reload()
  await inbox.until((i) => i.events('Visit').length === 2)
  const [first, second] = inbox.events('Visit')
  expect(own(first!.properties)).toEqual({ plan: 'pro' })
  expect(second!.properties.distinct_id).not.toBe(first!.properties.distinct_id)
  expect(second!.properties.$device_id).not.toBe(first!.properties.$device_id)
  // Sent by the delivery queue, kept in memory only.
  expect(inbox.of('track').every((r) => r.transport === 'fetch')).toBe(true)
})

test('reset() gives a new device id and clears the user and the super properties', async ({ page, context, site, inbox }) => {
  const url = site.page(
    '/persist/reset.html',
    analyticsPage(base, `
      analytics.identify('u1', { plan: 'pro' })
      analytics.track('Before')
      analytics.reset()
      analytics.track('After')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('After').length === 1)
  const before = inbox.events('Before')[0]!.properties
  const after = inbox.events('After')[0]!.properties
  expect(before).toMatchObject({ distinct_id: 'u1', $user_id: 'u1', plan: 'pro' })
  expect(own(after)).toEqual({})
  expect(after).not.toHaveProperty('$user_id')
  expect(after.$device_id).not.toBe(before.$device_id)
  expect(after.distinct_id).toBe(`$device:${after.$device_id}`)
  expect(await page.evaluate(() => (window as any).analytics.user().id())).toBeNull()
  const [cookie] = await mixpanelCookies(context)
  expect(cookieJson(cookie)).toMatchObject({ distinct_id: after.distinct_id, $device_id: after.$device_id })
  expect(cookieJson(cookie)).not.toHaveProperty('plan')
})
