import type { NormalizedSettings } from '../settings'
import { RESERVED_PROPERTY, type Note } from '../notes'
import type { TranslationContext, Operation, Properties, Translation } from '../types'
import { addOperation, isEmpty, jsonValues, listHas, parseAmount, renameReserved, sentName } from './values'

type TrackSettings = Pick<NormalizedSettings, 'people' | 'sourceName' | 'superProperties' | 'eventIncrements' | 'propIncrements'>

// Properties mixpanel-browser sets itself or that Mixpanel reserves.
const RESERVED = ['distinct_id', 'ip', 'mp_name_tag', 'mp_note', 'token']

/**
 * track (and page/screen, once named) → increments and the revenue charge on
 * the profile, the `track` itself, then the `superProperties` found in it.
 */
export function translateTrack(
  event: string,
  properties: Properties | undefined,
  { settings, now }: TranslationContext<TrackSettings>,
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
  renameReserved(props, notes, `track "${event}"`)
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
    addOperation(ops, 'people.increment', increments)
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
  // Under the name the event carried it: `length` is registered as `length_`.
  for (const key of settings.superProperties.map(sentName)) if (key in clean) supers[key] = clean[key]
  addOperation(ops, 'register', supers)
  return { ops, notes }
}
