import { CHROMIUM_ARGS } from '../../e2e/shared'
import { existsSync } from 'node:fs'
import { chromium, firefox, webkit, type Browser, type BrowserContext, type BrowserType, type Page } from 'playwright-core'
import { asyncFunctionSource, poll, type EngineCookie, type EngineDriver, type EngineName, type Tab } from './types'

// Chromium through Playwright, as the main e2e suite does. Playwright can also
// drive its own patched Firefox and WebKit builds: where `npx playwright
// install firefox webkit` has run (a developer laptop, CI with internet), the
// same driver runs them, and playwright.config.ts adds the `pw-firefox` and
// `pw-webkit` projects. They cannot be downloaded on the build machine, which
// is why Firefox ESR and WebKitGTK have their own drivers.

const TYPES: Record<EngineName, BrowserType> = { chromium, firefox, webkit }


/** Playwright's own build of `engine` when it is installed. */
export function playwrightBrowserInstalled(engine: EngineName): boolean {
  try {
    return existsSync(TYPES[engine].executablePath())
  } catch {
    return false
  }
}

/** Playwright's own Chromium when installed, else CHROMIUM_PATH or Debian's /usr/bin/chromium. */
function chromiumPath(): string | undefined {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH
  return playwrightBrowserInstalled('chromium') ? undefined : '/usr/bin/chromium'
}

export async function launchPlaywright(engine: EngineName = 'chromium'): Promise<EngineDriver> {
  const started = Date.now()
  const executablePath = engine === 'chromium' ? chromiumPath() : undefined
  const browser: Browser = await TYPES[engine].launch({
    headless: true,
    timeout: 60_000,
    ...(executablePath ? { executablePath } : {}),
    ...(engine === 'chromium' ? { args: CHROMIUM_ARGS } : {}),
  })
  const startupMs = Date.now() - started
  return {
    engine,
    version: `${engine} ${browser.version()} (Playwright)`,
    startupMs,
    async open(url) {
      // The local https site has a self-signed certificate.
      const context = await browser.newContext({ ignoreHTTPSErrors: true })
      const page = await context.newPage()
      await page.goto(url)
      return playwrightTab(context, page)
    },
    quit: () => browser.close(),
  }
}

function playwrightTab(context: BrowserContext, page: Page): Tab {
  const tab: Tab = {
    evaluate: (body) => page.evaluate(asyncFunctionSource(body)),
    waitFor: (body, timeoutMs = 10_000) => poll(() => tab.evaluate(body), timeoutMs, `waitFor(${body})`),
    navigate: async (url) => {
      await page.goto(url)
    },
    reload: async () => {
      await page.reload()
    },
    url: async () => page.url(),
    cookies: async () =>
      (await context.cookies(page.url())).map(
        (c): EngineCookie => ({ name: c.name, value: c.value, domain: c.domain, path: c.path, secure: c.secure, httpOnly: c.httpOnly }),
      ),
    localStorage: () => tab.evaluate('return { ...localStorage }'),
    setOffline: (offline) => context.setOffline(offline),
    openTab: async (url) => {
      const sibling = await context.newPage()
      await sibling.goto(url)
      return playwrightTab(context, sibling)
    },
    close: async () => {
      // runBeforeUnload: close as a user does, so pagehide/unload handlers run.
      await page.close({ runBeforeUnload: true })
      await page.waitForEvent('close', { timeout: 10_000 }).catch(() => undefined)
      // The profile goes with its last tab.
      if (context.pages().length === 0) await context.close()
    },
  }
  return tab
}
