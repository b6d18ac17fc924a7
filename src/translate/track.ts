import type { NormalizedSettings } from '../settings'
import type { Context, Operation, Properties, Translation } from '../types'
import { isEmpty, isoDates, lowerSet, parseAmount } from './values'

type TrackSettings = Pick<NormalizedSettings, 'people' | 'sourceName' | 'superProperties' | 'eventIncrements' | 'propIncrements'>

// Properties mixpanel-browser sets itself or that Mixpanel reserves.
const RESERVED = ['distinct_id', 'ip', 'mp_name_tag', 'mp_note', 'token']
// A numeric `length` makes mixpanel-browser 2.83 send the event with no properties.
const RENAMED: Record<string, string> = { length: 'length_', bucket: 'bucket_' }
const ORDER_EVENTS = new Set(['order completed', 'completed order'])

// Setting lists are lowered once per settings object, not per call.
const lowered = new WeakMap<TrackSettings, { events: Set<string>; props: Set<string> }>()
function lists(settings: TrackSettings): { events: Set<string>; props: Set<string> } {
  let found = lowered.get(settings)
  if (!found) {
    found = { events: lowerSet(settings.eventIncrements), props: lowerSet(settings.propIncrements) }
    lowered.set(settings, found)
  }
  return found
}

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
  const notes: string[] = []
  const props: Properties = { ...(properties ?? {}) }
  if (settings.sourceName !== '') props.segment_source_name = settings.sourceName
  for (const key of RESERVED) {
    if (key in props) {
      delete props[key]
      notes.push(`track "${event}": removed the reserved property \`${key}\``)
    }
  }
  for (const [from, to] of Object.entries(RENAMED)) {
    if (from in props) {
      props[to] = props[from]
      delete props[from]
      notes.push(`track "${event}": renamed \`${from}\` to \`${to}\``)
    }
  }
  const clean = isoDates(props)

  if (settings.people) {
    const { events, props: incrementable } = lists(settings)
    const increments: Record<string, number> = {}
    let lastSeen: Properties | undefined
    if (events.has(event.toLowerCase())) {
      increments[event] = 1
      lastSeen = { [`Last ${event}`]: now.toISOString() }
    }
    if (incrementable.size > 0) {
      for (const key of Object.keys(clean)) {
        const value = clean[key]
        if (incrementable.has(key.toLowerCase()) && typeof value === 'number' && Number.isFinite(value)) {
          increments[key] = (increments[key] ?? 0) + value
        }
      }
    }
    if (Object.keys(increments).length > 0) ops.push({ op: 'people.increment', props: increments })
    if (lastSeen) ops.push({ op: 'people.set', props: lastSeen })
    const amount = revenue(event, clean)
    if (amount !== undefined) {
      ops.push({ op: 'people.append', props: { $transactions: { $amount: amount, $time: now.toISOString() } } })
    }
  }

  ops.push({ op: 'track', event, props: clean })

  if (settings.superProperties.length > 0) {
    const supers: Properties = {}
    for (const key of settings.superProperties) if (key in clean) supers[key] = clean[key]
    if (Object.keys(supers).length > 0) ops.push({ op: 'register', props: supers })
  }
  return { ops, notes }
}

/** `revenue`, or `total` on an order completion; zero and non-numbers give no charge. */
function revenue(event: string, props: Properties): number | undefined {
  // A null or empty `revenue` is no revenue, so an order's `total` still counts.
  const raw = !isEmpty(props.revenue) ? props.revenue : ORDER_EVENTS.has(event.toLowerCase()) ? props.total : undefined
  const amount = parseAmount(raw)
  return amount === 0 ? undefined : amount
}
