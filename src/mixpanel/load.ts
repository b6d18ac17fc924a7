import bundled from 'mixpanel-browser/src/loaders/loader-module-core'
import type { NormalizedSettings } from '../settings'
import { mixpanelConfig } from './config'
import type { MixpanelLike } from './types'

let instances = 0

/**
 * The mixpanel-browser instance to use: the page's own when it is already
 * loaded, the page's own initialised with our settings when it is not, or a
 * named instance of the bundled core (so a page's own `mixpanel` is untouched).
 * Throws when mixpanel-browser cannot start.
 */
export function startMixpanel(settings: NormalizedSettings, given: MixpanelLike | undefined): MixpanelLike {
  const config = mixpanelConfig(settings)
  let instance = given
  if (!given) {
    instances += 1
    const name = instances > 1 ? `mixpanel_device_mode_${instances}` : 'mixpanel_device_mode'
    instance = (bundled as unknown as MixpanelLike).init(settings.token, config, name) || undefined
  } else if (!given.__loaded) {
    given.init(settings.token, config)
  }
  if (!instance?.__loaded) throw new Error(`mixpanel-browser${given ? ' given in `deps.mixpanel`' : ''} did not initialise`)
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
