import type { NormalizedSettings } from '../settings'
import { PAGE_NOT_NAMED } from '../notes'
import type { TranslationContext, Message, Properties, Translation } from '../types'
import { translateTrack } from './track'
import { dropped } from './values'

type PageSettings = Pick<
  NormalizedSettings,
  'consolidatedPageCalls' | 'trackAllPages' | 'trackCategorizedPages' | 'trackNamedPages'
> &
  Parameters<typeof translateTrack>[2]['settings']

/** The Mixpanel event name for a page or screen call, or undefined when no rule names it. */
export function pageEventName(message: Pick<Message, 'type' | 'name' | 'category'>, settings: PageSettings): string | undefined {
  const noun = message.type === 'screen' ? 'Screen' : 'Page'
  const { name, category } = message
  if (settings.consolidatedPageCalls || settings.trackAllPages) return `Loaded a ${noun}`
  if (settings.trackCategorizedPages && category) return `Viewed ${category} ${name ? name + ' ' : ''}${noun}`
  if (settings.trackNamedPages && name) return `Viewed ${name} ${noun}`
}

/** page/screen → at most one event, then the whole track pipeline. */
export function translatePage(message: Message, context: TranslationContext<PageSettings>): Translation {
  const { settings } = context
  const event = pageEventName(message, settings)
  if (!event) return dropped(PAGE_NOT_NAMED, message.type, settings.trackCategorizedPages, settings.trackNamedPages)
  const page: Properties = { ...message.context?.page }
  const facts: Properties = {}
  for (const key of ['path', 'referrer', 'search', 'title', 'url']) if (page[key] !== undefined) facts[key] = page[key]
  // A spread, not Object.assign: an own `__proto__` key (JSON.parse makes one)
  // stays a plain key, which jsonValues then leaves out.
  const props: Properties = { ...facts, ...message.properties }
  if (message.name) props.name = message.name
  if (message.category) props.category = message.category
  return translateTrack(event, props, context)
}
