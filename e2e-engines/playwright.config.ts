import { defineConfig } from '@playwright/test'
import { playwrightBrowserInstalled } from './drivers/playwright'
import type { DriverName } from './drivers'

// `npm run test:engines`: the core scenarios (scenarios/*.ts) in Chromium,
// Firefox ESR and WebKitGTK, one project per engine, one worker (one browser)
// per engine. Playwright's own Firefox and WebKit builds, where installed, add
// the `pw-firefox` and `pw-webkit` projects with the same scenarios.
const names: DriverName[] = ['chromium', 'firefox', 'webkit']
if (playwrightBrowserInstalled('firefox')) names.push('pw-firefox')
if (playwrightBrowserInstalled('webkit')) names.push('pw-webkit')

export default defineConfig<{}, { driverName: DriverName }>({
  testDir: '.',
  testMatch: '*.spec.ts',
  fullyParallel: false,
  // Engines run side by side (ENGINES_WORKERS=1 runs them one after another).
  workers: Number(process.env.ENGINES_WORKERS ?? names.length),
  retries: 0,
  timeout: 60_000,
  reporter: [['list'], ['./reporter.ts']],
  projects: names.map((name) => ({ name, use: { driverName: name } })),
})
