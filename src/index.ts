export { createAnalytics, toMessage } from './facade'
export type { Analytics, CallOptions, Callback, OptOutOptions } from './facade'
export { mixpanelDestination } from './plugin'
export type { AnalyticsInstance, MixpanelDestinationPlugin, PluginContext } from './plugin'
export { normalizeSettings, SettingsError } from './settings'
export type { NormalizedSettings, Settings } from './settings'
export { translate } from './translate/index'
export type { Deps } from './runtime'
export type { MixpanelLike } from './mixpanel/types'
export type { Message, Operation, PageContext, Properties, State, Translation, TranslationContext } from './types'
/** @deprecated Renamed `TranslationContext` (it clashed with Analytics Next's `Context`). */
export type Context<S> = import('./types').TranslationContext<S>
export { version } from './version'
