import { analyticsPage, expect, iifePage, own, test, watch } from './fixtures'

// Delivery: order and exactly-once for early calls, the page's own
// mixpanel-browser, and failures that must never reach the page. The delivery
// queue itself (leaving the page, retries): delivery-queue.spec.ts and
// docs/delivery.md.

const TOKEN = 'delivery-token'
const base = { token: TOKEN, mixpanelConfig: { batch_requests: false } }
const UMD = '<script src="/node_modules/mixpanel-browser/dist/mixpanel.umd.js"></script>'
const PREFIX = '[mixpanel-device-mode]'

test('calls issued synchronously right after createAnalytics are delivered once each, in order, and resolve in order', async ({ page, site, inbox }) => {
  const url = site.page(
    '/delivery/early.html',
    analyticsPage(base, `
      window.callbacks = []
      window.resolutions = []
      const callback = (label) => () => callbacks.push(label)
      const resolved = (label) => () => resolutions.push(label)
      window.all = Promise.all([
        analytics.page(callback('page')).then(resolved('page')),
        analytics.identify('u1', { plan: 'pro' }, callback('identify')).then(resolved('identify')),
        analytics.track('A', { n: 1 }, callback('A')).then(resolved('A')),
        analytics.track('B', { n: 2 }, {}, callback('B')).then(resolved('B')),
        analytics.ready(callback('ready')).then(resolved('ready')),
      ])
    `),
  )
  await page.goto(url)
  await page.evaluate(() => (window as any).all)
  expect(await page.evaluate(() => [(window as any).callbacks, (window as any).resolutions])).toEqual([
    ['page', 'identify', 'A', 'B', 'ready'],
    ['page', 'identify', 'A', 'B', 'ready'],
  ])
  await inbox.until((i) => i.events('B').length === 1 && i.engage().some((b) => b.$set?.plan))
  await page.evaluate(() => (window as any).analytics.track('Done'))
  await inbox.until((i) => i.events('Done').length === 1)
  expect(inbox.events().map((e) => e.event)).toEqual(['Loaded a Page', '$identify', 'A', 'B', 'Done'])
  expect(inbox.events().map((e) => own(e.properties).n)).toEqual([undefined, undefined, 1, 2, undefined])
  expect(inbox.engage().filter((b) => b.$set?.plan)).toHaveLength(1)
})

test("the page's own mixpanel-browser, not yet initialised, is initialised with the settings and used", async ({ page, site, inbox }) => {
  const url = site.page(
    '/delivery/own-uninitialised.html',
    iifePage(
      `
      window.analytics = MixpanelDeviceMode.createAnalytics(
        { token: '${TOKEN}', dataResidency: 'eu', mixpanelConfig: { batch_requests: false } },
        { mixpanel: window.mixpanel },
      )
      analytics.identify('u1', { plan: 'pro' })
      analytics.track('A')
    `,
      UMD,
    ),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('A').length === 1)
  expect(await page.evaluate(() => {
    const w = window as any
    return [w.analytics.mixpanel === w.mixpanel, w.mixpanel.__loaded, w.mixpanel.get_distinct_id()]
  })).toEqual([true, true, 'u1'])
  expect(inbox.of('track').map((r) => [r.host, r.body.event, r.body.properties.token])).toEqual([
    ['api-eu.mixpanel.com', '$identify', TOKEN],
    ['api-eu.mixpanel.com', 'A', TOKEN],
  ])
  expect(own(inbox.events('A')[0]!.properties)).toEqual({ plan: 'pro', id: 'u1', mp_name_tag: 'u1' })
})

test("the page's own mixpanel-browser, already initialised, is used as it is", async ({ page, site, inbox }) => {
  const url = site.page(
    '/delivery/own-initialised.html',
    iifePage(
      `
      mixpanel.init('page-token', { api_host: 'https://api-in.mixpanel.com', batch_requests: false })
      window.analytics = MixpanelDeviceMode.createAnalytics({ token: '${TOKEN}', dataResidency: 'eu' }, { mixpanel })
      analytics.track('A', { n: 1 })
    `,
      UMD,
    ),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('A').length === 1)
  expect(inbox.of('track').map((r) => [r.host, r.body.event, r.body.properties.token, own(r.body.properties)])).toEqual([
    ['api-in.mixpanel.com', 'A', 'page-token', { n: 1 }],
  ])
})

