import { describe, expect, test } from 'vitest'
import type { Message, PageContext } from '../../src/types'
import { NOW_ISO, run } from './helpers'

const PAGE = {
  path: '/docs/install',
  referrer: 'https://ref.example/',
  search: '?q=1',
  title: 'Install',
  url: 'https://site.example/docs/install?q=1',
}

function page(fields: Partial<Message> = {}): Message {
  return { type: 'page', properties: {}, context: { page: { ...PAGE } }, ...fields }
}

function screen(fields: Partial<Message> = {}): Message {
  return { type: 'screen', properties: {}, context: { page: { ...PAGE } }, ...fields }
}

const OFF = { consolidatedPageCalls: false } as const

describe('page naming', () => {
  test('by default (consolidatedPageCalls) a page call is tracked as Loaded a Page with the page properties', () => {
    expect(run(page())).toEqual({ ops: [{ op: 'track', event: 'Loaded a Page', props: PAGE }], notes: [] })
  })

  test('consolidatedPageCalls names a categorized, named page Loaded a Page too, with name and category properties', () => {
    expect(run(page({ category: 'Docs', name: 'Install' }), { trackCategorizedPages: true, trackNamedPages: true }).ops).toEqual([
      { op: 'track', event: 'Loaded a Page', props: { ...PAGE, name: 'Install', category: 'Docs' } },
    ])
  })

  test('trackAllPages alone tracks every page as Loaded a Page', () => {
    expect(run(page({ name: 'Install' }), { ...OFF, trackAllPages: true }).ops).toEqual([
      { op: 'track', event: 'Loaded a Page', props: { ...PAGE, name: 'Install' } },
    ])
  })

  test('trackAllPages wins over trackCategorizedPages', () => {
    expect(run(page({ category: 'Docs' }), { ...OFF, trackAllPages: true, trackCategorizedPages: true }).ops).toEqual([
      { op: 'track', event: 'Loaded a Page', props: { ...PAGE, category: 'Docs' } },
    ])
  })

  test('trackCategorizedPages names a page with category and name Viewed <Category> <Name> Page', () => {
    expect(run(page({ category: 'Docs', name: 'Install' }), { ...OFF, trackCategorizedPages: true }).ops).toEqual([
      { op: 'track', event: 'Viewed Docs Install Page', props: { ...PAGE, name: 'Install', category: 'Docs' } },
    ])
  })

  test('trackCategorizedPages names a page with only a category Viewed <Category> Page', () => {
    expect(run(page({ category: 'Docs' }), { ...OFF, trackCategorizedPages: true }).ops).toEqual([
      { op: 'track', event: 'Viewed Docs Page', props: { ...PAGE, category: 'Docs' } },
    ])
  })

  test('trackCategorizedPages wins over trackNamedPages when there is a category', () => {
    expect(run(page({ category: 'Docs', name: 'Install' }), { ...OFF, trackCategorizedPages: true, trackNamedPages: true }).ops[0]).toEqual({
      op: 'track',
      event: 'Viewed Docs Install Page',
      props: { ...PAGE, name: 'Install', category: 'Docs' },
    })
  })

  test('trackNamedPages names a page without category Viewed <Name> Page even when trackCategorizedPages is on', () => {
    expect(run(page({ name: 'Install' }), { ...OFF, trackCategorizedPages: true, trackNamedPages: true }).ops).toEqual([
      { op: 'track', event: 'Viewed Install Page', props: { ...PAGE, name: 'Install' } },
    ])
  })

  test('trackNamedPages names a named page Viewed <Name> Page', () => {
    expect(run(page({ name: 'Install' }), { ...OFF, trackNamedPages: true }).ops).toEqual([
      { op: 'track', event: 'Viewed Install Page', props: { ...PAGE, name: 'Install' } },
    ])
  })

  test('with every naming setting off nothing is sent and a note says which rules did not apply', () => {
    const { ops, notes } = run(page({ name: 'Install' }), OFF)
    expect(ops).toEqual([])
    expect(notes).toEqual([
      'page call not sent: `consolidatedPageCalls` and `trackAllPages` are off, `trackCategorizedPages` is off and `trackNamedPages` is off',
    ])
  })

  test('trackNamedPages with an unnamed page sends nothing and notes the missing name', () => {
    const { ops, notes } = run(page(), { ...OFF, trackNamedPages: true })
    expect(ops).toEqual([])
    expect(notes).toEqual(['page call not sent: `consolidatedPageCalls` and `trackAllPages` are off, `trackCategorizedPages` is off and it has no name'])
  })

  test('trackCategorizedPages with an uncategorized unnamed page sends nothing and notes the missing category', () => {
    const { ops, notes } = run(page(), { ...OFF, trackCategorizedPages: true })
    expect(ops).toEqual([])
    expect(notes).toEqual(['page call not sent: `consolidatedPageCalls` and `trackAllPages` are off, it has no category and `trackNamedPages` is off'])
  })

  test('an empty name and category count as absent', () => {
    expect(run(page({ name: '', category: '' }), { ...OFF, trackCategorizedPages: true, trackNamedPages: true }).ops).toEqual([])
  })
})

