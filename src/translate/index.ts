import type { NormalizedSettings } from '../settings'
import type { Context, Message, Translation } from '../types'
import { translateAlias } from './alias'
import { translateGroup } from './group'
import { translateIdentify } from './identify'
import { translatePage } from './page'
import { translateTrack } from './track'

/** One Segment-spec message → the mixpanel-browser operations for it. Pure. */
export function translate(message: Message, context: Context<NormalizedSettings>): Translation {
  switch (message.type) {
    case 'page':
    case 'screen':
      return translatePage(message, context)
    case 'identify':
      return translateIdentify(message, context)
    case 'track':
      if (typeof message.event !== 'string' || message.event === '') {
        return { ops: [], notes: ['track call ignored: the event name must be a non-empty string'] }
      }
      return translateTrack(message.event, message.properties, context)
    case 'group':
      return translateGroup(message, context)
    case 'alias':
      return translateAlias(message, context)
    default:
      return { ops: [], notes: [`call ignored: unknown message type ${JSON.stringify((message as Message).type)}`] }
  }
}
