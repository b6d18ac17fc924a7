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
   * for what Segment's settings do not cover.
   * @default {} @example { batch_requests: false, ignore_dnt: true }
   */
  mixpanelConfig?: Record<string, unknown>
  /** Accepted and ignored: a Segment setting with no effect in device mode. */
  apiSecret?: unknown
  /** Accepted and ignored: a Segment setting with no effect in device mode. */
  nameTag?: unknown
  /** Accepted and ignored: a Segment setting with no effect in device mode. */
  pageview?: unknown
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

// Each setting's kind (what it must be, as the error says it, or its allowed
// values) and default. No prototype: `constructor` must not pass for a setting.
const BOOLEAN = 'a boolean'
const STRING = 'a string'
const LIST = 'an array of strings'
const OBJECT = 'an object'
const IGNORED = ''
type Kind = string | readonly string[]
const SCHEMA: Record<string, [Kind, unknown]> = Object.create(null)
const add = (kind: Kind, value: unknown, names: string): void => {
  for (const name of names.split(' ')) SCHEMA[name] = [kind, value]
}
add(STRING, undefined, 'token apiHost')
add(OBJECT, undefined, 'mixpanelConfig')
add(BOOLEAN, true, 'people setAllTraitsByDefault consolidatedPageCalls crossSubdomainCookie mparticle')
add(BOOLEAN, false, 'legacySuperProperties trackAllPages trackCategorizedPages trackNamedPages secureCookie enableEuropeanUnionEndpoint optOutByDefault debug')
add(LIST, [], 'superProperties peopleProperties eventIncrements propIncrements groupIdentifierTraits groupTraitsToSetOnce')
add(STRING, '', 'sourceName cookieName')
add(['cookie', 'localStorage', 'none'], 'cookie', 'persistence')
add(['us', 'eu', 'in'], 'us', 'dataResidency')
// Keys Segment's settings objects carry that mean nothing in device mode.
add(IGNORED, undefined, 'apiSecret nameTag pageview')

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
  value === null ? 'null'
  : Array.isArray(value) ? 'an array'
  : typeof value === 'string' ? `the string ${JSON.stringify(value)}`
  : `a ${typeof value}`

const isObject = (value: unknown): boolean => typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Applies defaults and validates every setting eagerly, so a mistake shows at
 * creation and never later from a tracking call. Throws a `SettingsError`
 * naming the setting.
 */
export function normalizeSettings(input: Settings): NormalizedSettings {
  if (!isObject(input)) fail(`settings must be an object with at least \`token\`, got ${describe(input)}`)
  const raw = input as unknown as Record<string, unknown>
  for (const key in raw) if (!SCHEMA[key]) fail(`unknown setting \`${key}\``)
  const out: Record<string, any> = {}
  for (const name in SCHEMA) {
    const [kind, fallback] = SCHEMA[name]!
    const value = raw[name]
    if (kind === IGNORED) continue
    if (value === undefined) {
      out[name] = kind === LIST ? [] : fallback
      continue
    }
    const ok =
      kind === LIST ? Array.isArray(value) && value.every((v) => typeof v === 'string')
      : kind === OBJECT ? isObject(value)
      : typeof kind === 'object' ? kind.includes(value as string)
      : typeof value === kind.slice(2)
    if (!ok) fail(`setting \`${name}\` must be ${typeof kind === 'object' ? `one of '${kind.join("', '")}'` : kind}, got ${describe(value)}`)
    out[name] = kind === LIST ? [...(value as string[])] : value
  }
  if (!out.token?.trim()) fail('setting `token` is required: the Mixpanel project token')
  if (out.apiHost !== undefined && !/^https?:\/\/[^/]/.test(out.apiHost)) {
    fail(`setting \`apiHost\` must be an http(s) URL such as 'https://mp.example.com', got ${describe(out.apiHost)}`)
  }
  out.apiHost = out.apiHost?.replace(/\/+$/, '')
  out.mixpanelConfig = { ...out.mixpanelConfig }
  if (out.enableEuropeanUnionEndpoint && raw.dataResidency === undefined) out.dataResidency = 'eu'
  delete out.enableEuropeanUnionEndpoint
  return out as NormalizedSettings
}
