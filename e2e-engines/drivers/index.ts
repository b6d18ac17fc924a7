import { launchFirefox } from './firefox'
import { launchPlaywright } from './playwright'
import type { EngineDriver } from './types'
import { launchWebKit } from './webkit'

export * from './types'

/**
 * The engines `npm run test:engines` runs: `chromium` (Playwright), `firefox`
 * (Firefox ESR, puppeteer-core), `webkit` (WebKitGTK, selenium-webdriver), and
 * `pw-firefox` / `pw-webkit` (Playwright's own builds, where installed).
 */
export type DriverName = 'chromium' | 'firefox' | 'webkit' | 'pw-firefox' | 'pw-webkit'

export function launch(name: DriverName): Promise<EngineDriver> {
  switch (name) {
    case 'chromium':
      return launchPlaywright('chromium')
    case 'firefox':
      return launchFirefox()
    case 'webkit':
      return launchWebKit()
    case 'pw-firefox':
      return launchPlaywright('firefox')
    case 'pw-webkit':
      return launchPlaywright('webkit')
  }
}
