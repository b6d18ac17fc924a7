/**
 * What bench/shim.mjs and bench/shim-postgres.mjs share: the membership
 * workload, the mock Mixpanel, starting the compiled CLI, the two ways of
 * sending (closed and open loop), the drain, the check of every user's final
 * SegmentMembership, and latency percentiles.
 */
import { spawn } from 'node:child_process'
import http from 'node:http'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'

export const num = (name, def) => (process.env[name] ? Number(process.env[name]) : def)

/**
 * `changes` membership changes over `users` users: every user enters
 * `changes / users` distinct audiences (deterministic pseudo-random, no two
 * runs differ), in `passes` separate webhooks of `profiles` profiles each
 * (a user entering audiences at different times). `passes[p]` carries slice p
 * of every user's changes.
 */
export function membershipWorkload({ users, changes, passes: passCount, profiles: perRequest, audiences, idPrefix }) {
  const perUser = Math.floor(changes / users)
  if (perUser * users !== changes || perUser % passCount !== 0 || perUser > audiences) {
    throw new Error('the number of changes must be users × k, k a multiple of the passes and at most the audiences')
  }
  let seed = 42
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
  const userAudiences = Array.from({ length: users }, () => {
    const pool = Array.from({ length: audiences }, (_, i) => 10_000 + i)
    for (let i = pool.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1))
      ;[pool[i], pool[j]] = [pool[j], pool[i]]
    }
    return pool.slice(0, perUser)
  })
  const perPass = perUser / passCount
  const passes = []
  let id = 0
  for (let pass = 0; pass < passCount; pass++) {
    const bodies = []
    for (let first = 0; first < users; first += perRequest) {
      const profiles = []
      for (let u = first; u < Math.min(users, first + perRequest); u++) {
        profiles.push({
          user_identities: [{ type: 'customer', encoding: 'raw', value: `user-${u}` }],
          mpid: String(1_000_000 + u),
          audiences: userAudiences[u].slice(pass * perPass, (pass + 1) * perPass)
            .map((a) => ({ audience_id: a, audience_name: `Audience ${a}`, action: 'add' })),
        })
      }
      id++
      bodies.push(JSON.stringify({
        type: 'audience_membership_change_request', id: `${idPrefix}-${id}`, timestamp_ms: 1_700_000_000_000 + pass,
        firehose_version: '2.8.1', account: { account_id: 1, account_settings: {} }, user_profiles: profiles,
      }))
    }
    passes.push(bodies)
  }
  return { userAudiences, passes, bodies: passes.flat(), changesPerWebhook: perRequest * perPass }
}

/** Users whose last SegmentMembership at the mock is not all of their audiences. */
export function wrongUsers(latest, userAudiences) {
  let wrong = 0
  for (const [u, audiences] of userAudiences.entries()) {
    const want = [...audiences].sort((a, b) => a - b).map((a) => `'${a}'`).join(',')
    if (latest.get(`user-${u}`) !== want) wrong++
  }
  return wrong
}

/**
 * A local mock Mixpanel engage endpoint: records the latest SegmentMembership
 * of every user. It runs in its own thread: parsing a 2,000-update request
 * (about 1 MB) took 10–40 ms, and on the client's thread every answer that
 * arrived meanwhile was timed that much late — the bench's own stall, counted
 * as the shim's latency. `latest` and `stats` are filled in by `close()`.
 */
export function startMock() {
  const worker = new Worker(`
    const http = require('node:http')
    const { parentPort } = require('node:worker_threads')
    const latest = new Map()
    const stats = { requests: 0, updates: 0, largestBatch: 0 }
    const server = http.createServer((req, res) => {
      const chunks = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        const updates = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        stats.requests++
        stats.updates += updates.length
        stats.largestBatch = Math.max(stats.largestBatch, updates.length)
        for (const u of updates) latest.set(u.$distinct_id, u.$set.SegmentMembership)
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('{"status":1,"error":null}')
      })
    })
    parentPort.on('message', (m) => {
      if (m !== 'close') return
      server.closeAllConnections()
      server.close(() => parentPort.postMessage({ latest: [...latest], stats }))
    })
    server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }))
  `, { eval: true })
  const latest = new Map()
  const stats = { requests: 0, updates: 0, largestBatch: 0 }
  const next = () => new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject) })
  return next().then(({ port }) => ({
    url: `http://127.0.0.1:${port}`, latest, stats,
    close: async () => {
      const done = next()
      worker.postMessage('close')
      const r = await done
      for (const [k, v] of r.latest) latest.set(k, v)
      Object.assign(stats, r.stats)
      await worker.terminate()
    },
  }))
}

