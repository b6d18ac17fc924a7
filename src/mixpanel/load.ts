import bundled from 'mixpanel-browser/src/loaders/loader-module-core'
import { deliver, usableStorage } from '../delivery/browser'
import { DELIVERY_OFF, PERSISTENCE_FALLBACK, type Note } from '../notes'
import type { NormalizedSettings } from '../settings'
import { mixpanelConfig } from './config'
import type { MixpanelLike } from './types'

let instances = 0

/** mixpanel-browser's cookie helper (`mixpanel._.cookie`, on the module object since 2.x): every cookie it reads or writes goes through it. */
interface CookieHelper {
  get(name: string): string | null
  set(name: string, value: string, days?: number): unknown
  set_seconds(name: string, value: string, seconds?: number): unknown
}

/** Whether reading `document.cookie` throws (a sandboxed frame without `allow-same-origin`). */
function cookiesThrow(): boolean {
  try {
    void document.cookie
    return false
  } catch {
    return true
  }
}

/**
 * Points mixpanel-browser's cookie helper at a map in memory: its identity,
 * super properties and opt-out state then live as long as the page
 * (docs/delivery.md, "Storage faults"). Only where reading cookies throws, so
 * every instance of that mixpanel-browser would fail on them anyway.
 */
function cookiesInMemory(cookie: CookieHelper): void {
  const jar = new Map<string, string>()
  // A negative lifetime is how the helper removes a cookie.
  cookie.set = cookie.set_seconds = (name, value, time) => (time! < 0 ? jar.delete(name) : jar.set(name, '' + value))
  cookie.get = (name) => jar.get(name) ?? null
}

/**
 * The mixpanel-browser instance to use: the page's own when it is already
 * loaded, the page's own initialised with our settings when it is not, or a
 * named instance of the bundled core (so a page's own `mixpanel` is untouched).
 * Its requests then go through our delivery queue (docs/delivery.md).
 * Storage that throws degrades persistence: cookies → localStorage → memory.
 * Throws when mixpanel-browser cannot start.
 */
export function startMixpanel(settings: NormalizedSettings, given: MixpanelLike | undefined, note: (note: Note, ...details: unknown[]) => void): MixpanelLike {
  const local = usableStorage()
  const storage = settings.persistence === 'none' ? undefined : local
  const module = (given ?? bundled) as unknown as { _?: { cookie?: CookieHelper } }
  let instance = given
  const asked = settings.persistence
  // What mixpanel-browser keeps its state in: asked for cookies that throw,
  // localStorage when it works; asked for localStorage that throws, it uses
  // cookies by itself; cookies that throw are then kept in memory.
  let used: string = asked
  if (!given?.__loaded) {
    const blocked = cookiesThrow() && !!module._?.cookie
    if (blocked) cookiesInMemory(module._!.cookie!)
    const persistence = asked === 'cookie' && blocked && local ? 'localStorage' : asked
    if (asked !== 'none') used = persistence === 'localStorage' && local ? persistence : blocked ? 'memory' : 'cookie'
    const config = mixpanelConfig({ ...settings, persistence })
    // Its opt-out state too: with localStorage failing it goes where the rest goes.
    if (!local) config.opt_out_tracking_persistence_type ??= 'cookie'
    if (!given) instances += 1
    const name = instances > 1 ? `mixpanel_device_mode_${instances}` : 'mixpanel_device_mode'
    if (given) given.init(settings.token, config)
    else instance = (bundled as unknown as MixpanelLike).init(settings.token, config, name) || undefined
  }
  if (!instance?.__loaded) throw new Error(`mixpanel-browser${given ? ' given in `deps.mixpanel`' : ''} did not initialise`)
  // Debug says which persistence is in force when storage failed.
  if (used !== asked || (!storage && asked !== 'none')) note([PERSISTENCE_FALLBACK, asked, used, storage ? 'localStorage' : 'memory'])
  try {
    if (!deliver(instance, settings.token, storage, note)) note([DELIVERY_OFF])
  } catch (error) {
    // Not a browser (server rendering, tests in Node): mixpanel-browser sends by itself.
    note([DELIVERY_OFF], error)
  }
  if (settings.optOutByDefault) forgetTabId(settings.token)
  return instance
}

// ---- contract: with `optOutByDefault` nothing but the opt-out state is stored
// before consent (docs/behaviour.md, "Consent"). init() writes a tab id to
// sessionStorage, which only session recording uses (left out here); it is
// removed at once, in the same task.
function forgetTabId(token: string): void {
  try {
    for (const key of Object.keys(sessionStorage)) {
      if (/^mp_(gen_new_)?tab_id_/.test(key) && key.endsWith('_' + token)) sessionStorage.removeItem(key)
    }
  } catch {
    // No sessionStorage: nothing was written.
  }
}
