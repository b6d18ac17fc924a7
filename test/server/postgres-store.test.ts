import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openPostgresStore, type PostgresStore } from '../../src/server/store/postgres/postgres-store.js'
import { createTestDatabase, postgresForTests, type TestDatabase } from './postgres-harness.js'
import { describeStore } from './store-contract.js'

const available = (await postgresForTests()).available

if (available) {
  let db: TestDatabase
  beforeAll(async () => { db = await createTestDatabase('store_contract') })
  afterAll(async () => { await db?.drop() })

  const open = () => openPostgresStore({ url: db.url, poolSize: 4 })
  describeStore('postgres', async () => {
    // One database for the file; each test starts from empty tables (creating a database per test is slow).
    const admin = new pg.Client({ connectionString: db.url })
    await admin.connect()
    await admin.query('DROP TABLE IF EXISTS shim_inbound, shim_records, shim_outbox, shim_sinks, shim_health, shim_schema_migrations')
    await admin.end()
    let store = await open()
    return {
      store,
      reopen: async () => { await store.close().catch(() => {}); store = await open(); return store },
      replica: open,
      cleanup: async () => { await store.close().catch(() => {}) },
    }
  })
}

describe.skipIf(!available)('PostgreSQL store: takeover of a dead replica\'s leases', () => {
  let db: TestDatabase
  beforeAll(async () => { db = await createTestDatabase('store_takeover') })
  afterAll(async () => { await db?.drop() })

  it('reports the end of another replica\'s lease as the next due time, then the rows as due, and its claim takes them over', async () => {
    const [a, b] = [await openPostgresStore({ url: db.url, poolSize: 2 }), await openPostgresStore({ url: db.url, poolSize: 2 })]
    try {
      const T0 = 1_700_000_000_000
      await a.apply({ locks: [], load: {}, now: T0 }, () => ({
        result: null, writes: [],
        outgoing: [{ sink: 'mparticle', dest: 'http://mp', userKey: 'u1', payload: 1 }, { sink: 'mparticle', dest: 'http://mp', userKey: 'u1', payload: 2 }],
      }))
      const held = await a.claim('mparticle', { owner: 'a', max: 1, now: T0, leaseMs: 5000 })
      expect(held?.rows.map((r) => r.payload)).toEqual(['1'])
      // Replica a dies here. b's sender sees nothing due (u1's newer row waits for the leased one) until the lease ends.
      expect(await b.dueSummary('mparticle', T0 + 10)).toEqual({ due: 0, oldestDueCreatedAt: undefined, nextDueAt: T0 + 5001 })
      expect(await b.dueSummary('mparticle', T0 + 5001)).toEqual({ due: 1, oldestDueCreatedAt: T0, nextDueAt: undefined })
      const taken = await b.claim('mparticle', { owner: 'b', max: 10, now: T0 + 5001, leaseMs: 5000 })
      expect(taken?.rows.map((r) => r.payload)).toEqual(['1', '2'])
      await a.complete('a', held!.rows.map((r) => r.id))
      expect((await b.gauges(T0 + 5001)).find((g) => g.sink === 'mparticle')).toMatchObject({ pending: 0, inflight: 2 })
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })
})

describe.skipIf(!available)('PostgreSQL store: the server ends its connections (a restart, a failover)', () => {
  let db: TestDatabase
  beforeAll(async () => { db = await createTestDatabase('store_reconnect') })
  afterAll(async () => { await db?.drop() })

  it('commits the next message on a new connection instead of failing on a dead pooled one', async () => {
    const store = await openPostgresStore({ url: db.url, poolSize: 3 })
    const admin = new pg.Client({ connectionString: db.url })
    await admin.connect()
    try {
      const message = (key: string) => store.apply({ dedupe: { source: 'test', key }, locks: ['user:u1'], load: {}, now: Date.now() },
        () => ({ result: key, writes: [], outgoing: [{ sink: 'mixpanel', dest: 'http://d', userKey: 'u1', payload: key }] }))
      // Three connections open and idle in the pool.
      await Promise.all([message('m1'), message('m2'), message('m3')])
      const ended = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')
      expect(ended.rowCount).toBe(3)
      expect(await Promise.all([message('m4'), message('m5'), message('m6')])).toEqual(['m4', 'm5', 'm6'].map((result) => ({ duplicate: false, result, queued: 1 })))
      expect(await store.checkWritable(Date.now())).toBeUndefined()
    } finally {
      await admin.end()
      await store.close()
    }
  })
})

describe.skipIf(!available)('PostgreSQL store under concurrency (two replicas, several senders each)', () => {
  let db: TestDatabase
  beforeAll(async () => { db = await createTestDatabase('store_stress') })
  afterAll(async () => { await db?.drop() })

  it('delivers every row once, each user\'s rows in order, while producers keep adding rows and senders claim, fail and retry', async () => {
    const replicas = [await openPostgresStore({ url: db.url, poolSize: 5 }), await openPostgresStore({ url: db.url, poolSize: 5 })]
    try {
      const USERS = 60
      const ROUNDS = 12
      const delivered = new Map<string, number[]>()
      let producing = true
      let retries = 0
      // Producers: round r adds row r for every user, each message under the user's lock, spread over both replicas.
      const produce = async (): Promise<void> => {
        for (let r = 0; r < ROUNDS; r++) {
          await Promise.all(Array.from({ length: USERS }, (_, u) => replicas[(u + r) % 2]!.apply(
            { locks: [`user:u${u}`], load: {}, now: Date.now() },
            () => ({ result: null, writes: [], outgoing: [{ sink: 'mixpanel', dest: 'http://d', userKey: `u${u}`, payload: { seq: r } }] }))))
        }
        producing = false
      }
      // Senders: three per replica; one claim in five is "refused for now" and rescheduled.
      let rng = 7
      const random = (): number => ((rng = (rng * 1103515245 + 12345) >>> 0) / 2 ** 32)
      const send = async (store: PostgresStore, owner: string): Promise<void> => {
        for (;;) {
          const batch = await store.claim('mixpanel', { owner, max: 17, now: Date.now(), leaseMs: 60_000 })
          if (batch === undefined) {
            if (!producing && (await store.gauges(Date.now()))[0]!.pending + (await store.gauges(Date.now()))[0]!.inflight === 0) return
            await new Promise((r) => setTimeout(r, 5))
            continue
          }
          await new Promise((r) => setTimeout(r, random() * 5))
          if (random() < 0.2) {
            retries++
            await store.reschedule(owner, batch.rows.map((r) => r.id), { at: Date.now(), error: 'HTTP 503', countAttempt: true, now: Date.now() })
            continue
          }
          for (const row of batch.rows) {
            const list = delivered.get(row.userKey) ?? []
            list.push((JSON.parse(row.payload) as { seq: number }).seq)
            delivered.set(row.userKey, list)
          }
          await store.complete(owner, batch.rows.map((r) => r.id))
        }
      }
      await Promise.all([produce(), ...replicas.flatMap((s, i) => [0, 1, 2].map((k) => send(s, `replica${i}-sender${k}`)))])
      expect(retries).toBeGreaterThan(0)
      const expected = Array.from({ length: ROUNDS }, (_, r) => r)
      expect(delivered.size).toBe(USERS)
      for (const [user, seqs] of delivered) expect({ user, seqs }).toEqual({ user, seqs: expected })
    } finally {
      await Promise.all(replicas.map((s) => s.close()))
    }
  }, 60_000)
})
