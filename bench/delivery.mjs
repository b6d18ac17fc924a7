#!/usr/bin/env node
// Delivery bench (`npm run bench:delivery`, also part of `npm run bench`): a
// script that prints numbers, never a test. Two parts, each measured for this
// project's script-tag build ("ours") and for plain mixpanel-browser in the
// same run, in Debian's Chromium, against a local HTTPS server (nothing leaves
// the machine):
//
// - matrix: the delivery fault matrix of e2e/delivery-matrix (same scenarios,
//   same harness): delivered / lost / raw duplicates per scenario.
// - memory: 20,000 tracks at 2,000/s (20 every 10 ms) during an API outage
//   (every request answered 500) with localStorage persistence: renderer RSS
//   growth (from /proc) and the longest main-thread task ('longtask').
//
//   node bench/delivery.mjs [--only matrix,memory] [--libs ours,plain] [--scenarios link-1,http-500]
//                           [--events 20000] [--rate 2000] [--rss-cap-mb 2000] [--max-seconds 90] [--json-only] [--profile]
import { readFileSync, readdirSync } from 'node:fs'
import { chromium } from 'playwright'
import { CHROMIUM, chromiumArgs, startHarness } from '../e2e/delivery-matrix/harness.mjs'
import { LIBS, SCENARIOS, runScenario, startMatrix } from '../e2e/delivery-matrix/scenarios.mjs'

const argv = process.argv
const option = (name, fallback) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : fallback)
const ONLY = option('only', 'matrix,memory').split(',')
const LIB_NAMES = option('libs', 'ours,plain').split(',')
const PICKED = option('scenarios', '') ? option('scenarios', '').split(',') : null
const EVENTS = Number(option('events', 20_000))
const RATE = Number(option('rate', 2_000))
const RSS_CAP_MB = Number(option('rss-cap-mb', 2_000))
const MAX_SECONDS = Number(option('max-seconds', 90))
const JSON_ONLY = argv.includes('--json-only')
/** The targets of the memory part (docs/delivery.md, "Bounds"). */
const TARGET_RSS_MB = 100
const TARGET_TASK_MS = 50
// A CPU profile of the memory run: where the longest busy stretch (≈ the longest task) and the whole burst spend their time.
const PROFILE = argv.includes('--profile')
const log = (...lines) => JSON_ONLY || console.log(...lines)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// --- matrix ------------------------------------------------------------------

async function matrix() {
  const scenarios = SCENARIOS.filter((s) => !PICKED || PICKED.includes(s.name))
  const results = {}
  const started = Date.now()
  const { harness, browser, stop } = await startMatrix()
  try {
    for (const scenario of scenarios) {
      results[scenario.name] = {}
      for (const lib of LIB_NAMES) {
        const r = await runScenario(browser, harness, scenario, lib)
        results[scenario.name][lib] = {
          expected: r.expected,
          delivered: r.delivered,
          lost: r.lost.length,
          rawDuplicates: r.rawDuplicates,
          countedTwice: r.countedTwice.length,
          ...(r.retryAfterMs !== undefined ? { retryAfterMs: r.retryAfterMs } : {}),
          ...(r.notes.length ? { notes: r.notes } : {}),
        }
      }
    }
  } finally {
    await stop()
  }
  const seconds = (Date.now() - started) / 1000
  const cell = (r) => (r ? `${r.delivered}/${r.expected} lost ${r.lost} dup ${r.rawDuplicates}${r.countedTwice ? ` twice ${r.countedTwice}` : ''}` : '')
  log(`\nDelivery matrix (${scenarios.length} scenarios × ${LIB_NAMES.join(', ')}; ${seconds.toFixed(0)} s): delivered/owed, lost, raw duplicates on the wire`)
  log(`${'scenario'.padEnd(18)}${LIB_NAMES.map((l) => LIBS[l].label.padEnd(36)).join('')}`)
  for (const [name, byLib] of Object.entries(results)) {
    log(`${name.padEnd(18)}${LIB_NAMES.map((l) => cell(byLib[l]).padEnd(36)).join('')}`)
    for (const l of LIB_NAMES) {
      const r = byLib[l]
      const extra = [...(r.notes ?? []), ...(r.retryAfterMs !== undefined ? [`first retry after a 429 came ${r.retryAfterMs ?? '–'} ms later (Retry-After: 2)`] : [])]
      if (extra.length) log(`${''.padEnd(18)}  ${l}: ${extra.join('; ')}`)
    }
  }
  const totals = Object.fromEntries(LIB_NAMES.map((l) => [l, Object.values(results).reduce((sum, byLib) => ({ owed: sum.owed + byLib[l].expected, lost: sum.lost + byLib[l].lost, rawDuplicates: sum.rawDuplicates + byLib[l].rawDuplicates }), { owed: 0, lost: 0, rawDuplicates: 0 })]))
  log(`${'total'.padEnd(18)}${LIB_NAMES.map((l) => `lost ${totals[l].lost} of ${totals[l].owed}, dup ${totals[l].rawDuplicates}`.padEnd(36)).join('')}`)
  return { seconds: Math.round(seconds), totals, scenarios: results }
}

