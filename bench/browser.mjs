#!/usr/bin/env node
// Browser benchmark (`npm run bench`): a script that prints numbers, never a
// test. Everything is measured side by side in the same run, in Debian's
// Chromium, against mixpanel-browser used directly, because these machines are
// noisy. Each side runs in a fresh page of its own for each measurement
// (bench/pages/harness.js); all Mixpanel traffic goes to the bench's own
// server on 127.0.0.1. docs/performance.md explains every figure.
//
//   node bench/browser.mjs [--rounds 7] [--calls 120] [--warmup 30] [--batch 10] [--count 20] [--loads 20] [--profiled-loads 8] [--events 1000]
//                          [--profiled 200] [--only calls,counts,profile,init,network] [--json-only]
//                          [--init-modes inline,src] [--alt-iife FILE]
// A quick look on a busy machine: --only counts,profile,init --rounds 3 --loads 10
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import commonjs from '@rollup/plugin-commonjs'
import { nodeResolve } from '@rollup/plugin-node-resolve'
import terser from '@rollup/plugin-terser'
import { chromium } from '@playwright/test'
import { rollup } from 'rollup'
import { mixpanelEdits, mixpanelStubs, TERSER } from '../rollup.config.mjs'
import { budgets, measure } from '../scripts/size.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}
const ROUNDS = arg('rounds', 7)
const CALLS = arg('calls', 120)
const WARMUP = arg('warmup', 30)
const COUNT = arg('count', 20)
// Calls per side between switches of side (per-call time).
const BATCH = arg('batch', 10)
const LOADS = arg('loads', 20)
// Fresh loads per variant under the CPU profiler, for the start-up breakdown.
const PROFILED_LOADS = arg('profiled-loads', 8)
const EVENTS = arg('events', 1000)
// Calls per side under the CPU profiler (section "profile").
const PROFILED = arg('profiled', 200)
const JSON_ONLY = process.argv.includes('--json-only')
// The network section measures mixpanel-browser's batching, which the delivery layer replaces: only on request.
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1].split(',') : ['calls', 'counts', 'profile', 'init']
const run = (section) => ONLY.includes(section)
// How the start-up pages load each side's library: `inline` (a <script> holding it: no streaming, no code cache) and
// `src` (<script src> from the bench server, no-store: Chromium streams and compiles it off the main thread, as a
// real site's script tag does). Ours and the core in both; mixpanel.min.js and the batching core inline only.
const INIT_MODES = process.argv.includes('--init-modes') ? process.argv[process.argv.indexOf('--init-modes') + 1].split(',') : ['inline', 'src']
// An experiment's variant of the script-tag bundle (a scratch copy, e.g. with a compile hint), measured at start-up
// as `alt` in every mode, paired against ours and the core in the same loads.
const ALT_IIFE = process.argv.includes('--alt-iife') ? process.argv[process.argv.indexOf('--alt-iife') + 1] : null
const log = (...lines) => JSON_ONLY || console.log(...lines)

// Same launch as playwright.config.ts.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic']
const MIXPANEL = /^https:\/\/api(-js|-eu|-in)?\.mixpanel\.com\//
const KINDS = ['identify', 'track', 'page', 'group']
// The naive one-call-per-trait side differs from the hand-written one only for identify and group.
const SIDES = { identify: ['ours', 'hand', 'naive'], track: ['ours', 'hand'], page: ['ours', 'hand'], group: ['ours', 'hand', 'naive'] }

/**
 * mixpanel-browser's core alone, built exactly as the IIFE builds it (same
 * stand-ins and edits, same terser); `whole`: as an app bundles it from npm,
 * nothing left out (its batching queue included).
 */
async function coreAlone(whole = false) {
  const entry = '\0bench-core'
  const bundle = await rollup({
    input: entry,
    plugins: [
      { name: 'entry', resolveId: (id) => (id === entry ? id : null), load: (id) => (id === entry ? "import mixpanel from 'mixpanel-browser/src/loaders/loader-module-core'; window.mixpanelCore = mixpanel" : null) },
      ...(whole ? [] : [mixpanelStubs(), mixpanelEdits()]),
      nodeResolve({ browser: true }),
      commonjs(),
    ],
    onwarn: () => {},
  })
  const { output } = await bundle.generate({ format: 'iife', generatedCode: 'es2015', plugins: [terser(TERSER)] })
  await bundle.close()
  return output[0].code
}

/** Mixpanel's event endpoints: what the server counts and the start-up loads wait for. */
const EVENT_PATH = /^\/(track|engage|groups)\/?$/

