/**
 * Sending one claimed batch to its destination and classifying the answer:
 * delivered, retry later (network, 429, 5xx) or refused (other 4xx, Mixpanel's
 * `status: 0`).
 */
import type { HttpClient, HttpResponse } from './http-client.js'
import { mixpanelBaseOf, renderRequestBody } from './outbox-payloads.js'
import type { ClaimedBatch } from './store.js'

export type DeliveryOutcome =
  | { kind: 'ok' }
  | { kind: 'retry'; reason: string; retryAfterMs: number | undefined }
  /**
   * `split`: the refusal may come from one of the updates (a 400, 413, 422 or
   * Mixpanel's `status: 0`), so sending them apart can deliver the others; an
   * answer about the request as a whole (401, 403, 404, a redirect) is not.
   */
  | { kind: 'fail'; reason: string; split: boolean }

export type Deliverer = (batch: ClaimedBatch, signal: AbortSignal) => Promise<DeliveryOutcome>

const snippet = (s: string): string => (s.length > 300 ? `${s.slice(0, 300)}…` : s).replace(/\s+/g, ' ').trim()

/** `Retry-After` in seconds or as an HTTP date, in milliseconds from now. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const t = Date.parse(v)
  return Number.isNaN(t) ? undefined : Math.max(0, t - now)
}

function byStatus(res: HttpResponse): DeliveryOutcome | undefined {
  if (res.status === 429) {
    return { kind: 'retry', reason: `HTTP 429: ${snippet(res.body)}`, retryAfterMs: parseRetryAfter(res.header('retry-after'), Date.now()) }
  }
  if (res.status >= 500) {
    return { kind: 'retry', reason: `HTTP ${res.status}: ${snippet(res.body)}`, retryAfterMs: parseRetryAfter(res.header('retry-after'), Date.now()) }
  }
  if (res.status < 200 || res.status >= 300) {
    return { kind: 'fail', reason: `HTTP ${res.status}: ${snippet(res.body)}`, split: [400, 413, 422].includes(res.status) }
  }
  return undefined
}

async function post(http: HttpClient, url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<HttpResponse | DeliveryOutcome> {
  try {
    return await http.post(url, headers, body, signal)
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } }
    const detail = e.cause?.code ?? e.cause?.message ?? e.name
    return { kind: 'retry', reason: `network error: ${e.message}${detail !== undefined ? ` (${detail})` : ''}`, retryAfterMs: undefined }
  }
}

const isOutcome = (x: HttpResponse | DeliveryOutcome): x is DeliveryOutcome => 'kind' in x

/**
 * Mixpanel engage: `POST {host}/engage?verbose=1` with a JSON array. Mixpanel
 * answers 200 even when it rejects updates, so the verbose body decides.
 */
export function mixpanelDeliverer(http: HttpClient): Deliverer {
  return async (batch, signal) => {
    const url = `${mixpanelBaseOf(batch.dest)}/engage?verbose=1`
    const res = await post(http, url, { 'content-type': 'application/json', accept: 'application/json' },
      renderRequestBody('mixpanel', batch.rows.map((r) => r.payload)), signal)
    if (isOutcome(res)) return res
    const bad = byStatus(res)
    if (bad !== undefined) return bad
    const body = res.body.trim()
    if (body === '1' || body === '') return { kind: 'ok' }
    if (body === '0') return { kind: 'fail', reason: 'Mixpanel answered 0: updates rejected', split: true }
    try {
      const parsed = JSON.parse(body) as { status?: unknown; error?: unknown }
      if (parsed.status === 0 || parsed.status === '0') return { kind: 'fail', reason: `Mixpanel rejected the updates: ${String(parsed.error ?? 'no reason given')}`, split: true }
    } catch {
      // A 2xx that is not Mixpanel's JSON (a proxy, a collector): treat as delivered.
    }
    return { kind: 'ok' }
  }
}

/** mParticle Events API: `POST {host}/v2/bulkevents`, HTTP Basic key:secret, at most 100 batches. */
export function mparticleDeliverer(http: HttpClient, apiKey: string, apiSecret: string): Deliverer {
  const auth = `Basic ${Buffer.from(`${apiKey}:${apiSecret}`).toString('base64')}`
  return async (batch, signal) => {
    const res = await post(http, `${batch.dest}/v2/bulkevents`, { 'content-type': 'application/json', authorization: auth },
      renderRequestBody('mparticle', batch.rows.map((r) => r.payload)), signal)
    if (isOutcome(res)) return res
    return byStatus(res) ?? { kind: 'ok' }
  }
}
