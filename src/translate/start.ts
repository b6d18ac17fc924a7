import type { Operation, State } from '../types'
import { RENAMED, sentName } from './values'

// mixpanel-browser's queues of People updates waiting for identify(), in its persistence.
const PEOPLE_QUEUES = ['__mps', '__mpso', '__mpus', '__mpa', '__mpap', '__mpr', '__mpu']

/**
 * What runs once when mixpanel-browser has started, from what it has stored:
 * - super properties `length` and `bucket` registered by an earlier version
 *   move to `length_` and `bucket_` (a stored `length` empties every event);
 * - without `people`, the People updates mixpanel-browser queued by itself
 *   (its `$set_once` of the initial referrer) are dropped before anything can
 *   send them;
 * - a known user is identified again under the current distinct id, which
 *   sends the queued People updates without a new `$identify` (after an alias
 *   the distinct id stays the device id).
 * See docs/behaviour.md, "Start-up".
 */
export function startOperations(state: State, people: boolean): Operation[] {
  const ops: Operation[] = []
  for (const name of RENAMED) {
    const value = state.superProperty(name)
    if (value !== undefined) ops.push({ op: 'register', props: { [sentName(name)]: value } }, { op: 'unregister', name })
  }
  if (!people) for (const name of PEOPLE_QUEUES) if (state.superProperty(name) !== undefined) ops.push({ op: 'unregister', name })
  const distinctId = state.userId && state.distinctId
  if (distinctId) ops.push({ op: 'identify', id: distinctId })
  return ops
}
