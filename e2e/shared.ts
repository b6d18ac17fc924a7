// Shared by the Chromium suite (e2e/) and the engine suite (e2e-engines/):
// plain data, no Playwright imports, so either config can load it.

/** Chromium's flags on these machines: no sandbox as root, no GPU, no background traffic. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
]

/**
 * Keys mixpanel-browser adds to every event by itself. `own()` removes them so
 * a test can compare, with `toEqual`, exactly what the integration put there.
 */
export const AUTO_EVENT_KEYS = [
  '$os', '$browser', '$browser_version', '$current_url', '$screen_height', '$screen_width',
  'mp_lib', '$lib_version', '$insert_id', 'time', 'distinct_id', '$device_id', '$user_id',
  '$initial_referrer', '$initial_referring_domain', '$referrer', '$referring_domain', 'token',
  // added by mixpanel-browser's batch sender, when a page's own instance batches
  'mp_sent_by_lib_version',
] as const

/** Keys mixpanel-browser adds to every People `$set` by itself. */
export const AUTO_PEOPLE_KEYS = ['$os', '$browser', '$browser_version'] as const

/** A copy of `props` without `keys`. */
export function omit(props: Record<string, any> | undefined, keys: readonly string[]): Record<string, any> {
  const out: Record<string, any> = { ...(props ?? {}) }
  for (const key of keys) delete out[key]
  return out
}
