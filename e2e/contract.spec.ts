import { analyticsPage, expect, iifePage, own, ownSet, test, watch } from './fixtures'

// Contract defects found by using the library as users and attackers would,
// observed on what leaves the page (docs/behaviour.md). Each test here failed
// on the code before its fix.

const TOKEN = 'contract-token'
const unbatched = { token: TOKEN, mixpanelConfig: { batch_requests: false } }

test('a `length` trait no longer wipes the identity: every later event keeps distinct_id, $user_id and the traits', async ({ page, site, inbox }) => {
  const url = site.page(
    '/contract/length.html',
    analyticsPage(unbatched, `
      analytics.identify('u1', { length: 180, plan: 'pro' })
      analytics.track('Next', { bucket: 'b1' })
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Next').length === 1 && i.engage().some((b) => b.$set?.plan))
  const next = inbox.events('Next')[0]!.properties
  expect(next).toMatchObject({ distinct_id: 'u1', $user_id: 'u1', token: TOKEN })
  expect(own(next)).toEqual({ length_: 180, plan: 'pro', id: 'u1', mp_name_tag: 'u1', bucket_: 'b1' })
  const [set] = inbox.engage().filter((b) => b.$set?.plan)
  expect(set!.$distinct_id).toBe('u1')
  expect(ownSet(set!.$set)).toEqual({ length_: 180, plan: 'pro', id: 'u1' })
})

test('a `length` an earlier version stored in the cookie is repaired at start', async ({ page, site, inbox }) => {
  // What an earlier version left: the identity and a registered `length`.
  const stored = { distinct_id: 'u9', $device_id: 'dev-9', $user_id: 'u9', length: 180, plan: 'pro' }
  const seed = site.page('/contract/seed.html', `<!doctype html><script>
    document.cookie = 'mp_${TOKEN}_mixpanel=' + encodeURIComponent(${JSON.stringify(JSON.stringify(stored))}) + '; path=/'
  </script>`)
  await page.goto(seed)
  const url = site.page('/contract/repaired.html', analyticsPage(unbatched, `analytics.track('Later')`))
  await page.goto(url)
  await inbox.until((i) => i.events('Later').length === 1)
  const later = inbox.events('Later')[0]!.properties
  expect(later).toMatchObject({ distinct_id: 'u9', $device_id: 'dev-9', $user_id: 'u9' })
  expect(own(later)).toEqual({ length_: 180, plan: 'pro' })
  // No $identify: the same user, identified again under its distinct id.
  expect(inbox.events('$identify')).toEqual([])
})

test('optOut() deletes nothing, and nothing from the opted-out time is sent after optIn()', async ({ page, site, inbox }) => {
  // Default batching, where the deletion used to wait in the queue for optIn().
  const url = site.page(
    '/contract/opt-out.html',
    analyticsPage({ token: TOKEN }, `
      window.steps = (async () => {
        await analytics.identify('u1', { plan: 'pro' })
        await analytics.track('Order Completed', { revenue: 5 })
      })()
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Order Completed').length === 1 && i.engage().some((b) => b.$append))
  await page.evaluate(async () => {
    const analytics = (window as any).analytics
    await analytics.optOut()
    await analytics.identify('u1', { plan: 'while out' })
    await analytics.track('While Opted Out')
    await analytics.optIn()
    await analytics.track('Opted In Again')
  })
  await inbox.until((i) => i.events('Opted In Again').length === 1)
  // Everything queued has left: mixpanel-browser's three batch queues are empty.
  await expect
    .poll(() => page.evaluate((token) => ['ev', 'pp', 'gr'].map((q) => JSON.parse(localStorage[`__mpq_${token}_${q}`] ?? '[]').length), TOKEN))
    .toEqual([0, 0, 0])
  expect(inbox.engage().filter((b) => '$delete' in b || b.$set?.$transactions || b.$set?.plan === 'while out')).toEqual([])
  expect(inbox.events().map((e) => e.event)).toEqual(['$identify', 'Order Completed', '$opt_in', 'Opted In Again'])
})

test('optOut({ deleteUser: true }) deletes the profile and its charges: an erasure request', async ({ page, site, inbox }) => {
  const url = site.page(
    '/contract/erase.html',
    analyticsPage(unbatched, `
      window.steps = (async () => {
        await analytics.identify('u1', { plan: 'pro' })
        await analytics.optOut({ deleteUser: true })
      })()
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.engage().some((b) => '$delete' in b))
  const deletes = inbox.engage().filter((b) => '$delete' in b || b.$set?.$transactions)
  expect(deletes.map((b) => ({ $distinct_id: b.$distinct_id, $delete: b.$delete, $set: b.$set && ownSet(b.$set) }))).toEqual([
    { $distinct_id: 'u1', $delete: 'u1', $set: undefined },
    { $distinct_id: 'u1', $delete: undefined, $set: { $transactions: [] } },
  ])
})

test('alias then identify sends one $identify per user and device, also on later pages', async ({ page, site, inbox }) => {
  const first = site.page(
    '/contract/alias-first.html',
    analyticsPage(unbatched, `analytics.track('Anonymous'); analytics.alias('u1'); analytics.identify('u1'); analytics.track('First Page')`),
  )
  const later = site.page('/contract/alias-later.html', analyticsPage(unbatched, `analytics.identify('u1'); analytics.track('Later Page')`))
  await page.goto(first)
  await inbox.until((i) => i.events('First Page').length === 1 && i.events('$create_alias').length === 1)
  await page.goto(later)
  await inbox.until((i) => i.events('Later Page').length === 1)
  await page.goto(later)
  await inbox.until((i) => i.events('Later Page').length === 2)
  expect(inbox.events('$identify')).toHaveLength(1)
  expect(inbox.events('$identify')[0]!.properties).toMatchObject({ distinct_id: 'u1' })
  for (const event of inbox.events('Later Page')) expect(event.properties).toMatchObject({ $user_id: 'u1' })
})

test('people: false sends no profile request at all, not even mixpanel-browser\'s own $set_once of the initial referrer', async ({ page, site, inbox }) => {
  const settings = { ...unbatched, people: false, groupIdentifierTraits: ['company_id'], eventIncrements: ['Done'] }
  const url = site.page(
    '/contract/no-people.html',
    analyticsPage(settings, `
      analytics.identify('u1', { plan: 'pro', email: 'a@b.co' })
      analytics.group('c1', { company_id: 'c1', name: 'Acme' })
      analytics.track('Done', { revenue: 5 })
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1 && i.groups().length === 1)
  // Then a second page for the same user: the start-up re-identify flushes whatever is queued.
  await page.goto(site.page('/contract/no-people-2.html', analyticsPage(settings, `analytics.track('Second')`)))
  await inbox.until((i) => i.events('Second').length === 1)
  expect(inbox.of('engage')).toEqual([])
  expect(inbox.events('Second')[0]!.properties).toMatchObject({ distinct_id: 'u1', company_id: ['c1'], plan: 'pro' })
})

test('__proto__ keys from JSON.parse never become properties, and functions are left out as JSON.stringify does', async ({ page, site, inbox }) => {
  const url = site.page(
    '/contract/proto.html',
    analyticsPage(unbatched, `
      analytics.identify('u1', JSON.parse('{"plan":"x","__proto__":{"isAdmin":true}}'))
      analytics.track('Hostile', Object.assign(JSON.parse('{"a":1,"__proto__":{"isAdmin":true}}'), { f: function () {}, nested: { g: function () {}, b: 2 } }))
      analytics.track('Next')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Next').length === 1 && i.engage().some((b) => b.$set?.plan))
  expect(own(inbox.events('Hostile')[0]!.properties)).toEqual({ a: 1, nested: { b: 2 }, plan: 'x', id: 'u1', mp_name_tag: 'u1' })
  expect(own(inbox.events('Next')[0]!.properties)).toEqual({ plan: 'x', id: 'u1', mp_name_tag: 'u1' })
  expect(ownSet(inbox.engage().find((b) => b.$set?.plan)!.$set)).toEqual({ plan: 'x', id: 'u1' })
})

test('a mixpanelConfig.loaded callback that throws does not turn tracking off', async ({ page, site, inbox }) => {
  const seen = watch(page)
  const url = site.page(
    '/contract/loaded.html',
    iifePage(`
      window.analytics = MixpanelDeviceMode.createAnalytics({ token: '${TOKEN}', mixpanelConfig: { batch_requests: false, loaded: function () { throw new Error('loaded boom') } } })
      analytics.track('Still Tracked')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Still Tracked').length === 1)
  expect(seen.errors).toEqual([])
  const reported = seen.console.filter((line) => line.includes('loaded'))
  expect(reported).toHaveLength(1)
  expect(reported[0]).toMatch(/^error: \[mixpanel-device-mode\] `mixpanelConfig.loaded` threw Error: loaded boom\n/)
})

test('optOutByDefault stores nothing but the opt-out state before optIn(): no tab id in sessionStorage', async ({ page, context, site, inbox }) => {
  const url = site.page(
    '/contract/opt-out-by-default.html',
    analyticsPage({ token: TOKEN, optOutByDefault: true }, `window.settled = analytics.track('Before Consent').then(() => 'settled')`),
  )
  await page.goto(url)
  expect(await page.evaluate(() => (window as any).settled)).toBe('settled')
  expect(await page.evaluate(() => ({ session: { ...sessionStorage }, local: { ...localStorage } }))).toEqual({
    session: {},
    local: { [`__mp_opt_in_out_${TOKEN}`]: '0' },
  })
  expect(await context.cookies()).toEqual([])
  expect(inbox.requests).toEqual([])
})

test('creating the library leaves window.mParticle undefined on a page without mParticle', async ({ page, site }) => {
  const url = site.page('/contract/no-mparticle.html', analyticsPage({ token: TOKEN }, `analytics.track('x')`))
  await page.goto(url)
  expect(await page.evaluate(() => ['mParticle' in window, Object.getOwnPropertyDescriptor(window, 'mParticle')])).toEqual([false, undefined])
})
