/**
 * Mixpanel cohort webhook → each member's state in the cohort and mParticle
 * user-attribute updates. Pure: `cohortRequest` says what to load,
 * `planCohort` decides (asking for the whole cohort when it needs it).
 *
 * Rules (docs/shim.md, "Mixpanel → mParticle"): entering members get
 * `"<Cohort Name>": true`, leaving members `false`; a `members` snapshot
 * (possibly in pages) makes everybody not in it leave once its last page is
 * in; a member is one person across syncs (keyed by distinct id), so an
 * identity change never sends `true` and `false` for them; a renamed cohort
 * moves its members to the new attribute (`old: false, new: true`).
 */
import type { MparticlePayload } from '../destinations/mparticle-events/index.js'
import { read, scanned } from '../store/state.js'
import type { LoadedState, MessageRequest, OutgoingUpdate, PlanStep, RecordKind, RecordRef, RecordWrite } from '../store/types.js'
import type { CohortAction, CohortPerson, MparticleIdentity } from './cohort-webhook.js'

export interface CohortRecord { name: string }
export interface CohortMemberRecord { identity: MparticleIdentity; in: boolean }
export interface SnapshotRecord { total: number; pages: number[]; complete: boolean }

export interface CohortInput {
  action: CohortAction
  cohortId: string
  cohortName: string
  sessionId: string | undefined
  page: { index: number; total: number } | undefined
  members: readonly CohortPerson[]
  /** Set when a replay of this delivery can be recognised. */
  dedupeKey: string | undefined
  /** mParticle Events API base URL. */
  dest: string
  environment: string
}

export interface CohortResult {
  entered: number
  left: number
  /** Members whose stored identity changed (sent `true` under the new one). */
  moved: number
  /** Members re-sent under the new name of a renamed cohort. */
  renamed: number
  snapshotComplete: boolean
  /** A page of a snapshot already completed under the same session id: nothing done. */
  lateReplay: boolean
}

const cohortRef = (id: string): RecordRef => ({ kind: 'cohort', scope: '', key: id })
const memberRef = (cohortId: string, key: string): RecordRef => ({ kind: 'cohort_member', scope: cohortId, key })
const snapshotRef = (cohortId: string, session: string): RecordRef => ({ kind: 'snapshot', scope: cohortId, key: session })
const snapshotScope = (cohortId: string, session: string): string => `${cohortId}/${session}`

export function cohortRequest(input: CohortInput, now: number): MessageRequest {
  const get: RecordRef[] = [cohortRef(input.cohortId)]
  for (const m of input.members) for (const k of [m.key, ...m.aliases]) get.push(memberRef(input.cohortId, k))
  if (input.action === 'members') get.push(snapshotRef(input.cohortId, input.sessionId ?? ''))
  return {
    ...(input.dedupeKey !== undefined ? { dedupe: { source: 'mixpanel', key: input.dedupeKey } } : {}),
    locks: [`cohort:${input.cohortId}`],
    load: { get },
    now,
  }
}

