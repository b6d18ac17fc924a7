/**
 * The embedded store: better-sqlite3 in WAL mode. Calls are synchronous, so
 * each `apply*` runs start to end without interleaving with other requests.
 */
import Database from 'better-sqlite3'
import type { OutboxGauge, Sink } from './metrics.js'
import { applyMembershipChanges, engageSet, type AudienceChange, type StoredMembership } from './mparticle-audience.js'
import { engageUpdate, mergePayload, mixpanelDest, type MparticleUpdate } from './outbox-payloads.js'
import type {
  AudienceApplyResult, AudienceMessageInput, ClaimedBatch, CohortApplyResult, CohortInput, DueSummary,
  OutboxRow, Store, SubscriptionInput,
} from './store.js'

const SCHEMA_VERSION = 1

const SCHEMA = `
CREATE TABLE IF NOT EXISTS inbound (
  source TEXT NOT NULL,
  message_key TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (source, message_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS inbound_received ON inbound (received_at);

CREATE TABLE IF NOT EXISTS audiences (
  audience_id INTEGER PRIMARY KEY,
  name TEXT,
  removed INTEGER NOT NULL DEFAULT 0,
  ts INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS memberships (
  user_key TEXT NOT NULL,
  audience_id INTEGER NOT NULL,
  member INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  PRIMARY KEY (user_key, audience_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS cohorts (
  cohort_id TEXT PRIMARY KEY,
  name TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS cohort_members (
  cohort_id TEXT NOT NULL,
  member_key TEXT NOT NULL,
  identity TEXT NOT NULL,
  in_cohort INTEGER NOT NULL,
  PRIMARY KEY (cohort_id, member_key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS snapshots (
  cohort_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  total_pages INTEGER NOT NULL,
  pages TEXT NOT NULL,
  complete INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (cohort_id, session_id)
);

CREATE TABLE IF NOT EXISTS snapshot_members (
  cohort_id TEXT NOT NULL,
  session_id TEXT NOT NULL,
  member_key TEXT NOT NULL,
  PRIMARY KEY (cohort_id, session_id, member_key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY,
  sink TEXT NOT NULL,
  dest TEXT NOT NULL,
  key TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_error TEXT
);
-- At most one pending update per user and destination: new changes merge into it.
CREATE UNIQUE INDEX IF NOT EXISTS outbox_pending_key ON outbox (sink, dest, key) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (sink, state, next_attempt_at, created_at);
`

export interface SqliteStoreOptions {
  path: string
  synchronous: 'full' | 'normal'
}

interface PendingRow { id: number; payload: string; created_at: number }

interface CommitGroup { done: Promise<void> }

export class SqliteStore implements Store {
  private readonly db: Database.Database
  private readonly s: ReturnType<SqliteStore['prepare']>
  private readonly txAudience: (input: AudienceMessageInput) => AudienceApplyResult
  private readonly txCohort: (input: CohortInput) => CohortApplyResult
  private readonly txSubscription: (input: SubscriptionInput) => { duplicate: boolean; stale: boolean }
  private readonly txClaim: (sink: Sink, max: number, now: number) => ClaimedBatch | undefined
  private readonly txComplete: (ids: readonly number[]) => void
  private readonly txReschedule: (ids: readonly number[], at: number, error: string, count: boolean, now: number) => void
  private readonly txFail: (ids: readonly number[], error: string, now: number) => void
  private readonly txRecover: (now: number) => number
  private readonly txPrune: (before: number) => void
  private group: CommitGroup | undefined
  /** Audiences with a row in `audiences` (a name to fall back on). */
  private readonly knownAudiences = new Set<number>()

