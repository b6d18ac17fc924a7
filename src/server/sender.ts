/**
 * Drains one sink's outbox: claims a batch with a lease, lets the destination
 * coalesce, send and classify, then completes, reschedules, keeps failed or
 * pauses the sink — always after the request, never inside a transaction.
 * Full batches go at once; a partial batch waits `lingerMs` for more. One
 * batch per sink and process is in flight at a time; across processes the
 * store's per-user claim rule keeps each user's updates in order.
 */
import { userSlices, type Destination, type UserUpdate, type Answer } from './destinations/types.js'
import type { HttpClient } from './http-client.js'
import type { Logger } from './logger.js'
import type { Metrics } from './metrics.js'
import type { Claimed, Outbox, Sink } from './store/types.js'
import { clock, trace, tracing } from './trace.js'

export interface SenderOptions {
  destination: Destination
  store: Outbox
  http: HttpClient
  /** Names this process's sender in leases. */
  owner: string
  /** Rows per claim (updates per request after coalescing are at most this). */
  batchSize: number
  lingerMs: number
  retryBaseMs: number
  retryMaxMs: number
  retryAfterMaxMs: number
  /** 0 = retry forever. */
  maxAttempts: number
  leaseMs: number
  metrics: Metrics
  logger: Logger
  random?: () => number
}

/**
 * Users coalesced between two turns of the event loop. A whole engage batch
 * (2,000 rows: parse, merge, render) held the HTTP thread for 20–40 ms, and
 * every webhook arriving meanwhile waited that long (docs/shim.md, "Benchmark").
 */
export const COALESCE_SLICE_USERS = 200

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** How often a lingering partial batch re-checks whether it has filled up. */
const LINGER_POLL_MS = 50
/** A `Retry-After` below this (0, or a date in the past) would make a request loop. */
export const MIN_RETRY_AFTER_MS = 1000

/** Delay before attempt `attempt + 1`: exponential, with "equal jitter" so retries spread out. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(exp / 2 + random() * (exp / 2))
}

/** The wait a destination asked for, within [1 s, ceiling]. */
export function retryAfterDelay(ms: number, ceilingMs: number): number {
  return Math.min(Math.max(ms, MIN_RETRY_AFTER_MS), ceilingMs)
}

/** At most this many user keys in a log line. */
const USERS_LOGGED = 20
const usersOf = (updates: readonly UserUpdate[]): string[] => updates.slice(0, USERS_LOGGED).map((u) => u.userKey)

export class Sender {
  private running = false
  private draining = false
  private dirty = true
  private wake: (() => void) | undefined
  private loopDone: Promise<void> = Promise.resolve()
  /** A pause may be recorded (from before a restart, or by another replica): a success clears it. */
  private mayBePaused = true
  private nextExpiry = 0
  private readonly abort = new AbortController()
  private readonly random: () => number
  readonly sink: Sink

  constructor(private readonly o: SenderOptions) {
    this.random = o.random ?? Math.random
    this.sink = o.destination.sink
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.loopDone = this.loop()
  }

  /** New updates were committed (or requeued): look at the outbox again. */
  notify(): void {
    this.dirty = true
    this.wake?.()
  }

  /**
   * Sends what is due (ignoring the linger) until nothing is due or the
   * deadline passes; then aborts the request in flight, whose updates stay in
   * the outbox for the next start.
   */
  async stop(deadlineMs: number): Promise<void> {
    if (!this.running) return
    this.draining = true
    this.notify()
    const timer = setTimeout(() => {
      this.running = false
      this.abort.abort()
      this.wake?.()
    }, deadlineMs)
    await this.loopDone
    clearTimeout(timer)
    this.running = false
  }

