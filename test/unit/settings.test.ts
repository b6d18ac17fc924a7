import { describe, expect, test } from 'vitest'
import { normalizeSettings, SettingsError, type Settings } from '../../src/settings'

const DEFAULTS = {
  token: 'tok',
  people: true,
  setAllTraitsByDefault: true,
  superProperties: [],
  peopleProperties: [],
  legacySuperProperties: false,
  eventIncrements: [],
  propIncrements: [],
  groupIdentifierTraits: [],
  groupTraitsToSetOnce: [],
  consolidatedPageCalls: true,
  trackAllPages: false,
  trackCategorizedPages: false,
  trackNamedPages: false,
  sourceName: '',
  crossSubdomainCookie: true,
  secureCookie: false,
  persistence: 'cookie',
  cookieName: '',
  dataResidency: 'us',
  apiHost: undefined,
  optOutByDefault: false,
  mparticle: true,
  debug: false,
  mixpanelConfig: {},
}

/** The SettingsError thrown for `input` (fails the test when nothing is thrown). */
function errorFor(input: unknown): SettingsError {
  try {
    normalizeSettings(input as Settings)
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError)
    return error as SettingsError
  }
  throw new Error('normalizeSettings did not throw')
}

describe('defaults', () => {
  test('a token alone gives every default of the settings table', () => {
    expect(normalizeSettings({ token: 'tok' })).toEqual(DEFAULTS)
  })

  test('the normalized object has exactly the settings-table keys plus mixpanelConfig', () => {
    expect(Object.keys(normalizeSettings({ token: 'tok' })).sort()).toEqual(Object.keys(DEFAULTS).sort())
  })

  test('every given value replaces its default', () => {
    const given = {
      token: 'tok',
      people: false,
      setAllTraitsByDefault: false,
      superProperties: ['plan'],
      peopleProperties: ['age'],
      legacySuperProperties: true,
      eventIncrements: ['Signed Up'],
      propIncrements: ['items'],
      groupIdentifierTraits: ['company_id'],
      groupTraitsToSetOnce: ['created'],
      consolidatedPageCalls: false,
      trackAllPages: true,
      trackCategorizedPages: true,
      trackNamedPages: true,
      sourceName: 'web',
      crossSubdomainCookie: false,
      secureCookie: true,
      persistence: 'localStorage',
      cookieName: 'mp_custom',
      dataResidency: 'in',
      apiHost: 'https://mp.example.com',
      optOutByDefault: true,
      mparticle: false,
      debug: true,
      mixpanelConfig: { ignore_dnt: true },
    } as const satisfies Settings
    expect(normalizeSettings(given)).toEqual(given)
  })

  test('lists are copied, so changing the caller object later changes nothing', () => {
    const superProperties = ['plan']
    const settings = normalizeSettings({ token: 'tok', superProperties })
    superProperties.push('age')
    expect(settings.superProperties).toEqual(['plan'])
  })

  test('two normalizations do not share their default lists', () => {
    const a = normalizeSettings({ token: 'tok' })
    a.superProperties.push('leak')
    expect(normalizeSettings({ token: 'tok' }).superProperties).toEqual([])
  })
})

