import { describe, expect, test } from 'vitest'
import { createAnalytics } from '../../src/facade'
import { withOneRead } from '../../src/mixpanel/persistence-once'
import type { MixpanelLike } from '../../src/mixpanel/types'

/** A stand-in for mixpanel-browser's MixpanelPersistence: `load()` re-reads `stored` into `props`, `save()` writes it. */
class FakePersistence {
  props: Record<string, unknown> = {}
  loads = 0
  saves = 0
  constructor(public stored: Record<string, unknown> = {}) {}
  load(): void {
    this.loads += 1
    this.props = { ...this.stored }
  }
  save(): void {
    this.saves += 1
    this.stored = { ...this.props }
  }
  remove(): void {
    this.stored = {}
  }
  clear(): void {
    this.remove()
    this.props = {}
  }
  register(props: Record<string, unknown>): void {
    this.load()
    Object.assign(this.props, props)
    this.save()
  }
  get(name: string): unknown {
    this.load()
    return this.props[name]
  }
}

const instance = (persistence: unknown): MixpanelLike => ({ persistence }) as unknown as MixpanelLike

describe('withOneRead', () => {
  test('reads the persistence once per call and writes it once, at the end', () => {
    const p = new FakePersistence({ distinct_id: 'd1' })
    const seen = withOneRead(instance(p), () => {
      const first = p.get('distinct_id')
      p.register({ plan: 'pro' })
      p.register({ tier: 2 })
      return [first, p.get('plan'), p.get('tier')]
    })
    expect(seen).toEqual(['d1', 'pro', 2])
    expect(p.loads).toBe(1)
    expect(p.saves).toBe(1)
    expect(p.stored).toEqual({ distinct_id: 'd1', plan: 'pro', tier: 2 })
  })

  test('fresh (the entry was read by init() in this task): the call reads it not at all and still writes once', () => {
    const p = new FakePersistence({ distinct_id: 'd1' })
    p.load()
    p.loads = 0
    const seen = withOneRead(instance(p), () => (p.register({ plan: 'pro' }), [p.get('distinct_id'), p.get('plan')]), true)
    expect(seen).toEqual(['d1', 'pro'])
    expect(p.loads).toBe(0)
    expect(p.saves).toBe(1)
    expect(p.stored).toEqual({ distinct_id: 'd1', plan: 'pro' })
  })

  test('nothing is written by a call that changes nothing', () => {
    const p = new FakePersistence({ plan: 'pro' })
    withOneRead(instance(p), () => p.get('plan'))
    expect(p.saves).toBe(0)
  })

  test('an entry removed after the last change stays removed (reset, opt-out)', () => {
    const p = new FakePersistence({ plan: 'free' })
    withOneRead(instance(p), () => {
      p.register({ plan: 'pro' })
      p.clear()
    })
    expect(p.saves).toBe(0)
    expect(p.stored).toEqual({})
  })

  test('a change after a removal is written (reset, then a new device id)', () => {
    const p = new FakePersistence({ plan: 'free' })
    withOneRead(instance(p), () => {
      p.register({ plan: 'pro' })
      p.clear()
      p.register({ device: 'd2' })
    })
    expect(p.saves).toBe(1)
    expect(p.stored).toEqual({ device: 'd2' })
  })

  test('the write happens also when the call throws', () => {
    const p = new FakePersistence()
    expect(() => withOneRead(instance(p), () => (p.register({ plan: 'pro' }), JSON.parse('{')))).toThrow()
    expect(p.stored).toEqual({ plan: 'pro' })
  })

  test('each call reads afresh: a change made between calls is seen', () => {
    const p = new FakePersistence({ plan: 'free' })
    const mp = instance(p)
    expect(withOneRead(mp, () => p.get('plan'))).toBe('free')
    p.stored = { plan: 'pro' }
    expect(withOneRead(mp, () => p.get('plan'))).toBe('pro')
    expect(p.loads).toBe(2)
  })

  test('puts the prototype methods back after the call, also when the call throws', () => {
    const p = new FakePersistence()
    expect(() => withOneRead(instance(p), () => { throw new Error('boom') })).toThrow('boom')
    expect(['load', 'save', 'remove'].filter((name) => Object.prototype.hasOwnProperty.call(p, name))).toEqual([])
    p.get('x')
    p.get('x')
    expect(p.loads).toBe(2)
  })

  test("puts back a page's own wrapper of load, which then sees the one read", () => {
    const p = new FakePersistence()
    let wrapped = 0
    const original = p.load
    const wrapper = function (this: FakePersistence) {
      wrapped += 1
      original.call(this)
    }
    p.load = wrapper
    withOneRead(instance(p), () => [p.get('a'), p.get('b'), p.get('c')])
    expect(wrapped).toBe(1)
    expect(p.load).toBe(wrapper)
  })

  test('a nested call shares the outer read', () => {
    const p = new FakePersistence()
    const mp = instance(p)
    withOneRead(mp, () => {
      p.get('a')
      withOneRead(mp, () => p.get('b'))
      p.get('c')
    })
    expect(p.loads).toBe(1)
    expect(Object.prototype.hasOwnProperty.call(p, 'load')).toBe(false)
  })

  test.each([
    ['no persistence', undefined],
    ['a persistence without load()', { props: {} }],
    ['a persistence without props', { load() {}, save() {}, remove() {} }],
    ['a persistence without save()', { props: {}, load() {}, remove() {} }],
  ])('runs the call as usual when mixpanel-browser has %s (another version)', (_, persistence) => {
    expect(withOneRead(instance(persistence), () => 'ran')).toBe('ran')
  })

  test('runs the call as usual when load cannot be replaced (a frozen persistence)', () => {
    let reads = 0
    const frozen = Object.freeze({ props: {}, load: () => void (reads += 1), save() {}, remove() {} })
    expect(withOneRead(instance(frozen), () => (frozen.load(), frozen.load(), 'ran'))).toBe('ran')
    expect(reads).toBe(2)
  })
})

describe("a page's own mixpanel-browser given as deps.mixpanel", () => {
  test('reads and writes as it always does: another instance or the page itself may share its entry', async () => {
    const p = new FakePersistence({ distinct_id: 'device-1' })
    const none = (): undefined => undefined
    const mixpanel = {
      __loaded: true,
      persistence: p,
      init: none,
      identify: none,
      register: (props: Record<string, unknown>) => p.register(props),
      // As mixpanel-browser's track does: it reads the entry again and saves.
      track: () => (p.get('distinct_id'), p.register({ $initial_referrer: '$direct' })),
      alias: none,
      reset: none,
      set_group: none,
      get_group: () => ({ set: none, set_once: none }),
      get_distinct_id: () => p.get('distinct_id') as string,
      get_property: (name: string) => p.get(name),
      unregister: none,
      opt_in_tracking: none,
      opt_out_tracking: none,
      has_opted_out_tracking: () => false,
      people: { set: none, set_once: none, union: none, increment: none, append: none },
    }
    const analytics = createAnalytics({ token: 't', superProperties: ['plan'] }, { mixpanel })
    const before = { loads: p.loads, saves: p.saves }
    await analytics.track('Bought', { plan: 'pro' })
    // track (two reads, a save), then register (a read, a save): nothing skipped or merged.
    expect({ loads: p.loads - before.loads, saves: p.saves - before.saves }).toEqual({ loads: 3, saves: 2 })
    expect(Object.prototype.hasOwnProperty.call(p, 'load')).toBe(false)
  })
})
