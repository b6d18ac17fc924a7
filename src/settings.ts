import { PREFIX } from './debug'
import { isObject } from './translate/values'

/**
 * Settings of the integration. The names are those of Segment's Mixpanel
 * destination, so a settings object copied from Segment works as it is.
 */
export interface Settings {
  /** Mixpanel project token. Required. @example 'f2c4…' */
  token: string
  /** "Use Mixpanel People": enables every `people.*` call. @default true */
  people?: boolean
  /** identify: register every trait as a super property and (with `people`) set every trait on the profile. @default true */
  setAllTraitsByDefault?: boolean
  /** identify (when `setAllTraitsByDefault` is false): traits to register; track: event properties registered after the event. @default [] @example ['plan'] */
  superProperties?: string[]
  /** identify (when `setAllTraitsByDefault` is false): traits set on the profile, besides the special traits. @default [] */
  peopleProperties?: string[]
  /** Register special traits under their `$` names (`$email`) instead of the caller's names. @default false */
  legacySuperProperties?: boolean
  /** Events (case-insensitive) that increment a People counter named after them and set `Last <event>`. @default [] @example ['Viewed Item'] */
  eventIncrements?: string[]
  /** Event properties (case-insensitive) whose numeric value is added to the People property of that name. @default [] @example ['items'] */
  propIncrements?: string[]
  /** Group keys: for each key present in a group call's traits, the user joins that group. @default [] @example ['company_id'] */
  groupIdentifierTraits?: string[]
  /** Group traits written with `$set_once`; all other group traits use `$set`. @default [] */
  groupTraitsToSetOnce?: string[]
  /** Every page call becomes `Loaded a Page`. @default true */
  consolidatedPageCalls?: boolean
  /** Every page call becomes `Loaded a Page`. @default false */
  trackAllPages?: boolean
  /** Page calls with a category become `Viewed <Category> <Name> Page` (or `Viewed <Category> Page`). @default false */
  trackCategorizedPages?: boolean
  /** Page calls with a name become `Viewed <Name> Page`. @default false */
  trackNamedPages?: boolean
  /** When non-empty, every event gets the property `segment_source_name`. @default '' */
  sourceName?: string
  /** Mixpanel `cross_subdomain_cookie`. @default true */
  crossSubdomainCookie?: boolean
  /** Mixpanel `secure_cookie`. @default false */
  secureCookie?: boolean
  /** Where Mixpanel keeps its state; `'none'` keeps nothing between pages. @default 'cookie' */
  persistence?: 'cookie' | 'localStorage' | 'none'
  /** Mixpanel `cookie_name` (the persistence name) when non-empty. @default '' */
  cookieName?: string
  /** Same as `dataResidency: 'eu'`. @default false */
  enableEuropeanUnionEndpoint?: boolean
  /** Data residency of the project: US, EU or India API host. @default 'us' */
  dataResidency?: 'us' | 'eu' | 'in'
  /** Explicit API host, such as a first-party proxy; wins over `dataResidency`. @example 'https://mp.example.com' */
  apiHost?: string
  /** Start opted out: no cookie and no request until `optIn()`. @default false */
  optOutByDefault?: boolean
  /** Set `$mparticle_user_id` from the mParticle Web SDK's current MPID when that SDK is on the page. @default true */
  mparticle?: boolean
  /** Explain every dropped call and every rename on the console. @default false */
  debug?: boolean
  /**
   * Extra mixpanel-browser `init` options, applied last (not a Segment setting):
   * for what Segment's settings do not cover. `batch_requests` is always false:
   * the delivery queue sends (docs/delivery.md).
   * @default {} @example { ignore_dnt: true }
   */
  mixpanelConfig?: Record<string, unknown>
  /** Accepted and ignored: a Segment setting with no effect in device mode. */
  apiSecret?: unknown
  /** Accepted and ignored: a Segment setting with no effect in device mode. */
  nameTag?: unknown
  /** Accepted and ignored: a Segment setting with no effect in device mode. */
  pageview?: unknown
  /** Accepted and ignored: carried by settings objects copied from Segment's CDN. */
  versionSettings?: unknown
  /** Accepted and ignored: carried by settings objects copied from Segment's CDN. */
  bundlingStatus?: unknown
  /** Accepted and ignored: carried by settings objects copied from Segment's CDN. */
  type?: unknown
}

/** Settings after defaults and validation: what the rest of the code trusts. */
export interface NormalizedSettings {
  token: string
  people: boolean
  setAllTraitsByDefault: boolean
  superProperties: string[]
  peopleProperties: string[]
  legacySuperProperties: boolean
  eventIncrements: string[]
  propIncrements: string[]
  groupIdentifierTraits: string[]
  groupTraitsToSetOnce: string[]
  consolidatedPageCalls: boolean
  trackAllPages: boolean
  trackCategorizedPages: boolean
  trackNamedPages: boolean
  sourceName: string
  crossSubdomainCookie: boolean
  secureCookie: boolean
  persistence: 'cookie' | 'localStorage' | 'none'
  cookieName: string
  dataResidency: 'us' | 'eu' | 'in'
  apiHost: string | undefined
  optOutByDefault: boolean
  mparticle: boolean
  debug: boolean
  mixpanelConfig: Record<string, unknown>
}