/** Serves `files`; answers Mixpanel's endpoints (`/track/`, `/engage/`, `/groups/`) as Mixpanel does, counting requests. */
async function startServer(files) {
  const seen = { requests: 0 }
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (EVENT_PATH.test(path)) {
      seen.requests += 1
      req.resume()
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('1'))
      return
    }
    const body = files[path]
    if (body === undefined) return void res.writeHead(404).end()
    res.writeHead(200, {
      'content-type': path.endsWith('.js') ? 'text/javascript' : 'text/html; charset=utf-8',
      // Cross-origin isolation: performance.now() then has 5 µs resolution instead of 100 µs.
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cache-control': 'no-store',
    })
    res.end(body)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, seen, origin: `http://127.0.0.1:${server.address().port}` }
}

/** Answers Mixpanel locally (no CORS wildcard: see FACTS.md), counts requests and bytes, aborts anything else non-local. */
async function intercept(context) {
  const seen = { requests: 0, bodyBytes: 0, urlBytes: 0, records: 0, byToken: {} }
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort())
  await context.route(MIXPANEL, async (route) => {
    const request = route.request()
    const body = request.postDataBuffer() ?? Buffer.alloc(0)
    seen.requests += 1
    seen.bodyBytes += body.length
    seen.urlBytes += Buffer.byteLength(request.url())
    let records = []
    try {
      const text = body.toString('utf8').trim()
      const data = text.startsWith('[') || text.startsWith('{') ? text : new URLSearchParams(text).get('data')
      const parsed = JSON.parse(data)
      records = Array.isArray(parsed) ? parsed : [parsed]
    } catch {
      // not a record
    }
    seen.records += records.length
    for (const record of records) {
      const token = record.properties?.token ?? record.$token ?? '?'
      seen.byToken[token] = (seen.byToken[token] ?? 0) + 1
    }
    await route.fulfill({ status: 200, contentType: 'application/json', body: '1' })
  })
  return seen
}

/**
 * Where a fresh load's main-thread time goes, from a CPU profile (ms), by the
 * outermost script frame of each sample: `evaluate` the library's script
 * itself (its top level: compiling and running the bundle's module code);
 * `start` the page's script that calls createAnalytics()/init() and track();
 * `later` every later task of the page's scripts (promise callbacks such as
 * our delivery queue's sender, timers, request answers, event listeners);
 * `browser` what the profiler cannot put in a script ("(program)": HTML
 * parsing, script compilation before it runs, style, layout, IPC); `gc`.
 * `library` and `create`: where the two scripts start in the page (0-based
 * line and column, as the profiler gives them).
 */
function startupPhases(profile, library, create) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const root = profile.nodes[0].id
  const at = (frame, where) => frame.functionName === '' && frame.lineNumber === where.line && frame.columnNumber === where.column
  const phases = new Map()
  const phaseOf = (id) => {
    if (phases.has(id)) return phases.get(id)
    const name = nodes.get(id).callFrame.functionName
    let phase = name === '(program)' ? 'browser' : name === '(garbage collector)' ? 'gc' : name === '(idle)' ? null : 'later'
    if (phase === 'later') {
      // The outermost frame under the root.
      let top = id
      while (parent.get(top) !== root && parent.has(top)) top = parent.get(top)
      const frame = nodes.get(top).callFrame
      phase = at(frame, library) ? 'evaluate' : at(frame, create) ? 'start' : 'later'
    }
    phases.set(id, phase)
    return phase
  }
  const time = { evaluate: 0, start: 0, later: 0, browser: 0, gc: 0 }
  for (let i = 0; i < profile.samples.length; i++) {
    const phase = phaseOf(profile.samples[i])
    if (phase) time[phase] += (profile.timeDeltas[i + 1] ?? 0) / 1000
  }
  return time
}

/** 0-based line and column where `part` starts in `text`. */
function positionOf(text, part) {
  const before = text.slice(0, text.indexOf(part))
  const lines = before.split('\n')
  return { line: lines.length - 1, column: lines.at(-1).length }
}

// The profiled sides: ours, the hand-written calls unbatched (as in "calls"), and with mixpanel-browser's default batching.
const PROFILED_SIDES = ['ours', 'hand', 'batched']

/**
 * Main-thread time per call from a CPU profile, in ms: `call` in the calls
 * themselves, `after` in what runs later (timers, promise callbacks, request
 * answers) from the page's own scripts, garbage collection included; the
 * driver's own work (Playwright's evaluate) and idle time are not counted.
 * `native`: the share of the total in the browser's storage, cookie and
 * request functions, by name.
 */
