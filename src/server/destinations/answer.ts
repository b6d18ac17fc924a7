/**
 * The answers every destination shares: the HTTP status decides unless the
 * destination reads a 2xx body itself. See docs/shim.md, "Failure handling".
 */
import type { HttpClient, HttpResponse } from '../http-client.js'
import type { Answer } from './types.js'

const snippet = (s: string): string => (s.length > 300 ? `${s.slice(0, 300)}…` : s).replace(/\s+/g, ' ').trim()

/** `Retry-After` in seconds or as an HTTP date, in milliseconds from `now` (bounds are the sender's). */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const t = Date.parse(v)
  return Number.isNaN(t) ? undefined : Math.max(0, t - now)
}

/** The answer for a non-2xx status; undefined for 2xx (the destination reads the body). */
export function byStatus(res: HttpResponse, now: number): Answer | undefined {
  const s = res.status
  if (s >= 200 && s < 300) return undefined
  const reason = `HTTP ${s}${res.body !== '' ? `: ${snippet(res.body)}` : ''}`
  if (s >= 300 && s < 400) {
    // Following would resend as a body-less GET whose 200 proves nothing: retry, and say where it pointed.
    return { kind: 'retry', reason: `HTTP ${s} redirect to ${res.header('location') ?? '(no Location)'} not followed: check the API host`, retryAfterMs: undefined }
  }
  if (s === 401 || s === 403 || s === 404) return { kind: 'pause', reason }
  if (s === 408 || s === 425 || s === 429 || s >= 500) {
    return { kind: 'retry', reason, retryAfterMs: parseRetryAfter(res.header('retry-after'), now) }
  }
  return { kind: 'refused', reason, split: s === 400 || s === 413 || s === 422 }
}

/** POSTs and turns a network failure into a retry. */
export async function post(
  http: HttpClient, url: string, headers: Record<string, string>, body: string, signal: AbortSignal,
): Promise<HttpResponse | Answer> {
  try {
    return await http.post(url, headers, body, signal)
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } }
    const detail = e.cause?.code ?? e.cause?.message ?? e.name
    return { kind: 'retry', reason: `network error: ${e.message}${detail !== undefined ? ` (${detail})` : ''}`, retryAfterMs: undefined }
  }
}

export const isAnswer = (x: HttpResponse | Answer): x is Answer => 'kind' in x
