import { createRuntime, type Deps, type Runtime } from './runtime'
import { normalizeSettings, type Settings } from './settings'
import type { Message } from './types'
import { version } from './version'

/** The part of an Analytics Next `Context` the plugin reads. */
export interface PluginContext {
  event: Message & Record<string, unknown>
}

/** The part of an Analytics Next instance the plugin uses. */
export interface AnalyticsInstance {
  on?(event: string, listener: (...args: unknown[]) => void): unknown
}

type Handler = (ctx: PluginContext) => Promise<PluginContext>

/** An Analytics Next destination plugin (`@segment/analytics-next`'s `Plugin` shape). */
export interface MixpanelDestinationPlugin {
  name: 'Mixpanel'
  type: 'destination'
  version: string
  isLoaded(): boolean
  load(ctx: PluginContext, analytics: AnalyticsInstance): Promise<void>
  unload(): Promise<void>
  track: Handler
  page: Handler
  screen: Handler
  identify: Handler
  group: Handler
  alias: Handler
}

/**
 * The integration as a destination plugin for Segment's Analytics Next:
 * `AnalyticsBrowser.load({ writeKey, plugins: [mixpanelDestination({ token })] })`.
 * Throws a `SettingsError` at creation for bad settings.
 */
export function mixpanelDestination(settings: Settings, deps: Deps = {}): MixpanelDestinationPlugin {
  const normalized = normalizeSettings(settings)
  let runtime: Runtime | undefined
  let loaded = false
  // Events arriving before load() are kept in order and sent once it ran.
  const early: Message[] = []

  const forward: Handler = async (ctx) => {
    try {
      const event = ctx.event
      const integrations = event.integrations
      if (integrations && (integrations.Mixpanel === false || (integrations.All === false && integrations.Mixpanel !== true))) {
        return ctx
      }
      // A shallow copy: translation never writes into the caller's objects.
      const message: Message = { ...event }
      if (runtime) await runtime.send(message)
      else early.push(message)
    } catch {
      // Never fail the host's event pipeline.
    }
    return ctx
  }

  return {
    name: 'Mixpanel',
    type: 'destination',
    version,
    isLoaded: () => loaded,
    async load(_ctx, analytics) {
      if (runtime) return
      runtime = createRuntime(normalized, deps)
      runtime.start()
      const current = runtime
      try {
        analytics?.on?.('reset', () => void current.perform('reset', [{ op: 'reset' }]))
      } catch (error) {
        current.log.debug('could not listen to analytics.reset()', error)
      }
      for (const message of early.splice(0)) await current.send(message)
      loaded = true
    },
    async unload() {
      loaded = false
    },
    track: forward,
    page: forward,
    screen: forward,
    identify: forward,
    group: forward,
    alias: forward,
  }
}
