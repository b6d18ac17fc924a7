/**
 * The SQLite `Store`: the synchronous core (sqlite-core.ts) either in this
 * thread or in a worker thread, so fsyncs never block request handling.
 *
 * `apply` runs the flow's pure plan here, between two calls to the core (load,
 * then commit): messages that share a lock wait for each other in this
 * process, which is enough because the core refuses a second process on the
 * file.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { rebuildPlanner } from '../flows/index.js'
import { clock, trace, tracing } from '../trace.js'
import { KeyedLock } from './keyed-lock.js'
import { MAX_PLAN_STEPS, SqliteCore, type SqliteOptions } from './sqlite-core.js'
import { addLoaded, emptyState, isEmptySpec, missing } from './state.js'
import { WAL_CEILING_PAGES } from './sqlite-checkpoints.js'
import type { CheckpointerReply } from './sqlite-checkpointer.js'
import { coreCalls, type CoreCalls, type WorkerCall, type WorkerReply } from './sqlite-calls.js'
import type { SqliteWorkerData } from './sqlite-worker.js'
import type {
  Applied, ClaimOptions, Claimed, DueSummary, MessageRequest, NamedPlanner, OutboxGauge, OutboxRow, Planner, Sink, SinkState, Store,
} from './types.js'

export class SqliteStore implements Store {
  private readonly locks = new KeyedLock()
  readonly exclusive = true

  /** `local`: the core in this thread, which runs any planner in one call; `warmUpMs`: the worker's warm-up, if any. */
  constructor(private readonly core: CoreCalls, readonly description: string, private readonly local?: SqliteCore, readonly warmUpMs?: number) {}

  async apply<R>(request: MessageRequest, plan: Planner<R> | NamedPlanner<R>): Promise<Applied<R>> {
    if (this.local !== undefined) return this.local.apply(request, plan)
    // In the worker, in one round trip: the whole message runs there, between other messages.
    if ('flow' in plan) return this.core.applyFlow(request, plan.flow, plan.input) as Promise<Applied<R>>
    return this.applyInSteps(request, plan)
  }

  /** Any other planner: load, plan here, commit; messages sharing a lock wait for each other in this process. */
  private async applyInSteps<R>(request: MessageRequest, plan: Planner<R>): Promise<Applied<R>> {
    const { dedupe } = request
    const keys = dedupe === undefined ? request.locks : [...request.locks, `dedupe:${dedupe.source}:${dedupe.key}`]
    return this.locks.run(keys, async () => {
      const state = emptyState()
      let spec = request.load
      for (let step = 0; step < MAX_PLAN_STEPS; step++) {
        const todo = missing(state, spec)
        if (step === 0 || !isEmptySpec(todo)) {
          const loaded = await this.core.load(todo, step === 0 ? dedupe : undefined)
          if (loaded.duplicate) return { duplicate: true }
          addLoaded(state, loaded.gets, loaded.scans)
        }
        const next = plan(state)
        if ('need' in next) { spec = next.need; continue }
        const r = await this.core.commit({
          dedupe, writes: next.writes, deleteScopes: next.deleteScopes ?? [], outgoing: next.outgoing, now: request.now,
        })
        if (r.duplicate) return { duplicate: true }
        return { duplicate: false, result: next.result, queued: r.queued }
      }
      throw new Error(`a plan asked for more records ${MAX_PLAN_STEPS} times`)
    })
  }

  prune(before: number): Promise<void> { return this.core.prune(before) }
  dueSummary(sink: Sink, now: number): Promise<DueSummary> { return this.core.dueSummary(sink, now) }
  claim(sink: Sink, opts: ClaimOptions): Promise<Claimed | undefined> { return this.core.claim(sink, opts) }
  complete(owner: string, ids: readonly number[]): Promise<void> { return this.core.complete(owner, ids) }
  reschedule(owner: string, ids: readonly number[], opts: { at: number; error: string; countAttempt: boolean; now: number }): Promise<void> {
    return this.core.reschedule(owner, ids, opts)
  }

  keepFailed(owner: string, ids: readonly number[], error: string, now: number): Promise<void> { return this.core.keepFailed(owner, ids, error, now) }
  expireLeases(now: number): Promise<number> { return this.core.expireLeases(now) }
  releaseAllLeases(now: number): Promise<number> { return this.core.releaseAllLeases(now) }
  requeueFailed(opts: { sink?: Sink; now: number }): Promise<number> { return this.core.requeueFailed(opts.sink, opts.now) }
  sinkState(sink: Sink): Promise<SinkState> { return this.core.sinkState(sink) }
  pauseSink(sink: Sink, pause: { until: number; kind: 'auth' | 'retry'; reason: string; now: number }): Promise<SinkState> {
    return this.core.pauseSink(sink, pause)
  }

  resumeSink(sink: Sink): Promise<void> { return this.core.resumeSink(sink) }
  gauges(now: number): Promise<OutboxGauge[]> { return this.core.gauges(now) }
  checkWritable(now: number): Promise<void> { return this.core.checkWritable(now) }
  close(): Promise<void> { return this.core.close() }
}

const WORKER_URL = new URL('./sqlite-worker.js', import.meta.url)

/** The worker runs compiled JavaScript; from TypeScript sources (tests) there is none next to this file. */
export function workerAvailable(): boolean {
  return WORKER_URL.protocol === 'file:' && existsSync(fileURLToPath(WORKER_URL))
}

export interface OpenSqliteOptions extends SqliteOptions {
  /** Run the core in a worker thread (when the compiled worker is there). */
  worker: boolean
  /** With the worker: checkpoints from a thread of their own (the default; sqlite-checkpoints.ts). */
  checkpointThread?: boolean
  /** With the worker: run synthetic webhooks through a throw-away store first (warm-up.ts, `SHIM_WARM_UP`). */
  warmUp?: boolean
}

