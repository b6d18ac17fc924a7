/**
 * Why a call was dropped or changed, as data: a code and its arguments.
 * `explain()` (messages.ts) turns one into a sentence; that module is loaded
 * only when the `debug` setting is on, so the sentences cost pages nothing.
 */
export type Note = readonly [code: number, ...args: unknown[]]

export const TRACK_NO_EVENT = 0
export const RESERVED_PROPERTY = 1
export const RENAMED_PROPERTY = 2
export const PAGE_NOT_NAMED = 3
export const NO_PEOPLE = 4
export const IDENTIFY_NO_USER = 5
export const GROUP_NO_USER = 6
export const GROUP_NO_SETTING = 7
export const GROUP_NO_KEY = 8
export const ALIAS_NO_USER = 9
export const ALIAS_SAME = 10
export const UNKNOWN_TYPE = 11
export const NOT_RUNNING = 12
export const CALL_FAILED = 13
export const MIXPANEL_FAILED = 14
export const REIDENTIFY_FAILED = 15
export const CALLBACK_THREW = 16
export const SKIPPED = 17
export const BRIDGE_FAILED = 18
export const LISTEN_FAILED = 19
// Delivery (docs/delivery.md).
export const DELIVERY_DROPPED = 20
export const DELIVERY_STORAGE = 21
export const PERSISTENCE_FALLBACK = 22
export const DELIVERY_OFF = 23
