import { rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { BrowserContext, Page } from '@playwright/test'
import { expect, MixpanelInbox, omit, own, ownSet, test, watch, type Site } from './fixtures'
import { bundleSpa } from './spa/bundle'

// The ESM build (dist/index.js) inside a bundled single-page app sends the
// same payloads as the script-tag build for page + identify + track (docs/behaviour.md, "Calls").

// Bundled once per worker (the tests below run in order in one worker).
test.describe.configure({ mode: 'default' })

const RUN = `run-${process.pid}-${Date.now()}`
const OUT = fileURLToPath(new URL(`./spa/dist/${RUN}/`, import.meta.url))
const ASSETS = `/e2e/spa/dist/${RUN}`

test.beforeAll(async () => {
  test.setTimeout(60_000)
  await bundleSpa(OUT)
})

test.afterAll(async () => {
  await rm(OUT, { recursive: true, force: true })
})

type Build = 'esm' | 'iife'

/** Serves the SPA shell for every /app/ route (deep links work), for one build. */
async function serveApp(context: BrowserContext, site: Site, build: Build): Promise<void> {
  const scripts =
    build === 'esm'
      ? `<script type="module" src="${ASSETS}/main.js"></script>`
      : `<script src="/dist/mixpanel-device-mode.iife.js"></script><script type="module" src="${ASSETS}/iife-main.js"></script>`
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>App</title></head><body><div id="app"></div>${scripts}</body></html>`
  await context.route(`${site.origin}/app/**`, (route) => route.fulfill({ body: html, contentType: 'text/html' }))
}

/** Sign in, go to Pricing, buy: page + identify + page + track. */
async function scenario(page: Page, site: Site, inbox: MixpanelInbox): Promise<void> {
  await page.goto(`${site.origin}/app/`)
  await inbox.until((i) => i.events('Loaded a Page').length === 1)
  await page.click('#sign-in')
  await inbox.until((i) => i.events('$identify').length === 1 && i.engage().some((b) => b.$union))
  await page.click('a[data-link]')
  await page.waitForURL('**/app/pricing')
  await page.click('#buy')
  await inbox.until((i) => i.events('Order Completed').length === 1 && i.engage().some((b) => b.$append))
}

/** The records with what differs between two runs replaced: ids, times, the device. */
function comparable(inbox: MixpanelInbox): unknown[] {
  const device = inbox.events()[0]!.properties.$device_id as string
  const text = JSON.stringify(inbox.records.map((r) => ({ endpoint: r.endpoint, host: r.host, transport: r.transport, body: r.body })))
  return JSON.parse(text.split(device).join('<device>'), (key, value) =>
    key === '$insert_id' || key === 'time' || key === '$time' || key === 'Last Order Completed' ? `<${key}>` : value,
  )
}

test('the ESM build in a bundled SPA sends the same payloads as the script-tag build for page, identify and track', async ({ browser, page, context, site, inbox }) => {
  await serveApp(context, site, 'esm')
  await scenario(page, site, inbox)

  // What the SPA sent, exactly.
  const origin = site.origin
  expect(inbox.events().map((e) => [e.event, own(e.properties)])).toEqual([
    ['Loaded a Page', { path: '/app/', referrer: '', search: '', title: 'Home', url: `${origin}/app/`, name: 'Home', app: 'spa' }],
    ['$identify', expect.any(Object)],
    [
      'Loaded a Page',
      {
        path: '/app/pricing', referrer: '', search: '', title: 'Pricing', url: `${origin}/app/pricing`, name: 'Pricing', app: 'spa',
        email: 'spa@example.com', firstName: 'Spa', lastName: 'User', plan: 'pro', signedUpAt: '2023-01-01T00:00:00.000Z', tags: ['beta'],
        id: 'spa-user', mp_name_tag: 'spa@example.com',
      },
    ],
    [
      'Order Completed',
      {
        total: '$10.50', quantity: 2, products: [{ sku: 'a-1', price: 5.25 }], placedAt: '2023-06-01T12:00:00.000Z',
        email: 'spa@example.com', firstName: 'Spa', lastName: 'User', plan: 'pro', signedUpAt: '2023-01-01T00:00:00.000Z', tags: ['beta'],
        id: 'spa-user', mp_name_tag: 'spa@example.com',
      },
    ],
  ])
  const profile = inbox.engage().filter((b) => b.$distinct_id === 'spa-user' && !b.$set_once)
  expect(profile.map((b) => omit(b, ['$token', '$distinct_id', '$device_id', '$user_id'])).map((b) => (b.$set ? { $set: ownSet(b.$set) } : b))).toEqual([
    {
      $set: {
        $email: 'spa@example.com', $first_name: 'Spa', $last_name: 'User', $name: 'Spa User', plan: 'pro',
        signedUpAt: '2023-01-01T00:00:00.000Z', id: 'spa-user',
      },
    },
    { $union: { tags: ['beta'] } },
    { $add: { 'Order Completed': 1, quantity: 2 } },
    { $set: { 'Last Order Completed': expect.stringMatching(/^\d{4}-\d\d-\d\dT/) } },
    { $append: { $transactions: { $amount: 10.5, $time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) } } },
  ])

  // The same app on the script-tag build, in a fresh context: the same records.
  const other = await browser.newContext()
  try {
    const iifeInbox = new MixpanelInbox()
    await other.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort())
    await iifeInbox.attach(other)
    await serveApp(other, site, 'iife')
    await scenario(await other.newPage(), site, iifeInbox)
    expect(comparable(inbox)).toEqual(comparable(iifeInbox))
  } finally {
    await other.close()
  }
})

