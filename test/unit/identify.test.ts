import { describe, expect, test } from 'vitest'
import type { Message, Properties } from '../../src/types'
import { deepFreeze, run } from './helpers'

function identify(userId: string | null, traits: Properties = {}): Message {
  return { type: 'identify', userId, traits }
}

describe('identify: the user id', () => {
  test('a new userId is identified, registered with its id trait and name tag, and set on People', () => {
    expect(run(identify('u1'))).toEqual({
      ops: [
        { op: 'identify', id: 'u1' },
        { op: 'register', props: { id: 'u1', mp_name_tag: 'u1' } },
        { op: 'people.set', props: { id: 'u1' } },
      ],
      notes: [],
    })
  })

  test('the trait id is set to the userId, replacing a different id trait', () => {
    expect(run(identify('u1', { id: 'other' })).ops).toEqual([
      { op: 'identify', id: 'u1' },
      { op: 'register', props: { id: 'u1', mp_name_tag: 'u1' } },
      { op: 'people.set', props: { id: 'u1' } },
    ])
  })

  test('no identify operation is produced when the userId already is the distinct id', () => {
    expect(run(identify('u1', { plan: 'pro' }), {}, { userId: 'u1', distinctId: 'u1' }).ops).toEqual([
      { op: 'register', props: { plan: 'pro', id: 'u1', mp_name_tag: 'u1' } },
      { op: 'people.set', props: { plan: 'pro', id: 'u1' } },
    ])
  })

  test('a different userId than the known user is identified', () => {
    expect(run(identify('u2'), {}, { userId: 'u1', distinctId: 'u1' }).ops[0]).toEqual({ op: 'identify', id: 'u2' })
  })

  test('without a userId the traits are still registered and set, with a note that People waits for identify', () => {
    expect(run(identify(null, { plan: 'pro' }))).toEqual({
      ops: [
        { op: 'register', props: { plan: 'pro' } },
        { op: 'people.set', props: { plan: 'pro' } },
      ],
      notes: ['identify without userId: People updates wait in mixpanel-browser until the user is identified'],
    })
  })

  test('an empty userId counts as none', () => {
    expect(run(identify('', { plan: 'pro' })).ops).toEqual([
      { op: 'register', props: { plan: 'pro' } },
      { op: 'people.set', props: { plan: 'pro' } },
    ])
  })

  test('without a userId and without traits nothing is produced', () => {
    expect(run(identify(null)).ops).toEqual([])
  })

  test('an email-shaped userId becomes $email on People and the name tag', () => {
    expect(run(identify('ada@example.com')).ops).toEqual([
      { op: 'identify', id: 'ada@example.com' },
      { op: 'register', props: { id: 'ada@example.com', mp_name_tag: 'ada@example.com' } },
      { op: 'people.set', props: { id: 'ada@example.com', $email: 'ada@example.com' } },
    ])
  })

  test('an email trait wins over an email-shaped userId', () => {
    expect(run(identify('ada@example.com', { email: 'work@example.com' })).ops).toEqual([
      { op: 'identify', id: 'ada@example.com' },
      { op: 'register', props: { email: 'work@example.com', id: 'ada@example.com', mp_name_tag: 'work@example.com' } },
      { op: 'people.set', props: { $email: 'work@example.com', id: 'ada@example.com' } },
    ])
  })

  test('a userId that is not email-shaped gives no $email', () => {
    expect(run(identify('ada@example')).ops).toEqual([
      { op: 'identify', id: 'ada@example' },
      { op: 'register', props: { id: 'ada@example', mp_name_tag: 'ada@example' } },
      { op: 'people.set', props: { id: 'ada@example' } },
    ])
  })
})

