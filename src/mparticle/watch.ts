/**
 * Runs `then` once the mParticle Web SDK is on the page: at once when it is
 * (`given`, or `window.mParticle`), else when the page (the SDK or its
 * snippet) assigns `window.mParticle`, a microtask later so that the snippet
 * has filled its stub. Until then `window.mParticle` is an accessor that
 * turns back into a plain property on assignment. Never throws.
 */
export function whenMParticle(given: unknown, then: () => void): void {
  const root = globalThis as { mParticle?: unknown }
  if (given ?? root.mParticle) return then()
  const before = Object.getOwnPropertyDescriptor(root, 'mParticle')
  try {
    Object.defineProperty(root, 'mParticle', {
      configurable: true,
      enumerable: true,
      get: () => before?.get?.call(root),
      set(value: unknown) {
        // Another watcher (a second integration on the page) hears it too.
        before?.set?.call(root, value)
        Object.defineProperty(root, 'mParticle', { value, writable: true, configurable: true, enumerable: true })
        void Promise.resolve().then(then)
      },
    })
  } catch {
    // A page that froze window.mParticle: no bridge.
  }
}