test('SPA route changes and back navigation each send a page view with the route path, url and title', async ({ page, context, site, inbox }) => {
  await serveApp(context, site, 'esm')
  await page.goto(`${site.origin}/app/pricing?ref=ad`)
  await inbox.until((i) => i.events('Loaded a Page').length === 1)
  await page.click('a[data-link]')
  await inbox.until((i) => i.events('Loaded a Page').length === 2)
  await page.goBack()
  await inbox.until((i) => i.events('Loaded a Page').length === 3)
  expect(inbox.events('Loaded a Page').map((e) => own(e.properties))).toEqual([
    { path: '/app/pricing', referrer: '', search: '?ref=ad', title: 'Pricing', url: `${site.origin}/app/pricing?ref=ad`, name: 'Pricing', app: 'spa' },
    { path: '/app/', referrer: '', search: '', title: 'Home', url: `${site.origin}/app/`, name: 'Home', app: 'spa' },
    { path: '/app/pricing', referrer: '', search: '?ref=ad', title: 'Pricing', url: `${site.origin}/app/pricing?ref=ad`, name: 'Pricing', app: 'spa' },
  ])
})

test("the ESM build's lazy chunks load only when used: debug sentences with debug on, the bridge once mParticle is there", async ({ page, site, inbox }) => {
  const chunks: string[] = []
  page.on('request', (request) => {
    const name = new URL(request.url()).pathname.split('/').pop()!
    if (name === 'messages.js' || name === 'bridge.js') chunks.push(name)
  })
  const seen = watch(page)
  // A stand-in for the mParticle SDK with a current user, set after our module ran.
  const mParticle = `{ ready: (f) => f(), Identity: { getCurrentUser: () => ({ getMPID: () => '8675309' }) } }`
  const open = async (settings: Record<string, unknown>, later = ''): Promise<void> => {
    const html = `<!doctype html><html><head><meta charset="utf-8"><title>Lazy</title></head><body>
<script>window.SETTINGS = ${JSON.stringify({ token: 'lazy-token', mixpanelConfig: { batch_requests: false }, ...settings })}</script>
<script type="module">
  await import('${ASSETS}/lazy-main.js')
  await analytics.identify('lazy-user')
  await analytics.track('')
  ${later}
  await new Promise((resolve) => setTimeout(resolve, 200))
  await analytics.track('Done')
</script></body></html>`
    await page.goto(site.page(`/lazy/${chunks.length}-${Date.now()}.html`, html))
  }

  // Neither: no chunk is fetched, nothing is written to the console.
  await open({})
  await inbox.until((i) => i.events('Done').length === 1)
  expect(chunks).toEqual([])
  expect(seen.console).toEqual([])

  // debug: the sentences arrive, a moment after the call.
  await open({ debug: true })
  await inbox.until((i) => i.events('Done').length === 2)
  expect(chunks).toEqual(['messages.js'])
  expect(seen.console.filter((line) => line.startsWith('log: [mixpanel-device-mode]'))).toContain(
    'log: [mixpanel-device-mode] track call ignored: the event name must be a non-empty string',
  )

  // mParticle assigned after start: the bridge loads and sets the MPID on the profile.
  await open({}, `window.mParticle = ${mParticle}`)
  await inbox.until((i) => i.events('Done').length === 3 && i.engage().some((b) => b.$set?.$mparticle_user_id))
  expect(chunks).toEqual(['messages.js', 'bridge.js'])
  expect(inbox.engage().filter((b) => b.$set?.$mparticle_user_id).map((b) => [b.$distinct_id, b.$set.$mparticle_user_id])).toEqual([['lazy-user', '8675309']])
})