describe('identify: special traits', () => {
  // [trait as given, value, its People name, name tag]
  test.each([
    ['email', 'ada@example.com', '$email', 'ada@example.com'],
    ['Email', 'ada@example.com', '$email', 'ada@example.com'],
    ['E_mail', 'ada@example.com', '$email', 'ada@example.com'],
    ['e-mail', 'ada@example.com', '$email', 'ada@example.com'],
    ['username', 'ada', '$username', 'ada'],
    ['User Name', 'ada', '$username', 'ada'],
    ['phone', '+44 20 7946 0000', '$phone', undefined],
    ['created', '2020-01-01T00:00:00.000Z', '$created', undefined],
    ['createdAt', '2020-01-01T00:00:00.000Z', '$created', undefined],
    ['created_at', '2020-01-01T00:00:00.000Z', '$created', undefined],
    ['lastSeen', '2024-01-01T00:00:00.000Z', '$last_seen', undefined],
    ['last_seen', '2024-01-01T00:00:00.000Z', '$last_seen', undefined],
  ])('the trait `%s` is set on People as %s only, and registered under its own name', (key, value, people, nameTag) => {
    const register: Properties = { [key]: value }
    if (nameTag !== undefined) register.mp_name_tag = nameTag
    expect(run(identify(null, { [key]: value })).ops).toEqual([
      { op: 'register', props: register },
      { op: 'people.set', props: { [people]: value } },
    ])
  })

  test('the trait `first_name` is set on People as $first_name and also gives $name', () => {
    expect(run(identify(null, { first_name: 'Ada' })).ops).toEqual([
      { op: 'register', props: { first_name: 'Ada' } },
      { op: 'people.set', props: { $first_name: 'Ada', $name: 'Ada' } },
    ])
  })

  test('name is split into $first_name and $last_name (the rest of the name)', () => {
    expect(run(identify('u1', { name: 'Ada King Lovelace' })).ops).toEqual([
      { op: 'identify', id: 'u1' },
      { op: 'register', props: { name: 'Ada King Lovelace', id: 'u1', mp_name_tag: 'u1' } },
      { op: 'people.set', props: { $name: 'Ada King Lovelace', id: 'u1', $first_name: 'Ada', $last_name: 'King Lovelace' } },
    ])
  })

  test('a one-word name gives $first_name and no $last_name', () => {
    expect(run(identify(null, { name: 'Ada' })).ops).toEqual([
      { op: 'register', props: { name: 'Ada' } },
      { op: 'people.set', props: { $name: 'Ada', $first_name: 'Ada' } },
    ])
  })

  test('firstName and lastName are joined into $name', () => {
    expect(run(identify(null, { firstName: 'Ada', lastName: 'Lovelace' })).ops).toEqual([
      { op: 'register', props: { firstName: 'Ada', lastName: 'Lovelace' } },
      { op: 'people.set', props: { $first_name: 'Ada', $last_name: 'Lovelace', $name: 'Ada Lovelace' } },
    ])
  })

  test('given first and last names win over the parts of name', () => {
    expect(run(identify(null, { name: 'Ada Lovelace', firstName: 'Augusta' })).ops).toEqual([
      { op: 'register', props: { name: 'Ada Lovelace', firstName: 'Augusta' } },
      { op: 'people.set', props: { $name: 'Ada Lovelace', $first_name: 'Augusta', $last_name: 'Lovelace' } },
    ])
  })

  test('an ordinary trait keeps its name on People', () => {
    expect(run(identify(null, { plan: 'pro', Company_Size: 10 })).ops).toEqual([
      { op: 'register', props: { plan: 'pro', Company_Size: 10 } },
      { op: 'people.set', props: { plan: 'pro', Company_Size: 10 } },
    ])
  })
})

describe('identify: Dates', () => {
  test('Dates become ISO strings in traits, nested objects and arrays, on both register and People', () => {
    const traits = {
      createdAt: new Date('2020-01-02T03:04:05.000Z'),
      meta: { seen: new Date('2021-01-01T00:00:00.000Z'), list: [new Date('2022-01-01T00:00:00.000Z'), { at: new Date('2023-01-01T00:00:00.000Z') }] },
    }
    const meta = { seen: '2021-01-01T00:00:00.000Z', list: ['2022-01-01T00:00:00.000Z', { at: '2023-01-01T00:00:00.000Z' }] }
    expect(run(identify(null, traits)).ops).toEqual([
      { op: 'register', props: { createdAt: '2020-01-02T03:04:05.000Z', meta } },
      { op: 'people.set', props: { $created: '2020-01-02T03:04:05.000Z', meta } },
    ])
  })

  test("traits that contain themselves are registered and set with '[Circular]' where they repeat", () => {
    const traits: Record<string, unknown> = { plan: 'pro' }
    traits.me = traits
    expect(run(identify(null, traits)).ops).toEqual([
      { op: 'register', props: { plan: 'pro', me: '[Circular]' } },
      { op: 'people.set', props: { plan: 'pro', me: '[Circular]' } },
    ])
  })

  test('the traits object given is not mutated', () => {
    const traits = deepFreeze({ Email: 'ada@example.com', createdAt: new Date('2020-01-02T03:04:05.000Z'), tags: ['a'] })
    expect(() => run(identify('u1', traits), {}, { registered: { tags: ['b'] } })).not.toThrow()
    expect(traits).toEqual({ Email: 'ada@example.com', createdAt: new Date('2020-01-02T03:04:05.000Z'), tags: ['a'] })
  })
})

