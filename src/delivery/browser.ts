import type { MixpanelLike } from '../mixpanel/types'
import type { Note } from '../notes'
import { capture } from './capture'
import { createStore, type Store } from './queue'

/** localStorage, or undefined where reading it throws (sandboxed frames). */
export function usableStorage(): Storage | undefined {
  try {
    return localStorage
  } catch {}
}

/**
 * Delivers everything `mixpanel` sends through a queue of our own
 * (docs/delivery.md), stored in `storage` (memory only when undefined).
 * Records are stored from the first call; the sender is a chunk imported
 * right away. Returns undefined when this mixpanel-browser cannot hand its
 * records over.
 */
export function deliver(mixpanel: MixpanelLike, token: string, storage: Storage | undefined, note: (note: Note, ...details: unknown[]) => void): Store | undefined {
  const prefix = `__mpdm_${token}_`
  const store = createStore({ prefix, storage, now: Date.now, random: Math.random, note })
  if (!capture(mixpanel, store.push)) return undefined
  // Left before the sender loaded: the lease says so, the next page sends.
  addEventListener('pagehide', () => {
    store.hide?.(true)
    store.release()
  })
  // The chunk could not load (offline, a dropped connection): records stay
  // stored for the next page, and the next record this page stores tries
  // again — one load at a time, so the sender starts once.
  const load = (): void => {
    delete store.kick
    import('./sender').then((sender) => sender.start(store, () => mixpanel.has_opted_out_tracking()), () => (store.kick = load))
  }
  load()
  return store
}
