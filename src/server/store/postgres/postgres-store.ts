/**
 * The PostgreSQL backend of `StateStore` and `Outbox`, for several replicas
 * on one database (docs/shim-replicas.md).
 *
 * - A message runs in one transaction: advisory locks on what it touches
 *   (`MessageRequest.locks`, in one sorted order so two messages cannot
 *   deadlock), the dedupe row (its primary key makes replays fail across
 *   replicas), load → pure plan → writes → outbox rows.
 * - Outbox rows of one user are inserted under a lock on that user's outbox
 *   key, so row ids follow commit order per user: when a row is visible,
 *   every older row of its user is too.
 * - Claims of one sink take turns across replicas (an advisory lock held for
 *   the milliseconds a claim takes), take rows with `FOR UPDATE SKIP LOCKED`
 *   and keep, per user, only an unbroken run of the user's oldest rows: a row
 *   whose older sibling is leased, failed, not due, or locked by another
 *   transaction is left for later. Leases carry an owner and an expiry;
 *   `complete`/`reschedule`/`keepFailed` act only on rows the owner still
 *   holds, and a lease that ended is taken over by the next claim.
 */
import { createHash } from 'node:crypto'
import type { Pool, PoolClient } from 'pg'
import { addLoaded, emptyState, isEmptySpec, missing, recordId } from '../state.js'
import type {
  Applied, Claimed, ClaimOptions, DueSummary, LoadedState, LoadSpec, MessageRequest, OutboxGauge, OutgoingUpdate, OutboxRow, Planner,
  RecordKind, RecordRef, RecordWrite, Sink, SinkState, Store, StoredRecord,
} from '../types.js'
import { SINKS } from '../types.js'
import { migrate } from './migrations.js'
import { createPool, redactUrl } from './pool.js'

export interface PostgresStoreOptions {
  /** `DATABASE_URL`. */
  url: string
  /** Connections per replica (`SHIM_PG_POOL_SIZE`). */
  poolSize: number
  /** Errors of idle connections (the pool replaces them); log them. */
  onIdleError?: (err: Error) => void
}

/** Lock space of outbox keys (the two-number advisory locks never conflict with the one-number ones of `locks`). */
const OUTBOX_LOCK_CLASS = 0x5348_4f58 // "SHOX"

/** Lock space of the per-sink claim lock. */
const CLAIM_LOCK_CLASS = 0x5348_434c // "SHCL"

/** Serialization failures and deadlocks: the transaction is run again (plans are pure, so this is safe). */
const RETRYABLE = new Set(['40001', '40P01'])
const MAX_TX_ATTEMPTS = 5

/** A signed 64-bit advisory lock key for a lock name. */
function lockKey(name: string): bigint {
  return createHash('sha1').update(name).digest().readBigInt64BE(0)
}

/** A signed 32-bit key for an outbox key (collisions only make two users wait for each other). */
function outboxLockKey(sink: string, dest: string, userKey: string): number {
  return createHash('sha1').update(`${sink}\u0000${dest}\u0000${userKey}`).digest().readInt32BE(0)
}

/**
 * `o` (a pending row) is held back by an older row of its user that is
 * leased, failed or not due yet ($2 is now).
 */
const BLOCKED_BY_OLDER = `SELECT 1 FROM shim_outbox b WHERE b.sink = o.sink AND b.dest = o.dest AND b.user_key = o.user_key
  AND b.id < o.id AND (b.state <> 'pending' OR b.next_attempt_at > $2)`