describe('identify: super properties', () => {
  test('setAllTraitsByDefault registers every trait under the caller names', () => {
    expect(run(identify('u1', { Email: 'ada@example.com', plan: 'pro' })).ops[1]).toEqual({
      op: 'register',
      props: { Email: 'ada@example.com', plan: 'pro', id: 'u1', mp_name_tag: 'ada@example.com' },
    })
  })

  test('legacySuperProperties registers special traits under their $ names', () => {
    expect(run(identify('u1', { email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace', plan: 'pro' }), { legacySuperProperties: true }).ops).toEqual([
      { op: 'identify', id: 'u1' },
      {
        op: 'register',
        props: { $email: 'ada@example.com', $first_name: 'Ada', $last_name: 'Lovelace', $name: 'Ada Lovelace', plan: 'pro', id: 'u1', mp_name_tag: 'ada@example.com' },
      },
      { op: 'people.set', props: { $email: 'ada@example.com', $first_name: 'Ada', $last_name: 'Lovelace', $name: 'Ada Lovelace', plan: 'pro', id: 'u1' } },
    ])
  })

  test('without setAllTraitsByDefault only the superProperties allow-list is registered', () => {
    expect(run(identify('u1', { plan: 'pro', age: 3, email: 'ada@example.com' }), { setAllTraitsByDefault: false, superProperties: ['plan', 'email'] }).ops).toEqual([
      { op: 'identify', id: 'u1' },
      { op: 'register', props: { plan: 'pro', email: 'ada@example.com', mp_name_tag: 'ada@example.com' } },
      { op: 'people.set', props: { $email: 'ada@example.com' } },
    ])
  })

  test('the allow-list matches a special trait whatever its spelling', () => {
    expect(run(identify(null, { E_mail: 'ada@example.com' }), { setAllTraitsByDefault: false, superProperties: ['email'] }).ops[0]).toEqual({
      op: 'register',
      props: { E_mail: 'ada@example.com', mp_name_tag: 'ada@example.com' },
    })
  })

  test('the allow-list with legacySuperProperties registers the listed special traits under $ names', () => {
    expect(
      run(identify(null, { email: 'ada@example.com', plan: 'pro' }), { setAllTraitsByDefault: false, superProperties: ['email'], legacySuperProperties: true }).ops[0],
    ).toEqual({ op: 'register', props: { $email: 'ada@example.com', mp_name_tag: 'ada@example.com' } })
  })

  test('without setAllTraitsByDefault and an empty allow-list only the name tag is registered', () => {
    expect(run(identify('u1', { plan: 'pro' }), { setAllTraitsByDefault: false }).ops).toEqual([
      { op: 'identify', id: 'u1' },
      { op: 'register', props: { mp_name_tag: 'u1' } },
    ])
  })

  test('a registered array is unioned with the registered value, keeping types and order', () => {
    const { ops } = run(identify(null, { tags: [1, '1', 'b', 'a', { k: 1 }] }), {}, { registered: { tags: ['a', 1, { k: 1 }] } })
    expect(ops).toEqual([
      { op: 'register', props: { tags: ['a', 1, { k: 1 }, '1', 'b'] } },
      { op: 'people.union', props: { tags: [1, '1', 'b', 'a', { k: 1 }] } },
    ])
  })

  test('an array with nothing registered yet is registered as given', () => {
    expect(run(identify(null, { tags: ['x', 'y'] })).ops[0]).toEqual({ op: 'register', props: { tags: ['x', 'y'] } })
  })

  test('an empty array clears the registered list, as People gets it set to []', () => {
    expect(run(identify(null, { tags: [] }), {}, { registered: { tags: ['a'] } }).ops).toEqual([
      { op: 'register', props: { tags: [] } },
      { op: 'people.set', props: { tags: [] } },
    ])
  })

  test('an array replaces a registered value that is not an array', () => {
    expect(run(identify(null, { tags: ['x'] }), {}, { registered: { tags: 'old' } }).ops[0]).toEqual({ op: 'register', props: { tags: ['x'] } })
  })

  test('with legacySuperProperties the union reads the registered value under the $ name', () => {
    // An array-valued special trait is unusual, but the lookup must use the registered name.
    const { ops } = run(identify(null, { Phone: ['1', '2'] }), { legacySuperProperties: true }, { registered: { $phone: ['0'], Phone: ['9'] } })
    expect(ops[0]).toEqual({ op: 'register', props: { $phone: ['0', '1', '2'] } })
  })
})

describe('identify: name tag', () => {
  test('the name tag is the email before the username and the userId', () => {
    expect(run(identify('u1', { username: 'ada', email: 'ada@example.com' })).ops[1]).toEqual({
      op: 'register',
      props: { username: 'ada', email: 'ada@example.com', id: 'u1', mp_name_tag: 'ada@example.com' },
    })
  })

  test('the name tag is the username before the userId', () => {
    expect(run(identify('u1', { username: 'ada' })).ops[1]).toEqual({ op: 'register', props: { username: 'ada', id: 'u1', mp_name_tag: 'ada' } })
  })

  test('a name tag is never set on People', () => {
    const people = run(identify('u1', { email: 'ada@example.com' })).ops.filter((o) => o.op.startsWith('people.'))
    expect(people).toEqual([{ op: 'people.set', props: { $email: 'ada@example.com', id: 'u1' } }])
  })
})

describe('identify: People', () => {
  test('non-empty arrays go to people.union, empty arrays and other values to people.set', () => {
    expect(run(identify('u1', { plan: 'pro', tags: ['x'], cleared: [] }), {}, { distinctId: 'u1' }).ops).toEqual([
      { op: 'register', props: { plan: 'pro', tags: ['x'], cleared: [], id: 'u1', mp_name_tag: 'u1' } },
      { op: 'people.set', props: { plan: 'pro', cleared: [], id: 'u1' } },
      { op: 'people.union', props: { tags: ['x'] } },
    ])
  })

  test('only arrays give a people.union and no people.set', () => {
    expect(run(identify(null, { tags: ['x'] })).ops).toEqual([
      { op: 'register', props: { tags: ['x'] } },
      { op: 'people.union', props: { tags: ['x'] } },
    ])
  })

  test('without setAllTraitsByDefault People gets the peopleProperties allow-list plus every special trait', () => {
    const traits = { plan: 'pro', age: 3, email: 'ada@example.com', Phone: '555', name: 'Ada Lovelace' }
    expect(run(identify(null, traits), { setAllTraitsByDefault: false, peopleProperties: ['plan'] }).ops).toEqual([
      { op: 'register', props: { mp_name_tag: 'ada@example.com' } },
      { op: 'people.set', props: { plan: 'pro', $email: 'ada@example.com', $phone: '555', $name: 'Ada Lovelace', $first_name: 'Ada', $last_name: 'Lovelace' } },
    ])
  })

  test('peopleProperties naming a special trait by its caller spelling still sets it under the $ name', () => {
    expect(run(identify(null, { Last_Seen: '2024-01-01' }), { setAllTraitsByDefault: false, peopleProperties: ['lastSeen'] }).ops).toEqual([
      { op: 'people.set', props: { $last_seen: '2024-01-01' } },
    ])
  })

  test('without setAllTraitsByDefault a listed array trait goes to people.union', () => {
    expect(run(identify(null, { tags: ['x'], other: ['y'] }), { setAllTraitsByDefault: false, peopleProperties: ['tags'] }).ops).toEqual([
      { op: 'people.union', props: { tags: ['x'] } },
    ])
  })

  test('people false gives no People operation and a note, but still registers', () => {
    expect(run(identify('u1', { plan: 'pro', tags: ['x'] }), { people: false })).toEqual({
      ops: [
        { op: 'identify', id: 'u1' },
        { op: 'register', props: { plan: 'pro', tags: ['x'], id: 'u1', mp_name_tag: 'u1' } },
      ],
      notes: ['identify: traits not set on the People profile because `people` is false'],
    })
  })

  test('undefined traits are not set on People', () => {
    expect(run(identify(null, { plan: undefined, age: 3 })).ops.find((o) => o.op === 'people.set')).toEqual({ op: 'people.set', props: { age: 3 } })
  })
})
