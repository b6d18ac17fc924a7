import { explain } from '../../src/messages'
import { normalizeSettings, type Settings } from '../../src/settings'
import { translate } from '../../src/translate/index'
import type { Message, State, Translation } from '../../src/types'

/** The fixed clock every translation runs with. */
export const NOW = new Date('2024-05-06T07:08:09.010Z')
export const NOW_ISO = '2024-05-06T07:08:09.010Z'

export interface StateInput {
  userId?: string | null
  distinctId?: string | null
  /** Super properties as mixpanel-browser has them registered now. */
  registered?: Record<string, unknown>
}

/** What translation may know about the user, as plain data. */
export function stateOf({ userId = null, distinctId = 'device-1', registered = {} }: StateInput = {}): State {
  return { userId, distinctId, superProperty: (name) => registered[name] }
}

/**
 * Translates one message with the settings `{ token, ...settings }` normalized
 * as the runtime does; the notes come back as the sentences debug prints.
 */
export function run(message: Message, settings: Omit<Settings, 'token'> = {}, state: StateInput = {}): { ops: Translation['ops']; notes: string[] } {
  const { ops, notes } = translate(message, { settings: normalizeSettings({ token: 'tok', ...settings }), state: stateOf(state), now: NOW })
  return { ops, notes: notes.map(explain) }
}

/** Freezes a value and everything inside it, so a mutation throws. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}
