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
    people: { set: none, set_once: none, union: none, increment: none, append: none },
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