  private sleep(ms: number, wakeable: boolean): Promise<void> {
    if (wakeable && this.dirty) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => { clearTimeout(t); this.wake = undefined; resolve() }
      const t = setTimeout(done, Math.max(0, Math.min(ms, 2_147_000_000)))
      // Shutdown always wakes the loop; new updates only when it waits for work.
      this.wake = wakeable ? done : () => { if (!this.running || this.draining) done() }
    })
  }

  private async loop(): Promise<void> {
    const { store, batchSize, lingerMs, logger, owner, leaseMs } = this.o
    const sink = this.sink
    while (this.running) {
      try {
        const now = Date.now()
        if (now >= this.nextExpiry) {
          // Another process's lease that ran out (it crashed or hangs): its rows are due again.
          const expired = await store.expireLeases(now)
          if (expired > 0) logger.warn('took over updates whose lease expired', { sink, updates: expired })
          this.nextExpiry = now + Math.max(1000, leaseMs / 4)
        }
        this.dirty = false
        const due = await store.dueSummary(sink, now)
        if (due.due === 0) {
          if (this.draining) break
          await this.sleep(due.nextDueAt !== undefined ? due.nextDueAt - now : 60_000, true)
          continue
        }
        if (!this.draining && due.due < batchSize && lingerMs > 0) {
          const age = now - (due.oldestDueCreatedAt ?? now)
          if (age < lingerMs) {
            await this.sleep(Math.min(LINGER_POLL_MS, lingerMs - age), false)
            continue
          }
        }
        const tcl = tracing ? clock() : 0
        const batch = await store.claim(sink, { owner, max: batchSize, now, leaseMs })
        if (tracing) trace('sclaim', { t: tcl, done: clock(), rows: batch?.rows.length ?? 0 })
        if (batch === undefined) {
          if (this.draining) break
          await this.sleep(1000, true)
          continue
        }
        await this.send(batch)
      } catch (err) {
        logger.error('outbox sender error', { sink, error: (err as Error).message })
        if (this.draining) break
        await this.sleep(1000, false)
      }
    }
  }

  private async send(batch: Claimed): Promise<void> {
    const tco = tracing ? clock() : 0
    const updates: UserUpdate[] = []
    for (const [i, rows] of userSlices(batch.rows, COALESCE_SLICE_USERS).entries()) {
      if (i > 0) await nextTurn()
      updates.push(...this.o.destination.coalesce(rows))
    }
    if (tracing) trace('coalesce', { t: tco, done: clock(), rows: batch.rows.length })
    const max = this.o.destination.maxUpdates
    // Coalescing only shrinks a batch; the destination's limit is a guard, not a split point.
    for (let i = 0; i < updates.length; i += max) {
      if (!(await this.sendUpdates(batch.dest, updates.slice(i, i + max), updates.slice(i + max)))) return
    }
  }

  /**
   * Sends `updates`; `after` wait their turn and go back with them when
   * delivery stops (retry, pause, shutdown). When the destination refuses
   * several updates for something one of them may carry, they are sent again
   * in two halves, in order, so a bad update keeps only itself from being
   * delivered (sending again is safe: `$set` and user attributes are
   * idempotent). Returns false when delivery stopped.
   */
  private async sendUpdates(dest: string, updates: UserUpdate[], after: UserUpdate[]): Promise<boolean> {
    const { store, owner, metrics, logger, destination, http } = this.o
    const sink = this.sink
    const ids = updates.flatMap((u) => u.ids)
    const started = Date.now()
    let answer: Answer
    const tdl = tracing ? clock() : 0
    try {
      answer = await destination.deliver(http, dest, updates, this.abort.signal)
      if (tracing) trace('deliver', { t: tdl, done: clock(), n: updates.length })
    } catch (err) {
      answer = { kind: 'retry', reason: `delivery error: ${(err as Error).message}`, retryAfterMs: undefined }
    }
    const now = Date.now()
    if (this.abort.signal.aborted && answer.kind !== 'ok') {
      // Stopped mid-request: not confirmed, so it stays queued without counting an attempt.
      await store.reschedule(owner, [...ids, ...after.flatMap((u) => u.ids)], { at: now, error: 'interrupted by shutdown', countAttempt: false, now })
      return false
    }
    switch (answer.kind) {
      case 'ok': {
        const tcm = tracing ? clock() : 0
        await store.complete(owner, ids)
        if (tracing) trace('scomplete', { t: tcm, done: clock() })
        if (this.mayBePaused) {
          await store.resumeSink(sink)
          this.mayBePaused = false
        }
        metrics.inc('shim_updates_sent_total', { sink }, updates.length)
        metrics.inc('shim_requests_sent_total', { sink, outcome: 'ok' })
        logger.debug('batch delivered', { sink, updates: updates.length, rows: ids.length, ms: now - started })
        return true
      }
      case 'refused':
        metrics.inc('shim_requests_sent_total', { sink, outcome: 'failed' })
        if (answer.split && updates.length > 1) {
          logger.info('refused batch sent again in halves to find the refused updates', { sink, updates: updates.length, reason: answer.reason })
          const half = Math.ceil(updates.length / 2)
          return (await this.sendUpdates(dest, updates.slice(0, half), [...updates.slice(half), ...after]))
            && this.sendUpdates(dest, updates.slice(half), after)
        }
        await store.keepFailed(owner, ids, answer.reason, now)
        metrics.inc('shim_updates_failed_total', { sink }, updates.length)
        logger.warn('updates kept as failed (requeue them once fixed)', { sink, updates: updates.length, users: usersOf(updates), reason: answer.reason })
        return true
      case 'retry':
        await this.retryLater([...updates, ...after], answer, now)
        return false
      case 'pause':
        await this.pause([...updates, ...after], answer.reason, now)
        return false
    }
  }

  /** Gives `updates` back with a backoff (or keeps those out of attempts as failed); the whole sink waits, on every replica. */
  private async retryLater(updates: UserUpdate[], answer: Extract<Answer, { kind: 'retry' }>, now: number): Promise<void> {
    const { store, owner, metrics, logger, retryBaseMs, retryMaxMs, retryAfterMaxMs, maxAttempts } = this.o
    const sink = this.sink
    metrics.inc('shim_requests_sent_total', { sink, outcome: 'retry' })
    const state = await store.sinkState(sink)
    const delay = answer.retryAfterMs !== undefined
      ? retryAfterDelay(answer.retryAfterMs, retryAfterMaxMs)
      : backoffDelay(state.failures + 1, retryBaseMs, retryMaxMs, this.random)
    const exhausted = maxAttempts > 0 ? updates.filter((u) => u.attempts + 1 >= maxAttempts) : []
    if (exhausted.length > 0) {
      const reason = `gave up after ${maxAttempts} attempts: ${answer.reason}`
      await store.keepFailed(owner, exhausted.flatMap((u) => u.ids), reason, now)
      metrics.inc('shim_updates_failed_total', { sink }, exhausted.length)
      logger.warn('updates kept as failed (requeue them once fixed)', { sink, updates: exhausted.length, users: usersOf(exhausted), reason })
    }
    const retry = updates.filter((u) => !exhausted.includes(u))
    if (retry.length > 0) {
      await store.reschedule(owner, retry.flatMap((u) => u.ids), { at: now + delay, error: answer.reason, countAttempt: true, now })
      metrics.inc('shim_updates_retried_total', { sink }, retry.length)
    }
    await store.pauseSink(sink, { until: now + delay, kind: 'retry', reason: answer.reason, now })
    this.mayBePaused = true
    logger.warn('delivery will be retried', { sink, updates: updates.length, failures: state.failures + 1, delayMs: delay, reason: answer.reason })
  }

  /** 401/403/404: nothing is failed by a wrong credential; the sink pauses with backoff until a request succeeds. */
  private async pause(updates: UserUpdate[], reason: string, now: number): Promise<void> {
    const { store, owner, metrics, logger, retryBaseMs, retryMaxMs } = this.o
    const sink = this.sink
    const state = await store.sinkState(sink)
    const delay = backoffDelay(state.failures + 1, retryBaseMs, retryMaxMs, this.random)
    await store.reschedule(owner, updates.flatMap((u) => u.ids), { at: now + delay, error: reason, countAttempt: false, now })
    await store.pauseSink(sink, { until: now + delay, kind: 'auth', reason, now })
    // Counted once the pause is stored: whoever sees the count sees the pause.
    metrics.inc('shim_requests_sent_total', { sink, outcome: 'paused' })
    this.mayBePaused = true
    logger.error('sink paused: the destination refused the credential or the URL; fix the configuration, updates are kept and retried', {
      sink, reason, failures: state.failures + 1, retryInMs: delay,
    })
  }
}