// --- memory ------------------------------------------------------------------

/** RSS (bytes) of every renderer process descending from this script (one browser at a time here), from /proc. */
function rendererRss(rootPid = process.pid) {
  const children = new Map()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (!children.has(ppid)) children.set(ppid, [])
      children.get(ppid).push(Number(entry))
    } catch {
      // the process ended meanwhile
    }
  }
  let total = 0
  const pending = [...(children.get(rootPid) ?? [])]
  while (pending.length) {
    const pid = pending.pop()
    pending.push(...(children.get(pid) ?? []))
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer')) continue
      const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (rss) total += Number(rss[1]) * 1024
    } catch {
      // the process ended meanwhile
    }
  }
  return total
}

function memoryPage(lib, token) {
  const config = { persistence: 'localStorage' }
  const setup = lib === 'ours'
    ? `const analytics = MixpanelDeviceMode.createAnalytics({ token: '${token}', mixpanelConfig: ${JSON.stringify(config)} })
       window.track = (event, properties) => { analytics.track(event, properties) }`
    : `mixpanel.init('${token}', ${JSON.stringify(config)})
       window.track = (event, properties) => { mixpanel.track(event, properties) }`
  return `<!doctype html><html><head><meta charset="utf-8"><script src="${LIBS[lib].script}"></script></head><body><script>
    window.longest = 0
    window.longTasks = 0
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        longTasks++
        longest = Math.max(longest, entry.duration)
      }
    }).observe({ type: 'longtask', buffered: true })
    ${setup}
    // A burst every 10 ms, scheduled against the clock so a slow page cannot stretch the rate.
    window.burst = (total, perTick, tickMs) => {
      const t0 = performance.now()
      let sent = 0
      const tick = () => {
        for (let i = 0; i < perTick && sent < total; i++) track('Bench Event', { i: sent++, at: Date.now() })
        window.sent = sent
        if (sent >= total) return void (window.burstMs = performance.now() - t0)
        setTimeout(tick, Math.max(0, t0 + (sent / perTick) * tickMs - performance.now()))
      }
      tick()
    }
    window.ready = true
  </script></body></html>`
}

/** Evaluates in the page, or gives `fallback` if the page does not answer within `ms` (its main thread is busy). */
async function ask(page, fn, ms, fallback) {
  return Promise.race([page.evaluate(fn).catch(() => fallback), sleep(ms).then(() => fallback)])
}


/**
 * The renderer main thread's tasks from a Chromium trace ('toplevel'): the
 * longest in wall time and in thread CPU time. CPU time is what the page's
 * code costs; wall time also counts the moments the OS ran something else
 * (2 cores shared by several benchmarks here), which the 'longtask' entries
 * include too.
 */
