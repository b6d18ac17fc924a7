import { afterEach, describe, expect, test, vi } from 'vitest'
import { createAnalytics } from '../../src/facade'
import type { MixpanelLike } from '../../src/mixpanel/types'
import { mixpanelDestination } from '../../src/plugin'
import { normalizeSettings, SettingsError, type Settings } from '../../src/settings'
import { startOperations } from '../../src/translate/start'
import type { Message, Operation, Properties } from '../../src/types'
import { run, stateOf } from './helpers'

// Contract defects found by using the library as users and attackers would
// (docs/behaviour.md): each test here failed on the code before its fix.

const identify = (userId: string | null, traits: Properties = {}): Message => ({ type: 'identify', userId, traits })
const track = (event: string, properties: Properties = {}): Message => ({ type: 'track', event, properties })
const group = (groupId: string | null, traits: Properties = {}): Message => ({ type: 'group', groupId, traits })

describe('length and bucket traits', () => {
  test('are renamed length_ and bucket_ before they become super properties or profile properties', () => {
    expect(run(identify('u1', { length: 180, bucket: 'b', plan: 'pro' }), {}, { distinctId: 'u1', userId: 'u1' })).toEqual({
      ops: [
        { op: 'register', props: { plan: 'pro', length_: 180, bucket_: 'b', id: 'u1', mp_name_tag: 'u1' } },
        { op: 'people.set', props: { plan: 'pro', length_: 180, bucket_: 'b', id: 'u1' } },
      ],
      notes: ['identify: renamed `length` to `length_`', 'identify: renamed `bucket` to `bucket_`'],
    })
  })

  test('listed in superProperties and peopleProperties, they are registered and set under the new names', () => {
    const settings = { setAllTraitsByDefault: false, superProperties: ['length'], peopleProperties: ['bucket'] }
    expect(run(identify('u1', { length: 3, bucket: 'b', plan: 'pro' }), settings, { distinctId: 'u1', userId: 'u1' }).ops).toEqual([
      { op: 'register', props: { length_: 3, mp_name_tag: 'u1' } },
      { op: 'people.set', props: { bucket_: 'b' } },
    ])
  })

  test("track registers a superProperties `length` under the name the event carried, never as `length`", () => {
    expect(run(track('E', { length: 3 }), { superProperties: ['length'] }).ops).toEqual([
      { op: 'track', event: 'E', props: { length_: 3 } },
      { op: 'register', props: { length_: 3 } },
    ])
  })

  test('group traits named length reach the group profile as length_', () => {
    const ops = run(group('c1', { company_id: 'c1', length: 2 }), { groupIdentifierTraits: ['company_id'] }, { userId: 'u1' }).ops
    expect(ops).toContainEqual({ op: 'group.set', key: 'company_id', id: 'c1', props: { company_id: 'c1', length_: 2 } })
  })

  test('a length stored by an earlier version is moved to length_ at start', () => {
    const state = stateOf({ userId: 'u1', distinctId: 'u1', registered: { length: 180, plan: 'pro' } })
    expect(startOperations(state, true)).toEqual([
      { op: 'register', props: { length_: 180 } },
      { op: 'unregister', name: 'length' },
      { op: 'identify', id: 'u1' },
    ])
  })
})

describe('start-up', () => {
  test('a known user is identified again under the current distinct id, which after an alias is the device id', () => {
    expect(startOperations(stateOf({ userId: 'u1', distinctId: '$device:abc' }), true)).toEqual([{ op: 'identify', id: '$device:abc' }])
  })

  test('an anonymous visitor is not identified', () => {
    expect(startOperations(stateOf({ userId: null, distinctId: '$device:abc' }), true)).toEqual([])
  })

  test("without people, the People updates mixpanel-browser queued by itself are dropped before identify can send them", () => {
    const state = stateOf({ userId: 'u1', distinctId: 'u1', registered: { __mpso: { $initial_referrer: '$direct' }, __mps: { a: 1 } } })
    expect(startOperations(state, false)).toEqual([
      { op: 'unregister', name: '__mps' },
      { op: 'unregister', name: '__mpso' },
      { op: 'identify', id: 'u1' },
    ])
  })
})

describe('identify after alias', () => {
  test("identifying the user mixpanel-browser already holds as $user_id (an alias keeps the device id) sends no identify", () => {
    expect(run(identify('u1'), {}, { userId: 'u1', distinctId: '$device:abc' }).ops.map((o) => o.op)).toEqual(['register', 'people.set'])
  })

  test('identifying the pending alias sends no identify either', () => {
    const ops = run(identify('u1'), {}, { userId: null, distinctId: '$device:abc', registered: { __alias: 'u1' } }).ops
    expect(ops.map((o) => o.op)).toEqual(['register', 'people.set'])
  })
})

