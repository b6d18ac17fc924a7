/**
 * The decisions, without a database: each flow's plan from a hand-made
 * state, each destination's coalescing and answer classification.
 */
import { describe, expect, it } from 'vitest'
import { byStatus } from '../../src/server/destinations/answer.js'
import { engageSet, mixpanelEngage, type EngagePayload } from '../../src/server/destinations/mixpanel-engage/index.js'
import { mparticleEvents } from '../../src/server/destinations/mparticle-events/index.js'
import { membershipRequest, planMembership, type MembershipInput } from '../../src/server/flows/audience-membership.js'
import { planSubscription } from '../../src/server/flows/audience-subscription.js'
import { cohortRequest, planCohort, type CohortInput } from '../../src/server/flows/cohort.js'
import { cohortPerson } from '../../src/server/flows/cohort-webhook.js'
import { loadConfig } from '../../src/server/config.js'
import { addLoaded, emptyState } from '../../src/server/store/state.js'
import type { LoadedState, OutboxRow, PlanStep, RecordRef, StoredRecord } from '../../src/server/store/types.js'

/** A state holding `records` (absent ones read as null) and answering scans of `scanned` scopes. */
function state(records: StoredRecord[], gets: RecordRef[] = [], scopes: { kind: StoredRecord['kind']; scope: string }[] = []): LoadedState {
  const s = emptyState()
  const at = (r: RecordRef) => records.find((x) => x.kind === r.kind && x.scope === r.scope && x.key === r.key)
  addLoaded(s, gets.map((r) => [r, at(r)?.value ?? null]), scopes.map((sc) => [sc, records.filter((r) => r.kind === sc.kind && r.scope === sc.scope)]))
  return s
}
const final = <R>(step: PlanStep<R>) => {
  if ('need' in step) throw new Error('expected a final plan')
  return step
}
const settings = { token: 'tok', apiBase: 'http://mp', oneAttributePerAudience: true }
const profile = (customer: string | undefined, changes: [number, string | undefined, boolean][], mpid?: string) => ({
  mpid,
  identities: customer === undefined ? [] : [{ type: 'customer', encoding: 'raw', value: customer }],
  changes: changes.map(([audienceId, audienceName, member]) => ({ audienceId, audienceName, member })),
})

describe('flows/audience-membership', () => {
  const input = (profiles: ReturnType<typeof profile>[], ts = 100): MembershipInput =>
    ({ messageId: 'm', timestampMs: ts, profiles, settings, identityOrder: ['customer'] })

  it('asks for the users it touches and every audience, dedupes by message id, locks each user', () => {
    const req = membershipRequest(input([profile('c1', [[1, 'A', true]]), profile(undefined, [[1, 'A', true]], '9')]), 5)
    expect(req).toEqual({
      dedupe: { source: 'mparticle', key: 'm' },
      locks: ['user:did:c1', 'user:mpid:9'],
      load: { get: [{ kind: 'membership', scope: '', key: 'did:c1' }, { kind: 'membership', scope: '', key: 'mpid:9' }], scan: [{ kind: 'audience', scope: '' }] },
      now: 5,
    })
  })

  it('writes the new membership and one engage payload with the whole membership and the changed audiences named', () => {
    const s = state([
      { kind: 'membership', scope: '', key: 'did:c1', value: { audiences: { 5: { member: true, ts: 50 } } } },
      { kind: 'audience', scope: '', key: '5', value: { name: 'Five', removed: false, ts: 0 } },
    ], [{ kind: 'membership', scope: '', key: 'did:c1' }], [{ kind: 'audience', scope: '' }])
    const plan = final(planMembership(input([profile('c1', [[7, 'Seven', true]])]))(s))
    expect(plan.result).toEqual({ applied: 1, stale: 0, withoutIdentity: 0 })
    expect(plan.writes).toEqual([
      { kind: 'audience', scope: '', key: '7', value: { name: 'Seven', removed: false, ts: 0 } },
      { kind: 'membership', scope: '', key: 'did:c1', value: { audiences: { 5: { member: true, ts: 50 }, 7: { member: true, ts: 100 } } } },
    ])
    expect(plan.outgoing).toEqual([{ sink: 'mixpanel', dest: 'http://mp tok', userKey: 'c1', payload: { token: 'tok', distinctId: 'c1', members: [5, 7], named: { 7: 'Seven' } } }])
  })

  it('ignores changes older than the stored one and changes to a removed audience; a no-op sends nothing', () => {
    const s = state([
      { kind: 'membership', scope: '', key: 'did:c1', value: { audiences: { 1: { member: true, ts: 200 } } } },
      { kind: 'audience', scope: '', key: '3', value: { name: 'C', removed: true, ts: 0 } },
    ], [{ kind: 'membership', scope: '', key: 'did:c1' }], [{ kind: 'audience', scope: '' }])
    const plan = final(planMembership(input([profile('c1', [[1, 'A', false], [3, 'C', true], [2, 'B', true], [2, 'B', false]])]))(s))
    expect(plan.result).toEqual({ applied: 0, stale: 1, withoutIdentity: 0 })
    expect(plan.outgoing).toEqual([])
  })

  it('keeps the state of a profile with an MPID and no distinct id, and counts it as sent to nobody', () => {
    const s = state([], [{ kind: 'membership', scope: '', key: 'mpid:9' }], [{ kind: 'audience', scope: '' }])
    const plan = final(planMembership(input([profile(undefined, [[1, 'A', true]], '9')]))(s))
    expect(plan.result).toEqual({ applied: 1, stale: 0, withoutIdentity: 1 })
    expect(plan.writes.map((w) => w.key)).toEqual(['1', 'mpid:9'])
    expect(plan.outgoing).toEqual([])
  })
})

