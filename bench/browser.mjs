#!/usr/bin/env node
// Browser benchmark (`npm run bench`): a script that prints numbers, never a
// test. Everything is measured side by side in the same run, in Debian's
// Chromium, against mixpanel-browser used directly, because these machines are
// noisy. All Mixpanel traffic is intercepted locally; nothing leaves the host.
//
//   node bench/browser.mjs [--calls 2000] [--warmup 200] [--loads 40] [--events 1000] [--only calls,counts,init,network] [--json-only]
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import commonjs from '@rollup/plugin-commonjs'
import { nodeResolve } from '@rollup/plugin-node-resolve'
import terser from '@rollup/plugin-terser'
import { chromium } from '@playwright/test'
import { rollup } from 'rollup'
import { mixpanelStubs, TERSER } from '../rollup.config.mjs'
import { budgets, measure } from '../scripts/size.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}
const CALLS = arg('calls', 2000)
const WARMUP = arg('warmup', 200)
const LOADS = arg('loads', 40)
const EVENTS = arg('events', 1000)
const JSON_ONLY = process.argv.includes('--json-only')
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1].split(',') : ['calls', 'counts', 'init', 'network']
const run = (section) => ONLY.includes(section)
const log = (...lines) => JSON_ONLY || console.log(...lines)

// Same launch as playwright.config.ts.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic']
const MIXPANEL = /^https:\/\/api(-js|-eu|-in)?\.mixpanel\.com\//

/** mixpanel-browser's core alone, built exactly as the IIFE builds it (same stand-ins, same terser). */
async function coreAlone() {
  const entry = '\0bench-core'
  const bundle = await rollup({
    input: entry,
    plugins: [
      { name: 'entry', resolveId: (id) => (id === entry ? id : null), load: (id) => (id === entry ? "import mixpanel from 'mixpanel-browser/src/loaders/loader-module-core'; window.mixpanelCore = mixpanel" : null) },
      mixpanelStubs(),
      nodeResolve({ browser: true }),
      commonjs(),
    ],
    onwarn: () => {},
  })
  const { output } = await bundle.generate({ format: 'iife', generatedCode: 'es2015', plugins: [terser(TERSER)] })
  await bundle.close()
  return output[0].code
}

