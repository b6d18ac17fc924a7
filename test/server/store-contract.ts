/**
 * The store contract: what every backend (SQLite, PostgreSQL) must do, as a
 * suite any backend runs with `describeStore(name, open)`.
 *
 * `open()` gives a fresh, empty store on its own data; `reopen()` closes it and
 * opens the same data again (a restart); `replica()`, for backends that allow
 * several processes on one database, opens a second store on the same data.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { read, scanned } from '../../src/server/store/state.js'
import type {
  LoadedState, MessageRequest, OutgoingUpdate, PlanStep, RecordWrite, Sink, Store,
} from '../../src/server/store/types.js'

export interface StoreFixture {
  store: Store
  reopen(): Promise<Store>
  replica?: () => Promise<Store>
  cleanup(): Promise<void>
}

const T0 = 1_700_000_000_000
const LEASE = 60_000

const req = (over: Partial<MessageRequest> = {}): MessageRequest => ({ locks: [], load: {}, now: T0, ...over })
const update = (userKey: string, payload: unknown = { v: userKey }, dest = 'http://dest', sink: Sink = 'mixpanel'): OutgoingUpdate =>
  ({ sink, dest, userKey, payload })
const final = <R>(result: R, writes: RecordWrite[] = [], outgoing: OutgoingUpdate[] = []): PlanStep<R> => ({ result, writes, outgoing })
const counterRef = { kind: 'membership', scope: '', key: 'counter' } as const

/** Queues `updates` through `apply`, as a flow would. */
async function enqueue(store: Store, ...updates: OutgoingUpdate[]): Promise<void> {
  await store.apply(req(), () => final(null, [], updates))
}

const keysOf = (rows: { userKey: string }[] | undefined): string[] => (rows ?? []).map((r) => r.userKey)
const payloads = (rows: { payload: string }[] | undefined): unknown[] => (rows ?? []).map((r) => JSON.parse(r.payload) as unknown)

