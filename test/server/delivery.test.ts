import { afterEach, describe, expect, it } from 'vitest'
import { backoffDelay } from '../../src/server/sender.js'
import { parseRetryAfter } from '../../src/server/destinations/answer.js'
import type { Shim } from '../../src/server/shim.js'
import { MockUpstream, cohort, engageUpdates, membership, post, profile, sleep, startTestShim, testEnv, waitFor } from './helpers.js'

let shim: Shim | undefined
const mocks: MockUpstream[] = []

afterEach(async () => {
  await shim?.stop(500)
  shim = undefined
  for (const m of mocks.splice(0)) await m.close()
})

const mock = async (fallback?: Parameters<typeof MockUpstream.start>[0], port?: number): Promise<MockUpstream> => {
  const m = await MockUpstream.start(fallback, port)
  mocks.push(m)
  return m
}

const start = async (over: Record<string, string | undefined>): Promise<Shim> => {
  shim = await startTestShim(testEnv(over))
  return shim
}

const oneChange = (customer = 'c') => membership([profile({ customer, audiences: [[1, 'A', 'add']] })])
const expected = [{ $token: 'tok', $distinct_id: 'c', $ip: '0', $ignore_time: true, $set: { SegmentMembership: "'1'" } }]

describe('outbox delivery', () => {
  it('retries 5xx answers with backoff until the update is confirmed', async () => {
    const mixpanel = await mock()
    mixpanel.respond({ status: 500, body: 'oops' }, { status: 503, body: 'busy' })
    const s = await start({ MIXPANEL_API_HOST: mixpanel.url })
    await post(s, '/mparticle', oneChange())
    await waitFor(() => mixpanel.requests.length === 3)
    await sleep(100)
    expect(mixpanel.requests).toHaveLength(3)
    // The same update each time.
    expect(mixpanel.bodies()).toEqual([expected, expected, expected])
    expect(s.metrics.get('shim_updates_retried_total', { sink: 'mixpanel' })).toBe(2)
    expect(s.metrics.get('shim_updates_sent_total', { sink: 'mixpanel' })).toBe(1)
    // Backoff: with base 20 ms the second retry waits at least 20 ms (attempt 2: 20–40 ms).
    expect(mixpanel.requests[2]!.at - mixpanel.requests[1]!.at).toBeGreaterThanOrEqual(18)
    expect((await s.store.gauges(Date.now()))[0]).toMatchObject({ pending: 0, inflight: 0, failed: 0 })
  })

  it('waits for Retry-After on 429 before sending again', async () => {
    const mixpanel = await mock()
    mixpanel.respond({ status: 429, headers: { 'retry-after': '1' }, body: '{"error":"rate limited"}' })
    const s = await start({ MIXPANEL_API_HOST: mixpanel.url })
    await post(s, '/mparticle', oneChange())
    await waitFor(() => mixpanel.requests.length === 2, 5000)
    const gap = mixpanel.requests[1]!.at - mixpanel.requests[0]!.at
    expect(gap).toBeGreaterThanOrEqual(950)
    expect(gap).toBeLessThan(3000)
    expect(mixpanel.bodies()).toEqual([expected, expected])
    // Updates queued meanwhile wait for the same pause rather than hitting the rate limit.
    expect(s.metrics.get('shim_requests_sent_total', { sink: 'mixpanel', outcome: 'retry' })).toBe(1)
  })

  it('retries network errors (connection refused, dropped connection)', async () => {
    // A port nobody listens on: take one, then free it.
    const probe = await mock()
    const port = probe.port
    await probe.close()
    mocks.splice(mocks.indexOf(probe), 1)
    const s = await start({ MIXPANEL_API_HOST: `http://127.0.0.1:${port}` })
    await post(s, '/mparticle', oneChange())
    await waitFor(() => s.metrics.get('shim_updates_retried_total', { sink: 'mixpanel' }) >= 2)
    const mixpanel = await mock(undefined, port)
    mixpanel.respond({ destroy: true })
    await waitFor(() => s.metrics.get('shim_updates_sent_total', { sink: 'mixpanel' }) === 1, 5000)
    expect(mixpanel.bodies()).toEqual([expected, expected])
  })

  it('keeps updates refused with another 4xx as failed, with the reason in metrics and logs', async () => {
    const mixpanel = await mock({ status: 400, body: '{"error":"bad token"}' })
    const s = await start({ MIXPANEL_API_HOST: mixpanel.url })
    await post(s, '/mparticle', oneChange())
    await waitFor(() => s.metrics.get('shim_updates_failed_total', { sink: 'mixpanel' }) === 1)
    await sleep(150)
    expect(mixpanel.requests).toHaveLength(1)
    const metrics = await (await s.app.request('/metrics')).text()
    expect(metrics).toContain('shim_updates_failed_total{sink="mixpanel"} 1')
    expect(metrics).toContain('shim_outbox_depth{sink="mixpanel",state="failed"} 1')
    expect(metrics).toContain('shim_outbox_depth{sink="mixpanel",state="pending"} 0')
  })

  it('splits a refused batch to deliver every update but the refused one', async () => {
    const mixpanel = await mock()
    // Mixpanel refuses a whole request for one bad record.
    mixpanel.decide = (body) => (body.includes('"bad"') ? { status: 200, body: '{"status":0,"error":"bad record"}' } : undefined)
    const s = await start({ MIXPANEL_API_HOST: mixpanel.url })
    const customers = ['c1', 'c2', 'bad', 'c4', 'c5']
    await post(s, '/mparticle', membership(customers.map((customer) => profile({ customer, audiences: [[1, 'A', 'add']] }))))
    await waitFor(() => s.metrics.get('shim_updates_failed_total', { sink: 'mixpanel' }) === 1)
    await waitFor(() => s.metrics.get('shim_updates_sent_total', { sink: 'mixpanel' }) === 4)
    const ids = (body: unknown): unknown[] => (body as { $distinct_id: string }[]).map((u) => u.$distinct_id)
    // Halves in order, each refused half halved again: [5] → [3] → [2] → [bad] + [c4, c5].
    expect(mixpanel.bodies().map(ids)).toEqual([customers, ['c1', 'c2', 'bad'], ['c1', 'c2'], ['bad'], ['c4', 'c5']])
    expect(s.metrics.get('shim_updates_sent_total', { sink: 'mixpanel' })).toBe(4)
    expect(s.metrics.get('shim_requests_sent_total', { sink: 'mixpanel', outcome: 'failed' })).toBe(3)
    expect((await s.store.gauges(Date.now()))[0]).toMatchObject({ pending: 0, inflight: 0, failed: 1 })
  })

  it('gives the rest of a split batch back when one half must be retried', async () => {
    const mixpanel = await mock()
    mixpanel.respond({ status: 400, body: '{"error":"one bad"}' }, { status: 503, body: 'busy' })
    const s = await start({ MIXPANEL_API_HOST: mixpanel.url })
    await post(s, '/mparticle', membership(['a', 'b', 'c', 'd'].map((customer) => profile({ customer, audiences: [[1, 'A', 'add']] }))))
    await waitFor(() => s.metrics.get('shim_updates_sent_total', { sink: 'mixpanel' }) === 4)
    // The second half was not sent before the retry; afterwards the four go together.
    expect(mixpanel.bodies().map((b) => (b as unknown[]).length)).toEqual([4, 2, 4])
    expect(s.metrics.get('shim_updates_retried_total', { sink: 'mixpanel' })).toBe(4)
    expect(s.metrics.get('shim_updates_failed_total', { sink: 'mixpanel' })).toBe(0)
  })

  it('splits a batch mParticle refuses with 400', async () => {
    const mparticle = await mock({ status: 202, body: '' })
    mparticle.decide = (body) => (body.includes('"bad"') ? { status: 400, body: '{"errors":[{"code":"BAD_REQUEST"}]}' } : undefined)
    const s = await start({ MPARTICLE_API_HOST: mparticle.url })
    await post(s, '/mixpanel/cohorts', cohort('add_members', ['x', 'bad', 'y'].map((id) => ({ mixpanel_distinct_id: id }))))
    await waitFor(() => s.metrics.get('shim_updates_failed_total', { sink: 'mparticle' }) === 1)
    await waitFor(() => s.metrics.get('shim_updates_sent_total', { sink: 'mparticle' }) === 2)
    expect(mparticle.bodies().map((b) => (b as unknown[]).length)).toEqual([3, 2, 1, 1, 1])
  })

  it('treats a 200 with Mixpanel status 0 as a failed update', async () => {
    const mixpanel = await mock({ status: 200, body: '{"status":0,"error":"$distinct_id is not a string"}' })
    const s = await start({ MIXPANEL_API_HOST: mixpanel.url })
    await post(s, '/mparticle', oneChange())
    await waitFor(() => s.metrics.get('shim_updates_failed_total', { sink: 'mixpanel' }) === 1)
    expect(s.metrics.get('shim_updates_sent_total', { sink: 'mixpanel' })).toBe(0)
  })

  it('gives up after SHIM_MAX_ATTEMPTS and keeps the update as failed', async () => {
    const mixpanel = await mock({ status: 502, body: 'bad gateway' })
    const s = await start({ MIXPANEL_API_HOST: mixpanel.url, SHIM_MAX_ATTEMPTS: '3' })
    await post(s, '/mparticle', oneChange())
    await waitFor(() => s.metrics.get('shim_updates_failed_total', { sink: 'mixpanel' }) === 1)
    await sleep(300)
    expect(mixpanel.requests).toHaveLength(3)
  })

  it('retries mParticle 5xx and keeps 4xx as failed', async () => {
    const mparticle = await mock({ status: 202, body: '' })
    mparticle.respond({ status: 500 }, { status: 400, body: '{"errors":[{"code":"BAD_REQUEST"}]}' })
    const s = await start({ MPARTICLE_API_HOST: mparticle.url })
    await post(s, '/mixpanel/cohorts', cohort('add_members', [{ mixpanel_distinct_id: 'a' }]))
    await waitFor(() => s.metrics.get('shim_updates_failed_total', { sink: 'mparticle' }) === 1)
    expect(mparticle.requests).toHaveLength(2)
    await post(s, '/mixpanel/cohorts', cohort('add_members', [{ mixpanel_distinct_id: 'b' }]))
    await waitFor(() => s.metrics.get('shim_updates_sent_total', { sink: 'mparticle' }) === 1)
  })

  it('drains due updates on stop, ignoring the linger', async () => {
    const mixpanel = await mock()
    const s = await start({ MIXPANEL_API_HOST: mixpanel.url, SHIM_BATCH_LINGER_MS: '60000' })
    await post(s, '/mparticle', oneChange())
    await sleep(100)
    expect(mixpanel.requests).toHaveLength(0)
    await s.stop(2000)
    shim = undefined
    expect(mixpanel.bodies()).toEqual([expected])
  })

  it('keeps later changes of a user in order behind a retried update', async () => {
    const mixpanel = await mock()
    mixpanel.respond({ status: 500 })
    const s = await start({ MIXPANEL_API_HOST: mixpanel.url, SHIM_RETRY_BASE_MS: '300', SHIM_RETRY_MAX_MS: '300' })
    await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[1, 'A', 'add']] })], { ts: 1 }))
    await waitFor(() => mixpanel.requests.length === 1)
    await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[2, 'B', 'add']] })], { ts: 2 }))
    await waitFor(() => s.metrics.get('shim_updates_sent_total', { sink: 'mixpanel' }) === 1)
    await sleep(100)
    // The failed update and the newer one merged: one request, the latest state.
    expect(engageUpdates(mixpanel).slice(1)).toEqual([
      { $token: 'tok', $distinct_id: 'c', $ip: '0', $ignore_time: true, $set: { SegmentMembership: "'1','2'" } },
    ])
  })
})

describe('retry timing helpers', () => {
  it('doubles the delay each attempt, with jitter between half and the full value, up to the maximum', () => {
    expect(backoffDelay(1, 1000, 60_000, () => 0)).toBe(500)
    expect(backoffDelay(1, 1000, 60_000, () => 1)).toBe(1000)
    expect(backoffDelay(3, 1000, 60_000, () => 1)).toBe(4000)
    expect(backoffDelay(30, 1000, 60_000, () => 1)).toBe(60_000)
    expect(backoffDelay(30, 1000, 60_000, () => 0)).toBe(30_000)
  })

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(parseRetryAfter('7', now)).toBe(7000)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000)
    expect(parseRetryAfter('soon', now)).toBeUndefined()
    expect(parseRetryAfter(undefined, now)).toBeUndefined()
  })
})
