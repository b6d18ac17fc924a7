import { ALIAS_NO_USER, ALIAS_SAME } from '../notes'
import type { TranslationContext, Message, Translation } from '../types'
import { dropped, nonEmptyString } from './values'

/** alias → `mixpanel.alias`, except an alias of the current distinct id to itself. */
export function translateAlias(message: Message, { state }: TranslationContext<unknown>): Translation {
  const alias = nonEmptyString(message.userId)
  const original = nonEmptyString(message.previousId)
  if (!alias) return dropped(ALIAS_NO_USER)
  if (alias === state.distinctId) return dropped(ALIAS_SAME, alias)
  return { ops: [original ? { op: 'alias', alias, original } : { op: 'alias', alias }], notes: [] }
}
