/**
 * What the outbox stores for each sink, how two pending updates of one user
 * coalesce, and how a batch of them becomes a request body. Pure.
 */
import { renderBatch, type MparticleIdentity } from './mixpanel-cohorts.js'
import type { Sink } from './metrics.js'

/** One Mixpanel engage update, exactly as sent. */
export interface EngageUpdate {
  $token: string
  $distinct_id: string
  /** "0": do not geolocate the profile from the shim's own IP address. */
  $ip: '0'
  /** A server-side audience update is not user activity: leave "Last Seen" alone. */
  $ignore_time: true
  $set: Record<string, unknown>
}

export interface MparticleUpdate {
  identity: MparticleIdentity
  environment: string
  user_attributes: Record<string, unknown>
}

export function engageUpdate(token: string, distinctId: string, set: Record<string, unknown>): EngageUpdate {
  return { $token: token, $distinct_id: distinctId, $ip: '0', $ignore_time: true, $set: set }
}

/** Newer values win; keys only in the older update are kept (merging `$set` / `user_attributes`). */
export function mergePayload(sink: Sink, older: unknown, newer: unknown): unknown {
  if (sink === 'mixpanel') {
    const o = older as EngageUpdate
    const n = newer as EngageUpdate
    return { ...o, ...n, $set: { ...o.$set, ...n.$set } }
  }
  const o = older as MparticleUpdate
  const n = newer as MparticleUpdate
  return { ...o, ...n, user_attributes: { ...o.user_attributes, ...n.user_attributes } }
}

/** `dest` of Mixpanel rows: the engage base URL and the token, so one request never mixes projects. */
export function mixpanelDest(apiBase: string, token: string): string {
  return `${apiBase} ${token}`
}

export function mixpanelBaseOf(dest: string): string {
  const i = dest.indexOf(' ')
  return i < 0 ? dest : dest.slice(0, i)
}

/** The JSON body of one request: an array of engage updates or of Events API batches. */
export function renderRequestBody(sink: Sink, payloads: readonly string[]): string {
  if (sink === 'mixpanel') return `[${payloads.join(',')}]`
  return `[${payloads.map((p) => {
    const u = JSON.parse(p) as MparticleUpdate
    return renderBatch(u.identity, u.user_attributes, u.environment)
  }).join(',')}]`
}