async function startServer(files) {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
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
  return { server, origin: `http://127.0.0.1:${server.address().port}` }
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

const ratio = (a, b) => Math.round((a / b) * 100) / 100
const ms = (x) => (x < 0.1 ? x.toFixed(3) : x.toFixed(2))
const pad = (s, n) => String(s).padEnd(n)
const lpad = (s, n) => String(s).padStart(n)

async function main() {
  const iife = await readFile(`${ROOT}dist/mixpanel-device-mode.iife.js`, 'utf8')
  const official = await readFile(`${ROOT}node_modules/mixpanel-browser/dist/mixpanel.min.js`, 'utf8')
  const harness = await readFile(`${ROOT}bench/pages/harness.js`, 'utf8')
  const core = await coreAlone()
  const pageHtml = `<!doctype html><html><head><meta charset="utf-8"><title>Bench Page</title>
<script src="/iife.js"></script><script src="/harness.js"></script></head><body><h1>bench</h1></body></html>`
  // Initialisation: the library inline (no network, no code cache), timed from
  // just before its evaluation to the first event queued.
  const initPage = (library, create, first) => `<!doctype html><html><head><meta charset="utf-8"><title>Init</title>
<script>window.t0 = performance.now()</script><script>${library}</script><script>window.t1 = performance.now()</script>
<script>window.a = ${create}; window.t2 = performance.now(); ${first}; window.t3 = performance.now()</script></head><body></body></html>`
  const CONFIG = "{ track_pageview: false, api_payload_format: 'json' }"
  const files = {
    '/bench.html': pageHtml,
    '/iife.js': iife,
    '/harness.js': harness,
    '/init-ours.html': initPage(iife, "MixpanelDeviceMode.createAnalytics({ token: 'init-token' })", "a.track('First')"),
    '/init-core.html': initPage(core, `mixpanelCore.init('init-token', ${CONFIG}, 'direct')`, "a.track('First')"),
    // mixpanel.min.js is the snippet build: it needs the snippet's stub object first.
    '/init-official.html': initPage(official, `(mixpanel.init('init-token', ${CONFIG}, 'direct'), mixpanel.direct)`, "a.track('First')").replace(
      '<script>window.t0',
      '<script>window.mixpanel = { __SV: 1.2, _i: [] }</script><script>window.t0',
    ),
  }
  const { server, origin } = await startServer(files)
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true })
  const version = browser.version()
  const results = { date: new Date().toISOString().slice(0, 10), chromium: version, cpus: cpus().length, cpu: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 2 **30) }

  try {
    // 1. Per-call main-thread time, both persistences.
    results.calls = {}
    for (const persistence of run('calls') ? ['cookie', 'localStorage'] : []) {
      log(`per-call times, ${persistence} persistence (${CALLS} calls each, ${WARMUP} warm-up)…`)
      results.calls[persistence] = {}
      // A fresh page per kind of call: in one page, Chromium 156's renderer grew
      // past 9 GB and crashed during the fourth loop with localStorage persistence.
      for (const kind of ['identify', 'track', 'page', 'group']) {
        const context = await browser.newContext()
        await intercept(context)
        const page = await context.newPage()
        await page.goto(`${origin}/bench.html`)
        const isolated = await page.evaluate(() => self.crossOriginIsolated)
        if (!isolated) log('warning: the page is not cross-origin isolated; timer resolution is 100 µs')
        Object.assign(results.calls[persistence], await page.evaluate((o) => window.bench.calls(o), { persistence, n: CALLS, warmup: WARMUP, kind }))
        await context.close()
      }
    }

    // 2. Mixpanel calls, and records sent, per analytics call.
    results.counts = {}
    if (run('counts')) {
      const context = await browser.newContext()
      const seen = await intercept(context)
      const page = await context.newPage()
      await page.goto(`${origin}/bench.html`)
      await page.evaluate(() => window.bench.countSetup())
      const settle = () => new Promise((resolve) => setTimeout(resolve, 1500))
      await settle()
      for (const kind of ['identify', 'track', 'page', 'group']) {
        const before = { ...seen.byToken }
        const calls = await page.evaluate((k) => window.bench.count(k), kind)
        await settle()
        const sent = (token) => (seen.byToken[token] ?? 0) - (before[token] ?? 0)
        results.counts[kind] = { ...calls, records: { ours: sent('bench-ours'), direct: sent('bench-hand'), naive: sent('bench-naive') } }
      }
      await context.close()
    }

    // 3. Initialisation cost: fresh context per load, the three variants interleaved.
    const init = { ours: [], core: [], official: [] }
    if (run('init')) log(`initialisation (${LOADS} fresh loads each)…`)
    for (let i = 0; run('init') && i < LOADS; i++) {
      for (const variant of Object.keys(init)) {
        const context = await browser.newContext()
        await intercept(context)
        const page = await context.newPage()
        await page.goto(`${origin}/init-${variant}.html`)
        init[variant].push(await page.evaluate(() => [window.t3 - window.t0, window.t1 - window.t0, window.t2 - window.t1, window.t3 - window.t2]))
        await context.close()
      }
    }
    const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    const column = (rows, i) => rows.map((row) => row[i])
    results.init = Object.fromEntries(
      Object.entries(init)
        .filter(([, rows]) => rows.length > 0)
        .map(([k, rows]) => [k, { median: med(column(rows, 0)), min: Math.min(...column(rows, 0)), max: Math.max(...column(rows, 0)), evaluate: med(column(rows, 1)), start: med(column(rows, 2)), first: med(column(rows, 3)) }]),
    )

    // 4. Network: EVENTS tracks with default batching, each side in its own context.
    results.network = {}
    if (run('network')) log(`network (${EVENTS} tracks each, default batching; waits for the 5 s flushes)…`)
    for (const side of run('network') ? ['ours', 'direct'] : []) {
      const context = await browser.newContext()
      const seen = await intercept(context)
      const page = await context.newPage()
      await page.goto(`${origin}/bench.html`)
      const token = side === 'ours' ? 'bench-ours' : 'bench-hand'
      const started = Date.now()
      await page.evaluate((o) => window.bench.network(o), { side, count: EVENTS })
      while ((seen.byToken[token] ?? 0) < EVENTS && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 100))
      await new Promise((r) => setTimeout(r, 1000)) // anything extra (duplicates) would arrive by now
      results.network[side] = { requests: seen.requests, records: seen.records, bodyBytes: seen.bodyBytes, urlBytes: seen.urlBytes, seconds: (Date.now() - started) / 1000 }
      await context.close()
    }
  } finally {
    await browser.close()
    server.close()
  }

  // 5. Bytes.
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