describe('flows/audience-subscription', () => {
  const ref = { kind: 'audience', scope: '', key: '4' } as const
  it('records the name and the removal, unless an newer change is stored', () => {
    const input = { messageId: 'm', timestampMs: 10, audienceId: 4, audienceName: 'Four', action: 'remove' as const }
    expect(final(planSubscription(input)(state([], [ref]))).writes).toEqual([{ ...ref, value: { name: 'Four', removed: true, ts: 10 } }])
    const newer = state([{ ...ref, value: { name: 'x', removed: false, ts: 20 } }], [ref])
    expect(final(planSubscription(input)(newer))).toEqual({ result: { stale: true }, writes: [], outgoing: [] })
  })
})

describe('flows/cohort', () => {
  const rules = loadConfig({}).cohortIdentityOrder
  const person = (m: Record<string, unknown>) => cohortPerson(m, rules)!
  const input = (over: Partial<CohortInput>): CohortInput => ({
    action: 'add_members', cohortId: '7', cohortName: 'C', sessionId: undefined, page: undefined, members: [],
    dedupeKey: undefined, dest: 'http://mpt', environment: 'production', ...over,
  })
  const loadedFor = (i: CohortInput, records: StoredRecord[], scopes: { kind: StoredRecord['kind']; scope: string }[] = []) =>
    state(records, [...(cohortRequest(i, 0).load.get ?? [])], scopes)

  it('knows a member by distinct id, aliases by every identity a rule gives', () => {
    expect(person({ mixpanel_distinct_id: 'd1', $mparticle_user_id: '0042' })).toEqual({
      key: 'did:d1', aliases: ['mpid:42', 'customer_id:d1'], identity: { type: 'mpid', value: '42' },
    })
    expect(person({ $distinct_id: 'd2' })).toEqual({ key: 'did:d2', aliases: ['customer_id:d2'], identity: { type: 'customer_id', value: 'd2' } })
  })

  it('moves a member stored under an old key to their key, sending true only under a changed identity', () => {
    const i = input({ members: [person({ mixpanel_distinct_id: 'd1', $mparticle_user_id: '42' })] })
    const plan = final(planCohort(i)(loadedFor(i, [
      { kind: 'cohort', scope: '', key: '7', value: { name: 'C' } },
      { kind: 'cohort_member', scope: '7', key: 'customer_id:d1', value: { identity: { type: 'customer_id', value: 'd1' }, in: true } },
    ])))
    expect(plan.result).toMatchObject({ entered: 0, moved: 1 })
    expect(plan.writes).toEqual([
      { kind: 'cohort_member', scope: '7', key: 'customer_id:d1', value: null },
      { kind: 'cohort_member', scope: '7', key: 'did:d1', value: { identity: { type: 'mpid', value: '42' }, in: true } },
    ])
    expect(plan.outgoing).toEqual([{ sink: 'mparticle', dest: 'http://mpt', userKey: 'did:d1', payload: { identity: { type: 'mpid', value: '42' }, environment: 'production', user_attributes: { C: true } } }])
  })

  it('asks for the whole cohort when it was renamed, then moves everybody in it to the new name', () => {
    const i = input({ cohortName: 'New', members: [] })
    const records: StoredRecord[] = [
      { kind: 'cohort', scope: '', key: '7', value: { name: 'Old' } },
      { kind: 'cohort_member', scope: '7', key: 'did:a', value: { identity: { type: 'customer_id', value: 'a' }, in: true } },
      { kind: 'cohort_member', scope: '7', key: 'did:b', value: { identity: { type: 'customer_id', value: 'b' }, in: false } },
    ]
    expect(planCohort(i)(loadedFor(i, records))).toEqual({ need: { scan: [{ kind: 'cohort_member', scope: '7' }] } })
    const plan = final(planCohort(i)(loadedFor(i, records, [{ kind: 'cohort_member', scope: '7' }])))
    expect(plan.outgoing.map((o) => [o.userKey, (o.payload as { user_attributes: unknown }).user_attributes])).toEqual([['did:a', { Old: false, New: true }]])
    expect(plan.writes).toEqual([{ kind: 'cohort', scope: '', key: '7', value: { name: 'New' } }])
  })

  it('completes a paged snapshot on its last page: absent members leave, the snapshot\'s members are forgotten', () => {
    const a = person({ mixpanel_distinct_id: 'a' })
    const i = input({ action: 'members', sessionId: 's', page: { index: 1, total: 2 }, members: [a] })
    const records: StoredRecord[] = [
      { kind: 'cohort', scope: '', key: '7', value: { name: 'C' } },
      { kind: 'snapshot', scope: '7', key: 's', value: { total: 2, pages: [0], complete: false } },
      { kind: 'snapshot_member', scope: '7/s', key: 'did:b', value: true },
      { kind: 'cohort_member', scope: '7', key: 'did:b', value: { identity: { type: 'customer_id', value: 'b' }, in: true } },
      { kind: 'cohort_member', scope: '7', key: 'did:c', value: { identity: { type: 'customer_id', value: 'c' }, in: true } },
    ]
    expect(planCohort(i)(loadedFor(i, records))).toEqual({ need: { scan: [{ kind: 'cohort_member', scope: '7' }, { kind: 'snapshot_member', scope: '7/s' }] } })
    const plan = final(planCohort(i)(loadedFor(i, records, [{ kind: 'cohort_member', scope: '7' }, { kind: 'snapshot_member', scope: '7/s' }])))
    expect(plan.result).toMatchObject({ entered: 1, left: 1, snapshotComplete: true })
    expect(plan.outgoing.map((o) => [o.userKey, (o.payload as { user_attributes: unknown }).user_attributes])).toEqual([['did:a', { C: true }], ['did:c', { C: false }]])
    expect(plan.deleteScopes).toEqual([{ kind: 'snapshot_member', scope: '7/s' }])
    expect(plan.writes.at(-1)).toEqual({ kind: 'snapshot', scope: '7', key: 's', value: { total: 2, pages: [0, 1], complete: true } })
  })

  it('does nothing for a late page of a completed sync with a session id', () => {
    const i = input({ action: 'members', sessionId: 's', members: [person({ mixpanel_distinct_id: 'a' })] })
    const plan = final(planCohort(i)(loadedFor(i, [{ kind: 'snapshot', scope: '7', key: 's', value: { total: 1, pages: [0], complete: true } }])))
    expect(plan).toEqual({ result: expect.objectContaining({ lateReplay: true }), writes: [], outgoing: [] })
  })
})

