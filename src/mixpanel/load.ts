import bundled from 'mixpanel-browser/src/loaders/loader-module-core'
import { deliver, usableStorage } from '../delivery/browser'
import { DELIVERY_OFF, PERSISTENCE_FALLBACK, type Note } from '../notes'
import type { NormalizedSettings } from '../settings'
import { mixpanelConfig } from './config'
import type { MixpanelLike } from './types'

let instances = 0

/**
 * The mixpanel-browser instance to use: the page's own when it is already
 * loaded, the page's own initialised with our settings when it is not, or a
 * named instance of the bundled core (so a page's own `mixpanel` is untouched).
 * Its requests then go through our delivery queue (docs/delivery.md).
 * Throws when mixpanel-browser cannot start with any persistence.
 */
export function startMixpanel(settings: NormalizedSettings, given: MixpanelLike | undefined, note: (note: Note, ...details: unknown[]) => void): MixpanelLike {
  const storage = settings.persistence === 'none' ? undefined : usableStorage()
  let instance = given
  // The persistence mixpanel-browser started with (true: it was already running).
  let started: string | boolean = !!given?.__loaded
  let failure: unknown
  if (!given) instances += 1
  if (!started) {
    const name = instances > 1 ? `mixpanel_device_mode_${instances}` : 'mixpanel_device_mode'
    // Cookies that throw (sandboxed frames) make init throw: localStorage
    // persistence is tried next when it works. With both blocked,
    // mixpanel-browser cannot run (its calls read document.cookie).
    for (const persistence of settings.persistence === 'cookie' && storage ? (['cookie', 'localStorage'] as const) : [settings.persistence]) {
      const config = mixpanelConfig({ ...settings, persistence })
      // localStorage persistence still touches document.cookie once, moving an
      // old cookie at init: it gets an empty one for that moment.
      const shim = failure !== undefined && !!Object.defineProperty(document, 'cookie', { configurable: true, get: () => '', set() {} })
      try {
        if (given) given.init(settings.token, config)
        else instance = (bundled as unknown as MixpanelLike).init(settings.token, config, name) || undefined
      } catch (error) {
        failure = error
        continue
      } finally {
        if (shim) delete (document as { cookie?: string }).cookie
      }
      started = persistence
      break
    }
  }
  if (!started || !instance?.__loaded) throw failure ?? new Error(`mixpanel-browser${given ? ' given in `deps.mixpanel`' : ''} did not initialise`)
  // Debug says which persistence is in force when storage failed.
  const used = started === true ? settings.persistence : started
  if (used !== settings.persistence || (!storage && used !== 'none')) note([PERSISTENCE_FALLBACK, settings.persistence, used, storage ? 'localStorage' : 'memory'])
  try {
    if (!deliver(instance, settings.token, storage, note)) note([DELIVERY_OFF])
  } catch (error) {
    // Not a browser (server rendering, tests in Node): mixpanel-browser sends by itself.
    note([DELIVERY_OFF], error)
  }
  return instance
}
