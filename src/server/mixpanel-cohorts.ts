/**
 * Mixpanel cohort-sync webhook → mParticle user attributes: parsing and the
 * pure parts (identity mapping, attribute payloads).
 */
import type { CohortIdentityRule } from './config.js'
import { BadRequest, arr, idString, int, obj, oneOf, optObj, str } from './validate.js'

export type CohortAction = 'members' | 'add_members' | 'remove_members'

export interface CohortMessage {
  action: CohortAction
  cohortId: string
  cohortName: string
  /** Same for every page of one sync; absent in hand-made requests. */
  sessionId: string | undefined
  /** Present when Mixpanel paged the `members` list. */
  page: { index: number; total: number } | undefined
  members: Record<string, unknown>[]
}

/** An mParticle identity: `mpid`, or a user identity key such as `customer_id`. */
export interface MparticleIdentity { type: string; value: string }

/** Reads `action` leniently so that even a refused request is answered in Mixpanel's form. */
export function cohortActionOf(body: unknown): string | null {
  if (typeof body === 'object' && body !== null && typeof (body as { action?: unknown }).action === 'string') {
    return (body as { action: string }).action
  }
  return null
}

export function parseCohortWebhook(body: unknown): CohortMessage {
  const m = obj(body, 'body')
  const action = oneOf(m.action, 'action', ['members', 'add_members', 'remove_members'] as const)
  const p = obj(m.parameters, 'parameters')
  const cohortId = idString(p.mixpanel_cohort_id, 'parameters.mixpanel_cohort_id')
  const cohortName = str(p.mixpanel_cohort_name, 'parameters.mixpanel_cohort_name')
  const sessionId = p.mixpanel_session_id === undefined || p.mixpanel_session_id === null
    ? undefined
    : idString(p.mixpanel_session_id, 'parameters.mixpanel_session_id')
  const members = arr(p.members, 'parameters.members').map((x, i) => obj(x, `parameters.members[${i}]`))
  let page: CohortMessage['page']
  const info = optObj(p.page_info, 'parameters.page_info')
  if (info !== undefined) {
    const total = int(info.total_pages, 'parameters.page_info.total_pages')
    const index = int(info.page_count, 'parameters.page_info.page_count')
    if (total < 1) throw new BadRequest('`parameters.page_info.total_pages` must be at least 1')
    // Accept 0- and 1-based page numbers: completion counts distinct pages, not their values.
    if (index < 0 || index > total) throw new BadRequest(`\`parameters.page_info.page_count\` must be between 0 and total_pages (${total}), got ${index}`)
    page = { index, total }
  }
  if (page !== undefined && action !== 'members') page = undefined
  return { action, cohortId, cohortName, sessionId, page, members }
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/** An MPID as a canonical decimal string, or undefined if it is not a 64-bit integer. */
export function canonicalMpid(v: unknown): string | undefined {
  let s: string
  if (typeof v === 'number' && Number.isSafeInteger(v)) s = String(v)
  else if (typeof v === 'string' && /^\s*-?\d{1,20}\s*$/.test(v)) s = v.trim()
  else return undefined
  const n = BigInt(s)
  if (n < INT64_MIN || n > INT64_MAX || n === 0n) return undefined
  return n.toString()
}

/** The first rule whose property holds a usable value; `$mparticle_user_id` must be an MPID. */
export function resolveCohortIdentity(member: Record<string, unknown>, rules: readonly CohortIdentityRule[]): MparticleIdentity | undefined {
  for (const rule of rules) {
    const v = member[rule.property]
    if (v === undefined || v === null) continue
    if (rule.identity === 'mpid') {
      const mpid = canonicalMpid(v)
      if (mpid !== undefined) return { type: 'mpid', value: mpid }
      continue
    }
    if ((typeof v === 'string' && v.trim() !== '') || (typeof v === 'number' && Number.isFinite(v))) {
      return { type: rule.identity, value: String(v) }
    }
  }
  return undefined
}

/** Stable key of one mParticle user in the state and the outbox. */
export function identityKey(id: MparticleIdentity): string {
  return `${id.type}:${id.value}`
}

/**
 * One Events API batch. The MPID is a signed 64-bit integer that JSON numbers
 * in JavaScript cannot hold exactly, so it is written as a raw number literal.
 */
export function renderBatch(identity: MparticleIdentity, attributes: Record<string, unknown>, environment: string): string {
  const parts = [`"environment":${JSON.stringify(environment)}`]
  if (identity.type === 'mpid') parts.push(`"mpid":${canonicalMpid(identity.value) ?? '0'}`)
  else parts.push(`"user_identities":${JSON.stringify({ [identity.type]: identity.value })}`)
  parts.push(`"user_attributes":${JSON.stringify(attributes)}`, '"schema_version":2')
  return `{${parts.join(',')}}`
}