describe('people: false', () => {
  test('group membership registers the super property only: set_group would also write the profile', () => {
    const ops = run(group('c1', { company_id: 'c1' }), { people: false, groupIdentifierTraits: ['company_id'] }, { userId: 'u1' }).ops
    expect(ops).toEqual([
      { op: 'register', props: { company_id: ['c1'] } },
      { op: 'group.set', key: 'company_id', id: 'c1', props: { company_id: 'c1' } },
    ])
  })
})

describe('group without a groupId', () => {
  for (const groupId of ['', null]) {
    test(`group(${JSON.stringify(groupId)}, traits) is ignored with a note, even when the traits hold a group key`, () => {
      expect(run(group(groupId, { company_id: 'c1' }), { groupIdentifierTraits: ['company_id'] }, { userId: 'u1' })).toEqual({
        ops: [],
        notes: ['group call ignored: it has no groupId (the Segment spec requires one)'],
      })
    })
  }
})

describe('__proto__, constructor and prototype keys', () => {
  const hostile = (): Properties => JSON.parse('{"plan":"x","__proto__":{"isAdmin":true},"constructor":{"prototype":{"y":1}},"nested":{"__proto__":{"isAdmin":true},"ok":1}}')

  const plainKeys = (ops: Operation[]): unknown =>
    ops.map((o) => ('props' in o ? { op: o.op, keys: Object.keys(o.props), inherited: Object.getPrototypeOf(o.props) === Object.prototype } : o))

  test('identify copies own keys only and never merges them', () => {
    const { ops } = run(identify('u1', hostile()), {}, { userId: 'u1', distinctId: 'u1' })
    expect(ops).toEqual([
      { op: 'register', props: { plan: 'x', nested: { ok: 1 }, id: 'u1', mp_name_tag: 'u1' } },
      { op: 'people.set', props: { plan: 'x', nested: { ok: 1 }, id: 'u1' } },
    ])
    expect(plainKeys(ops)).toEqual([
      { op: 'register', keys: ['plan', 'nested', 'id', 'mp_name_tag'], inherited: true },
      { op: 'people.set', keys: ['plan', 'nested', 'id'], inherited: true },
    ])
  })

  test('track and page never carry them', () => {
    expect(run(track('E', hostile())).ops).toEqual([{ op: 'track', event: 'E', props: { plan: 'x', nested: { ok: 1 } } }])
    const page: Message = { type: 'page', name: 'Home', properties: hostile(), context: { page: { path: '/' } } }
    const ops = run(page).ops
    expect(ops).toEqual([{ op: 'track', event: 'Loaded a Page', props: { path: '/', plan: 'x', nested: { ok: 1 }, name: 'Home' } }])
    expect(Object.getPrototypeOf((ops[0] as { props: object }).props)).toBe(Object.prototype)
  })
})

describe('values JSON.stringify leaves out', () => {
  test('functions, symbols and undefined are dropped from objects and null in arrays', () => {
    const props = { f: () => 1, s: Symbol('s'), u: undefined, a: 1, nested: { g() {}, b: 2 }, list: [() => 1, 2, undefined] }
    expect(run(track('E', props)).ops).toEqual([{ op: 'track', event: 'E', props: { a: 1, nested: { b: 2 }, list: [null, 2, null] } }])
  })
})

describe('settings hygiene', () => {
  const errorFor = (input: unknown): string => {
    try {
      normalizeSettings(input as Settings)
    } catch (error) {
      expect(error).toBeInstanceOf(SettingsError)
      return (error as Error).message
    }
    throw new Error('normalizeSettings did not throw')
  }

  test('a token with surrounding spaces or a newline is trimmed', () => {
    expect(normalizeSettings({ token: '  abc\n' }).token).toBe('abc')
  })

  test('a token with a control character or a space inside is an error naming `token`', () => {
    expect(errorFor({ token: 'ab\u0000c' })).toBe('mixpanel-device-mode: setting `token` must not contain spaces, control characters or ;,=, got the string "ab\\u0000c"')
    expect(errorFor({ token: 'ab c' })).toMatch(/setting `token` must not contain/)
  })

  test.each([['a;b'], ['a=b'], ['a b'], ['a\nb'], ['a,b']])('cookieName %j is an error naming `cookieName`', (cookieName) => {
    expect(errorFor({ token: 't', cookieName })).toBe(
      `mixpanel-device-mode: setting \`cookieName\` must not contain spaces, control characters or ;,=, got the string ${JSON.stringify(cookieName)}`,
    )
  })

  test('error texts are grammatical: "got undefined", "got an object"', () => {
    expect(errorFor({ token: undefined })).toBe('mixpanel-device-mode: setting `token` is required: the Mixpanel project token')
    expect(errorFor({ token: {} })).toBe('mixpanel-device-mode: setting `token` must be a string, got an object')
    expect(errorFor(undefined)).toBe('mixpanel-device-mode: settings must be an object with at least `token`, got undefined')
    expect(errorFor({ token: 't', debug: 1 })).toBe('mixpanel-device-mode: setting `debug` must be a boolean, got a number')
  })

  test("keys of Segment's CDN settings for the Mixpanel integration are accepted and dropped", () => {
    const fromCdn = { token: 't', versionSettings: { componentTypes: ['browser'] }, bundlingStatus: 'bundled', type: 'browser', apiSecret: 's' }
    const normalized = normalizeSettings(fromCdn as Settings) as unknown as Record<string, unknown>
    for (const key of ['versionSettings', 'bundlingStatus', 'type', 'apiSecret']) expect(key in normalized).toBe(false)
  })

  test('a mixpanelConfig.loaded that throws is isolated and reported on the console', () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    const seen: unknown[] = []
    const { mixpanelConfig } = normalizeSettings({
      token: 't',
      mixpanelConfig: {
        loaded: (instance: unknown) => {
          seen.push(instance)
          throw new Error('boom')
        },
      },
    })
    expect(() => (mixpanelConfig.loaded as (i: unknown) => void)('instance')).not.toThrow()
    expect(seen).toEqual(['instance'])
    expect(error.mock.calls).toEqual([['[mixpanel-device-mode]', '`mixpanelConfig.loaded` threw', new Error('boom')]])
    error.mockRestore()
  })
})

