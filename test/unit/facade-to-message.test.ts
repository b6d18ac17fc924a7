import { describe, expect, test } from 'vitest'
import { toMessage } from '../../src/facade'

const OPTIONS = { integrations: { Mixpanel: true } }

describe('page arguments', () => {
  test("page() has no category, no name and empty properties", () => {
    expect(toMessage('page', [])).toEqual({ message: { type: 'page', category: null, name: null, properties: {} }, options: undefined })
  })

  test("page('Name') is a name", () => {
    expect(toMessage('page', ['Pricing'])).toEqual({ message: { type: 'page', category: null, name: 'Pricing', properties: {} }, options: undefined })
  })

  test("page('Cat', 'Name') is a category and a name", () => {
    expect(toMessage('page', ['Docs', 'Install'])).toEqual({
      message: { type: 'page', category: 'Docs', name: 'Install', properties: {} },
      options: undefined,
    })
  })

  test('page({ a: 1 }) is properties only', () => {
    expect(toMessage('page', [{ a: 1 }])).toEqual({ message: { type: 'page', category: null, name: null, properties: { a: 1 } }, options: undefined })
  })

  test('page({ a: 1 }, options) is properties and options', () => {
    expect(toMessage('page', [{ a: 1 }, OPTIONS])).toEqual({
      message: { type: 'page', category: null, name: null, properties: { a: 1 } },
      options: OPTIONS,
    })
  })

  test("page('Name', { a: 1 }) is a name and properties", () => {
    expect(toMessage('page', ['Pricing', { a: 1 }])).toEqual({
      message: { type: 'page', category: null, name: 'Pricing', properties: { a: 1 } },
      options: undefined,
    })
  })

  test("page('Name', { a: 1 }, options) is a name, properties and options", () => {
    expect(toMessage('page', ['Pricing', { a: 1 }, OPTIONS])).toEqual({
      message: { type: 'page', category: null, name: 'Pricing', properties: { a: 1 } },
      options: OPTIONS,
    })
  })

  test("page('Cat', 'Name', { a: 1 }, { integrations }) is all four", () => {
    expect(toMessage('page', ['Docs', 'Install', { a: 1 }, OPTIONS])).toEqual({
      message: { type: 'page', category: 'Docs', name: 'Install', properties: { a: 1 } },
      options: OPTIONS,
    })
  })

  test("page(null, 'Name') is a name without category", () => {
    expect(toMessage('page', [null, 'Install'])).toEqual({
      message: { type: 'page', category: null, name: 'Install', properties: {} },
      options: undefined,
    })
  })
})

describe('screen arguments', () => {
  test("screen('Name') is a name", () => {
    expect(toMessage('screen', ['Home'])).toEqual({ message: { type: 'screen', name: 'Home', properties: {} }, options: undefined })
  })

  test('screen({ a: 1 }) is properties only', () => {
    expect(toMessage('screen', [{ a: 1 }])).toEqual({ message: { type: 'screen', name: null, properties: { a: 1 } }, options: undefined })
  })

  test('screen({ a: 1 }, options) is properties and options', () => {
    expect(toMessage('screen', [{ a: 1 }, OPTIONS])).toEqual({ message: { type: 'screen', name: null, properties: { a: 1 } }, options: OPTIONS })
  })

  test("screen('Name', { a: 1 }, options) is a name, properties and options", () => {
    expect(toMessage('screen', ['Home', { a: 1 }, OPTIONS])).toEqual({
      message: { type: 'screen', name: 'Home', properties: { a: 1 } },
      options: OPTIONS,
    })
  })
})

