import type { FullResult, Reporter, TestCase, TestResult } from '@playwright/test/reporter'

// Per-engine counts (`chromium 14/14, firefox 14/14, webkit 14/14`), each
// engine's start-up and scenario times, and a last line `N passed, N failed`.

const ENGINE_ORDER = ['chromium', 'firefox', 'webkit', 'pw-firefox', 'pw-webkit']

interface EngineTally {
  passed: number
  known: number
  total: number
  ms: number
  startup?: string
  slowest: Array<[string, number]>
}

export default class EngineReporter implements Reporter {
  private readonly tallies = new Map<string, EngineTally>()
  private readonly known: string[] = []
  private passed = 0
  private failed = 0
  private started = Date.now()

  onBegin(): void {
    this.started = Date.now()
  }

  onStdOut(chunk: string | Buffer): void {
    const match = /^\[engine\] (\S+) started in (\d+) ms: (.*)$/m.exec(String(chunk))
    if (match) this.tally(match[1]!).startup = `${match[2]} ms (${match[3]})`
  }

  onTestEnd(test: TestCase, result: TestResult): void {
    // Only the final attempt of a test counts.
    if (result.retry < test.retries && result.status !== 'passed' && result.status !== 'skipped') return
    const tally = this.tally(test.parent.project()?.name ?? 'unknown')
    tally.ms += result.duration
    tally.slowest.push([test.title, result.duration])
    // Skipped: a known issue (scenario.knownIssue) that reproduced, neither passed nor failed.
    if (result.status === 'skipped') {
      const known = result.annotations.some((a) => a.type === 'known issue')
      tally.known++
      this.known.push(`${test.parent.project()?.name}: ${test.title}${known ? '' : ' (skipped)'}`)
      return
    }
    tally.total++
    if (result.status === 'passed') {
      tally.passed++
      this.passed++
    } else {
      this.failed++
    }
  }

  onEnd(result: FullResult): void {
    const lines = ['', 'engines:']
    const tallies = [...this.tallies].sort(([a], [b]) => ENGINE_ORDER.indexOf(a) - ENGINE_ORDER.indexOf(b))
    for (const [name, t] of tallies) {
      const slowest = [...t.slowest].sort((a, b) => b[1] - a[1]).slice(0, 3)
      lines.push(`  ${name}: start-up ${t.startup ?? 'n/a'}; scenarios ${t.ms} ms in all; slowest ${slowest.map(([title, ms]) => `${title} ${ms} ms`).join(', ')}`)
    }
    lines.push(`  wall time ${Date.now() - this.started} ms, status ${result.status}`)
    if (this.known.length > 0) lines.push(`known issues (not counted; ENGINES_STRICT=1 fails them): ${this.known.join('; ')}`)
    lines.push(tallies.map(([name, t]) => `${name} ${t.passed}/${t.total}${t.known ? ` (+${t.known} known issue${t.known > 1 ? 's' : ''})` : ''}`).join(', '))
    // A run that ended before any test (a launch failure, an interruption) is a failure too.
    const failed = this.failed + (result.status !== 'passed' && this.failed === 0 ? 1 : 0)
    lines.push(`${this.passed} passed, ${failed} failed`)
    process.stdout.write(`${lines.join('\n')}\n`)
  }

  printsToStdio(): boolean {
    return true
  }

  private tally(name: string): EngineTally {
    let tally = this.tallies.get(name)
    if (!tally) {
      tally = { passed: 0, known: 0, total: 0, ms: 0, slowest: [] }
      this.tallies.set(name, tally)
    }
    return tally
  }
}
