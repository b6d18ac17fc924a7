/**
 * Diagnostics for latency work, off unless SHIM_TRACE names a file: each
 * thread appends JSON lines (`<file>.<threadId>`) of timed events — event
 * loop stalls, GC pauses, and what the code marks — with epoch times in ms,
 * so a slow webhook can be matched with what ran at that moment
 * (bench/shim-trace.mjs reads them; docs/shim.md, "Benchmark").
 */
import { appendFile, appendFileSync } from 'node:fs'
import { PerformanceObserver } from 'node:perf_hooks'
import { threadId } from 'node:worker_threads'

const file = process.env.SHIM_TRACE
export const tracing = file !== undefined && file !== ''

/** Epoch ms with µs precision, comparable across threads and processes. */
export const clock = (): number => performance.timeOrigin + performance.now()

let lines: string[] = []

export function trace(ev: string, fields: Record<string, unknown>): void {
  if (tracing) lines.push(JSON.stringify({ ev, ...fields }))
}

if (tracing) {
  const path = `${file}.${threadId}`
  const flush = (): void => {
    if (lines.length === 0) return
    const text = `${lines.join('\n')}\n`
    lines = []
    appendFile(path, text, () => {})
  }
  setInterval(flush, 200).unref()
  process.on('exit', () => { if (lines.length > 0) appendFileSync(path, `${lines.join('\n')}\n`) })
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      trace('gc', { t: performance.timeOrigin + e.startTime, dur: e.duration, kind: (e as { detail?: { kind?: number } }).detail?.kind })
    }
  }).observe({ entryTypes: ['gc'] })
  let last = clock()
  setInterval(() => {
    const t = clock()
    if (t - last > 8) trace('stall', { t: last, dur: t - last })
    last = t
  }, 2).unref()
}