export function describeStore(name: string, open: () => Promise<StoreFixture>): void {
  describe(`store contract: ${name}`, () => {
    let fx: StoreFixture
    let store: Store
    const extra: Store[] = []
    const setup = async (): Promise<Store> => {
      fx = await open()
      store = fx.store
      return store
    }
    afterEach(async () => {
      for (const s of extra.splice(0)) await s.close().catch(() => {})
      await store?.close().catch(() => {})
      await fx?.cleanup()
    })

    describe('StateStore.apply', () => {
      it('commits record writes, outbox rows and the dedupe record together, and a later message reads them', async () => {
        await setup()
        const r = await store.apply(req({ dedupe: { source: 'test', key: 'm1' }, load: { get: [counterRef] } }), (state) => {
          expect(read(state, counterRef)).toBeNull()
          return final('done', [{ ...counterRef, value: { n: 1 } }], [update('u1', { n: 1 })])
        })
        expect(r).toEqual({ duplicate: false, result: 'done', queued: 1 })
        const seen: unknown[] = []
        await store.apply(req({ load: { get: [counterRef] } }), (state) => { seen.push(read(state, counterRef)); return final(null) })
        expect(seen).toEqual([{ n: 1 }])
        const claimed = await store.claim('mixpanel', { owner: 'a', max: 10, now: T0, leaseMs: LEASE })
        expect(claimed?.dest).toBe('http://dest')
        expect(payloads(claimed?.rows)).toEqual([{ n: 1 }])
        expect(claimed?.rows[0]).toMatchObject({ sink: 'mixpanel', userKey: 'u1', attempts: 0, createdAt: T0 })
      })

      it('answers a replayed dedupe key as a duplicate without calling the plan or writing anything', async () => {
        await setup()
        await store.apply(req({ dedupe: { source: 'test', key: 'm1' } }), () => final(1, [], [update('u1')]))
        let called = false
        const again = await store.apply(req({ dedupe: { source: 'test', key: 'm1' } }), () => { called = true; return final(2, [], [update('u1')]) })
        expect(again).toEqual({ duplicate: true })
        expect(called).toBe(false)
        // The same key from another source is another message.
        expect(await store.apply(req({ dedupe: { source: 'other', key: 'm1' } }), () => final(3))).toMatchObject({ duplicate: false })
        expect((await store.gauges(T0)).find((g) => g.sink === 'mixpanel')?.pending).toBe(1)
      })

      it('keeps nothing of a plan that throws: no records, no outbox rows, no dedupe record', async () => {
        await setup()
        await expect(store.apply(req({ dedupe: { source: 'test', key: 'm1' } }), () => { throw new Error('plan failed') })).rejects.toThrow('plan failed')
        const r = await store.apply(req({ dedupe: { source: 'test', key: 'm1' }, load: { get: [counterRef] } }), (state) =>
          final(read(state, counterRef)))
        expect(r).toEqual({ duplicate: false, result: null, queued: 0 })
        expect(await store.claim('mixpanel', { owner: 'a', max: 10, now: T0, leaseMs: LEASE })).toBeUndefined()
      })

      it('calls the plan again with the records it asks for, and serves scans of a scope', async () => {
        await setup()
        const members: RecordWrite[] = ['a', 'b', 'c'].map((key) => ({ kind: 'cohort_member', scope: '7', key, value: { in: true } }))
        await store.apply(req(), () => final(null, [...members, { kind: 'cohort_member', scope: '8', key: 'z', value: { in: true } }]))
        const calls: number[] = []
        const r = await store.apply(req(), (state: LoadedState) => {
          calls.push(1)
          const all = scanned<{ in: boolean }>(state, 'cohort_member', '7')
          if (all === undefined) return { need: { scan: [{ kind: 'cohort_member', scope: '7' }] } }
          return final(all.map((m) => m.key).sort())
        })
        expect(calls).toHaveLength(2)
        expect(r).toEqual({ duplicate: false, result: ['a', 'b', 'c'], queued: 0 })
      })

      it('deletes a record written as null and every record of a deleted scope', async () => {
        await setup()
        await store.apply(req(), () => final(null, [
          { kind: 'snapshot_member', scope: '7/s1', key: 'a', value: true },
          { kind: 'snapshot_member', scope: '7/s1', key: 'b', value: true },
          { kind: 'snapshot_member', scope: '7/s2', key: 'a', value: true },
          { kind: 'cohort', scope: '', key: '7', value: { name: 'C' } },
        ]))
        await store.apply(req(), () => ({
          result: null,
          writes: [{ kind: 'cohort', scope: '', key: '7', value: null }],
          deleteScopes: [{ kind: 'snapshot_member', scope: '7/s1' }],
          outgoing: [],
        }))
        const cohort = { kind: 'cohort', scope: '', key: '7' } as const
        const r = await store.apply(req({ load: { get: [cohort], scan: [{ kind: 'snapshot_member', scope: '7/s1' }, { kind: 'snapshot_member', scope: '7/s2' }] } }), (s) =>
          final([read(s, cohort), scanned(s, 'snapshot_member', '7/s1')?.length, scanned(s, 'snapshot_member', '7/s2')?.length]))
        expect(r).toMatchObject({ result: [null, 0, 1] })
      })

      it('runs messages that share a lock one after the other, so no read-modify-write is lost', async () => {
        await setup()
        const bump = (): Promise<unknown> => store.apply(req({ locks: ['user:counter'], load: { get: [counterRef] } }), (state) => {
          const cur = read<{ n: number }>(state, counterRef)?.n ?? 0
          return final(cur + 1, [{ ...counterRef, value: { n: cur + 1 } }])
        })
        await Promise.all(Array.from({ length: 20 }, bump))
        const r = await store.apply(req({ load: { get: [counterRef] } }), (s) => final(read(s, counterRef)))
        expect(r).toMatchObject({ result: { n: 20 } })
      })

      it('applies one of several concurrent deliveries of the same message', async () => {
        await setup()
        const results = await Promise.all(Array.from({ length: 8 }, () =>
          store.apply(req({ dedupe: { source: 'test', key: 'same' } }), () => final(null, [], [update('u1')]))))
        expect(results.filter((r) => !r.duplicate)).toHaveLength(1)
        expect((await store.gauges(T0)).find((g) => g.sink === 'mixpanel')?.pending).toBe(1)
      })

      it('forgets dedupe records older than the prune time', async () => {
        await setup()
        await store.apply(req({ dedupe: { source: 'test', key: 'old' }, now: T0 }), () => final(null))
        await store.apply(req({ dedupe: { source: 'test', key: 'new' }, now: T0 + 10_000 }), () => final(null))
        await store.prune(T0 + 5_000)
        expect(await store.apply(req({ dedupe: { source: 'test', key: 'old' } }), () => final(null))).toMatchObject({ duplicate: false })
        expect(await store.apply(req({ dedupe: { source: 'test', key: 'new' } }), () => final(null))).toEqual({ duplicate: true })
      })

      it('keeps records, outbox rows and dedupe records across a restart', async () => {
        await setup()
        await store.apply(req({ dedupe: { source: 'test', key: 'm1' } }), () => final(null, [{ ...counterRef, value: { n: 5 } }], [update('u1')]))
        store = await fx.reopen()
        expect(await store.apply(req({ dedupe: { source: 'test', key: 'm1' } }), () => final(null))).toEqual({ duplicate: true })
        expect(await store.apply(req({ load: { get: [counterRef] } }), (s) => final(read(s, counterRef)))).toMatchObject({ result: { n: 5 } })
        expect(keysOf((await store.claim('mixpanel', { owner: 'a', max: 10, now: T0, leaseMs: LEASE }))?.rows)).toEqual(['u1'])
      })
    })

    describe('Outbox', () => {
      const claim = (owner: string, now = T0, max = 100, sink: Sink = 'mixpanel') => store.claim(sink, { owner, max, now, leaseMs: LEASE })

      it('claims due rows of one dest in order, and never the same row twice while leased', async () => {
        await setup()
        await enqueue(store, update('u1'), update('u2'), update('u3', {}, 'http://other'), update('m1', {}, 'http://mp', 'mparticle'))
        const a = await claim('a')
        expect(a?.dest).toBe('http://dest')
        expect(keysOf(a?.rows)).toEqual(['u1', 'u2'])
        expect(a!.rows[0]!.id).toBeLessThan(a!.rows[1]!.id)
        const b = await claim('b')
        expect(b?.dest).toBe('http://other')
        expect(keysOf(b?.rows)).toEqual(['u3'])
        expect(await claim('c')).toBeUndefined()
        expect(keysOf((await claim('c', T0, 100, 'mparticle'))?.rows)).toEqual(['m1'])
        expect((await store.gauges(T0)).find((g) => g.sink === 'mixpanel')).toMatchObject({ pending: 0, inflight: 3, failed: 0 })
      })

      it('never hands out a user\'s row while an older row of that user is leased', async () => {
        await setup()
        await enqueue(store, update('u1', 1), update('u2', 2))
        await enqueue(store, update('u1', 3))
        const a = await claim('a', T0, 1)
        expect(payloads(a?.rows)).toEqual([1])
        const b = await claim('b')
        expect(payloads(b?.rows)).toEqual([2])
        expect(await claim('c')).toBeUndefined()
        await store.complete('a', a!.rows.map((r) => r.id))
        expect(payloads((await claim('c'))?.rows)).toEqual([3])
      })

      it('claims a user\'s rows together, oldest first, when they are due together', async () => {
        await setup()
        await enqueue(store, update('u1', 1))
        await enqueue(store, update('u2', 2))
        await enqueue(store, update('u1', 3))
        expect(payloads((await claim('a'))?.rows)).toEqual([1, 2, 3])
      })

      it('does not hand out two rows of one user to concurrent claims', async () => {
        await setup()
        for (let i = 0; i < 10; i++) await enqueue(store, ...Array.from({ length: 5 }, (_, u) => update(`u${u}`, i)))
        const claims = await Promise.all(Array.from({ length: 6 }, (_, i) => claim(`o${i}`, T0, 7)))
        const owners = new Map<string, number>()
        claims.forEach((c, i) => { for (const r of c?.rows ?? []) expect(owners.get(r.userKey) ?? i).toBe(i); for (const r of c?.rows ?? []) owners.set(r.userKey, i) })
        const ids = claims.flatMap((c) => (c?.rows ?? []).map((r) => r.id))
        expect(new Set(ids).size).toBe(ids.length)
      })

      it('acts on complete / reschedule / keepFailed only for the owner that holds the lease', async () => {
        await setup()
        await enqueue(store, update('u1'))
        const a = await claim('a')
        const ids = a!.rows.map((r) => r.id)
        await store.complete('intruder', ids)
        await store.keepFailed('intruder', ids, 'no', T0)
        await store.reschedule('intruder', ids, { at: T0, error: 'no', countAttempt: true, now: T0 })
        expect((await store.gauges(T0)).find((g) => g.sink === 'mixpanel')).toMatchObject({ pending: 0, inflight: 1, failed: 0 })
        await store.complete('a', ids)
        expect((await store.gauges(T0)).find((g) => g.sink === 'mixpanel')).toMatchObject({ pending: 0, inflight: 0, failed: 0 })
      })

      it('gives rows of an expired lease to another owner, and the old owner can no longer complete them', async () => {
        await setup()
        await enqueue(store, update('u1'))
        const a = await claim('a')
        expect(await store.expireLeases(T0 + LEASE - 1)).toBe(0)
        expect(await claim('b', T0 + LEASE - 1)).toBeUndefined()
        expect(await store.expireLeases(T0 + LEASE + 1)).toBe(1)
        const b = await claim('b', T0 + LEASE + 1)
        expect(keysOf(b?.rows)).toEqual(['u1'])
        await store.complete('a', a!.rows.map((r) => r.id))
        expect((await store.gauges(T0)).find((g) => g.sink === 'mixpanel')?.inflight).toBe(1)
        await store.complete('b', b!.rows.map((r) => r.id))
        expect((await store.gauges(T0)).find((g) => g.sink === 'mixpanel')?.inflight).toBe(0)
      })

      it('releases every lease at once when asked (a single-process store at start)', async () => {
        await setup()
        await enqueue(store, update('u1'), update('u2'))
        await claim('a')
        expect(await store.releaseAllLeases(T0)).toBe(2)
        const rows = (await claim('b'))?.rows
        expect(keysOf(rows)).toEqual(['u1', 'u2'])
        expect(rows?.map((r) => r.attempts)).toEqual([0, 0])
      })

      it('reschedules with an attempt counted, and a rescheduled row holds back the user\'s newer rows until it is due', async () => {
        await setup()
        await enqueue(store, update('u1', 1), update('u2', 2))
        const a = await claim('a')
        await store.reschedule('a', a!.rows.map((r) => r.id), { at: T0 + 1000, error: 'HTTP 500', countAttempt: true, now: T0 })
        await enqueue(store, update('u1', 3), update('u3', 4))
        expect(payloads((await claim('b', T0 + 10))?.rows)).toEqual([4])
        const summary = await store.dueSummary('mixpanel', T0 + 10)
        expect(summary.nextDueAt).toBe(T0 + 1000)
        const c = await claim('c', T0 + 1000)
        expect(payloads(c?.rows)).toEqual([1, 2, 3])
        expect(c?.rows.map((r) => r.attempts)).toEqual([1, 1, 0])
      })

      it('keeps failed rows, holds back the user\'s newer rows, and requeues them on request', async () => {
        await setup()
        await enqueue(store, update('u1', 1), update('u2', 2))
        const a = await claim('a')
        await store.keepFailed('a', [a!.rows[0]!.id], 'HTTP 400: bad', T0)
        await store.complete('a', [a!.rows[1]!.id])
        await enqueue(store, update('u1', 3), update('u2', 4))
        expect(payloads((await claim('b'))?.rows)).toEqual([4])
        expect((await store.gauges(T0)).find((g) => g.sink === 'mixpanel')).toMatchObject({ failed: 1, pending: 1 })
        expect(await store.requeueFailed({ sink: 'mparticle', now: T0 })).toBe(0)
        expect(await store.requeueFailed({ sink: 'mixpanel', now: T0 })).toBe(1)
        expect(payloads((await claim('c'))?.rows)).toEqual([1, 3])
      })

      it('claims nothing for a paused sink, persists the pause and its failure count, and clears both on resume', async () => {
        await setup()
        await enqueue(store, update('u1'), update('m1', {}, 'http://mp', 'mparticle'))
        const s1 = await store.pauseSink('mixpanel', { until: T0 + 5000, kind: 'auth', reason: 'HTTP 401', now: T0 })
        expect(s1).toMatchObject({ sink: 'mixpanel', pausedUntil: T0 + 5000, kind: 'auth', reason: 'HTTP 401', failures: 1, since: T0 })
        expect(await claim('a')).toBeUndefined()
        expect(keysOf((await claim('a', T0, 10, 'mparticle'))?.rows)).toEqual(['m1'])
        expect(await store.dueSummary('mixpanel', T0)).toMatchObject({ due: 0, nextDueAt: T0 + 5000 })
        store = await fx.reopen()
        const s2 = await store.pauseSink('mixpanel', { until: T0 + 9000, kind: 'auth', reason: 'HTTP 401 again', now: T0 + 5000 })
        expect(s2).toMatchObject({ pausedUntil: T0 + 9000, failures: 2, since: T0 })
        expect(await claim('a', T0 + 8000)).toBeUndefined()
        expect(keysOf((await claim('a', T0 + 9000))?.rows)).toEqual(['u1'])
        await store.resumeSink('mixpanel')
        expect(await store.sinkState('mixpanel')).toMatchObject({ pausedUntil: 0, failures: 0, since: 0 })
      })

      it('never reuses a row id, even after the newest row is deleted', async () => {
        await setup()
        await enqueue(store, update('u1'))
        const a = await claim('a')
        await store.complete('a', a!.rows.map((r) => r.id))
        await enqueue(store, update('u2'))
        const b = await claim('b')
        expect(b!.rows[0]!.id).toBeGreaterThan(a!.rows[0]!.id)
      })

      it('reports gauges per sink with the age of the oldest unconfirmed update', async () => {
        await setup()
        await enqueue(store, update('u1'))
        const g = await store.gauges(T0 + 4000)
        expect(g.find((x) => x.sink === 'mixpanel')).toEqual({ sink: 'mixpanel', pending: 1, inflight: 0, failed: 0, oldestPendingAgeSeconds: 4 })
        expect(g.find((x) => x.sink === 'mparticle')).toEqual({ sink: 'mparticle', pending: 0, inflight: 0, failed: 0, oldestPendingAgeSeconds: 0 })
      })

      it('says it can write when it can', async () => {
        await setup()
        await expect(store.checkWritable(T0)).resolves.toBeUndefined()
      })

      it('shares leases, per-user order and the pause between replicas on the same data', async ({ skip }) => {
        await setup()
        if (fx.replica === undefined) return skip()
        const other = await fx.replica()
        extra.push(other)
        await enqueue(store, update('u1', 1), update('u2', 2))
        await enqueue(other, update('u1', 3))
        expect(payloads((await store.claim('mixpanel', { owner: 'a', max: 1, now: T0, leaseMs: LEASE }))?.rows)).toEqual([1])
        expect(payloads((await other.claim('mixpanel', { owner: 'b', max: 10, now: T0, leaseMs: LEASE }))?.rows)).toEqual([2])
        await store.pauseSink('mparticle', { until: T0 + 1000, kind: 'retry', reason: 'Retry-After', now: T0 })
        expect((await other.sinkState('mparticle')).pausedUntil).toBe(T0 + 1000)
        expect(await other.apply(req({ dedupe: { source: 'test', key: 'x' } }), () => final(null))).toMatchObject({ duplicate: false })
        expect(await store.apply(req({ dedupe: { source: 'test', key: 'x' } }), () => final(null))).toEqual({ duplicate: true })
      })
    })
  })
}
