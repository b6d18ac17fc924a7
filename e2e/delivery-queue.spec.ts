import type { Page, Route } from '@playwright/test'
import { analyticsPage, expect, MIXPANEL_HOSTS, own, test, watch } from './fixtures'

// The delivery queue (docs/delivery.md): every record mixpanel-browser
// finishes is stored before the call resolves, sent by fetch in batches,
// retried until Mixpanel answers 2xx, and taken over by the next page when
// this one is left. Beacons and keepalive requests sent while a page is left
// never reach Playwright's routing (the fixture drops them): what arrives
// here was sent by a page that was alive.

const TOKEN = 'queue-token'
const PREFIX = '[mixpanel-device-mode]'

/** The queue's records still stored by the page (key → event or update). */
const stored = (page: Page): Promise<string[]> =>
  page.evaluate((prefix) => Object.keys(localStorage).filter((key) => key.startsWith(prefix) && key.includes('.')), `__mpdm_${TOKEN}_`)

/** One record per $insert_id (what Mixpanel counts), in order of arrival. */
const unique = (events: Record<string, any>[]): Record<string, any>[] =>
  events.filter((e, i) => events.findIndex((o) => o.properties.$insert_id === e.properties.$insert_id) === i)

/** Answers the Mixpanel hosts with `answer(n)` for the n-th request (from 0), 200 when it returns undefined; records go to the inbox only when answered 200. */
async function failFirst(page: Page, answer: (n: number, route: Route) => Promise<boolean> | boolean): Promise<void> {
  let n = 0
  await page.route(MIXPANEL_HOSTS, async (route) => {
    if (!(await answer(n++, route))) await route.fallback()
  })
}

test('an event tracked on a link click, right before the page is left, is sent once by the next page with the same $insert_id and time', async ({ page, site, inbox }) => {
  site.page('/queue/next.html', analyticsPage({ token: TOKEN }, `analytics.track('Next Page')`))
  const url = site.page(
    '/queue/leaving.html',
    analyticsPage({ token: TOKEN }, `
      document.getElementById('go').addEventListener('click', () => {
        analytics.track('Clicked Link', { n: 1 })
        analytics.track('Clicked Link', { n: 2 })
        window.sent = JSON.parse(JSON.stringify(Object.entries(localStorage).filter(([key]) => key.startsWith('__mpdm_${TOKEN}_') && key.includes('.'))))
        sessionStorage.setItem('sent', JSON.stringify(window.sent))
      })
    `).replace('<body>', '<body><a id="go" href="/queue/next.html">next</a>'),
  )
  await page.goto(url)
  await page.click('#go')
  await page.waitForURL('**/queue/next.html')
  const queued = (JSON.parse((await page.evaluate(() => sessionStorage.getItem('sent')))!) as [string, string][])
    .sort(([a], [b]) => +a.split('.')[1]! - +b.split('.')[1]!)
    .map(([, value]) => JSON.parse(value.split('\n')[2]!))
  expect(queued.map((e) => [e.event, own(e.properties)])).toEqual([['Clicked Link', { n: 1 }], ['Clicked Link', { n: 2 }]])

  await inbox.until((i) => unique(i.events('Clicked Link')).length === 2 && i.events('Next Page').length === 1)
  // Sent by the first page before it went, or by the next one: once after $insert_id dedupe, same time.
  expect(unique(inbox.events('Clicked Link')).map((e) => [own(e.properties), e.properties.$insert_id, e.properties.time])).toEqual(
    queued.map((e) => [own(e.properties), e.properties.$insert_id, e.properties.time]),
  )
  console.log(`raw copies of 2 events: ${inbox.events('Clicked Link').length}`)
  await expect.poll(() => stored(page)).toEqual([])
})