describe('errors name the setting in backticks', () => {
  test('a missing token is an error naming `token`', () => {
    expect(errorFor({}).message).toContain('`token`')
  })

  test('an empty token is an error naming `token`', () => {
    expect(errorFor({ token: '' }).message).toContain('`token`')
  })

  test('a blank token is an error naming `token`', () => {
    expect(errorFor({ token: '   ' }).message).toContain('`token`')
  })

  test('a token that is not a string is an error naming `token`', () => {
    expect(errorFor({ token: 42 }).message).toContain('`token`')
  })

  test('settings that are not an object are an error that mentions `token`', () => {
    expect(errorFor(null).message).toContain('`token`')
    expect(errorFor('tok').message).toContain('`token`')
    expect(errorFor(['tok']).message).toContain('`token`')
  })

  test('an unknown key is an error naming it', () => {
    expect(errorFor({ token: 'tok', peopel: true }).message).toBe('mixpanel-device-mode: unknown setting `peopel`')
  })

  test('a boolean setting given a string is an error naming it', () => {
    expect(errorFor({ token: 'tok', people: 'yes' }).message).toBe(
      'mixpanel-device-mode: setting `people` must be a boolean, got the string "yes"',
    )
  })

  test('a string setting given a number is an error naming it', () => {
    expect(errorFor({ token: 'tok', sourceName: 1 }).message).toBe(
      'mixpanel-device-mode: setting `sourceName` must be a string, got a number',
    )
  })

  test('a list setting given a string is an error naming it', () => {
    expect(errorFor({ token: 'tok', superProperties: 'plan' }).message).toBe(
      'mixpanel-device-mode: setting `superProperties` must be an array of strings, got the string "plan"',
    )
  })

  test('a list setting with a non-string item is an error naming it', () => {
    expect(errorFor({ token: 'tok', eventIncrements: ['Signed Up', 3] }).message).toContain('`eventIncrements`')
  })

  test('mixpanelConfig given an array is an error naming it', () => {
    expect(errorFor({ token: 'tok', mixpanelConfig: [] }).message).toBe(
      'mixpanel-device-mode: setting `mixpanelConfig` must be an object, got an array',
    )
  })

  test('null for a setting is an error naming it', () => {
    expect(errorFor({ token: 'tok', debug: null }).message).toBe(
      'mixpanel-device-mode: setting `debug` must be a boolean, got null',
    )
  })

  test('an unknown persistence is an error naming `persistence` and the allowed values', () => {
    expect(errorFor({ token: 'tok', persistence: 'sessionStorage' }).message).toBe(
      "mixpanel-device-mode: setting `persistence` must be one of 'cookie', 'localStorage', 'none', got the string \"sessionStorage\"",
    )
  })

  test('an unknown dataResidency is an error naming `dataResidency`', () => {
    expect(errorFor({ token: 'tok', dataResidency: 'asia' }).message).toBe(
      "mixpanel-device-mode: setting `dataResidency` must be one of 'us', 'eu', 'in', got the string \"asia\"",
    )
  })

  test('an apiHost without a scheme is an error naming `apiHost`', () => {
    expect(errorFor({ token: 'tok', apiHost: 'mp.example.com' }).message).toContain('`apiHost`')
  })

  test('an apiHost with a non-http scheme is an error naming `apiHost`', () => {
    expect(errorFor({ token: 'tok', apiHost: 'ftp://mp.example.com' }).message).toContain('`apiHost`')
  })

  test('an empty apiHost is an error naming `apiHost`', () => {
    expect(errorFor({ token: 'tok', apiHost: '' }).message).toContain('`apiHost`')
  })

  test('the error is a SettingsError named so', () => {
    const error = errorFor({})
    expect(error.name).toBe('SettingsError')
    expect(error).toBeInstanceOf(Error)
  })
})

describe('Segment compatibility', () => {
  test("Segment's device-mode-less keys apiSecret, nameTag and pageview are accepted and dropped", () => {
    expect(normalizeSettings({ token: 'tok', apiSecret: 's3cret', nameTag: true, pageview: false })).toEqual(DEFAULTS)
  })

  test('enableEuropeanUnionEndpoint selects the eu residency', () => {
    expect(normalizeSettings({ token: 'tok', enableEuropeanUnionEndpoint: true }).dataResidency).toBe('eu')
  })

  test('enableEuropeanUnionEndpoint is not kept in the normalized settings', () => {
    expect(normalizeSettings({ token: 'tok', enableEuropeanUnionEndpoint: true })).not.toHaveProperty('enableEuropeanUnionEndpoint')
  })

  test('enableEuropeanUnionEndpoint false keeps the us residency', () => {
    expect(normalizeSettings({ token: 'tok', enableEuropeanUnionEndpoint: false }).dataResidency).toBe('us')
  })

  test('an explicit dataResidency wins over enableEuropeanUnionEndpoint', () => {
    expect(normalizeSettings({ token: 'tok', enableEuropeanUnionEndpoint: true, dataResidency: 'in' }).dataResidency).toBe('in')
    expect(normalizeSettings({ token: 'tok', enableEuropeanUnionEndpoint: true, dataResidency: 'us' }).dataResidency).toBe('us')
  })

  test('enableEuropeanUnionEndpoint given a string is an error naming it', () => {
    expect(errorFor({ token: 'tok', enableEuropeanUnionEndpoint: 'true' }).message).toContain('`enableEuropeanUnionEndpoint`')
  })

  test('a trailing slash on apiHost is removed', () => {
    expect(normalizeSettings({ token: 'tok', apiHost: 'https://mp.example.com/' }).apiHost).toBe('https://mp.example.com')
  })

  test('an apiHost with a path is kept', () => {
    expect(normalizeSettings({ token: 'tok', apiHost: 'http://127.0.0.1:8080/mp' }).apiHost).toBe('http://127.0.0.1:8080/mp')
  })
})

describe('setting names inherited from Object.prototype', () => {
  test('`constructor` and `toString` are unknown settings', () => {
    expect(() => normalizeSettings({ token: 't', constructor: 1 } as never)).toThrow('unknown setting `constructor`')
    expect(() => normalizeSettings({ token: 't', toString: 1 } as never)).toThrow('unknown setting `toString`')
  })
})
