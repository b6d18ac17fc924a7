/**
 * mParticle's audience integration protocol (Firehose JSON): parsing and
 * validating its messages, the account settings, the distinct id of a
 * profile, and the answers mParticle expects. Pure.
 */
import { randomUUID } from 'node:crypto'
import { MIXPANEL_HOSTS, parseBoolean, parseTargetServer, type ShimConfig } from '../config.js'
import { parseMpid } from '../mpid.js'
import { BadRequest, int, obj, oneOf, optArr, optObj, optStr, str } from '../validate.js'

export const FIREHOSE_VERSION = '2.8.1'

export interface FirehoseIdentity { type: string; encoding: string | undefined; value: string }

export interface AudienceChange {
  audienceId: number
  /** The audience's external name as the message gave it. */
  audienceName: string | undefined
  /** true = the user entered the audience, false = left it. */
  member: boolean
}

export interface AudienceProfile {
  mpid: string | undefined
  identities: FirehoseIdentity[]
  changes: AudienceChange[]
}

export type FirehoseMessage =
  | { type: 'module_registration_request' }
  | {
    type: 'audience_subscription_request'
    id: string
    timestampMs: number
    accountSettings: Record<string, unknown>
    audienceId: number
    audienceName: string
    action: 'add' | 'update' | 'remove'
  }
  | {
    type: 'audience_membership_change_request'
    id: string
    timestampMs: number
    accountSettings: Record<string, unknown>
    profiles: AudienceProfile[]
  }

const KNOWN_UNSUPPORTED = ['event_processing_request', 'dsr_processing_request', 'system_notification_request']

/** Validates one Firehose message; throws `BadRequest` naming the bad field. */
export function parseFirehoseMessage(body: unknown): FirehoseMessage {
  const m = obj(body, 'body')
  const type = m.type
  if (typeof type !== 'string') throw new BadRequest('`type` must be a string naming the mParticle message type')
  switch (type) {
    case 'module_registration_request':
      return { type }
    case 'audience_subscription_request': {
      return {
        type,
        id: str(m.id, 'id'),
        timestampMs: int(m.timestamp_ms, 'timestamp_ms'),
        accountSettings: accountSettings(m),
        audienceId: int(m.audience_id, 'audience_id'),
        audienceName: str(m.audience_name, 'audience_name'),
        action: oneOf(m.action, 'action', ['add', 'update', 'remove'] as const),
      }
    }
    case 'audience_membership_change_request': {
      const profiles = (optArr(m.user_profiles, 'user_profiles') ?? []).map((p, i) => parseProfile(p, `user_profiles[${i}]`))
      return { type, id: str(m.id, 'id'), timestampMs: int(m.timestamp_ms, 'timestamp_ms'), accountSettings: accountSettings(m), profiles }
    }
    default:
      if (KNOWN_UNSUPPORTED.includes(type)) {
        throw new BadRequest(`message type \`${type}\` is not handled here: this endpoint is an audience integration (module_registration_request, audience_subscription_request, audience_membership_change_request)`)
      }
      throw new BadRequest(`unknown message type \`${type}\` (expected module_registration_request, audience_subscription_request or audience_membership_change_request)`)
  }
}

function accountSettings(m: Record<string, unknown>): Record<string, unknown> {
  const account = optObj(m.account, 'account')
  if (account === undefined) return {}
  const settings = optObj(account.account_settings, 'account.account_settings') ?? {}
  for (const [k, v] of Object.entries(settings)) {
    if (v !== null && typeof v !== 'string' && typeof v !== 'boolean' && typeof v !== 'number') {
      throw new BadRequest(`\`account.account_settings.${k}\` must be a string`)
    }
  }
  return settings
}

function parseIdentities(v: unknown, path: string): FirehoseIdentity[] {
  return (optArr(v, path) ?? []).map((raw, i) => {
    const p = `${path}[${i}]`
    const o = obj(raw, p)
    return { type: str(o.type, `${p}.type`), encoding: optStr(o.encoding, `${p}.encoding`), value: str(o.value, `${p}.value`) }
  })
}

