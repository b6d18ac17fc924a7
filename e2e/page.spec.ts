import { analyticsPage, expect, own, ownSet, test, watch } from './fixtures'

// page() and screen(): the naming rules, one event per call, the default page
// properties, and the track pipeline the page event runs through (docs/behaviour.md, "Page and screen").

const TOKEN = 'page-token'
const base = { token: TOKEN, mixpanelConfig: { batch_requests: false } }

test('consolidatedPageCalls (the default) sends one Loaded a Page per call with the page properties, name and category', async ({ page, site, inbox }) => {
  const url = site.page(
    '/page/default.html',
    analyticsPage(base, `
      analytics.page()
      analytics.page('Pricing')
      analytics.page('Docs', 'Intro', { section: 'a' })
      analytics.page({ section: 'b' })
      analytics.track('Done')
    `),
  )
  await page.goto(`${url}?q=1#top`)
  await inbox.until((i) => i.events('Done').length === 1)

  const defaults = { path: '/page/default.html', referrer: '', search: '?q=1', title: 'Test Page', url: `${url}?q=1` }
  expect(inbox.events().map((e) => e.event)).toEqual(['Loaded a Page', 'Loaded a Page', 'Loaded a Page', 'Loaded a Page', 'Done'])
  expect(inbox.events('Loaded a Page').map((e) => own(e.properties))).toEqual([
    defaults,
    { ...defaults, name: 'Pricing' },
    { ...defaults, name: 'Intro', category: 'Docs', section: 'a' },
    { ...defaults, section: 'b' },
  ])
  expect(inbox.events('Loaded a Page')[0]!.properties.token).toBe(TOKEN)
})

test('page properties come from the document at call time; the caller and options.context.page win', async ({ page, site, inbox }) => {
  const target = site.page(
    '/page/props.html',
    analyticsPage(base, `
      analytics.page()
      document.title = 'Retitled'
      analytics.page('Checkout')
      analytics.page({ title: 'Custom', url: 'https://shop.example.test/x', referrer: 'https://ads.example.test/' })
      analytics.page('Virtual', {}, { context: { page: { path: '/virtual', search: '?v=1' } } })
      analytics.track('Done')
    `),
  )
  const from = site.page('/page/from.html', `<!doctype html><title>From</title><a id="go" href="/page/props.html?q=2#frag">go</a>`)
  await page.goto(from)
  await page.click('#go')
  await inbox.until((i) => i.events('Done').length === 1)

  const doc = { path: '/page/props.html', referrer: from, search: '?q=2', url: `${target}?q=2` }
  expect(inbox.events('Loaded a Page').map((e) => own(e.properties))).toEqual([
    { ...doc, title: 'Test Page' },
    { ...doc, title: 'Retitled', name: 'Checkout' },
    { ...doc, title: 'Custom', url: 'https://shop.example.test/x', referrer: 'https://ads.example.test/' },
    { ...doc, title: 'Retitled', path: '/virtual', search: '?v=1', name: 'Virtual' },
  ])
})

