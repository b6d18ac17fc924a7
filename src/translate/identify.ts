import type { NormalizedSettings } from '../settings'
import { IDENTIFY_NO_USER, NO_PEOPLE, type Note } from '../notes'
import type { Context, Message, Operation, Properties, Translation } from '../types'
import { isSpecialName, mixpanelTraits, specialName } from './traits'
import { filled, jsonValues, push, text, unionArrays } from './values'

type IdentifySettings = Pick<
  NormalizedSettings,
  'people' | 'setAllTraitsByDefault' | 'superProperties' | 'peopleProperties' | 'legacySuperProperties'
>

/**
 * identify → `identify` (only when the id changes), one `register` for the
 * super properties and the name tag, one `people.set` and one `people.union`.
 */
export function translateIdentify(message: Message, { settings, state }: Context<IdentifySettings>): Translation {
  const ops: Operation[] = []
  const notes: Note[] = []
  const userId = text(message.userId)
  const traits: Properties = jsonValues({ ...message.traits }, message.traits)
  if (userId) traits.id = userId
  const mp = mixpanelTraits(traits, userId)
  const all = settings.setAllTraitsByDefault

  // The load-time re-identify already ran for this id on this page (SPEC §4.8).
  if (userId && userId !== state.distinctId) ops.push({ op: 'identify', id: userId })

  const supers = pick(settings.legacySuperProperties ? mp : traits, all || listed(settings.superProperties))
  for (const key in supers) {
    const value = supers[key]
    // An empty array clears, as it does on the profile.
    if (Array.isArray(value) && value.length) supers[key] = unionArrays(state.superProperty(key), value)
  }
  const nameTag = [mp.$email, mp.$username, userId].find((v) => typeof v === 'string' && v)
  if (nameTag) supers.mp_name_tag = nameTag
  push(ops, 'register', supers)

  if (settings.people) {
    const allowed = listed(settings.peopleProperties)
    ops.push(...peopleWrites(pick(mp, all || ((key) => isSpecialName(key) || allowed(key)))))
    if (!userId) notes.push([IDENTIFY_NO_USER])
  } else if (filled(mp)) {
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
  push(ops, 'people.set', set)
  push(ops, 'people.union', union)
  return ops
}

/** A matcher for an allow-list: a trait is listed under its own name or its `$` name. */
function listed(list: readonly string[]): (key: string) => boolean {
  const names = new Set(list.map((item) => specialName(item) ?? item).concat(list))
  return (key) => names.has(key) || names.has(specialName(key)!)
}

/** The properties `keep` accepts (`true`: a copy of all of them). */
function pick(props: Properties, keep: true | ((key: string) => boolean)): Properties {
  const out: Properties = {}
  for (const key in props) if (keep === true || keep(key)) out[key] = props[key]
  return out
}
