/**
 * Mixpanel's cohort-sync webhook: parsing and validating a delivery, and
 * which mParticle identity and which person a member is. Pure.
 */
import type { CohortIdentityRule } from '../config.js'
import { BadRequest, arr, idString, int, obj, oneOf, optObj, str } from '../validate.js'
import { parseMpid } from '../mpid.js'

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

/** The first rule whose property holds a usable value; `$mparticle_user_id` must be an MPID. */
export function resolveCohortIdentity(member: Record<string, unknown>, rules: readonly CohortIdentityRule[]): MparticleIdentity | undefined {
  for (const rule of rules) {
    const v = member[rule.property]
    if (v === undefined || v === null) continue
    if (rule.identity === 'mpid') {
      const mpid = parseMpid(v)
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

/** The Mixpanel properties that name a member's distinct id, in the order they are tried. */
const DISTINCT_ID_PROPERTIES = ['mixpanel_distinct_id', '$distinct_id']

export interface CohortPerson {
  /**
   * Who the member is across syncs: `did:<distinct id>`, which stays the
   * same when the member later also carries `$mparticle_user_id`; without a
   * distinct id, the key of the identity.
   */
  key: string
  /** Other keys the same person may be stored under (by an earlier shim, or before the distinct id was known). */
  aliases: string[]
  /** Where updates for them go. */
  identity: MparticleIdentity
}

/** Who a cohort member is, or undefined when no rule gives a usable identity. */
export function cohortPerson(member: Record<string, unknown>, rules: readonly CohortIdentityRule[]): CohortPerson | undefined {
  const identity = resolveCohortIdentity(member, rules)
  if (identity === undefined) return undefined
  const did = DISTINCT_ID_PROPERTIES.map((p) => member[p]).find((v) => (typeof v === 'string' && v.trim() !== '') || typeof v === 'number')
  const key = did !== undefined ? `did:${String(did)}` : identityKey(identity)
  const aliases = new Set<string>()
  for (const rule of rules) {
    const one = resolveCohortIdentity(member, [rule])
    if (one !== undefined) aliases.add(identityKey(one))
  }
  aliases.delete(key)
  return { key, aliases: [...aliases], identity }
}
