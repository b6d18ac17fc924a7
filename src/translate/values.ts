import { RENAMED_PROPERTY, type Note } from '../notes'
import type { Operation, Properties, Translation } from '../types'

// Far beyond what Mixpanel keeps (an object property holds at most 8 KB); the
// bound keeps a runaway graph (a DOM node carrying React's fiber tree) from
// freezing the page.
const MAX_OBJECTS = 10000

// Keys never copied: merged into another object, `__proto__` (an own key after
// JSON.parse) would set its prototype and leak into every later event.
const UNSAFE_KEYS = ['__proto__', 'constructor', 'prototype']

/**
 * The value as `JSON.stringify` would see it, ready for mixpanel-browser's own
 * encoder (which sends a `Date` as `{}`, throws on a BigInt and recurses
 * forever on a cycle): `toJSON()` applied at every depth (a `Date` becomes its
 * ISO-8601 string, `null` when invalid; dayjs, Luxon, Temporal … values their
 * strings), a BigInt a number (its digits beyond 2^53), and an object that
 * contains itself `'[Circular]'` where it repeats, as fast-safe-stringify
 * does. Functions, symbols and `undefined` are left out of objects (null in
arrays) and the keys `__proto__`, `constructor` and `prototype` are never
copied (docs/behaviour.md, "Values"). `root` is the caller's object the value was copied from. Throws a
 * RangeError past 10,000 objects. Unchanged values are returned as they are,
 * so the common case copies nothing.
 */
export function jsonValues<T>(value: T, root: unknown): T {
  const parents = [root]
  let objects = 0
  const walk = (value: any): unknown => {
    // Once per value, as JSON.stringify does: a toJSON() returning `this` ends.
    if (typeof value?.toJSON === 'function') value = value.toJSON()
    if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : String(value)
    if (value === null || typeof value !== 'object') return value
    if (parents.includes(value)) return '[Circular]'
    if (++objects > MAX_OBJECTS) throw new RangeError(`over ${MAX_OBJECTS} objects in one call's properties: not sent`)
    parents.push(value)
    let out: any
    const array = Array.isArray(value)
    // Object.keys gives an array's indices too, and own keys only.
    for (const key of Object.keys(value)) {
      const item = value[key]
      let next = walk(item)
      // As JSON.stringify: functions, symbols and undefined are left out of an object, null in an array.
      const unsendable = next === undefined || typeof next == 'function' || typeof next == 'symbol'
      if (!array && (unsendable || UNSAFE_KEYS.includes(key))) {
        delete (out ??= { ...value })[key]
        continue
      }
      if (unsendable) next = null
      if (next !== item) (out ??= array ? value.slice() : { ...value })[key] = next
    }
    parents.pop()
    return out ?? value
  }
  return walk(value) as T
}

/** Lower-case without separators: `E_mail`, `e-mail` and `Email` all give `email`. */
export const looseKey = (key: string): string => key.toLowerCase().replace(/[\s_\-.]/g, '')

/** Whether a case-insensitive setting list (`eventIncrements` …) holds `name`. */
export const listHas = (list: readonly string[], name: string): boolean =>
  list.some((item) => item.toLowerCase() === name.toLowerCase())

/** The value when it is a non-empty string, else null. */
export const nonEmptyString = (value: unknown): string | null => (typeof value === 'string' && value) || null

/** A plain object (properties, traits, options, settings): not null, an array or a `Date`. */
export const isObject = (value: unknown): value is Properties =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)

export const isEmpty = (value: unknown): boolean => value == null || value === ''

/** Whether an object has at least one key. */
export const hasKeys = (props: object): boolean => Object.keys(props).length > 0

// A numeric `length` makes mixpanel-browser take the properties for an array:
// an event goes out with none, and a registered one empties every later event.
export const RENAMED = ['length', 'bucket']

/** The name a property or trait is sent under: `length` and `bucket` get a trailing `_`. */
export const sentName = (key: string): string => (RENAMED.includes(key) ? key + '_' : key)

/**
 * Renames `length` and `bucket` in `props` (our own copy) to `length_` and
 * `bucket_` (docs/behaviour.md, "Renamed properties"), with a note for each.
 */
export function renameReserved(props: Properties, notes: Note[], call: string): Properties {
  for (const key of RENAMED) {
    if (key in props) {
      props[sentName(key)] = props[key]
      delete props[key]
      notes.push([RENAMED_PROPERTY, call, key, sentName(key)])
    }
  }
  return props
}

/** Adds `{ op, props }` to `ops` unless `props` is empty: no mixpanel call writes nothing. */
export function addOperation(ops: Operation[], op: Operation['op'], props: Properties, extra?: object): void {
  if (hasKeys(props)) ops.push({ op, props, ...extra } as Operation)
}

/** The translation of a call that sends nothing, with the reason. */
export const dropped = (...note: Note): Translation => ({ ops: [], notes: [note] })

/** `existing` followed by the items of `incoming` it lacks, types and order kept. */
export function unionArrays(existing: unknown, incoming: unknown[]): unknown[] {
  if (!Array.isArray(existing)) return incoming
  // Primitives compare by type and value (1 and '1' differ), objects by their JSON.
  const identity = (item: unknown): string => typeof item + JSON.stringify(item)
  const seen = new Set(existing.map(identity))
  const out = existing.slice()
  for (const item of incoming) {
    const key = identity(item)
    if (!seen.has(key)) seen.add(key), out.push(item)
  }
  return out
}

/**
 * Parses an amount such as `12.5`, `"12.50"`, `"$1,012.50"` or `"10,50 €"` (a
 * comma before one or two final digits, with no dot, is a decimal comma);
 * anything else gives undefined.
 */
export function parseAmount(value: unknown): number | undefined {
  if (typeof value === 'string') {
    let cleaned = value.replace(/[^0-9.,\-]/g, '')
    if (!cleaned.includes('.')) cleaned = cleaned.replace(/,(\d\d?)$/, '.$1')
    cleaned = cleaned.replace(/,/g, '')
    value = /^-?\d*\.?\d+$/.test(cleaned) ? +cleaned : undefined
  }
  return typeof value === 'number' && isFinite(value) ? value : undefined
}
