/**
 * The SQLite backend's synchronous core (better-sqlite3, WAL). It runs in the
 * thread that owns the connection (a worker thread in production, see
 * sqlite-worker.ts) and only reads and writes: the locking and planning
 * around it is in sqlite.ts.
 *
 * One process per file: the core takes an exclusive lock on `<SHIM_DB>-lock`
 * before it opens the database and keeps it (`takeLock`), so a second shim on
 * the same `SHIM_DB` is refused before it touches anything (before any lease
 * is released).
 *
 * Durability with `synchronous: 'full'` (the default): a webhook's commit is
 * acknowledged only once an fdatasync of the WAL file that began after its
 * COMMIT has returned. SQLite runs with synchronous=NORMAL (it writes each
 * commit's WAL frames and syncs only around checkpoints, which keeps the file
 * consistent after a power cut) and the fdatasync runs on libuv's thread
 * pool, so this thread goes on with the next messages meanwhile, and one
 * fdatasync covers every commit written before it started (group commit).
 * SQLite's own FULL mode syncs inside COMMIT, on this thread: every slow
 * fsync of a busy disk (tens of ms) held up every webhook behind it.
 * WAL checkpoints run in a thread of their own on a second connection
 * (sqlite-checkpoints.ts); this connection checkpoints inside a COMMIT only
 * when the WAL reaches a ceiling (or, without that thread, at SQLite's
 * default of every 1,000 pages).
 */
import { closeSync, fdatasync, openSync, statSync } from 'node:fs'
import Database from 'better-sqlite3'
import { clock, trace, tracing } from '../trace.js'
import { migrateV1 } from './sqlite-migrate.js'
import { WAL_CEILING_PAGES } from './sqlite-checkpoints.js'
import { addLoaded, emptyState, missing, scopeId } from './state.js'
import type {
  Applied, MessageRequest, Planner,
  ClaimOptions, Claimed, DueSummary, LoadSpec, OutboxGauge, OutboxRow, OutgoingUpdate, RecordKind, RecordRef, RecordWrite,
  Sink, SinkState, StoredRecord,
} from './types.js'
import { SINKS } from './types.js'

export const SCHEMA_VERSION = 2

