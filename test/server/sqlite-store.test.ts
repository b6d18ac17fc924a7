import { afterEach, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { SqliteStore } from '../../src/server/sqlite-store.js'
import type { AudienceMessageInput, CohortInput } from '../../src/server/store.js'
import { tempDir } from './helpers.js'

const cleanups: (() => void)[] = []
afterEach(() => { for (const c of cleanups.splice(0)) c() })

const settings = { token: 'tok', apiBase: 'http://mp', oneAttributePerAudience: false }
const audienceMsg = (id: string, userKey: string, audienceId: number, member: boolean, ts = 1): AudienceMessageInput => ({
  messageId: id, timestampMs: ts, settings, now: 1000,
  profiles: [{ userKey, distinctId: userKey, changes: [{ audienceId, audienceName: `A${audienceId}`, member }] }],
})
const cohortMsg = (over: Partial<CohortInput>): CohortInput => ({
  action: 'add_members', cohortId: '1', cohortName: 'C', sessionId: undefined, page: undefined, members: [],
  dedupeKey: undefined, dest: 'http://mpt', environment: 'production', now: 1000, ...over,
})
const member = (id: string) => ({ key: `customer_id:${id}`, identity: { type: 'customer_id', value: id } })

describe('SqliteStore', () => {
  it('keeps the state, the dedupe record and the outbox across a reopen of the file', async () => {
    const { dir, cleanup } = tempDir()
    cleanups.push(cleanup)
    const path = join(dir, 'shim.sqlite')
    const a = new SqliteStore({ path, synchronous: 'full' })
    expect((await a.applyAudienceMessage(audienceMsg('m1', 'u1', 5, true))).queued).toBe(1)
    await a.close()
    const b = new SqliteStore({ path, synchronous: 'full' })
    expect((await b.applyAudienceMessage(audienceMsg('m1', 'u1', 5, true))).duplicate).toBe(true)
    const batch = await b.claimBatch('mixpanel', 10, 2000)
    expect(batch?.rows.map((r) => JSON.parse(r.payload))).toEqual([
      { $token: 'tok', $distinct_id: 'u1', $ip: '0', $ignore_time: true, $set: { SegmentMembership: "'5'" } },
    ])
    expect(batch?.dest).toBe('http://mp tok')
    await b.close()
  })

  it('merges a newer pending update into an in-flight one that is released (retry or crash)', async () => {
    const s = new SqliteStore({ path: ':memory:', synchronous: 'normal' })
    await s.applyAudienceMessage({ ...audienceMsg('m1', 'u1', 1, true), settings: { ...settings, oneAttributePerAudience: true } })
    const batch = await s.claimBatch('mixpanel', 10, 2000)
    expect(batch?.rows).toHaveLength(1)
    // While in flight, a newer change creates a second row instead of touching the one being sent.
    await s.applyAudienceMessage({ ...audienceMsg('m2', 'u1', 2, true, 2), settings: { ...settings, oneAttributePerAudience: true } })
    expect((await s.outboxGauges(3000))[0]).toMatchObject({ pending: 1, inflight: 1 })
    expect(await s.recoverInflight(3000)).toBe(1)
    expect((await s.outboxGauges(3000))[0]).toMatchObject({ pending: 1, inflight: 0 })
    const again = await s.claimBatch('mixpanel', 10, 4000)
    expect(again?.rows.map((r) => JSON.parse(r.payload).$set)).toEqual([
      { SegmentMembership: "'1','2'", 'In A1': true, 'In A2': true },
    ])
    await s.close()
  })

  it('only hands out due updates and keeps failed ones with their reason', async () => {
    const s = new SqliteStore({ path: ':memory:', synchronous: 'normal' })
    await s.applyAudienceMessage(audienceMsg('m1', 'u1', 1, true))
    const b = await s.claimBatch('mixpanel', 10, 2000)
    await s.reschedule(b!.rows.map((r) => r.id), 5000, 'HTTP 500', true, 2000)
    expect(await s.claimBatch('mixpanel', 10, 4999)).toBeUndefined()
    expect(await s.dueSummary('mixpanel', 4999)).toEqual({ due: 0, oldestDueCreatedAt: undefined, nextDueAt: 5000 })
    const c = await s.claimBatch('mixpanel', 10, 5000)
    expect(c?.rows[0]?.attempts).toBe(1)
    await s.fail(c!.rows.map((r) => r.id), 'HTTP 400: bad', 5001)
    expect((await s.outboxGauges(6000))[0]).toMatchObject({ pending: 0, inflight: 0, failed: 1, oldestPendingAgeSeconds: 0 })
    await s.close()
  })

  it('finishes a paged snapshot only when every page arrived, whatever the order', async () => {
    const s = new SqliteStore({ path: ':memory:', synchronous: 'normal' })
    await s.applyCohortMessage(cohortMsg({ members: [member('old'), member('keep')] }))
    const p1 = await s.applyCohortMessage(cohortMsg({ action: 'members', sessionId: 'S', page: { index: 1, total: 2 }, members: [member('keep')] }))
    expect(p1).toEqual({ duplicate: false, entered: 0, left: 0, queued: 0, snapshotComplete: false })
    const p0 = await s.applyCohortMessage(cohortMsg({ action: 'members', sessionId: 'S', page: { index: 0, total: 2 }, members: [member('new')] }))
    expect(p0).toEqual({ duplicate: false, entered: 1, left: 1, queued: 2, snapshotComplete: true })
    // A late page of the finished sync changes nothing.
    const late = await s.applyCohortMessage(cohortMsg({ action: 'members', sessionId: 'S', page: { index: 1, total: 2 }, members: [] }))
    expect(late.duplicate).toBe(true)
    await s.close()
  })

  it('forgets dedupe records older than the retention', async () => {
    const s = new SqliteStore({ path: ':memory:', synchronous: 'normal' })
    await s.applyAudienceMessage(audienceMsg('m1', 'u1', 1, true))
    await s.prune(999)
    expect((await s.applyAudienceMessage(audienceMsg('m1', 'u1', 1, true))).duplicate).toBe(true)
    await s.prune(1001)
    expect((await s.applyAudienceMessage(audienceMsg('m1', 'u1', 1, true))).duplicate).toBe(false)
    await s.close()
  })

  it('commits concurrent webhooks together, and a failing one rolls back alone', async () => {
    const { dir, cleanup } = tempDir()
    cleanups.push(cleanup)
    const path = join(dir, 'shim.sqlite')
    const a = new SqliteStore({ path, synchronous: 'full' })
    const broken = { ...audienceMsg('bad', 'u9', 9, true), settings: undefined } as unknown as AudienceMessageInput
    const results = await Promise.allSettled([
      a.applyAudienceMessage(audienceMsg('m1', 'u1', 1, true)),
      a.applyAudienceMessage(broken),
      a.applyAudienceMessage(audienceMsg('m2', 'u2', 2, true)),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    await a.close()
    const b = new SqliteStore({ path, synchronous: 'full' })
    const batch = await b.claimBatch('mixpanel', 10, 2000)
    expect(batch?.rows.map((r) => r.key)).toEqual(['u1', 'u2'])
    // The failed message left no trace: it is not even remembered as seen.
    expect((await b.applyAudienceMessage({ ...audienceMsg('bad', 'u9', 9, true) })).duplicate).toBe(false)
    await b.close()
  })

  it('names the path when the database cannot be opened', () => {
    expect(() => new SqliteStore({ path: '/nonexistent-dir/x/shim.sqlite', synchronous: 'full' }))
      .toThrow(/cannot open the SQLite database at "\/nonexistent-dir\/x\/shim\.sqlite" \(SHIM_DB\)/)
  })
})