test('bad calls never throw into the page, always resolve, and debug explains each one', async ({ page, site, inbox }) => {
  const seen = watch(page)
  const url = site.page(
    '/delivery/bad-calls.html',
    analyticsPage({ ...base, debug: true }, `
      analytics.identify('u1')
      window.outcome = Promise.all([
        analytics.track(),
        analytics.track(''),
        analytics.identify(null, 5),
        analytics.page(12345, {}, 'not options'),
        analytics.screen(null, null, null, null),
        analytics.group('acme', { company_id: 'acme' }),
        analytics.alias(),
        analytics.alias({}),
        analytics.track('Done', {}, () => { throw new Error('callback boom') }),
      ]).then(() => 'resolved', (error) => 'rejected: ' + error)
    `),
  )
  await page.goto(url)
  expect(await page.evaluate(() => (window as any).outcome)).toBe('resolved')
  await inbox.until((i) => i.events('Done').length === 1)
  expect(inbox.events().map((e) => e.event)).toEqual(['$identify', 'Loaded a Page', 'Loaded a Screen', 'Done'])
  expect(inbox.groups()).toEqual([])
  expect(seen.errors).toEqual([])
  const debug = seen.console.filter((line) => line.startsWith(`log: ${PREFIX}`)).map((line) => line.slice(`log: ${PREFIX} `.length))
  expect(debug.filter((line) => line === 'track call ignored: the event name must be a non-empty string')).toHaveLength(2)
  expect(debug).toContain('group call ignored: the setting `groupIdentifierTraits` is empty')
  expect(debug.filter((line) => line === 'alias call ignored: it has no userId')).toHaveLength(2)
  expect(debug.some((line) => line.startsWith('a callback threw'))).toBe(true)
})

test('a mixpanel-browser whose init throws: calls resolve, callbacks run, nothing throws, and the console says why', async ({ page, site, inbox }) => {
  const seen = watch(page)
  const url = site.page(
    '/delivery/init-throws.html',
    iifePage(`
      const broken = { init() { throw new Error('blocked by the page') } }
      window.analytics = MixpanelDeviceMode.createAnalytics({ token: '${TOKEN}', debug: true, groupIdentifierTraits: ['company_id'] }, { mixpanel: broken })
      window.callbacks = []
      window.outcome = Promise.all([
        analytics.page(() => callbacks.push('page')),
        analytics.identify('u1', { plan: 'pro' }, () => callbacks.push('identify')),
        analytics.track('A', {}, () => callbacks.push('track')),
        analytics.group('acme', { company_id: 'acme' }),
        analytics.alias('u2'),
        analytics.reset(),
        analytics.optIn(),
        analytics.optOut(),
        analytics.ready(() => callbacks.push('ready')),
      ]).then(() => ['resolved', callbacks, analytics.mixpanel === undefined, analytics.user().id()])
    `),
  )
  await page.goto(url)
  expect(await page.evaluate(() => (window as any).outcome)).toEqual(['resolved', ['page', 'identify', 'track', 'ready'], true, null])
  expect(seen.errors).toEqual([])
  expect(seen.console.filter((line) => line.startsWith(`warning: ${PREFIX} mixpanel-browser could not start; calls are dropped Error: blocked by the page`))).toHaveLength(1)
  expect(seen.console).toContain(`log: ${PREFIX} track dropped: mixpanel-browser is not running`)
  expect(inbox.requests).toEqual([])
})

