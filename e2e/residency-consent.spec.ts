import { analyticsPage, expect, test } from './fixtures'

// API hosts (dataResidency, enableEuropeanUnionEndpoint, apiHost) and consent
// (optOutByDefault, optIn, optOut) (docs/behaviour.md, "Consent").

const TOKEN = 'residency-token'
const base = { token: TOKEN, mixpanelConfig: { batch_requests: false } }
const SCRIPT = `
  analytics.identify('u1', { plan: 'pro' })
  analytics.group('acme', { company_id: 'acme' })
  analytics.track('Done')
`

const HOSTS: Array<[string, Record<string, unknown>, string]> = [
  ['no residency setting', {}, 'api-js.mixpanel.com'],
  ["dataResidency 'eu'", { dataResidency: 'eu' }, 'api-eu.mixpanel.com'],
  ["dataResidency 'in'", { dataResidency: 'in' }, 'api-in.mixpanel.com'],
  ['enableEuropeanUnionEndpoint', { enableEuropeanUnionEndpoint: true }, 'api-eu.mixpanel.com'],
]

for (const [label, settings, host] of HOSTS) {
  test(`${label}: events, profile and group updates all go to ${host}`, async ({ page, site, inbox }) => {
    const url = site.page(`/residency/${host}-${Object.keys(settings).join('-')}.html`, analyticsPage({ ...base, groupIdentifierTraits: ['company_id'], ...settings }, SCRIPT))
    await page.goto(url)
    await inbox.until((i) => i.events('Done').length === 1 && i.groups().length === 1 && i.engage().some((b) => b.$set?.plan))
    expect([...new Set(inbox.records.map((r) => `${r.endpoint}@${r.host}`))].sort()).toEqual([`engage@${host}`, `groups@${host}`, `track@${host}`])
    expect(inbox.events('Done')[0]!.properties).toMatchObject({ token: TOKEN, distinct_id: 'u1' })
  })
}

test('apiHost sends everything to the proxy, as readable JSON, and wins over dataResidency', async ({ page, context, site, inbox }) => {
  await inbox.attach(context, /^https:\/\/mp-proxy\.example\.test\//)
  const url = site.page(
    '/residency/proxy.html',
    analyticsPage({ ...base, groupIdentifierTraits: ['company_id'], dataResidency: 'eu', apiHost: 'https://mp-proxy.example.test/' }, SCRIPT),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Done').length === 1 && i.groups().length === 1 && i.engage().some((b) => b.$set?.plan))
  expect([...new Set(inbox.records.map((r) => `${r.endpoint}@${r.host}`))].sort()).toEqual([
    'engage@mp-proxy.example.test',
    'groups@mp-proxy.example.test',
    'track@mp-proxy.example.test',
  ])
  // JSON, not mixpanel-browser's base64 for non-mixpanel.com hosts: a proxy can read it.
  for (const request of inbox.requests) {
    expect(new URLSearchParams(request.postData() ?? '').get('data')).toMatch(/^[[{]/)
  }
  expect(inbox.events('Done')[0]!.properties).toMatchObject({ token: TOKEN, distinct_id: 'u1', plan: 'pro' })
})

test('optOutByDefault: no cookie, no storage and no request before optIn(), then normal tracking', async ({ page, context, site, inbox }) => {
  const url = site.page(
    '/consent/opt-out-by-default.html',
    analyticsPage({ ...base, optOutByDefault: true }, `
      window.settled = Promise.all([analytics.page(), analytics.track('Before Consent', { plan: 'free' })]).then(() => 'settled')
    `),
  )
  await page.goto(url)
  expect(await page.evaluate(() => (window as any).settled)).toBe('settled')
  // Give a request every chance to leave before looking.
  await page.waitForTimeout(300)
  expect(inbox.requests).toEqual([])
  expect((await context.cookies()).filter((c) => c.name.startsWith('mp_'))).toEqual([])
  // The only thing stored is mixpanel-browser's record of the opt-out itself ('0'), no identity.
  expect(await page.evaluate(() => Object.entries(localStorage).filter(([k]) => k.startsWith('mp_') || k.startsWith('__mp')))).toEqual([
    [`__mp_opt_in_out_${TOKEN}`, '0'],
  ])

  await page.evaluate(async () => {
    const analytics = (window as any).analytics
    await analytics.optIn()
    await analytics.identify('u1', { plan: 'pro' })
    await analytics.track('After Consent')
  })
  await inbox.until((i) => i.events('After Consent').length === 1 && i.engage().some((b) => b.$set?.plan))
  expect(inbox.events().map((e) => e.event)).toEqual(['$opt_in', '$identify', 'After Consent'])
  expect(inbox.events('After Consent')[0]!.properties).toMatchObject({ distinct_id: 'u1', plan: 'pro' })
  expect((await context.cookies()).map((c) => c.name)).toContain(`mp_${TOKEN}_mixpanel`)
})

test('optOut() stops every request until optIn()', async ({ page, site, inbox }) => {
  const url = site.page(
    '/consent/opt-out.html',
    analyticsPage(base, `
      analytics.track('Tracked')
      analytics.optOut()
      analytics.identify('u1', { plan: 'pro' })
      analytics.track('While Opted Out')
      analytics.optIn()
      analytics.track('Opted In Again')
    `),
  )
  await page.goto(url)
  await inbox.until((i) => i.events('Opted In Again').length === 1)
  expect(inbox.events().map((e) => e.event)).toEqual(['Tracked', '$opt_in', 'Opted In Again'])
  expect(inbox.engage().filter((b) => b.$set?.plan)).toEqual([])
})