describe('page properties', () => {
  test("the caller's properties win over the page's own", () => {
    expect(run(page({ properties: { title: 'Mine', plan: 'pro' } })).ops).toEqual([
      { op: 'track', event: 'Loaded a Page', props: { ...PAGE, title: 'Mine', plan: 'pro' } },
    ])
  })

  test('without context.page only the caller properties are sent', () => {
    expect(run({ type: 'page', properties: { plan: 'pro' } }).ops).toEqual([{ op: 'track', event: 'Loaded a Page', props: { plan: 'pro' } }])
  })

  test('page facts left undefined are not sent', () => {
    expect(run({ type: 'page', context: { page: { path: '/a' } } }).ops).toEqual([{ op: 'track', event: 'Loaded a Page', props: { path: '/a' } }])
  })

  test('only path, referrer, search, title and url are taken from context.page', () => {
    const message: Message = { type: 'page', context: { page: { ...PAGE, hash: '#x' } as PageContext } }
    expect(run(message).ops).toEqual([{ op: 'track', event: 'Loaded a Page', props: PAGE }])
  })

  test('name and category are added as properties', () => {
    expect(run(page({ name: 'Install', category: 'Docs', properties: { a: 1 } })).ops).toEqual([
      { op: 'track', event: 'Loaded a Page', props: { ...PAGE, a: 1, name: 'Install', category: 'Docs' } },
    ])
  })

  test('Dates in page properties become ISO strings', () => {
    expect(run(page({ properties: { at: new Date(NOW_ISO) } })).ops).toEqual([
      { op: 'track', event: 'Loaded a Page', props: { ...PAGE, at: NOW_ISO } },
    ])
  })
})

describe('page runs through the track pipeline', () => {
  test('sourceName adds segment_source_name to a page event', () => {
    expect(run(page(), { sourceName: 'web' }).ops).toEqual([
      { op: 'track', event: 'Loaded a Page', props: { ...PAGE, segment_source_name: 'web' } },
    ])
  })

  test('eventIncrements on the page event name increments it and sets Last Loaded a Page', () => {
    expect(run(page(), { eventIncrements: ['loaded a page'] }).ops).toEqual([
      { op: 'people.increment', props: { 'Loaded a Page': 1 } },
      { op: 'people.set', props: { 'Last Loaded a Page': NOW_ISO } },
      { op: 'track', event: 'Loaded a Page', props: PAGE },
    ])
  })

  test('reserved names are removed from page properties and length is renamed', () => {
    expect(run(page({ properties: { token: 'x', distinct_id: 'y', length: 3 } })).ops).toEqual([
      { op: 'track', event: 'Loaded a Page', props: { ...PAGE, length_: 3 } },
    ])
  })

  test('superProperties found in page properties are registered after the event', () => {
    expect(run(page({ properties: { plan: 'pro' } }), { superProperties: ['plan'] }).ops).toEqual([
      { op: 'track', event: 'Loaded a Page', props: { ...PAGE, plan: 'pro' } },
      { op: 'register', props: { plan: 'pro' } },
    ])
  })

  test('page properties never become People properties, even with people and setAllTraitsByDefault on', () => {
    const { ops } = run(page({ name: 'Install', properties: { plan: 'pro' } }), { people: true, setAllTraitsByDefault: true, peopleProperties: ['plan'] })
    expect(ops).toEqual([{ op: 'track', event: 'Loaded a Page', props: { ...PAGE, plan: 'pro', name: 'Install' } }])
  })
})

describe('screen', () => {
  test('by default a screen call is tracked as Loaded a Screen', () => {
    expect(run(screen({ name: 'Home' })).ops).toEqual([{ op: 'track', event: 'Loaded a Screen', props: { ...PAGE, name: 'Home' } }])
  })

  test('trackAllPages tracks a screen as Loaded a Screen', () => {
    expect(run(screen(), { ...OFF, trackAllPages: true }).ops).toEqual([{ op: 'track', event: 'Loaded a Screen', props: PAGE }])
  })

  test('trackNamedPages names a screen Viewed <Name> Screen', () => {
    expect(run(screen({ name: 'Home' }), { ...OFF, trackNamedPages: true }).ops).toEqual([
      { op: 'track', event: 'Viewed Home Screen', props: { ...PAGE, name: 'Home' } },
    ])
  })

  test('trackCategorizedPages names a categorized screen Viewed <Category> <Name> Screen', () => {
    expect(run(screen({ name: 'Home', category: 'App' }), { ...OFF, trackCategorizedPages: true }).ops).toEqual([
      { op: 'track', event: 'Viewed App Home Screen', props: { ...PAGE, name: 'Home', category: 'App' } },
    ])
  })

  test('a screen no rule names is not sent and the note says screen', () => {
    const { ops, notes } = run(screen({ name: 'Home' }), OFF)
    expect(ops).toEqual([])
    expect(notes).toEqual(['screen call not sent: `consolidatedPageCalls` and `trackAllPages` are off, `trackCategorizedPages` is off and `trackNamedPages` is off'])
  })
})
