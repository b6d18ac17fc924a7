/**
 * The fault tests of test/server/faults.test.ts, run again with the shim on
 * PostgreSQL: the same destination answers, pauses, requeues, identities and
 * cohort rules must hold on the second backend. Tests that give their own
 * SHIM_DB (a deleted or corrupt SQLite file) are about SQLite and stay on it.
 * One database for the file, emptied before each test.
 */
import pg from 'pg'
import { beforeAll, beforeEach, expect, vi } from 'vitest'
import { openPostgresStore } from '../../src/server/store/postgres/postgres-store.js'
import { createTestDatabase, postgresForTests, type TestDatabase } from './postgres-harness.js'

const available = (await postgresForTests()).available
const shared = vi.hoisted(() => ({ url: '' }))

const pauseTest = (): boolean => expect.getState().currentTestName?.includes('pauses the sink on') === true

vi.mock('./helpers.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('./helpers.js')>()
  return {
    ...original,
    // The pause tests wait for the sender's `paused` counter, which it increments before it writes the
    // pause; on SQLite the write is done by the time /healthz is read, on PostgreSQL it may still be in
    // flight. They get a pause long enough to outlast a loaded server, and a moment for the write.
    waitFor: async (...args: Parameters<typeof original.waitFor>) => {
      await original.waitFor(...args)
      if (pauseTest()) await original.sleep(300)
    },
    testEnv: (over: Record<string, string | undefined> = {}) => {
      if (over.SHIM_DB !== undefined) return original.testEnv(over)
      return original.testEnv({
        DATABASE_URL: shared.url, SHIM_PG_POOL_SIZE: '3', ...over,
        ...(pauseTest() ? { SHIM_RETRY_BASE_MS: '2000', SHIM_RETRY_MAX_MS: '3000' } : {}),
      })
    },
  }
})

if (available) {
  let db: TestDatabase
  beforeAll(async () => {
    db = await createTestDatabase('faults')
    shared.url = db.url
    // Migrated once here, so the first test does not pay for it.
    await (await openPostgresStore({ url: db.url, poolSize: 1 })).close()
    return () => db.drop()
  })
  beforeEach(async () => {
    const c = new pg.Client({ connectionString: db.url })
    await c.connect()
    try {
      if ((await c.query("SELECT to_regclass('shim_outbox') AS t")).rows[0].t !== null) {
        await c.query('TRUNCATE shim_inbound, shim_records, shim_outbox, shim_sinks, shim_health')
      }
    } finally {
      await c.end()
    }
  })
  await import('./faults.test.js')
}
