/**
 * The optional inline loader, built to `dist/snippet.min.js` (< 1 KB gzipped).
 * Pasted into a page's `<script>`, it defines `window.mpdm`, an object with the
 * analytics.js methods that queues every call, and `mpdm.load(src, settings)`,
 * which loads the script-tag build asynchronously, creates the real analytics
 * with `settings` and replays the queued calls in order. Each queued call
 * returns a promise that settles with the real call's, and its callback runs
 * as the real call's would. After loading, `mpdm` forwards every call (and
 * `user()`, `mixpanel`) to the real analytics object.
 *
 * @example
 * <script>
 *   // contents of dist/snippet.min.js
 *   mpdm.load('/assets/mixpanel-device-mode.iife.js', { token: 'YOUR_TOKEN' })
 *   mpdm.page()
 * </script>
 */

type Method = 'page' | 'screen' | 'identify' | 'track' | 'group' | 'alias' | 'reset' | 'ready' | 'optIn' | 'optOut'
type Analytics = Record<Method, (...args: unknown[]) => Promise<void>>

interface Stub extends Partial<Analytics> {
  /** Loads `src` (the script-tag build) once and creates the analytics with `settings` (and `deps`). */
  load?(src: string, settings: unknown, deps?: unknown): void
}

interface Host {
  mpdm?: Stub
  MixpanelDeviceMode?: { createAnalytics(settings: unknown, deps?: unknown): Analytics }
}

const w = window as unknown as Host
// A second copy of the snippet on the page keeps the first one's queue.
if (!w.mpdm) {
  const d = document
  // The snippet's own <script>: its nonce is passed on to the loaded script (CSP).
  const me = d.currentScript as HTMLScriptElement | null
  const queue: Array<[Method, unknown[], (result?: Promise<void>) => void]> = []
  const stub: Stub = {}
  let real: Analytics | undefined
  let failed: unknown

  // Gives up on the queue (script blocked, settings rejected): every call resolves
  // and its callback runs, as when mixpanel-browser cannot start.
  const fail = (error: unknown): void => {
    failed = error
    console.error('[mixpanel-device-mode] not loaded:', error)
    for (const [, args, resolve] of queue.splice(0)) {
      try {
        const callback = args.filter((arg) => typeof arg == 'function').pop() as (() => void) | undefined
        callback && callback()
      } catch (_) {
        // a callback's error never reaches the page
      }
      resolve()
    }
  }

  const start = (settings: unknown, deps: unknown): void => {
    try {
      real = w.MixpanelDeviceMode!.createAnalytics(settings, deps)
    } catch (error) {
      return fail(error)
    }
    // user() and the `mixpanel` getter, read through the stub from now on.
    Object.setPrototypeOf(stub, real)
    for (const [method, args, resolve] of queue.splice(0)) resolve(real[method](...args))
  }

  for (const method of ['page', 'screen', 'identify', 'track', 'group', 'alias', 'reset', 'ready', 'optIn', 'optOut'] as Method[]) {
    stub[method] = (...args) =>
      real
        ? real[method](...args)
        : new Promise<void>((resolve) => {
            queue.push([method, args, resolve])
            failed && fail(failed)
          })
  }

  stub.load = (src, settings, deps) => {
    stub.load = () => {}
    if (w.MixpanelDeviceMode) return start(settings, deps)
    const script = d.createElement('script')
    script.async = true
    script.src = src
    if (me && me.nonce) script.nonce = me.nonce
    script.onload = () => start(settings, deps)
    script.onerror = () => fail(src)
    d.head.appendChild(script)
  }

  w.mpdm = stub
}
export {}