test('storage that throws (cookies and localStorage blocked): calls resolve, nothing throws, events are delivered, and debug says what persistence is in force', async ({ page, site, inbox }) => {
  const seen = watch(page)
  const block = `<script>
    const denied = () => { throw new DOMException('The operation is insecure.', 'SecurityError') }
    Object.defineProperty(window, 'localStorage', { get: denied })
    Object.defineProperty(Document.prototype, 'cookie', { get: denied, set: denied })
  </script>`
  const url = site.page(
    '/delivery/storage-throws.html',
    analyticsPage({ token: TOKEN, debug: true }, `
      window.outcome = Promise.all([analytics.page(), analytics.identify('u1'), analytics.track('A')]).then(() => 'resolved')
    `, block),
  )
  await page.goto(url)
  expect(await page.evaluate(() => (window as any).outcome)).toBe('resolved')
  await inbox.until((i) => i.events('A').length === 1)
  expect(inbox.events().map((e) => [e.event, e.properties.distinct_id])).toEqual([['Loaded a Page', expect.stringMatching(/^\$device:/)], ['$identify', 'u1'], ['A', 'u1']])
  expect(seen.errors).toEqual([])
  expect(seen.console).toContain(`log: ${PREFIX} storage failing: \`cookie\` asked, mixpanel-browser uses memory, the delivery queue memory`)
})

test('a page whose localStorage throws still delivers its events (the delivery queue keeps them in memory and sends them)', async ({ page, site, inbox }) => {
  const seen = watch(page)
  const block = `<script>Object.defineProperty(window, 'localStorage', { get() { throw new DOMException('The operation is insecure.', 'SecurityError') } })</script>`
  const url = site.page('/delivery/local-storage-throws.html', analyticsPage({ token: TOKEN }, `analytics.identify('u1', { plan: 'pro' }); analytics.track('A', { n: 1 })`, block))
  await page.goto(url)
  await inbox.until((i) => i.events('A').length === 1)
  expect(own(inbox.events('A')[0]!.properties)).toEqual({ n: 1, plan: 'pro', id: 'u1', mp_name_tag: 'u1' })
  expect(seen.errors).toEqual([])
})

test('with debug off, a page using every call writes nothing to the console and throws nothing', async ({ page, site, inbox }) => {
  const seen = watch(page)
  const url = site.page(
    '/delivery/quiet.html',
    analyticsPage({ ...base, groupIdentifierTraits: ['company_id'], consolidatedPageCalls: false }, `
      analytics.page('Dropped by the naming rules')
      analytics.identify('u1', { email: 'a@b.co', tags: ['x'], length: 3 })
      analytics.track('Bought', { revenue: 5, length: 2, token: 'x', at: new Date() })
      analytics.group('acme', { company_id: 'acme' })
      analytics.group('ignored', { name: 'no key' })
      analytics.alias('u1')
      analytics.screen('Home')
      analytics.track('Done')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1 && i.groups().length === 1)
  expect(inbox.events().map((e) => e.event)).toEqual(['$identify', 'Bought', 'Done'])
  expect(seen).toEqual({ errors: [], console: [] })
})

test('a settings mistake is reported at creation, naming the setting', async ({ page, site }) => {
  const url = site.page(
    '/delivery/settings-error.html',
    iifePage(`
      window.errors = [{ token: 't', peple: true }, { token: 't', people: 'yes' }, { people: true }, { token: 't', dataResidency: 'de' }].map((settings) => {
        try { MixpanelDeviceMode.createAnalytics(settings); return 'created' } catch (error) { return error.name + ': ' + error.message }
      })
    `),
  )
  await page.goto(url)
  expect(await page.evaluate(() => (window as any).errors)).toEqual([
    'SettingsError: mixpanel-device-mode: unknown setting `peple`',
    'SettingsError: mixpanel-device-mode: setting `people` must be a boolean, got the string "yes"',
    'SettingsError: mixpanel-device-mode: setting `token` is required: the Mixpanel project token',
    "SettingsError: mixpanel-device-mode: setting `dataResidency` must be one of 'us', 'eu', 'in', got the string \"de\"",
  ])
})
