import type { NormalizedSettings } from '../settings'
import { TRACK_NO_EVENT, UNKNOWN_TYPE } from '../notes'
import type { TranslationContext, Message, Translation } from '../types'
import { translateAlias } from './alias'
import { translateGroup } from './group'
import { translateIdentify } from './identify'
import { translatePage } from './page'
import { translateTrack } from './track'
import { dropped, nonEmptyString } from './values'

/** One Segment-spec message → the mixpanel-browser operations for it. Pure. */
export function translate(message: Message, context: TranslationContext<NormalizedSettings>): Translation {
  switch (message.type) {
    case 'page':
    case 'screen':
      return translatePage(message, context)
    case 'identify':
      return translateIdentify(message, context)
    case 'track': {
      const event = nonEmptyString(message.event)
      return event ? translateTrack(event, message.properties, context) : dropped(TRACK_NO_EVENT)
    }
    case 'group':
      return translateGroup(message, context)
    case 'alias':
      return translateAlias(message, context)
    default:
      return dropped(UNKNOWN_TYPE, (message as Message).type)
  }
}
