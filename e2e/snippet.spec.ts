import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Page, Route } from '@playwright/test'
import { expect, test } from './fixtures'

// The optional inline loader (src/snippet → dist/snippet.min.js), pasted into
// pages as documented, loading the script-tag build from the `site` server.
// Read when a test runs, so a missing build fails these tests, not the whole run's collection.
const snippet = (): string => readFileSync(fileURLToPath(new URL('../dist/snippet.min.js', import.meta.url)), 'utf8')
const IIFE = '/dist/mixpanel-device-mode.iife.js'

function snippetPage(script: string, nonce = ''): string {
  const attr = nonce ? ` nonce="${nonce}"` : ''
  return `<!doctype html><html><head><meta charset="utf-8"><title>Snippet Page</title>
<script${attr}>${snippet()}
${script}</script></head>
<body><h1>Rendered before the library</h1></body></html>`
}

/** Holds the script-tag build's response until `release()`; `requested` tells whether it was asked for. */
async function holdLibrary(page: Page): Promise<{ release(): void; requested(): boolean }> {
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  let requested = false
  await page.route(`**${IIFE}`, async (route: Route) => {
    requested = true
    await gate
    await route.continue()
  })
  return { release, requested: () => requested }
}

const CALLS = `
  window.log = []
  mpdm.load('${IIFE}', {
    token: 'snippet-token',
    groupIdentifierTraits: ['company_id'],
    mixpanelConfig: { batch_requests: false },
  })
  mpdm.page('Home').then(() => log.push('page resolved'))
  mpdm.identify('user-1', { email: 'ada@example.com', plan: 'pro' }, () => log.push('identify callback'))
  mpdm.track('First', { n: 1 }).then(() => log.push('first resolved'))
  mpdm.group('acme', { company_id: 'acme', tier: 'gold' })
  mpdm.track('Second', { n: 2 }, {}, () => log.push('second callback'))
`

test('calls made before the library loads reach Mixpanel once each, in call order', async ({ page, site, inbox }) => {
  const library = await holdLibrary(page)
  await page.goto(site.page('/snippet/order.html', snippetPage(CALLS)), { waitUntil: 'domcontentloaded' })
  await expect.poll(library.requested).toBe(true)
  // Nothing has run yet: the calls wait in the stub's queue, their promises pending.
  await page.waitForTimeout(300)
  expect(await page.evaluate(() => [typeof (window as any).MixpanelDeviceMode, (window as any).log])).toEqual(['undefined', []])
  expect(inbox.requests).toHaveLength(0)

  library.release()
  await inbox.until((i) => i.events('Second').length === 1 && i.groups().length === 1 && i.engage().length >= 1)
  await page.evaluate(() => (window as any).mpdm.ready())
  await page.waitForTimeout(300) // a duplicate replay would show up by now

  const events = inbox.events()
  expect(events.map((e) => e.event)).toEqual(['Loaded a Page', '$identify', 'First', 'Second'])
  expect(new Set(events.map((e) => e.properties.$insert_id)).size).toBe(4)
  const [loaded, identified, first, second] = events
  // The page call ran before identify: still the anonymous device id.
  expect(loaded!.properties.distinct_id).toMatch(/^\$device:/)
  expect(loaded!.properties).toMatchObject({ token: 'snippet-token', name: 'Home', path: '/snippet/order.html', title: 'Snippet Page' })
  expect(identified!.properties).toMatchObject({ distinct_id: 'user-1', $anon_distinct_id: loaded!.properties.distinct_id })
  // First came after identify (its traits are super properties) and before group.
  expect(first!.properties).toMatchObject({ n: 1, distinct_id: 'user-1', email: 'ada@example.com', plan: 'pro' })
  expect(first!.properties).not.toHaveProperty('company_id')
  // Second came after group: set_group registered the membership.
  expect(second!.properties).toMatchObject({ n: 2, distinct_id: 'user-1', company_id: ['acme'] })
  expect(inbox.groups()).toEqual([
    expect.objectContaining({ $token: 'snippet-token', $group_key: 'company_id', $group_id: 'acme', $set: { company_id: 'acme', tier: 'gold' } }),
  ])
  expect(inbox.engage().find((b) => b.$set?.$email)).toMatchObject({
    $distinct_id: 'user-1',
    $set: { $email: 'ada@example.com', plan: 'pro', id: 'user-1' },
  })
  // Every queued promise settled and every callback ran, once.
  const log: string[] = await page.evaluate(() => (window as any).log)
  expect(log.slice().sort()).toEqual(['first resolved', 'identify callback', 'page resolved', 'second callback'])
})

