import { analyticsPage, expect, omit, own, ownSet, test } from './fixtures'

// identify(): special traits, super properties in the three modes, People
// writes ($set / $union / clearing), the name tag, and when People updates are
// sent (docs/behaviour.md, "Identify").

const TOKEN = 'identify-token'
const base = { token: TOKEN, mixpanelConfig: { batch_requests: false } }
const ENGAGE_IDS = ['$token', '$distinct_id', '$device_id', '$user_id']

test('special traits in any spelling become $ names on the profile, without the caller key beside them', async ({ page, site, inbox }) => {
  const url = site.page(
    '/identify/special.html',
    analyticsPage(base, `
      analytics.identify('u1', {
        Email: 'ada@example.com',
        first_name: 'Ada',
        'Last-Name': 'Lovelace',
        created_at: new Date(Date.UTC(2020, 0, 2, 3, 4, 5)),
        Phone: '+44 20 0000',
        user_name: 'ada',
        lastSeen: new Date(Date.UTC(2024, 5, 6)),
        plan: 'pro',
      })
      analytics.track('Next')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Next').length === 1 && i.engage().some((b) => b.$set?.$email))

  const sets = inbox.engage().filter((b) => b.$set && b.$distinct_id === 'u1')
  expect(sets.map((b) => ownSet(b.$set))).toEqual([
    {
      $email: 'ada@example.com',
      $first_name: 'Ada',
      $last_name: 'Lovelace',
      $name: 'Ada Lovelace',
      $created: '2020-01-02T03:04:05.000Z',
      $phone: '+44 20 0000',
      $username: 'ada',
      $last_seen: '2024-06-06T00:00:00.000Z',
      plan: 'pro',
      id: 'u1',
    },
  ])
  // Super properties keep the caller's names (setAllTraitsByDefault), dates as ISO strings.
  const next = inbox.events('Next')[0]!.properties
  expect(own(next)).toEqual({
    Email: 'ada@example.com',
    first_name: 'Ada',
    'Last-Name': 'Lovelace',
    created_at: '2020-01-02T03:04:05.000Z',
    Phone: '+44 20 0000',
    user_name: 'ada',
    lastSeen: '2024-06-06T00:00:00.000Z',
    plan: 'pro',
    id: 'u1',
    mp_name_tag: 'ada@example.com',
  })
  expect(next).toMatchObject({ distinct_id: 'u1', $user_id: 'u1' })
  expect(inbox.events('$identify')).toHaveLength(1)
})

test('name is split into first and last name, and an email-shaped userId is the email and the name tag', async ({ page, site, inbox }) => {
  const url = site.page(
    '/identify/name.html',
    analyticsPage(base, `
      analytics.identify('ada@example.com', { name: 'Ada King Lovelace' })
      analytics.track('Next')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Next').length === 1 && i.engage().some((b) => b.$set?.$name))

  const [set] = inbox.engage().filter((b) => b.$set?.$name)
  expect(set!.$distinct_id).toBe('ada@example.com')
  expect(ownSet(set!.$set)).toEqual({
    $email: 'ada@example.com',
    $name: 'Ada King Lovelace',
    $first_name: 'Ada',
    $last_name: 'King Lovelace',
    id: 'ada@example.com',
  })
  expect(own(inbox.events('Next')[0]!.properties)).toEqual({ name: 'Ada King Lovelace', id: 'ada@example.com', mp_name_tag: 'ada@example.com' })
})

test('firstName and lastName make $name', async ({ page, site, inbox }) => {
  const url = site.page(
    '/identify/first-last.html',
    analyticsPage(base, `analytics.identify('u1', { firstName: 'Grace', lastName: 'Hopper' })`),
  )
  await page.goto(url)
  await inbox.until((i) => i.engage().some((b) => b.$set?.$first_name))
  const [set] = inbox.engage().filter((b) => b.$set?.$first_name)
  expect(ownSet(set!.$set)).toEqual({ $first_name: 'Grace', $last_name: 'Hopper', $name: 'Grace Hopper', id: 'u1' })
})

test('without setAllTraitsByDefault only superProperties are registered and only peopleProperties plus special traits are set', async ({ page, site, inbox }) => {
  const url = site.page(
    '/identify/listed.html',
    analyticsPage({ ...base, setAllTraitsByDefault: false, superProperties: ['plan', 'Email'], peopleProperties: ['company'] }, `
      analytics.identify('u1', { email: 'a@b.co', plan: 'pro', company: 'Acme', age: 30 })
      analytics.track('Next')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Next').length === 1 && i.engage().some((b) => b.$set?.$email))

  expect(own(inbox.events('Next')[0]!.properties)).toEqual({ email: 'a@b.co', plan: 'pro', mp_name_tag: 'a@b.co' })
  const sets = inbox.engage().filter((b) => b.$set && b.$distinct_id === 'u1')
  expect(sets.map((b) => ownSet(b.$set))).toEqual([{ $email: 'a@b.co', company: 'Acme' }])
})

test('legacySuperProperties registers the special traits under their $ names', async ({ page, site, inbox }) => {
  const url = site.page(
    '/identify/legacy.html',
    analyticsPage({ ...base, legacySuperProperties: true }, `
      analytics.identify('u1', { email: 'a@b.co', name: 'Ada Lovelace', plan: 'pro' })
      analytics.track('Next')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Next').length === 1)
  expect(own(inbox.events('Next')[0]!.properties)).toEqual({
    $email: 'a@b.co',
    $name: 'Ada Lovelace',
    $first_name: 'Ada',
    $last_name: 'Lovelace',
    plan: 'pro',
    id: 'u1',
    mp_name_tag: 'a@b.co',
  })
})

test('non-empty arrays go to People $union, an empty array is $set to clear the list, and registered arrays are unioned', async ({ page, site, inbox }) => {
  const url = site.page(
    '/identify/arrays.html',
    analyticsPage(base, `
      analytics.identify('u1', { tags: ['a', 'b'], roles: [] })
      analytics.identify('u1', { tags: ['b', 'c', 1] })
      analytics.track('Next')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Next').length === 1 && i.engage().filter((b) => b.$union).length === 2)

  const mine = inbox.engage().filter((b) => b.$distinct_id === 'u1' && (b.$union || b.$set))
  expect(mine.map((b) => omit(b, ENGAGE_IDS)).map((b) => (b.$set ? { $set: ownSet(b.$set) } : b))).toEqual([
    { $set: { roles: [], id: 'u1' } },
    { $union: { tags: ['a', 'b'] } },
    { $set: { id: 'u1' } },
    { $union: { tags: ['b', 'c', 1] } },
  ])
  expect(own(inbox.events('Next')[0]!.properties)).toEqual({ tags: ['a', 'b', 'c', 1], roles: [], id: 'u1', mp_name_tag: 'u1' })
})

test('the name tag (mp_name_tag on events) is the email, else the username, else the userId', async ({ page, site, inbox }) => {
  const url = site.page(
    '/identify/name-tag.html',
    analyticsPage(base, `
      analytics.identify('u1', { username: 'ada' })
      analytics.track('A')
      analytics.identify('u1', { email: 'ada@example.com' })
      analytics.track('B')
      analytics.reset()
      analytics.identify('u2')
      analytics.track('C')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('C').length === 1)
  expect(['A', 'B', 'C'].map((name) => inbox.events(name)[0]!.properties.mp_name_tag)).toEqual(['ada', 'ada@example.com', 'u2'])
})

test('identify without a userId registers the traits at once and sends the People update when a userId follows', async ({ page, site, inbox }) => {
  const url = site.page(
    '/identify/anonymous.html',
    analyticsPage(base, `
      analytics.identify({ plan: 'pro' })
      analytics.track('Anonymous')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Anonymous').length === 1)
  const anonymous = inbox.events('Anonymous')[0]!.properties
  expect(own(anonymous)).toEqual({ plan: 'pro' })
  expect(anonymous.distinct_id).toMatch(/^\$device:/)
  expect(inbox.engage()).toEqual([])

  await page.evaluate(() => (window as any).analytics.identify('u1'))
  await inbox.until((i) => i.engage().some((b) => b.$set?.id === 'u1'))
  const sets = inbox.engage().filter((b) => b.$set)
  expect(sets.map((b) => [b.$distinct_id, ownSet(b.$set)])).toEqual([
    ['u1', { plan: 'pro' }],
    ['u1', { id: 'u1' }],
  ])
  const identifies = inbox.events('$identify')
  expect(identifies).toHaveLength(1)
  expect(identifies[0]!.properties).toMatchObject({ distinct_id: 'u1', $anon_distinct_id: anonymous.distinct_id })
})

test('a known user is re-identified on a new page load: People updates go out without an identify call or a second $identify', async ({ page, site, inbox }) => {
  const first = site.page('/identify/known-1.html', analyticsPage({ ...base, eventIncrements: ['Viewed Item'] }, `analytics.identify('u1', { plan: 'pro' })`))
  const second = site.page(
    '/identify/known-2.html',
    analyticsPage({ ...base, eventIncrements: ['Viewed Item'] }, `
      analytics.identify({ visits: 2 })
      analytics.track('Viewed Item')
    `),
  )
  await page.goto(first)
  await inbox.until((i) => i.engage().some((b) => b.$set?.plan === 'pro'))
  await page.goto(second)
  await inbox.until((i) => i.events('Viewed Item').length === 1 && i.engage().some((b) => b.$add))

  const later = inbox.engage().filter((b) => b.$set?.visits !== undefined || b.$add)
  expect(later.map((b) => omit(b, ['$token', '$device_id'])).map((b) => (b.$set ? { ...b, $set: ownSet(b.$set) } : b))).toEqual([
    { $distinct_id: 'u1', $user_id: 'u1', $set: { visits: 2 } },
    { $distinct_id: 'u1', $user_id: 'u1', $add: { 'Viewed Item': 1 } },
  ])
  expect(inbox.events('Viewed Item')[0]!.properties).toMatchObject({ distinct_id: 'u1', plan: 'pro', visits: 2 })
  expect(inbox.counted('$identify')).toHaveLength(1)
})

test('with people off nothing of ours is written to the profile', async ({ page, site, inbox }) => {
  const url = site.page(
    '/identify/no-people.html',
    analyticsPage({ ...base, people: false, eventIncrements: ['Bought'], propIncrements: ['items'] }, `
      analytics.identify('u1', { email: 'a@b.co', tags: ['x'] })
      analytics.track('Bought', { items: 2, revenue: 5 })
      analytics.track('Done')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1)
  // Nothing reaches /engage, not even mixpanel-browser's own first-touch $set_once (docs/behaviour.md, "people: false").
  expect(inbox.engage()).toEqual([])
  expect(own(inbox.events('Bought')[0]!.properties)).toEqual({ email: 'a@b.co', tags: ['x'], id: 'u1', mp_name_tag: 'a@b.co', items: 2, revenue: 5 })
})
