/**
 * In-process locks by name: `run(keys, fn)` waits for every earlier holder of
 * any of `keys`. All keys are taken at once, in arrival order, so two callers
 * can never wait for each other.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>()

  async run<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const unique = [...new Set(keys)]
    let release: () => void = () => {}
    const mine = new Promise<void>((resolve) => { release = resolve })
    const before = unique.map((k) => this.tails.get(k)).filter((p): p is Promise<void> => p !== undefined)
    for (const k of unique) this.tails.set(k, mine)
    try {
      if (before.length > 0) await Promise.all(before)
      return await fn()
    } finally {
      release()
      for (const k of unique) if (this.tails.get(k) === mine) this.tails.delete(k)
    }
  }
}
