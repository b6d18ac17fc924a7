/**
 * Worker-thread host of the SQLite core: commits (fsync) and WAL checkpoints
 * run here, so the HTTP thread keeps parsing requests meanwhile, and messages
 * that queue up during one commit share the next one (group commit).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { rebuildPlanner } from '../flows/index.js'
import { coreCalls, type CoreCalls, type WorkerCall, type WorkerReply } from './sqlite.js'
import { SqliteCore, type SqliteOptions } from './sqlite-core.js'

const port = parentPort
if (port === null) throw new Error('sqlite-worker.js must run in a worker thread')

let calls: CoreCalls
try {
  calls = coreCalls(new SqliteCore(workerData as SqliteOptions), rebuildPlanner)
  port.postMessage({ ready: true } satisfies WorkerReply)
} catch (err) {
  port.postMessage({ fatal: (err as Error).message } satisfies WorkerReply)
  process.exit(1)
}

port.on('message', (call: WorkerCall) => {
  const fn = calls[call.method] as ((...a: unknown[]) => Promise<unknown>) | undefined
  if (typeof fn !== 'function') {
    port.postMessage({ id: call.id, error: `unknown store method ${call.method}` } satisfies WorkerReply)
    return
  }
  fn(...call.args).then(
    (result) => port.postMessage({ id: call.id, result } satisfies WorkerReply),
    (err: Error) => port.postMessage({ id: call.id, error: err.message } satisfies WorkerReply),
  )
})
