import type { Context, Message, Translation } from '../types'

/** alias → `mixpanel.alias`, except an alias of the current distinct id to itself. */
export function translateAlias(message: Message, { state }: Context<unknown>): Translation {
  const alias = message.userId
  if (typeof alias !== 'string' || alias === '') {
    return { ops: [], notes: ['alias call ignored: it has no userId'] }
  }
  if (alias === state.distinctId) {
    return { ops: [], notes: [`alias call ignored: "${alias}" already is the current distinct id`] }
  }
  const original = message.previousId
  return {
    ops: [typeof original === 'string' && original !== '' ? { op: 'alias', alias, original } : { op: 'alias', alias }],
    notes: [],
  }
}