function sortedUnique<T extends bigint | number>(keys: Iterable<T>): T[] {
  return [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

interface OutboxDbRow {
  id: number
  sink: Sink
  dest: string
  user_key: string
  payload: string
  attempts: number
  created_at: number
}

const toRow = (r: OutboxDbRow): OutboxRow =>
  ({ id: r.id, sink: r.sink, dest: r.dest, userKey: r.user_key, payload: r.payload, attempts: r.attempts, createdAt: r.created_at })

/** Opens the pool, migrates the schema (once across replicas) and returns the store. */
export async function openPostgresStore(opts: PostgresStoreOptions): Promise<PostgresStore> {
  const pool = await createPool({ url: opts.url, size: opts.poolSize, ...(opts.onIdleError !== undefined ? { onIdleError: opts.onIdleError } : {}) })
  try {
    await migrate(pool)
  } catch (err) {
    await pool.end().catch(() => {})
    throw new Error(`cannot prepare the PostgreSQL database at ${redactUrl(opts.url)} (DATABASE_URL): ${(err as Error).message}`)
  }
  return new PostgresStore(pool, opts.url, opts.poolSize)
}

export class PostgresStore implements Store {
  readonly description: string
  /** Other replicas share the database: leases of a previous run are taken over when they expire, never released at start. */
  readonly exclusive = false

  constructor(private readonly pool: Pool, url: string, private readonly poolSize: number) {
    const u = new URL(url)
    this.description = `postgres://${u.host}${u.pathname}`
  }

  /** Runs `work` in one transaction, again after a deadlock or serialization failure. */
  private async tx<T>(work: (c: PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1, stale = 0; ; attempt++) {
      const client = await this.connect()
      try {
        await client.query('BEGIN')
      } catch (err) {
        client.release(err as Error)
        // A pooled connection the server ended (a restart, a failover): nothing ran yet, so take another.
        if (++stale <= this.poolSize) { attempt--; continue }
        throw err
      }
      let broken: Error | undefined
      try {
        const result = await work(client)
        await client.query('COMMIT')
        return result
      } catch (err) {
        await client.query('ROLLBACK').catch((e: Error) => { broken = e })
        const code = (err as { code?: string }).code
        if (code !== undefined && RETRYABLE.has(code) && attempt < MAX_TX_ATTEMPTS) continue
        throw err
      } finally {
        // A connection that could not even roll back is closed, not reused.
        client.release(broken)
      }
    }
  }

  private readonly watched = new WeakSet<PoolClient>()

  private async connect(): Promise<PoolClient> {
    const client = await this.pool.connect()
    if (!this.watched.has(client)) {
      this.watched.add(client)
      // The server ending a checked-out connection also fails the query in progress, which is handled
      // there; without a listener the 'error' event would crash the process.
      client.on('error', () => {})
    }
    return client
  }

  // ------------------------------------------------------------ StateStore

  async apply<R>(request: MessageRequest, plan: Planner<R>): Promise<Applied<R>> {
    return this.tx(async (c) => {
      // Locks first, in one sorted order (unnest keeps the array's order), so two messages never deadlock;
      // the aggregate takes every lock before the dedupe row is inserted, in the same round trip.
      const keys = sortedUnique(request.locks.map(lockKey)).map(String)
      if (request.dedupe !== undefined) {
        // A concurrent delivery of the same message waits for the first one's commit, then conflicts.
        const r = await c.query(
          `WITH l AS (SELECT count(pg_advisory_xact_lock(k)) AS n FROM unnest($1::bigint[]) AS k)
           INSERT INTO shim_inbound (source, message_key, received_at) SELECT $2, $3, $4 FROM l ON CONFLICT DO NOTHING`,
          [keys, request.dedupe.source, request.dedupe.key, request.now])
        if (r.rowCount === 0) return { duplicate: true } as const
      } else if (keys.length > 0) {
        await c.query('SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) AS k', [keys])
      }
      const state = emptyState()
      await this.load(c, state, request.load)
      for (let round = 0; ; round++) {
        const step = plan(state)
        if ('need' in step) {
          const more = missing(state, step.need)
          if (isEmptySpec(more) || round > 100) throw new Error('the plan asked again for records it already has')
          await this.load(c, state, more)
          continue
        }
        await this.write(c, step.writes, step.deleteScopes ?? [], request.now)
        await this.insertOutgoing(c, step.outgoing, request.now)
        return { duplicate: false, result: step.result, queued: step.outgoing.length } as const
      }
    })
  }

  private async load(c: PoolClient, state: LoadedState, spec: LoadSpec): Promise<void> {
    const gets = spec.get ?? []
    const scans = spec.scan ?? []
    const found = new Map<string, unknown>()
    if (gets.length > 0) {
      const r = await c.query<{ kind: RecordKind; scope: string; key: string; value: string }>(
        `SELECT r.kind, r.scope, r.key, r.value FROM shim_records r
         JOIN unnest($1::text[], $2::text[], $3::text[]) AS w(kind, scope, key) USING (kind, scope, key)`,
        [gets.map((g) => g.kind), gets.map((g) => g.scope), gets.map((g) => g.key)])
      for (const row of r.rows) found.set(recordId(row), JSON.parse(row.value) as unknown)
    }
    const scanned: [{ kind: RecordKind; scope: string }, StoredRecord[]][] = []
    for (const s of scans) {
      const r = await c.query<{ key: string; value: string }>(
        'SELECT key, value FROM shim_records WHERE kind = $1 AND scope = $2 ORDER BY key', [s.kind, s.scope])
      scanned.push([s, r.rows.map((row) => ({ kind: s.kind, scope: s.scope, key: row.key, value: JSON.parse(row.value) as unknown }))])
    }
    addLoaded(state, gets.map((g): [RecordRef, unknown] => [g, found.get(recordId(g)) ?? null]), scanned)
  }

  private async write(c: PoolClient, writes: readonly RecordWrite[], deleteScopes: readonly { kind: RecordKind; scope: string }[], now: number): Promise<void> {
    // The last write of a record wins (one statement cannot touch a row twice).
    const last = new Map<string, RecordWrite>()
    for (const w of writes) last.set(recordId(w), w)
    const upserts = [...last.values()].filter((w) => w.value !== null && w.value !== undefined)
    const deletes = [...last.values()].filter((w) => w.value === null || w.value === undefined)
    // Scopes are cleared first, as in the SQLite store: a write in the same step lands in the emptied scope.
    for (const s of deleteScopes) {
      await c.query('DELETE FROM shim_records WHERE kind = $1 AND scope = $2', [s.kind, s.scope])
    }
    if (upserts.length > 0) {
      await c.query(
        `INSERT INTO shim_records (kind, scope, key, value, updated_at)
         SELECT kind, scope, key, value, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS w(kind, scope, key, value)
         ON CONFLICT (kind, scope, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
        [upserts.map((w) => w.kind), upserts.map((w) => w.scope), upserts.map((w) => w.key), upserts.map((w) => JSON.stringify(w.value)), now])
    }
    if (deletes.length > 0) {
      await c.query(
        `DELETE FROM shim_records r USING unnest($1::text[], $2::text[], $3::text[]) AS w(kind, scope, key)
         WHERE r.kind = w.kind AND r.scope = w.scope AND r.key = w.key`,
        [deletes.map((w) => w.kind), deletes.map((w) => w.scope), deletes.map((w) => w.key)])
    }
  }

  private async insertOutgoing(c: PoolClient, outgoing: readonly OutgoingUpdate[], now: number): Promise<void> {
    if (outgoing.length === 0) return
    const keys = sortedUnique(outgoing.map((o) => outboxLockKey(o.sink, o.dest, o.userKey)))
    // The aggregate takes the locks before any row (and its id) is produced.
    await c.query(
      `WITH l AS (SELECT count(pg_advisory_xact_lock(${OUTBOX_LOCK_CLASS}, k)) AS n FROM unnest($6::int[]) AS k)
       INSERT INTO shim_outbox (sink, dest, user_key, payload, state, attempts, next_attempt_at, created_at, updated_at)
       SELECT o.sink, o.dest, o.user_key, o.payload, 'pending', 0, $5, $5, $5
       FROM l, unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS o(sink, dest, user_key, payload, n)
       ORDER BY o.n`,
      [outgoing.map((o) => o.sink), outgoing.map((o) => o.dest), outgoing.map((o) => o.userKey), outgoing.map((o) => JSON.stringify(o.payload)), now, keys])
  }

  async prune(before: number): Promise<void> {
    await this.tx(async (c) => {
      await c.query('DELETE FROM shim_inbound WHERE received_at < $1', [before])
      await c.query("DELETE FROM shim_records WHERE kind IN ('snapshot', 'snapshot_member') AND updated_at < $1", [before])
    })
  }

  // ------------------------------------------------------------ Outbox

  /** The sink's pause end, 0 when not paused. */
  private async pausedUntil(c: Pool, sink: Sink): Promise<number> {
    const r = await c.query<{ paused_until: number }>('SELECT paused_until FROM shim_sinks WHERE sink = $1', [sink])
    return r.rows[0]?.paused_until ?? 0
  }

  /**
   * Leases that ended count as due and their end as a time something becomes
   * due: a replica whose sender idles still wakes up to take over the rows of
   * a replica that died (`claim` takes expired leases over first).
   */
  async dueSummary(sink: Sink, now: number): Promise<DueSummary> {
    const paused = await this.pausedUntil(this.pool, sink)
    if (paused > now) return { due: 0, oldestDueCreatedAt: undefined, nextDueAt: paused }
    // Due and not held back by an older row of the same user, or leased to an owner whose lease ended.
    const r = await this.pool.query<{ due: number; oldest: number | null; expired: number; expired_oldest: number | null; next: number | null; lease_end: number | null }>(
      `SELECT
         (SELECT count(*)::int FROM shim_outbox o
           WHERE o.sink = $1 AND o.state = 'pending' AND o.next_attempt_at <= $2 AND NOT EXISTS (${BLOCKED_BY_OLDER})) AS due,
         (SELECT min(o.created_at) FROM shim_outbox o
           WHERE o.sink = $1 AND o.state = 'pending' AND o.next_attempt_at <= $2 AND NOT EXISTS (${BLOCKED_BY_OLDER})) AS oldest,
         (SELECT count(*)::int FROM shim_outbox WHERE sink = $1 AND state = 'leased' AND lease_expires_at < $2) AS expired,
         (SELECT min(created_at) FROM shim_outbox WHERE sink = $1 AND state = 'leased' AND lease_expires_at < $2) AS expired_oldest,
         (SELECT min(next_attempt_at) FROM shim_outbox WHERE sink = $1 AND state = 'pending' AND next_attempt_at > $2) AS next,
         (SELECT min(lease_expires_at) FROM shim_outbox WHERE sink = $1 AND state = 'leased' AND lease_expires_at >= $2) AS lease_end`,
      [sink, now])
    const row = r.rows[0]!
    const oldest = [row.oldest, row.expired_oldest].filter((t): t is number => t !== null)
    const next = [row.next, row.lease_end === null ? null : row.lease_end + 1].filter((t): t is number => t !== null)
    return {
      due: row.due + row.expired,
      oldestDueCreatedAt: oldest.length > 0 ? Math.min(...oldest) : undefined,
      nextDueAt: next.length > 0 ? Math.min(...next) : undefined,
    }
  }

  async claim(sink: Sink, opts: ClaimOptions): Promise<Claimed | undefined> {
    return this.tx(async (c) => {
      // Claims of one sink run one after another across replicas (each takes milliseconds): a claim then
      // sees the rows the previous one leased and picks other users' rows, instead of skipping locked rows
      // and finding only their users' newer rows, which must wait (both senders would come back empty).
      const paused = await c.query<{ paused_until: number | null }>(
        `SELECT pg_advisory_xact_lock(${CLAIM_LOCK_CLASS}, $2), (SELECT paused_until FROM shim_sinks WHERE sink = $1) AS paused_until`,
        [sink, SINKS.indexOf(sink)])
      if ((paused.rows[0]?.paused_until ?? 0) > opts.now) return undefined
      await this.expire(c, opts.now, sink)
      // Rows another claimer holds are skipped, not waited for.
      const candidates = await c.query<OutboxDbRow>(
        `SELECT o.id, o.sink, o.dest, o.user_key, o.payload, o.attempts, o.created_at FROM shim_outbox o
         WHERE o.sink = $1 AND o.state = 'pending' AND o.next_attempt_at <= $2 AND NOT EXISTS (${BLOCKED_BY_OLDER})
         ORDER BY o.id LIMIT $3
         FOR UPDATE OF o SKIP LOCKED`,
        [sink, opts.now, opts.max])
      const first = candidates.rows[0]
      if (first === undefined) return undefined
      const rows = candidates.rows.filter((r) => r.dest === first.dest)
      // Per user, keep only the run of the user's oldest rows: any older row left out (held by
      // another claimer, or leased/failed/rescheduled since this statement's snapshot) holds the rest back.
      const users = [...new Set(rows.map((r) => r.user_key))]
      const upTo = new Map<string, number>()
      for (const r of rows) upTo.set(r.user_key, r.id)
      const existing = await c.query<{ user_key: string; ids: number[] }>(
        `SELECT o.user_key, array_agg(o.id ORDER BY o.id) AS ids FROM shim_outbox o
         JOIN unnest($3::text[], $4::bigint[]) AS u(user_key, last_id) ON o.user_key = u.user_key AND o.id <= u.last_id
         WHERE o.sink = $1 AND o.dest = $2
         GROUP BY o.user_key`,
        [sink, first.dest, users, users.map((u) => upTo.get(u))])
      const allowed = new Set<number>()
      const mine = new Set(rows.map((r) => r.id))
      for (const e of existing.rows) {
        for (const id of e.ids.map(Number)) {
          if (!mine.has(id)) break
          allowed.add(id)
        }
      }
      const claimed = rows.filter((r) => allowed.has(r.id))
      if (claimed.length === 0) return undefined
      await c.query(
        `UPDATE shim_outbox SET state = 'leased', lease_owner = $2, lease_expires_at = $3, updated_at = $4
         WHERE id = ANY($1::bigint[])`,
        [claimed.map((r) => r.id), opts.owner, opts.now + opts.leaseMs, opts.now])
      return { sink, dest: first.dest, rows: claimed.map(toRow) }
    })
  }

  async complete(owner: string, ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return
    await this.pool.query("DELETE FROM shim_outbox WHERE id = ANY($1::bigint[]) AND state = 'leased' AND lease_owner = $2", [ids, owner])
  }

  async reschedule(owner: string, ids: readonly number[], opts: { at: number; error: string; countAttempt: boolean; now: number }): Promise<void> {
    if (ids.length === 0) return
    await this.pool.query(
      `UPDATE shim_outbox SET state = 'pending', next_attempt_at = $3, last_error = $4, attempts = attempts + $5,
         lease_owner = NULL, lease_expires_at = NULL, updated_at = $6
       WHERE id = ANY($1::bigint[]) AND state = 'leased' AND lease_owner = $2`,
      [ids, owner, opts.at, opts.error, opts.countAttempt ? 1 : 0, opts.now])
  }

  async keepFailed(owner: string, ids: readonly number[], error: string, now: number): Promise<void> {
    if (ids.length === 0) return
    await this.pool.query(
      `UPDATE shim_outbox SET state = 'failed', last_error = $3, lease_owner = NULL, lease_expires_at = NULL, updated_at = $4
       WHERE id = ANY($1::bigint[]) AND state = 'leased' AND lease_owner = $2`,
      [ids, owner, error, now])
  }

  async expireLeases(now: number): Promise<number> {
    return this.expire(this.pool, now, undefined)
  }

  private async expire(c: PoolClient | Pool, now: number, sink: Sink | undefined): Promise<number> {
    const r = await c.query(
      `UPDATE shim_outbox SET state = 'pending', next_attempt_at = LEAST(next_attempt_at, $1),
         last_error = 'lease of ' || lease_owner || ' expired', lease_owner = NULL, lease_expires_at = NULL, updated_at = $1
       WHERE state = 'leased' AND lease_expires_at < $1 AND ($2::text IS NULL OR sink = $2)`,
      [now, sink ?? null])
    return r.rowCount ?? 0
  }

  async releaseAllLeases(now: number): Promise<number> {
    const r = await this.pool.query(
      `UPDATE shim_outbox SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, updated_at = $1
       WHERE state = 'leased'`,
      [now])
    return r.rowCount ?? 0
  }

  async requeueFailed(opts: { sink?: Sink; now: number }): Promise<number> {
    const r = await this.pool.query(
      `UPDATE shim_outbox SET state = 'pending', next_attempt_at = $1, attempts = 0, updated_at = $1
       WHERE state = 'failed' AND ($2::text IS NULL OR sink = $2)`,
      [opts.now, opts.sink ?? null])
    return r.rowCount ?? 0
  }

  async sinkState(sink: Sink): Promise<SinkState> {
    const r = await this.pool.query<{ paused_until: number; kind: 'auth' | 'retry' | null; reason: string | null; failures: number; since: number }>(
      'SELECT paused_until, kind, reason, failures, since FROM shim_sinks WHERE sink = $1', [sink])
    const row = r.rows[0]
    if (row === undefined) return { sink, pausedUntil: 0, kind: undefined, reason: undefined, failures: 0, since: 0 }
    return { sink, pausedUntil: row.paused_until, kind: row.kind ?? undefined, reason: row.reason ?? undefined, failures: row.failures, since: row.since }
  }

  async pauseSink(sink: Sink, pause: { until: number; kind: 'auth' | 'retry'; reason: string; now: number }): Promise<SinkState> {
    const r = await this.pool.query<{ paused_until: number; kind: 'auth' | 'retry'; reason: string; failures: number; since: number }>(
      `INSERT INTO shim_sinks AS s (sink, paused_until, kind, reason, failures, since) VALUES ($1, $2, $3, $4, 1, $5)
       ON CONFLICT (sink) DO UPDATE SET paused_until = excluded.paused_until, kind = excluded.kind, reason = excluded.reason,
         failures = s.failures + 1, since = CASE WHEN s.failures = 0 THEN excluded.since ELSE s.since END
       RETURNING paused_until, kind, reason, failures, since`,
      [sink, pause.until, pause.kind, pause.reason, pause.now])
    const row = r.rows[0]!
    return { sink, pausedUntil: row.paused_until, kind: row.kind, reason: row.reason, failures: row.failures, since: row.since }
  }

  async resumeSink(sink: Sink): Promise<void> {
    await this.pool.query(
      `UPDATE shim_sinks SET paused_until = 0, kind = NULL, reason = NULL, failures = 0, since = 0
       WHERE sink = $1 AND (failures <> 0 OR paused_until <> 0)`,
      [sink])
  }

  async gauges(now: number): Promise<OutboxGauge[]> {
    const r = await this.pool.query<{ sink: Sink; state: string; n: number; oldest: number | null }>(
      'SELECT sink, state, count(*)::int AS n, min(created_at) AS oldest FROM shim_outbox GROUP BY sink, state')
    const gauges = new Map<Sink, OutboxGauge>(SINKS.map((sink) => [sink, { sink, pending: 0, inflight: 0, failed: 0, oldestPendingAgeSeconds: 0 }]))
    const oldest = new Map<Sink, number>()
    for (const row of r.rows) {
      const g = gauges.get(row.sink)
      if (g === undefined) continue
      if (row.state === 'pending') g.pending = row.n
      else if (row.state === 'leased') g.inflight = row.n
      else if (row.state === 'failed') g.failed = row.n
      if (row.state !== 'failed' && row.oldest !== null) oldest.set(row.sink, Math.min(oldest.get(row.sink) ?? Infinity, row.oldest))
    }
    for (const [sink, t] of oldest) gauges.get(sink)!.oldestPendingAgeSeconds = Math.max(0, (now - t) / 1000)
    return [...gauges.values()]
  }

  async checkWritable(now: number): Promise<void> {
    try {
      await this.tx((c) => c.query(
        'INSERT INTO shim_health (id, checked_at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at', [now]))
    } catch (err) {
      throw new Error(`PostgreSQL at ${this.description} does not accept writes: ${(err as Error).message}`)
    }
  }

  async close(): Promise<void> {
    await this.pool.end()
  }
}
