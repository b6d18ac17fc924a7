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

const SPECIAL_NAMES = new Set(Object.values(SPECIAL))

/** Whether `key` is one of Mixpanel's special profile names (`$email` …). */
export function isSpecialName(key: string): boolean {
  return SPECIAL_NAMES.has(key)
}

const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

/** The `$` name of a special trait (`E_mail` → `$email`), or undefined. */
export function specialName(key: string): string | undefined {
  return SPECIAL[looseKey(key)]
}

/**
 * The traits under Mixpanel's names: each special trait under its `$` name
 * (the caller's key is not kept beside it), plus what Segment derives: `$email`
 * from an email-shaped userId, first and last name from `name` and the reverse.
 */
export function mixpanelTraits(traits: Properties, userId: string | null | undefined): Properties {
  const out: Properties = {}
  for (const key of Object.keys(traits)) {
    out[specialName(key) ?? key] = traits[key]
  }
  if (isEmpty(out.$email) && typeof userId === 'string' && EMAIL_SHAPE.test(userId)) {
    out.$email = userId
  }
  const name = out.$name
  if (typeof name === 'string' && name.trim() !== '') {
    const [first, ...rest] = name.trim().split(/\s+/)
    if (isEmpty(out.$first_name) && first) out.$first_name = first
    if (isEmpty(out.$last_name) && rest.length > 0) out.$last_name = rest.join(' ')
  } else if (isEmpty(name) && (!isEmpty(out.$first_name) || !isEmpty(out.$last_name))) {
    const full = [out.$first_name, out.$last_name].filter((part) => !isEmpty(part)).join(' ')
    if (full !== '') out.$name = full
  }
  return out
}
