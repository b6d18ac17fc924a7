#!/usr/bin/env node
/**
 * Audience shim benchmark (`npm run bench:shim`; a script, not a test).
 *
 * Starts the compiled CLI (dist/server/cli.js, or BENCH_SHIM_CLI: another
 * build, e.g. an older version's, measured the same way) in a child process
 * with a SQLite file in a temp dir, points it at a local mock Mixpanel, and
 * sends BENCH_CHANGES membership changes over BENCH_USERS users through
 * POST /mparticle on loopback. Each user's changes arrive in BENCH_PASSES
 * separate webhooks (a user entering audiences at different times), with
 * BENCH_PROFILES profiles per webhook. Two runs, each on a fresh shim:
 *
 * - saturation (closed loop): BENCH_CONCURRENCY connections send back to
 *   back; gives the most changes/s the shim accepts (target ≥ 20,000).
 * - at the target rate (open loop): webhooks due at a fixed rate of
 *   BENCH_RATE changes/s, each timed from its due time, whatever the server
 *   did before (target p99 < 50 ms). A closed loop's p99 is not that figure:
 *   with 4 requests always waiting it measures queueing at overload, and a
 *   stall only delays the 4 requests in flight (coordinated omission).
 *
 * A bare Node server parsing the same bodies, driven the same two ways in the
 * same run, shows what the shared machine allowed at that moment. Prints
 * p50/p95/p99/max latency, throughput, time to drain the outbox, engage
 * requests, the shim's peak RSS and CPU per change beside the targets, and
 * one JSON line; checks every user's final SegmentMembership at the mock in
 * both runs, so a fast but wrong run does not count. BENCH_LOOPS=open runs
 * only the shim's open loop and prints its latencies and JSON (quicker A/B
 * rounds; the targets are judged on the whole run).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  closedLoop, formatLatency, latencySummary, membershipWorkload, num, openLoop, outsideDiskStalls, startBareServer, startDiskProbe, startMock,
  startShimProcess, stopProcess, waitDrained, wrongUsers,
} from './shim-common.mjs'

// `npm run bench:shim -- --store postgres`: the same kind of workload on SQLite beside PostgreSQL with
// one and two replicas, in one run (bench/shim-postgres.mjs); without it, or `--store sqlite`, this script.
const storeArg = process.argv.indexOf('--store')
if (storeArg >= 0 && process.argv[storeArg + 1] !== 'sqlite') {
  if (process.argv[storeArg + 1] !== 'postgres') throw new Error('--store must be sqlite or postgres')
  await import('./shim-postgres.mjs')
  process.exit()
}

// 30 s at the target rate: a p99 over 6,000 webhooks, of which the shim's
// first second (a fresh process compiling its code) is a sixth of the tail
// budget, not a third as in the 10 s run this bench used before.
const USERS = num('BENCH_USERS', 60_000)
const CHANGES = num('BENCH_CHANGES', 600_000)
const PASSES = num('BENCH_PASSES', 2)
const PROFILES_PER_REQUEST = num('BENCH_PROFILES', 20)
const CONCURRENCY = num('BENCH_CONCURRENCY', 4)
const AUDIENCES = num('BENCH_AUDIENCES', 50)
const RATE = num('BENCH_RATE', 20_000)
const SYNCHRONOUS = process.env.BENCH_SQLITE_SYNCHRONOUS ?? 'full'
// BENCH_LOOPS=open: only the shim's open loop (no bare server, no saturation run), to iterate faster; final figures use both.
const LOOPS = process.env.BENCH_LOOPS ?? 'closed,open'
const runClosed = LOOPS.split(',').includes('closed')
const cli = process.env.BENCH_SHIM_CLI ? resolve(process.env.BENCH_SHIM_CLI) : fileURLToPath(new URL('../dist/server/cli.js', import.meta.url))
// BENCH_SHIM_NODE_ARGS, e.g. --cpu-prof, passes flags to the shim's node.
const nodeArgs = (process.env.BENCH_SHIM_NODE_ARGS ?? '').split(' ').filter(Boolean)

const workload = membershipWorkload({
  users: USERS, changes: CHANGES, passes: PASSES, profiles: PROFILES_PER_REQUEST, audiences: AUDIENCES, idPrefix: 'bench',
})
const webhooks = workload.bodies.length
const webhooksPerSecond = RATE / workload.changesPerWebhook

/** CPU seconds a process used so far (user + system): less sensitive to other load than wall time. */
const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}
const ownCpuSeconds = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }

