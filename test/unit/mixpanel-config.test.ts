import { describe, expect, test } from 'vitest'
import { apiHostFor, mixpanelConfig } from '../../src/mixpanel/config'
import { normalizeSettings, type Settings } from '../../src/settings'

const configFor = (settings: Omit<Settings, 'token'> = {}) => mixpanelConfig(normalizeSettings({ token: 'tok', ...settings }))

const DEFAULT_CONFIG = {
  api_host: 'https://api-js.mixpanel.com',
  api_payload_format: 'json',
  cross_subdomain_cookie: true,
  secure_cookie: false,
  persistence: 'cookie',
  disable_persistence: false,
  batch_requests: false,
  track_pageview: false,
  debug: false,
  // mixpanel-browser's own defaults, passed as they are.
  cookie_name: '',
  opt_out_tracking_by_default: false,
  opt_out_persistence_by_default: false,
}

describe('mixpanelConfig', () => {
  test('the default settings give cookie persistence, the US host and no automatic page views', () => {
    expect(configFor()).toEqual(DEFAULT_CONFIG)
  })

  test('the eu residency uses api-eu.mixpanel.com', () => {
    expect(configFor({ dataResidency: 'eu' })).toEqual({ ...DEFAULT_CONFIG, api_host: 'https://api-eu.mixpanel.com' })
  })

  test('the in residency uses api-in.mixpanel.com', () => {
    expect(configFor({ dataResidency: 'in' })).toEqual({ ...DEFAULT_CONFIG, api_host: 'https://api-in.mixpanel.com' })
  })

  test('enableEuropeanUnionEndpoint uses api-eu.mixpanel.com', () => {
    expect(configFor({ enableEuropeanUnionEndpoint: true }).api_host).toBe('https://api-eu.mixpanel.com')
  })

  test('apiHost wins over the residency and enableEuropeanUnionEndpoint', () => {
    expect(configFor({ apiHost: 'https://mp.example.com/', dataResidency: 'in', enableEuropeanUnionEndpoint: true }).api_host).toBe(
      'https://mp.example.com',
    )
  })

  test('crossSubdomainCookie false and secureCookie true reach the cookie options', () => {
    expect(configFor({ crossSubdomainCookie: false, secureCookie: true })).toEqual({
      ...DEFAULT_CONFIG,
      cross_subdomain_cookie: false,
      secure_cookie: true,
    })
  })

  test('localStorage persistence is passed as is', () => {
    expect(configFor({ persistence: 'localStorage' })).toEqual({ ...DEFAULT_CONFIG, persistence: 'localStorage' })
  })

  test("persistence 'none' disables persistence", () => {
    expect(configFor({ persistence: 'none' })).toEqual({
      ...DEFAULT_CONFIG,
      persistence: 'localStorage',
      disable_persistence: true,
    })
  })

  test('cookieName becomes cookie_name', () => {
    expect(configFor({ cookieName: 'mp_custom' })).toEqual({ ...DEFAULT_CONFIG, cookie_name: 'mp_custom' })
  })

  test('optOutByDefault opts out of tracking and of persistence', () => {
    expect(configFor({ optOutByDefault: true })).toEqual({
      ...DEFAULT_CONFIG,
      opt_out_tracking_by_default: true,
      opt_out_persistence_by_default: true,
    })
  })

  test('debug turns on mixpanel-browser debug', () => {
    expect(configFor({ debug: true })).toEqual({ ...DEFAULT_CONFIG, debug: true })
  })

  test('mixpanelConfig is applied last: it adds options and overrides computed ones', () => {
    expect(configFor({ mixpanelConfig: { ignore_dnt: true, api_host: 'https://other.example' } })).toEqual({
      ...DEFAULT_CONFIG,
      ignore_dnt: true,
      api_host: 'https://other.example',
    })
  })

  test('batching stays off whatever mixpanelConfig says: the delivery queue batches, and needs each record at call time', () => {
    expect(configFor({ mixpanelConfig: { batch_requests: true } })).toEqual(DEFAULT_CONFIG)
  })
})

describe('apiHostFor', () => {
  test('gives the residency host without apiHost and apiHost when set', () => {
    expect(apiHostFor({ apiHost: undefined, dataResidency: 'us' })).toBe('https://api-js.mixpanel.com')
    expect(apiHostFor({ apiHost: 'https://mp.example.com', dataResidency: 'eu' })).toBe('https://mp.example.com')
  })
})
