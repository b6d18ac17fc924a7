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
 * changes/s, webhook p50/p99 and the drain time per scenario, as a table and
 * one JSON line.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

const num = (name, def) => (process.env[name] ? Number(process.env[name]) : def)
const USERS = num('BENCH_PG_USERS', 10_000)
const CHANGES = num('BENCH_PG_CHANGES', 100_000)
const PASSES = num('BENCH_PASSES', 2)
const PROFILES_PER_REQUEST = num('BENCH_PROFILES', 20)
const CONCURRENCY = num('BENCH_CONCURRENCY', 4)
const AUDIENCES = num('BENCH_AUDIENCES', 50)
const POOL_SIZE = num('BENCH_PG_POOL_SIZE', 10)
const ADMIN_URL = process.env.BENCH_PG_URL ?? process.env.PG_TEST_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres'
const PER_USER = Math.floor(CHANGES / USERS)
if (PER_USER * USERS !== CHANGES || PER_USER % PASSES !== 0 || PER_USER > AUDIENCES) {
  throw new Error('BENCH_PG_CHANGES must be BENCH_PG_USERS × k, k a multiple of BENCH_PASSES and at most BENCH_AUDIENCES')
}

const cli = fileURLToPath(new URL('../dist/server/cli.js', import.meta.url))

// Deterministic pseudo-random audiences per user (no two runs differ).
let seed = 42
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
const userAudiences = Array.from({ length: USERS }, () => {
  const pool = Array.from({ length: AUDIENCES }, (_, i) => 10_000 + i)
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[pool[i], pool[j]] = [pool[j], pool[i]]
  }
  return pool.slice(0, PER_USER)
})

// Pass p carries slice p of every user's changes; all of pass p is sent before pass p + 1.
const perPass = PER_USER / PASSES
const passes = []
let id = 0
for (let pass = 0; pass < PASSES; pass++) {
  const bodies = []
  for (let first = 0; first < USERS; first += PROFILES_PER_REQUEST) {
    const profiles = []
    for (let u = first; u < Math.min(USERS, first + PROFILES_PER_REQUEST); u++) {
      profiles.push({
        user_identities: [{ type: 'customer', encoding: 'raw', value: `user-${u}` }],
        mpid: String(1_000_000 + u),
        audiences: userAudiences[u].slice(pass * perPass, (pass + 1) * perPass)
          .map((a) => ({ audience_id: a, audience_name: `Audience ${a}`, action: 'add' })),
      })
    }
    id++
    bodies.push(JSON.stringify({
      type: 'audience_membership_change_request', id: `bench-pg-${id}`, timestamp_ms: 1_700_000_000_000 + pass,
      firehose_version: '2.8.1', account: { account_id: 1, account_settings: {} }, user_profiles: profiles,
    }))
  }
  passes.push(bodies)
}
const webhooks = passes.reduce((n, b) => n + b.length, 0)

function startMock() {
  const latest = new Map()
  const stats = { requests: 0, updates: 0 }
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const updates = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      stats.requests++
      stats.updates += updates.length
      for (const u of updates) latest.set(u.$distinct_id, u.$set.SegmentMembership)
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"status":1,"error":null}')
    })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`, latest, stats,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r) }),
  })))
}

function startReplica(env) {
  const child = spawn(process.execPath, [cli], {
    env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', SHIM_LOG_LEVEL: 'info', MIXPANEL_TOKEN: 'bench-token', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d
      const m = /"msg":"shim listening".*?"url":"([^"]+)"/.exec(out)
      if (m) resolve({ child, port: Number(new URL(m[1]).port) })
    })
    child.on('exit', (code) => reject(new Error(`shim exited with ${code}:\n${out}`)))
  })
}

function request(agent, port, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent,
      headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

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
  for (let i = 0; i < replicas; i++) running.push(await startReplica(env))
  const agents = running.map(() => new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY }))

  const lat = []
  let turn = 0
  const start = performance.now()
  for (const bodies of passes) {
    let next = 0
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]
        // Round-robin over the replicas, as a load balancer would.
        const r = turn++ % running.length
        const s = performance.now()
        const res = await request(agents[r], running[r].port, 'POST', '/mparticle', body)
        lat.push(performance.now() - s)
        if (res.status !== 200) throw new Error(`${label}: webhook answered ${res.status}: ${res.body}`)
      }
    }))
  }
  const acceptSeconds = (performance.now() - start) / 1000

  const tDrain = performance.now()
  for (;;) {
    const m = (await request(agents[0], running[0].port, 'GET', '/metrics')).body
    const depth = [...m.matchAll(/shim_outbox_depth\{sink="mixpanel",state="(pending|inflight|leased)"\} (\d+)/g)].reduce((a, x) => a + Number(x[2]), 0)
    if (depth === 0) break
    await new Promise((r) => setTimeout(r, 20))
  }
  const drainSeconds = (performance.now() - tDrain) / 1000

  let wrong = 0
  for (let u = 0; u < USERS; u++) {
    const want = [...userAudiences[u]].sort((a, b) => a - b).map((a) => `'${a}'`).join(',')
    if (mock.latest.get(`user-${u}`) !== want) wrong++
  }
  for (const r of running) r.child.kill('SIGTERM')
  await Promise.all(running.map((r) => new Promise((res) => (r.child.exitCode !== null ? res() : r.child.on('exit', res)))))
  for (const a of agents) a.destroy()
  await mock.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
  if (dbName) await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
  lat.sort((a, b) => a - b)
  return {
    label, store, replicas,
    acceptedChangesPerSecond: Math.round(CHANGES / acceptSeconds),
    webhookP50Ms: Number(percentile(lat, 50).toFixed(2)),
    webhookP99Ms: Number(percentile(lat, 99).toFixed(2)),
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
const rows = [['scenario', 'changes/s', 'vs SQLite', 'p50 ms', 'p99 ms', 'drain s', 'engage requests', 'wrong users']]
for (const r of results) {
  rows.push([r.label, r.acceptedChangesPerSecond.toLocaleString('en-US'), `${Math.round((100 * r.acceptedChangesPerSecond) / results[0].acceptedChangesPerSecond)} %`,
    String(r.webhookP50Ms), String(r.webhookP99Ms), String(r.drainSeconds), String(r.engageRequests), String(r.usersWithWrongSegmentMembership)])
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
for (const [i, r] of rows.entries()) {
  console.log(r.map((c, j) => c.padEnd(widths[j])).join(' | '))
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('-|-'))
}
console.log(`\n${JSON.stringify({ date: new Date().toISOString().slice(0, 10), changes: CHANGES, users: USERS, webhooks, concurrency: CONCURRENCY, poolSize: POOL_SIZE, loadAverage1mBefore: Number(loadBefore.toFixed(2)), results })}`)
if (results.some((r) => r.usersWithWrongSegmentMembership > 0)) process.exitCode = 1
