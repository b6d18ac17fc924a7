import type { Properties } from '../types'

/**
 * Returns the value with every `Date` (in nested objects and arrays too) as an
 * ISO-8601 string: mixpanel-browser 2.83 sends a `Date` as `{}`. Values without
 * dates are returned as they are, so the common case copies nothing.
 */
export function isoDates<T>(value: T): T {
  if (value instanceof Date) return (isNaN(value.getTime()) ? null : value.toISOString()) as T
  if (Array.isArray(value)) {
    let out: unknown[] | undefined
    value.forEach((item, i) => {
      const next = isoDates(item)
      if (next !== item) (out ??= value.slice())[i] = next
    })
    return (out ?? value) as T
  }
  if (value !== null && typeof value === 'object') {
    let out: Properties | undefined
    for (const key of Object.keys(value)) {
      const item = (value as Properties)[key]
      const next = isoDates(item)
      if (next !== item) (out ??= { ...(value as Properties) })[key] = next
    }
    return (out ?? value) as T
  }
  return value
}

/** Lower-case without separators: `E_mail`, `e-mail` and `Email` all give `email`. */
export function looseKey(key: string): string {
  return key.toLowerCase().replace(/[\s_\-.]/g, '')
}

/** A case-insensitive lookup set for setting lists such as `eventIncrements`. */
export function lowerSet(list: readonly string[]): Set<string> {
  return new Set(list.map((item) => item.toLowerCase()))
}

export function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || value === ''
}

/** `existing` followed by the items of `incoming` it lacks, types and order kept. */
export function unionArrays(existing: unknown, incoming: unknown[]): unknown[] {
  if (!Array.isArray(existing)) return incoming
  const seen = new Set(existing.map(identity))
  const out = existing.slice()
  for (const item of incoming) {
    const key = identity(item)
    if (!seen.has(key)) {
      seen.add(key)
      out.push(item)
    }
  }
  return out
}

// Primitives compare by type and value (1 and '1' differ); objects by their JSON.
function identity(item: unknown): string {
  return typeof item === 'object' && item !== null ? `o${JSON.stringify(item)}` : `${typeof item}:${String(item)}`
}

/**
 * Parses an amount such as `12.5`, `"12.50"`, `"$1,012.50"` or `"10,50 €"` (a
 * comma before one or two final digits, with no dot, is a decimal comma);
 * anything else gives undefined.
 */
export function parseAmount(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined
  if (typeof value !== 'string') return undefined
  let cleaned = value.replace(/[^0-9.,\-]/g, '')
  if (!cleaned.includes('.')) cleaned = cleaned.replace(/,(\d{1,2})$/, '.$1')
  cleaned = cleaned.replace(/,/g, '')
  if (!/^-?\d*\.?\d+$/.test(cleaned)) return undefined
  const n = Number(cleaned)
  return Number.isFinite(n) ? n : undefined
}
