/**
 * `npm run bench:shim -- --store postgres`: the same membership workload on
 * SQLite (one process, the baseline of this run), PostgreSQL with one replica
 * and PostgreSQL with two replicas behind a round-robin client, in one run
 * (these machines are noisy: only figures of the same run compare).
 *
 * Each scenario starts the compiled CLI (dist/server/cli.js) as child
 * processes — on a fresh SQLite file, or on a fresh PostgreSQL database
 * created from BENCH_PG_URL (default PG_TEST_URL, else the local admin URL)
 * and dropped afterwards — points them at a local mock Mixpanel, sends
 * BENCH_PG_CHANGES membership changes over BENCH_PG_USERS users in
 * BENCH_PASSES passes (BENCH_PROFILES profiles per webhook, BENCH_CONCURRENCY
 * webhooks in flight in total), waits until the outbox is empty, and checks
 * every user's final SegmentMembership at the mock. Prints accepted
 * changes/s, webhook p50/p95/p99/max (closed loop: at saturation) and the
 * drain time per scenario, as a table and one JSON line; the set-up is
 * bench/shim-common.mjs, shared with bench/shim.mjs.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import {
  closedLoop, formatLatency, latencySummary, membershipWorkload, num, startMock, startShimProcess, stopProcess, waitDrained, wrongUsers,
} from './shim-common.mjs'

const USERS = num('BENCH_PG_USERS', 10_000)
const CHANGES = num('BENCH_PG_CHANGES', 100_000)
const PASSES = num('BENCH_PASSES', 2)
const PROFILES_PER_REQUEST = num('BENCH_PROFILES', 20)
const CONCURRENCY = num('BENCH_CONCURRENCY', 4)
const AUDIENCES = num('BENCH_AUDIENCES', 50)
const POOL_SIZE = num('BENCH_PG_POOL_SIZE', 10)
const ADMIN_URL = process.env.BENCH_PG_URL ?? process.env.PG_TEST_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres'

const cli = fileURLToPath(new URL('../dist/server/cli.js', import.meta.url))

// All of pass p is sent before pass p + 1.
const workload = membershipWorkload({
  users: USERS, changes: CHANGES, passes: PASSES, profiles: PROFILES_PER_REQUEST, audiences: AUDIENCES, idPrefix: 'bench-pg',
})
const webhooks = workload.bodies.length

async function admin(sql) {
  const c = new pg.Client({ connectionString: ADMIN_URL })
  await c.connect()
  try { await c.query(sql) } finally { await c.end() }
}

async function scenario(label, store, replicas) {
  const mock = await startMock()
  let dir
  let dbName
  const env = { MIXPANEL_API_HOST: mock.url }
  if (store === 'sqlite') {
    dir = mkdtempSync(join(os.tmpdir(), 'shim-bench-pg-'))
    Object.assign(env, { SHIM_DB: join(dir, 'shim.sqlite'), SHIM_SQLITE_SYNCHRONOUS: process.env.BENCH_SQLITE_SYNCHRONOUS ?? 'full' })
  } else {
    dbName = `shim_bench_${process.pid}_${replicas}`
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
    await admin(`CREATE DATABASE ${dbName}`)
    const u = new URL(ADMIN_URL)
    u.pathname = `/${dbName}`
    Object.assign(env, { DATABASE_URL: u.toString(), SHIM_PG_POOL_SIZE: String(POOL_SIZE) })
  }
  const running = []
  for (let i = 0; i < replicas; i++) running.push(await startShimProcess({ cli, env }))
  // Round-robin over the replicas, as a load balancer would.
  const run = await closedLoop({ ports: running.map((r) => r.port), passes: workload.passes, concurrency: CONCURRENCY })
  const drainSeconds = await waitDrained(running[0].port)
  await Promise.all(running.map((r) => stopProcess(r.child)))
  await mock.close()
  const wrong = wrongUsers(mock.latest, workload.userAudiences)
  if (dir) rmSync(dir, { recursive: true, force: true })
  if (dbName) await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
  return {
    label, store, replicas,
    acceptedChangesPerSecond: Math.round(CHANGES / run.seconds),
    latencyMs: latencySummary(run.lat),
    drainSeconds: Number(drainSeconds.toFixed(2)),
    engageRequests: mock.stats.requests,
    engageUpdates: mock.stats.updates,
    usersWithWrongSegmentMembership: wrong,
  }
}

const loadBefore = os.loadavg()[0]
const results = []
results.push(await scenario('SQLite, 1 process (baseline)', 'sqlite', 1))
results.push(await scenario('PostgreSQL, 1 replica', 'postgres', 1))
results.push(await scenario('PostgreSQL, 2 replicas', 'postgres', 2))

console.log(`\nshim benchmark by store: ${CHANGES.toLocaleString('en-US')} changes, ${USERS.toLocaleString('en-US')} users, ${webhooks} webhooks × ${PROFILES_PER_REQUEST} profiles, ${CONCURRENCY} connections in total, PostgreSQL pool ${POOL_SIZE} per replica (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown'}, node ${process.version}, load average ${loadBefore.toFixed(2)} before)\n`)
const rows = [['scenario', 'changes/s', 'vs SQLite', 'latency (closed loop)', 'drain s', 'engage requests', 'wrong users']]
for (const r of results) {
  rows.push([r.label, r.acceptedChangesPerSecond.toLocaleString('en-US'), `${Math.round((100 * r.acceptedChangesPerSecond) / results[0].acceptedChangesPerSecond)} %`,
    formatLatency(r.latencyMs), String(r.drainSeconds), String(r.engageRequests), String(r.usersWithWrongSegmentMembership)])
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
for (const [i, r] of rows.entries()) {
  console.log(r.map((c, j) => c.padEnd(widths[j])).join(' | '))
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('-|-'))
}
console.log(`\n${JSON.stringify({ date: new Date().toISOString().slice(0, 10), changes: CHANGES, users: USERS, webhooks, concurrency: CONCURRENCY, poolSize: POOL_SIZE, loadAverage1mBefore: Number(loadBefore.toFixed(2)), results })}`)
if (results.some((r) => r.usersWithWrongSegmentMembership > 0)) process.exitCode = 1