/** One fresh shim (its own SQLite file and mock Mixpanel) driven one way, drained and checked. */
async function shimRun(loop) {
  const mock = await startMock()
  const dir = mkdtempSync(join(os.tmpdir(), 'shim-bench-'))
  const { child, port } = await startShimProcess({
    cli,
    nodeArgs,
    env: {
      // Other SHIM_* settings of the caller's environment pass through (e.g. SHIM_SQLITE_WORKER=false).
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('SHIM_'))),
      SHIM_DB: join(dir, 'shim.sqlite'), SHIM_SQLITE_SYNCHRONOUS: SYNCHRONOUS, MIXPANEL_API_HOST: mock.url,
      // SHIM_TRACE=<prefix>: one set of files per run (read them with bench/shim-trace.mjs).
      ...(process.env.SHIM_TRACE ? { SHIM_TRACE: `${process.env.SHIM_TRACE}-${loop}` } : {}),
    },
  })
  const loadBefore = os.loadavg()[0]
  const cpu0 = cpuSeconds(child.pid)
  const own0 = ownCpuSeconds()
  // At the target rate, the disk's own fdatasync time beside the shim's (startDiskProbe).
  const probe = loop === 'open' ? startDiskProbe(dir) : undefined
  const run = loop === 'closed'
    ? await closedLoop({ ports: [port], passes: workload.passes, concurrency: CONCURRENCY })
    : await openLoop({ port, bodies: workload.bodies, webhooksPerSecond })
  const syncs = await probe?.stop()
  const shimCpu = cpuSeconds(child.pid) - cpu0
  const benchCpu = ownCpuSeconds() - own0
  const drainSeconds = await waitDrained(port)
  const peakRssMb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024
  await stopProcess(child)
  await mock.close()
  rmSync(dir, { recursive: true, force: true })
  return {
    changesPerSecond: Math.round(CHANGES / run.seconds),
    latencyMs: latencySummary(run.lat),
    ...(run.clientLoopDelayMs !== undefined ? { clientLoopDelayMs: run.clientLoopDelayMs } : {}),
    ...(run.firstSecond?.length && run.afterFirstSecond?.length
      ? { firstSecondLatencyMs: latencySummary(run.firstSecond), afterFirstSecondLatencyMs: latencySummary(run.afterFirstSecond) }
      : {}),
    ...(syncs ? diskFigures(run, syncs) : {}),
    drainSeconds: Number(drainSeconds.toFixed(2)),
    engageRequests: mock.stats.requests,
    engageUpdates: mock.stats.updates,
    largestBatch: mock.stats.largestBatch,
    peakRssMb: Number(peakRssMb.toFixed(1)),
    shimCpuSeconds: Number(shimCpu.toFixed(2)),
    changesPerShimCpuSecond: Math.round(CHANGES / shimCpu),
    benchProcessCpuSeconds: Number(benchCpu.toFixed(2)),
    loadAverage1mBefore: Number(loadBefore.toFixed(2)),
    usersWithWrongSegmentMembership: wrongUsers(mock.latest, workload.userAudiences),
  }
}

/**
 * The probe's fdatasync times during the open loop, and the webhooks' latency
 * without those in flight while one took over 50 ms (the target itself): a
 * run that misses p99 < 50 ms only because the disk held every sync shows it.
 */
