/**
 * Storage behind two small interfaces. A store only reads and writes: every
 * decision (what a message changes, what is sent, how a destination's answer
 * is handled) lives in the pure flows/ and destinations/ modules.
 *
 * - `StateStore`: runs one incoming message as one transaction: the dedupe
 *   check, loading the records the message touches, the flow's pure plan, and
 *   the commit of its record writes, its outbox rows and the dedupe record.
 * - `Outbox`: durable outgoing updates, claimed in batches with a lease by an
 *   owner (one sender of one process), completed, rescheduled, kept failed,
 *   requeued; plus the per-sink pause every replica honours.
 *
 * Both are asynchronous and shaped so that a PostgreSQL backend fits them
 * naturally (one transaction per call, `SELECT … FOR UPDATE SKIP LOCKED` for
 * claims, advisory locks for `MessageRequest.locks`). Every backend must pass
 * the contract suite in test/server/store-contract.ts (`describeStore`).
 */

/** A destination of outgoing updates. */
export type Sink = 'mixpanel' | 'mparticle'
export const SINKS: readonly Sink[] = ['mixpanel', 'mparticle']

// ---------------------------------------------------------------- state

/**
 * What the flows keep, as JSON records addressed by kind, scope and key:
 *
 * | kind              | scope                  | key               | value (JSON)                    |
 * |-------------------|------------------------|-------------------|---------------------------------|
 * | `membership`      | `''`                   | user key          | the user's audiences            |
 * | `audience`        | `''`                   | audience id       | name, removed, timestamp        |
 * | `cohort`          | `''`                   | cohort id         | name                            |
 * | `cohort_member`   | cohort id              | person key        | identity, in the cohort or not  |
 * | `snapshot`        | cohort id              | sync session id   | pages seen, complete            |
 * | `snapshot_member` | cohort id + session id | person key        | `true`                          |
 *
 * The store does not interpret values; the flows own their shape.
 */
export type RecordKind = 'membership' | 'audience' | 'cohort' | 'cohort_member' | 'snapshot' | 'snapshot_member'

export interface RecordRef {
  kind: RecordKind
  scope: string
  key: string
}

export interface StoredRecord extends RecordRef {
  value: unknown
}

/** What a plan needs to read: exact records, and whole scopes (e.g. every member of a cohort). */
export interface LoadSpec {
  get?: readonly RecordRef[]
  scan?: readonly { kind: RecordKind; scope: string }[]
}

/**
 * The records loaded for one message, as plain data. A record asked for and
 * absent is recorded as absent (`null`), so a plan can tell "not there" from
 * "not loaded" (see state.ts for the reader the flows use).
 */
export interface LoadedState {
  /** `recordId(ref)` → value, or null when the record does not exist. */
  records: Map<string, unknown>
  /** `scopeId(kind, scope)` → every record of that scope. */
  scans: Map<string, StoredRecord[]>
}

/** A record write: `value: null` deletes it. */
export interface RecordWrite extends RecordRef {
  value: unknown
}

/** One outgoing update for the outbox; `payload` is the destination's JSON (see destinations/). */
export interface OutgoingUpdate {
  sink: Sink
  /** Where it goes (base URL, and the project token for Mixpanel): one request never mixes two. */
  dest: string
  /** The user the update is about: per-user order is kept per (sink, dest, userKey). */
  userKey: string
  payload: unknown
}

/** A plan either asks for more records (it is called again with them) or is final. */
export type PlanStep<R> =
  | { need: LoadSpec }
  | {
    result: R
    writes: readonly RecordWrite[]
    /** Deletes every record of these scopes (a finished snapshot's members). */
    deleteScopes?: readonly { kind: RecordKind; scope: string }[]
    outgoing: readonly OutgoingUpdate[]
  }

/** A pure function of the loaded state: no I/O, no clock, no randomness. */
export type Planner<R> = (state: LoadedState) => PlanStep<R>

/**
 * A planner that names its flow and carries its (structured-cloneable)
 * input, so a store may rebuild it where the data is (flows/index.ts). A
 * store may also just call it.
 */
export type NamedPlanner<R> = Planner<R> & { readonly flow: string; readonly input: unknown }

export interface MessageRequest {
  /** Replay protection: when this key was already recorded, nothing is planned or written. */
  dedupe?: { source: string; key: string }
  /**
   * Names of what the message touches (`user:…`, `cohort:…`). Messages that
   * share a lock run one after the other, so the state a plan sees is still
   * current when its writes commit (across replicas, for shared backends).
   */
  locks: readonly string[]
  /** Loaded before the first plan call. */
  load: LoadSpec
  now: number
}

export type Applied<R> =
  | { duplicate: true }
  | { duplicate: false; result: R; queued: number }

