#!/usr/bin/env node
/**
 * Audience shim benchmark (`npm run bench:shim`; a script, not a test).
 *
 * Starts the compiled CLI (dist/server/cli.js) in a child process with a
 * SQLite file in a temp dir, points it at a local mock Mixpanel, and drives
 * BENCH_CHANGES membership changes over BENCH_USERS users through
 * POST /mparticle on loopback. Each user's changes arrive in BENCH_PASSES
 * separate messages (a user entering audiences at different times), with
 * BENCH_PROFILES profiles per request and BENCH_CONCURRENCY requests in flight.
 *
 * Prints accepted changes/s, webhook p50/p99 latency, time to drain the
 * outbox, engage requests and updates sent, and the shim's peak RSS, as a
 * table and one JSON line. A baseline measured in the same run (a bare Node
 * server parsing the same bodies) shows what the machine allowed at that
 * moment, since other work shares the cores. It also checks every user's final SegmentMembership
 * at the mock, so a fast but wrong run does not count.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// `npm run bench:shim -- --store postgres`: the same kind of workload on SQLite beside PostgreSQL with
// one and two replicas, in one run (bench/shim-postgres.mjs); without it, or `--store sqlite`, this script.
const storeArg = process.argv.indexOf('--store')
if (storeArg >= 0 && process.argv[storeArg + 1] !== 'sqlite') {
  if (process.argv[storeArg + 1] !== 'postgres') throw new Error('--store must be sqlite or postgres')
  await import('./shim-postgres.mjs')
  process.exit()
}

const num = (name, def) => (process.env[name] ? Number(process.env[name]) : def)
const USERS = num('BENCH_USERS', 20_000)
const CHANGES = num('BENCH_CHANGES', 200_000)
const PASSES = num('BENCH_PASSES', 2)
const PROFILES_PER_REQUEST = num('BENCH_PROFILES', 20)
const CONCURRENCY = num('BENCH_CONCURRENCY', 4)
const AUDIENCES = num('BENCH_AUDIENCES', 50)
const SYNCHRONOUS = process.env.BENCH_SQLITE_SYNCHRONOUS ?? 'full'
// BENCH_TRACE=1 prints slow webhooks and engage requests on a timeline (stderr).
const TRACE = process.env.BENCH_TRACE === '1'
let traceStart = performance.now()
const PER_USER = Math.floor(CHANGES / USERS)
if (PER_USER * USERS !== CHANGES || PER_USER % PASSES !== 0 || PER_USER > AUDIENCES) {
  throw new Error('BENCH_CHANGES must be BENCH_USERS × k, k a multiple of BENCH_PASSES and at most BENCH_AUDIENCES')
}

const root = fileURLToPath(new URL('..', import.meta.url))
const cli = join(root, 'dist/server/cli.js')

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

// ---- mock Mixpanel: records the latest $set of every user ----
const latest = new Map()
let engageRequests = 0
let engageUpdates = 0
let maxBatch = 0
const mock = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const updates = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    engageRequests++
    if (TRACE) console.error(`engage ${updates.length} at ${((performance.now() - traceStart) / 1000).toFixed(2)} s`)
    engageUpdates += updates.length
    maxBatch = Math.max(maxBatch, updates.length)
    for (const u of updates) latest.set(u.$distinct_id, u.$set.SegmentMembership)
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"status":1,"error":null}')
  })
})
await new Promise((r) => mock.listen(0, '127.0.0.1', r))
const mockUrl = `http://127.0.0.1:${mock.address().port}`

// ---- the shim, as users run it ----
const dir = mkdtempSync(join(os.tmpdir(), 'shim-bench-'))
// BENCH_SHIM_NODE_ARGS, e.g. --cpu-prof, passes flags to the shim's node.
const nodeArgs = (process.env.BENCH_SHIM_NODE_ARGS ?? '').split(' ').filter(Boolean)
const child = spawn(process.execPath, [...nodeArgs, cli], {
  env: {
    // Other SHIM_* settings of the caller's environment pass through (e.g. SHIM_SQLITE_WORKER=false).
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('SHIM_'))),
    PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', SHIM_DB: join(dir, 'shim.sqlite'), SHIM_LOG_LEVEL: 'info',
    SHIM_SQLITE_SYNCHRONOUS: SYNCHRONOUS, MIXPANEL_TOKEN: 'bench-token', MIXPANEL_API_HOST: mockUrl,
  },
  stdio: ['ignore', 'pipe', 'inherit'],
})
let out = ''
const shimUrl = await new Promise((resolve, reject) => {
  child.stdout.on('data', (d) => {
    out += d
    const m = /"msg":"shim listening","url":"([^"]+)"/.exec(out)
    if (m) resolve(m[1])
  })
  child.on('exit', (code) => reject(new Error(`shim exited with ${code}:\n${out}`)))
})
const { port } = new URL(shimUrl)

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
const request = (method, path, body) => new Promise((resolve, reject) => {
  const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
    const chunks = []
    res.on('data', (c) => chunks.push(c))
    res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }))
  })
  req.on('error', reject)
  req.end(body)
})

// ---- build the requests: pass p carries slice p of every user's changes ----
const perPass = PER_USER / PASSES
const bodies = []
let id = 0
for (let pass = 0; pass < PASSES; pass++) {
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
      type: 'audience_membership_change_request',
      id: `bench-${id}`,
      timestamp_ms: 1_700_000_000_000 + pass,
      firehose_version: '2.8.1',
      account: { account_id: 1, account_settings: {} },
      user_profiles: profiles,
    }))
  }
}

// CPU seconds used by the shim so far (user + system): less sensitive to other load than wall time.
const cpuSeconds = () => {
  const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

// ---- drive ----
/** Sends every body to `targetPort` over CONCURRENCY keep-alive connections; returns seconds and latencies. */
async function drive(targetPort, onStart = () => {}) {
  const driveAgent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  const send = (body) => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: targetPort, method: 'POST', path: '/mparticle', agent: driveAgent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.end(body)
  })
  const lat = []
  let next = 0
  const start = performance.now()
  onStart(start)
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < bodies.length) {
      const body = bodies[next++]
      const s = performance.now()
      const res = await send(body)
      const ms = performance.now() - s
      lat.push(ms)
      if (TRACE && ms > 100) console.error(`slow ${ms.toFixed(0)} ms at ${((s - start) / 1000).toFixed(2)} s`)
      if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${res.body}`)
    }
  }))
  const seconds = (performance.now() - start) / 1000
  driveAgent.destroy()
  return { seconds, lat: lat.sort((a, b) => a - b) }
}
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

// Baseline in the same run (these machines are noisy): a bare Node server that reads and
// parses the same bodies and answers 200, in its own process like the shim.
const baselineChild = spawn(process.execPath, ['-e', `
  const http = require('node:http')
  const s = http.createServer((req, res) => { const c = []; req.on('data', (d) => c.push(d)); req.on('end', () => {
    JSON.parse(Buffer.concat(c).toString('utf8')); res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}') }) })
  s.listen(0, '127.0.0.1', () => console.log(s.address().port))`], { stdio: ['ignore', 'pipe', 'inherit'] })
const baselinePort = await new Promise((resolve) => baselineChild.stdout.once('data', (d) => resolve(Number(String(d).trim()))))
const baseline = await drive(baselinePort)
baselineChild.kill()

const loadBefore = os.loadavg()[0]
const cpu0 = cpuSeconds()
const run = await drive(Number(port), (t) => { traceStart = t })
const acceptSeconds = run.seconds
const acceptCpu = cpuSeconds() - cpu0
const latencies = run.lat

// ---- drain: until the outbox is empty ----
const tDrain = performance.now()
for (;;) {
  const m = (await request('GET', '/metrics')).body
  const depth = [...m.matchAll(/shim_outbox_depth\{sink="mixpanel",state="(pending|inflight)"\} (\d+)/g)].reduce((a, x) => a + Number(x[2]), 0)
  if (depth === 0) break
  await new Promise((r) => setTimeout(r, 20))
}
const drainSeconds = (performance.now() - tDrain) / 1000

const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
const peakRssMb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024

// ---- check what Mixpanel ended up with ----
let wrong = 0
for (let u = 0; u < USERS; u++) {
  const want = [...userAudiences[u]].sort((a, b) => a - b).map((a) => `'${a}'`).join(',')
  if (latest.get(`user-${u}`) !== want) wrong++
}

child.kill('SIGTERM')
await new Promise((r) => child.on('exit', r))
agent.destroy()
mock.close()
rmSync(dir, { recursive: true, force: true })

const pct = (p) => percentile(latencies, p)
const result = {
  date: new Date().toISOString().slice(0, 10),
  machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown'}, node ${process.version}`,
  sqliteSynchronous: SYNCHRONOUS,
  users: USERS,
  changes: CHANGES,
  webhooks: bodies.length,
  concurrency: CONCURRENCY,
  acceptedChangesPerSecond: Math.round(CHANGES / acceptSeconds),
  baselineChangesPerSecond: Math.round(CHANGES / baseline.seconds),
  shimShareOfBaseline: Number((baseline.seconds / acceptSeconds).toFixed(2)),
  baselineP99Ms: Number(percentile(baseline.lat, 99).toFixed(2)),
  webhookP50Ms: Number(pct(50).toFixed(2)),
  webhookP99Ms: Number(pct(99).toFixed(2)),
  drainSeconds: Number(drainSeconds.toFixed(2)),
  engageRequests,
  engageUpdates,
  updatesPerRequest: Math.round(engageUpdates / engageRequests),
  largestBatch: maxBatch,
  peakRssMb: Number(peakRssMb.toFixed(1)),
  shimCpuSecondsWhileAccepting: Number(acceptCpu.toFixed(2)),
  changesPerShimCpuSecond: Math.round(CHANGES / acceptCpu),
  loadAverage1mBefore: Number(loadBefore.toFixed(2)),
  usersWithWrongSegmentMembership: wrong,
}

const rows = [
  ['accepted changes/s', result.acceptedChangesPerSecond.toLocaleString('en-US'), '≥ 20,000'],
  ['baseline: bare Node server, same bodies', `${result.baselineChangesPerSecond.toLocaleString('en-US')} changes/s, p99 ${result.baselineP99Ms} ms`, 'same run'],
  ['shim throughput / baseline', `${Math.round(result.shimShareOfBaseline * 100)} %`, ''],
  ['webhook latency p50', `${result.webhookP50Ms} ms`, ''],
  ['webhook latency p99', `${result.webhookP99Ms} ms`, '< 50 ms'],
  ['time to drain the outbox', `${result.drainSeconds} s`, ''],
  ['engage requests sent', String(engageRequests), `≈ ${Math.ceil(engageUpdates / 2000)} (updates / 2000)`],
  ['engage updates sent', engageUpdates.toLocaleString('en-US'), `${USERS.toLocaleString('en-US')} users × ${PASSES} passes`],
  ['peak RSS of the shim', `${result.peakRssMb} MB`, '< 200 MB'],
  ['shim CPU while accepting', `${result.shimCpuSecondsWhileAccepting} s (${result.changesPerShimCpuSecond.toLocaleString('en-US')} changes per CPU-second)`, ''],
  ['machine load average before the run', String(result.loadAverage1mBefore), 'other work shares the 2 cores'],
  ['users with a wrong final SegmentMembership', String(wrong), '0'],
]
const w0 = Math.max(...rows.map((r) => r[0].length))
const w1 = Math.max(...rows.map((r) => r[1].length))
console.log(`\nshim benchmark: ${CHANGES.toLocaleString('en-US')} changes, ${USERS.toLocaleString('en-US')} users, ${bodies.length} webhooks × ${PROFILES_PER_REQUEST} profiles, ${CONCURRENCY} connections, SQLite synchronous=${SYNCHRONOUS} (${result.machine})\n`)
console.log(`${'metric'.padEnd(w0)} | ${'value'.padEnd(w1)} | target`)
console.log(`${'-'.repeat(w0)}-|-${'-'.repeat(w1)}-|-------`)
for (const [a, b, c] of rows) console.log(`${a.padEnd(w0)} | ${b.padEnd(w1)} | ${c}`)
console.log(`\n${JSON.stringify(result)}`)
if (wrong > 0) process.exitCode = 1
