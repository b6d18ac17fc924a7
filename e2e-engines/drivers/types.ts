// One small interface over three browser automation stacks, so a scenario is
// written once and runs in Chromium (Playwright), Firefox ESR (puppeteer-core
// over WebDriver BiDi) and WebKitGTK (selenium-webdriver + WebKitWebDriver).
// See docs/browsers.md for why each stack was chosen.

export type EngineName = 'chromium' | 'firefox' | 'webkit'

/** A cookie as the engine reports it (WebDriver's shape, common to the three). */
export interface EngineCookie {
  name: string
  value: string
  /** As the engine reports it: `.example.test` for a domain cookie, the bare host for a host-only one. */
  domain: string
  path: string
  secure: boolean
  httpOnly: boolean
}

/** One top-level browsing context. */
export interface Tab {
  /**
   * Runs `body` as the body of an async function in the page and returns its
   * JSON-serialisable result (`return …`). A string, because WebDriver can
   * only send source text.
   */
  evaluate<T = unknown>(body: string): Promise<T>
  /** Polls `body` (as in `evaluate`) until it returns a truthy value, and returns it. */
  waitFor<T = unknown>(body: string, timeoutMs?: number): Promise<T>
  /** Loads `url` and waits for its load event. */
  navigate(url: string): Promise<void>
  /** Reloads and waits for the load event. */
  reload(): Promise<void>
  /** The document's current URL. */
  url(): Promise<string>
  /** The cookies the engine exposes for the current document's URL. */
  cookies(): Promise<EngineCookie[]>
  /** The current origin's localStorage. */
  localStorage(): Promise<Record<string, string>>
  /** Opens `url` in another tab of the same profile (same cookies and storage), as a user opening the site again. */
  openTab(url: string): Promise<Tab>
  /**
   * Takes the tab's network down (true) or back up (false), as the browser's
   * offline mode: requests fail, `navigator.onLine` follows, `offline` and
   * `online` events fire. Only where the driver has such a switch (Playwright:
   * the browser context; Firefox over WebDriver BiDi: the tab); WebDriver
   * classic (WebKitGTK) has none, so it is absent there.
   */
  setOffline?(offline: boolean): Promise<void>
  /**
   * Closes the tab the way a user does (unload handlers run). The profile's
   * cookies and storage stay while another of its tabs is open.
   */
  close(): Promise<void>
}

export interface EngineDriver {
  readonly engine: EngineName
  /** e.g. `chromium 146.0.7680.80`, `firefox 153.8.0`, `webkit MiniBrowser (WebKitGTK 2.50.x)`. */
  readonly version: string
  /** Milliseconds from launch to a session ready to open pages. */
  readonly startupMs: number
  /**
   * Opens `url` in a new tab. Where the engine can (Chromium, Firefox), the tab
   * gets a fresh cookie jar and storage; WebKitGTK shares one per session, so
   * scenarios isolate themselves by host name (`<scenario>.localhost`).
   */
  open(url: string): Promise<Tab>
  /** Ends the browser and every process the driver started. */
  quit(): Promise<void>
}

/** Wraps the body of an async function for `evaluate`, reporting errors as values. */
export function asyncFunctionSource(body: string): string {
  return `(async () => { ${body}\n})()`
}

/** Rejects when `promise` has not settled after `ms` (WebKitWebDriver has no timeout of its own). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Polls `check` every `intervalMs` until it returns a truthy value or `timeoutMs` passes. */
export async function poll<T>(check: () => Promise<T>, timeoutMs: number, what: string, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value) return value
      last = value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`${what}: still ${String(last)} after ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
