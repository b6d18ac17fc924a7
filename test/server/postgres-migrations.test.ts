import type { Pool } from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MIGRATIONS, migrate, type Migration } from '../../src/server/store/postgres/migrations.js'
import { createPool } from '../../src/server/store/postgres/pool.js'
import { createTestDatabase, postgresForTests, type TestDatabase } from './postgres-harness.js'

const pg = await postgresForTests()

describe.skipIf(!pg.available)('PostgreSQL schema migrations', () => {
  let db: TestDatabase
  const pools: Pool[] = []
  const open = async (url = db.url): Promise<Pool> => {
    const pool = await createPool({ url, size: 2 })
    pools.push(pool)
    return pool
  }

  beforeAll(async () => { db = await createTestDatabase('migrations') })
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()))
    await db?.drop()
  })

  it('two replicas starting together apply each migration once', async () => {
    const one = await createTestDatabase('migrate_race')
    try {
      const [a, b] = [await open(one.url), await open(one.url)]
      // Slow migrations that count their runs: without the lock both replicas would run them.
      const slow: Migration[] = [
        { version: 1, name: 'runs table', sql: 'CREATE TABLE runs (version int NOT NULL); INSERT INTO runs VALUES (1); SELECT pg_sleep(0.3)' },
        { version: 2, name: 'second', sql: 'CREATE TABLE second_table (x int); INSERT INTO runs VALUES (2); SELECT pg_sleep(0.3)' },
      ]
      const results = await Promise.all([migrate(a, slow), migrate(b, slow)])
      expect(results.map((r) => r.applied).sort((x, y) => y.length - x.length)).toEqual([[1, 2], []])
      expect(results.map((r) => r.version)).toEqual([2, 2])
      const runs = await a.query<{ version: number }>('SELECT version FROM runs ORDER BY version')
      expect(runs.rows.map((r) => r.version)).toEqual([1, 2])
      const recorded = await a.query<{ version: number }>('SELECT version FROM shim_schema_migrations ORDER BY version')
      expect(recorded.rows.map((r) => r.version)).toEqual([1, 2])
    } finally {
      await Promise.all(pools.splice(0).map((p) => p.end()))
      await one.drop()
    }
  })

  it("the shim's own migrations run once when three replicas start together, and again is a no-op", async () => {
    const replicas = [await open(), await open(), await open()]
    const results = await Promise.all(replicas.map((p) => migrate(p)))
    const latest = Math.max(...MIGRATIONS.map((m) => m.version))
    expect(results.flatMap((r) => r.applied).sort()).toEqual(MIGRATIONS.map((m) => m.version).sort())
    expect(results.map((r) => r.version)).toEqual([latest, latest, latest])
    expect(await migrate(replicas[0]!)).toEqual({ applied: [], version: latest })
    const tables = await replicas[0]!.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name")
    expect(tables.rows.map((r) => r.table_name)).toEqual([
      'shim_health', 'shim_inbound', 'shim_outbox', 'shim_records', 'shim_schema_migrations', 'shim_sinks',
    ])
  })

  it('a failed migration leaves no trace and names itself', async () => {
    const pool = await open()
    const broken: Migration[] = [...MIGRATIONS, { version: 99, name: 'broken', sql: 'CREATE TABLE half_done (x int); SELECT no_such_column FROM shim_outbox' }]
    await expect(migrate(pool, broken)).rejects.toThrow(/schema migration 99 \(broken\) failed: column "no_such_column" does not exist/)
    const half = await pool.query("SELECT to_regclass('half_done') AS t")
    expect(half.rows[0]).toEqual({ t: null })
    const versions = await pool.query<{ version: number }>('SELECT max(version) AS version FROM shim_schema_migrations')
    expect(versions.rows[0]!.version).toBe(Math.max(...MIGRATIONS.map((m) => m.version)))
  })

  it('a database migrated by a newer shim is refused', async () => {
    const pool = await open()
    await pool.query("INSERT INTO shim_schema_migrations (version, name) VALUES (1000, 'from the future')")
    try {
      await expect(migrate(pool)).rejects.toThrow(/migrated by a newer shim \(schema version 1000, this shim knows up to \d+\)/)
    } finally {
      await pool.query('DELETE FROM shim_schema_migrations WHERE version = 1000')
    }
  })
})