/** Starts a compiled CLI as users run it; resolves once it logged "shim listening". */
export function startShimProcess({ cli, env, nodeArgs = [] }) {
  const child = spawn(process.execPath, [...nodeArgs, cli], {
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

/** SIGTERM, and wait for the exit. */
export async function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.on('exit', r))
  child.kill('SIGTERM')
  await exited
}

/**
 * One request. A kept-alive connection the server closed just as it was
 * reused fails with ECONNRESET before anything was sent back: sent again once
 * on a new connection, as Node's documentation advises (a webhook is deduped
 * by its id, so a second delivery changes nothing twice).
 */
export function request(agent, port, method, path, body, retried = false) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent,
      headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', (err) => {
      if (!retried && req.reusedSocket && err.code === 'ECONNRESET') resolve(request(agent, port, method, path, body, true))
      else reject(err)
    })
    req.end(body)
  })
}

const post = async (agent, port, body) => {
  const res = await request(agent, port, 'POST', '/mparticle', body)
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${res.body}`)
}

/**
 * Closed loop: `concurrency` connections, each sending its next webhook as
 * soon as the previous one is answered. Measures the most the server accepts
 * (saturation); its latencies are those of a saturated server with exactly
 * `concurrency` requests waiting, and a stall delays only the requests in
 * flight (the ones the stall kept from being sent are never timed).
 * `targets` (port per request) spreads the webhooks round-robin over replicas.
 */
export async function closedLoop({ ports, passes, concurrency }) {
  const agents = ports.map(() => new http.Agent({ keepAlive: true, maxSockets: concurrency }))
  const lat = []
  let turn = 0
  const start = performance.now()
  for (const bodies of passes) {
    let next = 0
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]
        const r = turn++ % ports.length
        const s = performance.now()
        await post(agents[r], ports[r], body)
        lat.push(performance.now() - s)
      }
    }))
  }
  const seconds = (performance.now() - start) / 1000
  for (const a of agents) a.destroy()
  return { seconds, lat: lat.sort((a, b) => a - b) }
}

/**
 * Open loop: webhook i is due at start + i / rate whatever happened to the
 * ones before (as mParticle sends: it does not wait for the shim to be
 * quick), and its latency runs from that due time to the answer. A stall of
 * the server therefore counts for every webhook due during it, and the
 * waiting ones are not hidden behind the stalled connections (no coordinated
 * omission). Measures the latency at a given load, not the most the server
 * accepts.
 */
export async function openLoop({ port, bodies, webhooksPerSecond }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })
  // The client's own event-loop delay: an answer is timed late by as much (printed beside the latency).
  const loopDelay = monitorEventLoopDelay({ resolution: 1 })
  loopDelay.enable()
  // Latency by due order: which webhooks were due in the shim's first second.
  const byDue = new Array(bodies.length)
  const interval = 1000 / webhooksPerSecond
  const start = performance.now() + 10
  const startEpoch = performance.timeOrigin + start
  let sent = 0
  await new Promise((resolve, reject) => {
    let answered = 0
    const tick = () => {
      const now = performance.now()
      while (sent < bodies.length && start + sent * interval <= now) {
        const due = start + sent * interval
        const index = sent
        post(agent, port, bodies[sent++]).then(() => {
          byDue[index] = performance.now() - due
          if (++answered === bodies.length) resolve()
        }, reject)
      }
      if (sent < bodies.length) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()))
    }
    setTimeout(tick, 10)
  })
  const seconds = (performance.now() - start) / 1000
  loopDelay.disable()
  agent.destroy()
  const ms = (ns) => Number((ns / 1e6).toFixed(1))
  const warm = Math.min(bodies.length, Math.ceil(webhooksPerSecond))
  const sorted = (list) => list.sort((a, b) => a - b)
  return {
    seconds,
    // Webhook i was due at startEpoch + i × intervalMs (epoch ms), answered byDue[i] ms later.
    startEpoch,
    intervalMs: interval,
    byDue,
    lat: sorted([...byDue]),
    firstSecond: sorted(byDue.slice(0, warm)),
    afterFirstSecond: sorted(byDue.slice(warm)),
    clientLoopDelayMs: { p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) },
  }
}

export const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

/** p50 / p95 / p99 / max in ms, rounded to 0.1 ms. */
export function latencySummary(sorted) {
  const r = (x) => Number(x.toFixed(1))
  return { p50: r(percentile(sorted, 50)), p95: r(percentile(sorted, 95)), p99: r(percentile(sorted, 99)), max: r(sorted.at(-1)) }
}

export const formatLatency = (s) => `p50 ${s.p50} · p95 ${s.p95} · p99 ${s.p99} · max ${s.max} ms`

/** Until the shim's /metrics shows no pending or leased Mixpanel update; returns the seconds it took. */
export async function waitDrained(port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const start = performance.now()
  for (;;) {
    const m = (await request(agent, port, 'GET', '/metrics')).body
    const depth = [...m.matchAll(/shim_outbox_depth\{sink="mixpanel",state="(pending|inflight|leased)"\} (\d+)/g)].reduce((a, x) => a + Number(x[2]), 0)
    if (depth === 0) break
    await new Promise((r) => setTimeout(r, 20))
  }
  agent.destroy()
  return (performance.now() - start) / 1000
}

/**
 * How long an fdatasync takes on the shim's disk while it runs: a thread of
 * the bench writes one 4 KiB page to `<dir>/disk-probe` and fdatasyncs it
 * every `everyMs`, timing each sync. A webhook is answered only after an
 * fdatasync of the WAL that began after its COMMIT (docs/shim.md,
 * "Benchmark"), so when the disk holds every sync for hundreds of ms — as it
 * did, for the shim's syncs and the checkpoint thread's alike, in the one
 * traced run that missed p99 < 50 ms — every durable server on this disk
 * answers that late; the probe shows whether that happened in this run.
 * `stop()` returns each sync's start (epoch ms) and duration (ms).
 */
export function startDiskProbe(dir, everyMs = 10) {
  const worker = new Worker(`
    const { closeSync, fdatasyncSync, openSync, unlinkSync, writeSync } = require('node:fs')
    const { parentPort, workerData } = require('node:worker_threads')
    const path = workerData.dir + '/disk-probe'
    const fd = openSync(path, 'w')
    const page = Buffer.alloc(4096, 1)
    const syncs = []
    const timer = setInterval(() => {
      writeSync(fd, page, 0, page.length, 0)
      const t = performance.timeOrigin + performance.now()
      fdatasyncSync(fd)
      syncs.push([t, performance.timeOrigin + performance.now() - t])
    }, workerData.everyMs)
    parentPort.on('message', () => { clearInterval(timer); closeSync(fd); unlinkSync(path); parentPort.postMessage(syncs) })
  `, { eval: true, workerData: { dir, everyMs } })
  return {
    stop: () => new Promise((resolve, reject) => {
      worker.once('message', (syncs) => { worker.terminate(); resolve(syncs) })
      worker.once('error', reject)
      worker.postMessage('stop')
    }),
  }
}

/**
 * The open loop's webhooks that were in flight while a probe fdatasync took
 * over `stallMs`: the latency of the others is what the shim did whenever the
 * disk did not hold it (printed beside the whole run's, never instead of it).
 */
export function outsideDiskStalls(run, syncs, stallMs) {
  const stalls = syncs.filter(([, d]) => d > stallMs).map(([t, d]) => [t, t + d])
  const kept = []
  for (let i = 0; i < run.byDue.length; i++) {
    const due = run.startEpoch + i * run.intervalMs
    const answered = due + run.byDue[i]
    if (!stalls.some(([s, e]) => due < e && answered > s)) kept.push(run.byDue[i])
  }
  return { stalls: stalls.length, excluded: run.byDue.length - kept.length, lat: kept.sort((a, b) => a - b) }
}

/** A bare Node server in its own process that reads and parses each body and answers 200: what the machine allows. */
export async function startBareServer() {
  const child = spawn(process.execPath, ['-e', `
    const http = require('node:http')
    const s = http.createServer((req, res) => { const c = []; req.on('data', (d) => c.push(d)); req.on('end', () => {
      JSON.parse(Buffer.concat(c).toString('utf8')); res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}') }) })
    s.listen(0, '127.0.0.1', () => console.log(s.address().port))`], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d).trim()))))
  return { child, port }
}
