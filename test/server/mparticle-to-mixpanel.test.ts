import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Shim } from '../../src/server/shim.js'
import {
  MockUpstream, engageUpdates, membership, msgId, post, profile, sleep, startTestShim, subscription, testEnv, waitFor,
} from './helpers.js'

let mixpanel: MockUpstream
let shim: Shim | undefined

beforeEach(async () => {
  mixpanel = await MockUpstream.start()
})

afterEach(async () => {
  await shim?.stop(500)
  shim = undefined
  await mixpanel.close()
})

const start = async (over: Record<string, string | undefined> = {}): Promise<Shim> => {
  shim = await startTestShim(testEnv({ MIXPANEL_API_HOST: mixpanel.url, ...over }))
  return shim
}

const update = (distinctId: string, set: Record<string, unknown>, token = 'tok'): Record<string, unknown> =>
  ({ $token: token, $distinct_id: distinctId, $ip: '0', $ignore_time: true, $set: set })

describe('POST /mparticle: audience membership → Mixpanel engage', () => {
  it('answers module_registration_request with the description, permissions and the four settings', async () => {
    const s = await start()
    const res = await post(s, '/mparticle', { type: 'module_registration_request', id: msgId(), timestamp_ms: 1, firehose_version: '2.8.1' })
    expect(res.status).toBe(200)
    const body = await res.json() as Record<string, any>
    expect(body.type).toBe('module_registration_response')
    expect(body.permissions).toEqual({
      user_identities: [{ type: 'customer', encoding: 'raw', required: false }],
      device_identities: [
        { type: 'ios_vendor_id', encoding: 'raw', required: false },
        { type: 'ios_advertising_id', encoding: 'raw', required: false },
        { type: 'android_id', encoding: 'raw', required: false },
      ],
      allow_access_mpid: true,
    })
    const settings = body.audience_processing_registration.account_settings as { id: string; name: string; type: string }[]
    expect(settings.map((x) => [x.name, x.type])).toEqual([
      ['Token', 'text'],
      ['Use Mixpanel People', 'boolean'],
      ['Create One User Attribute Per Audience', 'boolean'],
      ['Mixpanel Target Server', 'text'],
    ])
    expect(typeof body.description).toBe('string')
  })

  it('sends SegmentMembership with the quoted, sorted audience ids of the user', async () => {
    const s = await start()
    const res = await post(s, '/mparticle', membership([
      profile({ customer: 'cust-1', audiences: [[11036, 'Aspiring Athenians', 'add'], [11034, 'Ibiza Dreamers', 'add']] }),
    ]))
    expect(res.status).toBe(200)
    expect((await res.json() as { type: string }).type).toBe('audience_membership_change_response')
    await waitFor(() => mixpanel.requests.length === 1)
    const req = mixpanel.requests[0]!
    expect(req.method).toBe('POST')
    expect(req.url).toBe('/engage?verbose=1')
    expect(req.headers['content-type']).toBe('application/json')
    expect(JSON.parse(req.body)).toEqual([update('cust-1', { SegmentMembership: "'11034','11036'" })])
  })

  it('computes the full membership from stored state when one audience changes later', async () => {
    const s = await start()
    await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[5, 'Five', 'add'], [7, 'Seven', 'add']] })], { ts: 1000 }))
    await waitFor(() => mixpanel.requests.length === 1)
    await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[5, 'Five', 'delete'], [12, 'Twelve', 'add']] })], { ts: 2000 }))
    await waitFor(() => mixpanel.requests.length === 2)
    expect(engageUpdates(mixpanel)).toEqual([
      update('c', { SegmentMembership: "'5','7'" }),
      update('c', { SegmentMembership: "'7','12'" }),
    ])
  })

  it('writes In <Audience Name> for the changed audiences when one attribute per audience is on', async () => {
    const s = await start({ MIXPANEL_ONE_ATTRIBUTE_PER_AUDIENCE: 'true' })
    await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[1, 'New Users', 'add'], [2, 'Possible Parisians', 'add']] })], { ts: 1 }))
    await waitFor(() => mixpanel.requests.length === 1)
    await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[1, 'New Users', 'delete']] })], { ts: 2 }))
    await waitFor(() => mixpanel.requests.length === 2)
    expect(engageUpdates(mixpanel)).toEqual([
      update('c', { SegmentMembership: "'1','2'", 'In New Users': true, 'In Possible Parisians': true }),
      update('c', { SegmentMembership: "'2'", 'In New Users': false }),
    ])
  })

  it('takes the setting from the account settings of the message when the environment leaves it unset', async () => {
    const s = await start({ MIXPANEL_TOKEN: undefined })
    await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[3, 'Three', 'add']] })], {
      settings: { token: 'from-message', createOneUserAttributePerAudience: 'True', useMixpanelPeople: 'true' },
    }))
    await waitFor(() => mixpanel.requests.length === 1)
    expect(engageUpdates(mixpanel)).toEqual([update('c', { SegmentMembership: "'3'", 'In Three': true }, 'from-message')])
  })

  it('lets environment variables win over the account settings of the message', async () => {
    const s = await start({ MIXPANEL_TOKEN: 'env-token', MIXPANEL_ONE_ATTRIBUTE_PER_AUDIENCE: 'false' })
    await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[3, 'Three', 'add']] })], {
      settings: { Token: 'message-token', 'Create One User Attribute Per Audience': 'true' },
    }))
    await waitFor(() => mixpanel.requests.length === 1)
    expect(engageUpdates(mixpanel)).toEqual([update('c', { SegmentMembership: "'3'" }, 'env-token')])
  })

  it('refuses the configuration when Use Mixpanel People is off, storing nothing', async () => {
    const s = await start()
    const res = await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[3, 'Three', 'add']] })], {
      settings: { 'Use Mixpanel People': 'false' },
    }))
    expect(res.status).toBe(400)
    const body = await res.json() as { error: { message: string } }
    expect(body.error.message).toMatch(/Use Mixpanel People/)
    const sub = await post(s, '/mparticle', subscription(3, 'Three', 'add', { settings: { useMixpanelPeople: 'false' } }))
    expect(sub.status).toBe(400)
    await sleep(100)
    expect(mixpanel.requests).toHaveLength(0)
    expect((await s.store.gauges(Date.now()))[0]).toMatchObject({ sink: 'mixpanel', pending: 0, inflight: 0, failed: 0 })
  })

  it('asks for a token when neither MIXPANEL_TOKEN nor the Token setting is given', async () => {
    const s = await start({ MIXPANEL_TOKEN: undefined })
    const res = await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[3, 'Three', 'add']] })]))
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/MIXPANEL_TOKEN.*Token/)
  })

  it('picks the distinct id from customer id, then IDFV, IDFA, Android id, and counts profiles with none', async () => {
    const s = await start()
    await post(s, '/mparticle', membership([
      profile({ customer: 'cust', idfv: 'vendor', idfa: 'ad', androidId: 'andr', audiences: [[1, 'A', 'add']] }),
      profile({ idfv: 'vendor-2', idfa: 'ad-2', audiences: [[1, 'A', 'add']] }),
      profile({ idfa: 'ad-3', androidId: 'andr-3', audiences: [[1, 'A', 'add']] }),
      profile({ androidId: 'andr-4', audiences: [[1, 'A', 'add']] }),
      profile({ mpid: '999', audiences: [[1, 'A', 'add']] }),
      {
        user_identities: [{ type: 'customer', encoding: 'md5', value: '4739c5c11d833bb199c16ff95a92b267' }, { type: 'email', encoding: 'raw', value: 'a@b.co' }],
        audiences: [{ audience_id: 1, audience_name: 'A', action: 'add' }],
      },
    ]))
    await waitFor(() => mixpanel.requests.length === 1)
    expect(engageUpdates(mixpanel).map((u) => u.$distinct_id)).toEqual(['cust', 'vendor-2', 'ad-3', 'andr-4'])
    expect(s.metrics.get('shim_skipped_without_identity_total', { direction: 'mparticle_to_mixpanel' })).toBe(2)
    const metrics = await (await s.app.request('/metrics')).text()
    expect(metrics).toContain('shim_skipped_without_identity_total{direction="mparticle_to_mixpanel"} 2')
  })

  it('honours a configured identity order', async () => {
    const s = await start({ SHIM_IDENTITY_ORDER: 'android_id,customer' })
    await post(s, '/mparticle', membership([profile({ customer: 'cust', androidId: 'andr', audiences: [[1, 'A', 'add']] })]))
    await waitFor(() => mixpanel.requests.length === 1)
    expect(engageUpdates(mixpanel).map((u) => u.$distinct_id)).toEqual(['andr'])
  })

  it('changes nothing twice when the same message is delivered again', async () => {
    const s = await start()
    const message = membership([profile({ customer: 'c', audiences: [[1, 'A', 'add']] })])
    expect((await post(s, '/mparticle', message)).status).toBe(200)
    expect((await post(s, '/mparticle', message)).status).toBe(200)
    // A new message id with the same content is not a state change either.
    expect((await post(s, '/mparticle', { ...message, id: msgId() })).status).toBe(200)
    await waitFor(() => mixpanel.requests.length === 1)
    await sleep(150)
    expect(engageUpdates(mixpanel)).toEqual([update('c', { SegmentMembership: "'1'" })])
    expect(s.metrics.get('shim_webhooks_duplicate_total', { endpoint: 'mparticle' })).toBe(1)
    expect(s.metrics.get('shim_changes_applied_total', { direction: 'mparticle_to_mixpanel' })).toBe(1)
  })

  it('ignores a change older than the stored one (out-of-order delivery)', async () => {
    const s = await start()
    await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[1, 'A', 'delete']] })], { ts: 2000 }))
    await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[1, 'A', 'add'], [2, 'B', 'add']] })], { ts: 1000 }))
    await waitFor(() => mixpanel.requests.length >= 1)
    await sleep(150)
    // The late "add 1" (t=1000) lost against "delete 1" (t=2000); audience 2 was new, so it applies.
    expect(engageUpdates(mixpanel)).toEqual([update('c', { SegmentMembership: "'2'" })])
    expect(s.metrics.get('shim_changes_stale_total', { direction: 'mparticle_to_mixpanel' })).toBe(1)
  })

  it('coalesces several pending updates of one user into one, merging $set', async () => {
    const s = await start({ SHIM_BATCH_LINGER_MS: '1500', MIXPANEL_ONE_ATTRIBUTE_PER_AUDIENCE: 'true' })
    await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[1, 'A', 'add']] })], { ts: 1 }))
    await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[2, 'B', 'add']] })], { ts: 2 }))
    await post(s, '/mparticle', membership([profile({ customer: 'd', audiences: [[2, 'B', 'add']] })], { ts: 3 }))
    await waitFor(() => mixpanel.requests.length === 1)
    await sleep(150)
    expect(mixpanel.requests).toHaveLength(1)
    expect(engageUpdates(mixpanel)).toEqual([
      update('c', { SegmentMembership: "'1','2'", 'In A': true, 'In B': true }),
      update('d', { SegmentMembership: "'2'", 'In B': true }),
    ])
  })

  it('sends at most 2000 updates per engage request', async () => {
    const s = await start({ SHIM_BATCH_LINGER_MS: '5000' })
    const profiles = Array.from({ length: 2500 }, (_, i) => profile({ customer: `u${i}`, audiences: [[1, 'A', 'add']] }))
    await post(s, '/mparticle', membership(profiles))
    // 2000 are a full batch and go at once; the 500 left wait for the linger, flushed here by stop().
    await waitFor(() => mixpanel.requests.length === 1)
    await s.stop(2000)
    shim = undefined
    expect(mixpanel.bodies().map((b) => (b as unknown[]).length)).toEqual([2000, 500])
    expect(new Set(engageUpdates(mixpanel).map((u) => u.$distinct_id)).size).toBe(2500)
  })

  it('answers an empty membership request (a ping) normally and sends nothing', async () => {
    const s = await start()
    const res = await post(s, '/mparticle', {
      type: 'audience_membership_change_request', id: msgId(), timestamp_ms: 1583958296525, firehose_version: '2.1.1',
      account: { account_id: 123456, account_settings: { 'Example String Setting': 'x' } },
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ type: 'audience_membership_change_response', firehose_version: '2.8.1' })
    await sleep(100)
    expect(mixpanel.requests).toHaveLength(0)
  })

  it('keeps audience names from subscriptions and does not rewrite attributes when a subscription is removed', async () => {
    const s = await start({ MIXPANEL_ONE_ATTRIBUTE_PER_AUDIENCE: 'true' })
    expect((await post(s, '/mparticle', subscription(10, 'Ten Named', 'add', { ts: 1 }))).status).toBe(200)
    expect((await post(s, '/mparticle', subscription(20, 'Twenty', 'add', { ts: 1 }))).status).toBe(200)
    // Membership messages may omit the name: the subscription's name is used.
    await post(s, '/mparticle', membership([{
      user_identities: [{ type: 'customer', encoding: 'raw', value: 'c' }],
      audiences: [{ audience_id: 10, action: 'add' }, { audience_id: 20, audience_name: 'Twenty', action: 'add' }],
    }], { ts: 2 }))
    await waitFor(() => mixpanel.requests.length === 1)
    const removed = await post(s, '/mparticle', subscription(10, 'Ten Named', 'remove', { ts: 3 }))
    expect(removed.status).toBe(200)
    expect(((await removed.json()) as { type: string }).type).toBe('audience_subscription_response')
    await sleep(150)
    expect(mixpanel.requests).toHaveLength(1)
    // Later changes no longer list the removed audience, nor write its attribute.
    await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[30, 'Thirty', 'add'], [10, 'Ten Named', 'delete']] })], { ts: 4 }))
    await waitFor(() => mixpanel.requests.length === 2)
    expect(engageUpdates(mixpanel)).toEqual([
      update('c', { SegmentMembership: "'10','20'", 'In Ten Named': true, 'In Twenty': true }),
      update('c', { SegmentMembership: "'20','30'", 'In Thirty': true }),
    ])
  })

  it('accepts the older added_audiences / removed_audiences form', async () => {
    const s = await start()
    await post(s, '/mparticle', membership([{
      user_identities: [{ type: 'customer', encoding: 'raw', value: 'c' }],
      added_audiences: [{ audience_id: 4, audience_name: 'Four' }, { audience_id: 6, audience_name: 'Six' }],
      removed_audiences: [{ audience_id: 6, audience_name: 'Six' }],
    }]))
    await waitFor(() => mixpanel.requests.length === 1)
    expect(engageUpdates(mixpanel)).toEqual([update('c', { SegmentMembership: "'4'" })])
  })

  it('keeps state per MPID, so a profile seen first without a distinct id gets its full membership later', async () => {
    const s = await start()
    await post(s, '/mparticle', membership([profile({ mpid: '42', audiences: [[1, 'A', 'add']] })], { ts: 1 }))
    await post(s, '/mparticle', membership([profile({ mpid: '42', customer: 'now-known', audiences: [[2, 'B', 'add']] })], { ts: 2 }))
    await waitFor(() => mixpanel.requests.length === 1)
    expect(engageUpdates(mixpanel)).toEqual([update('now-known', { SegmentMembership: "'1','2'" })])
  })
})