test('the page renders without waiting for the library', async ({ page, site, inbox }) => {
  const library = await holdLibrary(page)
  await page.goto(site.page('/snippet/render.html', snippetPage(CALLS)), { waitUntil: 'domcontentloaded' })
  await expect(page.locator('h1')).toBeVisible()
  await expect
    .poll(() => page.evaluate(() => performance.getEntriesByName('first-contentful-paint').length))
    .toBe(1)
  // Painted while the library's response is still held back.
  expect(library.requested()).toBe(true)
  expect(await page.evaluate(() => typeof (window as any).MixpanelDeviceMode)).toBe('undefined')
  expect(inbox.requests).toHaveLength(0)

  library.release()
  await inbox.until((i) => i.events('Second').length === 1)
  const paint = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]!.startTime)
  const executed = await page.evaluate(
    () => performance.getEntriesByType('resource').find((r) => r.name.endsWith('/dist/mixpanel-device-mode.iife.js'))!.responseEnd,
  )
  expect(paint).toBeLessThan(executed)
})

test('after loading, mpdm forwards calls and exposes user() and mixpanel', async ({ page, site, inbox }) => {
  await page.goto(site.page('/snippet/after.html', snippetPage(CALLS)))
  await page.evaluate(() => (window as any).mpdm.ready())
  const state = await page.evaluate(async () => {
    const mpdm = (window as any).mpdm
    const before = (window as any).log.length
    await mpdm.track('Later', { n: 3 })
    return {
      userId: mpdm.user().id(),
      traits: mpdm.user().traits(),
      distinctId: mpdm.mixpanel.get_distinct_id(),
      library: typeof (window as any).MixpanelDeviceMode.createAnalytics,
      before,
    }
  })
  expect(state).toEqual({
    userId: 'user-1',
    traits: { email: 'ada@example.com', plan: 'pro' },
    distinctId: 'user-1',
    library: 'function',
    before: expect.any(Number),
  })
  await inbox.until((i) => i.events('Later').length === 1)
  expect(inbox.events().map((e) => e.event)).toEqual(['Loaded a Page', '$identify', 'First', 'Second', 'Later'])
  expect(inbox.events('Later')[0]!.properties).toMatchObject({ n: 3, distinct_id: 'user-1', company_id: ['acme'] })
})

test('when the library cannot load, queued and later calls resolve, callbacks run, nothing throws', async ({ page, site, inbox }) => {
  const errors: string[] = []
  const consoleErrors: string[] = []
  page.on('pageerror', (error) => errors.push(error.message))
  page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()))
  await page.route(`**${IIFE}`, (route) => route.abort('blockedbyclient'))
  await page.goto(site.page('/snippet/blocked.html', snippetPage(CALLS)))
  await expect.poll(() => page.evaluate(() => (window as any).log.length)).toBe(4)
  const later = await page.evaluate(async () => {
    const log: string[] = []
    await (window as any).mpdm.track('After failure', {}, () => log.push('callback'))
    await (window as any).mpdm.ready(() => log.push('ready'))
    return log
  })
  expect(later).toEqual(['callback', 'ready'])
  expect(errors).toEqual([])
  expect(consoleErrors.some((text) => text.includes('[mixpanel-device-mode] not loaded:') && text.includes(IIFE))).toBe(true)
  expect(inbox.requests).toHaveLength(0)
})

