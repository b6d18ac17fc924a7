import { describe, expect, test } from 'vitest'
import type { Message, Properties } from '../../src/types'
import { deepFreeze, run } from './helpers'

function group(traits: Properties, groupId: string | null = 'g1'): Message {
  return { type: 'group', groupId, traits }
}

const KNOWN = { userId: 'u1', distinctId: 'u1' }
const KEYS = { groupIdentifierTraits: ['company_id'] }

describe('group', () => {
  test('is ignored with a note when no user is identified', () => {
    expect(run(group({ company_id: 'c1' }), KEYS, { userId: null })).toEqual({
      ops: [],
      notes: ['group call ignored: no user is identified yet (call identify with a userId first)'],
    })
  })

  test('is ignored with a note naming the keys when the traits have no group key', () => {
    expect(run(group({ name: 'Acme' }), { groupIdentifierTraits: ['company_id', 'team_id'] }, KNOWN)).toEqual({
      ops: [],
      notes: ['group call ignored: its traits have none of the group keys `company_id`, `team_id`'],
    })
  })

  test("traits that contain themselves reach the group profile with '[Circular]' where they repeat", () => {
    const traits: Record<string, unknown> = { company_id: 'c1' }
    traits.org = { parent: traits }
    expect(run(group(traits), KEYS, KNOWN).ops).toEqual([
      { op: 'set_group', key: 'company_id', id: 'c1' },
      { op: 'group.set', key: 'company_id', id: 'c1', props: { company_id: 'c1', org: { parent: '[Circular]' } } },
    ])
  })

  test('is ignored with a note naming the setting when groupIdentifierTraits is empty', () => {
    expect(run(group({ company_id: 'c1' }), {}, KNOWN)).toEqual({
      ops: [],
      notes: ['group call ignored: the setting `groupIdentifierTraits` is empty'],
    })
  })

  test.each([
    ['empty', ''],
    ['null', null],
  ])('a group key whose trait is %s does not count', (_label, value) => {
    expect(run(group({ company_id: value }), KEYS, KNOWN).ops).toEqual([])
  })

  test('the groupId of the call does not stand in for a missing group key trait', () => {
    expect(run(group({ name: 'Acme' }, 'c1'), KEYS, KNOWN).ops).toEqual([])
  })

  test('one group key gives set_group and group.set of every trait', () => {
    expect(run(group({ company_id: 'c1', name: 'Acme', plan: 'pro' }), KEYS, KNOWN)).toEqual({
      ops: [
        { op: 'set_group', key: 'company_id', id: 'c1' },
        { op: 'group.set', key: 'company_id', id: 'c1', props: { company_id: 'c1', name: 'Acme', plan: 'pro' } },
      ],
      notes: [],
    })
  })

  test('each group key present gives its own membership and group profile update', () => {
    expect(run(group({ company_id: 'c1', team_id: 't9', name: 'Acme' }), { groupIdentifierTraits: ['company_id', 'team_id', 'org_id'] }, KNOWN).ops).toEqual([
      { op: 'set_group', key: 'company_id', id: 'c1' },
      { op: 'group.set', key: 'company_id', id: 'c1', props: { company_id: 'c1', team_id: 't9', name: 'Acme' } },
      { op: 'set_group', key: 'team_id', id: 't9' },
      { op: 'group.set', key: 'team_id', id: 't9', props: { company_id: 'c1', team_id: 't9', name: 'Acme' } },
    ])
  })

  test('groupTraitsToSetOnce traits go to group.set_once and the rest to group.set', () => {
    expect(run(group({ company_id: 'c1', founded: 1990, name: 'Acme' }), { ...KEYS, groupTraitsToSetOnce: ['founded'] }, KNOWN).ops).toEqual([
      { op: 'set_group', key: 'company_id', id: 'c1' },
      { op: 'group.set_once', key: 'company_id', id: 'c1', props: { founded: 1990 } },
      { op: 'group.set', key: 'company_id', id: 'c1', props: { company_id: 'c1', name: 'Acme' } },
    ])
  })

  test('when every trait is set once there is no group.set', () => {
    expect(run(group({ company_id: 'c1' }), { ...KEYS, groupTraitsToSetOnce: ['company_id'] }, KNOWN).ops).toEqual([
      { op: 'set_group', key: 'company_id', id: 'c1' },
      { op: 'group.set_once', key: 'company_id', id: 'c1', props: { company_id: 'c1' } },
    ])
  })

  test('Dates in group traits become ISO strings', () => {
    const created = new Date('2020-01-02T03:04:05.000Z')
    expect(run(group({ company_id: 'c1', created, meta: { at: [created] } }), { ...KEYS, groupTraitsToSetOnce: ['created'] }, KNOWN).ops).toEqual([
      { op: 'set_group', key: 'company_id', id: 'c1' },
      { op: 'group.set_once', key: 'company_id', id: 'c1', props: { created: '2020-01-02T03:04:05.000Z' } },
      { op: 'group.set', key: 'company_id', id: 'c1', props: { company_id: 'c1', meta: { at: ['2020-01-02T03:04:05.000Z'] } } },
    ])
  })

  test('a numeric group id is stringified while the trait keeps its number', () => {
    expect(run(group({ company_id: 42 }), KEYS, KNOWN).ops).toEqual([
      { op: 'set_group', key: 'company_id', id: '42' },
      { op: 'group.set', key: 'company_id', id: '42', props: { company_id: 42 } },
    ])
  })

  test('a group id of 0 is a present trait', () => {
    expect(run(group({ company_id: 0 }), KEYS, KNOWN).ops[0]).toEqual({ op: 'set_group', key: 'company_id', id: '0' })
  })

  test('undefined traits are left out of the group profile', () => {
    expect(run(group({ company_id: 'c1', name: undefined }), KEYS, KNOWN).ops[1]).toEqual({
      op: 'group.set',
      key: 'company_id',
      id: 'c1',
      props: { company_id: 'c1' },
    })
  })

  test('the traits given are not mutated', () => {
    const traits = deepFreeze({ company_id: 'c1', created: new Date('2020-01-02T03:04:05.000Z') })
    expect(() => run(group(traits), KEYS, KNOWN)).not.toThrow()
    expect(traits.created).toEqual(new Date('2020-01-02T03:04:05.000Z'))
  })
})

