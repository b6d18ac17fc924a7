import type { Page } from '@playwright/test'
import { expect, test, type Site } from './fixtures'

// docs/csp.md: under a strict Content-Security-Policy the script-tag build
// needs only `script-src 'self'` and one `connect-src` entry, the API host of
// the settings. Each row of its table, checked on the decoded records.

const SCRIPT = `
  const analytics = MixpanelDeviceMode.createAnalytics(Object.assign({ token: 'csp-token', groupIdentifierTraits: ['company_id'], mixpanelConfig: { batch_requests: false } }, window.SETTINGS))
  analytics.identify('u1', { plan: 'pro' })
  analytics.group('acme', { company_id: 'acme' })
  analytics.track('Done')
`

/** Serves a page with `policy` as its CSP header: the script-tag build and an inline script allowed by nonce only. */
async function strictPage(page: Page, site: Site, name: string, policy: string, settings: Record<string, unknown>): Promise<string[]> {
  const violations: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error' || /Content Security Policy/.test(message.text())) violations.push(message.text())
  })
  const url = `${site.origin}/csp/${name}.html`
  await page.route(url, (route) =>
    route.fulfill({
      status: 200,
      headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': policy },
      body: `<!doctype html><html><head><meta charset="utf-8"><title>CSP</title>
<script src="/dist/mixpanel-device-mode.iife.js"></script></head>
<body><script nonce="n0nce">window.SETTINGS = ${JSON.stringify(settings)}; ${SCRIPT}</script></body></html>`,
    }),
  )
  await page.goto(url)
  return violations
}

const strict = (connect: string): string => `default-src 'none'; script-src 'self' 'nonce-n0nce'; connect-src ${connect}`

const ROWS: Array<[string, Record<string, unknown>, string]> = [
  ['default', {}, 'https://api-js.mixpanel.com'],
  ["dataResidency: 'eu'", { dataResidency: 'eu' }, 'https://api-eu.mixpanel.com'],
  ['enableEuropeanUnionEndpoint: true', { enableEuropeanUnionEndpoint: true }, 'https://api-eu.mixpanel.com'],
  ["dataResidency: 'in'", { dataResidency: 'in' }, 'https://api-in.mixpanel.com'],
  ['apiHost', { apiHost: 'https://mp-proxy.example.test' }, 'https://mp-proxy.example.test'],
  ['mixpanelConfig.api_host', { dataResidency: 'eu', mixpanelConfig: { batch_requests: false, api_host: 'https://mp-proxy.example.test' } }, 'https://mp-proxy.example.test'],
]

for (const [label, settings, host] of ROWS) {
  test(`CSP ${label}: connect-src ${host} is the only entry events, profile and group updates need`, async ({ page, context, site, inbox }) => {
    await inbox.attach(context, /^https:\/\/mp-proxy\.example\.test\//)
    const violations = await strictPage(page, site, label.replace(/\W+/g, '-'), strict(host), settings)
    await inbox.until((i) => i.events('Done').length === 1 && i.groups().length === 1 && i.engage().some((b) => b.$set?.plan === 'pro'))
    expect([...new Set(inbox.records.map((r) => `${r.endpoint}@${r.host}`))].sort()).toEqual(['engage', 'groups', 'track'].map((e) => `${e}@${new URL(host).host}`))
    expect(violations).toEqual([])
  })
}

test('CSP: an EU project with only the US host allowed sends nothing, and the browser says why', async ({ page, site, inbox }) => {
  const violations = await strictPage(page, site, 'eu-blocked', strict('https://api-js.mixpanel.com'), { dataResidency: 'eu' })
  await expect.poll(() => violations.some((text) => text.includes('api-eu.mixpanel.com') && text.includes('connect-src'))).toBe(true)
  // Nothing was thrown into the page: the calls after the first ran (their requests were refused too).
  await expect.poll(() => violations.filter((text) => text.includes('api-eu.mixpanel.com')).length).toBeGreaterThanOrEqual(3)
  expect(inbox.requests).toEqual([])
})
