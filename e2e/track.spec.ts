import { analyticsPage, expect, omit, own, ownSet, test, watch } from './fixtures'

// track(): properties and dates, reserved names, sourceName, increments, the
// revenue charge, and superProperties (docs/behaviour.md, "Track" and "Values").

const TOKEN = 'track-token'
const base = { token: TOKEN, mixpanelConfig: { batch_requests: false } }
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

/** Every plain object `{}` with no keys anywhere in a decoded record (how a Date looks after mixpanel-browser 2.83). */
function emptyObjects(value: unknown, path = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => emptyObjects(item, `${path}[${i}]`))
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value)
    if (keys.length === 0) return [path]
    return keys.flatMap((key) => emptyObjects((value as Record<string, unknown>)[key], `${path}.${key}`))
  }
  return []
}

test('properties arrive as given; Dates become ISO strings, also nested and in arrays; lists of objects and $group_id are kept', async ({ page, site, inbox }) => {
  const url = site.page(
    '/track/properties.html',
    analyticsPage(base, `
      const at = new Date(Date.UTC(2021, 4, 6, 7, 8, 9))
      analytics.track('Signed Up', {
        plan: 'pro', seats: 3, trial: false, coupon: null, $group_id: 'g-1',
        at,
        nested: { when: at, deeper: { list: [at, 'x', 2] } },
        items: [{ sku: 'a', qty: 1 }, { sku: 'b', added: at }],
        tags: ['x', 'y'],
      })
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Signed Up').length === 1)
  const iso = '2021-05-06T07:08:09.000Z'
  expect(own(inbox.events('Signed Up')[0]!.properties)).toEqual({
    plan: 'pro',
    seats: 3,
    trial: false,
    coupon: null,
    $group_id: 'g-1',
    at: iso,
    nested: { when: iso, deeper: { list: [iso, 'x', 2] } },
    items: [{ sku: 'a', qty: 1 }, { sku: 'b', added: iso }],
    tags: ['x', 'y'],
  })
})

test('reserved properties are removed, length and bucket are renamed, and the event keeps all its other properties', async ({ page, site, inbox }) => {
  const url = site.page(
    '/track/reserved.html',
    analyticsPage({ ...base, debug: true }, `
      analytics.track('Measured', {
        length: 12, bucket: 'b1', distinct_id: 'spoofed', ip: '1.2.3.4', mp_name_tag: 'spoofed', mp_note: 'n', token: 'spoofed', kept: 'yes',
      })
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Measured').length === 1)
  const props = inbox.events('Measured')[0]!.properties
  expect(own(props)).toEqual({ length_: 12, bucket_: 'b1', kept: 'yes' })
  for (const key of ['ip', 'mp_name_tag', 'mp_note', 'length', 'bucket']) expect(props).not.toHaveProperty(key)
  // mixpanel-browser's own values, not the caller's; and the event is complete (not `{"properties":{}}`).
  expect(props.token).toBe(TOKEN)
  expect(props.distinct_id).toMatch(/^\$device:/)
  expect(props).toMatchObject({ mp_lib: 'web', $insert_id: expect.any(String), time: expect.any(Number) })
})

test('sourceName adds segment_source_name to every event, overwriting the caller value', async ({ page, site, inbox }) => {
  const url = site.page(
    '/track/source.html',
    analyticsPage({ ...base, sourceName: 'Marketing Site' }, `
      analytics.track('A', { segment_source_name: 'other' })
      analytics.page()
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Loaded a Page').length === 1)
  expect(own(inbox.events('A')[0]!.properties)).toEqual({ segment_source_name: 'Marketing Site' })
  expect(inbox.events('Loaded a Page')[0]!.properties.segment_source_name).toBe('Marketing Site')
})

test('eventIncrements (any case) add 1 and set Last <event>; propIncrements add finite numbers only', async ({ page, site, inbox }) => {
  const url = site.page(
    '/track/increments.html',
    analyticsPage({ ...base, eventIncrements: ['viewed item'], propIncrements: ['ITEMS', 'score'] }, `
      analytics.identify('u1')
      analytics.track('Viewed Item', { items: 3, score: 'high' })
      analytics.track('Other', { Items: 2.5, score: '7' })
      analytics.track('Done')
    `),
  )
  const before = Date.now()
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1)
  const after = Date.now()

  const mine = inbox.engage().filter((b) => b.$distinct_id === 'u1' && (b.$add || b.$set))
  const bodies = mine.map((b) => (b.$set ? { $set: ownSet(b.$set) } : { $add: b.$add }))
  expect(bodies).toEqual([
    { $set: { id: 'u1' } },
    { $add: { 'Viewed Item': 1, items: 3 } },
    { $set: { 'Last Viewed Item': expect.stringMatching(ISO) } },
    { $add: { Items: 2.5 } },
  ])
  const last = Date.parse(bodies[2]!.$set!['Last Viewed Item'])
  expect(last).toBeGreaterThanOrEqual(before - 1000)
  expect(last).toBeLessThanOrEqual(after + 1000)
  expect(own(inbox.events('Viewed Item')[0]!.properties)).toEqual({ items: 3, score: 'high', id: 'u1', mp_name_tag: 'u1' })
})

test('revenue is a $append of $transactions (Order Completed total, "$10.50" parsed) and stays on the event', async ({ page, site, inbox }) => {
  const url = site.page(
    '/track/revenue.html',
    analyticsPage(base, `
      analytics.identify('u1')
      analytics.track('Upgraded', { revenue: 9.99 })
      analytics.track('Order Completed', { total: '$10.50', currency: 'USD' })
      analytics.track('Completed Order', { total: 20 })
      analytics.track('Cart Viewed', { total: 30 })
      analytics.track('Tipped', { revenue: 'lots' })
      analytics.track('Done')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1)

  const appends = inbox.engage().filter((b) => b.$append)
  expect(appends.map((b) => [b.$distinct_id, b.$append])).toEqual([
    ['u1', { $transactions: { $amount: 9.99, $time: expect.stringMatching(ISO) } }],
    ['u1', { $transactions: { $amount: 10.5, $time: expect.stringMatching(ISO) } }],
    ['u1', { $transactions: { $amount: 20, $time: expect.stringMatching(ISO) } }],
  ])
  expect(own(inbox.events('Upgraded')[0]!.properties)).toMatchObject({ revenue: 9.99 })
  expect(own(inbox.events('Order Completed')[0]!.properties)).toMatchObject({ total: '$10.50', currency: 'USD' })
  expect(own(inbox.events('Tipped')[0]!.properties)).toMatchObject({ revenue: 'lots' })
})

test('superProperties found in a track call are registered after it and present on the next event', async ({ page, site, inbox }) => {
  const url = site.page(
    '/track/super.html',
    analyticsPage({ ...base, superProperties: ['plan', 'coupon'] }, `
      analytics.track('Before')
      analytics.track('Chose Plan', { plan: 'pro', other: 1 })
      analytics.track('Next')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Next').length === 1)
  expect(inbox.events().map((e) => [e.event, own(e.properties)])).toEqual([
    ['Before', {}],
    ['Chose Plan', { plan: 'pro', other: 1 }],
    ['Next', { plan: 'pro' }],
  ])
})

test('Dates never reach the wire as {} and a 300-character string arrives cut to 255 characters, not dropped', async ({ page, site, inbox }) => {
  const url = site.page(
    '/track/limits.html',
    analyticsPage({ ...base, groupIdentifierTraits: ['company_id'] }, `
      const when = new Date(Date.UTC(2022, 1, 3))
      analytics.identify('u1', { bio: 'b'.repeat(300), birthday: when })
      analytics.track('Long', { text: 'a'.repeat(300), when, list: [when] })
      analytics.group('acme', { company_id: 'acme', since: when })
      analytics.track('Done')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1 && i.groups().length === 1)
  const iso = '2022-02-03T00:00:00.000Z'
  expect(own(inbox.events('Long')[0]!.properties)).toMatchObject({ text: 'a'.repeat(255), when: iso, list: [iso], bio: 'b'.repeat(255), birthday: iso })
  const [set] = inbox.engage().filter((b) => b.$set?.bio)
  expect(ownSet(set!.$set)).toEqual({ bio: 'b'.repeat(255), birthday: iso, id: 'u1' })
  expect(omit(inbox.groups()[0], ['$token'])).toEqual({ $group_key: 'company_id', $group_id: 'acme', $set: { company_id: 'acme', since: iso } })
  expect(inbox.records.flatMap((r) => emptyObjects(r.body))).toEqual([])
})

test("a property that contains itself (a model with a parent link) does not lose the event: the cycle arrives as '[Circular]'", async ({ page, site, inbox }) => {
  const url = site.page(
    '/track/circular.html',
    analyticsPage(base, `
      const cart = { id: 'c1', lines: [] }
      cart.lines.push({ sku: 'a', cart }, { sku: 'b', cart })
      analytics.track('Checked Out', { cart, label: 'Buy' })
      analytics.track('Done')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1)
  expect(own(inbox.events('Checked Out')[0]!.properties)).toEqual({
    cart: { id: 'c1', lines: [{ sku: 'a', cart: '[Circular]' }, { sku: 'b', cart: '[Circular]' }] },
    label: 'Buy',
  })
})

test('values mixpanel-browser cannot encode arrive as JSON would send them: BigInt, toJSON(); a runaway graph is refused, said under debug, and the next call goes', async ({ page, site, inbox }) => {
  const seen = watch(page)
  const url = site.page(
    '/track/encode.html',
    analyticsPage({ ...base, debug: true }, `
      const day = { toJSON: () => '2024-05-06' }
      analytics.identify('u1', { seats: 12n, since: day })
      analytics.track('Encoded', { n: 10n, big: 2n ** 64n, day })
      // 20 nodes each linked to all the others: billions of paths without a bound.
      const nodes = Array.from({ length: 20 }, (_, i) => ({ i, links: [] }))
      for (const node of nodes) node.links.push(...nodes)
      analytics.track('Graph', { nodes })
      analytics.track('Done')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1 && i.engage().some((b) => b.$set?.seats !== undefined))
  expect(own(inbox.events('Encoded')[0]!.properties)).toMatchObject({ n: 10, big: '18446744073709551616', day: '2024-05-06', seats: 12, since: '2024-05-06' })
  expect(ownSet(inbox.engage().find((b) => b.$set?.seats !== undefined)!.$set)).toEqual({ seats: 12, since: '2024-05-06', id: 'u1' })
  expect(inbox.events('Graph')).toEqual([])
  await expect.poll(() => seen.console.filter((line) => line.includes('over 10000 objects')).map((line) => line.split('\n')[0])).toEqual([
    "log: [mixpanel-device-mode] track call failed RangeError: over 10000 objects in one call's properties: not sent",
  ])
  expect(seen.errors).toEqual([])
})
