import { test as base } from '@playwright/test'
import { launch, type DriverName, type EngineDriver, type Tab } from '../drivers'
import type { Scenario } from './scenario'
import { scenarioContext } from './scenario'
import { startServers, type LocalServers } from './server'

export { expect } from '@playwright/test'

interface WorkerFixtures {
  /** Which driver this project uses (set per project in playwright.config.ts). */
  driverName: DriverName
  /** One browser per worker: start-up is the expensive part (seconds for Firefox and WebKit). */
  engine: EngineDriver
  servers: LocalServers
}

export const test = base.extend<{}, WorkerFixtures>({
  driverName: ['chromium', { scope: 'worker', option: true }],
  servers: [
    async ({}, use) => {
      const servers = await startServers()
      await use(servers)
      await servers.close()
    },
    { scope: 'worker' },
  ],
  engine: [
    async ({ driverName }, use) => {
      const driver = await launch(driverName)
      // Read by the reporter (reporter.ts) for the start-up figure.
      console.log(`[engine] ${driverName} started in ${driver.startupMs} ms: ${driver.version}`)
      await use(driver)
      await driver.quit()
    },
    { scope: 'worker', timeout: 180_000 },
  ],
})

/** Registers each scenario as a test of the current project (engine). */
export function runScenarios(scenarios: Scenario[]): void {
  for (const scenario of scenarios) {
    const slug = scenario.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40)
    test(scenario.name, async ({ engine, servers }) => {
      const tabs: Tab[] = []
      let failure: unknown
      try {
        await scenario.run(scenarioContext(engine, servers, slug, tabs))
      } catch (error) {
        failure = error
      } finally {
        for (const tab of tabs) await tab.close().catch(() => undefined)
        // No fault outlives its scenario (the API is the worker's).
        servers.api.reset()
      }
      const known = scenario.knownIssue
      if (failure === undefined) {
        if (known) console.log(`[known issue] did not reproduce in ${engine.engine}: ${known.reason}`)
        return
      }
      if (known && process.env.ENGINES_STRICT !== '1' && known.matches.test(String((failure as Error)?.message ?? failure))) {
        console.log(`[known issue] ${engine.engine}: ${known.reason}\n  ${String((failure as Error)?.message ?? failure).split('\n')[0]}`)
        test.info().annotations.push({ type: 'known issue', description: known.reason })
        test.skip(true, `known issue: ${known.reason}`)
      }
      throw failure
    })
  }
}
