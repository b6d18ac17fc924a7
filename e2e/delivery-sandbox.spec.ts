import { analyticsPage, expect, own, ownSet, test, watch } from './fixtures'

// Storage faults degrade persistence, never delivery (docs/delivery.md,
// "Storage faults"): in a frame sandboxed without `allow-same-origin`,
// reading `document.cookie` or `localStorage` throws a SecurityError.
// mixpanel-browser then keeps its state in memory and the delivery queue
// keeps its records in memory: everything is still sent.

const TOKEN = 'sandbox-token'
const PREFIX = '[mixpanel-device-mode]'

test('in a sandboxed iframe (cookies and localStorage throw) identify, page and track are delivered, and debug says what persistence is in force', async ({ page, site, inbox }) => {
  const seen = watch(page)
  const frame = site.page(
    '/sandbox/frame.html',
    analyticsPage({ token: TOKEN, debug: true }, `
      window.outcome = (async () => {
        const storage = []
        try { document.cookie } catch (error) { storage.push('cookie: ' + error.name) }
        try { localStorage } catch (error) { storage.push('localStorage: ' + error.name) }
        await analytics.identify('u1', { plan: 'pro' })
        await analytics.page('Home')
        await analytics.track('Bought', { n: 1 })
        // A state read back from memory: the user stays identified between calls.
        await analytics.track('After', { user: analytics.user().id() })
        return storage
      })()
    `),
  )
  await page.goto(site.page('/sandbox/host.html', `<!doctype html><html><body><iframe id="f" sandbox="allow-scripts" src="${frame}"></iframe></body></html>`))
  const child = page.frames().find((f) => f.url() === frame)!
  expect(await child.evaluate(() => (window as any).outcome)).toEqual(['cookie: SecurityError', 'localStorage: SecurityError'])
  await inbox.until((i) => i.events('After').length === 1 && i.engage().some((b) => b.$set?.plan))
  expect(inbox.events().map((e) => [e.event, e.properties.distinct_id, own(e.properties)])).toEqual([
    ['$identify', 'u1', { $anon_distinct_id: expect.any(String) }],
    ['Loaded a Page', 'u1', expect.objectContaining({ name: 'Home', plan: 'pro', id: 'u1' })],
    ['Bought', 'u1', { n: 1, plan: 'pro', id: 'u1', mp_name_tag: 'u1' }],
    ['After', 'u1', { user: 'u1', plan: 'pro', id: 'u1', mp_name_tag: 'u1' }],
  ])
  // mixpanel-browser's $set_once of the initial referrer (the host page), then the traits.
  expect(inbox.engage().map((b) => [b.$distinct_id, b.$set_once?.$initial_referrer, ownSet(b.$set)])).toEqual([
    ['u1', `${site.origin}/sandbox/host.html`, {}],
    ['u1', undefined, { plan: 'pro', id: 'u1' }],
  ])
  expect(seen.errors).toEqual([])
  expect(seen.console.filter((line) => line.includes('storage failing'))).toEqual([
    `log: ${PREFIX} storage failing: \`cookie\` asked, mixpanel-browser uses memory, the delivery queue memory`,
  ])
})

test('in a sandboxed iframe the opt-out state is kept in memory: nothing is sent while opted out, and again after opting in', async ({ page, site, inbox }) => {
  const frame = site.page(
    '/sandbox/opt-out.html',
    analyticsPage({ token: TOKEN }, `
      window.outcome = (async () => {
        await analytics.track('Before')
        await analytics.optOut()
        await analytics.track('Hidden')
        await analytics.optIn()
        await analytics.track('Back')
        return 'done'
      })()
    `),
  )
  await page.goto(site.page('/sandbox/opt-out-host.html', `<!doctype html><html><body><iframe sandbox="allow-scripts" src="${frame}"></iframe></body></html>`))
  expect(await page.frames().find((f) => f.url() === frame)!.evaluate(() => (window as any).outcome)).toBe('done')
  await inbox.until((i) => i.events('Back').length === 1)
  expect(inbox.events().map((e) => e.event)).toEqual(['Before', '$opt_in', 'Back'])
})