/** Opens (and locks) the SQLite file; rejects naming the file and `SHIM_DB` when it cannot. */
export async function openSqliteStore(opts: OpenSqliteOptions): Promise<SqliteStore> {
  const description = `sqlite:${opts.path}`
  if (!opts.worker || !workerAvailable()) {
    // No checkpoint thread in this thread's setup: SQLite checkpoints inside commits, at its default.
    const core = new SqliteCore({ ...opts, checkpointThread: false })
    return new SqliteStore(coreCalls(core, rebuildPlanner), description, core)
  }
  const { worker: _, ...core } = opts
  const checkpoints = opts.checkpointThread !== false && opts.path !== ':memory:' && opts.path !== ''
  const { calls, warmUpMs } = await workerCalls({ ...core, checkpointThread: checkpoints })
  if (!checkpoints) return new SqliteStore(calls, description, undefined, warmUpMs)
  let stopCheckpoints: () => Promise<void>
  try {
    stopCheckpoints = await startCheckpointer(opts.path)
  } catch (err) {
    await calls.close()
    throw err
  }
  const closeCore = calls.close
  // The checkpoint thread closes first: the core's connection, the last one, then releases the lock.
  calls.close = async () => {
    await stopCheckpoints()
    await closeCore()
  }
  return new SqliteStore(calls, description, undefined, warmUpMs)
}

/**
 * The first `ready` message of a thread that opens something (the core, the
 * checkpoint connection); a `fatal` one or an error terminates the thread and
 * rejects with its message, which names SHIM_DB.
 */
function whenReady<M>(worker: Worker): Promise<Extract<M, { ready: true }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { ready?: true; fatal?: string }): void => {
      if (m.ready === true) { cleanup(); resolve(m as Extract<M, { ready: true }>) }
      if (m.fatal !== undefined) { cleanup(); void worker.terminate(); reject(new Error(m.fatal)) }
    }
    const onError = (err: Error): void => { cleanup(); void worker.terminate(); reject(err) }
    const cleanup = (): void => { worker.off('message', onMessage); worker.off('error', onError) }
    worker.on('message', onMessage)
    worker.on('error', onError)
  })
}

const CHECKPOINTER_URL = new URL('./sqlite-checkpointer.js', import.meta.url)

/** Starts the checkpoint thread (sqlite-checkpoints.ts) on an open database; resolves to its stop. */
async function startCheckpointer(path: string): Promise<() => Promise<void>> {
  const worker = new Worker(CHECKPOINTER_URL, { workerData: { path } })
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  await whenReady<CheckpointerReply>(worker)
  worker.on('message', (m: CheckpointerReply) => {
    if ('failed' in m) {
      process.emitWarning(`WAL checkpoints of "${path}" (SHIM_DB) stopped in their thread (${m.failed}); `
        + `the store checkpoints by itself every ${WAL_CEILING_PAGES} pages from now on`)
    }
  })
  // Not kept alive by this thread: it stops with the store, or with the process.
  worker.unref()
  return async () => {
    worker.postMessage('stop')
    await exited
  }
}

async function workerCalls(opts: SqliteWorkerData): Promise<{ calls: CoreCalls; warmUpMs: number | undefined }> {
  const worker = new Worker(WORKER_URL, { workerData: opts })
  const { warmUpMs } = await whenReady<WorkerReply>(worker)
  let nextId = 0
  let failure: Error | undefined
  let closed = false
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; rows?: OutboxRow[] }>()
  worker.on('message', (m: WorkerReply) => {
    if (!('id' in m)) return
    const p = pending.get(m.id)
    if (p === undefined) return
    if ('part' in m) {
      // A claim's rows arrive step by step, in order, before its result.
      if (p.rows === undefined) p.rows = m.part
      else for (const r of m.part) p.rows.push(r)
      return
    }
    pending.delete(m.id)
    if ('error' in m) p.reject(new Error(m.error))
    else if (p.rows !== undefined && m.result !== undefined) p.resolve({ ...(m.result as Claimed), rows: p.rows })
    else p.resolve(m.result)
  })
  const fail = (err: Error): void => {
    failure = err
    for (const p of pending.values()) p.reject(err)
    pending.clear()
  }
  worker.on('error', fail)
  worker.on('exit', (code) => { if (!closed) fail(new Error(`the SQLite worker stopped (exit code ${code})`)) })
  const call = (method: keyof CoreCalls) => (...args: unknown[]): Promise<never> => {
    if (failure !== undefined) return Promise.reject(failure)
    if (closed) return Promise.reject(new Error('the store is closed'))
    const id = ++nextId
    const posted = tracing ? clock() : 0
    return new Promise((resolve, reject) => {
      pending.set(id, {
        resolve: tracing ? (v: unknown) => { trace('call', { id, m: method, t: posted, back: clock() }); (resolve as (v: unknown) => void)(v) } : resolve as (v: unknown) => void,
        reject,
      })
      worker.postMessage({ id, method, args } satisfies WorkerCall)
    })
  }
  const methods: (keyof CoreCalls)[] = ['applyFlow', 'load', 'commit', 'prune', 'claim', 'complete', 'reschedule', 'keepFailed', 'expireLeases',
    'releaseAllLeases', 'requeueFailed', 'dueSummary', 'sinkState', 'pauseSink', 'resumeSink', 'gauges', 'checkWritable']
  const calls = Object.fromEntries(methods.map((m) => [m, call(m)])) as unknown as CoreCalls
  calls.close = async () => {
    if (closed) return
    try {
      await call('close')()
    } finally {
      closed = true
      await worker.terminate()
    }
  }
  return { calls, warmUpMs }
}