const row = (id: number, userKey: string, payload: unknown, attempts = 0): OutboxRow =>
  ({ id, sink: 'mixpanel', dest: 'd', userKey, payload: JSON.stringify(payload), attempts, createdAt: 0 })

describe('destinations/mixpanel-engage', () => {
  const p = (members: number[], named: Record<string, string> = {}): EngagePayload => ({ token: 't', distinctId: 'x', members, named })

  it('derives every In <Audience> from the newest membership, so both views agree', () => {
    expect(engageSet([p([11036], { 11036: 'Aspiring Athenians' }), p([11034], { 11034: 'Ibiza Dreamers' })]).set).toEqual({
      SegmentMembership: "'11034'", 'In Aspiring Athenians': false, 'In Ibiza Dreamers': true,
    })
  })

  it('coalesces a user\'s rows into one update, in the order of each user\'s first row, and still sends what the first shim stored', () => {
    const legacy = { $token: 't', $distinct_id: 'old', $ip: '0', $ignore_time: true, $set: { SegmentMembership: "'1'", 'In A': true } }
    const updates = mixpanelEngage.coalesce([row(1, 'x', p([1])), row(2, 'old', legacy, 2), row(3, 'x', p([1, 2]))])
    expect(updates).toEqual([
      { userKey: 'x', ids: [1, 3], attempts: 0, body: '{"$token":"t","$distinct_id":"x","$ip":"0","$ignore_time":true,"$set":{"SegmentMembership":"\'1\',\'2\'"}}' },
      { userKey: 'old', ids: [2], attempts: 2, body: '{"$token":"t","$distinct_id":"old","$ip":"0","$ignore_time":true,"$set":{"SegmentMembership":"\'1\'","In A":true}}' },
    ])
  })
})

