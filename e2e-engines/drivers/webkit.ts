import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { Builder, type WebDriver } from 'selenium-webdriver'
import { asyncFunctionSource, poll, withTimeout, type EngineCookie, type EngineDriver, type Tab } from './types'

// WebKit (Safari's engine) as WebKitGTK: MiniBrowser driven by WebKitWebDriver
// (Debian's webkit2gtk-driver) through selenium-webdriver. This MiniBrowser has
// no headless mode, so it runs under its own Xvfb. WebKitWebDriver waits
// forever when the browser cannot start, so every WebDriver call below has a
// timeout (`withTimeout`), and the processes are killed by id on failure.

export const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER ?? '/usr/bin/WebKitWebDriver'
export const MINIBROWSER = process.env.MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser'
const CALL_TIMEOUT = 30_000
const START_TIMEOUT = 90_000

export async function launchWebKit(): Promise<EngineDriver> {
  const started = Date.now()
  const processes: ChildProcess[] = []
  const killAll = (): void => {
    for (const child of processes.reverse()) {
      // Each was started as its own process group (detached): MiniBrowser, a
      // child of WebKitWebDriver, goes with it.
      try {
        if (child.pid && child.exitCode === null) process.kill(-child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
  try {
    const { child: xvfb, display } = await startXvfb()
    processes.push(xvfb)
    const port = await freePort()
    const webDriver = spawn(WEBKIT_DRIVER, [`--port=${port}`, '--host=127.0.0.1'], {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, DISPLAY: `:${display}` },
    })
    processes.push(webDriver)
    const server = `http://127.0.0.1:${port}`
    await poll(() => fetch(`${server}/status`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok), 20_000, 'WebKitWebDriver /status')
    const driver = new Builder()
      .usingServer(server)
      .withCapabilities({
        browserName: 'MiniBrowser',
        // The local https site has a self-signed certificate.
        acceptInsecureCerts: true,
        'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
      })
      .build()
    await withTimeout(driver.getSession(), START_TIMEOUT, 'WebKitWebDriver new session')
    await call(driver.manage().setTimeouts({ script: CALL_TIMEOUT, pageLoad: CALL_TIMEOUT, implicit: 0 }), 'setTimeouts')
    const capabilities = await call(driver.getCapabilities(), 'capabilities')
    const home = await call(driver.getWindowHandle(), 'window handle')
    const startupMs = Date.now() - started
    return {
      engine: 'webkit',
      version: `webkit MiniBrowser ${String(capabilities.get('browserVersion') ?? '')} (WebKitGTK, selenium-webdriver)`.replace('  ', ' '),
      startupMs,
      open: (url) => openWebKitTab(driver, url, home),
      async quit() {
        await withTimeout(driver.quit(), CALL_TIMEOUT, 'quit').catch(() => undefined)
        killAll()
      },
    }
  } catch (error) {
    killAll()
    throw error
  }
}

/** A new window of the session: WebKitGTK has one cookie jar and storage per session. */
async function openWebKitTab(driver: WebDriver, url: string, home: string): Promise<Tab> {
  await call(driver.switchTo().newWindow('tab'), 'new tab')
  const handle = await call(driver.getWindowHandle(), 'window handle')
  await call(driver.get(url), `get ${url}`)
  return webkitTab(driver, handle, home)
}

/** Every WebDriver call gets a timeout. */
function call<T>(promise: Promise<T>, what: string): Promise<T> {
  return withTimeout(promise, CALL_TIMEOUT + 5_000, `WebKitWebDriver ${what}`)
}

function webkitTab(driver: WebDriver, handle: string, home: string): Tab {
  // Only one tab is driven at a time: make sure commands go to this one.
  const focus = async (): Promise<void> => {
    await call(driver.switchTo().window(handle), 'switch window')
  }
  const tab: Tab = {
    async evaluate<T>(body: string): Promise<T> {
      await focus()
      const outcome = (await call(
        driver.executeAsyncScript(
          `const done = arguments[arguments.length - 1];
           ${asyncFunctionSource(body)}.then((value) => done({ value: value === undefined ? null : value }), (error) => done({ error: String(error && error.stack || error) }))`,
        ),
        'executeAsyncScript',
      )) as { value?: T; error?: string }
      if (outcome.error !== undefined) throw new Error(outcome.error)
      return outcome.value as T
    },
    waitFor: (body, timeoutMs = 10_000) => poll(() => tab.evaluate(body), timeoutMs, `waitFor(${body})`),
    async navigate(url) {
      await focus()
      await call(driver.get(url), `get ${url}`)
    },
    async reload() {
      await focus()
      await call(driver.navigate().refresh(), 'refresh')
    },
    async url() {
      await focus()
      return call(driver.getCurrentUrl(), 'current url')
    },
    async cookies() {
      await focus()
      return (await call(driver.manage().getCookies(), 'cookies')).map(
        (c): EngineCookie => ({ name: c.name, value: c.value, domain: c.domain ?? '', path: c.path ?? '/', secure: c.secure ?? false, httpOnly: c.httpOnly ?? false }),
      )
    },
    localStorage: () => tab.evaluate('return { ...localStorage }'),
    openTab: (url) => openWebKitTab(driver, url, home),
    async close() {
      await focus()
      await call(driver.close(), 'close window')
      await call(driver.switchTo().window(home), 'switch to home window')
    },
  }
  return tab
}

/** Xvfb on a display number it picks itself (-displayfd): no clash with other runs. */
function startXvfb(): Promise<{ child: ChildProcess; display: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x800x24', '-noreset', '-nolisten', 'tcp'], {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    })
    let text = ''
    const timer = setTimeout(() => reject(new Error('Xvfb did not report a display within 20 s')), 20_000)
    child.stdio[3]!.on('data', (chunk: Buffer) => {
      text += chunk.toString()
      if (text.includes('\n')) {
        clearTimeout(timer)
        resolve({ child, display: Number(text.trim()) })
      }
    })
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`Xvfb exited with ${code}`))
    })
  })
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}
