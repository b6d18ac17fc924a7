import { describe, expect, test } from 'vitest'
import type { Message, Properties } from '../../src/types'
import { deepFreeze, NOW_ISO, run } from './helpers'

function track(event: string | undefined, properties?: Properties): Message {
  const message: Message = { type: 'track' }
  if (event !== undefined) message.event = event
  if (properties !== undefined) message.properties = properties
  return message
}

const charge = (amount: number) => ({ op: 'people.append', props: { $transactions: { $amount: amount, $time: NOW_ISO } } })

describe('track: the event', () => {
  test('an event is tracked with its properties and nothing else by default', () => {
    expect(run(track('Signed Up', { plan: 'pro' }))).toEqual({ ops: [{ op: 'track', event: 'Signed Up', props: { plan: 'pro' } }], notes: [] })
  })

  test('an event without properties is tracked with an empty object', () => {
    expect(run(track('Signed Up')).ops).toEqual([{ op: 'track', event: 'Signed Up', props: {} }])
  })

  test('an empty event name is dropped with a note', () => {
    expect(run(track('', { plan: 'pro' }))).toEqual({ ops: [], notes: ['track call ignored: the event name must be a non-empty string'] })
  })

  test('a missing event name is dropped with a note', () => {
    expect(run(track(undefined, { plan: 'pro' }))).toEqual({ ops: [], notes: ['track call ignored: the event name must be a non-empty string'] })
  })

  test('sourceName adds segment_source_name', () => {
    expect(run(track('Signed Up', { plan: 'pro' }), { sourceName: 'web' }).ops).toEqual([
      { op: 'track', event: 'Signed Up', props: { plan: 'pro', segment_source_name: 'web' } },
    ])
  })

  test("sourceName overwrites the caller's segment_source_name", () => {
    expect(run(track('Signed Up', { segment_source_name: 'mine' }), { sourceName: 'web' }).ops).toEqual([
      { op: 'track', event: 'Signed Up', props: { segment_source_name: 'web' } },
    ])
  })

  test("an empty sourceName leaves the caller's segment_source_name alone", () => {
    expect(run(track('Signed Up', { segment_source_name: 'mine' })).ops).toEqual([
      { op: 'track', event: 'Signed Up', props: { segment_source_name: 'mine' } },
    ])
  })

  test.each(['distinct_id', 'ip', 'mp_name_tag', 'mp_note', 'token'])('the reserved property `%s` is removed with a note', (key) => {
    expect(run(track('Signed Up', { [key]: 'x', plan: 'pro' }))).toEqual({
      ops: [{ op: 'track', event: 'Signed Up', props: { plan: 'pro' } }],
      notes: [`track "Signed Up": removed the reserved property \`${key}\``],
    })
  })

  test('a numeric length is renamed length_ with a note', () => {
    expect(run(track('Read', { length: 12 }))).toEqual({
      ops: [{ op: 'track', event: 'Read', props: { length_: 12 } }],
      notes: ['track "Read": renamed `length` to `length_`'],
    })
  })

  test('bucket is renamed bucket_ with a note', () => {
    expect(run(track('Read', { bucket: 'b1' }))).toEqual({
      ops: [{ op: 'track', event: 'Read', props: { bucket_: 'b1' } }],
      notes: ['track "Read": renamed `bucket` to `bucket_`'],
    })
  })

  test('Dates become ISO strings at every depth and arrays of objects are kept', () => {
    const props = {
      at: new Date('2020-01-02T03:04:05.000Z'),
      order: { placed: new Date('2021-01-01T00:00:00.000Z'), items: [{ sku: 'a', added: new Date('2022-01-01T00:00:00.000Z') }, { sku: 'b' }] },
      products: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 2 }],
      days: [new Date('2023-01-01T00:00:00.000Z'), 'x'],
    }
    expect(run(track('Ordered', props)).ops).toEqual([
      {
        op: 'track',
        event: 'Ordered',
        props: {
          at: '2020-01-02T03:04:05.000Z',
          order: { placed: '2021-01-01T00:00:00.000Z', items: [{ sku: 'a', added: '2022-01-01T00:00:00.000Z' }, { sku: 'b' }] },
          products: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 2 }],
          days: ['2023-01-01T00:00:00.000Z', 'x'],
        },
      },
    ])
  })

  test('an invalid Date becomes null rather than a Date object', () => {
    expect(run(track('E', { at: new Date('nonsense') })).ops).toEqual([{ op: 'track', event: 'E', props: { at: null } }])
  })

  test("a property that contains itself is sent with '[Circular]' where it repeats; a shared object is kept twice", () => {
    const shared = { sku: 'a' }
    const node: Record<string, unknown> = { id: 'n1', items: [shared, shared] }
    node.self = node
    const props: Record<string, unknown> = { node, when: new Date(NOW_ISO) }
    props.root = props
    expect(run(track('Clicked', props)).ops).toEqual([
      {
        op: 'track',
        event: 'Clicked',
        props: { node: { id: 'n1', items: [{ sku: 'a' }, { sku: 'a' }], self: '[Circular]' }, when: NOW_ISO, root: '[Circular]' },
      },
    ])
    // The caller's objects are left as they were.
    expect(node.self).toBe(node)
    expect(props.root).toBe(props)
  })

  test('BigInts become numbers, or their digits as a string beyond 2^53 (mixpanel-browser cannot encode them)', () => {
    expect(run(track('E', { seats: 10n, id: 2n ** 64n, list: [-3n] })).ops).toEqual([
      { op: 'track', event: 'E', props: { seats: 10, id: '18446744073709551616', list: [-3] } },
    ])
  })

  test('a value with toJSON() is sent as JSON.stringify would (dayjs, Luxon, Temporal values, ObjectIds)', () => {
    class Day {
      constructor(private readonly iso: string) {}
      toJSON(): string { return this.iso }
    }
    const money = { toJSON: () => ({ amount: 5n, at: new Date(NOW_ISO) }) }
    expect(run(track('E', { day: new Day('2024-05-06'), money, list: [new Day('2024-01-01')] })).ops).toEqual([
      { op: 'track', event: 'E', props: { day: '2024-05-06', money: { amount: 5, at: NOW_ISO }, list: ['2024-01-01'] } },
    ])
    // Applied once per value, as JSON.stringify does: a toJSON() returning its own object does not loop.
    const model = { id: 7, toJSON(): unknown { return this } }
    expect(run(track('E', { model })).ops).toEqual([{ op: 'track', event: 'E', props: { model: { id: 7 } } }])
  })

  test('properties holding more than 10,000 objects are refused with a RangeError that says why (the runtime logs it and goes on)', () => {
    const many = Array.from({ length: 10_001 }, (_, i) => ({ i }))
    expect(() => run(track('E', { many }))).toThrow(new RangeError("over 10000 objects in one call's properties: not sent"))
    // Exactly 10,000: the properties object, the array and 9,998 items.
    expect(run(track('E', { many: many.slice(3) })).ops[0]).toMatchObject({ op: 'track', event: 'E' })
  })

  test('a $group_id property passes through unchanged', () => {
    expect(run(track('E', { $group_id: 'g1' })).ops).toEqual([{ op: 'track', event: 'E', props: { $group_id: 'g1' } }])
  })

  test('the properties given are not mutated', () => {
    const props = deepFreeze({
      token: 't',
      length: 3,
      at: new Date('2020-01-02T03:04:05.000Z'),
      nested: { at: new Date('2021-01-01T00:00:00.000Z') },
      revenue: '$1.50',
    })
    const copy = { ...props, nested: { ...props.nested } }
    expect(() => run(track('Order Completed', props), { sourceName: 'web', propIncrements: ['length'] })).not.toThrow()
    expect(props).toEqual(copy)
  })
})

