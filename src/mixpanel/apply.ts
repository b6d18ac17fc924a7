import type { Operation } from '../types'
import type { MixpanelLike } from './types'

/**
 * Performs operations on a mixpanel-browser instance: the only code that calls
 * it. One failing operation does not stop the others; failures are returned.
 */
export function apply(mixpanel: MixpanelLike, ops: readonly Operation[]): unknown[] {
  const errors: unknown[] = []
  for (const operation of ops) {
    try {
      perform(mixpanel, operation)
    } catch (error) {
      errors.push(error)
    }
  }
  return errors
}

// The operations named after their mixpanel-browser method: the fields passed
// to it, in order (an alias without `original` is called with one argument).
const ARGUMENTS: Record<string, string[]> = {
  identify: ['id'],
  register: ['props'],
  track: ['event', 'props'],
  set_group: ['key', 'id'],
  alias: ['alias', 'original'],
  reset: [],
  unregister: ['name'],
}

function perform(mp: MixpanelLike, o: Operation): void {
  const fields = o as unknown as Record<string, any>
  // `people.<method>` and `group.<method>` take the properties alone.
  const [target, method] = o.op.split('.') as [string, string | undefined]
  if (method) {
    const on: any = target === 'people' ? mp.people : mp.get_group(fields.key, fields.id)
    on[method](fields.props)
  } else if (o.op === 'opt_in') mp.opt_in_tracking()
  // mixpanel-browser deletes the profile unless told not to.
  else if (o.op === 'opt_out') mp.opt_out_tracking({ delete_user: o.deleteUser })
  else (mp as any)[o.op](...ARGUMENTS[o.op]!.map((name) => fields[name]).filter((value) => value !== undefined))
}