function mainThreadTasks(trace) {
  const events = JSON.parse(trace.toString('utf8')).traceEvents ?? []
  const main = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`))
  let wall = 0
  let count = 0
  let longest = null
  for (const e of events) {
    if (e.ph !== 'X' || !main.has(`${e.pid}:${e.tid}`) || !/RunTask$/.test(e.name)) continue
    count++
    wall = Math.max(wall, e.dur ?? 0)
    if (!longest || (e.tdur ?? 0) > (longest.tdur ?? 0)) longest = e
  }
  // What ran inside the longest task (CPU time): timeline events nested in it, by name (GC, timers, script).
  const inside = {}
  if (longest) {
    for (const e of events) {
      if (e === longest || e.ph !== 'X' || e.pid !== longest.pid || e.tid !== longest.tid || e.ts < longest.ts || e.ts > longest.ts + longest.dur) continue
      const name = e.name === 'FunctionCall' ? `FunctionCall ${e.args?.data?.functionName || ''}`.trim() : e.name
      inside[name] = Math.round(((inside[name] ?? 0) + (e.tdur ?? e.dur ?? 0) / 1000) * 10) / 10
    }
  }
  const top = Object.fromEntries(Object.entries(inside).filter(([, ms]) => ms >= 0.5).sort((a, b) => b[1] - a[1]).slice(0, 8))
  return { tasks: count, longestWallMs: Math.round(wall / 100) / 10, longestCpuMs: Math.round((longest?.tdur ?? 0) / 100) / 10, longestCpuInside: top }
}

/**
 * Attribution from a CDP CPU profile: the longest stretch of consecutive busy
 * samples (not "(idle)") approximates the longest main-thread task; its self
 * time per function, and the whole run's, top `n` each.
 */
function summarizeProfile(profile, n = 12) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const label = (id) => {
    const { functionName, url, lineNumber, columnNumber } = nodes.get(id).callFrame
    return `${functionName || '(anonymous)'} ${url ? `${url.split("/").pop()}:${lineNumber + 1}:${columnNumber + 1}` : ''}`.trim()
  }
  const idle = (id) => nodes.get(id).callFrame.functionName === '(idle)'
  const top = (from, to) => {
    const self = new Map()
    let total = 0
    for (let i = from; i < to; i++) {
      const ms = profile.timeDeltas[i + 1] !== undefined ? profile.timeDeltas[i + 1] / 1000 : 0
      const name = label(profile.samples[i])
      self.set(name, (self.get(name) ?? 0) + ms)
      total += ms
    }
    return [...self].sort((a, b) => b[1] - a[1]).slice(0, n).map(([fn, ms]) => ({ fn, ms: Math.round(ms * 10) / 10, share: Math.round((ms / total) * 1000) / 10 }))
  }
  let best = { from: 0, to: 0, ms: 0 }
  let from = -1
  let ms = 0
  for (let i = 0; i <= profile.samples.length; i++) {
    const busy = i < profile.samples.length && !idle(profile.samples[i])
    if (busy) {
      if (from < 0) (from = i), (ms = 0)
      ms += (profile.timeDeltas[i + 1] ?? 0) / 1000
    } else if (from >= 0) {
      if (ms > best.ms) best = { from, to: i, ms }
      from = -1
    }
  }
  return { longestBusyMs: Math.round(best.ms), longestBusy: top(best.from, best.to), whole: top(0, profile.samples.length) }
}

async function memoryRun(lib) {
  const harness = await startHarness()
  // The outage: every API request is answered 500 for the whole run.
  harness.fault = () => ({ status: 500 })
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: chromiumArgs(harness) })
  const result = { lib, events: EVENTS, ratePerSecond: RATE }
  let crashed = false
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true })
    const page = await context.newPage()
    page.on('crash', () => (crashed = true))
    const token = `memory-${lib}`
    await page.goto(harness.page(`/memory-${lib}.html`, memoryPage(lib, token)))
    await page.waitForFunction(() => window.ready === true)
    await sleep(500)
    const baseline = rendererRss()
    const heapBaseline = (await ask(page, () => performance.memory?.totalJSHeapSize, 1000, 0)) ?? 0
    let peak = baseline
    const perTick = Math.max(1, Math.round(RATE / 100))
    await browser.startTracing(page, { categories: ['toplevel', 'devtools.timeline', 'v8'] })
    const cdp = PROFILE ? await context.newCDPSession(page) : null
    if (cdp) {
      await cdp.send('Profiler.enable')
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 })
      await cdp.send('Profiler.start')
    }
    await page.evaluate(({ total, perTick }) => window.burst(total, perTick, 10), { total: EVENTS, perTick })
    const started = Date.now()
    let doneAt = 0
    let unresponsiveMs = 0
    // The longest stretch the page did not answer: a floor for its longest task when it never answers again.
    let stallStart = 0
    let longestStallMs = 0
    // Bounded: stops at the end of the burst + 3 s, at --max-seconds, at the RSS cap, or when the renderer crashes.
    while (!crashed) {
      const asked = Date.now()
      const state = await ask(page, () => ({ sent: window.sent ?? 0, burstMs: window.burstMs }), 1000, null)
      if (state) result.tracked = state.sent
      if (state === null) {
        unresponsiveMs += Date.now() - asked
        stallStart ||= asked
        longestStallMs = Math.max(longestStallMs, Date.now() - stallStart)
      } else stallStart = 0
      peak = Math.max(peak, rendererRss())
      if (state?.burstMs !== undefined && !doneAt) {
        doneAt = Date.now()
        result.burstSeconds = Math.round(state.burstMs / 100) / 10
      }
      if (doneAt && Date.now() - doneAt > 3000) break
      if (peak - baseline > RSS_CAP_MB * 1024 * 1024) {
        result.stopped = `renderer RSS grew past the ${RSS_CAP_MB} MB cap`
        break
      }
      if (Date.now() - started > MAX_SECONDS * 1000) {
        result.stopped = `burst not finished after ${MAX_SECONDS} s (${result.tracked ?? '?'} of ${EVENTS} tracked)`
        break
      }
      await sleep(250)
    }
    if (cdp && !crashed) result.profile = summarizeProfile((await cdp.send('Profiler.stop')).profile)
    if (!crashed) {
      const tasks = mainThreadTasks(await browser.stopTracing())
      result.longestTaskCpuMs = tasks.longestCpuMs
      result.longestTaskWallMs = tasks.longestWallMs
      result.longestTaskCpuInside = tasks.longestCpuInside
    }
    result.rssGrowthMb = Math.round((peak - baseline) / 1024 / 1024)
    result.rssBaselineMb = Math.round(baseline / 1024 / 1024)
    result.unresponsiveSeconds = Math.round(unresponsiveMs / 100) / 10
    result.longestStallMs = longestStallMs
    if (crashed) result.stopped = 'Target crashed (the renderer died)'
    else {
      const tasks = await ask(page, () => ({ longest: window.longest, count: window.longTasks, heap: performance.memory?.totalJSHeapSize, queued: localStorage.length ? Object.keys(localStorage).reduce((n, key) => n + (localStorage.getItem(key) ?? '').length, 0) : 0 }), 5000, null)
      if (tasks) {
        result.longestTaskMs = Math.round(tasks.longest)
        result.longTasks = tasks.count
        result.localStorageKb = Math.round(tasks.queued / 1024)
        // The JS heap's share of the RSS (the rest: native memory, localStorage's cache, code).
        result.jsHeapGrowthMb = Math.round(((tasks.heap ?? 0) - heapBaseline) / 1024 / 1024)
      } else result.longestTaskMs = null
      if (result.longestTaskMs === null && longestStallMs) result.longestTaskAtLeastMs = longestStallMs
    }
  } catch (error) {
    result.stopped = crashed ? 'Target crashed (the renderer died)' : `error: ${String(error).split('\n')[0]}`
  } finally {
    await Promise.race([browser.close().catch(() => {}), sleep(15_000)])
    await harness.close()
  }
  result.apiRequests = harness.requests.length
  return result
}

async function memory() {
  const results = {}
  for (const lib of LIB_NAMES) results[lib] = await memoryRun(lib)
  log(`\nMemory: ${EVENTS} tracks at ${RATE}/s during an API outage (500s), persistence localStorage, batching as shipped`)
  log(`target (ours): renderer RSS growth < ${TARGET_RSS_MB} MB, no main-thread task over ${TARGET_TASK_MS} ms`)
  log(`${'library'.padEnd(24)}${'RSS growth'.padEnd(20)}${'longest task'.padEnd(15)}${'… CPU time'.padEnd(13)}${'… wall (trace)'.padEnd(16)}${'unresponsive'.padEnd(14)}${'burst took'.padEnd(12)}note`)
  const ms = (value) => (value != null ? `${value} ms` : '–')
  for (const lib of LIB_NAMES) {
    const r = results[lib]
    log(
      `${LIBS[lib].label.padEnd(24)}${`${r.rssGrowthMb ?? '–'} MB${r.jsHeapGrowthMb != null ? ` (JS ${r.jsHeapGrowthMb})` : ''}`.padEnd(20)}${(r.longestTaskMs != null ? `${r.longestTaskMs} ms` : r.longestTaskAtLeastMs ? `≥ ${r.longestTaskAtLeastMs} ms` : '–').padEnd(15)}` +
        `${ms(r.longestTaskCpuMs).padEnd(13)}${ms(r.longestTaskWallMs).padEnd(16)}${`${r.unresponsiveSeconds ?? '–'} s`.padEnd(14)}${`${r.burstSeconds ?? '–'} s`.padEnd(12)}${r.stopped ?? ''}`,
    )
  }
  log(`longest task: PerformanceObserver 'longtask' (wall time); CPU time / wall: the renderer main thread's tasks in a Chromium trace. On a busy machine wall time includes time the OS gave to other processes; CPU time does not.`)
  for (const lib of LIB_NAMES) {
    const inside = Object.entries(results[lib].longestTaskCpuInside ?? {}).sort((a, b) => b[1] - a[1]).slice(0, 8)
    if (inside.length) log(`${LIBS[lib].label}: inside its longest task (CPU ms, nested events): ${inside.map(([name, ms]) => `${name} ${ms}`).join(', ')}`)
  }
  for (const lib of LIB_NAMES) {
    const profile = results[lib].profile
    if (!profile) continue
    log(`\n${LIBS[lib].label}: CPU profile, longest busy stretch ${profile.longestBusyMs} ms (self time, top functions)`)
    for (const row of profile.longestBusy) log(`  ${String(row.ms).padStart(8)} ms ${String(row.share).padStart(5)} %  ${row.fn}`)
    log(`${LIBS[lib].label}: whole run (self time, top functions)`)
    for (const row of profile.whole) log(`  ${String(row.ms).padStart(8)} ms ${String(row.share).padStart(5)} %  ${row.fn}`)
  }
  return results
}

const out = { chromium: CHROMIUM }
if (ONLY.includes('matrix')) out.matrix = await matrix()
if (ONLY.includes('memory')) out.memory = await memory()
console.log(JSON.stringify({ bench: 'delivery', ...out }))
