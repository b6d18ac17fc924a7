/**
 * Worker-thread host of the SQLite store: commits (fsync) and WAL checkpoints
 * run here, so the HTTP thread keeps parsing requests meanwhile, and requests
 * that queue up during one commit share the next one (group commit).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js'

export interface WorkerCall { id: number; method: string; args: unknown[] }
export type WorkerReply =
  | { id: number; result: unknown }
  | { id: number; error: string }
  | { ready: true }
  | { fatal: string }

const port = parentPort
if (port === null) throw new Error('sqlite-worker.js must run in a worker thread')

let store: SqliteStore
try {
  store = new SqliteStore(workerData as SqliteStoreOptions)
  port.postMessage({ ready: true } satisfies WorkerReply)
} catch (err) {
  port.postMessage({ fatal: (err as Error).message } satisfies WorkerReply)
  process.exit(1)
}

port.on('message', (call: WorkerCall) => {
  const fn = (store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[call.method]
  if (typeof fn !== 'function') {
    port.postMessage({ id: call.id, error: `unknown store method ${call.method}` } satisfies WorkerReply)
    return
  }
  fn.apply(store, call.args).then(
    (result) => port.postMessage({ id: call.id, result } satisfies WorkerReply),
    (err: Error) => port.postMessage({ id: call.id, error: err.message } satisfies WorkerReply),
  )
})