function busyTime(profile, origin, calls) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  // Per node: 'call' (under the harness's batch()), 'after' (under another page script), or null.
  const kinds = new Map()
  const kindOf = (id) => {
    if (kinds.has(id)) return kinds.get(id)
    let kind = null
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const frame = nodes.get(at).callFrame
      if (frame.url.endsWith('/harness.js') && frame.functionName === 'batch') {
        kind = 'call'
        break
      }
      if (frame.url.startsWith(origin)) kind = 'after'
    }
    kinds.set(id, kind)
    return kind
  }
  const time = { call: 0, after: 0 }
  const native = {}
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000
    const name = nodes.get(id).callFrame.functionName
    const kind = name === '(garbage collector)' ? 'after' : kindOf(id)
    if (!kind) continue
    time[kind] += dt
    if (/^(setItem|getItem|removeItem|get cookie|set cookie|send|fetch|sendBeacon)$/.test(name)) native[name] = (native[name] ?? 0) + dt
  }
  const total = time.call + time.after
  return {
    call: time.call / calls,
    after: time.after / calls,
    total: total / calls,
    native: Object.fromEntries(Object.entries(native).map(([name, t]) => [name, Math.round((100 * t) / total)])),
  }
}

const ratio = (a, b) => Math.round((a / b) * 100) / 100
const ms = (x) => (x < 0.1 ? x.toFixed(3) : x.toFixed(2))
const pad = (s, n) => String(s).padEnd(n)
const lpad = (s, n) => String(s).padStart(n)

const median = (xs) => {
  const sorted = xs.slice().sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
const spread = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) })
const summary = (samples) => {
  const sorted = samples.slice().sort((a, b) => a - b)
  return { n: sorted.length, median: median(sorted), p95: sorted[Math.min(sorted.length - 1, Math.floor(0.95 * sorted.length))] }
}

