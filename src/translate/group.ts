import type { NormalizedSettings } from '../settings'
import { GROUP_NO_ID, GROUP_NO_KEY, GROUP_NO_SETTING, GROUP_NO_USER, type Note } from '../notes'
import type { TranslationContext, Message, Operation, Properties, Translation } from '../types'
import { addOperation, dropped, isEmpty, jsonValues, renameReserved } from './values'

type GroupSettings = Pick<NormalizedSettings, 'people' | 'groupIdentifierTraits' | 'groupTraitsToSetOnce'>

/**
 * group → for each configured group key found in the traits: membership
 * (`set_group`) and the group profile, `$set_once` for the listed traits and
 * `$set` for the others, so group traits can be updated later.
 */
export function translateGroup(message: Message, { settings, state }: TranslationContext<GroupSettings>): Translation {
  const configured = settings.groupIdentifierTraits
  // Segment's spec requires a groupId; Segment's own integration ignores a call without one.
  if (isEmpty(message.groupId)) return dropped(GROUP_NO_ID)
  if (state.userId === null) return dropped(GROUP_NO_USER)
  const notes: Note[] = []
  const traits = renameReserved(jsonValues({ ...message.traits }, message.traits), notes, 'group')
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
    // set_group also writes the user's profile: without `people`, only the super property it registers.
    ops.push(settings.people ? { op: 'set_group', key, id } : { op: 'register', props: { [key]: [id] } })
    addOperation(ops, 'group.set_once', setOnce, { key, id })
    addOperation(ops, 'group.set', set, { key, id })
  }
  return { ops, notes }
}
