import type { Properties } from '../types'
import { isEmpty, looseKey } from './values'

// Special traits, by their loose key (see looseKey), to Mixpanel's reserved names.
const SPECIAL: Record<string, string> = {
  created: '$created',
  createdat: '$created',
  email: '$email',
  firstname: '$first_name',
  lastname: '$last_name',
  name: '$name',
  username: '$username',
  phone: '$phone',
  lastseen: '$last_seen',
}

const SPECIAL_NAMES = Object.values(SPECIAL)

/** Whether `key` is one of Mixpanel's special profile names (`$email` …). */
export const isSpecialName = (key: string): boolean => SPECIAL_NAMES.includes(key)

/** The `$` name of a special trait (`E_mail` → `$email`), or undefined. */
export const specialName = (key: string): string | undefined => SPECIAL[looseKey(key)]

/**
 * The traits under Mixpanel's names: each special trait under its `$` name
 * (the caller's key is not kept beside it), plus what Segment derives: `$email`
 * from an email-shaped userId, first and last name from `name` and the reverse.
 */
export function mixpanelTraits(traits: Properties, userId: string | null): Properties {
  const out: Properties = {}
  for (const key of Object.keys(traits)) out[specialName(key) ?? key] = traits[key]
  if (isEmpty(out.$email) && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(userId ?? '')) out.$email = userId
  const name = out.$name
  if (typeof name === 'string' && name.trim()) {
    const [first, ...rest] = name.trim().split(/\s+/)
    if (isEmpty(out.$first_name)) out.$first_name = first
    if (isEmpty(out.$last_name) && rest[0]) out.$last_name = rest.join(' ')
  } else if (isEmpty(name)) {
    const full = [out.$first_name, out.$last_name].filter((part) => !isEmpty(part)).join(' ')
    if (full) out.$name = full
  }
  return out
}
