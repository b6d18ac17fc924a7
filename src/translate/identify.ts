import type { NormalizedSettings } from '../settings'
import type { Context, Message, Operation, Properties, Translation } from '../types'
import { isSpecialName, mixpanelTraits, specialName } from './traits'
import { isoDates, unionArrays } from './values'

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
  const notes: string[] = []
  const userId = typeof message.userId === 'string' && message.userId !== '' ? message.userId : null
  const traits: Properties = isoDates({ ...(message.traits ?? {}) })
  if (userId !== null) traits.id = userId
  const mp = mixpanelTraits(traits, userId)

  // The load-time re-identify already ran for this id on this page (SPEC §4.8).
  if (userId !== null && userId !== state.distinctId) ops.push({ op: 'identify', id: userId })

  const superSource = settings.legacySuperProperties ? mp : traits
  const supers = settings.setAllTraitsByDefault ? { ...superSource } : pick(superSource, listed(settings.superProperties))
  for (const key of Object.keys(supers)) {
    const value = supers[key]
    // An empty array clears, as it does on the profile.
    if (Array.isArray(value) && value.length > 0) supers[key] = unionArrays(state.superProperty(key), value)
  }
  const nameTag = [mp.$email, mp.$username, userId].find((v): v is string => typeof v === 'string' && v !== '')
  if (nameTag !== undefined) supers.mp_name_tag = nameTag
  if (Object.keys(supers).length > 0) ops.push({ op: 'register', props: supers })

  if (settings.people) {
    const allowed = listed(settings.peopleProperties)
    const people = settings.setAllTraitsByDefault ? mp : pick(mp, (key) => isSpecialName(key) || allowed(key))
    ops.push(...peopleWrites(people))
  } else if (Object.keys(mp).length > 0) {
    notes.push('identify: traits not set on the People profile because `people` is false')
  }
  if (userId === null && settings.people) {
    notes.push('identify without userId: People updates wait in mixpanel-browser until the user is identified')
  }
  return { ops, notes }
}

/** Non-empty arrays go to `people.union`, everything else (also `[]`, which clears) to `people.set`. */
export function peopleWrites(props: Properties): Operation[] {
  const set: Properties = {}
  const union: Record<string, unknown[]> = {}
  for (const key of Object.keys(props)) {
    const value = props[key]
    if (value === undefined) continue
    if (Array.isArray(value) && value.length > 0) union[key] = value
    else set[key] = value
  }
  const ops: Operation[] = []
  if (Object.keys(set).length > 0) ops.push({ op: 'people.set', props: set })
  if (Object.keys(union).length > 0) ops.push({ op: 'people.union', props: union })
  return ops
}

/** A matcher for an allow-list: a trait is listed under its own name or its `$` name. */
function listed(list: readonly string[]): (key: string) => boolean {
  const names = new Set(list)
  for (const item of list) {
    const special = specialName(item)
    if (special !== undefined) names.add(special)
  }
  return (key) => names.has(key) || names.has(specialName(key) ?? '')
}

function pick(props: Properties, keep: (key: string) => boolean): Properties {
  const out: Properties = {}
  for (const key of Object.keys(props)) if (keep(key)) out[key] = props[key]
  return out
}
