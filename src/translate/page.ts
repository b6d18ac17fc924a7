import type { NormalizedSettings } from '../settings'
import type { Context, Message, Properties, Translation } from '../types'
import { translateTrack } from './track'

type PageSettings = Pick<
  NormalizedSettings,
  'consolidatedPageCalls' | 'trackAllPages' | 'trackCategorizedPages' | 'trackNamedPages'
> &
  Parameters<typeof translateTrack>[2]['settings']

const PAGE_KEYS = ['path', 'referrer', 'search', 'title', 'url'] as const

/** The Mixpanel event name for a page or screen call, or the reason it is not sent. */
export function pageEventName(
  message: Pick<Message, 'type' | 'name' | 'category'>,
  settings: PageSettings,
): { event: string } | { dropped: string } {
  const noun = message.type === 'screen' ? 'Screen' : 'Page'
  const name = message.name ?? ''
  const category = message.category ?? ''
  if (settings.consolidatedPageCalls) return { event: `Loaded a ${noun}` }
  if (settings.trackAllPages) return { event: `Loaded a ${noun}` }
  if (settings.trackCategorizedPages && category !== '') {
    return { event: name !== '' ? `Viewed ${category} ${name} ${noun}` : `Viewed ${category} ${noun}` }
  }
  if (settings.trackNamedPages && name !== '') return { event: `Viewed ${name} ${noun}` }
  return {
    dropped:
      `${message.type} call not sent: \`consolidatedPageCalls\` and \`trackAllPages\` are off` +
      (settings.trackCategorizedPages ? ', it has no category' : ', `trackCategorizedPages` is off') +
      (settings.trackNamedPages ? ' and it has no name' : ' and `trackNamedPages` is off'),
  }
}

/** page/screen → at most one event, then the whole track pipeline. */
export function translatePage(message: Message, context: Context<PageSettings>): Translation {
  const named = pageEventName(message, context.settings)
  if ('dropped' in named) return { ops: [], notes: [named.dropped] }
  const page = message.context?.page ?? {}
  const props: Properties = {}
  for (const key of PAGE_KEYS) if (page[key] !== undefined) props[key] = page[key]
  Object.assign(props, message.properties)
  if (message.name) props.name = message.name
  if (message.category) props.category = message.category
  return translateTrack(named.event, props, context)
}
