/**
 * What the sender needs from a destination: how a user's claimed rows
 * coalesce into one update, how updates become one request, and what the
 * answer means. Each destination is a folder (mixpanel-engage/,
 * mparticle-events/) holding those three together.
 */
import type { HttpClient } from '../http-client.js'
import type { OutboxRow, Sink } from '../store/types.js'

/** The rows of one user in a claimed batch, coalesced into one update. */
export interface UserUpdate {
  userKey: string
  ids: number[]
  /** The most failed attempts among its rows. */
  attempts: number
  /** The rendered update (one element of the request's JSON array). */
  body: string
}

/** The meaning of a destination's answer to one request. */
export type Answer =
  | { kind: 'ok' }
  /** Network error, timeout, 3xx (never followed), 408, 425, 429, 5xx: send again later; `retryAfterMs` from the answer. */
  | { kind: 'retry'; reason: string; retryAfterMs: number | undefined }
  /** 401, 403, 404: the credential or the URL is wrong for every update: pause the sink, retry with backoff. */
  | { kind: 'pause'; reason: string }
  /**
   * Refused for something an update may carry (400, 413, 422, Mixpanel's
   * `status: 0`): `split` sends the updates again in halves to find which.
   */
  | { kind: 'refused'; reason: string; split: boolean }

export interface Destination {
  sink: Sink
  /** Most updates per request. */
  maxUpdates: number
  /** Groups rows by user (in row order, newer values win) into one update each, in the order of each user's first row. */
  coalesce(rows: readonly OutboxRow[]): UserUpdate[]
  /** Sends one request with `updates` to `dest` and classifies the answer; never throws. */
  deliver(http: HttpClient, dest: string, updates: readonly UserUpdate[], signal: AbortSignal): Promise<Answer>
}

/** Groups rows by user, keeping the order of each user's first row. */
export function byUser(rows: readonly OutboxRow[]): { userKey: string; rows: OutboxRow[] }[] {
  const groups = new Map<string, OutboxRow[]>()
  for (const r of rows) {
    const g = groups.get(r.userKey)
    if (g === undefined) groups.set(r.userKey, [r])
    else g.push(r)
  }
  return [...groups].map(([userKey, rs]) => ({ userKey, rows: rs }))
}

/**
 * `rows` cut into runs of at most `maxUsers` users, each run holding every
 * row of its users in row order, the runs in the order of each user's first
 * row: coalescing the runs one by one gives the same updates, in the same
 * order, as coalescing `rows` at once (what `Destination.coalesce` promises).
 */
export function userSlices(rows: readonly OutboxRow[], maxUsers: number): OutboxRow[][] {
  if (maxUsers < 1) throw new Error('userSlices: maxUsers must be at least 1')
  const groups = byUser(rows)
  const slices: OutboxRow[][] = []
  for (let i = 0; i < groups.length; i += maxUsers) slices.push(groups.slice(i, i + maxUsers).flatMap((g) => g.rows))
  return slices
}
