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
  if (given !== undefined) {
    if (given.__loaded !== true) given.init(settings.token, mixpanelConfig(settings))
    if (given.__loaded !== true) throw new Error('the mixpanel-browser instance given in `deps.mixpanel` did not initialise')
    return given
  }
  instances += 1
  const name = instances === 1 ? 'mixpanel_device_mode' : `mixpanel_device_mode_${instances}`
  const instance = (bundled as unknown as MixpanelLike).init(settings.token, mixpanelConfig(settings), name)
  if (!instance || instance.__loaded !== true) throw new Error('mixpanel-browser did not initialise')
  return instance
}