describe('identify arguments', () => {
  test("identify('u1', traits, options) is a userId, traits and options", () => {
    expect(toMessage('identify', ['u1', { plan: 'pro' }, OPTIONS])).toEqual({
      message: { type: 'identify', userId: 'u1', traits: { plan: 'pro' } },
      options: OPTIONS,
    })
  })

  test('identify({ traits }) has no userId', () => {
    expect(toMessage('identify', [{ plan: 'pro' }])).toEqual({ message: { type: 'identify', userId: null, traits: { plan: 'pro' } }, options: undefined })
  })

  test('identify({ traits }, options) has no userId and keeps the options', () => {
    expect(toMessage('identify', [{ plan: 'pro' }, OPTIONS])).toEqual({
      message: { type: 'identify', userId: null, traits: { plan: 'pro' } },
      options: OPTIONS,
    })
  })

  test('identify(123) turns a numeric id into a string', () => {
    expect(toMessage('identify', [123])).toEqual({ message: { type: 'identify', userId: '123', traits: {} }, options: undefined })
  })

  test('identify(null, traits) has no userId', () => {
    expect(toMessage('identify', [null, { plan: 'pro' }])).toEqual({ message: { type: 'identify', userId: null, traits: { plan: 'pro' } }, options: undefined })
  })

  test("identify('') has no userId", () => {
    expect(toMessage('identify', [''])).toEqual({ message: { type: 'identify', userId: null, traits: {} }, options: undefined })
  })
})

describe('track arguments', () => {
  test("track('Event', properties, options) keeps all three", () => {
    expect(toMessage('track', ['Signed Up', { plan: 'pro' }, OPTIONS])).toEqual({
      message: { type: 'track', event: 'Signed Up', properties: { plan: 'pro' } },
      options: OPTIONS,
    })
  })

  test("track('Event') has empty properties", () => {
    expect(toMessage('track', ['Signed Up'])).toEqual({ message: { type: 'track', event: 'Signed Up', properties: {} }, options: undefined })
  })
})

describe('group arguments', () => {
  test("group('g1', traits, options) keeps all three", () => {
    expect(toMessage('group', ['g1', { company_id: 'c1' }, OPTIONS])).toEqual({
      message: { type: 'group', groupId: 'g1', traits: { company_id: 'c1' } },
      options: OPTIONS,
    })
  })

  test('group({ traits }) has no groupId', () => {
    expect(toMessage('group', [{ company_id: 'c1' }])).toEqual({ message: { type: 'group', groupId: null, traits: { company_id: 'c1' } }, options: undefined })
  })

  test('group(42) turns a numeric id into a string', () => {
    expect(toMessage('group', [42])).toEqual({ message: { type: 'group', groupId: '42', traits: {} }, options: undefined })
  })
})

describe('alias arguments', () => {
  test('alias(to, from) is a userId and a previousId', () => {
    expect(toMessage('alias', ['new-id', 'old-id'])).toEqual({ message: { type: 'alias', userId: 'new-id', previousId: 'old-id' }, options: undefined })
  })

  test('alias(to, options) has no previousId and keeps the options', () => {
    expect(toMessage('alias', ['new-id', OPTIONS])).toEqual({ message: { type: 'alias', userId: 'new-id', previousId: null }, options: OPTIONS })
  })

  test('alias(to, from, options) keeps all three', () => {
    expect(toMessage('alias', ['new-id', 'old-id', OPTIONS])).toEqual({ message: { type: 'alias', userId: 'new-id', previousId: 'old-id' }, options: OPTIONS })
  })

  test('alias(to) has no previousId', () => {
    expect(toMessage('alias', ['new-id'])).toEqual({ message: { type: 'alias', userId: 'new-id', previousId: null }, options: undefined })
  })
})

describe('names given as empty strings', () => {
  test("page('Cat', '') keeps the category and an empty name", () => {
    expect(toMessage('page', ['Docs', ''])).toEqual({ message: { type: 'page', category: 'Docs', name: '', properties: {} }, options: undefined })
  })

  test('track(42) is the event "42", and track({ a: 1 }) has no event', () => {
    expect(toMessage('track', [42]).message).toEqual({ type: 'track', event: '42', properties: {} })
    expect(toMessage('track', [{ a: 1 }]).message).toEqual({ type: 'track', event: null, properties: { a: 1 } })
  })
})