export interface StateStore {
  /**
   * One message in one transaction: if `request.dedupe` is recorded →
   * `{ duplicate: true }` and nothing else; otherwise load → `plan` (again
   * with more records while it asks for them) → commit its writes, its
   * outgoing updates as outbox rows and the dedupe record, all or nothing.
   * Resolves only once the commit is durable (the webhook is acknowledged
   * after that). No network I/O happens inside the transaction.
   */
  apply<R>(request: MessageRequest, plan: Planner<R>): Promise<Applied<R>>
  /** Forgets dedupe records, and snapshot records not written since `before`. */
  prune(before: number): Promise<void>
}

// ---------------------------------------------------------------- outbox

export interface OutboxRow {
  /** Increases with every row written (never reused), so it orders a user's rows. */
  id: number
  sink: Sink
  dest: string
  userKey: string
  /** The stored payload, JSON text. */
  payload: string
  /** Delivery attempts that ended in a retryable failure. */
  attempts: number
  createdAt: number
}

export interface ClaimOptions {
  /** Who holds the lease (process + sender); complete/reschedule/fail only act on rows it still holds. */
  owner: string
  /** At most this many rows. */
  max: number
  now: number
  /** The lease ends at `now + leaseMs`; afterwards `expireLeases` gives the rows to others. */
  leaseMs: number
}

/** A claimed batch: rows of one sink and one dest, ordered by id. */
export interface Claimed {
  sink: Sink
  dest: string
  rows: OutboxRow[]
}

export interface DueSummary {
  /**
   * Rows whose time has come (0 while the sink is paused). Cheap rather than
   * exact: rows held back behind an older row of their user may be counted;
   * `claim` skips them.
   */
  due: number
  /** `createdAt` of the oldest of them. */
  oldestDueCreatedAt: number | undefined
  /** The earliest time something becomes due: a row's retry time, or the end of the sink's pause. */
  nextDueAt: number | undefined
}

/**
 * A sink's pause, persisted so every replica (and the next start) honours it:
 * a `Retry-After`, a backoff after 5xx / network errors, or a refused
 * credential (401/403/404) that an operator has to fix.
 */
export interface SinkState {
  sink: Sink
  /** Nothing is claimed for the sink before this time (0 = not paused). */
  pausedUntil: number
  /** `auth`: the destination refused the credential or the URL; `retry`: backoff / Retry-After. */
  kind: 'auth' | 'retry' | undefined
  reason: string | undefined
  /** Consecutive failed requests since the last success (drives the backoff). */
  failures: number
  /** When the current run of failures started (0 when none). */
  since: number
}

export interface OutboxGauge {
  sink: Sink
  pending: number
  /** Leased by a sender (label `inflight` in /metrics). */
  inflight: number
  failed: number
  /** Seconds since the oldest unconfirmed (pending or leased) update was queued, 0 when none. */
  oldestPendingAgeSeconds: number
}

export interface Outbox {
  dueSummary(sink: Sink, now: number): Promise<DueSummary>
  /**
   * Leases up to `max` due rows of one dest of `sink` to `owner`. Nothing
   * while the sink is paused. Never a user's row while an older row of the
   * same user (same sink and dest) is leased, failed, or pending and not
   * claimed with it — so per-user order holds across owners and replicas.
   */
  claim(sink: Sink, opts: ClaimOptions): Promise<Claimed | undefined>
  /** Confirmed by the destination: forget them (only rows `owner` still holds). */
  complete(owner: string, ids: readonly number[]): Promise<void>
  /** Back to pending, due at `at`; `countAttempt` adds one to `attempts`. */
  reschedule(owner: string, ids: readonly number[], opts: { at: number; error: string; countAttempt: boolean; now: number }): Promise<void>
  /** Kept as failed with the reason (an answer about the update itself); `requeueFailed` sends them again. */
  keepFailed(owner: string, ids: readonly number[], error: string, now: number): Promise<void>
  /** Leases that ended before `now` (a crashed or stuck owner) are pending again. Returns how many. */
  expireLeases(now: number): Promise<number>
  /** Every lease, whoever holds it, is pending again: only for a backend that knows no other process runs (SQLite at start). */
  releaseAllLeases(now: number): Promise<number>
  /** Failed rows (of one sink, or all) are pending again, due now. Returns how many. */
  requeueFailed(opts: { sink?: Sink; now: number }): Promise<number>

  sinkState(sink: Sink): Promise<SinkState>
  /** Pauses the sink until `until` and counts one more failure. */
  pauseSink(sink: Sink, pause: { until: number; kind: 'auth' | 'retry'; reason: string; now: number }): Promise<SinkState>
  /** A request succeeded: the pause and the failure count are cleared. */
  resumeSink(sink: Sink): Promise<void>

  gauges(now: number): Promise<OutboxGauge[]>
  /** Resolves when the store can commit a write now (for /healthz); rejects naming what is wrong. */
  checkWritable(now: number): Promise<void>
}

export interface Store extends StateStore, Outbox {
  /** A short name for logs, e.g. `sqlite:/var/lib/shim.sqlite`. */
  readonly description: string
  /**
   * True when the store refuses every other process (SQLite): leases found at
   * start belong to a process that is gone and are released at once. False
   * for shared stores, where they are taken over when they expire.
   */
  readonly exclusive: boolean
  close(): Promise<void>
}
