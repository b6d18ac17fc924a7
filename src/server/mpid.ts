/**
 * The one MPID parser. An MPID is a signed 64-bit integer other than 0; it
 * arrives as a JSON number or a string of digits, and is kept as its
 * canonical decimal string, so `"007"` and `7` are the same user.
 */
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

export function parseMpid(v: unknown): string | undefined {
  let s: string
  if (typeof v === 'number' && Number.isSafeInteger(v)) s = String(v)
  else if (typeof v === 'string' && /^\s*-?\d{1,20}\s*$/.test(v)) s = v.trim()
  else return undefined
  const n = BigInt(s)
  if (n < INT64_MIN || n > INT64_MAX || n === 0n) return undefined
  return n.toString()
}
