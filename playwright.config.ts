import { existsSync } from 'node:fs'
import { chromium, defineConfig } from '@playwright/test'
import { CHROMIUM_ARGS } from './e2e/shared'

// Playwright's own Chromium when it is installed; otherwise the system one
// (Debian's /usr/bin/chromium, or CHROMIUM_PATH).
function executablePath(): string | undefined {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH
  try {
    if (existsSync(chromium.executablePath())) return undefined
  } catch {
    // no bundled browser registry entry
  }
  return '/usr/bin/chromium'
}

const path = executablePath()

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  fullyParallel: true,
  workers: process.env.CI ? 2 : 2,
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: process.env.CI ? [['list']] : [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: {
      ...(path ? { executablePath: path } : {}),
      args: CHROMIUM_ARGS,
    },
  },
})
