/** `Store` backed by a SqliteStore living in a worker thread (see sqlite-worker.ts). */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { OutboxGauge, Sink } from './metrics.js'
import type { SqliteStoreOptions } from './sqlite-store.js'
import type { WorkerCall, WorkerReply } from './sqlite-worker.js'
import type {
  AudienceApplyResult, AudienceMessageInput, ClaimedBatch, CohortApplyResult, CohortInput, DueSummary, Store, SubscriptionInput,
} from './store.js'

const WORKER_URL = new URL('./sqlite-worker.js', import.meta.url)

/** The worker runs compiled JavaScript; from TypeScript sources (tests) there is none next to this file. */
export function workerAvailable(): boolean {
  return WORKER_URL.protocol === 'file:' && existsSync(fileURLToPath(WORKER_URL))
}

export class WorkerStore implements Store {
  private nextId = 0
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private failure: Error | undefined
  private closed = false

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: WorkerReply) => {
      if (!('id' in m)) return
      const p = this.pending.get(m.id)
      if (p === undefined) return
      this.pending.delete(m.id)
      if ('error' in m) p.reject(new Error(m.error))
      else p.resolve(m.result)
    })
    const fail = (err: Error): void => {
      this.failure = err
      for (const p of this.pending.values()) p.reject(err)
      this.pending.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => { if (!this.closed) fail(new Error(`the SQLite worker stopped (exit code ${code})`)) })
  }

  static async open(opts: SqliteStoreOptions): Promise<WorkerStore> {
    const worker = new Worker(WORKER_URL, { workerData: opts })
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: WorkerReply): void => {
        if ('ready' in m) { cleanup(); resolve() }
        if ('fatal' in m) { cleanup(); reject(new Error(m.fatal)) }
      }
      const onError = (err: Error): void => { cleanup(); reject(err) }
      const cleanup = (): void => { worker.off('message', onMessage); worker.off('error', onError) }
      worker.on('message', onMessage)
      worker.on('error', onError)
    })
    return new WorkerStore(worker)
  }

  private call<T>(method: string, ...args: unknown[]): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    if (this.closed) return Promise.reject(new Error('the store is closed'))
    const id = ++this.nextId
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.worker.postMessage({ id, method, args } satisfies WorkerCall)
    })
  }

  applyAudienceMessage(input: AudienceMessageInput): Promise<AudienceApplyResult> { return this.call('applyAudienceMessage', input) }
  applySubscription(input: SubscriptionInput): Promise<{ duplicate: boolean; stale: boolean }> { return this.call('applySubscription', input) }
  applyCohortMessage(input: CohortInput): Promise<CohortApplyResult> { return this.call('applyCohortMessage', input) }
  dueSummary(sink: Sink, now: number): Promise<DueSummary> { return this.call('dueSummary', sink, now) }
  claimBatch(sink: Sink, max: number, now: number): Promise<ClaimedBatch | undefined> { return this.call('claimBatch', sink, max, now) }
  complete(ids: readonly number[]): Promise<void> { return this.call('complete', ids) }
  reschedule(ids: readonly number[], at: number, error: string, countAttempt: boolean, now: number): Promise<void> {
    return this.call('reschedule', ids, at, error, countAttempt, now)
  }

  fail(ids: readonly number[], error: string, now: number): Promise<void> { return this.call('fail', ids, error, now) }
  recoverInflight(now: number): Promise<number> { return this.call('recoverInflight', now) }
  outboxGauges(now: number): Promise<OutboxGauge[]> { return this.call('outboxGauges', now) }
  prune(before: number): Promise<void> { return this.call('prune', before) }
  ping(): Promise<void> { return this.call('ping') }

  async close(): Promise<void> {
    if (this.closed) return
    try {
      await this.call('close')
    } finally {
      this.closed = true
      await this.worker.terminate()
    }
  }
}
