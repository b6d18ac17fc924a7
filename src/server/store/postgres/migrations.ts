/**
 * The PostgreSQL schema, as numbered migrations. Every replica runs
 * `migrate()` at start; a session advisory lock makes replicas starting
 * together wait for one another, so each migration runs once, and each runs
 * in its own transaction with the row recording it (a crash leaves either
 * both or neither).
 */
import type { Pool, PoolClient } from 'pg'

export interface Migration {
  version: number
  name: string
  sql: string
}

/** The advisory lock every replica takes while migrating (any fixed 64-bit number no other code uses). */
export const MIGRATION_LOCK_KEY = '7164581023942857006'

/**
 * All tables are prefixed `shim_`, so the shim can share a database with
 * other applications. Times are epoch milliseconds (`bigint`), as in the
 * SQLite store.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'records, dedupe, outbox with leases, sink pauses',
    sql: `
-- Replayed webhooks: the primary key is the dedupe, shared by every replica.
CREATE TABLE shim_inbound (
  source text NOT NULL,
  message_key text NOT NULL,
  received_at bigint NOT NULL,
  PRIMARY KEY (source, message_key)
);
CREATE INDEX shim_inbound_received ON shim_inbound (received_at);

-- What the flows keep (audience membership per user, cohort membership per
-- member, audiences, cohorts, snapshots in progress) as JSON text addressed by
-- kind, scope and key; the flows own the shape of the values.
CREATE TABLE shim_records (
  kind text NOT NULL,
  scope text NOT NULL,
  key text NOT NULL,
  value text NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (kind, scope, key)
);
CREATE INDEX shim_records_updated ON shim_records (kind, updated_at);

-- Outgoing updates, one row per update. 'leased' rows are being sent by
-- lease_owner until lease_expires_at: a replica that dies releases nothing,
-- its leases expire and another replica takes the rows.
CREATE TABLE shim_outbox (
  id bigserial PRIMARY KEY,
  sink text NOT NULL,
  dest text NOT NULL,
  user_key text NOT NULL,
  payload text NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'leased', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at bigint NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  lease_owner text,
  lease_expires_at bigint,
  last_error text
);
-- Per-user order: a row is claimed only when no older row of its user remains.
CREATE INDEX shim_outbox_user ON shim_outbox (sink, dest, user_key, id);
CREATE INDEX shim_outbox_pending ON shim_outbox (sink, id) WHERE state = 'pending';
CREATE INDEX shim_outbox_lease_expiry ON shim_outbox (lease_expires_at) WHERE state = 'leased';
CREATE INDEX shim_outbox_failed ON shim_outbox (sink, id) WHERE state = 'failed';

-- A pause per sink (Retry-After, backoff, a refused credential), honoured by every replica.
CREATE TABLE shim_sinks (
  sink text PRIMARY KEY,
  paused_until bigint NOT NULL DEFAULT 0,
  kind text,
  reason text,
  failures integer NOT NULL DEFAULT 0,
  since bigint NOT NULL DEFAULT 0
);

-- /healthz writes here to prove the database accepts writes.
CREATE TABLE shim_health (
  id integer PRIMARY KEY,
  checked_at bigint NOT NULL
);
`,
  },
]

export interface MigrateResult {
  /** Versions this call applied (empty when another replica had already done it). */
  applied: number[]
  /** The schema version after the call. */
  version: number
}

/**
 * Brings the schema up to the newest migration under `MIGRATION_LOCK_KEY`.
 * Refuses a database migrated by a newer shim (its schema may not be what
 * this code expects).
 */
export async function migrate(pool: Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrateResult> {
  const latest = migrations.reduce((v, m) => Math.max(v, m.version), 0)
  const client = await pool.connect()
  // A connection the server ends mid-way fails the query in progress; the event must not crash the process.
  const ignore = (): void => {}
  client.on('error', ignore)
  let broken: Error | undefined
  try {
    await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY])
    try {
      return await migrateLocked(client, migrations, latest)
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY])
    }
  } catch (err) {
    broken = err as Error
    throw err
  } finally {
    client.off('error', ignore)
    // A connection that failed mid-way is closed rather than reused (closing also drops its lock).
    client.release(broken)
  }
}

async function migrateLocked(client: PoolClient, migrations: readonly Migration[], latest: number): Promise<MigrateResult> {
  await client.query(`CREATE TABLE IF NOT EXISTS shim_schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`)
  const done = new Set((await client.query<{ version: number }>('SELECT version FROM shim_schema_migrations')).rows.map((r) => r.version))
  const newest = Math.max(0, ...done)
  if (newest > latest) {
    throw new Error(`the database was migrated by a newer shim (schema version ${newest}, this shim knows up to ${latest}); run the newer version`)
  }
  const applied: number[] = []
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(m.version)) continue
    await client.query('BEGIN')
    try {
      await client.query(m.sql)
      await client.query('INSERT INTO shim_schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name])
      await client.query('COMMIT')
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw new Error(`schema migration ${m.version} (${m.name}) failed: ${(err as Error).message}`)
    }
    applied.push(m.version)
  }
  return { applied, version: Math.max(newest, ...applied) }
}
