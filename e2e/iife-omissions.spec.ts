import { analyticsPage, expect, iifePage, test, watch } from './fixtures'

// What the script-tag build leaves out of mixpanel-browser's core because no
// supported browser or feature of this package needs it (rollup.config.mjs
// IIFE_STUBS / IIFE_EDITS, docs/performance.md "What the script-tag build
// leaves out"): the behaviour each piece served is still correct, or it says
// it is absent.

const TOKEN = 'omit-token'
const base = { token: TOKEN, mixpanelConfig: { batch_requests: false } }
const LEAVES_OUT = "[mixpanel-device-mode] the script-tag build leaves out mixpanel-browser's"
const saidMissing = (lines: string[]) => lines.filter((line) => line.includes(LEAVES_OUT))

test('track_links and track_forms say they are left out (once), return false and track nothing', async ({ page, site, inbox }) => {
  await inbox.attach(page)
  const seen = watch(page)
  await page.goto(site.page('/omit/dom.html', analyticsPage(base).replace('<body>', '<body><a id="link" href="#there">link</a>')))
  const returned = await page.evaluate(() => {
    const mp = (window as any).analytics.mixpanel
    return [mp.track_links('#link', 'Clicked Link'), mp.track_forms('form', 'Sent Form')]
  })
  await page.click('#link')
  await page.evaluate(() => (window as any).analytics.track('After'))
  await inbox.until((i) => i.events('After').length === 1)
  expect(returned).toEqual([false, false])
  // Said only once the page has loaded (mixpanel-browser queues DOM tracking until then).
  expect(saidMissing(seen.console)).toEqual([`error: ${LEAVES_OUT} track_links and track_forms: use the npm package, or pass your own mixpanel-browser as deps.mixpanel`])
  expect(inbox.events().map((e) => e.event)).toEqual(['After'])
  expect(seen.errors).toEqual([])
})

test("the delivery queue sends JSON whatever api_payload_format says, and characters outside the BMP arrive intact", async ({ page, site, inbox }) => {
  await inbox.attach(page)
  // mixpanel-browser's base64 encoder (left out) wrote emoji as CESU-8; the queue sends the record's JSON (docs/delivery.md).
  const settings = { ...base, mixpanelConfig: { api_payload_format: 'base64' } }
  await page.goto(site.page('/omit/base64.html', analyticsPage(settings, `analytics.track('Emoji', { text: 'café 🎉 日本' })`)))
  await inbox.until((i) => i.events('Emoji').length === 1)
  const request = inbox.requests.find((r) => r.url().includes('/track'))!
  const data = new URLSearchParams(request.postData()!).get('data')!
  expect(JSON.parse(data)[0].properties.text).toBe('café 🎉 日本')
})

test('remote settings say they are left out and make no request; tracking goes on', async ({ page, site, inbox }) => {
  await inbox.attach(page)
  const seen = watch(page)
  const settings = { ...base, mixpanelConfig: { batch_requests: false, remote_settings_mode: 'strict' } }
  await page.goto(site.page('/omit/remote.html', analyticsPage(settings, `analytics.track('Visit')`)))
  await inbox.until((i) => i.events('Visit').length === 1)
  expect(inbox.requests.map((r) => new URL(r.url()).pathname)).toEqual(['/track/'])
  expect(saidMissing(seen.console)).toEqual([
    `error: ${LEAVES_OUT} remote settings (remote_settings_mode strict): use the npm package, or pass your own mixpanel-browser as deps.mixpanel`,
  ])
  expect(seen.errors).toEqual([])
})

test('events are delivered with the native Promise, and the state (native JSON) is read back on the next page', async ({ page, site, inbox }) => {
  await inbox.attach(page)
  await page.goto(site.page('/omit/batch-1.html', analyticsPage({ token: TOKEN }, `analytics.identify('u1', { plan: 'pro' }); analytics.track('Batched')`)))
  await inbox.until((i) => i.events('Batched').length === 1)
  await page.goto(site.page('/omit/batch-2.html', analyticsPage({ token: TOKEN }, `analytics.track('Next Page')`)))
  await inbox.until((i) => i.events('Next Page').length === 1)
  expect(inbox.events('Next Page')[0]!.properties).toMatchObject({ distinct_id: 'u1', $user_id: 'u1', plan: 'pro' })
})

test("the page's own window.onload is left alone and runs; no tab id in sessionStorage", async ({ page, site, inbox }) => {
  await inbox.attach(page)
  const html = iifePage(
    `window.analytics = MixpanelDeviceMode.createAnalytics(${JSON.stringify(base)}); analytics.track('Visit')`,
    `<script>window.onload = function pageOnload() { window.loadedByPage = true }</script>`,
  )
  await page.goto(site.page('/omit/onload.html', html))
  await inbox.until((i) => i.events('Visit').length === 1)
  expect(
    await page.evaluate(() => {
      const w = window as any
      return [w.loadedByPage, w.onload.name, w.analytics.mixpanel.get_tab_id(), sessionStorage.length, w.analytics.mixpanel.get_config('record_sessions_percent')]
    }),
  ).toEqual([true, 'pageOnload', null, 0, undefined])
})
