import type { Properties } from '../types'

/** The part of a mixpanel-browser instance this package uses. */
export interface MixpanelLike {
  __loaded?: boolean
  init(token: string, config?: Properties, name?: string): MixpanelLike | undefined | void
  identify(id: string): unknown
  register(props: Properties): unknown
  track(event: string, props?: Properties): unknown
  alias(alias: string, original?: string): unknown
  reset(): unknown
  set_group(key: string, id: string): unknown
  get_group(key: string, id: string): { set(props: Properties): unknown; set_once(props: Properties): unknown }
  get_distinct_id(): string
  get_property(name: string): unknown
  unregister(name: string): unknown
  opt_in_tracking(): unknown
  opt_out_tracking(options: { delete_user: boolean }): unknown
  /** Read by the delivery queue: nothing is sent while opted out. */
  has_opted_out_tracking(): boolean
  people: {
    set(props: Properties): unknown
    union(props: Properties): unknown
    increment(props: Record<string, number>): unknown
    append(props: Properties): unknown
  }
}
