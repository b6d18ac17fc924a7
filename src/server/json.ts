/**
 * Reading webhook bodies. `JSON.parse` turns an integer above 2^53 into the
 * nearest double, so an MPID exported as a JSON number would silently become
 * another user; here such integers are kept exactly, as their digits in a
 * string (the validators accept ids as digit strings). Nesting deeper than
 * `MAX_DEPTH` is refused before parsing, so nothing later recurses that deep.
 */
import { BadRequest } from './validate.js'

export const MAX_DEPTH = 64

export function parseJsonExact(text: string): unknown {
  let out = ''
  let from = 0
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > MAX_DEPTH) throw new BadRequest(`the JSON body is nested more than ${MAX_DEPTH} levels deep`)
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--
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
  const source = from === 0 ? text : out + text.slice(from)
  try {
    return JSON.parse(source)
  } catch (err) {
    throw new BadRequest(`malformed JSON: ${(err as Error).message}`)
  }
}
