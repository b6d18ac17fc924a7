import { analyticsPage, expect, omit, own, ownSet, test, watch } from './fixtures'

// group() and alias() (docs/behaviour.md, "Group", "Alias").

const TOKEN = 'group-token'
const base = { token: TOKEN, mixpanelConfig: { batch_requests: false } }

test('group writes the group profile with $set_once and $set, and the membership is on later events and the user profile', async ({ page, site, inbox }) => {
  const url = site.page(
    '/group/profile.html',
    analyticsPage({ ...base, groupIdentifierTraits: ['company_id'], groupTraitsToSetOnce: ['founded'] }, `
      analytics.identify('u1')
      analytics.group('acme', { company_id: 'acme', name: 'Acme', plan: 'gold', founded: new Date(Date.UTC(1999, 0, 1)) })
      analytics.group('acme', { company_id: 'acme', plan: 'platinum' })
      analytics.track('After Group')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('After Group').length === 1 && i.groups().length === 3)

  expect(inbox.groups()).toEqual([
    { $token: TOKEN, $group_key: 'company_id', $group_id: 'acme', $set_once: { founded: '1999-01-01T00:00:00.000Z' } },
    { $token: TOKEN, $group_key: 'company_id', $group_id: 'acme', $set: { company_id: 'acme', name: 'Acme', plan: 'gold' } },
    { $token: TOKEN, $group_key: 'company_id', $group_id: 'acme', $set: { company_id: 'acme', plan: 'platinum' } },
  ])
  expect(inbox.of('groups').every((r) => r.host === 'api-js.mixpanel.com')).toBe(true)
  expect(own(inbox.events('After Group')[0]!.properties)).toEqual({ id: 'u1', mp_name_tag: 'u1', company_id: ['acme'] })
  const memberships = inbox.engage().filter((b) => b.$set?.company_id)
  expect(memberships.map((b) => [b.$distinct_id, ownSet(b.$set)])).toEqual([
    ['u1', { company_id: ['acme'] }],
    ['u1', { company_id: ['acme'] }],
  ])
})

test('each configured group key found in the traits makes its own group, with the id as a string', async ({ page, site, inbox }) => {
  const url = site.page(
    '/group/two-keys.html',
    analyticsPage({ ...base, groupIdentifierTraits: ['company_id', 'team_id', 'org_id'] }, `
      analytics.identify('u1')
      analytics.group('ignored-group-id', { company_id: 'acme', team_id: 42, org_id: '', size: 10 })
      analytics.track('Done')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1 && i.groups().length === 2)
  const traits = { company_id: 'acme', team_id: 42, org_id: '', size: 10 }
  expect(inbox.groups().map((b) => omit(b, ['$token']))).toEqual([
    { $group_key: 'company_id', $group_id: 'acme', $set: traits },
    { $group_key: 'team_id', $group_id: '42', $set: traits },
  ])
  expect(own(inbox.events('Done')[0]!.properties)).toEqual({ id: 'u1', mp_name_tag: 'u1', company_id: ['acme'], team_id: ['42'] })
})

test('group is ignored without an identified user: no /groups/ request, no membership, and debug says why', async ({ page, site, inbox }) => {
  const seen = watch(page)
  const url = site.page(
    '/group/anonymous.html',
    analyticsPage({ ...base, groupIdentifierTraits: ['company_id'], debug: true }, `
      analytics.identify({ plan: 'pro' })
      analytics.group('acme', { company_id: 'acme' })
      analytics.track('Done')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1)
  expect(inbox.groups()).toEqual([])
  expect(own(inbox.events('Done')[0]!.properties)).toEqual({ plan: 'pro' })
  expect(seen.console).toContain('log: [mixpanel-device-mode] group call ignored: no user is identified yet (call identify with a userId first)')
})

test('group is ignored when none of the configured identifier traits is present or non-empty', async ({ page, site, inbox }) => {
  const seen = watch(page)
  const url = site.page(
    '/group/no-key.html',
    analyticsPage({ ...base, groupIdentifierTraits: ['company_id'], debug: true }, `
      analytics.identify('u1')
      analytics.group('acme', { name: 'Acme' })
      analytics.group('acme', { company_id: '' })
      analytics.group('acme', { company_id: null })
      analytics.track('Done')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1)
  expect(inbox.groups()).toEqual([])
  expect(own(inbox.events('Done')[0]!.properties)).toEqual({ id: 'u1', mp_name_tag: 'u1' })
  expect(seen.console.filter((line) => line.includes('group call ignored: its traits have none of the group keys `company_id`'))).toHaveLength(3)
})

test('group works for a user identified on an earlier page load', async ({ page, site, inbox }) => {
  const settings = { ...base, groupIdentifierTraits: ['company_id'] }
  const first = site.page('/group/earlier-1.html', analyticsPage(settings, `analytics.identify('u1'); analytics.track('First')`))
  const second = site.page('/group/earlier-2.html', analyticsPage(settings, `analytics.group('acme', { company_id: 'acme' }); analytics.track('Second')`))
  await page.goto(first)
  await inbox.until((i) => i.events('First').length === 1)
  await page.goto(second)
  await inbox.until((i) => i.events('Second').length === 1 && i.groups().length === 1)
  expect(omit(inbox.groups()[0], ['$token'])).toEqual({ $group_key: 'company_id', $group_id: 'acme', $set: { company_id: 'acme' } })
  expect(inbox.events('Second')[0]!.properties).toMatchObject({ distinct_id: 'u1', company_id: ['acme'] })
})

test('alias sends $create_alias from the current distinct id, or from previousId when given', async ({ page, site, inbox }) => {
  const url = site.page(
    '/alias/basic.html',
    analyticsPage(base, `
      analytics.identify('u1')
      analytics.alias('u1-new')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('$create_alias').length === 1)
  await page.evaluate(() => (window as any).analytics.alias('new-id', 'old-id'))
  await inbox.until((i) => i.events('$create_alias').length === 2)
  expect(inbox.events('$create_alias').map((e) => [e.properties.alias, e.properties.distinct_id])).toEqual([
    ['u1-new', 'u1'],
    ['new-id', 'old-id'],
  ])
})

test('alias to the current distinct id is skipped: no $create_alias', async ({ page, site, inbox }) => {
  const seen = watch(page)
  const url = site.page(
    '/alias/self.html',
    analyticsPage({ ...base, debug: true }, `
      analytics.identify('u1')
      analytics.alias('u1')
      analytics.alias('u1', 'u1')
      analytics.track('Done')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1)
  expect(inbox.events().map((e) => e.event)).toEqual(['$identify', 'Done'])
  expect(seen.console.filter((line) => line.includes('alias call ignored: "u1" already is the current distinct id'))).toHaveLength(2)
})
