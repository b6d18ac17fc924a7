import { expect, test } from '@playwright/test'
import { SCENARIOS, runScenario, startMatrix } from './scenarios.mjs'

// Every event whose call resolved reaches the Mixpanel API once (after
// $insert_id dedupe) across navigation, tab close, the back/forward cache and
// transport faults, on the script-tag build with default settings. Each test
// prints its figures (raw duplicates included). docs/delivery-tests.md.

type Matrix = Awaited<ReturnType<typeof startMatrix>>
let matrix: Matrix
const started = Date.now()
const results: Record<string, unknown>[] = []


test.beforeAll(async () => {
  matrix = await startMatrix()
})

test.afterAll(async () => {
  await matrix?.stop()
  console.log(`delivery matrix: ${results.length} scenarios in ${((Date.now() - started) / 1000).toFixed(1)} s`)
})

for (const scenario of SCENARIOS) {
  test(`${scenario.name}: ${scenario.title}`, async () => {
    const result = await runScenario(matrix.browser, matrix.harness, scenario, 'ours')
    results.push(result)
    console.log(
      `${scenario.name}: delivered ${result.delivered}/${result.expected}, raw copies ${result.rawCopies}, ` +
        `raw duplicates ${result.rawDuplicates}${result.notes.length ? ` (${result.notes.join('; ')})` : ''}`,
    )
    expect(result.notes.filter((note: string) => note.startsWith('error:') || note.includes('threw'))).toEqual([])
    expect(result.lost).toEqual([])
    expect(result.countedTwice).toEqual([])
    if (scenario.name === 'bfcache') expect(result.notes).toContain('restored from the back/forward cache')
    // Retry-After: 2 — the next request may not come sooner (a lower bound; lateness never fails it).
    if (scenario.name === 'http-429') expect(result.retryAfterMs).toBeGreaterThanOrEqual(2000)
  })
}
