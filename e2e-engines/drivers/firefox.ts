import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core'
import { asyncFunctionSource, poll, withTimeout, type EngineCookie, type EngineDriver, type Tab } from './types'

// Stock Firefox (Debian's firefox-esr) through puppeteer-core over WebDriver
// BiDi: Playwright can only drive its own patched Firefox build. Every tab gets
// its own browser context (a BiDi user context: fresh cookies and storage).

export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr'
const CALL_TIMEOUT = 30_000

export async function launchFirefox(): Promise<EngineDriver> {
  const started = Date.now()
  const browser: Browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PATH,
    headless: true,
    protocol: 'webDriverBiDi',
    // The local https site has a self-signed certificate.
    acceptInsecureCerts: true,
    timeout: 90_000,
    // Nothing leaves 127.0.0.1: no captive-portal, update or telemetry checks.
    extraPrefsFirefox: {
      'network.captive-portal-service.enabled': false,
      'network.connectivity-service.enabled': false,
      'app.update.enabled': false,
      'toolkit.telemetry.enabled': false,
      'datareporting.policy.dataSubmissionEnabled': false,
    },
  })
  const startupMs = Date.now() - started
  const version = `firefox ${(await browser.version()).replace(/^firefox\//, '')} (puppeteer-core, WebDriver BiDi)`
  return {
    engine: 'firefox',
    version,
    startupMs,
    async open(url) {
      const context = await browser.createBrowserContext()
      const page = await context.newPage()
      page.setDefaultTimeout(CALL_TIMEOUT)
      page.setDefaultNavigationTimeout(CALL_TIMEOUT)
      await page.goto(url, { waitUntil: 'load' })
      return firefoxTab(context, page)
    },
    quit: () => withTimeout(browser.close(), CALL_TIMEOUT, 'firefox quit').catch(() => browser.process()?.kill('SIGKILL') as unknown as void),
  }
}

function firefoxTab(context: BrowserContext, page: Page): Tab {
  const tab: Tab = {
    evaluate: <T>(body: string) => page.evaluate(asyncFunctionSource(body)) as Promise<T>,
    waitFor: (body, timeoutMs = 10_000) => poll(() => tab.evaluate(body), timeoutMs, `waitFor(${body})`),
    navigate: async (url) => {
      await page.goto(url, { waitUntil: 'load' })
    },
    reload: async () => {
      await page.reload({ waitUntil: 'load' })
    },
    url: async () => page.url(),
    cookies: async () =>
      (await context.cookies())
        .filter((c) => cookieMatches(c.domain, new URL(page.url()).hostname))
        .map((c): EngineCookie => ({ name: c.name, value: c.value, domain: c.domain, path: c.path, secure: c.secure, httpOnly: c.httpOnly ?? false })),
    localStorage: () => tab.evaluate('return { ...localStorage }'),
    // WebDriver BiDi's emulation.setNetworkConditions (offline only), per tab.
    setOffline: (offline) => page.setOfflineMode(offline),
    openTab: async (url) => {
      const sibling = await context.newPage()
      sibling.setDefaultTimeout(CALL_TIMEOUT)
      sibling.setDefaultNavigationTimeout(CALL_TIMEOUT)
      await sibling.goto(url, { waitUntil: 'load' })
      return firefoxTab(context, sibling)
    },
    close: async () => {
      // runBeforeUnload: close as a user does, so pagehide/unload handlers run.
      await page.close({ runBeforeUnload: true })
      // The profile goes with its last tab.
      if ((await context.pages()).length === 0) await context.close()
    },
  }
  return tab
}

/** Whether a cookie for `domain` is sent to `host` (domain cookies start with a dot). */
export function cookieMatches(domain: string, host: string): boolean {
  const bare = domain.replace(/^\./, '')
  return host === bare || host.endsWith(`.${bare}`)
}
