import type { NormalizedSettings } from '../settings'
import type { Properties } from '../types'

const HOSTS = {
  us: 'https://api-js.mixpanel.com',
  eu: 'https://api-eu.mixpanel.com',
  in: 'https://api-in.mixpanel.com',
} as const

/** The API host requests go to: `apiHost`, else the residency's host. */
export function apiHostFor(settings: Pick<NormalizedSettings, 'apiHost' | 'dataResidency'>): string {
  return settings.apiHost ?? HOSTS[settings.dataResidency]
}

/** mixpanel-browser `init` options for the settings. Pure. */
export function mixpanelConfig(settings: NormalizedSettings): Properties {
  const none = settings.persistence === 'none'
  const config: Properties = {
    api_host: apiHostFor(settings),
    // JSON bodies for every host: proxies get readable payloads and emoji are not
    // mangled by mixpanel-browser's base64 encoder.
    api_payload_format: 'json',
    cross_subdomain_cookie: settings.crossSubdomainCookie,
    secure_cookie: settings.secureCookie,
    persistence: none ? 'localStorage' : settings.persistence,
    disable_persistence: none,
    // The batch queue lives in localStorage; 'none' means nothing is stored.
    batch_requests: !none,
    track_pageview: false,
    debug: settings.debug,
  }
  if (settings.cookieName !== '') config.cookie_name = settings.cookieName
  if (settings.optOutByDefault) {
    // Without the second flag mixpanel-browser still writes its cookie.
    config.opt_out_tracking_by_default = true
    config.opt_out_persistence_by_default = true
  }
  return Object.assign(config, settings.mixpanelConfig)
}