test('trackAllPages names every page call Loaded a Page and wins over the categorized and named rules', async ({ page, site, inbox }) => {
  const url = site.page(
    '/page/all.html',
    analyticsPage({ ...base, consolidatedPageCalls: false, trackAllPages: true, trackCategorizedPages: true, trackNamedPages: true }, `
      analytics.page('Docs', 'Intro')
      analytics.page('Pricing')
      analytics.page()
      analytics.track('Done')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1)
  expect(inbox.events().map((e) => e.event)).toEqual(['Loaded a Page', 'Loaded a Page', 'Loaded a Page', 'Done'])
  expect(inbox.events().map((e) => [e.properties.name, e.properties.category])).toEqual([
    ['Intro', 'Docs'],
    ['Pricing', undefined],
    [undefined, undefined],
    [undefined, undefined],
  ])
})

test('trackCategorizedPages names Viewed <Category> <Name> Page or Viewed <Category> Page, before trackNamedPages; other calls send nothing', async ({ page, site, inbox }) => {
  const url = site.page(
    '/page/categorized.html',
    analyticsPage({ ...base, consolidatedPageCalls: false, trackCategorizedPages: true, trackNamedPages: true }, `
      analytics.page('Docs', 'Intro', { a: 1 })
      analytics.page('Docs', '')
      analytics.page('Pricing')
      analytics.page()
      analytics.page({ only: 'properties' })
      analytics.track('Done')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1)

  const defaults = { path: '/page/categorized.html', referrer: '', search: '', title: 'Test Page', url }
  expect(inbox.events().map((e) => e.event)).toEqual(['Viewed Docs Intro Page', 'Viewed Docs Page', 'Viewed Pricing Page', 'Done'])
  expect(own(inbox.events('Viewed Docs Intro Page')[0]!.properties)).toEqual({ ...defaults, a: 1, name: 'Intro', category: 'Docs' })
  expect(own(inbox.events('Viewed Docs Page')[0]!.properties)).toEqual({ ...defaults, category: 'Docs' })
  expect(own(inbox.events('Viewed Pricing Page')[0]!.properties)).toEqual({ ...defaults, name: 'Pricing' })
})

test('trackNamedPages alone names Viewed <Name> Page and drops calls without a name', async ({ page, site, inbox }) => {
  const url = site.page(
    '/page/named.html',
    analyticsPage({ ...base, consolidatedPageCalls: false, trackNamedPages: true }, `
      analytics.page('Pricing', { plan: 'pro' })
      analytics.page('Docs', 'Intro')
      analytics.page('Docs', '')
      analytics.page({ plan: 'free' })
      analytics.track('Done')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1)
  expect(inbox.events().map((e) => e.event)).toEqual(['Viewed Pricing Page', 'Viewed Intro Page', 'Done'])
  expect(own(inbox.events('Viewed Pricing Page')[0]!.properties)).toEqual({
    path: '/page/named.html', referrer: '', search: '', title: 'Test Page', url, plan: 'pro', name: 'Pricing',
  })
  expect(inbox.events('Viewed Intro Page')[0]!.properties).toMatchObject({ name: 'Intro', category: 'Docs' })
})

test('with every naming rule off no page or screen event is sent and debug says which rule dropped it', async ({ page, site, inbox }) => {
  const seen = watch(page)
  const url = site.page(
    '/page/off.html',
    analyticsPage({ ...base, consolidatedPageCalls: false, debug: true }, `
      analytics.page('Docs', 'Intro')
      analytics.screen('Home')
      analytics.track('Done')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1)
  expect(inbox.events().map((e) => e.event)).toEqual(['Done'])
  expect(seen.console).toContain(
    'log: [mixpanel-device-mode] page call not sent: `consolidatedPageCalls` and `trackAllPages` are off, `trackCategorizedPages` is off and `trackNamedPages` is off',
  )
  expect(seen.console.some((line) => line.includes('screen call not sent'))).toBe(true)
})

test('screen() follows the same rules: Loaded a Screen by default, Viewed <Name> Screen with trackNamedPages', async ({ page, site, inbox }) => {
  const consolidated = site.page('/page/screen-a.html', analyticsPage(base, `analytics.screen('Home', { tab: 1 }); analytics.screen(); analytics.track('Done A')`))
  const named = site.page(
    '/page/screen-b.html',
    analyticsPage({ ...base, consolidatedPageCalls: false, trackNamedPages: true }, `analytics.screen('Settings'); analytics.screen(); analytics.track('Done B')`),
  )
  await page.goto(consolidated)
  await inbox.until((i) => i.events('Done A').length === 1)
  await page.goto(named)
  await inbox.until((i) => i.events('Done B').length === 1)

  expect(inbox.events().map((e) => e.event)).toEqual(['Loaded a Screen', 'Loaded a Screen', 'Done A', 'Viewed Settings Screen', 'Done B'])
  const defaults = { path: '/page/screen-a.html', referrer: '', search: '', title: 'Test Page', url: consolidated }
  expect(inbox.events('Loaded a Screen').map((e) => own(e.properties))).toEqual([{ ...defaults, tab: 1, name: 'Home' }, defaults])
  expect(own(inbox.events('Viewed Settings Screen')[0]!.properties)).toMatchObject({ path: '/page/screen-b.html', name: 'Settings' })
})

test('the page event runs through the track pipeline (sourceName, reserved names, increments, superProperties) and never sets People properties', async ({ page, site, inbox }) => {
  const url = site.page(
    '/page/pipeline.html',
    analyticsPage(
      { ...base, sourceName: 'web', eventIncrements: ['LOADED A PAGE'], propIncrements: ['items'], superProperties: ['plan'] },
      `
      analytics.identify('u1')
      analytics.page('Shop', { items: 2, plan: 'pro', token: 'not-the-token', length: 4 })
      analytics.track('Next')
    `,
    ),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Next').length === 1 && i.engage().some((b) => b.$add))

  const [loaded] = inbox.events('Loaded a Page')
  expect(own(loaded!.properties)).toEqual({
    path: '/page/pipeline.html', referrer: '', search: '', title: 'Test Page', url,
    name: 'Shop', items: 2, plan: 'pro', length_: 4, segment_source_name: 'web', id: 'u1', mp_name_tag: 'u1',
  })
  expect(loaded!.properties.token).toBe(TOKEN)
  expect(own(inbox.events('Next')[0]!.properties)).toEqual({ plan: 'pro', segment_source_name: 'web', id: 'u1', mp_name_tag: 'u1' })

  const engage = inbox.engage().filter((b) => b.$distinct_id === 'u1')
  expect(engage.filter((b) => b.$add).map((b) => b.$add)).toEqual([{ 'Loaded a Page': 1, items: 2 }])
  const sets = engage.filter((b) => b.$set).map((b) => ownSet(b.$set))
  expect(sets).toEqual([{ id: 'u1' }, { 'Last Loaded a Page': expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) }])
})
