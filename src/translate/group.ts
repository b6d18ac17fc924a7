import type { NormalizedSettings } from '../settings'
import type { Context, Message, Operation, Properties, Translation } from '../types'
import { isEmpty, isoDates } from './values'

type GroupSettings = Pick<NormalizedSettings, 'groupIdentifierTraits' | 'groupTraitsToSetOnce'>

/**
 * group → for each configured group key found in the traits: membership
 * (`set_group`) and the group profile, `$set_once` for the listed traits and
 * `$set` for the others, so group traits can be updated later.
 */
export function translateGroup(message: Message, { settings, state }: Context<GroupSettings>): Translation {
  if (state.userId === null) {
    return { ops: [], notes: ['group call ignored: no user is identified yet (call identify with a userId first)'] }
  }
  const traits: Properties = isoDates({ ...(message.traits ?? {}) })
  const keys = settings.groupIdentifierTraits.filter((key) => !isEmpty(traits[key]))
  if (keys.length === 0) {
    const configured = settings.groupIdentifierTraits.map((k) => `\`${k}\``).join(', ')
    return {
      ops: [],
      notes: [
        configured === ''
          ? 'group call ignored: the setting `groupIdentifierTraits` is empty'
          : `group call ignored: its traits have none of the group keys ${configured}`,
      ],
    }
  }
  const once = new Set(settings.groupTraitsToSetOnce)
  const setOnce: Properties = {}
  const set: Properties = {}
  for (const key of Object.keys(traits)) {
    if (traits[key] === undefined) continue
    ;(once.has(key) ? setOnce : set)[key] = traits[key]
  }
  const ops: Operation[] = []
  for (const key of keys) {
    const id = String(traits[key])
    ops.push({ op: 'set_group', key, id })
    if (Object.keys(setOnce).length > 0) ops.push({ op: 'group.set_once', key, id, props: setOnce })
    if (Object.keys(set).length > 0) ops.push({ op: 'group.set', key, id, props: set })
  }
  return { ops, notes: [] }
}