function diskFigures(run, syncs) {
  const durations = syncs.map(([, d]) => d).sort((a, b) => a - b)
  const outside = outsideDiskStalls(run, syncs, 50)
  return {
    diskProbeFdatasyncMs: { ...latencySummary(durations), over50: outside.stalls },
    ...(outside.stalls > 0 && outside.lat.length > 0
      ? { outsideDiskStalls: { excludedWebhooks: outside.excluded, latencyMs: latencySummary(outside.lat) } }
      : {}),
  }
}

// The baseline of this run (these machines are noisy), in its own process like the shim, driven both ways.
let baseline
let saturation
if (runClosed) {
  const bare = await startBareServer()
  const bareClosed = await closedLoop({ ports: [bare.port], passes: workload.passes, concurrency: CONCURRENCY })
  const bareOpen = await openLoop({ port: bare.port, bodies: workload.bodies, webhooksPerSecond })
  await stopProcess(bare.child)
  baseline = {
    saturationChangesPerSecond: Math.round(CHANGES / bareClosed.seconds),
    saturationLatencyMs: latencySummary(bareClosed.lat),
    atRateLatencyMs: latencySummary(bareOpen.lat),
    atRateClientLoopDelayMs: bareOpen.clientLoopDelayMs,
  }
  saturation = await shimRun('closed')
}
const atRate = await shimRun('open')
/** The probe's figures, and the latency outside the disk's stalls when there were any. */
function diskLine(r) {
  const d = r.diskProbeFdatasyncMs
  return `disk (probe fdatasync every 10 ms beside the shim): ${formatLatency(d)}, ${d.over50} over 50 ms`
    + (r.outsideDiskStalls
      ? `; webhooks not in flight during those (${r.outsideDiskStalls.excludedWebhooks} left out): ${formatLatency(r.outsideDiskStalls.latencyMs)}`
      : '')
}

if (!runClosed) {
  // Open loop only: the figures the target is about, and the JSON line.
  console.log(`\nshim open loop only (BENCH_LOOPS=open), ${cli}: ${formatLatency(atRate.latencyMs)} (target p99 < 50 ms); `
    + `first second ${formatLatency(atRate.firstSecondLatencyMs ?? atRate.latencyMs)}; rate ${atRate.changesPerSecond} changes/s; `
    + `load ${atRate.loadAverage1mBefore}; wrong users ${atRate.usersWithWrongSegmentMembership}`)
  console.log(diskLine(atRate))
  console.log(JSON.stringify({ date: new Date().toISOString().slice(0, 16), cli, atRate }))
  if (atRate.usersWithWrongSegmentMembership > 0) process.exitCode = 1
  process.exit()
}

const result = {
  date: new Date().toISOString().slice(0, 16),
  machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown'}, node ${process.version}`,
  cli,
  sqliteSynchronous: SYNCHRONOUS,
  users: USERS,
  changes: CHANGES,
  webhooks,
  concurrency: CONCURRENCY,
  targetRateChangesPerSecond: RATE,
  saturation,
  atRate,
  baseline,
}

