#!/usr/bin/env node
/**
 * CPU per change of the SQLite store's thread (a script, not a test): what
 * the one worker thread spends per membership change, without HTTP, the
 * main thread or the bench client, so other load on the machine changes it
 * little (CPU time of this thread, not wall time).
 *
 * Drives the compiled SqliteCore (dist/server, and BENCH_CORE_BASE=<other
 * builds' dist/server directories, comma-separated> beside it, interleaved
 * round by round) with the
 * bench's workload: every webhook is applied as the worker applies it
 * (`core.apply` with the membership planner), and every `BENCH_CLAIM_EVERY`
 * webhooks the mixpanel sink is claimed and completed as the sender does
 * (batches of 2,000). Per round and build: µs of CPU per change in total, and
 * the wall time per change of each phase (apply, claim, complete; the rest is
 * mostly the group's COMMIT and the bench's own structured clone); prints the medians over the rounds.
 *
 *   npm run build:server && node bench/shim-core.mjs
 */
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { membershipWorkload, num } from './shim-common.mjs'

const USERS = num('BENCH_USERS', 10_000)
const CHANGES = num('BENCH_CHANGES', 100_000)
const ROUNDS = num('BENCH_ROUNDS', 3)
const CLAIM_EVERY = num('BENCH_CLAIM_EVERY', 20)
const SYNCHRONOUS = process.env.BENCH_SQLITE_SYNCHRONOUS ?? 'full'

const builds = [['this build', fileURLToPath(new URL('../dist/server', import.meta.url))]]
// BENCH_CORE_BASE: other builds' dist/server directories, comma-separated, measured in the same rounds.
for (const [i, dir] of (process.env.BENCH_CORE_BASE ?? '').split(',').filter(Boolean).entries()) builds.push([i === 0 ? 'base' : `base ${i + 1}`, resolve(dir)])

const workload = membershipWorkload({ users: USERS, changes: CHANGES, passes: 2, profiles: 20, audiences: 50, idPrefix: 'core' })

async function load(dir) {
  const imp = (p) => import(pathToFileURL(join(dir, p)).href)
  const [{ SqliteCore }, { rebuildPlanner }, { membershipRequest }, { parseFirehoseMessage, resolveAudienceSettings }, { loadConfig }] = await Promise.all([
    imp('store/sqlite-core.js'), imp('flows/index.js'), imp('flows/audience-membership.js'), imp('flows/firehose.js'), imp('config.js'),
  ])
  return { SqliteCore, rebuildPlanner, membershipRequest, parseFirehoseMessage, resolveAudienceSettings, loadConfig }
}

const cpuUs = () => { const u = process.cpuUsage(); return u.user + u.system }
// Phases in wall time (process.cpuUsage is a system call: around every webhook it cost more than some phases).
const nowUs = () => performance.now() * 1000

async function round(m) {
  const config = m.loadConfig({ MIXPANEL_TOKEN: 'bench', MIXPANEL_API_HOST: 'http://127.0.0.1:9' })
  const inputs = workload.bodies.map((b) => {
    const msg = m.parseFirehoseMessage(JSON.parse(b))
    return {
      messageId: msg.id, timestampMs: msg.timestampMs, profiles: msg.profiles,
      settings: m.resolveAudienceSettings(config, msg.accountSettings, true), identityOrder: config.identityOrder,
    }
  })
  const dir = mkdtempSync(join(os.tmpdir(), 'shim-core-bench-'))
  const core = new m.SqliteCore({ path: join(dir, 'shim.sqlite'), synchronous: SYNCHRONOUS })
  const t = { apply: 0, claim: 0, complete: 0 }
  const start = cpuUs()
  const drain = async () => {
    for (;;) {
      let c0 = nowUs()
      const batch = await core.claim('mixpanel', { owner: 'bench', max: 2000, now: Date.now(), leaseMs: 60_000 })
      t.claim += nowUs() - c0
      if (batch === undefined) return
      c0 = nowUs()
      await core.complete('bench', batch.rows.map((r) => r.id))
      t.complete += nowUs() - c0
      if (batch.rows.length < 2000) return
    }
  }
  for (let i = 0; i < inputs.length; i++) {
    // Structured clone, as the message to the worker does.
    const input = structuredClone(inputs[i])
    const c0 = nowUs()
    const pending = core.apply(m.membershipRequest(input, Date.now()), m.rebuildPlanner('membership', input))
    t.apply += nowUs() - c0
    await pending
    if ((i + 1) % CLAIM_EVERY === 0) await drain()
  }
  await drain()
  const all = cpuUs() - start
  await core.close()
  rmSync(dir, { recursive: true, force: true })
  const per = (us) => us / CHANGES
  // commit: the group's COMMIT (run on the next turn) and what is between the phases.
  return { total: per(all), apply: per(t.apply), claim: per(t.claim), complete: per(t.complete), commit: per(all - t.apply - t.claim - t.complete) }
}

const modules = await Promise.all(builds.map(([, dir]) => load(dir)))
const results = builds.map(() => [])
for (let r = 0; r < ROUNDS; r++) {
  for (let b = 0; b < builds.length; b++) results[b].push(await round(modules[b]))
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }
console.log(`SQLite store thread, µs per change: total in CPU time, phases in wall time (median of ${ROUNDS} rounds; ${CHANGES} changes, ${USERS} users, synchronous=${SYNCHRONOUS}, load ${os.loadavg()[0].toFixed(2)})`)
for (let b = 0; b < builds.length; b++) {
  const f = (k) => median(results[b].map((x) => x[k])).toFixed(1)
  console.log(`${builds[b][0].padEnd(10)} total ${f('total')} · apply ${f('apply')} · claim ${f('claim')} · complete ${f('complete')} · commit and the rest ${f('commit')}   (${builds[b][1]})`)
}
for (let b = 1; b < builds.length; b++) {
  const ratio = median(results[0].map((x, i) => x.total / results[b][i].total))
  console.log(`this build / ${builds[b][0]}: ${ratio.toFixed(2)} (median of the rounds' ratios)`)
}
