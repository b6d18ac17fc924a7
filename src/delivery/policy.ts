// Pure delivery decisions (docs/delivery.md): what an answer means, how long
// to wait, how old a record may be. No clock, no randomness, no browser
// here. Used by the sender only (a lazy chunk): the caps are in queue.ts.

/** At most this many records per request (Mixpanel's limit for /track, /engage, /groups). */
export const BATCH = 50
/** Records older than this are dropped: Mixpanel's /track refuses events more than 5 days old. */
export const MAX_AGE = 5 * 24 * 3600_000
/** A request that has not answered after this long is abandoned and retried. */
export const TIMEOUT = 15_000
/** Longest wait between attempts, whatever `Retry-After` says. */
export const MAX_WAIT = 600_000
/** A page's lease lapses after this long without a heartbeat (every LEASE / 4). */
export const LEASE = 20_000
/** Retry backoff: 1 s, 2 s, 4 s … capped at one minute, each with up to 50 % jitter. */
const BACKOFF_BASE = 1000
const BACKOFF_CAP = 60_000

/**
 * What to do with a batch after an answer with `status` (0: no answer —
 * network error, connection reset, CORS failure, timeout):
 * `ok` sent; `split` re-send it in halves (one record the API refuses spoils
 * a whole batch); `drop` the API will never accept this record; `retry` later.
 */
export function verdict(status: number, size: number): 'ok' | 'split' | 'drop' | 'retry' {
  if (status >= 200 && status < 300) return 'ok'
  // 400: malformed or refused data; 413: too large. Anything else may pass later.
  if (status === 400 || status === 413) return size > 1 ? 'split' : 'drop'
  return 'retry'
}

/**
 * Milliseconds to wait as a `Retry-After` header says — delay-seconds or an
 * HTTP-date — capped at MAX_WAIT; undefined when absent or unreadable.
 */
export function retryAfter(header: string | null | undefined, now: number): number | undefined {
  const value = header?.trim()
  if (!value) return undefined
  // An HTTP-date starts with the day's name; anything else is unreadable.
  const ms = /^\d+$/.test(value) ? +value * 1000 : /^[a-z]/i.test(value) ? Date.parse(value) - now : NaN
  return ms === ms ? Math.min(Math.max(ms, 0), MAX_WAIT) : undefined
}

/** Exponential backoff with jitter for the n-th failure in a row (n ≥ 1); `random` in [0, 1). */
export const backoff = (failures: number, random: number): number =>
  Math.min(BACKOFF_CAP, BACKOFF_BASE * 2 ** Math.min(failures - 1, 16)) * (0.5 + random / 2)
