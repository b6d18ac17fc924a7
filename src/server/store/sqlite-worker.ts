/**
 * Worker-thread host of the SQLite core: commits (fsync) and WAL checkpoints
 * run here, so the HTTP thread keeps parsing requests meanwhile, and messages
 * that queue up during one commit share the next one (group commit).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { rebuildPlanner } from '../flows/index.js'
import { coreCalls, type CoreCalls, type WorkerCall, type WorkerReply } from './sqlite-calls.js'
import { OUTBOX_CHUNK, SqliteCore, type SqliteOptions } from './sqlite-core.js'
import type { ClaimOptions, Sink } from './types.js'
import { SlicedQueue } from './sliced-queue.js'
import { warmUpCore } from './warm-up.js'
import { clock, trace, tracing } from '../trace.js'

const port = parentPort
if (port === null) throw new Error('sqlite-worker.js must run in a worker thread')

/** What the store's thread passes: the core's options, and whether to warm up first (`SHIM_WARM_UP`). */
export type SqliteWorkerData = SqliteOptions & { warmUp?: boolean }

let calls: CoreCalls
let core: SqliteCore
try {
  const { warmUp, ...opts } = workerData as SqliteWorkerData
  // The real file first: a second process on it fails before any warm-up time is spent.
  core = new SqliteCore(opts)
  calls = coreCalls(core, rebuildPlanner)
  // Before `ready`: the shim listens only after this thread has run the webhook path once (warm-up.ts).
  const warmUpMs = warmUp === true ? await warmUpCore() : undefined
  port.postMessage({ ready: true, ...(warmUpMs !== undefined ? { warmUpMs } : {}) } satisfies WorkerReply)
} catch (err) {
  port.postMessage({ fatal: (err as Error).message } satisfies WorkerReply)
  process.exit(1)
}

/** Longest stretch of messages run between two turns of the event loop (see SlicedQueue). */
const SLICE_MS = 4

const queue = new SlicedQueue<WorkerCall>((call) => {
  const fn = calls[call.method] as ((...a: unknown[]) => Promise<unknown>) | undefined
  if (typeof fn !== 'function') {
    port.postMessage({ id: call.id, error: `unknown store method ${call.method}` } satisfies WorkerReply)
    return
  }
  const t = tracing ? clock() : 0
  let result: Promise<unknown>
  try {
    // A claim's rows go to the HTTP thread step by step: one structured clone of 2,000 rows held that thread for
    // up to 45 ms when the whole batch arrived at once (docs/shim.md, "Benchmark").
    result = call.method === 'claim'
      ? core.claim(call.args[0] as Sink, call.args[1] as ClaimOptions, (rows) => port.postMessage({ id: call.id, part: rows } satisfies WorkerReply))
      : fn(...call.args)
  } catch (err) {
    result = Promise.reject(err as Error)
  }
  result.then(
    (value) => {
      if (tracing) trace('wcall', { id: call.id, m: call.method, t, done: clock() })
      port.postMessage({ id: call.id, result: value } satisfies WorkerReply)
    },
    (err: Error) => port.postMessage({ id: call.id, error: err.message } satisfies WorkerReply),
  )
}, SLICE_MS)

/**
 * Longest a claim or completion step waits for webhooks to be run first. A
 * whole claim of 2,000 rows (ten steps) took 40 ms of this thread at rate and
 * more under load; webhooks behind it waited.
 */
const STEP_WAIT_MAX_MS = 50
core.betweenSteps = () => queue.whenIdle(STEP_WAIT_MAX_MS)

/**
 * Rows per claim or completion step while webhooks wait for this thread: a
 * step that waited `STEP_WAIT_MAX_MS` for them runs with a quarter of the
 * rows, so the webhooks still waiting are held up about a millisecond, not 5–20.
 */
const BUSY_STEP_ROWS = 50
core.stepRows = () => queue.size > 0 ? Math.min(BUSY_STEP_ROWS, OUTBOX_CHUNK) : OUTBOX_CHUNK

port.on('message', (call: WorkerCall) => queue.push(call))
