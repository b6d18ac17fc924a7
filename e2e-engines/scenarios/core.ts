import { expect } from '@playwright/test'
import { own, type Scenario } from '../lib/scenario'

// The core of the wire-level suite, written once and run in Chromium, Firefox
// ESR and WebKitGTK: what leaves the page, decoded by the local collector.
// Unbatched sends (as the main e2e suite) keep each scenario short; the
// delivery scenarios (delivery.ts) keep mixpanel-browser's default batching.

const unbatched = { mixpanelConfig: { batch_requests: false } }

export const core: Scenario[] = [
  {
    name: 'page calls are named Loaded a Page and carry the page properties, name and category',
    async run(t) {
      const url = t.page(
        '/page.html',
        t.analyticsPage(unbatched, `
          analytics.page()
          analytics.page('Docs', 'Intro', { section: 'a' })
          analytics.track('Done')
        `),
      )
      await t.open(`${url}?q=1#top`)
      await t.inbox.until((i) => i.events('Done').length === 1)
      const defaults = { path: new URL(url).pathname, referrer: '', search: '?q=1', title: 'Test Page', url: `${url}?q=1` }
      expect(t.inbox.events().map((e) => [e.event, own(e.properties)])).toEqual([
        ['Loaded a Page', defaults],
        ['Loaded a Page', { ...defaults, name: 'Intro', category: 'Docs', section: 'a' }],
        ['Done', {}],
      ])
      expect(t.inbox.events('Done')[0]!.properties).toMatchObject({ token: t.token, $current_url: `${url}?q=1#top` })
    },
  },
]