function report(r) {
  log(`\nChromium ${r.chromium}, ${r.cpus} cores (${r.cpu}), ${r.date}`)
  for (const [persistence, calls] of Object.entries(r.calls)) {
    log(`\nPer-call main-thread time, ${persistence} persistence (ms; ratio = ours / direct)`)
    log(`${pad('call', 10)}${lpad('ours med', 10)}${lpad('direct med', 12)}${lpad('ratio', 7)}${lpad('ours p95', 10)}${lpad('direct p95', 12)}${lpad('ratio', 7)}`)
    for (const [kind, { ours, direct }] of Object.entries(calls)) {
      log(`${pad(kind, 10)}${lpad(ms(ours.median), 10)}${lpad(ms(direct.median), 12)}${lpad(ratio(ours.median, direct.median), 7)}${lpad(ms(ours.p95), 10)}${lpad(ms(direct.p95), 12)}${lpad(ratio(ours.p95, direct.p95), 7)}`)
    }
  }
  if (Object.keys(r.counts).length > 0) log('\nMixpanel calls (and records sent) per analytics call; ours also reads state')
  if (Object.keys(r.counts).length > 0) log(`${pad('call', 10)}${lpad('ours', 9)}${lpad('by hand', 9)}${lpad('naive', 9)}  ours`)
  for (const [kind, c] of Object.entries(r.counts)) {
    const cell = (side) => `${c[side].length} (${c.records[side]})`
    log(`${pad(kind, 10)}${lpad(cell('ours'), 9)}${lpad(cell('direct'), 9)}${lpad(cell('naive'), 9)}  ${c.ours.join(', ')} (+${c.oursReads} reads)`)
  }
  if (Object.keys(r.init).length > 0) log('\nInitialisation: script evaluation to first event queued (ms, median of fresh loads)')
  if (Object.keys(r.init).length > 0) log(`${pad('', 22)}${lpad('total', 8)}${lpad('evaluate', 10)}${lpad('start', 8)}${lpad('track', 8)}`)
  for (const [k, v] of Object.entries(r.init)) {
    log(`${pad({ ours: 'ours (IIFE)', core: 'mixpanel core alone', official: 'mixpanel.min.js' }[k], 22)}${lpad(ms(v.median), 8)}${lpad(ms(v.evaluate), 10)}${lpad(ms(v.start), 8)}${lpad(ms(v.first), 8)}  (total min ${ms(v.min)}, max ${ms(v.max)})`)
  }
  if (Object.keys(r.network).length > 0) log(`\nNetwork: ${EVENTS} tracks, default batching`)
  for (const [k, v] of Object.entries(r.network)) log(`${pad(k, 10)}${lpad(v.requests, 5)} requests, ${v.records} records, ${v.bodyBytes} body bytes (+${v.urlBytes} URL bytes), ${v.seconds.toFixed(1)} s`)
  log('\nBytes (gzipped)')
  log(`createAnalytics (ESM, without mixpanel-browser) ${r.bytes.wrapper} (budget ${r.bytes.budgets.wrapper})`)
  for (const [name, size] of Object.entries(r.bytes.lazy)) log(`  its lazy chunk ${name} ${size} (budget ${r.bytes.budgets.lazy[name]})`)
  log(`mixpanel-device-mode.iife.js ${r.bytes.iife} (budget ${r.bytes.budgets.iife}); mixpanel.min.js ${r.bytes.official}; snippet.min.js ${r.bytes.snippet} (budget ${r.bytes.budgets.snippet})`)
  console.log(JSON.stringify({ bench: 'browser', ...r }))
}

await main()
