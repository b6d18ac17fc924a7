/**
 * Worker-thread host of the checkpoint connection (sqlite-checkpoints.ts):
 * a passive WAL checkpoint every `CHECKPOINT_INTERVAL_MS`, until told to stop.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { CHECKPOINT_INTERVAL_MS, Checkpointer } from './sqlite-checkpoints.js'
import { clock, trace, tracing } from '../trace.js'

const port = parentPort
if (port === null) throw new Error('sqlite-checkpointer.js must run in a worker thread')

export type CheckpointerReply = { ready: true } | { fatal: string } | { failed: string }

let checkpointer: Checkpointer
try {
  checkpointer = new Checkpointer((workerData as { path: string }).path)
  port.postMessage({ ready: true } satisfies CheckpointerReply)
} catch (err) {
  port.postMessage({ fatal: (err as Error).message } satisfies CheckpointerReply)
  process.exit(1)
}

const timer = setInterval(() => {
  const t = tracing ? clock() : 0
  try {
    const r = checkpointer.passive()
    if (tracing) trace('ckpt', { t, done: clock(), log: r.log, copied: r.checkpointed, busy: r.busy })
  } catch (err) {
    // The writer's own checkpoints (at WAL_CEILING_PAGES) take over; the main thread says so once.
    clearInterval(timer)
    checkpointer.close()
    port.postMessage({ failed: (err as Error).message } satisfies CheckpointerReply)
    port.close()
  }
}, CHECKPOINT_INTERVAL_MS)

port.on('message', (m: unknown) => {
  if (m !== 'stop') return
  clearInterval(timer)
  checkpointer.close()
  port.close()
})
