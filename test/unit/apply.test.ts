import { describe, expect, test } from 'vitest'
import { apply } from '../../src/mixpanel/apply'
import type { MixpanelLike } from '../../src/mixpanel/types'
import type { Operation } from '../../src/types'
import { run } from './helpers'

type Call = [method: string, ...args: unknown[]]

/** A mixpanel-browser stand-in that records each call with its exact arguments. */
function fake(throwing: string[] = []): { mixpanel: MixpanelLike; calls: Call[] } {
  const calls: Call[] = []
  const record = (method: string) => (...args: unknown[]) => {
    calls.push([method, ...args])
    if (throwing.includes(method)) throw new Error(`${method} failed`)
  }
  const mixpanel: MixpanelLike = {
    __loaded: true,
    init: record('init'),
    identify: record('identify'),
    register: record('register'),
    track: record('track'),
    alias: record('alias'),
    reset: record('reset'),
    set_group: record('set_group'),
    get_group: (key, id) => {
      calls.push(['get_group', key, id])
      return { set: record('group.set'), set_once: record('group.set_once') }
    },
    get_distinct_id: () => 'device-1',
    get_property: () => undefined,
    unregister: record('unregister'),
    opt_in_tracking: record('opt_in_tracking'),
    opt_out_tracking: record('opt_out_tracking'),
    has_opted_out_tracking: () => false,
    people: {
      set: record('people.set'),
      union: record('people.union'),
      increment: record('people.increment'),
      append: record('people.append'),
    },
  }
  return { mixpanel, calls }
}

const cases: [string, Operation, Call[]][] = [
  ['identify', { op: 'identify', id: 'u1' }, [['identify', 'u1']]],
  ['register', { op: 'register', props: { plan: 'pro' } }, [['register', { plan: 'pro' }]]],
  ['people.set', { op: 'people.set', props: { $email: 'a@b.co' } }, [['people.set', { $email: 'a@b.co' }]]],
  ['people.union', { op: 'people.union', props: { tags: ['x'] } }, [['people.union', { tags: ['x'] }]]],
  ['people.increment', { op: 'people.increment', props: { Bought: 1, items: 2 } }, [['people.increment', { Bought: 1, items: 2 }]]],
  [
    'people.append',
    { op: 'people.append', props: { $transactions: { $amount: 5, $time: 't' } } },
    [['people.append', { $transactions: { $amount: 5, $time: 't' } }]],
  ],
  ['track', { op: 'track', event: 'Signed Up', props: { plan: 'pro' } }, [['track', 'Signed Up', { plan: 'pro' }]]],
  ['set_group', { op: 'set_group', key: 'company_id', id: 'c1' }, [['set_group', 'company_id', 'c1']]],
  [
    'group.set',
    { op: 'group.set', key: 'company_id', id: 'c1', props: { name: 'Acme' } },
    [['get_group', 'company_id', 'c1'], ['group.set', { name: 'Acme' }]],
  ],
  [
    'group.set_once',
    { op: 'group.set_once', key: 'company_id', id: 'c1', props: { founded: 1990 } },
    [['get_group', 'company_id', 'c1'], ['group.set_once', { founded: 1990 }]],
  ],
  ['unregister', { op: 'unregister', name: 'length' }, [['unregister', 'length']]],
  ['opt_in', { op: 'opt_in' }, [['opt_in_tracking']]],
  // mixpanel-browser's own default would delete the profile.
  ['opt_out', { op: 'opt_out', deleteUser: false }, [['opt_out_tracking', { delete_user: false }]]],
  ['opt_out deleting the user', { op: 'opt_out', deleteUser: true }, [['opt_out_tracking', { delete_user: true }]]],
  ['alias without original', { op: 'alias', alias: 'new-id' }, [['alias', 'new-id']]],
  ['alias with original', { op: 'alias', alias: 'new-id', original: 'old-id' }, [['alias', 'new-id', 'old-id']]],
  ['reset', { op: 'reset' }, [['reset']]],
]

describe('apply', () => {
  test.each(cases)('the %s operation makes exactly the matching mixpanel-browser call', (_name, op, expected) => {
    const { mixpanel, calls } = fake()
    expect(apply(mixpanel, [op])).toEqual([])
    expect(calls).toEqual(expected)
  })

  test('operations are applied in order', () => {
    const { mixpanel, calls } = fake()
    apply(mixpanel, [
      { op: 'identify', id: 'u1' },
      { op: 'track', event: 'E', props: {} },
      { op: 'register', props: { a: 1 } },
    ])
    expect(calls).toEqual([['identify', 'u1'], ['track', 'E', {}], ['register', { a: 1 }]])
  })

  test('a throwing operation does not stop the next one and its error is returned', () => {
    const { mixpanel, calls } = fake(['register'])
    const errors = apply(mixpanel, [
      { op: 'register', props: { a: 1 } },
      { op: 'track', event: 'E', props: {} },
    ])
    expect(calls).toEqual([['register', { a: 1 }], ['track', 'E', {}]])
    expect(errors).toHaveLength(1)
    expect((errors[0] as Error).message).toBe('register failed')
  })

  test('every failure is returned in order', () => {
    const { mixpanel } = fake(['people.set', 'track'])
    const errors = apply(mixpanel, [
      { op: 'people.set', props: {} },
      { op: 'identify', id: 'u1' },
      { op: 'track', event: 'E', props: {} },
    ])
    expect(errors.map((e) => (e as Error).message)).toEqual(['people.set failed', 'track failed'])
  })

  test('an identify translated then applied makes the calls docs/behaviour.md lists for identify', () => {
    const { mixpanel, calls } = fake()
    apply(mixpanel, run({ type: 'identify', userId: 'u1', traits: { email: 'ada@example.com', tags: ['x'] } }).ops)
    expect(calls).toEqual([
      ['identify', 'u1'],
      ['register', { email: 'ada@example.com', tags: ['x'], id: 'u1', mp_name_tag: 'ada@example.com' }],
      ['people.set', { $email: 'ada@example.com', id: 'u1' }],
      ['people.union', { tags: ['x'] }],
    ])
  })
})