async function main() {
  const iife = await readFile(`${ROOT}dist/mixpanel-device-mode.iife.js`, 'utf8')
  const official = await readFile(`${ROOT}node_modules/mixpanel-browser/dist/mixpanel.min.js`, 'utf8')
  const harness = await readFile(`${ROOT}bench/pages/harness.js`, 'utf8')
  const core = await coreAlone()
  const alt = ALT_IIFE ? await readFile(ALT_IIFE, 'utf8') : null
  const wholeCore = await coreAlone(true)
  const files = {}
  const { server, seen, origin } = await startServer(files)
  const page = (title, library) => `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>
<script src="/${library}"></script><script src="/harness.js"></script></head><body><h1>bench</h1></body></html>`
  // Initialisation: the library inline (no network, no code cache), timed from
  // just before its evaluation to the first event sent.
  const initPage = (library, create, first) => `<!doctype html><html><head><meta charset="utf-8"><title>Init</title>
<script>window.t0 = performance.now()</script><script>${library}</script><script>window.t1 = performance.now()</script>
<script>window.a = ${create}; window.t2 = performance.now(); ${first}; window.t3 = performance.now()</script></head><body></body></html>`
  // The same page loading the library by <script src> (`file`, served no-store like every file): evaluate then includes its fetch.
  const srcPage = (file, create, first) => initPage('', create, first).replace('<script></script>', `<script src="/${file}"></script>`)
  const OURS_CREATE = `MixpanelDeviceMode.createAnalytics({ token: 'init-token', apiHost: '${origin}', mixpanelConfig: { batch_requests: false } })`
  const CONFIG = `{ track_pageview: false, api_payload_format: 'json', api_host: '${origin}', batch_requests: false }`
  // Where each init page's two scripts start (the start-up breakdown finds them in CPU profiles by these).
  const scriptsOf = (html, library) => ({ library: positionOf(html, library), create: positionOf(html, 'window.a = ') })
  Object.assign(files, {
    '/ours.html': page('Bench Page', 'iife.js'),
    '/hand.html': page('Bench Page', 'core.js'),
    '/naive.html': page('Bench Page', 'core.js'),
    '/batched.html': page('Bench Page', 'whole-core.js'),
    '/whole-core.js': wholeCore,
    '/iife.js': iife,
    '/core.js': core,
    '/harness.js': harness,
    '/init-ours.html': initPage(iife, OURS_CREATE, "a.track('First')"),
    '/init-core.html': initPage(core, `mixpanelCore.init('init-token', ${CONFIG}, 'direct')`, "a.track('First')"),
    '/init-ours-src.html': srcPage('iife.js', OURS_CREATE, "a.track('First')"),
    '/init-core-src.html': srcPage('core.js', `mixpanelCore.init('init-token', ${CONFIG}, 'direct')`, "a.track('First')"),
    // Informative (not the target): mixpanel-browser with its own batching, whose localStorage queue
    // gives it durability comparable to ours. coreAlone() cannot batch (IIFE_STUBS replaces its
    // request batcher), so this is its whole npm core, as an app bundles it; it sends every 5 s.
    '/init-batched.html': initPage(wholeCore, `mixpanelCore.init('init-token', ${CONFIG.replace('batch_requests: false', 'batch_requests: true')}, 'direct')`, "a.track('First')"),
    // mixpanel.min.js is the snippet build: it needs the snippet's stub object first.
    '/init-official.html': initPage(official, `(mixpanel.init('init-token', ${CONFIG}, 'direct'), mixpanel.direct)`, "a.track('First')").replace(
      '<script>window.t0',
      '<script>window.mixpanel = { __SV: 1.2, _i: [] }</script><script>window.t0',
    ),
  })
  if (alt) Object.assign(files, { '/alt.js': alt, '/init-alt.html': initPage(alt, OURS_CREATE, "a.track('First')"), '/init-alt-src.html': srcPage('alt.js', OURS_CREATE, "a.track('First')") })
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true })
  const version = browser.version()
  const results = {
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', chromium: version, cpus: cpus().length, cpu: cpus()[0]?.model,
    memoryGB: Math.round(totalmem() / 2 ** 30), config: { batch_requests: false }, rounds: ROUNDS, callsPerRound: CALLS, warmup: WARMUP,
  }
  log("Sides run with mixpanelConfig { batch_requests: false } (ours always does: its delivery queue sends), except the profile's")
  log("'batched' side, mixpanel-browser's default batching. Requests go to the bench server on 127.0.0.1.")

  /** A fresh context and page per measurement: no state or memory carried over (the renderer once crashed at 9–11 GB in one page). */
  async function inPage(path, task) {
    const context = await browser.newContext()
    await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort())
    try {
      const page = await context.newPage()
      await page.goto(`${origin}${path}`)
      return await task(page)
    } finally {
      await context.close()
    }
  }

  /**
   * One fresh load of an init page, in its own context, until 300 ms after
   * its first request to Mixpanel's event endpoints (seen from the browser's
   * network events: no script of ours runs in the page while waiting), so
   * work deferred past the load is still counted. `before(cdp)` runs before
   * the navigation; `after(page, cdp, state)` gets what it returned.
   */
  async function freshLoad(variant, before, after) {
    const context = await browser.newContext()
    await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort())
    try {
      const page = await context.newPage()
      const cdp = await context.newCDPSession(page)
      const state = await before(cdp)
      const request = page.waitForRequest((request) => EVENT_PATH.test(new URL(request.url()).pathname), { timeout: 10_000 }).catch(() => {})
      await page.goto(`${origin}/init-${variant}.html`)
      await request
      await page.waitForTimeout(300)
      return await after(page, cdp, state)
    } finally {
      await context.close()
    }
  }

  /**
   * One fresh load: wall-clock times (total, evaluate, start, first track),
   * the CPU time of the renderer's main thread over the load (Chromium's
   * `ThreadTime` metric), and when the first event's request started
   * (Resource Timing, ms after the script's evaluation began; ours sends from
   * its delivery queue in a later task, the core from inside `track()`).
   */
  const startUp = (variant) =>
    freshLoad(
      variant,
      async (cdp) => {
        await cdp.send('Performance.enable')
        const threadTime = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'ThreadTime').value * 1000
        return { threadTime, before: await threadTime() }
      },
      async (page, cdp, { threadTime, before }) => {
        const cpu = (await threadTime()) - before
        const times = await page.evaluate(() => [window.t3 - window.t0, window.t1 - window.t0, window.t2 - window.t1, window.t3 - window.t2])
        // Start of the first request to Mixpanel's endpoints, ms after t0 (NaN when none was seen).
        const sentAt = await page.evaluate((path) => {
          const sent = performance.getEntriesByType('resource').find((entry) => new RegExp(path).test(new URL(entry.name).pathname))
          return sent ? sent.startTime - window.t0 : NaN
        }, EVENT_PATH.source)
        return [...times, cpu, sentAt]
      },
    )

  /** One fresh load under the CPU profiler (50 µs): startupPhases(). */
  const startUpProfile = (variant, library) =>
    freshLoad(
      variant,
      async (cdp) => {
        await cdp.send('Profiler.enable')
        await cdp.send('Profiler.setSamplingInterval', { interval: 50 })
        await cdp.send('Profiler.start')
      },
      async (page, cdp) => {
        const { profile } = await cdp.send('Profiler.stop')
        const { library: at, create } = scriptsOf(files[`/init-${variant}.html`], library)
        return startupPhases(profile, at, create)
      },
    )

  try {
    // 1. Per-call main-thread time: ROUNDS rounds; in each, every side in a fresh page of its own, all
    //    open at once, driven BATCH calls at a time in turn (the order rotating), so that the sides
    //    share the machine's load; each side's figure is the median of its calls after the warm-up.
    results.calls = {}
    for (const persistence of run('calls') ? ['cookie', 'localStorage'] : []) {
      results.calls[persistence] = {}
      for (const kind of KINDS) {
        log(`per-call time: ${kind}, ${persistence} (${ROUNDS} rounds × ${CALLS} calls per side, ${WARMUP} warm-up)…`)
        const sides = SIDES[kind]
        const rounds = []
        for (let r = 0; r < ROUNDS; r++) {
          const open = {}
          try {
            for (const side of sides) {
              const context = await browser.newContext()
              await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort())
              const page = await context.newPage()
              open[side] = { context, page, samples: [] }
              await page.goto(`${origin}/${side}.html`)
              if (!(await page.evaluate(() => self.crossOriginIsolated))) log('warning: the page is not cross-origin isolated; timer resolution is 100 µs')
              await page.evaluate((o) => window.bench.prepare(o), { side, persistence, kind, apiHost: origin })
            }
            for (let done = 0, b = 0; done < WARMUP + CALLS; done += BATCH, b++) {
              const count = Math.min(BATCH, WARMUP + CALLS - done)
              for (let k = 0; k < sides.length; k++) {
                const side = sides[(k + b + r) % sides.length]
                open[side].samples.push(...(await open[side].page.evaluate((n) => window.bench.batch(n), count)))
              }
            }
          } finally {
            for (const { context } of Object.values(open)) await context.close()
          }
          rounds.push(Object.fromEntries(sides.map((side) => [side, summary(open[side].samples.slice(WARMUP))])))
        }
        const row = {}
        for (const side of sides) row[side] = spread(rounds.map((round) => round[side].median))
        row.p95 = Object.fromEntries(sides.map((side) => [side, median(rounds.map((round) => round[side].p95))]))
        // The ratio of each round's medians, ours / hand-written (and naive / hand-written).
        row.ratio = spread(rounds.map((round) => round.ours.median / round.hand.median))
        if (sides.includes('naive')) row.naiveRatio = spread(rounds.map((round) => round.naive.median / round.hand.median))
        results.calls[persistence][kind] = row
      }
    }

    // 2. Per-call counts of storage work and requests, each side in its own page.
    results.counts = {}
    for (const persistence of run('counts') ? ['cookie', 'localStorage'] : []) {
      log(`counts per call, ${persistence} (${COUNT} calls per side)…`)
      results.counts[persistence] = {}
      for (const kind of KINDS) {
        results.counts[persistence][kind] = {}
        for (const side of SIDES[kind]) {
          results.counts[persistence][kind][side] = await inPage(`/${side}.html`, (page) =>
            page.evaluate((o) => window.bench.counts(o), { side, persistence, kind, n: COUNT, apiHost: origin }),
          )
        }
      }
    }

    // 3. CPU profile: main-thread time per call including what each side defers to later tasks
    //    (our delivery queue stores each record in the call and sends after it; mixpanel-browser's
    //    default batching writes its queue after the call and flushes every 5 s), measured by
    //    Chromium's sampling profiler over PROFILED calls and a 6 s wait after them.
    results.profile = {}
    for (const persistence of run('profile') ? ['cookie', 'localStorage'] : []) {
      log(`CPU profile: ${persistence} (${PROFILED} calls per side, then 6 s)…`)
      results.profile[persistence] = {}
      for (const kind of KINDS) {
        results.profile[persistence][kind] = {}
        for (const side of PROFILED_SIDES) {
          const context = await browser.newContext()
          await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort())
          try {
            const page = await context.newPage()
            await page.goto(`${origin}/${side}.html`)
            await page.evaluate((o) => window.bench.prepare(o), { side, persistence, kind, apiHost: origin })
            await page.evaluate((n) => window.bench.batch(n), WARMUP)
            // Let the warm-up's deferred work finish (mixpanel-browser's batches flush every 5 s).
            await page.waitForTimeout(side === 'batched' ? 6000 : 500)
            const cdp = await context.newCDPSession(page)
            await cdp.send('Profiler.enable')
            await cdp.send('Profiler.setSamplingInterval', { interval: 50 })
            await cdp.send('Profiler.start')
            for (let done = 0; done < PROFILED; done += BATCH) await page.evaluate((n) => window.bench.batch(n), Math.min(BATCH, PROFILED - done))
            await page.waitForTimeout(6000)
            const { profile } = await cdp.send('Profiler.stop')
            results.profile[persistence][kind][side] = busyTime(profile, origin, PROFILED)
          } finally {
            await context.close()
          }
        }
      }
    }

    // 4. Start-up: fresh context per load, the variants interleaved (their order rotating); ours − core paired per
    //    load, in each loading mode (inline: `ours`, `core`; src: `ours-src`, `core-src`).
    const init = {}
    for (const mode of INIT_MODES) {
      const suffix = mode === 'src' ? '-src' : ''
      for (const k of ['ours', ...(alt ? ['alt'] : []), 'core', ...(mode === 'inline' ? ['official', 'batched'] : [])]) init[k + suffix] = []
    }
    if (run('init')) log(`start-up (${LOADS} fresh loads each; ${Object.keys(init).join(', ')})…`)
    for (let i = 0; run('init') && i < LOADS; i++) {
      const variants = Object.keys(init)
      for (let k = 0; k < variants.length; k++) {
        const variant = variants[(k + i) % variants.length]
        init[variant].push(await startUp(variant))
      }
    }
    const column = (rows, i) => rows.map((row) => row[i])
    const started = Object.values(init).some((rows) => rows.length > 0)
    // CPU time of the page's main thread (ms), which a busy machine changes far less than the wall clock.
    const pairedCpu = (a, b) => spread(init[a].map((row, i) => row[4] - init[b][i][4]))
    if (started) {
      results.initCpu = Object.fromEntries(Object.entries(init).map(([k, rows]) => [k, spread(column(rows, 4))]))
      // Paired extra CPU of ours over the core per mode ({ inline, src }), and of the experiment's variant over both.
      results.initCpu.extraByMode = {}
      results.initCpu.altByMode = {}
      for (const mode of INIT_MODES) {
        const suffix = mode === 'src' ? '-src' : ''
        results.initCpu.extraByMode[mode] = pairedCpu(`ours${suffix}`, `core${suffix}`)
        if (alt) results.initCpu.altByMode[mode] = { overCore: pairedCpu(`alt${suffix}`, `core${suffix}`), overOurs: pairedCpu(`alt${suffix}`, `ours${suffix}`) }
      }
      if (init.batched) results.initCpu.extraBatched = pairedCpu('ours', 'batched')
      // As before the modes: the inline figure.
      if (init.ours) results.initCpu.extra = results.initCpu.extraByMode.inline
    }
    results.init = Object.fromEntries(
      Object.entries(init)
        .filter(([, rows]) => rows.length > 0)
        .map(([k, rows]) => [k, { ...spread(column(rows, 0)), evaluate: median(column(rows, 1)), start: median(column(rows, 2)), first: median(column(rows, 3)), sent: median(column(rows, 5).filter((x) => x === x)) }]),
    )
    if (init.ours?.length > 0) results.init.extra = spread(init.ours.map((row, i) => row[0] - init.core[i][0]))
    // The same loads under the profiler, ours and the core interleaved: where the extra goes.
    const phases = { ours: [], core: [] }
    if (run('init')) log(`start-up under the CPU profiler (${PROFILED_LOADS} fresh loads each)…`)
    for (let i = 0; run('init') && INIT_MODES.includes('inline') && i < PROFILED_LOADS; i++) {
      phases.ours.push(await startUpProfile('ours', iife))
      phases.core.push(await startUpProfile('core', core))
    }
    if (phases.ours.length > 0) {
      const names = Object.keys(phases.ours[0])
      const total = (row) => names.reduce((sum, name) => sum + row[name], 0)
      const of = (rows) => Object.fromEntries([...names.map((name) => [name, median(rows.map((row) => row[name]))]), ['total', median(rows.map(total))]])
      results.initPhases = {
        ours: of(phases.ours),
        core: of(phases.core),
        extra: of(phases.ours.map((row, i) => Object.fromEntries(names.map((name) => [name, row[name] - phases.core[i][name]])))),
      }
    }

    // 5. Network (only with --only network): EVENTS tracks through ours (its delivery queue, batches of up to 50) and
    // through mixpanel-browser's whole npm core with its default batching (batched.html: the script-tag build's
    // stand-ins remove the batcher from core.js, whose init would throw with batching on).
    results.network = {}
    if (run('network')) log(`network (${EVENTS} tracks each; mixpanel-browser's batching waits for its 5 s flushes)…`)
    for (const side of run('network') ? ['ours', 'batched'] : []) {
      const context = await browser.newContext()
      const counted = await intercept(context)
      const page = await context.newPage()
      await page.goto(`${origin}/${side}.html`)
      const started = Date.now()
      await page.evaluate(async ({ side, count }) => {
        const mp = side === 'ours' ? MixpanelDeviceMode.createAnalytics({ token: 'bench' }) : mixpanelCore.init('bench', { track_pageview: false, api_payload_format: 'json' }, 'direct')
        for (let i = 0; i < count; i++) mp.track('Product Added', { sku: 'SKU-1', price: 9.99, i })
      }, { side, count: EVENTS })
      while (counted.records < EVENTS && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 100))
      await new Promise((r) => setTimeout(r, 1000)) // anything extra (duplicates) would arrive by now
      results.network[side] = { requests: counted.requests, records: counted.records, bodyBytes: counted.bodyBytes, urlBytes: counted.urlBytes, seconds: (Date.now() - started) / 1000 }
      await context.close()
    }
  } finally {
    await browser.close()
    server.close()
  }
  results.requestsServed = seen.requests

  // 6. Bytes.
  const sizes = await measure()
  results.bytes = {
    wrapper: sizes.wrapper.gzip,
    lazy: Object.fromEntries(Object.entries(sizes.lazy).map(([name, size]) => [name, size.gzip])),
    iife: sizes.iife.gzip,
    official: sizes.official.gzip,
    snippet: sizes.snippet.gzip,
    budgets: budgets(sizes),
  }

  report(results)
}

