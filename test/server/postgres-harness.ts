/**
 * PostgreSQL for tests: every test file gets its own database, created from
 * the admin URL in PG_TEST_URL and dropped afterwards.
 *
 * When PostgreSQL cannot be reached, a CI run (CI=true) fails — the suite must
 * not go green without the tests it promises — while a developer's machine
 * skips those tests and says why.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'

export const PG_ADMIN_URL = process.env.PG_TEST_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres'

export interface PostgresAvailability {
  available: boolean
  /** Why the tests are skipped. */
  reason: string
}

let probe: Promise<PostgresAvailability> | undefined

/** Whether PostgreSQL answers at PG_TEST_URL; in CI an unreachable server throws. */
export function postgresForTests(): Promise<PostgresAvailability> {
  probe ??= (async () => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 })
    try {
      await client.connect()
      await client.query('SELECT 1')
      return { available: true, reason: '' }
    } catch (err) {
      const reason = `PostgreSQL is not reachable at ${redact(PG_ADMIN_URL)} (PG_TEST_URL): ${(err as Error).message}`
      if (process.env.CI === 'true') throw new Error(`${reason}; CI must run the PostgreSQL tests`)
      console.warn(`skipping the PostgreSQL tests: ${reason}`)
      return { available: false, reason }
    } finally {
      await client.end().catch(() => {})
    }
  })()
  return probe
}

export interface TestDatabase {
  name: string
  /** Connection URL of the new database (same server and credentials as PG_TEST_URL). */
  url: string
  drop(): Promise<void>
}

async function admin<T>(work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

/** Creates an empty database with a unique name (`shim_test_<label>_<pid>_<random>`). */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = `shim_test_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${process.pid}_${randomBytes(4).toString('hex')}`
  await admin((c) => c.query(`CREATE DATABASE ${name}`))
  const u = new URL(PG_ADMIN_URL)
  u.pathname = `/${name}`
  return {
    name,
    url: u.toString(),
    // FORCE ends connections a killed replica may have left behind.
    drop: () => admin(async (c) => { await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }),
  }
}

function redact(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return url
  }
}
