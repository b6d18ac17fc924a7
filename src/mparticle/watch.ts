/**
 * Runs `then` once the mParticle Web SDK is on the page: at once when it is
 * (`given`, or `window.mParticle`), else when a later check finds
 * `window.mParticle` (the SDK or its snippet's stub). Checked, not trapped:
 * defining `window.mParticle` ourselves would make `'mParticle' in window`
 * true on pages without mParticle, which other scripts test. Checks come
 * often at first (the snippet usually follows within the page's load), then
 * once a second; a check is one property read. Never throws.
 */
export function whenMParticle(given: unknown, then: () => void, delay = 50): void {
  if (given ?? (globalThis as { mParticle?: unknown }).mParticle) return then()
  const timer: unknown = setTimeout(() => whenMParticle(given, then, Math.min(delay * 2, 1000)), delay)
  // Under Node (tests, server rendering) the wait must not keep the process alive.
  ;(timer as { unref?: () => void }).unref?.()
}
