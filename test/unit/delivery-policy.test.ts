import { describe, expect, test } from 'vitest'
import { backoff, MAX_WAIT, retryAfter, verdict } from '../../src/delivery/policy'

describe('verdict', () => {
  test('2xx answers are sent', () => {
    expect([200, 202, 299].map((status) => verdict(status, 50))).toEqual(['ok', 'ok', 'ok'])
  })

  test('no answer (status 0: reset, CORS, offline, timeout), 5xx, 429, 408 and other statuses are retried', () => {
    expect([0, 500, 502, 503, 504, 429, 408, 401, 404, 302].map((status) => verdict(status, 1))).toEqual(Array(10).fill('retry'))
  })

  test('400 and 413 split a batch, and drop a single record', () => {
    expect([verdict(400, 2), verdict(413, 50), verdict(400, 1), verdict(413, 1)]).toEqual(['split', 'split', 'drop', 'drop'])
  })
})

describe('retryAfter', () => {
  const now = Date.UTC(2026, 11, 1, 12, 0, 0)

  test('reads delay-seconds', () => {
    expect([retryAfter('3', now), retryAfter(' 30 ', now), retryAfter('0', now)]).toEqual([3000, 30_000, 0])
  })

  test('reads an HTTP-date, and a past date means now', () => {
    expect(retryAfter('Tue, 01 Dec 2026 12:00:07 GMT', now)).toBe(7000)
    expect(retryAfter('Tue, 01 Dec 2026 11:00:00 GMT', now)).toBe(0)
  })

  test('is capped at MAX_WAIT', () => {
    expect(retryAfter('86400', now)).toBe(MAX_WAIT)
  })

  test('is undefined when absent or unreadable (backoff applies)', () => {
    expect([retryAfter(null, now), retryAfter(undefined, now), retryAfter('', now), retryAfter('soon', now), retryAfter('-5', now)]).toEqual([
      undefined, undefined, undefined, undefined, undefined,
    ])
  })
})

describe('backoff', () => {
  test('doubles from 1 s up to a minute, with jitter between half and all of it', () => {
    expect([1, 2, 3, 7, 8, 40].map((n) => backoff(n, 0.999999))).toEqual([1000, 2000, 4000, 60_000, 60_000, 60_000].map((ms) => expect.closeTo(ms, 0)))
    expect([1, 2, 7].map((n) => backoff(n, 0))).toEqual([500, 1000, 30_000])
  })
})
