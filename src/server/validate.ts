import { HTTPException } from 'hono/http-exception'

/**
 * Tiny schema helpers: each one checks a value and throws a `BadRequest` that
 * names the field, so a 400 says exactly what is wrong.
 */

/** A request the shim refuses, with the status and the message the caller sees (rendered by the app's one `onError`). */
export class BadRequest extends HTTPException {
  constructor(message: string, status: 400 | 401 | 413 | 415 | 503 = 400) {
    super(status, { message })
    this.name = 'BadRequest'
  }
}

const show = (v: unknown): string => {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return 'an object'
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)
  return String(v)
}

export function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadRequest(`\`${path}\` must be an object (got ${show(v)})`)
  return v as Record<string, unknown>
}

export function optObj(v: unknown, path: string): Record<string, unknown> | undefined {
  return v === undefined || v === null ? undefined : obj(v, path)
}

export function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw new BadRequest(`\`${path}\` must be an array (got ${show(v)})`)
  return v
}

export function optArr(v: unknown, path: string): unknown[] | undefined {
  return v === undefined || v === null ? undefined : arr(v, path)
}

export function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || v === '') throw new BadRequest(`\`${path}\` must be a non-empty string (got ${v === '' ? 'an empty string' : show(v)})`)
  return v
}

export function optStr(v: unknown, path: string): string | undefined {
  return v === undefined || v === null ? undefined : str(v, path)
}

/** A safe integer, or a string of digits (ids arrive both ways). */
export function int(v: unknown, path: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v
  if (typeof v === 'string' && /^-?\d{1,15}$/.test(v)) return Number(v)
  throw new BadRequest(`\`${path}\` must be an integer (got ${show(v)})`)
}

export function oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T {
  if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T
  throw new BadRequest(`\`${path}\` must be one of ${values.join(', ')} (got ${show(v)})`)
}

/** A string id, or a number turned into its decimal string. */
export function idString(v: unknown, path: string): string {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v)
  return str(v, path)
}
