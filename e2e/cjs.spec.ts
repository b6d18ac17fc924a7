import { createRequire } from 'node:module'
import { expect, test } from '@playwright/test'

/** An initialised mixpanel-browser stand-in that records the calls it gets. */
function standIn(): { calls: unknown[][]; mixpanel: Record<string, unknown> } {
  const calls: unknown[][] = []
  const record = (name: string) => (...args: unknown[]) => void calls.push([name, ...args])
  const mixpanel = {
    __loaded: true,
    get_property: () => undefined,
    get_distinct_id: () => 'device-1',
    identify: record('identify'),
    register: record('register'),
    track: record('track'),
    people: { set: record('people.set') },
  }
  return { calls, mixpanel }
}

// The CommonJS build (dist/index.cjs) carries the ESM build's lazy chunks
// inline: require() alone gives a working debug output and mParticle bridge.
test('the CommonJS build works with require(), its debug sentences and mParticle bridge inline', async () => {
  const require = createRequire(import.meta.url)
  const { createAnalytics } = require('../dist/index.cjs') as typeof import('../dist/index.js')
  const { calls, mixpanel } = standIn()
  const mParticle = { ready: (f: () => void) => f(), Identity: { getCurrentUser: () => ({ getMPID: () => '42' }) } }
  const logged: unknown[][] = []
  const log = console.log
  console.log = (...args: unknown[]) => void logged.push(args)
  try {
    const analytics = createAnalytics({ token: 't', debug: true }, { mixpanel: mixpanel as never, mParticle })
    await analytics.track('')
    await analytics.track('Signed Up', { plan: 'pro' })
    await new Promise((resolve) => setTimeout(resolve, 50))
  } finally {
    console.log = log
  }
  expect(logged).toContainEqual(['[mixpanel-device-mode]', 'track call ignored: the event name must be a non-empty string'])
  // The bridge starts a microtask after creation, so its $set may come first.
  expect(calls).toHaveLength(2)
  expect(calls).toContainEqual(['track', 'Signed Up', { plan: 'pro' }])
  expect(calls).toContainEqual(['people.set', { $mparticle_user_id: '42' }])
})

// Node cannot load mixpanel-browser's ES-module source that the ESM build
// imports; the package's `node` export condition gives Node the CJS build.
test("Node's import() of the package by name gets a working build, named exports included", async () => {
  const { createAnalytics, mixpanelDestination, version } = (await import('mixpanel-device-mode')) as typeof import('../dist/index.js')
  expect(typeof mixpanelDestination).toBe('function')
  expect(version).toMatch(/^\d+\.\d+\.\d+/)
  const { calls, mixpanel } = standIn()
  const analytics = createAnalytics({ token: 't', mparticle: false }, { mixpanel: mixpanel as never })
  await analytics.track('Signed Up', { plan: 'pro' })
  expect(calls).toEqual([['track', 'Signed Up', { plan: 'pro' }]])
})
