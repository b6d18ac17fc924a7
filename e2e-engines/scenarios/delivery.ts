import { expect } from '@playwright/test'
import type { Scenario, ScenarioContext } from '../lib/scenario'

// Leaving a page with events in flight, in every engine, through the
// library's delivery queue (records stored before a call resolves, a
// keepalive request when the page is left, a re-send by the next page). The
// short flush interval is left from when these ran on mixpanel-browser's own
// batching; the queue ignores it. The expectation is the library's delivery promise
// (docs/behaviour.md, "Delivery"): every event whose call resolved is counted
// once by Mixpanel, i.e. arrives at least once, and every copy carries the
// same $insert_id. Raw copies are printed: engines differ in how many arrive.

const FLUSH_MS = 500
/** A left page that did not release its lease: it lapses after 20 s, the next heartbeat is within 5 s (docs/delivery.md). */
const LEASE_LAPSE_TIMEOUT = 45_000
const batched = { mixpanelConfig: { batch_flush_interval_ms: FLUSH_MS } }

/**
 * Page script: `log(name)` records a resolved call in localStorage, which
 * outlives the page (the scenario's host is its own origin).
 */
const LOG = `
  const log = (name) => localStorage.setItem('test:resolved', JSON.stringify([...JSON.parse(localStorage.getItem('test:resolved') || '[]'), name]))
  addEventListener('pagehide', (event) => localStorage.setItem('test:pagehide.persisted', String(event.persisted)))
`

/**
 * After the next page loaded: waits until every resolved call's event (and
 * `arrived`) is in, lets late copies arrive, and checks each is counted once.
 */
async function expectResolvedDeliveredOnce(t: ScenarioContext, tab: { evaluate<T>(body: string): Promise<T> }, arrived: string, mustResolve: string[]): Promise<string[]> {
  const { resolved, persisted } = await tab.evaluate<{ resolved: string[]; persisted: string | null }>(
    `return { resolved: JSON.parse(localStorage.getItem('test:resolved') || '[]'), persisted: localStorage.getItem('test:pagehide.persisted') }`,
  )
  expect(resolved).toEqual(expect.arrayContaining(mustResolve))
  const missing = (): string[] => [...resolved, arrived].filter((name) => t.inbox.events(name).length === 0)
  // The next page is live and sending once its own event is in; what the left
  // page kept is sent at once when the left page released its lease, and
  // after the lease lapses (20 s) and the next heartbeat (5 s) when it did not:
  // Firefox sometimes runs no pagehide work for a tab closed this way
  // (docs/browsers.md).
  await t.inbox.until((i) => i.events(arrived).length > 0, 20_000)
  const waitFrom = Date.now()
  await t.inbox.until(() => missing().length === 0, LEASE_LAPSE_TIMEOUT).catch((error: Error) => {
    throw new Error(`${error.message}: never arrived: ${missing().join(', ')}; arrived: ${t.inbox.raw().map((r) => r.body.event ?? r.endpoint).join(', ')}`)
  })
  const waited = Date.now() - waitFrom
  // Copies re-sent from the left page's queue come up to two flush intervals later.
  await new Promise((resolve) => setTimeout(resolve, 3 * FLUSH_MS))
  const counts = Object.fromEntries([...resolved, arrived].map((name) => [name, t.inbox.events(name).length]))
  const raw = t.inbox.duplicates()
  console.log(`[delivery] ${t.engine}: ${resolved.length} resolved; the left page's events in ${waited} ms after the next page's; raw duplicates ${JSON.stringify(raw)}; pagehide.persisted=${persisted}`)
  expect(counts).toEqual(Object.fromEntries([...resolved, arrived].map((name) => [name, 1])))
  return resolved
}

/**
 * Leaving a page: mixpanel-browser 2.83 alone loses events tracked in the last
 * moments of a page (19–20 of 20 before a reload, measured in every engine);
 * the delivery queue stores each record before the call resolves, so every
 * resolved event must arrive, counted once (docs/delivery.md).
 */

export const delivery: Scenario[] = [
  {
    name: 'an event tracked right before navigating is counted once',
    async run(t) {
      const next = t.page('/leave-b.html', t.analyticsPage(batched, `analytics.track('Arrived').then(() => (window.arrived = true))`))
      const url = t.page(
        '/leave-a.html',
        t.analyticsPage(batched, `${LOG}
          addEventListener('load', () => setTimeout(async () => {
            await analytics.track('Awaited')
            log('Awaited')
            analytics.track('Left Behind').then(() => log('Left Behind'))
            location.href = ${JSON.stringify(next)}
          }, 0))
        `),
      )
      const tab = await t.open(url)
      await tab.waitFor(`return location.pathname.endsWith('/leave-b.html') && window.arrived === true`, 20_000)
      await expectResolvedDeliveredOnce(t, tab, 'Arrived', ['Awaited'])
    },
  },
  {
    name: 'events tracked right before a reload are each counted once',
    async run(t) {
      const N = 20
      const url = t.page(
        '/reload.html',
        t.analyticsPage(batched, `${LOG}
          if (localStorage.getItem('test:reloaded')) {
            analytics.track('After Reload').then(() => (window.arrived = true))
          } else {
            addEventListener('load', () => setTimeout(async () => {
              await analytics.track('Awaited')
              log('Awaited')
              for (let n = 1; n <= ${N}; n++) analytics.track('Burst ' + n, { n }).then(() => log('Burst ' + n))
              localStorage.setItem('test:reloaded', '1')
              location.reload()
            }, 0))
          }
        `),
      )
      const tab = await t.open(url)
      await tab.waitFor(`return window.arrived === true`, 20_000)
      const resolved = await expectResolvedDeliveredOnce(t, tab, 'After Reload', ['Awaited'])
      // Calls resolve when handed over; a resolved burst event must not be lost.
      expect(resolved.length).toBeGreaterThan(1)
    },
  },
  {
    name: 'an event tracked right before the tab is closed is counted once when the site is opened again',
    async run(t) {
      // Another tab of the same profile stays open, as a browser window would.
      const keep = await t.open(t.page('/close-keep.html', '<!doctype html><title>keep</title>'))
      const url = t.page(
        '/close-a.html',
        t.analyticsPage(batched, `${LOG}
          ;(async () => {
            await analytics.track('Awaited')
            log('Awaited')
            analytics.track('Left Behind').then(() => log('Left Behind'))
          })()
        `),
      )
      // Closed as soon as the page has loaded: the calls above ran just before.
      const tab = await keep.openTab(url)
      await tab.close()
      await keep.navigate(t.page('/close-b.html', t.analyticsPage(batched, `analytics.track('Arrived').then(() => (window.arrived = true))`)))
      await keep.waitFor('return window.arrived === true', 20_000)
      await expectResolvedDeliveredOnce(t, keep, 'Arrived', ['Awaited'])
    },
  },
]