describe('alias', () => {
  test('alias with a userId only aliases the current distinct id', () => {
    expect(run({ type: 'alias', userId: 'new-id' })).toEqual({ ops: [{ op: 'alias', alias: 'new-id' }], notes: [] })
  })

  test('alias with a previousId passes it as the original', () => {
    expect(run({ type: 'alias', userId: 'new-id', previousId: 'old-id' }).ops).toEqual([{ op: 'alias', alias: 'new-id', original: 'old-id' }])
  })

  test('an empty previousId counts as none', () => {
    expect(run({ type: 'alias', userId: 'new-id', previousId: '' }).ops).toEqual([{ op: 'alias', alias: 'new-id' }])
  })

  test('an alias equal to the current distinct id is skipped with a note', () => {
    expect(run({ type: 'alias', userId: 'u1', previousId: 'anon' }, {}, { distinctId: 'u1' })).toEqual({
      ops: [],
      notes: ['alias call ignored: "u1" already is the current distinct id'],
    })
  })

  test('an alias without a userId is skipped with a note', () => {
    expect(run({ type: 'alias', userId: null })).toEqual({ ops: [], notes: ['alias call ignored: it has no userId'] })
  })
})

describe('translate', () => {
  test('an unknown message type gives no operation and a note', () => {
    expect(run({ type: 'bogus' } as unknown as Message)).toEqual({ ops: [], notes: ['call ignored: unknown message type "bogus"'] })
  })
})