// Settings Segment's own settings objects carry that mean nothing in device
// mode, accepted so such an object works as it is (docs/behaviour.md,
// "Settings copied from Segment").
const IGNORED = ['apiSecret', 'nameTag', 'pageview', 'versionSettings', 'bundlingStatus', 'type'] as const

// Each setting's default, whose kind is also what a given value must be: a
// boolean, a string, an array of strings or an object; `CHOICES` lists the
// allowed values of the others. Typed by `Settings`: a setting without a
// default, or a default for no setting, does not compile. `token` and
// `apiHost` have none: '' stands for "not given".
const DEFAULTS: { readonly [K in Exclude<keyof Settings, (typeof IGNORED)[number]>]-?: NonNullable<Settings[K]> } = {
  token: '',
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
  enableEuropeanUnionEndpoint: false,
  dataResidency: 'us',
  apiHost: '',
  optOutByDefault: false,
  mparticle: true,
  debug: false,
  mixpanelConfig: {},
}

const CHOICES: { readonly [K in keyof Settings]?: readonly NonNullable<Settings[K]>[] } = {
  persistence: ['cookie', 'localStorage', 'none'],
  dataResidency: ['us', 'eu', 'in'],
}

/** The error thrown by `createAnalytics()` for a bad settings object. */
export class SettingsError extends Error {
  override name = 'SettingsError'
  constructor(message: string) {
    super(`mixpanel-device-mode: ${message}`)
  }
}

const fail = (message: string): never => {
  throw new SettingsError(message)
}

const describe = (value: unknown): string =>
  value === null || value === undefined ? String(value)
  : Array.isArray(value) ? 'an array'
  : typeof value === 'string' ? `the string ${JSON.stringify(value)}`
  : typeof value === 'object' ? 'an object'
  : `a ${typeof value}`

/** What a setting's value is, as its error names it: its default's kind is what it must be. */
const kindOf = (value: unknown): string =>
  Array.isArray(value) ? (value.every((item) => typeof item === 'string') ? 'an array of strings' : 'an array')
  : isObject(value) ? 'an object'
  : `a ${typeof value}`

// Characters that end or split a cookie's name; a token is part of the cookie name too.
const COOKIE_UNSAFE = /[\s;,=\x00-\x1f\x7f]/

/**
 * Applies defaults and validates every setting eagerly, so a mistake shows at
 * creation and never later from a tracking call. Throws a `SettingsError`
 * naming the setting.
 */
export function normalizeSettings(input: Settings): NormalizedSettings {
  if (!isObject(input)) fail(`settings must be an object with at least \`token\`, got ${describe(input)}`)
  const raw = input as unknown as Record<string, unknown>
  for (const key in raw) if (!Object.prototype.hasOwnProperty.call(DEFAULTS, key) && !IGNORED.includes(key as never)) fail(`unknown setting \`${key}\``)
  const out: Record<string, unknown> = {}
  for (const [name, fallback] of Object.entries(DEFAULTS)) {
    // A default passes its own check, and a default list is copied like a given one.
    const value = raw[name] === undefined ? fallback : raw[name]
    const choices = CHOICES[name as keyof Settings]
    const kind = kindOf(fallback)
    if (choices ? !choices.includes(value as never) : kindOf(value) !== kind) {
      fail(`setting \`${name}\` must be ${choices ? `one of '${choices.join("', '")}'` : kind}, got ${describe(value)}`)
    }
    out[name] = Array.isArray(value) ? [...value] : value
  }
  const settings = out as unknown as NormalizedSettings
  const token = (settings.token = settings.token.trim())
  if (!token) fail('setting `token` is required: the Mixpanel project token')
  // Both end up in the cookie's name.
  for (const name of ['token', 'cookieName'] as const) {
    const value = settings[name]
    if (COOKIE_UNSAFE.test(value)) fail(`setting \`${name}\` must not contain spaces, control characters or ;,=, got ${describe(value)}`)
  }
  const { apiHost, mixpanelConfig } = settings
  if (raw.apiHost !== undefined && !/^https?:\/\/[^/]/.test(apiHost!)) {
    fail(`setting \`apiHost\` must be an http(s) URL such as 'https://mp.example.com', got ${describe(apiHost)}`)
  }
  // '' (the default) is no apiHost: a given '' fails above.
  settings.apiHost = apiHost ? apiHost.replace(/\/+$/, '') : undefined
  settings.mixpanelConfig = { ...mixpanelConfig }
  // mixpanel-browser calls `loaded` inside init(): one that throws would leave it half started.
  const loaded = mixpanelConfig.loaded
  if (typeof loaded === 'function') {
    settings.mixpanelConfig.loaded = (instance: unknown) => {
      try {
        loaded(instance)
      } catch (error) {
        console.error(PREFIX, '`mixpanelConfig.loaded` threw', error)
      }
    }
  }
  if (out.enableEuropeanUnionEndpoint && raw.dataResidency === undefined) settings.dataResidency = 'eu'
  delete out.enableEuropeanUnionEndpoint
  return settings
}
