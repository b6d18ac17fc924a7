/**
 * Mixpanel engage (`POST {host}/engage?verbose=1`, a JSON array of `$set`
 * updates). The outbox stores what a user's profile should say; a user's
 * rows coalesce into one `$set` in which `SegmentMembership` and every
 * `In <Audience>` come from the same, newest, membership, so the two views
 * agree in every request (docs/shim.md, "mParticle → Mixpanel").
 */
import type { HttpClient } from '../../http-client.js'
import type { OutboxRow } from '../../store/types.js'
import { byStatus, isAnswer, post } from '../answer.js'
import { byUser, type Answer, type Destination, type UserUpdate } from '../types.js'

/** One user's queued update. */
export interface EngagePayload {
  token: string
  distinctId: string
  /** The user's audiences after the change (ascending). */
  members: number[]
  /** Audiences whose `In <name>` attribute is written (with one attribute per audience), by id. */
  named: Record<string, string>
}

/** What the first shim stored (`$set` ready-made); still sent after an upgrade. */
interface LegacyEngageUpdate { $token: string; $distinct_id: string; $set: Record<string, unknown> }

/** `'11034','11036'`: each id in single quotes, comma-separated, ascending. */
export function segmentMembership(audienceIds: readonly number[]): string {
  return [...audienceIds].sort((a, b) => a - b).map((id) => `'${id}'`).join(',')
}

/** `dest` of Mixpanel rows: the engage base URL and the token, so one request never mixes projects. */
export function mixpanelDest(apiBase: string, token: string): string {
  return `${apiBase} ${token}`
}

export function mixpanelBaseOf(dest: string): string {
  const i = dest.indexOf(' ')
  return i < 0 ? dest : dest.slice(0, i)
}

/** The `$set` for a user's rows, oldest first. */
export function engageSet(payloads: readonly (EngagePayload | LegacyEngageUpdate)[]): { token: string; distinctId: string; set: Record<string, unknown> } {
  let set: Record<string, unknown> = {}
  const named = new Map<string, string>()
  let token = ''
  let distinctId = ''
  for (const p of payloads) {
    if ('$set' in p) {
      set = { ...set, ...p.$set }
      token = p.$token
      distinctId = p.$distinct_id
      continue
    }
    token = p.token
    distinctId = p.distinctId
    for (const [id, name] of Object.entries(p.named)) named.set(id, name)
    set.SegmentMembership = segmentMembership(p.members)
    // Every attribute named so far follows the newest membership.
    const members = new Set(p.members.map(String))
    for (const [id, name] of named) set[`In ${name}`] = members.has(id)
  }
  return { token, distinctId, set }
}

export const mixpanelEngage: Destination = {
  sink: 'mixpanel',
  maxUpdates: 2000,

  coalesce(rows: readonly OutboxRow[]): UserUpdate[] {
    return byUser(rows).map(({ userKey, rows: rs }) => {
      const { token, distinctId, set } = engageSet(rs.map((r) => JSON.parse(r.payload) as EngagePayload | LegacyEngageUpdate))
      // "$ip": "0": do not geolocate the profile from the shim's address; "$ignore_time": an audience change is not activity.
      const body = JSON.stringify({ $token: token, $distinct_id: distinctId, $ip: '0', $ignore_time: true, $set: set })
      return { userKey, ids: rs.map((r) => r.id), attempts: Math.max(...rs.map((r) => r.attempts)), body }
    })
  },

  async deliver(http: HttpClient, dest: string, updates: readonly UserUpdate[], signal: AbortSignal): Promise<Answer> {
    const res = await post(http, `${mixpanelBaseOf(dest)}/engage?verbose=1`, { 'content-type': 'application/json', accept: 'application/json' },
      `[${updates.map((u) => u.body).join(',')}]`, signal)
    if (isAnswer(res)) return res
    const bad = byStatus(res, Date.now())
    if (bad !== undefined) return bad
    // Mixpanel answers 200 even when it rejects updates: the verbose body decides.
    const body = res.body.trim()
    if (body === '0') return { kind: 'refused', reason: 'Mixpanel answered 0: updates rejected', split: true }
    try {
      const parsed = JSON.parse(body) as { status?: unknown; error?: unknown }
      if (parsed.status === 0 || parsed.status === '0') {
        return { kind: 'refused', reason: `Mixpanel rejected the updates: ${String(parsed.error ?? 'no reason given')}`, split: true }
      }
    } catch {
      // A 2xx that is not Mixpanel's JSON (a proxy, a collector): delivered.
    }
    return { kind: 'ok' }
  },
}