// Targets of ours / hand-written per call (docs/performance.md).
const TARGETS = { identify: 0.6, track: 0.8, page: 0.8, group: 0.8 }
const STARTUP_TARGET = 2

function report(r) {
  log(`\nChromium ${r.chromium}, ${r.cpus} cores (${r.cpu}), ${r.memoryGB} GB, ${r.date}; mixpanelConfig { batch_requests: false } on every side`)
  for (const [persistence, calls] of Object.entries(r.calls)) {
    log(`\nPer-call main-thread time, ${persistence} persistence: ms, median of ${r.rounds} rounds' medians (min–max); ratio = ours / hand-written per round`)
    log(`${pad('call', 10)}${lpad('ours', 18)}${lpad('hand-written', 18)}${lpad('naive', 18)}${lpad('ratio', 18)}${lpad('target', 8)}`)
    for (const [kind, row] of Object.entries(calls)) {
      const cell = (s) => (s ? `${ms(s.median)} (${ms(s.min)}–${ms(s.max)})` : '')
      const ratioCell = `${ratio(row.ratio.median, 1)} (${ratio(row.ratio.min, 1)}–${ratio(row.ratio.max, 1)})`
      const met = row.ratio.median <= TARGETS[kind] ? 'met' : 'MISSED'
      log(`${pad(kind, 10)}${lpad(cell(row.ours), 18)}${lpad(cell(row.hand), 18)}${lpad(cell(row.naive), 18)}${lpad(ratioCell, 18)}${lpad(`≤ ${TARGETS[kind]}`, 8)} ${met}`)
    }
  }
  for (const [persistence, kinds] of Object.entries(r.counts)) {
    log(`\nPer call, ${persistence} persistence: persistence reloads / cookie reads / cookie writes / localStorage reads / localStorage writes / requests`)
    for (const [kind, sides] of Object.entries(kinds)) {
      const cell = (c) => (c ? [c.reloads, c.cookieReads, c.cookieWrites, c.storageReads, c.storageWrites, c.requests].map((x) => Math.round(x * 10) / 10).join(' / ') : '')
      log(`${pad(kind, 10)}ours ${pad(cell(sides.ours), 26)}hand-written ${pad(cell(sides.hand), 26)}${sides.naive ? `naive ${cell(sides.naive)}` : ''}`)
    }
  }
  for (const [persistence, kinds] of Object.entries(r.profile)) {
    log(`\nCPU profile, ${persistence} persistence: main-thread ms per call, in the call + deferred to later tasks = total; ratio = ours / side`)
    log(`(hand: unbatched, as above; batched: mixpanel-browser's default batching, its whole npm core). % = share of the total in storage/cookie/request functions`)
    for (const [kind, sides] of Object.entries(kinds)) {
      const cell = (side) => {
        const p = sides[side]
        const natives = Object.entries(p.native).filter(([, share]) => share >= 3).map(([name, share]) => `${name} ${share}%`).join(', ')
        return `${side} ${ms(p.call)} + ${ms(p.after)} = ${ms(p.total)}${side === 'ours' ? '' : ` (ratio ${ratio(sides.ours.total, p.total)})`}${natives ? ` [${natives}]` : ''}`
      }
      log(`${pad(kind, 10)}${PROFILED_SIDES.map(cell).join(' | ')}`)
    }
  }
  if (r.initCpu) {
    const labels = { ours: 'ours (IIFE)', alt: 'ours, experiment (alt)', core: 'mixpanel core alone', official: 'mixpanel.min.js', batched: 'core, batching (npm)' }
    log('\nStart-up: script evaluation to the first event handed over (ms, median of fresh loads; min–max); sent = its request started, ms after evaluation began')
    log('(inline = the library in the page; src = <script src> from the bench server, no-store, so evaluate includes its fetch)')
    log(`${pad('', 30)}${lpad('total', 20)}${lpad('evaluate', 10)}${lpad('start', 8)}${lpad('track', 8)}${lpad('sent', 8)}${lpad('CPU', 8)}`)
    for (const [k, v] of Object.entries(r.init)) {
      if (k === 'extra') continue
      const [name, mode] = k.endsWith('-src') ? [k.slice(0, -4), 'src'] : [k, 'inline']
      log(`${pad(`${labels[name]}, ${mode}`, 30)}${lpad(`${ms(v.median)} (${ms(v.min)}–${ms(v.max)})`, 20)}${lpad(ms(v.evaluate), 10)}${lpad(ms(v.start), 8)}${lpad(ms(v.first), 8)}${lpad(ms(v.sent), 8)}${lpad(ms(r.initCpu[k].median), 8)}`)
    }
    if (r.init.extra) log(`paired extra wall-clock time of ours over the core, inline: ${ms(r.init.extra.median)} ms (min ${ms(r.init.extra.min)}, max ${ms(r.init.extra.max)}); informative`)
    log('CPU = main-thread CPU time of the whole load (ms, median). The target is the paired extra CPU time of ours over the core, per loading mode:')
    for (const [mode, e] of Object.entries(r.initCpu.extraByMode)) {
      log(`  ${pad(mode, 7)}paired extra CPU time of ours over the core: ${ms(e.median)} ms (min ${ms(e.min)}, max ${ms(e.max)}); target ≤ ${STARTUP_TARGET} ms ${e.median <= STARTUP_TARGET ? 'met' : 'MISSED'}`)
    }
    for (const [mode, a] of Object.entries(r.initCpu.altByMode)) {
      log(`  ${pad(mode, 7)}experiment (alt): paired extra CPU over the core ${ms(a.overCore.median)} ms (min ${ms(a.overCore.min)}, max ${ms(a.overCore.max)}); over ours ${ms(a.overOurs.median)} ms (min ${ms(a.overOurs.min)}, max ${ms(a.overOurs.max)})`)
    }
    const b = r.initCpu.extraBatched
    if (b) {
      log(`  beside it, not the target: paired extra CPU of ours over mixpanel-browser with its own batching, inline (batch_requests: true, its localStorage queue;`)
      log(`  its whole npm core, coreAlone(true): the script-tag build's stand-ins remove the batcher; first request after its 5 s flush): ${ms(b.median)} ms (min ${ms(b.min)}, max ${ms(b.max)})`)
    }
  }
  if (r.initPhases) {
    const p = r.initPhases
    const names = Object.keys(p.ours)
    log(`\nStart-up under the CPU profiler (ms per load, median of ${PROFILED_LOADS} fresh loads each; the profiler slows everything): evaluate = the library's script`)
    log('(compiling and running the bundle), start = createAnalytics()/init() + track(), later = later tasks of the scripts (our sender, timers, answers),')
    log('browser = not in a script (HTML parsing, compiling before a script runs, layout, IPC), gc = garbage collection')
    log(`${pad('', 22)}${names.map((name) => lpad(name, 10)).join('')}`)
    for (const [k, label] of [['ours', 'ours (IIFE)'], ['core', 'mixpanel core alone'], ['extra', 'ours − core, paired']]) log(`${pad(label, 22)}${names.map((name) => lpad(ms(p[k][name]), 10)).join('')}`)
  }
  if (Object.keys(r.network).length > 0) log(`\nNetwork: ${EVENTS} tracks; ours: its delivery queue; batched: mixpanel-browser's whole npm core, default batching`)
  for (const [k, v] of Object.entries(r.network)) log(`${pad(k, 10)}${lpad(v.requests, 5)} requests, ${v.records} records, ${v.bodyBytes} body bytes (+${v.urlBytes} URL bytes), ${v.seconds.toFixed(1)} s`)
  log('\nBytes (gzipped)')
  log(`createAnalytics (ESM, without mixpanel-browser) ${r.bytes.wrapper} (budget ${r.bytes.budgets.wrapper})`)
  for (const [name, size] of Object.entries(r.bytes.lazy)) log(`  its lazy chunk ${name} ${size} (budget ${r.bytes.budgets.lazy[name]})`)
  log(`mixpanel-device-mode.iife.js ${r.bytes.iife} (budget ${r.bytes.budgets.iife}); mixpanel.min.js ${r.bytes.official}; snippet.min.js ${r.bytes.snippet} (budget ${r.bytes.budgets.snippet})`)
  console.log(JSON.stringify({ bench: 'browser', ...r }))
}

await main()