  constructor(opts: SqliteStoreOptions) {
    try {
      this.db = new Database(opts.path)
    } catch (err) {
      throw new Error(`cannot open the SQLite database at "${opts.path}" (SHIM_DB): ${(err as Error).message}`)
    }
    this.db.pragma('journal_mode = WAL')
    this.db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`)
    this.db.pragma('busy_timeout = 5000')
    const version = this.db.pragma('user_version', { simple: true }) as number
    if (version > SCHEMA_VERSION) {
      throw new Error(`the database at "${opts.path}" was written by a newer shim (schema ${version} > ${SCHEMA_VERSION})`)
    }
    this.db.exec(SCHEMA)
    this.db.pragma(`user_version = ${SCHEMA_VERSION}`)
    this.s = this.prepare()
    this.reloadKnownAudiences()
    this.txAudience = this.db.transaction((input: AudienceMessageInput) => this.doAudience(input))
    this.txCohort = this.db.transaction((input: CohortInput) => this.doCohort(input))
    this.txSubscription = this.db.transaction((input: SubscriptionInput) => this.doSubscription(input))
    this.txClaim = this.db.transaction((sink: Sink, max: number, now: number) => this.doClaim(sink, max, now))
    this.txComplete = this.db.transaction((ids: readonly number[]) => { for (const id of ids) this.s.deleteRow.run(id) })
    this.txReschedule = this.db.transaction((ids: readonly number[], at: number, error: string, count: boolean, now: number) => {
      for (const id of ids) this.release(id, at, error, count, now)
    })
    this.txFail = this.db.transaction((ids: readonly number[], error: string, now: number) => {
      for (const id of ids) this.s.failRow.run(error, now, id)
    })
    this.txRecover = this.db.transaction((now: number) => {
      const ids = (this.s.inflightIds.all() as { id: number }[]).map((r) => r.id)
      for (const id of ids) this.release(id, now, 'not confirmed before the shim stopped', false, now)
      return ids.length
    })
    this.txPrune = this.db.transaction((before: number) => {
      this.s.pruneInbound.run(before)
      const old = this.s.oldSnapshots.all(before) as { cohort_id: string; session_id: string }[]
      for (const o of old) {
        this.s.deleteSnapshotMembers.run(o.cohort_id, o.session_id)
        this.s.deleteSnapshot.run(o.cohort_id, o.session_id)
      }
    })
  }

  private prepare() {
    const db = this.db
    return {
      seen: db.prepare('SELECT 1 FROM inbound WHERE source = ? AND message_key = ?'),
      remember: db.prepare('INSERT INTO inbound (source, message_key, received_at) VALUES (?, ?, ?)'),
      removedAudiences: db.prepare('SELECT audience_id FROM audiences WHERE removed = 1').pluck(),
      audience: db.prepare('SELECT name, removed, ts FROM audiences WHERE audience_id = ?'),
      upsertAudience: db.prepare(`INSERT INTO audiences (audience_id, name, removed, ts) VALUES (?, ?, ?, ?)
        ON CONFLICT (audience_id) DO UPDATE SET name = excluded.name, removed = excluded.removed, ts = excluded.ts`),
      learnAudienceName: db.prepare('INSERT INTO audiences (audience_id, name, removed, ts) VALUES (?, ?, 0, 0) ON CONFLICT (audience_id) DO NOTHING'),
      memberships: db.prepare('SELECT audience_id, member, ts FROM memberships WHERE user_key = ?'),
      upsertMembership: db.prepare(`INSERT INTO memberships (user_key, audience_id, member, ts) VALUES (?, ?, ?, ?)
        ON CONFLICT (user_key, audience_id) DO UPDATE SET member = excluded.member, ts = excluded.ts`),
      upsertCohort: db.prepare('INSERT INTO cohorts (cohort_id, name) VALUES (?, ?) ON CONFLICT (cohort_id) DO UPDATE SET name = excluded.name'),
      cohortMember: db.prepare('SELECT in_cohort FROM cohort_members WHERE cohort_id = ? AND member_key = ?').pluck(),
      upsertCohortMember: db.prepare(`INSERT INTO cohort_members (cohort_id, member_key, identity, in_cohort) VALUES (?, ?, ?, ?)
        ON CONFLICT (cohort_id, member_key) DO UPDATE SET identity = excluded.identity, in_cohort = excluded.in_cohort`),
      leaveCohort: db.prepare('UPDATE cohort_members SET in_cohort = 0 WHERE cohort_id = ? AND member_key = ?'),
      absentFromSnapshot: db.prepare(`SELECT m.member_key, m.identity FROM cohort_members m
        WHERE m.cohort_id = ? AND m.in_cohort = 1 AND NOT EXISTS (
          SELECT 1 FROM snapshot_members s WHERE s.cohort_id = m.cohort_id AND s.session_id = ? AND s.member_key = m.member_key)`),
      snapshot: db.prepare('SELECT total_pages, pages, complete FROM snapshots WHERE cohort_id = ? AND session_id = ?'),
      upsertSnapshot: db.prepare(`INSERT INTO snapshots (cohort_id, session_id, total_pages, pages, complete, updated_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (cohort_id, session_id) DO UPDATE SET total_pages = excluded.total_pages, pages = excluded.pages,
        complete = excluded.complete, updated_at = excluded.updated_at`),
      deleteSnapshot: db.prepare('DELETE FROM snapshots WHERE cohort_id = ? AND session_id = ?'),
      addSnapshotMember: db.prepare('INSERT OR IGNORE INTO snapshot_members (cohort_id, session_id, member_key) VALUES (?, ?, ?)'),
      deleteSnapshotMembers: db.prepare('DELETE FROM snapshot_members WHERE cohort_id = ? AND session_id = ?'),
      oldSnapshots: db.prepare('SELECT cohort_id, session_id FROM snapshots WHERE updated_at < ?'),
      pruneInbound: db.prepare('DELETE FROM inbound WHERE received_at < ?'),

      pending: db.prepare("SELECT id, payload, created_at FROM outbox WHERE sink = ? AND dest = ? AND key = ? AND state = 'pending'"),
      insertRow: db.prepare(`INSERT INTO outbox (sink, dest, key, payload, state, attempts, next_attempt_at, created_at, updated_at)
        VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)`),
      setPayload: db.prepare('UPDATE outbox SET payload = ?, created_at = min(created_at, ?), updated_at = ? WHERE id = ?'),
      row: db.prepare('SELECT id, sink, dest, key, payload, attempts, created_at FROM outbox WHERE id = ?'),
      deleteRow: db.prepare('DELETE FROM outbox WHERE id = ?'),
      failRow: db.prepare("UPDATE outbox SET state = 'failed', last_error = ?, updated_at = ? WHERE id = ?"),
      releaseRow: db.prepare(`UPDATE outbox SET state = 'pending', attempts = attempts + ?, next_attempt_at = ?, last_error = ?, updated_at = ?
        WHERE id = ?`),
      inflightIds: db.prepare("SELECT id FROM outbox WHERE state = 'inflight' ORDER BY id"),
      dueSummary: db.prepare(`SELECT count(*) AS due, min(created_at) AS oldest FROM outbox
        WHERE sink = ? AND state = 'pending' AND next_attempt_at <= ?`),
      nextDue: db.prepare("SELECT min(next_attempt_at) FROM outbox WHERE sink = ? AND state = 'pending' AND next_attempt_at > ?").pluck(),
      firstDueDest: db.prepare(`SELECT dest FROM outbox WHERE sink = ? AND state = 'pending' AND next_attempt_at <= ?
        ORDER BY id LIMIT 1`).pluck(),
      dueRows: db.prepare(`SELECT id, key, payload, attempts, created_at AS createdAt FROM outbox
        WHERE sink = ? AND dest = ? AND state = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?`),
      markInflight: db.prepare("UPDATE outbox SET state = 'inflight', updated_at = ? WHERE id = ?"),
      gauges: db.prepare('SELECT sink, state, count(*) AS n, min(created_at) AS oldest FROM outbox GROUP BY sink, state'),
    }
  }

  private reloadKnownAudiences(): void {
    this.knownAudiences.clear()
    for (const id of this.db.prepare('SELECT audience_id FROM audiences').pluck().all() as number[]) this.knownAudiences.add(id)
  }

  /** Puts one update in the outbox, merging it into the user's pending update if there is one. */
  private enqueue(sink: Sink, dest: string, key: string, payload: unknown, now: number): void {
    const existing = this.s.pending.get(sink, dest, key) as PendingRow | undefined
    if (existing !== undefined) {
      const merged = mergePayload(sink, JSON.parse(existing.payload), payload)
      this.s.setPayload.run(JSON.stringify(merged), now, now, existing.id)
    } else {
      this.s.insertRow.run(sink, dest, key, JSON.stringify(payload), now, now, now)
    }
  }

  /** An in-flight update goes back to pending; a newer pending update of the same user absorbs it. */
  private release(id: number, at: number, error: string, countAttempt: boolean, now: number): void {
    const row = this.s.row.get(id) as { id: number; sink: Sink; dest: string; key: string; payload: string; created_at: number } | undefined
    if (row === undefined) return
    const newer = this.s.pending.get(row.sink, row.dest, row.key) as PendingRow | undefined
    if (newer !== undefined) {
      const merged = mergePayload(row.sink, JSON.parse(row.payload), JSON.parse(newer.payload))
      this.s.setPayload.run(JSON.stringify(merged), row.created_at, now, newer.id)
      this.s.deleteRow.run(id)
      return
    }
    this.s.releaseRow.run(countAttempt ? 1 : 0, at, error, now, id)
  }

  private seen(source: string, key: string): boolean {
    return this.s.seen.get(source, key) !== undefined
  }

  private doAudience(input: AudienceMessageInput): AudienceApplyResult {
    const result: AudienceApplyResult = { duplicate: false, applied: 0, queued: 0, stale: 0, ignoredRemoved: 0, changedWithoutIdentity: 0 }
    if (this.seen('mparticle', input.messageId)) return { ...result, duplicate: true }
    this.s.remember.run('mparticle', input.messageId, input.now)
    const removed = new Set(this.s.removedAudiences.all() as number[])
    const nameOf = (c: AudienceChange): string => {
      if (c.audienceName !== undefined) return c.audienceName
      const a = this.s.audience.get(c.audienceId) as { name: string | null } | undefined
      return a?.name ?? String(c.audienceId)
    }
    const dest = mixpanelDest(input.settings.apiBase, input.settings.token)
    for (const p of input.profiles) {
      if (p.changes.length === 0) continue
      const current = new Map<number, StoredMembership>()
      for (const r of this.s.memberships.all(p.userKey) as { audience_id: number; member: number; ts: number }[]) {
        current.set(r.audience_id, { member: r.member === 1, ts: r.ts })
      }
      const out = applyMembershipChanges(current, p.changes, input.timestampMs, removed)
      result.stale += out.stale
      result.ignoredRemoved += out.ignoredRemoved
      for (const w of out.writes) this.s.upsertMembership.run(p.userKey, w.audienceId, w.member ? 1 : 0, w.ts)
      for (const c of p.changes) {
        // Remember names for later messages that omit them (write once per audience, not per message).
        if (c.audienceName !== undefined && !this.knownAudiences.has(c.audienceId)) {
          this.s.learnAudienceName.run(c.audienceId, c.audienceName)
          this.knownAudiences.add(c.audienceId)
        }
      }
      if (out.changed.length === 0) continue
      result.applied += out.changed.length
      if (p.distinctId === undefined) { result.changedWithoutIdentity++; continue }
      const set = engageSet(out.members, out.changed, input.settings.oneAttributePerAudience, nameOf)
      this.enqueue('mixpanel', dest, p.distinctId, engageUpdate(input.settings.token, p.distinctId, set), input.now)
      result.queued++
    }
    return result
  }

  private doSubscription(input: SubscriptionInput): { duplicate: boolean; stale: boolean } {
    if (this.seen('mparticle', input.messageId)) return { duplicate: true, stale: false }
    this.s.remember.run('mparticle', input.messageId, input.now)
    const cur = this.s.audience.get(input.audienceId) as { ts: number } | undefined
    if (cur !== undefined && cur.ts > input.timestampMs) return { duplicate: false, stale: true }
    // Removing only marks the audience: users' Mixpanel attributes are not rewritten.
    this.s.upsertAudience.run(input.audienceId, input.audienceName, input.action === 'remove' ? 1 : 0, input.timestampMs)
    this.knownAudiences.add(input.audienceId)
    return { duplicate: false, stale: false }
  }

  private doCohort(input: CohortInput): CohortApplyResult {
    const result: CohortApplyResult = { duplicate: false, entered: 0, left: 0, queued: 0, snapshotComplete: false }
    if (input.dedupeKey !== undefined) {
      if (this.seen('mixpanel', input.dedupeKey)) return { ...result, duplicate: true }
      this.s.remember.run('mixpanel', input.dedupeKey, input.now)
    }
    this.s.upsertCohort.run(input.cohortId, input.cohortName)
    const send = (identity: CohortInput['members'][number]['identity'], key: string, value: boolean): void => {
      const update: MparticleUpdate = { identity, environment: input.environment, user_attributes: { [input.cohortName]: value } }
      this.enqueue('mparticle', input.dest, key, update, input.now)
      result.queued++
    }
    const enter = (m: CohortInput['members'][number]): void => {
      if (this.s.cohortMember.get(input.cohortId, m.key) === 1) return
      this.s.upsertCohortMember.run(input.cohortId, m.key, JSON.stringify(m.identity), 1)
      result.entered++
      send(m.identity, m.key, true)
    }
    if (input.action === 'add_members') {
      for (const m of input.members) enter(m)
      return result
    }
    if (input.action === 'remove_members') {
      for (const m of input.members) {
        // Unknown users are recorded as out too, so a replayed removal sends nothing twice.
        if (this.s.cohortMember.get(input.cohortId, m.key) === 0) continue
        this.s.upsertCohortMember.run(input.cohortId, m.key, JSON.stringify(m.identity), 0)
        result.left++
        send(m.identity, m.key, false)
      }
      return result
    }

    // A full snapshot, possibly in pages arriving in any order.
    const session = input.sessionId ?? ''
    const total = input.page?.total ?? 1
    const index = input.page?.index ?? 0
    const snap = this.s.snapshot.get(input.cohortId, session) as { total_pages: number; pages: string; complete: number } | undefined
    let pages: number[] = []
    if (snap !== undefined && snap.complete === 1) {
      // A page of a finished sync with a session id is a late replay; without one it is a new snapshot.
      if (input.sessionId !== undefined) return { ...result, duplicate: true }
    } else if (snap !== undefined) {
      pages = JSON.parse(snap.pages) as number[]
    }
    if (!pages.includes(index)) pages.push(index)
    for (const m of input.members) {
      this.s.addSnapshotMember.run(input.cohortId, session, m.key)
      enter(m)
    }
    const complete = pages.length >= total
    if (complete) {
      for (const r of this.s.absentFromSnapshot.all(input.cohortId, session) as { member_key: string; identity: string }[]) {
        this.s.leaveCohort.run(input.cohortId, r.member_key)
        result.left++
        send(JSON.parse(r.identity) as CohortInput['members'][number]['identity'], r.member_key, false)
      }
      this.s.deleteSnapshotMembers.run(input.cohortId, session)
      result.snapshotComplete = true
    }
    this.s.upsertSnapshot.run(input.cohortId, session, total, JSON.stringify(pages), complete ? 1 : 0, input.now)
    return result
  }

  private doClaim(sink: Sink, max: number, now: number): ClaimedBatch | undefined {
    const dest = this.s.firstDueDest.get(sink, now) as string | undefined
    if (dest === undefined) return undefined
    const rows = this.s.dueRows.all(sink, dest, now, max) as OutboxRow[]
    for (const r of rows) this.s.markInflight.run(now, r.id)
    return { sink, dest, rows }
  }

  /**
   * Group commit: webhooks handled in the same turn of the event loop share one
   * transaction and one fsync. Each runs in its own savepoint (better-sqlite3
   * nests transactions that way), so a failing one rolls back alone; each
   * caller resolves only after the shared COMMIT, so nothing is acknowledged
   * before it is durable.
   */
  private async grouped<T>(work: () => T): Promise<T> {
    if (this.group === undefined) {
      this.db.exec('BEGIN IMMEDIATE')
      let resolve: () => void = () => {}
      let reject: (err: Error) => void = () => {}
      const done = new Promise<void>((res, rej) => { resolve = res; reject = rej })
      // Callers that failed before awaiting must not turn a failed commit into an unhandled rejection.
      done.catch(() => {})
      this.group = { done }
      setImmediate(() => {
        this.group = undefined
        try {
          this.db.exec('COMMIT')
          resolve()
        } catch (err) {
          if (this.db.inTransaction) this.db.exec('ROLLBACK')
          this.reloadKnownAudiences()
          reject(err as Error)
        }
      })
    }
    const { done } = this.group
    let result: T
    try {
      result = work()
    } catch (err) {
      // Its savepoint was rolled back: forget what it added to the cache.
      this.reloadKnownAudiences()
      throw err
    }
    await done
    return result
  }

  async applyAudienceMessage(input: AudienceMessageInput): Promise<AudienceApplyResult> { return this.grouped(() => this.txAudience(input)) }
  async applySubscription(input: SubscriptionInput): Promise<{ duplicate: boolean; stale: boolean }> { return this.grouped(() => this.txSubscription(input)) }
  async applyCohortMessage(input: CohortInput): Promise<CohortApplyResult> { return this.grouped(() => this.txCohort(input)) }

  async dueSummary(sink: Sink, now: number): Promise<DueSummary> {
    const r = this.s.dueSummary.get(sink, now) as { due: number; oldest: number | null }
    const next = this.s.nextDue.get(sink, now) as number | null
    return { due: r.due, oldestDueCreatedAt: r.oldest ?? undefined, nextDueAt: next ?? undefined }
  }

  async claimBatch(sink: Sink, max: number, now: number): Promise<ClaimedBatch | undefined> { return this.txClaim(sink, max, now) }
  async complete(ids: readonly number[]): Promise<void> { this.txComplete(ids) }
  async reschedule(ids: readonly number[], at: number, error: string, countAttempt: boolean, now: number): Promise<void> {
    this.txReschedule(ids, at, error, countAttempt, now)
  }

  async fail(ids: readonly number[], error: string, now: number): Promise<void> { this.txFail(ids, error, now) }
  async recoverInflight(now: number): Promise<number> { return this.txRecover(now) }

  async outboxGauges(now: number): Promise<OutboxGauge[]> {
    const gauges = new Map<Sink, OutboxGauge>()
    for (const sink of ['mixpanel', 'mparticle'] as const) {
      gauges.set(sink, { sink, pending: 0, inflight: 0, failed: 0, oldestPendingAgeSeconds: 0 })
    }
    let oldest = new Map<Sink, number>()
    for (const r of this.s.gauges.all() as { sink: Sink; state: string; n: number; oldest: number }[]) {
      const g = gauges.get(r.sink)
      if (g === undefined) continue
      if (r.state === 'pending') g.pending = r.n
      else if (r.state === 'inflight') g.inflight = r.n
      else if (r.state === 'failed') g.failed = r.n
      if (r.state === 'pending' || r.state === 'inflight') {
        oldest = oldest.set(r.sink, Math.min(oldest.get(r.sink) ?? Infinity, r.oldest))
      }
    }
    for (const [sink, t] of oldest) {
      const g = gauges.get(sink)
      if (g !== undefined) g.oldestPendingAgeSeconds = Math.max(0, (now - t) / 1000)
    }
    return [...gauges.values()]
  }

  async prune(before: number): Promise<void> { this.txPrune(before) }
  async ping(): Promise<void> { this.db.prepare('SELECT 1').get() }
  async close(): Promise<void> {
    if (this.group !== undefined) await this.group.done.catch(() => {})
    if (this.db.open) this.db.close()
  }
}