describe('destinations/mparticle-events', () => {
  it('coalesces a person\'s rows into one batch: newest identity, newest value of each attribute', () => {
    const dest = mparticleEvents('k', 's')
    const updates = dest.coalesce([
      row(1, 'did:a', { identity: { type: 'customer_id', value: 'a' }, environment: 'production', user_attributes: { C: true, D: true } }),
      row(2, 'did:a', { identity: { type: 'mpid', value: '9223372036854775807' }, environment: 'production', user_attributes: { C: false } }),
    ])
    expect(updates).toEqual([{
      userKey: 'did:a', ids: [1, 2], attempts: 0,
      body: '{"environment":"production","mpid":9223372036854775807,"user_attributes":{"C":false,"D":true},"schema_version":2}',
    }])
  })
})

describe('destinations/answer', () => {
  const res = (status: number, headers: Record<string, string> = {}, body = '') => ({ status, body, header: (n: string) => headers[n] })
  it('classifies every status family', () => {
    const now = 0
    expect(byStatus(res(200), now)).toBeUndefined()
    expect(byStatus(res(302, { location: 'https://elsewhere/' }), now)).toEqual({ kind: 'retry', reason: 'HTTP 302 redirect to https://elsewhere/ not followed: check the API host', retryAfterMs: undefined })
    for (const s of [401, 403, 404]) expect(byStatus(res(s), now)).toEqual({ kind: 'pause', reason: `HTTP ${s}` })
    for (const s of [408, 425, 429, 500, 503]) expect(byStatus(res(s, { 'retry-after': '3' }), now)).toEqual({ kind: 'retry', reason: `HTTP ${s}`, retryAfterMs: 3000 })
    for (const s of [400, 413, 422]) expect(byStatus(res(s), now)).toEqual({ kind: 'refused', reason: `HTTP ${s}`, split: true })
    expect(byStatus(res(410, {}, 'gone'), now)).toEqual({ kind: 'refused', reason: 'HTTP 410: gone', split: false })
  })
})