describe('track: increments', () => {
  test('eventIncrements matches case-insensitively, increments the event and sets Last <event> to now', () => {
    expect(run(track('Viewed Item', { sku: 'a' }), { eventIncrements: ['viewed ITEM'] }).ops).toEqual([
      { op: 'people.increment', props: { 'Viewed Item': 1 } },
      { op: 'people.set', props: { 'Last Viewed Item': NOW_ISO } },
      { op: 'track', event: 'Viewed Item', props: { sku: 'a' } },
    ])
  })

  test('an event not in eventIncrements gives no People operation', () => {
    expect(run(track('Signed Up'), { eventIncrements: ['Viewed Item'] }).ops).toEqual([{ op: 'track', event: 'Signed Up', props: {} }])
  })

  test('propIncrements matches case-insensitively and increments by the numeric value under the property name', () => {
    expect(run(track('Bought', { Items: 3, other: 2 }), { propIncrements: ['items'] }).ops).toEqual([
      { op: 'people.increment', props: { Items: 3 } },
      { op: 'track', event: 'Bought', props: { Items: 3, other: 2 } },
    ])
  })

  test.each([
    ['a numeric string', '3'],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['null', null],
    ['a boolean', true],
  ])('propIncrements ignores %s', (_label, value) => {
    expect(run(track('Bought', { items: value }), { propIncrements: ['items'] }).ops).toEqual([
      { op: 'track', event: 'Bought', props: { items: value } },
    ])
  })

  test('a negative or fractional number is incremented as given', () => {
    expect(run(track('Returned', { items: -1.5 }), { propIncrements: ['items'] }).ops[0]).toEqual({ op: 'people.increment', props: { items: -1.5 } })
  })

  test('event and property increments go in one people.increment', () => {
    expect(run(track('Bought', { items: 2 }), { eventIncrements: ['Bought'], propIncrements: ['items'] }).ops).toEqual([
      { op: 'people.increment', props: { Bought: 1, items: 2 } },
      { op: 'people.set', props: { 'Last Bought': NOW_ISO } },
      { op: 'track', event: 'Bought', props: { items: 2 } },
    ])
  })

  test('people false turns off increments, Last <event> and charges', () => {
    expect(run(track('Bought', { items: 2, revenue: 5 }), { people: false, eventIncrements: ['Bought'], propIncrements: ['items'] }).ops).toEqual([
      { op: 'track', event: 'Bought', props: { items: 2, revenue: 5 } },
    ])
  })
})

