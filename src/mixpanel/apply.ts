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

function perform(mp: MixpanelLike, o: Operation): void {
  switch (o.op) {
    case 'identify': mp.identify(o.id); return
    case 'register': mp.register(o.props); return
    case 'people.set': mp.people.set(o.props); return
    case 'people.set_once': mp.people.set_once(o.props); return
    case 'people.union': mp.people.union(o.props); return
    case 'people.increment': mp.people.increment(o.props); return
    case 'people.append': mp.people.append(o.props); return
    case 'track': mp.track(o.event, o.props); return
    case 'set_group': mp.set_group(o.key, o.id); return
    case 'group.set': mp.get_group(o.key, o.id).set(o.props); return
    case 'group.set_once': mp.get_group(o.key, o.id).set_once(o.props); return
    case 'alias':
      if (o.original === undefined) mp.alias(o.alias)
      else mp.alias(o.alias, o.original)
      return
    case 'reset': mp.reset(); return
  }
}