const wrong = saturation.usersWithWrongSegmentMembership + atRate.usersWithWrongSegmentMembership
const fmt = (n) => n.toLocaleString('en-US')
const rows = [
  ['accepted changes/s (closed loop, saturation)', fmt(saturation.changesPerSecond), '≥ 20,000'],
  [`webhook latency at ${fmt(RATE)} changes/s (open loop)`, formatLatency(atRate.latencyMs), 'p99 < 50 ms'],
  ...(atRate.firstSecondLatencyMs
    ? [
        ['  of which webhooks due in the first second', formatLatency(atRate.firstSecondLatencyMs), 'a fresh process (not a target of its own)'],
        ['  of which webhooks due after the first second', formatLatency(atRate.afterFirstSecondLatencyMs), ''],
      ]
    : []),
  ['  the bench client\'s own event-loop delay then', `p99 ${atRate.clientLoopDelayMs.p99} · max ${atRate.clientLoopDelayMs.max} ms`, 'answers are timed late by as much'],
  ['  the disk then: a probe\'s fdatasync every 10 ms', `${formatLatency(atRate.diskProbeFdatasyncMs)}, ${atRate.diskProbeFdatasyncMs.over50} over 50 ms`, 'every durable answer waits for one'],
  ...(atRate.outsideDiskStalls
    ? [[`  webhooks not in flight during those (${atRate.outsideDiskStalls.excludedWebhooks} left out)`, formatLatency(atRate.outsideDiskStalls.latencyMs), 'what the shim did when the disk did not hold it']]
    : []),
  ['  rate the open loop achieved', `${fmt(atRate.changesPerSecond)} changes/s`, `${fmt(RATE)} (lower: the shim fell behind)`],
  ['webhook latency at saturation (closed loop)', formatLatency(saturation.latencyMs), `not a target: ${CONCURRENCY} requests always waiting`],
  ['baseline: bare Node server, closed loop', `${fmt(baseline.saturationChangesPerSecond)} changes/s, ${formatLatency(baseline.saturationLatencyMs)}`, 'same run'],
  [`baseline: bare Node server, ${fmt(RATE)} changes/s`, formatLatency(baseline.atRateLatencyMs), 'same run: the machine\'s floor'],
  ['shim throughput / baseline', `${Math.round((100 * saturation.changesPerSecond) / baseline.saturationChangesPerSecond)} %`, ''],
  ['time to drain the outbox (saturation run)', `${saturation.drainSeconds} s`, ''],
  ['engage requests sent (saturation run)', String(saturation.engageRequests), `≈ ${Math.ceil(saturation.engageUpdates / 2000)} (updates / 2000)`],
  ['engage updates sent (saturation run)', fmt(saturation.engageUpdates), `${fmt(USERS)} users × ${PASSES} passes at most`],
  ['peak RSS of the shim', `${saturation.peakRssMb} MB / ${atRate.peakRssMb} MB`, 'for reference: it grows with the run (181 MB in the 10 s run, docs/shim.md)'],
  ['shim CPU per change', `${fmt(saturation.changesPerShimCpuSecond)} / ${fmt(atRate.changesPerShimCpuSecond)} changes per CPU-second`, 'saturation / at rate'],
  ['CPU of this bench process (client + mock)', `${saturation.benchProcessCpuSeconds} s / ${atRate.benchProcessCpuSeconds} s`, 'shares the 2 cores with the shim'],
  ['machine load average before each run', `${saturation.loadAverage1mBefore} / ${atRate.loadAverage1mBefore}`, 'other work shares the 2 cores'],
  ['users with a wrong final SegmentMembership', `${saturation.usersWithWrongSegmentMembership} / ${atRate.usersWithWrongSegmentMembership}`, '0'],
]
const w0 = Math.max(...rows.map((r) => r[0].length))
const w1 = Math.max(...rows.map((r) => r[1].length))
console.log(`\nshim benchmark: ${fmt(CHANGES)} changes, ${fmt(USERS)} users, ${webhooks} webhooks × ${PROFILES_PER_REQUEST} profiles (${workload.changesPerWebhook} changes each), SQLite synchronous=${SYNCHRONOUS}, ${cli} (${result.machine})\n`)
console.log(`${'metric'.padEnd(w0)} | ${'value'.padEnd(w1)} | target`)
console.log(`${'-'.repeat(w0)}-|-${'-'.repeat(w1)}-|-------`)
for (const [a, b, c] of rows) console.log(`${a.padEnd(w0)} | ${b.padEnd(w1)} | ${c}`)
console.log(`\n${JSON.stringify(result)}`)
if (wrong > 0) process.exitCode = 1