test('a settings error is reported once and the queued calls still resolve', async ({ page, site, inbox }) => {
  const consoleErrors: string[] = []
  page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()))
  await page.goto(
    site.page(
      '/snippet/bad-settings.html',
      snippetPage(`
        window.log = []
        mpdm.load('${IIFE}', { token: 'snippet-token', people: 'yes' })
        mpdm.track('Never', {}, () => log.push('callback')).then(() => log.push('resolved'))
      `),
    ),
  )
  await expect.poll(() => page.evaluate(() => (window as any).log)).toEqual(['callback', 'resolved'])
  expect(consoleErrors.filter((text) => text.includes('[mixpanel-device-mode] not loaded:'))).toHaveLength(1)
  expect(consoleErrors.join('\n')).toContain('setting `people` must be a boolean')
  expect(inbox.requests).toHaveLength(0)
})

test('under a nonce-only CSP the loaded script carries the snippet nonce', async ({ page, site, inbox }) => {
  const violations: string[] = []
  page.on('console', (message) => message.text().includes('Content Security Policy') && violations.push(message.text()))
  const url = `${site.origin}/snippet/csp.html`
  await page.route(url, (route) =>
    route.fulfill({
      status: 200,
      headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "script-src 'nonce-r4nd0m'" },
      body: snippetPage(CALLS, 'r4nd0m'),
    }),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Second').length === 1)
  expect(await page.evaluate(() => (document.querySelector('script[src$="mixpanel-device-mode.iife.js"]') as HTMLScriptElement).nonce)).toBe('r4nd0m')
  expect(violations).toEqual([])
})

// The script-tag build replaces mixpanel-browser's autocapture, feature flags
// and session recorder with inert stand-ins (rollup.config.mjs, README, "What the script-tag build leaves out").
test.describe('script-tag build without autocapture, flags and recorder', () => {
  test('starting mixpanel-browser opens no IndexedDB database', async ({ page, site, inbox }) => {
    await page.goto(
      site.page(
        '/snippet/idb.html',
        `<!doctype html><html><head><script src="${IIFE}"></script></head><body><script>
          window.analytics = MixpanelDeviceMode.createAnalytics({ token: 'idb-token', mixpanelConfig: { batch_requests: false } })
          analytics.track('Started')
        </script></body></html>`,
      ),
    )
    await inbox.until((i) => i.events('Started').length === 1)
    await page.waitForTimeout(500) // mixpanel-browser opens its databases asynchronously after init
    expect(await page.evaluate(async () => (await indexedDB.databases()).map((db) => db.name))).toEqual([])
  })

  test('turning one of them on through mixpanelConfig says so on the console, and tracking still works', async ({ page, site, inbox }) => {
    const errors: string[] = []
    const consoleErrors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()))
    await page.goto(
      site.page(
        '/snippet/features.html',
        `<!doctype html><html><head><script src="${IIFE}"></script></head><body><script>
          window.analytics = MixpanelDeviceMode.createAnalytics({
            token: 'features-token',
            mixpanelConfig: { batch_requests: false, autocapture: true, flags: true, record_sessions_percent: 100 },
          })
          analytics.track('Still tracked', { n: 1 })
        </script></body></html>`,
      ),
    )
    await inbox.until((i) => i.events('Still tracked').length === 1)
    expect(inbox.events().map((e) => e.event)).toEqual(['Still tracked'])
    expect(inbox.events('Still tracked')[0]!.properties).toMatchObject({ token: 'features-token', n: 1 })
    const missing = consoleErrors.filter((text) => text.startsWith("[mixpanel-device-mode] the script-tag build leaves out mixpanel-browser's"))
    expect(missing.map((text) => text.replace(/^.*leaves out mixpanel-browser's (.*): use .*$/, '$1')).sort()).toEqual([
      'autocapture and track_pageview',
      'feature flags',
      'session recording',
    ])
    expect(errors).toEqual([])
  })
})