export function planCohort(input: CohortInput) {
  return (state: LoadedState): PlanStep<CohortResult> => {
    const { cohortId, cohortName } = input
    const result: CohortResult = { entered: 0, left: 0, moved: 0, renamed: 0, snapshotComplete: false, lateReplay: false }
    const stored = read<CohortRecord>(state, cohortRef(cohortId))
    const renamedFrom = stored !== null && stored.name !== cohortName ? stored.name : undefined
    const session = input.sessionId ?? ''
    let snapshot: SnapshotRecord | null = null
    if (input.action === 'members') {
      snapshot = read<SnapshotRecord>(state, snapshotRef(cohortId, session))
      // A page of a finished sync with a session id is a late replay; without one it is a new snapshot.
      if (snapshot?.complete === true && input.sessionId !== undefined) {
        return { result: { ...result, lateReplay: true }, writes: [], outgoing: [] }
      }
      if (snapshot?.complete === true) snapshot = null
    }
    const pages = [...new Set([...(snapshot?.pages ?? []), input.page?.index ?? 0])]
    const total = input.page?.total ?? 1
    const completes = input.action === 'members' && pages.length >= total
    const everyone = scanned<CohortMemberRecord>(state, 'cohort_member', cohortId)
    const inSnapshot = scanned<true>(state, 'snapshot_member', snapshotScope(cohortId, session))
    if ((renamedFrom !== undefined || completes) && everyone === undefined) {
      const scan: { kind: RecordKind; scope: string }[] = [{ kind: 'cohort_member', scope: cohortId }]
      if (completes) scan.push({ kind: 'snapshot_member', scope: snapshotScope(cohortId, session) })
      return { need: { scan } }
    }

    // The members after this message, starting from what is stored (overlaid by this plan's writes).
    const members = new Map<string, CohortMemberRecord>()
    for (const m of everyone ?? []) members.set(m.key, m.value)
    const writes: RecordWrite[] = []
    const attrs = new Map<string, { identity: MparticleIdentity; attributes: Record<string, boolean> }>()
    const send = (key: string, identity: MparticleIdentity, attributes: Record<string, boolean>): void => {
      const prev = attrs.get(key)
      attrs.set(key, { identity, attributes: { ...prev?.attributes, ...attributes } })
    }
    const setMember = (key: string, value: CohortMemberRecord): void => {
      members.set(key, value)
      writes.push({ ...memberRef(cohortId, key), value })
    }
    const storedMember = (p: CohortPerson): { key: string; value: CohortMemberRecord } | undefined => {
      for (const k of [p.key, ...p.aliases]) {
        const v = members.has(k) ? members.get(k)! : read<CohortMemberRecord>(state, memberRef(cohortId, k))
        if (v !== null && v !== undefined) return { key: k, value: v }
      }
      return undefined
    }
    // A person found under an old key moves to their key now.
    const claim = (p: CohortPerson): CohortMemberRecord | undefined => {
      const found = storedMember(p)
      if (found !== undefined && found.key !== p.key) {
        members.delete(found.key)
        writes.push({ ...memberRef(cohortId, found.key), value: null })
      }
      return found?.value
    }
    const enter = (p: CohortPerson): void => {
      const cur = claim(p)
      const sameIdentity = cur !== undefined && cur.identity.type === p.identity.type && cur.identity.value === p.identity.value
      if (cur?.in === true && sameIdentity) {
        if (storedMember(p)?.key !== p.key) setMember(p.key, cur)
        return
      }
      setMember(p.key, { identity: p.identity, in: true })
      if (cur?.in === true) result.moved++
      else result.entered++
      send(p.key, p.identity, { [cohortName]: true })
    }

    const touched = new Set(input.members.map((m) => m.key))
    if (input.action === 'remove_members') {
      for (const p of input.members) {
        const cur = claim(p)
        // Unknown members are recorded as out too, so a replayed removal sends nothing twice.
        if (cur !== undefined && !cur.in) {
          if (storedMember(p)?.key !== p.key) setMember(p.key, cur)
          continue
        }
        setMember(p.key, { identity: cur?.identity ?? p.identity, in: false })
        result.left++
        send(p.key, p.identity, { [cohortName]: false })
      }
    } else {
      for (const p of input.members) enter(p)
    }

    const deleteScopes: { kind: 'snapshot_member'; scope: string }[] = []
    if (input.action === 'members') {
      if (completes) {
        const present = new Set([...(inSnapshot ?? []).map((m) => m.key), ...touched])
        for (const [key, m] of [...members]) {
          if (!m.in || present.has(key)) continue
          setMember(key, { ...m, in: false })
          result.left++
          send(key, m.identity, { [cohortName]: false })
        }
        deleteScopes.push({ kind: 'snapshot_member', scope: snapshotScope(cohortId, session) })
        result.snapshotComplete = true
      } else {
        for (const key of touched) writes.push({ kind: 'snapshot_member', scope: snapshotScope(cohortId, session), key, value: true })
      }
      writes.push({ ...snapshotRef(cohortId, session), value: { total, pages, complete: completes } satisfies SnapshotRecord })
    }

    if (renamedFrom !== undefined) {
      // Everybody in the cohort moves to the new attribute name; the old one is cleared, also for those leaving now.
      for (const [key, m] of members) {
        if (!m.in) continue
        result.renamed++
        send(key, m.identity, { [renamedFrom]: false, [cohortName]: true })
      }
      for (const before of everyone ?? []) {
        if (before.value.in && members.get(before.key)?.in === false) send(before.key, before.value.identity, { [renamedFrom]: false })
      }
    }
    if (stored?.name !== cohortName) writes.push({ ...cohortRef(cohortId), value: { name: cohortName } satisfies CohortRecord })

    const outgoing: OutgoingUpdate[] = [...attrs].map(([key, a]) => {
      const payload: MparticlePayload = { identity: a.identity, environment: input.environment, user_attributes: a.attributes }
      return { sink: 'mparticle', dest: input.dest, userKey: key, payload }
    })
    return { result, writes, deleteScopes, outgoing }
  }
}
