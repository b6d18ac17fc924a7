import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Shim } from '../../src/server/shim.js'
import { MockUpstream, basic, cohort, post, sleep, startTestShim, testEnv, waitFor } from './helpers.js'

let mparticle: MockUpstream
let shim: Shim | undefined

beforeEach(async () => {
  mparticle = await MockUpstream.start({ status: 202, body: '' })
})

afterEach(async () => {
  await shim?.stop(500)
  shim = undefined
  await mparticle.close()
})

const start = async (over: Record<string, string | undefined> = {}): Promise<Shim> => {
  shim = await startTestShim(testEnv({ MPARTICLE_API_HOST: mparticle.url, ...over }))
  return shim
}

/** Every batch sent, as `<identity> <attributes>` strings, in order. */
const sent = (): string[] => mparticle.requests.flatMap((r) => {
  const batches = JSON.parse(r.body) as { mpid?: number; user_identities?: Record<string, string>; user_attributes: Record<string, boolean> }[]
  return batches.map((b) => `${b.mpid !== undefined ? `mpid=${b.mpid}` : Object.entries(b.user_identities ?? {}).map(([k, v]) => `${k}=${v}`).join()} ${JSON.stringify(b.user_attributes)}`)
})

describe('POST /mixpanel/cohorts: Mixpanel cohorts → mParticle user attributes', () => {
  it('sends entering users as <Cohort Name>: true to the bulk endpoint with Basic key:secret', async () => {
    const s = await start()
    const res = await post(s, '/mixpanel/cohorts', cohort('add_members', [
      { mixpanel_distinct_id: 'd-1', email: 'a@b.co', $mparticle_user_id: '-8433569171779181131' },
      { mixpanel_distinct_id: 'd-2' },
    ], { session: 's1' }))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ action: 'add_members', status: 'success' })
    await waitFor(() => mparticle.requests.length === 1)
    const req = mparticle.requests[0]!
    expect(req.url).toBe('/v2/bulkevents')
    expect(req.headers.authorization).toBe(basic('key', 'secret'))
    expect(req.headers['content-type']).toBe('application/json')
    // The MPID is a 64-bit integer written as a number literal, not rounded by a JS number.
    expect(req.body).toBe('['
      + '{"environment":"production","mpid":-8433569171779181131,"user_attributes":{"Power Users":true},"schema_version":2},'
      + '{"environment":"production","user_identities":{"customer_id":"d-2"},"user_attributes":{"Power Users":true},"schema_version":2}'
      + ']')
  })

  it('sends leaving users as false and changes nothing for users already out', async () => {
    const s = await start({ MPARTICLE_ENVIRONMENT: 'development' })
    await post(s, '/mixpanel/cohorts', cohort('add_members', [{ mixpanel_distinct_id: 'a' }], { session: 's1' }))
    await waitFor(() => mparticle.requests.length === 1)
    await post(s, '/mixpanel/cohorts', cohort('remove_members', [{ mixpanel_distinct_id: 'a' }], { session: 's2' }))
    await waitFor(() => mparticle.requests.length === 2)
    await post(s, '/mixpanel/cohorts', cohort('remove_members', [{ mixpanel_distinct_id: 'a' }], { session: 's3' }))
    await sleep(150)
    expect(mparticle.requests).toHaveLength(2)
    expect(JSON.parse(mparticle.requests[1]!.body)).toEqual([
      { environment: 'development', user_identities: { customer_id: 'a' }, user_attributes: { 'Power Users': false }, schema_version: 2 },
    ])
  })

  it('assembles a paged members snapshot arriving out of order, then removes previous members absent from it', async () => {
    const s = await start({ SHIM_BATCH_LINGER_MS: '300' })
    await post(s, '/mixpanel/cohorts', cohort('add_members', [{ mixpanel_distinct_id: 'old-1' }, { mixpanel_distinct_id: 'stay' }], { session: 'diff' }))
    await waitFor(() => mparticle.requests.length === 1)
    // Pages 2 and 0 of 3 (Mixpanel numbers pages; the order and base do not matter).
    const p2 = await post(s, '/mixpanel/cohorts', cohort('members', [{ mixpanel_distinct_id: 'new-2' }], { session: 'snap', page: [2, 3] }))
    expect(await p2.json()).toEqual({ action: 'members', status: 'success' })
    await post(s, '/mixpanel/cohorts', cohort('members', [{ mixpanel_distinct_id: 'stay' }], { session: 'snap', page: [0, 3] }))
    // A replayed page changes nothing.
    const dup = await post(s, '/mixpanel/cohorts', cohort('members', [{ mixpanel_distinct_id: 'stay' }], { session: 'snap', page: [0, 3] }))
    expect(dup.status).toBe(200)
    await sleep(400)
    // Not complete yet: nobody has left.
    expect(sent().filter((x) => x.endsWith('false}'))).toEqual([])
    await post(s, '/mixpanel/cohorts', cohort('members', [{ mixpanel_distinct_id: 'new-1' }], { session: 'snap', page: [1, 3] }))
    await waitFor(() => sent().some((x) => x.endsWith('false}')))
    await sleep(400)
    expect(sent().sort()).toEqual([
      'customer_id=new-1 {"Power Users":true}',
      'customer_id=new-2 {"Power Users":true}',
      'customer_id=old-1 {"Power Users":false}',
      'customer_id=old-1 {"Power Users":true}',
      'customer_id=stay {"Power Users":true}',
    ])
    expect(s.metrics.get('shim_webhooks_duplicate_total', { endpoint: 'mixpanel_cohorts' })).toBe(1)
  })

  it('treats a members message without page_info as a complete snapshot', async () => {
    const s = await start()
    await post(s, '/mixpanel/cohorts', cohort('members', [{ mixpanel_distinct_id: 'a' }, { mixpanel_distinct_id: 'b' }], { session: 'one' }))
    await waitFor(() => sent().length === 2)
    await post(s, '/mixpanel/cohorts', cohort('members', [{ mixpanel_distinct_id: 'b' }], { session: 'two' }))
    await waitFor(() => sent().length === 3)
    expect(sent()).toEqual([
      'customer_id=a {"Power Users":true}',
      'customer_id=b {"Power Users":true}',
      'customer_id=a {"Power Users":false}',
    ])
  })

  it('handles consecutive snapshots that carry no session id', async () => {
    const s = await start()
    await post(s, '/mixpanel/cohorts', cohort('members', [{ mixpanel_distinct_id: 'a' }], { page: [0, 2] }))
    await post(s, '/mixpanel/cohorts', cohort('members', [{ mixpanel_distinct_id: 'b' }], { page: [1, 2] }))
    await waitFor(() => sent().length === 2)
    await post(s, '/mixpanel/cohorts', cohort('members', [{ mixpanel_distinct_id: 'b' }]))
    await waitFor(() => sent().length === 3)
    expect(sent()).toEqual([
      'customer_id=a {"Power Users":true}',
      'customer_id=b {"Power Users":true}',
      'customer_id=a {"Power Users":false}',
    ])
  })

  it('maps $mparticle_user_id to mpid, else mixpanel_distinct_id to customer_id, and counts members with neither', async () => {
    const s = await start()
    await post(s, '/mixpanel/cohorts', cohort('add_members', [
      { $mparticle_user_id: 123456789, mixpanel_distinct_id: 'ignored' },
      { $mparticle_user_id: 'not-a-number', mixpanel_distinct_id: 'fallback' },
      { email: 'nobody@example.com' },
    ], { session: 'x' }))
    await waitFor(() => sent().length === 2)
    expect(sent()).toEqual(['mpid=123456789 {"Power Users":true}', 'customer_id=fallback {"Power Users":true}'])
    expect(s.metrics.get('shim_skipped_without_identity_total', { direction: 'mixpanel_to_mparticle' })).toBe(1)
  })

  it('honours a configured cohort identity mapping', async () => {
    const s = await start({ SHIM_COHORT_IDENTITY_ORDER: 'email=email' })
    await post(s, '/mixpanel/cohorts', cohort('add_members', [{ mixpanel_distinct_id: 'd', email: 'a@b.co' }], { session: 'x' }))
    await waitFor(() => sent().length === 1)
    expect(sent()).toEqual(['email=a@b.co {"Power Users":true}'])
  })

  it('puts at most 100 batches in one bulk request', async () => {
    const s = await start({ SHIM_BATCH_LINGER_MS: '300' })
    const members = Array.from({ length: 250 }, (_, i) => ({ mixpanel_distinct_id: `u${i}` }))
    await post(s, '/mixpanel/cohorts', cohort('add_members', members, { session: 'big' }))
    await waitFor(() => sent().length >= 250)
    await sleep(100)
    expect(mparticle.bodies().map((b) => (b as unknown[]).length)).toEqual([100, 100, 50])
    expect(new Set(sent()).size).toBe(250)
  })

  it('coalesces pending updates of one user into one batch, merging user_attributes', async () => {
    const s = await start({ SHIM_BATCH_LINGER_MS: '1500' })
    const members = [{ mixpanel_distinct_id: 'u0' }, { mixpanel_distinct_id: 'u1' }]
    await post(s, '/mixpanel/cohorts', cohort('add_members', members, { session: 'a' }))
    await post(s, '/mixpanel/cohorts', cohort('add_members', members, { session: 'b', id: '78', name: 'Churn Risk' }))
    await post(s, '/mixpanel/cohorts', cohort('remove_members', [{ mixpanel_distinct_id: 'u1' }], { session: 'c' }))
    await waitFor(() => mparticle.requests.length === 1)
    await sleep(100)
    expect(JSON.parse(mparticle.requests[0]!.body)).toEqual([
      { environment: 'production', user_identities: { customer_id: 'u0' }, user_attributes: { 'Power Users': true, 'Churn Risk': true }, schema_version: 2 },
      { environment: 'production', user_identities: { customer_id: 'u1' }, user_attributes: { 'Power Users': false, 'Churn Risk': true }, schema_version: 2 },
    ])
  })

  it('answers 503 in Mixpanel form when the Events API credentials are not configured, storing nothing', async () => {
    const s = await start({ MPARTICLE_API_KEY: undefined, MPARTICLE_API_SECRET: undefined })
    const res = await post(s, '/mixpanel/cohorts', cohort('add_members', [{ mixpanel_distinct_id: 'a' }]))
    expect(res.status).toBe(503)
    expect(await res.json()).toEqual({
      action: 'add_members', status: 'failure',
      error: { message: 'MPARTICLE_API_KEY and MPARTICLE_API_SECRET are not set: the shim cannot deliver cohorts to mParticle', code: 503 },
    })
    expect((await s.store.gauges(Date.now())).find((g) => g.sink === 'mparticle')).toMatchObject({ pending: 0 })
  })
})
