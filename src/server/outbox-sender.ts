/**
 * Drains one sink's outbox: full batches go at once, a partial batch waits
 * `lingerMs` for more updates; failures are retried with exponential backoff
 * and jitter (or after `Retry-After`), non-retryable answers are kept as failed
 * (a refused batch is first split to find the updates refused).
 * One batch per sink is in flight at a time, so updates of a user stay in order.
 */
import type { Logger } from './logger.js'
import type { Metrics, Sink } from './metrics.js'
import type { DeliveryOutcome, Deliverer } from './sinks.js'
import type { ClaimedBatch, OutboxRow, Store } from './store.js'

export interface SenderOptions {
  sink: Sink
  store: Store
  deliver: Deliverer
  batchSize: number
  lingerMs: number
  retryBaseMs: number
  retryMaxMs: number
  /** 0 = retry forever. */
  maxAttempts: number
  metrics: Metrics
  logger: Logger
  random?: () => number
}

/** How often a lingering partial batch re-checks whether it has filled up. */
const LINGER_POLL_MS = 50
const MAX_RETRY_AFTER_MS = 3_600_000

/** Delay before attempt `attempt + 1`: exponential, with "equal jitter" so retries spread out. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(exp / 2 + random() * (exp / 2))
}

export class OutboxSender {
  private running = false
  private draining = false
  private dirty = true
  private wake: (() => void) | undefined
  private loopDone: Promise<void> = Promise.resolve()
  private pausedUntil = 0
  private readonly abort = new AbortController()
  private readonly random: () => number

  constructor(private readonly o: SenderOptions) {
    this.random = o.random ?? Math.random
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.loopDone = this.loop()
  }

  /** New updates were committed: look at the outbox again. */
  notify(): void {
    this.dirty = true
    this.wake?.()
  }

  /**
   * Sends what is due (ignoring the linger) until nothing is due or the
   * deadline passes; then aborts the request in flight, whose updates stay
   * in the outbox for the next start.
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
    const { store, sink, batchSize, lingerMs, logger } = this.o
    while (this.running) {
      try {
        const now = Date.now()
        if (this.pausedUntil > now) {
          if (this.draining) break
          await this.sleep(this.pausedUntil - now, false)
          continue
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
        const batch = await store.claimBatch(sink, batchSize, now)
        if (batch === undefined || batch.rows.length === 0) continue
        await this.send(batch)
      } catch (err) {
        logger.error('outbox sender error', { sink, error: (err as Error).message })
        if (this.draining) break
        await this.sleep(1000, false)
      }
    }
  }

  private async send(batch: ClaimedBatch): Promise<void> {
    await this.sendRows(batch, batch.rows, [])
  }

  /**
   * Sends `rows` of `batch`; `after` are rows of the same batch waiting their
   * turn, given back with them when delivery stops (retry, shutdown). When
   * the destination refuses several updates for something one of them may
   * carry, they are sent again in two halves, in order, so a bad update keeps
   * only itself from being delivered (at most 2 × log2(n) more requests per
   * bad update). Sending again is safe: `$set` and user attributes are
   * idempotent. Returns false when delivery stopped.
   */
  private async sendRows(batch: ClaimedBatch, rows: OutboxRow[], after: OutboxRow[]): Promise<boolean> {
    const { store, sink, metrics, logger } = this.o
    const ids = rows.map((r) => r.id)
    const started = Date.now()
    let outcome: DeliveryOutcome
    try {
      outcome = await this.o.deliver({ ...batch, rows }, this.abort.signal)
    } catch (err) {
      outcome = { kind: 'retry', reason: `delivery error: ${(err as Error).message}`, retryAfterMs: undefined }
    }
    const now = Date.now()
    if (this.abort.signal.aborted && outcome.kind !== 'ok') {
      // Stopped mid-request: not confirmed, so it stays queued without counting an attempt.
      await store.reschedule([...ids, ...after.map((r) => r.id)], now, 'interrupted by shutdown', false, now)
      return false
    }
    if (outcome.kind === 'ok') {
      await store.complete(ids)
      metrics.inc('shim_updates_sent_total', { sink }, ids.length)
      metrics.inc('shim_requests_sent_total', { sink, outcome: 'ok' })
      logger.debug('batch delivered', { sink, updates: ids.length, ms: now - started })
      return true
    }
    if (outcome.kind === 'fail') {
      metrics.inc('shim_requests_sent_total', { sink, outcome: 'failed' })
      if (outcome.split && rows.length > 1) {
        logger.info('refused batch sent again in halves to find the refused updates', { sink, updates: rows.length, reason: outcome.reason })
        const half = Math.ceil(rows.length / 2)
        return (await this.sendRows(batch, rows.slice(0, half), [...rows.slice(half), ...after]))
          && this.sendRows(batch, rows.slice(half), after)
      }
      await store.fail(ids, outcome.reason, now)
      metrics.inc('shim_updates_failed_total', { sink }, ids.length)
      logger.warn('updates kept as failed', { sink, updates: ids.length, reason: outcome.reason })
      return true
    }
    await this.retryLater([...rows, ...after], outcome, now)
    return false
  }

  /** Gives `rows` back to the outbox with a backoff, or fails those out of attempts; the whole sink waits. */
  private async retryLater(rows: OutboxRow[], outcome: Extract<DeliveryOutcome, { kind: 'retry' }>, now: number): Promise<void> {
    const { store, sink, metrics, logger, retryBaseMs, retryMaxMs, maxAttempts } = this.o
    metrics.inc('shim_requests_sent_total', { sink, outcome: 'retry' })
    const attempt = Math.max(...rows.map((r) => r.attempts)) + 1
    const exhausted = maxAttempts > 0 ? rows.filter((r) => r.attempts + 1 >= maxAttempts).map((r) => r.id) : []
    if (exhausted.length > 0) {
      const reason = `gave up after ${maxAttempts} attempts: ${outcome.reason}`
      await store.fail(exhausted, reason, now)
      metrics.inc('shim_updates_failed_total', { sink }, exhausted.length)
      logger.warn('updates kept as failed', { sink, updates: exhausted.length, reason })
    }
    const retry = rows.map((r) => r.id).filter((id) => !exhausted.includes(id))
    const delay = outcome.retryAfterMs !== undefined
      ? Math.min(outcome.retryAfterMs, MAX_RETRY_AFTER_MS)
      : backoffDelay(attempt, retryBaseMs, retryMaxMs, this.random)
    if (retry.length > 0) {
      await store.reschedule(retry, now + delay, outcome.reason, true, now)
      metrics.inc('shim_updates_retried_total', { sink }, retry.length)
      logger.warn('delivery will be retried', { sink, updates: retry.length, attempt, delayMs: delay, reason: outcome.reason })
    }
    // The destination is unhappy (or rate limiting): the whole sink waits, not just this batch.
    this.pausedUntil = now + delay
  }
}