/** A recording mixpanel-browser stand-in. */
function fakeMixpanel(): { mixpanel: MixpanelLike; calls: unknown[][] } {
  const calls: unknown[][] = []
  const record = (name: string) => (...args: unknown[]) => void calls.push([name, ...args])
  const mixpanel: MixpanelLike = {
    __loaded: true,
    init: record('init'),
    identify: record('identify'),
    register: record('register'),
    track: record('track'),
    alias: record('alias'),
    reset: record('reset'),
    set_group: record('set_group'),
    get_group: () => ({ set: record('group.set'), set_once: record('group.set_once') }),
    get_distinct_id: () => 'device-1',
    get_property: () => undefined,
    unregister: record('unregister'),
    opt_in_tracking: record('opt_in_tracking'),
    opt_out_tracking: record('opt_out_tracking'),
    has_opted_out_tracking: () => false,
    people: { set: record('people.set'), union: record('people.union'), increment: record('people.increment'), append: record('people.append') },
  }
  return { mixpanel, calls }
}

describe('optOut', () => {
  test('deletes nothing by default; { deleteUser: true } deletes the profile', async () => {
    const { mixpanel, calls } = fakeMixpanel()
    const analytics = createAnalytics({ token: 't', mparticle: false }, { mixpanel })
    await analytics.optOut()
    await analytics.optIn()
    await analytics.optOut({ deleteUser: true })
    expect(calls).toEqual([['opt_out_tracking', { delete_user: false }], ['opt_in_tracking'], ['opt_out_tracking', { delete_user: true }]])
  })
})

describe('Analytics Next plugin', () => {
  test('after unload(), a second load() is loaded again, listens again and keeps the same mixpanel instance', async () => {
    const { mixpanel, calls } = fakeMixpanel()
    type Listener = (...args: never[]) => void
    const listeners = new Map<string, Set<Listener>>()
    const host = {
      on: (event: string, f: Listener) => void (listeners.get(event) ?? listeners.set(event, new Set()).get(event)!).add(f),
      off: (event: string, f: Listener) => void listeners.get(event)?.delete(f),
    }
    const emit = (event: string): void => listeners.get(event)?.forEach((f) => (f as () => void)())
    const plugin = mixpanelDestination({ token: 't', mparticle: false }, { mixpanel })
    await plugin.load({ event: { type: 'page' } }, host)
    await plugin.unload()
    expect(plugin.isLoaded()).toBe(false)
    emit('reset')
    expect(calls).toEqual([])

    await plugin.load({ event: { type: 'page' } }, host)
    expect(plugin.isLoaded()).toBe(true)
    emit('reset')
    expect(calls).toEqual([['reset']])
    expect(listeners.get('reset')?.size).toBe(1)
  })
})

describe('server rendering', () => {
  afterEach(() => vi.restoreAllMocks())

  test('under Node with debug, one sentence says the library only sends from a browser, with no error or stack', async () => {
    const lines: unknown[][] = []
    for (const method of ['log', 'warn', 'error', 'info', 'debug'] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push([method, ...args]))
    }
    const analytics = createAnalytics({ token: 't', debug: true })
    await analytics.identify('u1', { plan: 'pro' })
    await analytics.track('Signed Up')
    await analytics.page()
    // The sentences are a chunk loaded on demand.
    await vi.waitFor(() => expect(lines.length).toBeGreaterThan(0))
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(lines).toEqual([
      ['log', '[mixpanel-device-mode]', 'nothing is sent: mixpanel-device-mode sends only from a browser (here there is no document)'],
    ])
  })
})