describe('track: revenue', () => {
  test('a numeric revenue is appended to $transactions with the time and stays on the event', () => {
    expect(run(track('Upgraded', { revenue: 12.5 })).ops).toEqual([charge(12.5), { op: 'track', event: 'Upgraded', props: { revenue: 12.5 } }])
  })

  test('a revenue string such as "$10.50" is parsed', () => {
    expect(run(track('Upgraded', { revenue: '$10.50' })).ops).toEqual([charge(10.5), { op: 'track', event: 'Upgraded', props: { revenue: '$10.50' } }])
  })

  test('a revenue string with thousands separators is parsed', () => {
    expect(run(track('Upgraded', { revenue: '$1,012.50' })).ops[0]).toEqual(charge(1012.5))
  })

  test('a negative revenue (a refund) is charged as negative', () => {
    expect(run(track('Refunded', { revenue: -5 })).ops[0]).toEqual(charge(-5))
  })

  test('total is the revenue of Order Completed', () => {
    expect(run(track('Order Completed', { total: 30 })).ops).toEqual([charge(30), { op: 'track', event: 'Order Completed', props: { total: 30 } }])
  })

  test('total is the revenue of Completed Order', () => {
    expect(run(track('Completed Order', { total: '30.00' })).ops).toEqual([
      charge(30),
      { op: 'track', event: 'Completed Order', props: { total: '30.00' } },
    ])
  })

  test('the order event names match case-insensitively', () => {
    expect(run(track('order completed', { total: 30 })).ops[0]).toEqual(charge(30))
  })

  test('total on another event is not revenue', () => {
    expect(run(track('Cart Viewed', { total: 30 })).ops).toEqual([{ op: 'track', event: 'Cart Viewed', props: { total: 30 } }])
  })

  test.each([
    ['null', null],
    ['an empty string', ''],
  ])('a revenue that is %s on Order Completed falls back to total', (_label, revenue) => {
    expect(run(track('Order Completed', { revenue, total: 30 })).ops).toEqual([
      charge(30),
      { op: 'track', event: 'Order Completed', props: { revenue, total: 30 } },
    ])
  })

  test('revenue wins over total on Order Completed', () => {
    expect(run(track('Order Completed', { revenue: 25, total: 30 })).ops[0]).toEqual(charge(25))
  })

  test.each([
    ['a word', 'free'],
    ['a boolean', true],
    ['an object', { amount: 3 }],
    ['zero', 0],
  ])('a revenue that is %s gives no charge', (_label, revenue) => {
    expect(run(track('Upgraded', { revenue })).ops).toEqual([{ op: 'track', event: 'Upgraded', props: { revenue } }])
  })
})

describe('track: super properties', () => {
  test('superProperties present in the properties are registered after the event', () => {
    expect(run(track('Upgraded', { plan: 'pro', seats: 3 }), { superProperties: ['plan', 'missing'] }).ops).toEqual([
      { op: 'track', event: 'Upgraded', props: { plan: 'pro', seats: 3 } },
      { op: 'register', props: { plan: 'pro' } },
    ])
  })

  test('no register when none of the superProperties is present', () => {
    expect(run(track('Upgraded', { seats: 3 }), { superProperties: ['plan'] }).ops).toEqual([
      { op: 'track', event: 'Upgraded', props: { seats: 3 } },
    ])
  })

  test('registered super properties carry Dates as ISO strings', () => {
    expect(run(track('Upgraded', { since: new Date(NOW_ISO) }), { superProperties: ['since'] }).ops[1]).toEqual({
      op: 'register',
      props: { since: NOW_ISO },
    })
  })

  test('all steps run in the documented order: People, track, register', () => {
    const { ops } = run(track('Order Completed', { items: 2, total: 9, plan: 'pro', ip: '1.2.3.4' }), {
      sourceName: 'web',
      eventIncrements: ['Order Completed'],
      propIncrements: ['items'],
      superProperties: ['plan'],
    })
    expect(ops).toEqual([
      { op: 'people.increment', props: { 'Order Completed': 1, items: 2 } },
      { op: 'people.set', props: { 'Last Order Completed': NOW_ISO } },
      charge(9),
      { op: 'track', event: 'Order Completed', props: { items: 2, total: 9, plan: 'pro', segment_source_name: 'web' } },
      { op: 'register', props: { plan: 'pro' } },
    ])
  })
})

describe('parseAmount', () => {
  test('reads a decimal comma before one or two final digits', async () => {
    const { parseAmount } = await import('../../src/translate/values')
    expect(parseAmount('10,50 €')).toBe(10.5)
    expect(parseAmount('€ 7,5')).toBe(7.5)
  })

  test('reads commas as thousands separators otherwise', async () => {
    const { parseAmount } = await import('../../src/translate/values')
    expect(parseAmount('$1,012.50')).toBe(1012.5)
    expect(parseAmount('1,050')).toBe(1050)
  })
})
