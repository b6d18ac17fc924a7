/**
 * What the SQLite core answers, as one interface whether it runs in the
 * calling thread or in the worker (sqlite.ts calls it, sqlite-worker.ts
 * serves it), and the messages between the two threads. Its own module so
 * the worker does not load the store's main-thread side.
 */
import type { CommitInput, SqliteCore } from './sqlite-core.js'
import type { Applied, LoadSpec, MessageRequest, Outbox, OutboxRow, Planner, RecordKind, RecordRef, Sink, StoredRecord } from './types.js'

export type Loaded = { duplicate: true } | { duplicate: false; gets: [RecordRef, unknown][]; scans: [{ kind: RecordKind; scope: string }, StoredRecord[]][] }

/**
 * What the core answers, called directly or through the worker: the outbox's
 * methods as `Outbox` types them (but `requeueFailed`, whose arguments cross
 * the thread boundary as a list), and the state store's steps.
 */
export interface CoreCalls extends Omit<Outbox, 'requeueFailed'> {
  /** A whole message where the core runs (see SqliteCore.apply); `flow`/`input` rebuild the planner there. */
  applyFlow(request: MessageRequest, flow: string, input: unknown): Promise<Applied<unknown>>
  load(spec: LoadSpec, dedupe: MessageRequest['dedupe']): Promise<Loaded>
  commit(c: CommitInput): Promise<{ duplicate: boolean; queued: number }>
  prune(before: number): Promise<void>
  requeueFailed(sink: Sink | undefined, now: number): Promise<number>
  close(): Promise<void>
}

/** The core's methods as `CoreCalls` (the worker serves the same object). */
export function coreCalls(core: SqliteCore, rebuild: (flow: string, input: unknown) => Planner<unknown>): CoreCalls {
  return {
    applyFlow: (request, flow, input) => core.apply(request, rebuild(flow, input)),
    load: async (spec, dedupe) => {
      if (dedupe !== undefined && core.seen(dedupe.source, dedupe.key)) return { duplicate: true }
      return { duplicate: false, ...core.load(spec) }
    },
    commit: (c) => core.commit(c),
    prune: async (before) => core.prune(before),
    claim: (sink, o) => core.claim(sink, o),
    complete: (owner, ids) => core.complete(owner, ids),
    reschedule: async (owner, ids, o) => core.reschedule(owner, ids, o),
    keepFailed: async (owner, ids, error, now) => core.keepFailed(owner, ids, error, now),
    expireLeases: async (now) => core.expireLeases(now),
    releaseAllLeases: async (now) => core.releaseAllLeases(now),
    requeueFailed: async (sink, now) => core.requeueFailed(sink, now),
    dueSummary: async (sink, now) => core.dueSummary(sink, now),
    sinkState: async (sink) => core.sinkState(sink),
    pauseSink: async (sink, p) => core.pauseSink(sink, p),
    resumeSink: async (sink) => core.resumeSink(sink),
    gauges: async (now) => core.gauges(now),
    checkWritable: async (now) => core.checkWritable(now),
    close: () => core.close(),
  }
}

export type WorkerCall = { id: number; method: keyof CoreCalls; args: unknown[] }
export type WorkerReply =
  | { id: number; result: unknown }
  /** Rows of a claim step, ahead of the claim's result (sqlite-worker.ts). */
  | { id: number; part: OutboxRow[] }
  | { id: number; error: string }
  /** `warmUpMs`: how long the warm-up took (sqlite-worker.ts), when there was one. */
  | { ready: true; warmUpMs?: number }
  | { fatal: string }
