/**
 * Reading webhook bodies. `JSON.parse` turns an integer above 2^53 into the
 * nearest double, so an MPID exported as a JSON number would silently become
 * another user; here such integers are kept exactly, as their digits in a
 * string (the validators accept ids as digit strings). Nesting deeper than
 * `MAX_DEPTH` is refused, so nothing later recurses that deep.
 */
import { BadRequest } from './validate.js'

export const MAX_DEPTH = 64

export function parseJsonExact(text: string): unknown {
  // Only a run of 16+ digits can be an integer above 2^53: without one, the plain parser is exact.
  const source = /\d{16}/.test(text) ? quoteBigIntegers(text) : text
  let value: unknown
  try {
    value = JSON.parse(source)
  } catch (err) {
    throw new BadRequest(`malformed JSON: ${(err as Error).message}`)
  }
  if (depthOf(value) > MAX_DEPTH) throw new BadRequest(`the JSON body is nested more than ${MAX_DEPTH} levels deep`)
  return value
}

/** Nesting depth of a parsed value, without recursion (so any depth is safe to measure). */
function depthOf(root: unknown): number {
  let max = 0
  const stack: [unknown, number][] = [[root, 1]]
  while (stack.length > 0) {
    const [v, d] = stack.pop()!
    if (typeof v !== 'object' || v === null) continue
    if (d > max) max = d
    if (max > MAX_DEPTH) return max
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, d + 1])
    }
  }
  return max
}

/** Rewrites integer literals beyond 2^53 outside strings as strings of their digits. */
function quoteBigIntegers(text: string): string {
  let out = ''
  let from = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1
      while (j < text.length && /[0-9.eE+-]/.test(text[j]!)) j++
      const token = text.slice(i, j)
      if (/^-?\d+$/.test(token) && !Number.isSafeInteger(Number(token))) {
        out += `${text.slice(from, i)}"${token}"`
        from = j
      }
      i = j - 1
    }
  }
  return from === 0 ? text : out + text.slice(from)
}
