import { expect, iifePage, test } from './fixtures'

test('the script-tag build sends one call of each kind to the Mixpanel API', async ({ page, site, inbox }) => {
  const url = site.page(
    '/smoke.html',
    iifePage(`
      window.analytics = MixpanelDeviceMode.createAnalytics({
        token: 'smoke-token',
        groupIdentifierTraits: ['company_id'],
        mixpanelConfig: { batch_requests: false },
      })
      analytics.page('Docs', 'Intro', { section: 'a' })
      analytics.identify('user-1', { email: 'ada@example.com', firstName: 'Ada', tags: ['x', 'y'] })
      analytics.track('Signed Up', { plan: 'pro' })
      analytics.group('acme', { company_id: 'acme', plan: 'gold' })
      analytics.alias('user-2')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Signed Up').length === 1 && i.engage().length >= 2 && i.groups().length === 1 && i.events('$create_alias').length === 1)

  const [loaded] = inbox.events('Loaded a Page')
  expect(loaded!.properties).toMatchObject({
    token: 'smoke-token',
    section: 'a',
    name: 'Intro',
    category: 'Docs',
    path: '/smoke.html',
    url,
    title: 'Test Page',
    search: '',
  })
  const [signedUp] = inbox.events('Signed Up')
  expect(signedUp!.properties).toMatchObject({
    token: 'smoke-token',
    plan: 'pro',
    distinct_id: 'user-1',
    email: 'ada@example.com',
    firstName: 'Ada',
    tags: ['x', 'y'],
    id: 'user-1',
    mp_name_tag: 'ada@example.com',
  })
  const sets = inbox.engage().filter((b) => b.$set)
  const traitSet = sets.find((b) => b.$set.$email)
  expect(traitSet).toMatchObject({
    $token: 'smoke-token',
    $distinct_id: 'user-1',
    $set: { $email: 'ada@example.com', $first_name: 'Ada', $name: 'Ada', id: 'user-1' },
  })
  expect(traitSet!.$set).not.toHaveProperty('email')
  expect(inbox.engage().find((b) => b.$union)).toMatchObject({ $distinct_id: 'user-1', $union: { tags: ['x', 'y'] } })
  expect(inbox.groups()[0]).toMatchObject({
    $token: 'smoke-token',
    $group_key: 'company_id',
    $group_id: 'acme',
    $set: { company_id: 'acme', plan: 'gold' },
  })
  expect(inbox.events('$create_alias')[0]!.properties).toMatchObject({ alias: 'user-2', distinct_id: 'user-1' })
})

test('the script-tag build starts with Chromium\'s compile hint, which the README promises (loaded by <script src>, compiled off the main thread)', async ({ page, site }) => {
  const url = site.page('/hint.html', iifePage(''))
  const served = await page.request.get(new URL('/dist/mixpanel-device-mode.iife.js', url).href)
  // The first line of the file, exactly: Chromium honours the magic comment only there (docs/performance.md, "Start-up").
  expect((await served.text()).split('\n', 1)[0]).toBe('//# allFunctionsCalledOnLoad')
})
