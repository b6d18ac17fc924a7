import type { NormalizedSettings } from '../settings'
import { GROUP_NO_KEY, GROUP_NO_SETTING, GROUP_NO_USER } from '../notes'
import type { Context, Message, Operation, Properties, Translation } from '../types'
import { dropped, isEmpty, jsonValues, push } from './values'

type GroupSettings = Pick<NormalizedSettings, 'groupIdentifierTraits' | 'groupTraitsToSetOnce'>

/**
 * group → for each configured group key found in the traits: membership
 * (`set_group`) and the group profile, `$set_once` for the listed traits and
 * `$set` for the others, so group traits can be updated later.
 */
export function translateGroup(message: Message, { settings, state }: Context<GroupSettings>): Translation {
  const configured = settings.groupIdentifierTraits
  if (state.userId === null) return dropped(GROUP_NO_USER)
  const traits: Properties = jsonValues({ ...message.traits }, message.traits)
  const keys = configured.filter((key) => !isEmpty(traits[key]))
  if (!keys[0]) return configured[0] ? dropped(GROUP_NO_KEY, configured) : dropped(GROUP_NO_SETTING)
  const setOnce: Properties = {}
  const set: Properties = {}
  for (const key in traits) {
    if (traits[key] !== undefined) (settings.groupTraitsToSetOnce.includes(key) ? setOnce : set)[key] = traits[key]
  }
  const ops: Operation[] = []
  for (const key of keys) {
    const id = String(traits[key])
    ops.push({ op: 'set_group', key, id })
    push(ops, 'group.set_once', setOnce, { key, id })
    push(ops, 'group.set', set, { key, id })
  }
  return { ops, notes: [] }
}
