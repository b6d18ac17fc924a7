import type { Note } from './notes'

/** A plain JSON-like object: properties, traits, People updates. */
export type Properties = Record<string, unknown>

/** Page facts used as default page properties (Segment's `context.page`). */
export interface PageContext {
  path?: string
  referrer?: string
  search?: string
  title?: string
  url?: string
}

/** One analytics.js call as a Segment-spec message (what translation reads). */
export interface Message {
  type: 'page' | 'screen' | 'identify' | 'track' | 'group' | 'alias'
  userId?: string | null
  anonymousId?: string | null
  event?: string | null
  name?: string | null
  category?: string | null
  properties?: Properties
  traits?: Properties
  groupId?: string | null
  previousId?: string | null
  context?: { page?: PageContext; traits?: Properties } & Properties
  integrations?: Record<string, unknown>
}

/** One mixpanel-browser call, as plain data. `mixpanel/apply.ts` performs it. */
export type Operation =
  | { op: 'identify'; id: string }
  | { op: 'register'; props: Properties }
  | { op: 'people.set'; props: Properties }
  | { op: 'people.union'; props: Record<string, unknown[]> }
  | { op: 'people.increment'; props: Record<string, number> }
  | { op: 'people.append'; props: Properties }
  | { op: 'track'; event: string; props: Properties }
  | { op: 'set_group'; key: string; id: string }
  | { op: 'group.set'; key: string; id: string; props: Properties }
  | { op: 'group.set_once'; key: string; id: string; props: Properties }
  | { op: 'alias'; alias: string; original?: string }
  | { op: 'reset' }
  | { op: 'unregister'; name: string }
  | { op: 'opt_in' }
  /** `deleteUser`: also delete the profile (an erasure request), see docs/behaviour.md "Consent". */
  | { op: 'opt_out'; deleteUser: boolean }

/** What translation may know about the current user, read from mixpanel-browser. */
export interface State {
  /** The identified user (`$user_id`), or null for an anonymous visitor. */
  userId: string | null
  /** mixpanel-browser's current distinct id. */
  distinctId: string | null
  /** A super property as registered now (used to union arrays). */
  superProperty(name: string): unknown
}

/** Everything a translation needs besides the message. */
export interface TranslationContext<S> {
  settings: S
  state: State
  /** The current time, for `Last <event>` and `$transactions`. */
  now: Date
}

/** The operations for one message, plus notes for debug (renames, drops; see `explain`). */
export interface Translation {
  ops: Operation[]
  notes: Note[]
}
