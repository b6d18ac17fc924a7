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
  // `people.<method>` and `group.<method>` take the properties alone.
  const [target, method] = o.op.split('.') as [string, string | undefined]
  if (method) {
    const on: any = target === 'people' ? mp.people : mp.get_group((o as { key: string }).key, (o as { id: string }).id)
    on[method]((o as { props: object }).props)
    return
  }
  switch (o.op) {
    case 'identify': mp.identify(o.id); return
    case 'register': mp.register(o.props); return
    case 'track': mp.track(o.event, o.props); return
    case 'set_group': mp.set_group(o.key, o.id); return
    case 'alias':
      if (o.original === undefined) mp.alias(o.alias)
      else mp.alias(o.alias, o.original)
      return
    case 'reset': mp.reset(); return
    case 'unregister': mp.unregister(o.name); return
    case 'opt_in': mp.opt_in_tracking(); return
    // mixpanel-browser deletes the profile unless told not to.
    case 'opt_out': mp.opt_out_tracking({ delete_user: o.deleteUser })
  }
}
