import type { NormalizedSettings } from '../settings'
import { RENAMED_PROPERTY, RESERVED_PROPERTY, type Note } from '../notes'
import type { Context, Operation, Properties, Translation } from '../types'
import { isEmpty, jsonValues, listHas, parseAmount, push } from './values'

type TrackSettings = Pick<NormalizedSettings, 'people' | 'sourceName' | 'superProperties' | 'eventIncrements' | 'propIncrements'>

// Properties mixpanel-browser sets itself or that Mixpanel reserves.
const RESERVED = ['distinct_id', 'ip', 'mp_name_tag', 'mp_note', 'token']
// A numeric `length` makes mixpanel-browser 2.83 send the event with no properties.
const RENAMED = ['length', 'bucket']

/**
 * track (and page/screen, once named) → increments and the revenue charge on
 * the profile, the `track` itself, then the `superProperties` found in it.
 */
export function translateTrack(
  event: string,
  properties: Properties | undefined,
  { settings, now }: Context<TrackSettings>,
): Translation {
  const ops: Operation[] = []
  const notes: Note[] = []
  const props: Properties = { ...properties }
  if (settings.sourceName) props.segment_source_name = settings.sourceName
  for (const key of RESERVED) {
    if (key in props) {
      delete props[key]
      notes.push([RESERVED_PROPERTY, event, key])
    }
  }
  for (const key of RENAMED) {
    if (key in props) {
      props[key + '_'] = props[key]
      delete props[key]
      notes.push([RENAMED_PROPERTY, event, key, key + '_'])
    }
  }
  // The caller's object is where a cycle back to it starts.
  const clean = jsonValues(props, properties)

  if (settings.people) {
    const time = now.toISOString()
    const increments: Record<string, number> = {}
    const counted = listHas(settings.eventIncrements, event)
    if (counted) increments[event] = 1
    for (const key in clean) {
      const value = clean[key]
      if (typeof value === 'number' && isFinite(value) && listHas(settings.propIncrements, key)) {
        increments[key] = (increments[key] ?? 0) + value
      }
    }
    push(ops, 'people.increment', increments)
    if (counted) ops.push({ op: 'people.set', props: { [`Last ${event}`]: time } })
    // A null or empty `revenue` is no revenue, so an order's `total` still counts.
    const amount = parseAmount(
      !isEmpty(clean.revenue) ? clean.revenue : /^(order completed|completed order)$/i.test(event) ? clean.total : undefined,
    )
    // Zero is no charge.
    if (amount) ops.push({ op: 'people.append', props: { $transactions: { $amount: amount, $time: time } } })
  }

  ops.push({ op: 'track', event, props: clean })
  const supers: Properties = {}
  for (const key of settings.superProperties) if (key in clean) supers[key] = clean[key]
  push(ops, 'register', supers)
  return { ops, notes }
}
