import { createRuntime, mixpanelOff, type Deps, type Runtime } from './runtime'
import { LISTEN_FAILED } from './notes'
import { normalizeSettings, type Settings } from './settings'
import type { Message } from './types'
import { version } from './version'

/** The part of an Analytics Next `Context` the plugin reads. */
export interface PluginContext {
  event: Message & Record<string, unknown>
}

/** The part of an Analytics Next instance the plugin uses. */
export interface AnalyticsInstance {
  on?(event: string, listener: (...args: never[]) => void): unknown
  off?(event: string, listener: (...args: never[]) => void): unknown
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
  // Analytics Next (1.84) overwrites an alias event's userId with the current
  // user's id, so the new id only reaches us through the instance's
  // 'alias' emit (to, from), which follows the delivery of the event to the
  // plugins. Alias events wait here for it; one the host filtered out never
  // reaches the hook, so its emit finds nothing to complete.
  const aliases: Message[] = []
  let aliasFromEmit = false
  let detach: () => void = () => {}

  const send = async (message: Message): Promise<void> => {
    if (runtime) await runtime.send(message)
    else early.push(message)
  }

  const forward: Handler = async (ctx) => {
    try {
      if (mixpanelOff(ctx.event.integrations)) return ctx
      // A shallow copy: translation never writes into the caller's objects.
      const message: Message = { ...ctx.event }
      if (message.type === 'alias' && aliasFromEmit) aliases.push(message)
      else await send(message)
    } catch {
      // Never fail the host's event pipeline.
    }
    return ctx
  }

  const onAlias = (to: unknown, from: unknown): void => {
    // The waiting alias of this call: the first one with the same previousId.
    const previous = typeof from === 'string' && from !== '' ? from : null
    const index = aliases.findIndex((m) => (m.previousId ?? null) === previous)
    if (index === -1) return
    const [message] = aliases.splice(index, 1)
    const userId = typeof to === 'string' || typeof to === 'number' ? String(to) : message!.userId ?? null
    void send({ ...message!, userId })
  }

  return {
    name: 'Mixpanel',
    type: 'destination',
    version,
    isLoaded: () => loaded,
    async load(_ctx, analytics) {
      if (loaded) return
      // After unload(), a second load() attaches again to the same mixpanel-browser instance.
      const current = (runtime ??= createRuntime(normalized, deps))
      const onReset = (): void => void current.perform('reset', [{ op: 'reset' }])
      try {
        if (typeof analytics?.on === 'function') {
          analytics.on('reset', onReset)
          analytics.on('alias', onAlias)
          aliasFromEmit = true
          detach = () => {
            analytics.off?.('reset', onReset)
            analytics.off?.('alias', onAlias)
          }
        }
      } catch (error) {
        current.log.debug([LISTEN_FAILED], error)
      }
      for (const message of early.splice(0)) await current.send(message)
      loaded = true
    },
    async unload() {
      try {
        detach()
      } catch {
        // The host is going away anyway.
      }
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
