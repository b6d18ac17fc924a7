import type { MixpanelLike } from '../mixpanel/types'
import type { Note } from '../notes'
import { capture } from './capture'
import { TIMEOUT } from './policy'
import { createQueue, LEASE, type Queue } from './queue'

/** Posts `data=<json>` (a form body) with fetch; no answer after TIMEOUT aborts it (a failure, retried). */
const send = (url: string, data: string, keepalive: boolean) =>
  // Default credentials: no cookies cross-origin (Mixpanel needs none), so wildcard CORS answers (proxies) work.
  fetch(url, { method: 'POST', body: new URLSearchParams({ data }), keepalive, signal: AbortSignal.timeout(TIMEOUT) }).then((response) => ({
    status: response.status,
    retryAfter: response.headers.get('Retry-After'),
  }))

/** localStorage, or undefined where reading it throws (sandboxed frames). */
export function usableStorage(): Storage | undefined {
  try {
    return localStorage
  } catch {}
}

/**
 * Delivers everything `mixpanel` sends through a queue of our own
 * (docs/delivery.md), stored in `storage` (memory only when undefined).
 * Returns undefined when this mixpanel-browser cannot hand its records over.
 */
export function deliver(mixpanel: MixpanelLike, token: string, storage: Storage | undefined, note: (note: Note, ...details: unknown[]) => void): Queue | undefined {
  const prefix = `__mpdm_${token}_`
  const queue = createQueue({
    prefix,
    storage,
    send,
    now: Date.now,
    random: Math.random,
    note,
    optedOut: () => mixpanel.has_opted_out_tracking(),
  })
  if (!capture(mixpanel, queue.push)) return undefined
  queue.beat()
  if (storage) {
    setInterval(queue.beat, LEASE / 4)
    // Another page released its lease (it was left): its records are ours to send now.
    addEventListener('storage', (event) => event.key?.startsWith(prefix) && event.newValue === '0' && queue.beat())
  }
  document.addEventListener('visibilitychange', () => document.visibilityState === 'hidden' && queue.hide(false))
  addEventListener('pagehide', () => queue.hide(true))
  addEventListener('pageshow', (event) => event.persisted && queue.wake())
  addEventListener('online', queue.wake)
  return queue
}
