import type { MixpanelLike } from './types'

/**
 * The internals of mixpanel-browser 2.83 this module relies on (pinned by
 * e2e/persistence-once.spec.ts, so an upgrade that renames them fails a test):
 * `instance.persistence` is a `MixpanelPersistence` whose `load()` re-reads
 * and re-parses the whole cookie or localStorage entry into `props`, whose
 * `save()` writes `props` to it and whose `remove()` deletes it; every change
 * (`register`, `unregister`, the People queues, event timers) updates `props`
 * and then saves. So within one synchronous call, after the first read,
 * reading again returns what `props` already holds, and only the last write
 * (or removal) decides what is stored.
 */
interface Persistence {
  load: () => void
  save: () => void
  remove: () => void
  props: object
}

const METHODS = ['load', 'save', 'remove'] as const

const persistenceOf = (mixpanel: MixpanelLike): Persistence | undefined => {
  const p = (mixpanel as { persistence?: Partial<Persistence> }).persistence
  return p && typeof p.props == 'object' && METHODS.every((name) => typeof p[name] == 'function') ? (p as Persistence) : undefined
}

const inCall = new WeakSet<object>()

/**
 * Runs `task` (one synchronous analytics call) with mixpanel-browser reading
 * its persistence entry (cookie or localStorage) at most once and writing it
 * at most once: the first `load()` reads it, later ones in the call are
 * skipped; the saves are made once, at the end of the call, unless the entry
 * was removed after the last of them (`reset()`, opting out). Only for the
 * library's own instance (docs/performance.md): nothing else writes its entry
 * during the call. When the internals are not there (another mixpanel-browser
 * version) or cannot be replaced, the task runs as usual. `fresh`: the entry
 * was read in this same task (by `init()`), so the call reads it not at all.
 */
export function withOneRead<T>(mixpanel: MixpanelLike, task: () => T, fresh = false): T {
  // A nested call (the facade's check of the user, the mParticle bridge inside a call) shares the outer one.
  const current = (mixpanel as { persistence?: object }).persistence
  if (current && inCall.has(current)) return task()
  const persistence = persistenceOf(mixpanel)
  if (!persistence) return task()
  const own = METHODS.filter((name) => Object.prototype.hasOwnProperty.call(persistence, name))
  const { load, save, remove } = persistence
  let read = fresh
  let unsaved = false
  try {
    persistence.load = function (this: Persistence) {
      if (!read) {
        read = true
        load.call(this)
      }
    }
    persistence.save = () => void (unsaved = true)
    persistence.remove = function (this: Persistence) {
      unsaved = false
      remove.call(this)
    }
  } catch {
    // A frozen persistence: mixpanel-browser reads and writes as it always does.
    restore(persistence, own, { load, save, remove })
    return task()
  }
  inCall.add(persistence)
  try {
    return task()
  } finally {
    inCall.delete(persistence)
    restore(persistence, own, { load, save, remove })
    if (unsaved) save.call(persistence)
  }
}

/** Puts back exactly what was there (a page may have wrapped a method itself). */
function restore(persistence: Persistence, own: readonly string[], originals: Pick<Persistence, (typeof METHODS)[number]>): void {
  for (const name of METHODS) {
    try {
      if (own.includes(name)) persistence[name] = originals[name]
      else delete (persistence as Partial<Persistence>)[name]
    } catch {
      // frozen: nothing was replaced
    }
  }
}
