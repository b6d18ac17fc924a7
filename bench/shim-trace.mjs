#!/usr/bin/env node
/**
 * Where a webhook's time goes, from a shim run with SHIM_TRACE=<prefix>
 * (a script, not a test): `SHIM_TRACE=/tmp/t npm run bench:shim`, then
 * `node bench/shim-trace.mjs /tmp/t-open` (bench/shim.mjs appends `-closed`
 * or `-open` to the prefix per run). Reads `<prefix>.0` (the HTTP thread)
 * and `<prefix>.1` (the SQLite worker; `<prefix>.2`, the checkpoint thread,
 * when there is one) and prints distributions (ms) of:
 * each webhook's store round trip, cut into its steps (waiting for the
 * worker, the apply, waiting for the group's COMMIT, the COMMIT, waiting for
 * an fdatasync to start, the fdatasync, the answer back to the HTTP thread);
 * then each thread's longer event-loop stalls, GC pauses, and the sender's
 * claim / merge (coalesce) / delivery / completion.
 */
import { existsSync, readFileSync } from 'node:fs'

const prefix = process.argv[2]
if (prefix === undefined) throw new Error('usage: node bench/shim-trace.mjs <SHIM_TRACE prefix>')
const load = (f) => readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
const main = load(`${prefix}.0`)
const worker = load(`${prefix}.1`)
// The checkpoint thread (since 2026-12-02; sqlite-checkpoints.ts), when the build has one.
const checkpointer = existsSync(`${prefix}.2`) ? load(`${prefix}.2`) : []

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
function row(name, xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return
  const f = (x) => x.toFixed(1).padStart(7)
  console.log(`${name.padEnd(34)} n ${String(s.length).padStart(6)}  p50 ${f(pct(s, 0.5))}  p90 ${f(pct(s, 0.9))}  p99 ${f(pct(s, 0.99))}  max ${f(s.at(-1))}  sum ${s.reduce((a, b) => a + b, 0).toFixed(0).padStart(6)}`)
}
const of = (events, ev) => events.filter((e) => e.ev === ev)
const dur = (e) => e.dur ?? e.done - e.t
const firstFrom = (sorted, t) => {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) { const mid = (lo + hi) >> 1; if (sorted[mid].t < t) lo = mid + 1; else hi = mid }
  return sorted[lo]
}

// A webhook's store round trip: the HTTP thread's call, the worker's run of it, then the group's COMMIT and fdatasync.
const calls = new Map(of(main, 'call').filter((c) => c.m === 'applyFlow').map((c) => [c.id, c]))
const applies = of(worker, 'apply').sort((a, b) => a.t - b.t)
const commits = of(worker, 'commit').sort((a, b) => a.t - b.t)
const syncs = of(worker, 'fsync').sort((a, b) => a.t - b.t)
const steps = { 'round trip (HTTP thread)': [], 'waiting for the worker': [], apply: [], 'waiting for the COMMIT': [], COMMIT: [],
  'waiting for an fdatasync to start': [], fdatasync: [], 'answer back to the HTTP thread': [] }
for (const w of of(worker, 'wcall').filter((c) => c.m === 'applyFlow')) {
  const c = calls.get(w.id)
  const a = firstFrom(applies, w.t - 0.01)
  if (c === undefined || a === undefined) continue
  const cm = firstFrom(commits, a.done - 0.01)
  const fs = cm === undefined ? undefined : firstFrom(syncs, cm.done - 0.01)
  steps['round trip (HTTP thread)'].push(c.back - c.t)
  steps['waiting for the worker'].push(w.t - c.t)
  steps.apply.push(a.done - a.t)
  if (cm !== undefined) { steps['waiting for the COMMIT'].push(cm.t - a.done); steps.COMMIT.push(cm.done - cm.t) }
  if (fs !== undefined) { steps['waiting for an fdatasync to start'].push(fs.t - cm.done); steps.fdatasync.push(fs.done - fs.t) }
  steps['answer back to the HTTP thread'].push(c.back - w.done)
}
console.log(`webhook store round trips (ms), ${prefix}`)
for (const [name, xs] of Object.entries(steps)) row(`  ${name}`, xs)
const wh = of(main, 'wh')
row('  webhook: handler start → parsed', wh.map((e) => e.parsed - e.t))
row('  webhook: handler start → stored', wh.map((e) => e.applied - e.t))

for (const [name, events] of [['HTTP thread', main], ['SQLite worker', worker]]) {
  console.log(`${name} (ms)`)
  row('  event-loop stalls > 8 ms', of(events, 'stall').map(dur))
  for (const [kind, label] of [[1, 'scavenge'], [4, 'mark-compact'], [8, 'incremental marking'], [16, 'weak callbacks']]) {
    row(`  GC: ${label}`, of(events, 'gc').filter((e) => e.kind === kind).map(dur))
  }
  for (const ev of ['commit', 'claimStep', 'completeStep', 'sclaim', 'coalesce', 'deliver', 'scomplete']) row(`  ${ev}`, of(events, ev).map(dur))
}

if (checkpointer.length > 0) {
  console.log('checkpoint thread (ms)')
  const passes = of(checkpointer, 'ckpt')
  row('  passive checkpoint', passes.map(dur))
  row('  WAL frames at a pass', passes.map((e) => e.log))
  row('  frames not yet copied after a pass', passes.map((e) => e.log - e.copied))
  row('  event-loop stalls > 8 ms', of(checkpointer, 'stall').map(dur))
}
