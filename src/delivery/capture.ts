import type { MixpanelLike } from '../mixpanel/types'

/** The parts of mixpanel-browser's instance API the capture uses (public since 2.x, except as noted). */
interface Hookable {
  add_hook?(name: string, hook: (record: unknown) => unknown): void
  get_config(name: string): any
  track(event: string, props?: unknown, options?: { skip_hooks?: boolean }, callback?: (response: number) => void): unknown
}

// mixpanel-browser's request types → the route config naming their endpoint.
const ROUTES = { events: 'track', people: 'engage', groups: 'groups' }

/**
 * Hands every record `mp` would send to `push` (url, JSON) instead
 * (docs/delivery.md): its `before_send_*` hooks get each finished record
 * synchronously when batching is off, and a hook returning `null` stops
 * mixpanel-browser's own request. Returns false when this mixpanel-browser
 * has no `add_hook` (older than 2.x): it then delivers by itself.
 */
export function capture(mixpanel: MixpanelLike, push: (url: string, json: string) => void): boolean {
  const mp = mixpanel as unknown as Hookable & { __mpdm?: boolean }
  if (typeof mp.add_hook != 'function') return false
  // A second integration on the same instance: the first one's queue delivers.
  if (mp.__mpdm) return true
  mp.__mpdm = true
  let captured = false
  for (const [type, route] of Object.entries(ROUTES)) {
    // Added last, after any hooks of the page's own: they see and shape the record first.
    mp.add_hook(`before_send_${type}`, (record) => {
      try {
        const config = (name: string): any => mp.get_config(name)
        const host = config('api_hosts')?.[type] || config('api_host')
        push(`${host}/${config('api_routes')[route]}?ip=${config('ip') ? 1 : 0}`, JSON.stringify(record))
        captured = true
        return null
      } catch {
        // A record JSON cannot hold (a cycle, a BigInt): mixpanel-browser sends it as before.
        return record
      }
    })
  }
  // `identify()` and `alias()` track `$identify` and `$create_alias` through
  // the instance's `track` with `{ skip_hooks: true }` (mixpanel-browser 2.83
  // internals, pinned by e2e/delivery-queue.spec.ts): without hooks they would
  // bypass the queue, so those calls run with hooks. alias() identifies in the
  // callback of its request; queued counts as sent.
  const track = mp.track
  mp.track = function (this: Hookable, event, props, options, callback) {
    if (!options?.skip_hooks) return track.apply(this, arguments as any)
    captured = false
    const result = track.call(this, event, props, { ...options, skip_hooks: false }, callback)
    if (captured && typeof callback == 'function') callback(1)
    return result
  }
  return true
}
