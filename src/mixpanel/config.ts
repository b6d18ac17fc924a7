import type { NormalizedSettings } from '../settings'
import type { Properties } from '../types'

/** The API host requests go to: `apiHost`, else the residency's host (`api-js`, `api-eu`, `api-in`). */
export const apiHostFor = ({ apiHost, dataResidency: r }: Pick<NormalizedSettings, 'apiHost' | 'dataResidency'>): string =>
  apiHost ?? `https://api-${r === 'us' ? 'js' : r}.mixpanel.com`

/** mixpanel-browser `init` options for the settings. Pure. */
export function mixpanelConfig(settings: NormalizedSettings): Properties {
  const none = settings.persistence === 'none'
  return {
    api_host: apiHostFor(settings),
    // JSON bodies for every host: proxies get readable payloads and emoji are not
    // mangled by mixpanel-browser's base64 encoder.
    api_payload_format: 'json',
    cross_subdomain_cookie: settings.crossSubdomainCookie,
    secure_cookie: settings.secureCookie,
    persistence: none ? 'localStorage' : settings.persistence,
    disable_persistence: none,
    track_pageview: false,
    debug: settings.debug,
    // '' and false are mixpanel-browser's own defaults.
    cookie_name: settings.cookieName,
    // Without the second flag mixpanel-browser still writes its cookie.
    opt_out_tracking_by_default: settings.optOutByDefault,
    opt_out_persistence_by_default: settings.optOutByDefault,
    ...settings.mixpanelConfig,
    // Our own queue delivers (docs/delivery.md): it needs every record handed
    // to the hooks at call time, which mixpanel-browser does only unbatched.
    batch_requests: false,
  }
}
