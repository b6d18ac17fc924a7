import { describe, expect, test } from 'vitest'
import { createAnalytics } from '../../src/facade'
import type { MixpanelLike } from '../../src/mixpanel/types'
import { mixpanelOff } from '../../src/runtime'

/** A loaded mixpanel-browser stand-in recording `track` calls (the facade uses it as given). */
function recorder(): { mixpanel: MixpanelLike; tracked: unknown[][] } {
  const tracked: unknown[][] = []
  const none = (): undefined => undefined
  const mixpanel = {
    __loaded: true,
    init: none,
    identify: none,
    register: none,
    track: (...args: unknown[]) => void tracked.push(args),
    alias: none,
    reset: none,
    set_group: none,
    get_group: () => ({ set: none, set_once: none }),
    get_distinct_id: () => 'device-1',
    get_property: none,
    opt_in_tracking: none,
    opt_out_tracking: none,
    has_opted_out_tracking: () => false,
    unregister: none,
    people: { set: none, union: none, increment: none, append: none },
  } satisfies MixpanelLike
  return { mixpanel, tracked }
}

describe('integrations options', () => {
  test('mixpanelOff reads Mixpanel: false, and All: false unless Mixpanel: true', () => {
    expect(mixpanelOff({ Mixpanel: false })).toBe(true)
    expect(mixpanelOff({ All: false })).toBe(true)
    expect(mixpanelOff({ All: false, Mixpanel: true })).toBe(false)
    expect(mixpanelOff({ Mixpanel: true })).toBe(false)
    expect(mixpanelOff(undefined)).toBe(false)
    expect(mixpanelOff(null)).toBe(false)
  })

  test('a facade call with integrations.Mixpanel false is skipped, and its callback still runs', async () => {
    const { mixpanel, tracked } = recorder()
    const analytics = createAnalytics({ token: 't', mparticle: false }, { mixpanel })
    let called = 0
    await analytics.track('Hidden', { a: 1 }, { integrations: { Mixpanel: false } }, () => (called += 1))
    await analytics.track('Shown', { a: 2 }, { integrations: { All: false, Mixpanel: true } })
    expect(called).toBe(1)
    expect(tracked).toEqual([['Shown', { a: 2 }]])
  })

  // The types ask for a trailing callback; plain JavaScript may place it earlier.
  test('a callback among the arguments runs, and the arguments around it keep their places', async () => {
    const { mixpanel, tracked } = recorder()
    const analytics = createAnalytics({ token: 't', mparticle: false }, { mixpanel })
    const order: string[] = []
    await analytics.track('Hidden', { a: 1 }, () => order.push('first'), { integrations: { Mixpanel: false } } as never)
    await analytics.track('Shown', undefined, undefined, () => order.push('second'))
    expect(order).toEqual(['first', 'second'])
    expect(tracked).toEqual([['Shown', {}]])
  })
})

describe('hostile arguments', () => {
  /** Deterministic pseudo-random numbers (mulberry32), so a failure replays. */
  function random(seed: number): () => number {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
  }
  const trap = (): never => {
    throw new Error('trap')
  }
  const hostile = new Proxy({}, { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap })
  const getter = Object.defineProperty({}, 'boom', { enumerable: true, get: trap })
  const cyclic: Record<string, unknown> = { a: 1 }
  cyclic.self = cyclic
  const VALUES: unknown[] = [
    undefined, null, '', 'Name', 'x'.repeat(10_000), 0, -0, 42, NaN, Infinity, 10n, Symbol('s'), true,
    [], [1, 'a'], new Date('nonsense'), new Date(0), new Map([[1, 2]]), Object.create(null), Object.freeze({ a: 1 }),
    hostile, getter, cyclic, { toJSON: trap }, { integrations: hostile }, { context: { page: hostile } }, { integrations: { All: false } },
    () => undefined, trap, { email: 'a@b.co', revenue: '$1.50', company_id: 7, length: 3 },
  ]
  const label = (value: unknown): string => {
    try {
      return String(value)
    } catch {
      return '<hostile>'
    }
  }
  const METHODS = ['page', 'screen', 'identify', 'track', 'group', 'alias', 'reset', 'ready', 'optIn', 'optOut', 'user'] as const

  test('no argument list, however odd, throws into the caller or rejects; the next well-formed call still goes through', async () => {
    const { mixpanel, tracked } = recorder()
    const analytics = createAnalytics({ token: 't', mparticle: false, groupIdentifierTraits: ['company_id'], propIncrements: ['length'] }, { mixpanel })
    const next = random(20261123)
    const pending: unknown[] = []
    for (let i = 0; i < 3000; i += 1) {
      const method = METHODS[Math.floor(next() * METHODS.length)]!
      const args = Array.from({ length: Math.floor(next() * 6) }, () => VALUES[Math.floor(next() * VALUES.length)])
      let result: unknown
      expect(() => (result = (analytics[method] as (...a: unknown[]) => unknown)(...args)), `${method}(${args.map(label).join(', ')})`).not.toThrow()
      if (method !== 'user') pending.push(result)
    }
    for (const result of pending) {
      expect(result).toBeInstanceOf(Promise)
      await expect(result).resolves.toBeUndefined()
    }
    tracked.length = 0
    await analytics.track('After', { ok: 1 })
    expect(tracked).toEqual([['After', { ok: 1 }]])
  })
})
