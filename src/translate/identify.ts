import type { NormalizedSettings } from '../settings'
import { IDENTIFY_NO_USER, NO_PEOPLE, type Note } from '../notes'
import type { TranslationContext, Message, Operation, Properties, Translation } from '../types'
import { isSpecialName, mixpanelTraits, specialName } from './traits'
import { addOperation, hasKeys, jsonValues, nonEmptyString, renameReserved, sentName, unionArrays } from './values'

type IdentifySettings = Pick<
  NormalizedSettings,
  'people' | 'setAllTraitsByDefault' | 'superProperties' | 'peopleProperties' | 'legacySuperProperties'
>

/**
 * identify → `identify` (only when the id changes), one `register` for the
 * super properties and the name tag, one `people.set` and one `people.union`.
 */
export function translateIdentify(message: Message, { settings, state }: TranslationContext<IdentifySettings>): Translation {
  const ops: Operation[] = []
  const notes: Note[] = []
  const userId = nonEmptyString(message.userId)
  // `length` and `bucket` are renamed before they can become super or profile properties.
  const traits = renameReserved(jsonValues({ ...message.traits }, message.traits), notes, 'identify')
  if (userId) traits.id = userId
  const profileTraits = mixpanelTraits(traits, userId)
  const all = settings.setAllTraitsByDefault

  // The same user as mixpanel-browser's identified one (its distinct id, or its
  // `$user_id`, which stays beside the device id after an alias) or alias sends
  // no new `$identify`: at most one per user and device. The start-up
  // re-identify already flushed the queued People updates on this page
  // (docs/behaviour.md, "Identify").
  // (Read one by one: each read re-parses mixpanel-browser's cookie.)
  const known = userId === state.distinctId || userId === state.userId || userId === state.superProperty('__alias')
  if (userId && !known) ops.push({ op: 'identify', id: userId })

  const supers = pick(settings.legacySuperProperties ? profileTraits : traits, all || listed(settings.superProperties))
  for (const key in supers) {
    const value = supers[key]
    // An empty array clears, as it does on the profile.
    if (Array.isArray(value) && value.length) supers[key] = unionArrays(state.superProperty(key), value)
  }
  const nameTag = [profileTraits.$email, profileTraits.$username, userId].find((v) => typeof v === 'string' && v)
  if (nameTag) supers.mp_name_tag = nameTag
  addOperation(ops, 'register', supers)

  if (settings.people) {
    const allowed = listed(settings.peopleProperties)
    ops.push(...peopleWrites(pick(profileTraits, all || ((key) => isSpecialName(key) || allowed(key)))))
    if (!userId) notes.push([IDENTIFY_NO_USER])
  } else if (hasKeys(profileTraits)) {
    notes.push([NO_PEOPLE])
  }
  return { ops, notes }
}

/** Non-empty arrays go to `people.union`, everything else (also `[]`, which clears) to `people.set`. */
export function peopleWrites(props: Properties): Operation[] {
  const set: Properties = {}
  const union: Properties = {}
  for (const key in props) {
    const value = props[key]
    if (value !== undefined) (Array.isArray(value) && value.length ? union : set)[key] = value
  }
  const ops: Operation[] = []
  addOperation(ops, 'people.set', set)
  addOperation(ops, 'people.union', union)
  return ops
}

/** A matcher for an allow-list: a trait is listed under its own name or its `$` name. */
function listed(list: readonly string[]): (key: string) => boolean {
  const names = new Set(list.map((item) => specialName(item) ?? sentName(item)).concat(list))
  return (key) => names.has(key) || names.has(specialName(key)!)
}

/** The properties `keep` accepts (`true`: a copy of all of them). */
function pick(props: Properties, keep: true | ((key: string) => boolean)): Properties {
  const out: Properties = {}
  for (const key in props) if (keep === true || keep(key)) out[key] = props[key]
  return out
}
