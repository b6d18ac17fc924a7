/**
 * mParticle `audience_membership_change_request` → each changed user's
 * membership and one Mixpanel engage update for them. Pure: `membershipRequest`
 * says what to load, `planMembership` decides from the loaded state.
 *
 * Rules (docs/shim.md, "mParticle → Mixpanel"): a change older than the
 * stored one is ignored (out-of-order delivery), so is a change to an
 * audience whose subscription was removed; the state is kept per MPID when
 * there is one, so it survives a change of distinct id; a user without a
 * distinct id keeps state but gets no update.
 */
import { mixpanelDest, type EngagePayload } from '../destinations/mixpanel-engage/index.js'
import { read, scanned } from '../store/state.js'
import type { LoadedState, MessageRequest, OutgoingUpdate, PlanStep, RecordRef, RecordWrite } from '../store/types.js'
import { resolveDistinctId, type AudienceChange, type AudienceProfile, type AudienceSettings } from './firehose.js'

/** A user's stored membership, by audience id. */
export interface MembershipRecord { audiences: Record<string, { member: boolean; ts: number }> }
/** What is known of an audience. */
export interface AudienceRecord { name: string | null; removed: boolean; ts: number }

export interface MembershipInput {
  messageId: string
  timestampMs: number
  profiles: readonly AudienceProfile[]
  settings: AudienceSettings
  identityOrder: readonly string[]
}

export interface MembershipResult {
  /** Membership changes that changed state. */
  applied: number
  stale: number
  /** Profiles with changes but no distinct id: nothing is sent (with an MPID their state is kept). */
  withoutIdentity: number
}

interface Profile { userKey: string; distinctId: string | undefined; changes: readonly AudienceChange[] }

function profilesOf(input: MembershipInput): { profiles: Profile[]; withoutIdentity: number } {
  const profiles: Profile[] = []
  let withoutIdentity = 0
  for (const p of input.profiles) {
    if (p.changes.length === 0) continue
    const distinctId = resolveDistinctId(p.identities, input.identityOrder)
    if (distinctId === undefined) withoutIdentity++
    const userKey = p.mpid !== undefined ? `mpid:${p.mpid}` : distinctId !== undefined ? `did:${distinctId}` : undefined
    if (userKey === undefined) continue
    profiles.push({ userKey, distinctId, changes: p.changes })
  }
  return { profiles, withoutIdentity }
}

const membershipRef = (userKey: string): RecordRef => ({ kind: 'membership', scope: '', key: userKey })

export function membershipRequest(input: MembershipInput, now: number): MessageRequest {
  const { profiles } = profilesOf(input)
  return {
    dedupe: { source: 'mparticle', key: input.messageId },
    locks: profiles.map((p) => `user:${p.userKey}`),
    load: { get: profiles.map((p) => membershipRef(p.userKey)), scan: [{ kind: 'audience', scope: '' }] },
    now,
  }
}

export function planMembership(input: MembershipInput) {
  return (state: LoadedState): PlanStep<MembershipResult> => {
    const { profiles, withoutIdentity } = profilesOf(input)
    const audiences = new Map((scanned<AudienceRecord>(state, 'audience', '') ?? []).map((a) => [a.key, a.value]))
    const writes: RecordWrite[] = []
    const outgoing: OutgoingUpdate[] = []
    const result: MembershipResult = { applied: 0, stale: 0, withoutIdentity }
    const dest = mixpanelDest(input.settings.apiBase, input.settings.token)
    // Several profiles of one message may be the same user: each sees the one before.
    const current = new Map<string, Map<string, { member: boolean; ts: number }>>()

    for (const p of profiles) {
      const stored = current.get(p.userKey) ?? new Map(Object.entries(read<MembershipRecord>(state, membershipRef(p.userKey))?.audiences ?? {}))
      // A Map, not an object: audience ids are integer-like keys, which make plain objects slow to copy and grow.
      const after = new Map(stored)
      const touched = new Map<string, AudienceChange>()
      for (const c of p.changes) {
        const id = String(c.audienceId)
        if (audiences.get(id)?.removed === true) continue
        const cur = after.get(id)
        if (cur !== undefined && cur.ts > input.timestampMs) { result.stale++; continue }
        after.set(id, { member: c.member, ts: input.timestampMs })
        touched.set(id, c)
        // Remember a name for later messages that omit it.
        if (c.audienceName !== undefined && !audiences.has(id)) {
          const rec: AudienceRecord = { name: c.audienceName, removed: false, ts: 0 }
          audiences.set(id, rec)
          writes.push({ kind: 'audience', scope: '', key: id, value: rec })
        }
      }
      if (touched.size === 0) continue
      current.set(p.userKey, after)
      writes.push({ ...membershipRef(p.userKey), value: { audiences: Object.fromEntries(after) } satisfies MembershipRecord })
      const changed = [...touched].filter(([id]) => (stored.get(id)?.member ?? false) !== after.get(id)!.member)
      if (changed.length === 0) continue
      result.applied += changed.length
      if (p.distinctId === undefined) continue
      const members: number[] = []
      for (const [id, m] of after) if (m.member && audiences.get(id)?.removed !== true) members.push(Number(id))
      members.sort((a, b) => a - b)
      const named: Record<string, string> = {}
      if (input.settings.oneAttributePerAudience) {
        for (const [id, c] of changed) named[id] = c.audienceName ?? audiences.get(id)?.name ?? id
      }
      const payload: EngagePayload = { token: input.settings.token, distinctId: p.distinctId, members, named }
      outgoing.push({ sink: 'mixpanel', dest, userKey: p.distinctId, payload })
    }
    return { result, writes, outgoing }
  }
}
