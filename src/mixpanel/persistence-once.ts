import type { MixpanelLike } from './types'

/**
 * The internals of mixpanel-browser 2.83 this module relies on (pinned by
 * e2e/persistence-once.spec.ts, so an upgrade that renames them fails a test):
 * `instance.persistence` is a `MixpanelPersistence` whose `load()` re-reads
 * and re-parses the whole cookie or localStorage entry into `props`, and every
 * write (`register`, `unregister`, `clear`, the People queues) updates `props`
 * before it saves. So once `props` has been loaded, reading the entry again
 * within the same synchronous call returns what `props` already holds.
 */
interface Persistence {
  load: () => void
  props: object
}

const persistenceOf = (mixpanel: MixpanelLike): Persistence | undefined => {
  const persistence = (mixpanel as { persistence?: Partial<Persistence> }).persistence
  return persistence && typeof persistence.load == 'function' && typeof persistence.props == 'object' ? (persistence as Persistence) : undefined
}

/**
 * Runs `task` (one synchronous analytics call) with mixpanel-browser reading
 * its persistence entry at most once: the first `load()` reads it, later ones
 * in the same call are skipped; every save still happens when it did. Only
 * for the library's own instance (docs/performance.md): nothing else writes
 * its entry during the call. When the internals are not there (another
 * mixpanel-browser version), the task runs as usual.
 */
export function withOneRead<T>(mixpanel: MixpanelLike, task: () => T): T {
  const persistence = persistenceOf(mixpanel)
  // A nested call (the mParticle bridge inside a call) shares the outer read.
  if (!persistence || inCall.has(persistence)) return task()
  const own = Object.prototype.hasOwnProperty.call(persistence, 'load')
  const load = persistence.load
  let read = false
  try {
    persistence.load = function (this: Persistence) {
      if (!read) {
        read = true
        load.call(this)
      }
    }
  } catch {
    // A frozen persistence: read as often as mixpanel-browser asks.
    return task()
  }
  inCall.add(persistence)
  try {
    return task()
  } finally {
    inCall.delete(persistence)
    // Put back exactly what was there (a page may have wrapped `load` itself).
    if (own) persistence.load = load
    else delete (persistence as Partial<Persistence>).load
  }
}

const inCall = new WeakSet<object>()