function parseProfile(raw: unknown, path: string): AudienceProfile {
  const p = obj(raw, path)
  let mpid: string | undefined
  if (p.mpid !== undefined && p.mpid !== null) {
    mpid = parseMpid(p.mpid)
    if (mpid === undefined) throw new BadRequest(`\`${path}.mpid\` must be a 64-bit integer other than 0 (a number or a string of digits)`)
  }
  const identities = [
    ...parseIdentities(p.user_identities, `${path}.user_identities`),
    ...parseIdentities(p.device_identities, `${path}.device_identities`),
  ]
  const changes: AudienceChange[] = []
  const audience = (a: unknown, ap: string, member: boolean | undefined): void => {
    const o = obj(a, ap)
    const audienceId = int(o.audience_id, `${ap}.audience_id`)
    const audienceName = optStr(o.audience_name, `${ap}.audience_name`)
    let isMember = member
    if (isMember === undefined) {
      const action = oneOf(o.action, `${ap}.action`, ['add', 'delete', 'attribute_update'] as const)
      // attribute_update carries audience-scoped attributes, not a membership change.
      if (action === 'attribute_update') return
      isMember = action === 'add'
    }
    changes.push({ audienceId, audienceName, member: isMember })
  }
  ;(optArr(p.audiences, `${path}.audiences`) ?? []).forEach((a, i) => audience(a, `${path}.audiences[${i}]`, undefined))
  // Older Firehose versions list changes as added_audiences / removed_audiences.
  ;(optArr(p.added_audiences, `${path}.added_audiences`) ?? []).forEach((a, i) => audience(a, `${path}.added_audiences[${i}]`, true))
  ;(optArr(p.removed_audiences, `${path}.removed_audiences`) ?? []).forEach((a, i) => audience(a, `${path}.removed_audiences[${i}]`, false))
  return { mpid, identities, changes }
}

/**
 * The Mixpanel distinct id: the first identity in `order` present with a raw
 * (unhashed) value. A hashed customer id would create a new, wrong profile.
 */
export function resolveDistinctId(identities: readonly FirehoseIdentity[], order: readonly string[]): string | undefined {
  for (const type of order) {
    const hit = identities.find((i) => i.type === type && (i.encoding === undefined || i.encoding === 'raw') && i.value.trim() !== '')
    if (hit !== undefined) return hit.value
  }
  return undefined
}

/** What one message needs to build engage updates. */
export interface AudienceSettings {
  token: string
  /** Base URL of the engage API, without a trailing slash. */
  apiBase: string
  oneAttributePerAudience: boolean
}

const norm = (k: string): string => k.toLowerCase().replace(/[^a-z0-9]/g, '')
const SETTING_KEYS = {
  token: ['token', 'apitoken', 'mixpaneltoken', 'projecttoken'],
  usePeople: ['usemixpanelpeople', 'usepeople'],
  oneAttribute: ['createoneuserattributeperaudience', 'createoneuserattributepersegment', 'oneattributeperaudience'],
  targetServer: ['mixpaneltargetserver', 'targetserver'],
}

function setting(settings: Record<string, unknown>, keys: string[]): string | undefined {
  for (const [k, v] of Object.entries(settings)) {
    if (keys.includes(norm(k)) && v !== null && v !== undefined && String(v).trim() !== '') return String(v)
  }
  return undefined
}

/**
 * Merges the environment with the account settings of the message.
 * Environment variables win when set (the operator pins them); the message
 * fills in the rest. "Use Mixpanel People" false from either side refuses.
 */