/** How many times a plan may ask for more records before it is a bug. */
export const MAX_PLAN_STEPS = 8

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedupe (
  source TEXT NOT NULL, key TEXT NOT NULL, received_at INTEGER NOT NULL, PRIMARY KEY (source, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dedupe_received ON dedupe (received_at);
CREATE TABLE IF NOT EXISTS records (
  kind TEXT NOT NULL, scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (kind, scope, key)
) WITHOUT ROWID;
-- AUTOINCREMENT: an id is never reused, so a late answer about a row can never touch another user's row.
CREATE TABLE IF NOT EXISTS outbox_rows (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sink TEXT NOT NULL, dest TEXT NOT NULL, user_key TEXT NOT NULL, payload TEXT NOT NULL,
  state TEXT NOT NULL, owner TEXT, lease_until INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_rows_user ON outbox_rows (sink, dest, user_key, id);
-- Claims read a sink's pending rows in id order from here, without sorting the whole outbox first; with
-- next_attempt_at in it, the due counts are read from the index alone. One index where there were two
-- (outbox_rows_due and outbox_rows_claim, dropped when a file that has them opens): every outbox row is
-- inserted, leased and deleted, and each index costs a write at each of the three (docs/shim.md, "Benchmark").
DROP INDEX IF EXISTS outbox_rows_due;
DROP INDEX IF EXISTS outbox_rows_claim;
CREATE INDEX IF NOT EXISTS outbox_rows_sink_state ON outbox_rows (sink, state, id, next_attempt_at);
CREATE TABLE IF NOT EXISTS sinks (
  sink TEXT PRIMARY KEY, paused_until INTEGER NOT NULL, kind TEXT, reason TEXT, failures INTEGER NOT NULL, since INTEGER NOT NULL
) WITHOUT ROWID;
`

export interface SqliteOptions {
  path: string
  synchronous: 'full' | 'normal'
  /** Rows leased or completed per transaction (tests make it small); between two, waiting webhooks run. */
  outboxChunk?: number
  /** Another thread runs the WAL checkpoints (sqlite-checkpoints.ts): this connection only at `WAL_CEILING_PAGES`. */
  checkpointThread?: boolean
}

/**
 * A claim or a completion of a whole batch (up to 2,000 rows) in one
 * transaction held the thread for 20–100 ms, and every webhook arriving
 * meanwhile waited that long (docs/shim.md, "Benchmark"). In steps of this
 * many rows, the webhooks waiting in between run between two steps.
 */
export const OUTBOX_CHUNK = 200

/**
 * fdatasyncs of the WAL that may run at once. With one, a group committed
 * while an fdatasync ran waited for it to end and then for its own (up to
 * twice the sync time); with two, its own starts at once. Each still
 * acknowledges only what was committed before it started (see `durable`).
 */
export const SYNCS_IN_FLIGHT = 2

/** Lets the event loop run what waits (a webhook's message to the worker) before going on. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** The lock file next to the database: `<SHIM_DB>-lock`. */
export const lockPath = (path: string): string => `${path}-lock`

function inUse(path: string): Error {
  return new Error(`the SQLite database "${path}" (SHIM_DB) is in use by another process: one shim per SQLite file `
    + '(stop the other one, give this one its own SHIM_DB, or use PostgreSQL with DATABASE_URL for several replicas)')
}

/**
 * One process per SQLite file. The database connection itself no longer
 * takes SQLite's exclusive lock (a second connection, in the checkpoint
 * thread, must open it: sqlite-checkpoints.ts), so the lock lives in a small
 * SQLite file of its own: an exclusive lock taken on it and held until close
 * (`locking_mode = EXCLUSIVE`). A second shim fails here, at once, before it
 * opens the database: before any recovery. SQLite's locks are POSIX locks,
 * released by the system when the process ends, even by `kill -9`.
 */
export function takeLock(path: string): Database.Database {
  let lock: Database.Database
  try {
    lock = new Database(lockPath(path), { timeout: 0 })
  } catch (err) {
    throw sqliteError(path, `cannot open the lock file "${lockPath(path)}" of`, err)
  }
  try {
    lock.pragma('locking_mode = EXCLUSIVE')
    lock.exec('BEGIN EXCLUSIVE')
    lock.exec('COMMIT')
    return lock
  } catch (err) {
    lock.close()
    if ((err as { code?: string }).code === 'SQLITE_BUSY') throw inUse(path)
    throw sqliteError(path, `cannot lock (through "${lockPath(path)}")`, err)
  }
}

/** Names the file and the variable, so an operator knows what to fix. */
export function sqliteError(path: string, what: string, err: unknown): Error {
  return new Error(`${what} the SQLite database "${path}" (SHIM_DB): ${(err as Error).message}`)
}

interface RowShape { id: number; sink: Sink; dest: string; user_key: string; payload: string; attempts: number; created_at: number }

/**
 * Scopes read whole by every message and seldom written: the audience list
 * (every mParticle membership webhook scans it). Kept parsed in memory, which
 * only the SQLite backend may do: its file lock guarantees that this
 * connection is the only writer (with PostgreSQL several replicas write).
 */
const CACHED_SCANS: ReadonlySet<RecordKind> = new Set<RecordKind>(['audience'])

/** Cached records are handed to every plan: frozen, so a plan that changed one would throw instead of corrupting the next. */
function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v)
    for (const child of Object.values(v)) deepFreeze(child)
  }
  return v
}

const toRow = (r: RowShape): OutboxRow =>
  ({ id: r.id, sink: r.sink, dest: r.dest, userKey: r.user_key, payload: r.payload, attempts: r.attempts, createdAt: r.created_at })

export class SqliteCore {
  readonly db: Database.Database
  /** The lock file's connection (see `takeLock`); none for a database in memory. */
  private readonly lock: Database.Database | undefined
  private readonly s: ReturnType<SqliteCore['prepare']>
  /** The file's identity at open: /healthz notices when it is deleted or replaced. */
  private readonly inode: { dev: number; ino: number } | undefined
  /** The lock file's identity at open: without it a second shim could start on this file (see `takeLock`). */
  private readonly lockInode: { dev: number; ino: number } | undefined
  private group: { done: Promise<void> } | undefined
  /** The WAL file, opened once to fdatasync it (see the header); undefined when SQLite syncs by itself or nothing is on disk. */
  private walFd: number | undefined
  /** fdatasyncs running now (at most `SYNCS_IN_FLIGHT`). */
  private syncing = 0
  /** Settles when no fdatasync runs: the file is closed only then. */
  private syncsEnded: Promise<void> = Promise.resolve()
  private endSyncs: () => void = () => {}
  /** Callers waiting for an fdatasync that has not started yet. */
  private syncWaiters: { resolve: () => void; reject: (err: Error) => void }[] = []
  /** After a failed fdatasync nothing more is acknowledged: what is on disk is unknown until a restart recovers it. */
  private syncFailure: Error | undefined
  /**
   * Outbox row ids: the highest written, the highest committed, and the
   * highest known to be on disk. Claims only hand out rows up to the last:
   * nothing reaches a destination before its webhook could be acknowledged.
   */
  private writtenRowId = 0
  private committedRowId = 0
  private syncedRowId = 0
  /**
   * Scans of `CACHED_SCANS` kinds as the database holds them, including what
   * the open transaction wrote. A write to a scope drops its entry before the
   * statement runs; a rolled-back savepoint or group drops them all, so an
   * entry never outlives the rows it was read from.
   */
  private readonly scanCache = new Map<string, StoredRecord[]>()
  /**
   * Awaited between two steps of a claim or a completion. The worker makes it
   * wait until no webhook waits (sqlite-worker.ts): the outbox can wait a
   * few milliseconds, an acknowledgement should not.
   */
  betweenSteps: () => Promise<void> = nextTurn

  /**
   * Rows in the next claim or completion step. The worker makes steps
   * smaller while webhooks wait for it (sqlite-worker.ts): a step that has
   * waited its longest for them runs anyway, and should hold them up briefly.
   */
  stepRows: () => number = () => this.opts.outboxChunk ?? OUTBOX_CHUNK

  constructor(readonly opts: SqliteOptions) {
    const { path } = opts
    // Taken first and held until close: a second process on the file fails here, before it opens or changes anything.
    this.lock = path === ':memory:' || path === '' ? undefined : takeLock(path)
    try {
      this.db = new Database(path, { timeout: 1000 })
    } catch (err) {
      this.lock?.close()
      throw sqliteError(path, 'cannot open', err)
    }
    try {
      const mode = this.db.pragma('journal_mode = WAL', { simple: true })
      const ownSync = opts.synchronous === 'full' && mode === 'wal'
      this.db.pragma(`synchronous = ${opts.synchronous === 'full' && !ownSync ? 'FULL' : 'NORMAL'}`)
      // With a checkpoint thread (sqlite-checkpoints.ts) this connection checkpoints only at the ceiling.
      if (opts.checkpointThread === true) this.db.pragma(`wal_autocheckpoint = ${WAL_CEILING_PAGES}`)
      const version = this.db.pragma('user_version', { simple: true }) as number
      if (version > SCHEMA_VERSION) throw new Error(`it was written by a newer shim (schema ${version} > ${SCHEMA_VERSION})`)
      this.db.transaction(() => {
        this.db.exec(SCHEMA)
        if (version === 1) migrateV1(this.db)
        this.db.pragma(`user_version = ${SCHEMA_VERSION}`)
      }).immediate()
      this.s = this.prepare()
      // The WAL exists once a transaction ran; SQLite keeps the same file (it only restarts writing it from the
      // start) until the last connection to the database closes, and this one closes last (see `close`).
      this.walFd = ownSync ? openSync(`${path}-wal`, 'r') : undefined
    } catch (err) {
      this.db.close()
      this.lock?.close()
      // A shim of an earlier version holds its exclusive lock on the database file itself.
      if ((err as { code?: string }).code === 'SQLITE_BUSY') throw inUse(path)
      throw sqliteError(path, 'cannot use', err)
    }
    this.inode = path === ':memory:' || path === '' ? undefined : fileId(path)
    this.lockInode = this.lock === undefined ? undefined : fileId(lockPath(path))
    // What is in the file at open is on disk (or is what a restart recovered from it).
    const newest = (this.db.prepare('SELECT max(id) FROM outbox_rows').pluck().get() as number | null) ?? 0
    this.writtenRowId = this.committedRowId = this.syncedRowId = newest
  }

  private prepare() {
    const db = this.db
    return {
      seen: db.prepare('SELECT 1 FROM dedupe WHERE source = ? AND key = ?').pluck(),
      remember: db.prepare('INSERT INTO dedupe (source, key, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      pruneDedupe: db.prepare('DELETE FROM dedupe WHERE received_at < ?'),
      get: db.prepare('SELECT value FROM records WHERE kind = ? AND scope = ? AND key = ?').pluck(),
      scan: db.prepare('SELECT key, value FROM records WHERE kind = ? AND scope = ?'),
      put: db.prepare(`INSERT INTO records (kind, scope, key, value, updated_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (kind, scope, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
      del: db.prepare('DELETE FROM records WHERE kind = ? AND scope = ? AND key = ?'),
      delScope: db.prepare('DELETE FROM records WHERE kind = ? AND scope = ?'),
      pruneRecords: db.prepare("DELETE FROM records WHERE kind IN ('snapshot', 'snapshot_member') AND updated_at < ?"),

      insertRow: db.prepare(`INSERT INTO outbox_rows (sink, dest, user_key, payload, state, attempts, next_attempt_at, created_at, updated_at)
        VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)`),
      // `+next_attempt_at`: walk outbox_rows_sink_state in id order (due rows are nearly all of the pending ones) instead of
      // sorting every due row.
      dueRows: db.prepare(`SELECT id, sink, dest, user_key, payload, attempts, created_at FROM outbox_rows
        WHERE sink = ? AND state = 'pending' AND +next_attempt_at <= ? AND id > ? AND id <= ? ORDER BY id LIMIT ?`),
      olderRows: db.prepare('SELECT id FROM outbox_rows WHERE sink = ? AND dest = ? AND user_key = ? AND id < ?').pluck(),
      // A step's rows in one statement (ids as a JSON array): one call into SQLite instead of one per row.
      lease: db.prepare(`UPDATE outbox_rows SET state = 'leased', owner = ?, lease_until = ?, updated_at = ?
        WHERE id IN (SELECT value FROM json_each(?))`),
      complete: db.prepare("DELETE FROM outbox_rows WHERE id IN (SELECT value FROM json_each(?)) AND state = 'leased' AND owner = ?"),
      reschedule: db.prepare(`UPDATE outbox_rows SET state = 'pending', owner = NULL, lease_until = NULL, attempts = attempts + ?,
        next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ? AND state = 'leased' AND owner = ?`),
      fail: db.prepare(`UPDATE outbox_rows SET state = 'failed', owner = NULL, lease_until = NULL, last_error = ?, updated_at = ?
        WHERE id = ? AND state = 'leased' AND owner = ?`),
      expire: db.prepare(`UPDATE outbox_rows SET state = 'pending', owner = NULL, lease_until = NULL, updated_at = ?
        WHERE state = 'leased' AND lease_until < ?`),
      releaseAll: db.prepare("UPDATE outbox_rows SET state = 'pending', owner = NULL, lease_until = NULL, updated_at = ? WHERE state = 'leased'"),
      requeue: db.prepare(`UPDATE outbox_rows SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
        WHERE state = 'failed' AND (? IS NULL OR sink = ?)`),
      // Counted from the index alone; the oldest is the first due row (ids follow arrival), not a look at every row.
      dueCount: db.prepare("SELECT count(*) FROM outbox_rows WHERE sink = ? AND state = 'pending' AND next_attempt_at <= ?").pluck(),
      firstDue: db.prepare(`SELECT created_at FROM outbox_rows WHERE sink = ? AND state = 'pending' AND +next_attempt_at <= ?
        ORDER BY id LIMIT 1`).pluck(),
      nextDue: db.prepare("SELECT min(next_attempt_at) FROM outbox_rows WHERE sink = ? AND state = 'pending' AND next_attempt_at > ?").pluck(),
      gauges: db.prepare('SELECT sink, state, count(*) AS n, min(created_at) AS oldest FROM outbox_rows GROUP BY sink, state'),

      sink: db.prepare('SELECT paused_until, kind, reason, failures, since FROM sinks WHERE sink = ?'),
      pause: db.prepare(`INSERT INTO sinks (sink, paused_until, kind, reason, failures, since) VALUES (?, ?, ?, ?, 1, ?)
        ON CONFLICT (sink) DO UPDATE SET paused_until = excluded.paused_until, kind = excluded.kind, reason = excluded.reason,
        failures = failures + 1, since = CASE WHEN failures = 0 THEN excluded.since ELSE since END`),
      resume: db.prepare('UPDATE sinks SET paused_until = 0, kind = NULL, reason = NULL, failures = 0, since = 0 WHERE sink = ?'),
      // A few new pages, removed again in the same commit: a full disk or a size limit fails here as a webhook's commit would.
      probe: db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('healthz-probe', ? || hex(zeroblob(6000)))"),
      unprobe: db.prepare("DELETE FROM meta WHERE key = 'healthz-probe'"),
    }
  }

  // ------------------------------------------------------------ state

  seen(source: string, key: string): boolean {
    return this.s.seen.get(source, key) !== undefined
  }

  load(spec: LoadSpec): { gets: [RecordRef, unknown][]; scans: [{ kind: RecordKind; scope: string }, StoredRecord[]][] } {
    const gets: [RecordRef, unknown][] = (spec.get ?? []).map((r) => {
      const v = this.s.get.get(r.kind, r.scope, r.key) as string | undefined
      return [r, v === undefined ? null : JSON.parse(v)]
    })
    const scans: [{ kind: RecordKind; scope: string }, StoredRecord[]][] = (spec.scan ?? []).map((sc) => [sc, this.scan(sc.kind, sc.scope)])
    return { gets, scans }
  }

  private scan(kind: RecordKind, scope: string): StoredRecord[] {
    const cacheable = CACHED_SCANS.has(kind)
    const id = scopeId(kind, scope)
    if (cacheable) {
      const hit = this.scanCache.get(id)
      if (hit !== undefined) return hit
    }
    const records = (this.s.scan.all(kind, scope) as { key: string; value: string }[])
      .map((r): StoredRecord => ({ kind, scope, key: r.key, value: JSON.parse(r.value) as unknown }))
    if (cacheable) this.scanCache.set(id, deepFreeze(records))
    return records
  }

  /** Called before a statement that changes records of `kind` in `scope`. */
  private changing(kind: RecordKind, scope: string): void {
    if (CACHED_SCANS.has(kind)) this.scanCache.delete(scopeId(kind, scope))
  }

  /**
   * Runs one message's `fn` in the group; a failure rolls back that message
   * alone, and the cache with it. The first message of a group needs no
   * savepoint of its own (a SAVEPOINT and a RELEASE per webhook, most groups
   * being of one webhook at 200 webhooks/s): if it fails, the group holds
   * nothing else yet, and the whole transaction is rolled back and forgotten.
   */
  private inGroup<T>(fn: () => T): { value: T; committed: Promise<void> } {
    const first = this.group === undefined
    const committed = this.joinGroup()
    try {
      return { value: first ? fn() : this.db.transaction(fn)(), committed }
    } catch (err) {
      this.scanCache.clear()
      if (first) {
        // Synchronous since joinGroup: no other message is in this group.
        this.group = undefined
        if (this.db.inTransaction) this.db.exec('ROLLBACK')
      }
      throw err
    }
  }

  /** Writes one planned message in the current transaction; false when its dedupe key is already recorded. */
  private write(c: CommitInput): boolean {
    if (c.dedupe !== undefined && this.s.remember.run(c.dedupe.source, c.dedupe.key, c.now).changes === 0) return false
    for (const sc of c.deleteScopes) {
      this.changing(sc.kind, sc.scope)
      this.s.delScope.run(sc.kind, sc.scope)
    }
    for (const w of c.writes) {
      this.changing(w.kind, w.scope)
      if (w.value === null || w.value === undefined) this.s.del.run(w.kind, w.scope, w.key)
      else this.s.put.run(w.kind, w.scope, w.key, JSON.stringify(w.value), c.now)
    }
    for (const u of c.outgoing) {
      const id = Number(this.s.insertRow.run(u.sink, u.dest, u.userKey, JSON.stringify(u.payload), c.now, c.now, c.now).lastInsertRowid)
      if (id > this.writtenRowId) this.writtenRowId = id
    }
    return true
  }

  /**
   * Group commit: messages written in the same turn of the event loop share
   * one transaction and one fsync, each in its own savepoint but the first
   * (a failing one rolls back alone, see `inGroup`). Each resolves only after
   * the shared COMMIT, so nothing is acknowledged before it is durable.
   */
  async commit(c: CommitInput): Promise<{ duplicate: boolean; queued: number }> {
    const { value: written, committed } = this.inGroup(() => this.write(c))
    await committed
    return { duplicate: !written, queued: written ? c.outgoing.length : 0 }
  }

  /**
   * A whole message here, in the group (see `inGroup`): dedupe check, load,
   * the pure plan (again while it asks for more), write. Nothing else runs in
   * this thread meanwhile, so no lock is needed.
   */
  async apply<R>(request: MessageRequest, plan: Planner<R>): Promise<Applied<R>> {
    const ta = tracing ? clock() : 0
    const { value: applied, committed } = this.inGroup((): Applied<R> => {
      const { dedupe } = request
      if (dedupe !== undefined && this.seen(dedupe.source, dedupe.key)) return { duplicate: true }
      const state = emptyState()
      let spec = request.load
      for (let step = 0; step < MAX_PLAN_STEPS; step++) {
        const loaded = this.load(missing(state, spec))
        addLoaded(state, loaded.gets, loaded.scans)
        const next = plan(state)
        if ('need' in next) { spec = next.need; continue }
        const c = { dedupe, writes: next.writes, deleteScopes: next.deleteScopes ?? [], outgoing: next.outgoing, now: request.now }
        if (!this.write(c)) return { duplicate: true }
        return { duplicate: false, result: next.result, queued: c.outgoing.length }
      }
      throw new Error(`a plan asked for more records ${MAX_PLAN_STEPS} times`)
    })
    if (tracing) trace('apply', { t: ta, done: clock() })
    await committed
    return applied
  }

  /** Opens a group transaction if none is open; resolves when it has committed. */
  private joinGroup(): Promise<void> {
    if (this.syncFailure !== undefined) throw this.syncFailure
    if (this.group === undefined) {
      this.db.exec('BEGIN IMMEDIATE')
      let resolve: () => void = () => {}
      let reject: (err: Error) => void = () => {}
      const done = new Promise<void>((res, rej) => { resolve = res; reject = rej })
      done.catch(() => {})
      const group = { done, finish: () => {}, opened: tracing ? clock() : 0, msgs: 0 }
      group.finish = () => {
        if (this.group !== group) return
        this.group = undefined
        try {
          const tc = tracing ? clock() : 0
          this.db.exec('COMMIT')
          if (tracing) trace('commit', { t: tc, done: clock(), opened: group.opened, msgs: group.msgs })
          this.committedRowId = this.writtenRowId
        } catch (err) {
          if (this.db.inTransaction) this.db.exec('ROLLBACK')
          this.scanCache.clear()
          reject(sqliteError(this.opts.path, 'cannot commit to', err))
          return
        }
        this.durable().then(resolve, reject)
      }
      this.group = group
      this.flushGroup = group.finish
      setImmediate(group.finish)
    }
    ;(this.group as { msgs?: number }).msgs! += 1
    return this.group.done
  }

  /** Commits the open group now: outbox changes are never part of a webhook's transaction. */
  private flushGroup: () => void = () => {}

  /**
   * Resolves once everything committed so far is on disk: after an
   * fdatasync of the WAL that started after this call (see the header).
   */
  durable(): Promise<void> {
    if (this.walFd === undefined) return Promise.resolve()
    if (this.syncFailure !== undefined) return Promise.reject(this.syncFailure)
    const waited = new Promise<void>((resolve, reject) => this.syncWaiters.push({ resolve, reject }))
    if (this.syncing < SYNCS_IN_FLIGHT) this.startSync()
    return waited
  }

  private startSync(): void {
    const waiters = this.syncWaiters
    const covered = this.committedRowId
    this.syncWaiters = []
    if (this.syncing++ === 0) this.syncsEnded = new Promise((resolve) => { this.endSyncs = resolve })
    const ts = tracing ? clock() : 0
    fdatasync(this.walFd!, (err) => {
      if (tracing) trace('fsync', { t: ts, done: clock(), waiters: waiters.length })
      if (--this.syncing === 0) this.endSyncs()
      if (err !== null && this.syncFailure === undefined) {
        this.syncFailure = sqliteError(this.opts.path, 'cannot sync (fdatasync) the WAL of', err)
      }
      if (this.syncFailure !== undefined) {
        // Also when another fdatasync failed meanwhile: after a failure nothing more is acknowledged.
        for (const w of [...waiters, ...this.syncWaiters.splice(0)]) w.reject(this.syncFailure)
        return
      }
      this.syncedRowId = Math.max(this.syncedRowId, covered)
      for (const w of waiters) w.resolve()
      if (this.syncWaiters.length > 0 && this.syncing < SYNCS_IN_FLIGHT) this.startSync()
    })
  }

  /**
   * Runs `fn` in its own transaction, committed before it returns. The
   * outbox's own writes (claims, completions, pauses) do not wait for an
   * fdatasync: the next one covers them, and a power cut before it only
   * makes an update go out once more.
   */
  private tx<T>(fn: () => T): T {
    if (this.syncFailure !== undefined) throw this.syncFailure
    if (this.group !== undefined) this.flushGroup()
    return this.db.transaction(fn).immediate()
  }

  prune(before: number): void {
    this.tx(() => {
      this.s.pruneDedupe.run(before)
      this.s.pruneRecords.run(before)
    })
  }

  // ------------------------------------------------------------ outbox

  /**
   * Walks the due rows in id order and leases them in steps of `outboxChunk`
   * rows, each step its own transaction, so webhooks run in between. A row
   * is taken only when every older row of its user is in this claim: an
   * older row that is leased, failed, not due yet, or that came back
   * (requeued) between two steps holds the user back, for the whole claim.
   * With `onStep`, each step's rows go there as soon as they are leased (the
   * worker posts them to the HTTP thread step by step) instead of into the
   * result's `rows`.
   */
  async claim(sink: Sink, o: ClaimOptions, onStep?: (rows: OutboxRow[]) => void): Promise<Claimed | undefined> {
    if (this.pausedUntil(sink) > o.now) return undefined
    // Rows committed so far become claimable once an fdatasync covers them (at once without one, see `durable`).
    if (this.group !== undefined) this.flushGroup()
    await this.durable()
    const upTo = this.walFd === undefined ? Number.MAX_SAFE_INTEGER : this.syncedRowId
    let dest: string | undefined
    const rows: OutboxRow[] = []
    const mine = new Set<number>()
    const blocked = new Set<string>()
    let taken = 0
    let after = 0
    for (;;) {
      const tcs = tracing ? clock() : 0
      const chunk = this.stepRows()
      const step = this.tx(() => {
        const batch: OutboxRow[] = []
        let scanned = 0
        for (const r of this.s.dueRows.iterate(sink, o.now, after, upTo, chunk) as IterableIterator<RowShape>) {
          scanned++
          after = r.id
          if (dest !== undefined && r.dest !== dest) continue
          const user = `${r.dest}\u0000${r.user_key}`
          if (blocked.has(user)) continue
          const older = this.s.olderRows.all(sink, r.dest, r.user_key, r.id) as number[]
          if (older.some((id) => !mine.has(id))) { blocked.add(user); continue }
          dest = r.dest
          mine.add(r.id)
          batch.push(toRow(r))
          if (taken + batch.length >= o.max) break
        }
        if (batch.length > 0) this.s.lease.run(o.owner, o.now + o.leaseMs, o.now, JSON.stringify(batch.map((r) => r.id)))
        return { taken: batch, scanned }
      })
      if (tracing) trace('claimStep', { t: tcs, done: clock(), taken: step.taken.length, scanned: step.scanned })
      if (onStep !== undefined && step.taken.length > 0) onStep(step.taken)
      else rows.push(...step.taken)
      taken += step.taken.length
      if (taken >= o.max || step.scanned < chunk) break
      await this.betweenSteps()
    }
    return dest === undefined ? undefined : { sink, dest, rows }
  }

  /** In steps too (see `claim`): each step only deletes rows `owner` still holds, so a half-done completion is just less done. */
  async complete(owner: string, ids: readonly number[]): Promise<void> {
    for (let i = 0; i < ids.length;) {
      if (i > 0) await this.betweenSteps()
      const tcs = tracing ? clock() : 0
      const step = ids.slice(i, i + this.stepRows())
      this.tx(() => this.s.complete.run(JSON.stringify(step), owner))
      i += step.length
      if (tracing) trace('completeStep', { t: tcs, done: clock(), n: step.length })
    }
  }

  reschedule(owner: string, ids: readonly number[], o: { at: number; error: string; countAttempt: boolean; now: number }): void {
    this.tx(() => { for (const id of ids) this.s.reschedule.run(o.countAttempt ? 1 : 0, o.at, o.error, o.now, id, owner) })
  }

  keepFailed(owner: string, ids: readonly number[], error: string, now: number): void {
    this.tx(() => { for (const id of ids) this.s.fail.run(error, now, id, owner) })
  }

  expireLeases(now: number): number { return this.tx(() => this.s.expire.run(now, now).changes) }
  releaseAllLeases(now: number): number { return this.tx(() => this.s.releaseAll.run(now).changes) }
  /** Answered to an operator: durable before it resolves. */
  async requeueFailed(sink: Sink | undefined, now: number): Promise<number> {
    const n = this.tx(() => this.s.requeue.run(now, now, sink ?? null, sink ?? null).changes)
    await this.durable()
    return n
  }

  dueSummary(sink: Sink, now: number): DueSummary {
    const paused = this.pausedUntil(sink)
    if (paused > now) return { due: 0, oldestDueCreatedAt: undefined, nextDueAt: paused }
    const due = this.s.dueCount.get(sink, now) as number
    const oldest = due === 0 ? undefined : this.s.firstDue.get(sink, now) as number | undefined
    const next = this.s.nextDue.get(sink, now) as number | null
    return { due, oldestDueCreatedAt: oldest, nextDueAt: next ?? undefined }
  }

  private pausedUntil(sink: Sink): number {
    return (this.s.sink.get(sink) as { paused_until: number } | undefined)?.paused_until ?? 0
  }

  sinkState(sink: Sink): SinkState {
    const r = this.s.sink.get(sink) as { paused_until: number; kind: 'auth' | 'retry' | null; reason: string | null; failures: number; since: number } | undefined
    return {
      sink, pausedUntil: r?.paused_until ?? 0, kind: r?.kind ?? undefined, reason: r?.reason ?? undefined,
      failures: r?.failures ?? 0, since: r?.since ?? 0,
    }
  }

  pauseSink(sink: Sink, p: { until: number; kind: 'auth' | 'retry'; reason: string; now: number }): SinkState {
    this.tx(() => this.s.pause.run(sink, p.until, p.kind, p.reason, p.now))
    return this.sinkState(sink)
  }

  resumeSink(sink: Sink): void { this.tx(() => this.s.resume.run(sink)) }

  gauges(now: number): OutboxGauge[] {
    const gauges = new Map<Sink, OutboxGauge>(SINKS.map((sink) => [sink, { sink, pending: 0, inflight: 0, failed: 0, oldestPendingAgeSeconds: 0 }]))
    const oldest = new Map<Sink, number>()
    for (const r of this.s.gauges.all() as { sink: Sink; state: string; n: number; oldest: number }[]) {
      const g = gauges.get(r.sink)
      if (g === undefined) continue
      if (r.state === 'pending') g.pending = r.n
      else if (r.state === 'leased') g.inflight = r.n
      else if (r.state === 'failed') g.failed = r.n
      if (r.state !== 'failed') oldest.set(r.sink, Math.min(oldest.get(r.sink) ?? Infinity, r.oldest))
    }
    for (const [sink, t] of oldest) gauges.get(sink)!.oldestPendingAgeSeconds = Math.max(0, (now - t) / 1000)
    return [...gauges.values()]
  }

  /** Also waits for an fdatasync: a disk that cannot sync fails the health check too. */
  async checkWritable(now: number): Promise<void> {
    if (this.inode !== undefined) {
      let current: { dev: number; ino: number } | undefined
      try {
        current = fileId(this.opts.path)
      } catch {
        current = undefined
      }
      if (current === undefined || current.dev !== this.inode.dev || current.ino !== this.inode.ino) {
        throw new Error(`the SQLite file "${this.opts.path}" (SHIM_DB) was deleted or replaced while the shim runs: what it stores now would be lost at restart`)
      }
    }
    if (this.lockInode !== undefined && !sameFile(lockPath(this.opts.path), this.lockInode)) {
      throw new Error(`the lock file "${lockPath(this.opts.path)}" of the SQLite database "${this.opts.path}" (SHIM_DB) was deleted or replaced `
        + 'while the shim runs: a second shim could now start on the same database; restart this one')
    }
    try {
      this.tx(() => {
        this.s.probe.run(String(now))
        this.s.unprobe.run()
      })
    } catch (err) {
      throw sqliteError(this.opts.path, 'cannot write to', err)
    }
    await this.durable()
  }

  async close(): Promise<void> {
    if (this.group !== undefined) {
      this.flushGroup()
    }
    // The last commits' fdatasync (and any still running) ends before the file is closed.
    await this.durable().catch(() => {})
    await this.syncsEnded
    if (this.db.open) this.db.close()
    if (this.walFd !== undefined) closeSync(this.walFd)
    this.walFd = undefined
    // Last: the file stays locked until the database is closed.
    this.lock?.close()
  }
}

export interface CommitInput {
  dedupe: { source: string; key: string } | undefined
  writes: readonly RecordWrite[]
  deleteScopes: readonly { kind: RecordKind; scope: string }[]
  outgoing: readonly OutgoingUpdate[]
  now: number
}

function sameFile(path: string, id: { dev: number; ino: number }): boolean {
  try {
    const now = fileId(path)
    return now.dev === id.dev && now.ino === id.ino
  } catch {
    return false
  }
}

function fileId(path: string): { dev: number; ino: number } {
  const s = statSync(path)
  return { dev: s.dev, ino: s.ino }
}