export function resolveAudienceSettings(config: ShimConfig, accountSettings: Record<string, unknown>, needToken: boolean): AudienceSettings {
  const peopleRaw = setting(accountSettings, SETTING_KEYS.usePeople)
  if (peopleRaw !== undefined) {
    const b = parseBoolean(peopleRaw)
    if (b === undefined) throw new BadRequest(`account setting \`Use Mixpanel People\` must be true or false (got "${peopleRaw}")`)
    if (!b) {
      throw new BadRequest('configuration refused: "Use Mixpanel People" is off. This integration writes Mixpanel People properties (SegmentMembership, In <Audience>); enable "Use Mixpanel People" in the mParticle connection settings')
    }
  }
  const oneRaw = setting(accountSettings, SETTING_KEYS.oneAttribute)
  let one = config.mixpanel.oneAttributePerAudience
  if (one === undefined && oneRaw !== undefined) {
    one = parseBoolean(oneRaw)
    if (one === undefined) throw new BadRequest(`account setting \`Create One User Attribute Per Audience\` must be true or false (got "${oneRaw}")`)
  }
  let target = config.mixpanel.targetServer
  const targetRaw = setting(accountSettings, SETTING_KEYS.targetServer)
  if (target === undefined && targetRaw !== undefined) {
    target = parseTargetServer(targetRaw)
    if (target === undefined) throw new BadRequest(`account setting \`Mixpanel Target Server\` must be standard, eu or india (got "${targetRaw}")`)
  }
  const token = config.mixpanel.token ?? setting(accountSettings, SETTING_KEYS.token) ?? ''
  if (needToken && token === '') {
    throw new BadRequest('no Mixpanel project token: set MIXPANEL_TOKEN on the shim or the `Token` account setting of the mParticle connection')
  }
  return {
    token,
    apiBase: config.mixpanel.apiHost ?? MIXPANEL_HOSTS[target ?? 'standard'],
    oneAttributePerAudience: one ?? false,
  }
}

/** The base fields of every Firehose response. */
export function firehoseResponse(type: string): Record<string, unknown> {
  return { type, id: randomUUID(), timestamp_ms: Date.now(), firehose_version: FIREHOSE_VERSION }
}

/** The answer to `module_registration_request`: description, permissions, settings. */
export function moduleRegistrationResponse(version: string): Record<string, unknown> {
  const raw = (type: string): Record<string, unknown> => ({ type, encoding: 'raw', required: false })
  return {
    ...firehoseResponse('module_registration_response'),
    sdk_version: FIREHOSE_VERSION,
    name: 'Mixpanel Audience (mixpanel-device-mode shim)',
    description: 'Forwards mParticle audience membership to Mixpanel People properties: <code>SegmentMembership</code> '
      + '(the audience ids, e.g. <code>\'11034\',\'11036\'</code>) and, optionally, one <code>In &lt;Audience Name&gt;</code> '
      + 'property per audience. Requires Mixpanel People.',
    version,
    permissions: {
      user_identities: [raw('customer')],
      device_identities: [raw('ios_vendor_id'), raw('ios_advertising_id'), raw('android_id')],
      allow_access_mpid: true,
    },
    audience_processing_registration: {
      account_settings: [
        { type: 'text', id: 'token', name: 'Token', description: 'Mixpanel project token (Project Settings → Access Keys). MIXPANEL_TOKEN on the shim wins when set.', visible: true, required: true, confidential: false },
        { type: 'boolean', id: 'useMixpanelPeople', name: 'Use Mixpanel People', description: 'Must be enabled: the integration writes People properties.', visible: true, required: true, default_value: true, checked: true },
        { type: 'boolean', id: 'createOneUserAttributePerAudience', name: 'Create One User Attribute Per Audience', description: 'Also write "In <Audience Name>" = true/false for each audience.', visible: true, required: false, default_value: false, checked: false },
        { type: 'text', id: 'mixpanelTargetServer', name: 'Mixpanel Target Server', description: 'standard, eu or india (data residency).', visible: true, required: false, default_value: 'standard', confidential: false },
      ],
    },
  }
}

