import { afterEach, describe, expect, it } from 'vitest'
import { checkBasic, safeEqual } from '../../src/server/auth.js'
import type { Shim } from '../../src/server/shim.js'
import {
  MockUpstream, basic, captureLogger, cohort, membership, msgId, post, profile, sleep, startTestShim, testEnv, waitFor,
} from './helpers.js'

let shim: Shim | undefined
let upstream: MockUpstream | undefined

afterEach(async () => {
  await shim?.stop(300)
  shim = undefined
  await upstream?.close()
  upstream = undefined
})

const SECRETS = { MPARTICLE_SHARED_SECRET: 's3cr3t-mp', MIXPANEL_WEBHOOK_USER: 'mixpanel', MIXPANEL_WEBHOOK_PASSWORD: 'pa55-word' }

const start = async (over: Record<string, string | undefined> = {}, logger?: ReturnType<typeof captureLogger>['logger']): Promise<Shim> => {
  upstream = await MockUpstream.start()
  shim = await startTestShim(testEnv({ MIXPANEL_API_HOST: upstream.url, MPARTICLE_API_HOST: upstream.url, ...over }), logger)
  return shim
}

const errorOf = async (res: Response): Promise<string> => ((await res.json()) as { error: { message: string } }).error.message

describe('authentication', () => {
  it('refuses /mparticle without the X-Shim-Secret header or with a wrong one', async () => {
    const s = await start(SECRETS)
    const message = membership([profile({ customer: 'c', audiences: [[1, 'A', 'add']] })])
    const missing = await post(s, '/mparticle', message)
    expect(missing.status).toBe(401)
    expect(await errorOf(missing)).toBe('missing or wrong X-Shim-Secret header')
    expect((await post(s, '/mparticle', message, { 'x-shim-secret': 's3cr3t-m' })).status).toBe(401)
    expect((await post(s, '/mparticle', message, { 'x-shim-secret': 's3cr3t-mpX' })).status).toBe(401)
    expect((await post(s, '/mparticle', message, { 'x-shim-secret': '' })).status).toBe(401)
    const ok = await post(s, '/mparticle', message, { 'x-shim-secret': 's3cr3t-mp' })
    expect(ok.status).toBe(200)
    await waitFor(() => upstream!.requests.length === 1)
    expect(s.metrics.get('shim_webhooks_rejected_total', { endpoint: 'mparticle', status: '401' })).toBe(4)
  })

  it('refuses /mixpanel/cohorts without the right HTTP Basic credentials, answering in Mixpanel form', async () => {
    const s = await start(SECRETS)
    const body = cohort('add_members', [{ mixpanel_distinct_id: 'a' }])
    const missing = await post(s, '/mixpanel/cohorts', body)
    expect(missing.status).toBe(401)
    expect(missing.headers.get('www-authenticate')).toBe('Basic realm="mixpanel-device-mode-shim"')
    expect(await missing.json()).toEqual({ action: null, status: 'failure', error: { message: 'missing or wrong HTTP Basic credentials', code: 401 } })
    expect((await post(s, '/mixpanel/cohorts', body, { authorization: basic('mixpanel', 'wrong') })).status).toBe(401)
    expect((await post(s, '/mixpanel/cohorts', body, { authorization: basic('someone', 'pa55-word') })).status).toBe(401)
    expect((await post(s, '/mixpanel/cohorts', body, { authorization: 'Bearer pa55-word' })).status).toBe(401)
    expect((await post(s, '/mixpanel/cohorts', body, { authorization: basic('mixpanel', 'pa55-word') })).status).toBe(200)
  })

  it('disables an endpoint without a secret when HOST is not loopback, unless SHIM_ALLOW_UNAUTHENTICATED', async () => {
    const s = await start({ HOST: '0.0.0.0' })
    const res = await post(s, '/mparticle', membership([]))
    expect(res.status).toBe(503)
    expect(await errorOf(res)).toMatch(/MPARTICLE_SHARED_SECRET not set and HOST=0\.0\.0\.0 is not loopback/)
    const cohorts = await post(s, '/mixpanel/cohorts', cohort('add_members', []))
    expect(cohorts.status).toBe(503)
    await s.stop(100)
    await upstream?.close()
    const open = await start({ HOST: '0.0.0.0', SHIM_ALLOW_UNAUTHENTICATED: 'true' })
    expect((await post(open, '/mparticle', membership([]))).status).toBe(200)
  })

  it('serves endpoints without secrets on loopback (the demo)', async () => {
    const s = await start({ HOST: '127.0.0.1' })
    expect((await post(s, '/mparticle', membership([]))).status).toBe(200)
    expect((await post(s, '/mixpanel/cohorts', cohort('add_members', []))).status).toBe(200)
  })

  it('never logs secrets', async () => {
    const { logger, lines } = captureLogger()
    const s = await start(SECRETS, logger)
    await post(s, '/mparticle', membership([]), { 'x-shim-secret': 'wrong-guess' })
    await post(s, '/mparticle', membership([profile({ customer: 'c', audiences: [[1, 'A', 'add']] })]), { 'x-shim-secret': 's3cr3t-mp' })
    await post(s, '/mixpanel/cohorts', cohort('add_members', [{ mixpanel_distinct_id: 'a' }]), { authorization: basic('mixpanel', 'pa55-word') })
    await waitFor(() => upstream!.requests.length >= 2)
    await sleep(50)
    const all = lines.join('')
    expect(lines.length).toBeGreaterThan(2)
    for (const secret of ['s3cr3t-mp', 'pa55-word', 'wrong-guess', Buffer.from('key:secret').toString('base64')]) {
      expect(all).not.toContain(secret)
    }
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow()
  })

  it('compares secrets in constant time over digests, whatever their lengths', () => {
    expect(safeEqual('abc', 'abc')).toBe(true)
    expect(safeEqual('abc', 'abd')).toBe(false)
    expect(safeEqual('a', 'a much longer secret')).toBe(false)
    expect(safeEqual('', '')).toBe(true)
    expect(checkBasic(basic('u', 'p:with:colons'), 'u', 'p:with:colons')).toBe(true)
    expect(checkBasic('basic ' + Buffer.from('u:p').toString('base64'), 'u', 'p')).toBe(true)
    expect(checkBasic('Basic !!!', 'u', 'p')).toBe(false)
    expect(checkBasic(undefined, '', '')).toBe(false)
  })
})

describe('bad input is refused with a 4xx naming the problem, and nothing is stored', () => {
  const cases: [string, string, unknown, number, RegExp][] = [
    ['malformed JSON', '/mparticle', '{"type": "audience_membership_change_request",', 400, /^malformed JSON: /],
    ['an empty body', '/mparticle', '', 400, /request body is empty/],
    ['a JSON array', '/mparticle', [], 400, /`body` must be an object \(got an array\)/],
    ['a missing type', '/mparticle', { id: 'x' }, 400, /`type` must be a string/],
    ['an unknown message type', '/mparticle', { type: 'hello' }, 400, /unknown message type `hello`/],
    ['an event processing message', '/mparticle', { type: 'event_processing_request' }, 400, /`event_processing_request` is not handled here/],
    ['a missing id', '/mparticle', { ...membership([]), id: undefined }, 400, /`id` must be a non-empty string/],
    ['a string timestamp', '/mparticle', { ...membership([]), timestamp_ms: 'yesterday' }, 400, /`timestamp_ms` must be an integer \(got "yesterday"\)/],
    ['user_profiles not an array', '/mparticle', { ...membership([]), user_profiles: {} }, 400, /`user_profiles` must be an array \(got an object\)/],
    ['a bad audience id', '/mparticle', membership([{ audiences: [{ audience_id: 'eleven', action: 'add' }] }]), 400,
      /`user_profiles\[0\]\.audiences\[0\]\.audience_id` must be an integer/],
    ['a bad action', '/mparticle', membership([{ audiences: [{ audience_id: 1, action: 'remove' }] }]), 400,
      /`user_profiles\[0\]\.audiences\[0\]\.action` must be one of add, delete, attribute_update \(got "remove"\)/],
    ['an identity without value', '/mparticle', membership([{ user_identities: [{ type: 'customer', encoding: 'raw' }], audiences: [] }]), 400,
      /`user_profiles\[0\]\.user_identities\[0\]\.value` must be a non-empty string/],
    ['a bad subscription action', '/mparticle', { type: 'audience_subscription_request', id: 'x', timestamp_ms: 1, audience_id: 1, audience_name: 'A', action: 'delete' }, 400,
      /`action` must be one of add, update, remove/],
    ['a bad target server', '/mparticle', membership([profile({ customer: 'c', audiences: [[1, 'A', 'add']] })], { settings: { 'Mixpanel Target Server': 'mars' } }), 400,
      /`Mixpanel Target Server` must be standard, eu or india/],
    ['an unknown cohort action', '/mixpanel/cohorts', { action: 'delete_cohort', parameters: {} }, 400, /`action` must be one of members, add_members, remove_members/],
    ['missing parameters', '/mixpanel/cohorts', { action: 'members' }, 400, /`parameters` must be an object/],
    ['members not an array', '/mixpanel/cohorts', { action: 'members', parameters: { mixpanel_cohort_id: '1', mixpanel_cohort_name: 'C', members: 'all' } }, 400,
      /`parameters\.members` must be an array/],
    ['a missing cohort name', '/mixpanel/cohorts', { action: 'add_members', parameters: { mixpanel_cohort_id: '1', members: [] } }, 400,
      /`parameters\.mixpanel_cohort_name` must be a non-empty string/],
    ['a page beyond total_pages', '/mixpanel/cohorts', cohort('members', [], { page: [5, 3] }), 400, /page_count` must be between 0 and total_pages \(3\), got 5/],
    ['malformed cohort JSON', '/mixpanel/cohorts', '{nope', 400, /^malformed JSON/],
  ]

  for (const [what, path, body, status, message] of cases) {
    it(`${path}: ${what}`, async () => {
      const s = await start()
      const res = await post(s, path, body)
      expect(res.status).toBe(status)
      const json = await res.json() as { error: { message: string; code: number }; status?: string; action?: unknown }
      expect(json.error.message).toMatch(message)
      expect(json.error.code).toBe(status)
      if (path === '/mixpanel/cohorts') expect(json.status).toBe('failure')
      const gauges = await s.store.gauges(Date.now())
      expect(gauges.map((g) => g.pending + g.inflight + g.failed)).toEqual([0, 0])
    })
  }

  it('answers the cohort failure with the action it could read', async () => {
    const s = await start()
    const res = await post(s, '/mixpanel/cohorts', { action: 'add_members', parameters: { mixpanel_cohort_id: '1', members: [] } })
    expect(await res.json()).toEqual({
      action: 'add_members', status: 'failure', error: { message: '`parameters.mixpanel_cohort_name` must be a non-empty string (got undefined)', code: 400 },
    })
  })

  it('refuses a body over SHIM_MAX_BODY_BYTES with 413', async () => {
    const s = await start({ SHIM_MAX_BODY_BYTES: '2048' })
    const big = membership([profile({ customer: 'x'.repeat(3000), audiences: [[1, 'A', 'add']] })])
    const res = await post(s, '/mparticle', big)
    expect(res.status).toBe(413)
    expect(await errorOf(res)).toBe('request body is larger than 2048 bytes (SHIM_MAX_BODY_BYTES)')
    const c = await post(s, '/mixpanel/cohorts', cohort('add_members', [{ mixpanel_distinct_id: 'y'.repeat(3000) }]))
    expect(c.status).toBe(413)
    expect(await c.json()).toMatchObject({ status: 'failure', error: { code: 413 } })
    await sleep(50)
    expect(upstream!.requests).toHaveLength(0)
  })

  it('refuses by Content-Length before reading the body', async () => {
    const s = await start({ SHIM_MAX_BODY_BYTES: '2048' })
    const res = await s.app.request('/mparticle', { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '4096' }, body: '{}' })
    expect(res.status).toBe(413)
    const bad = await s.app.request('/mparticle', { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '12abc' }, body: '{}' })
    expect(bad.status).toBe(413)
  })

  it('refuses a body that is not JSON by its content type with 415', async () => {
    const s = await start()
    const res = await s.app.request('/mparticle', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })
    expect(res.status).toBe(415)
    expect(await errorOf(res)).toBe('Content-Type must be application/json (got "text/plain")')
  })

  it('rejects a whole message when one profile is malformed, applying none of it', async () => {
    const s = await start()
    const res = await post(s, '/mparticle', membership([
      profile({ customer: 'good', audiences: [[1, 'A', 'add']] }),
      { user_identities: 'customer', audiences: [] },
    ]))
    expect(res.status).toBe(400)
    // The good profile was not applied: sending it again is a real change.
    await post(s, '/mparticle', membership([profile({ customer: 'good', audiences: [[1, 'A', 'add']] })], { id: msgId() }))
    await waitFor(() => upstream!.requests.length === 1)
    expect(s.metrics.get('shim_changes_applied_total', { direction: 'mparticle_to_mixpanel' })).toBe(1)
  })
})

describe('health and metrics', () => {
  it('GET /healthz answers ok', async () => {
    const s = await start()
    const res = await s.app.request('/healthz')
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ status: 'ok' })
  })

  it('GET /metrics lists received, applied, queued, sent, retried, failed, skipped, outbox depth and oldest age', async () => {
    const s = await start({ SHIM_BATCH_LINGER_MS: '60000' })
    await post(s, '/mparticle', membership([
      profile({ customer: 'a', audiences: [[1, 'A', 'add'], [2, 'B', 'add']] }),
      profile({ audiences: [[1, 'A', 'add']] }),
    ]))
    await sleep(30)
    const res = await s.app.request('/metrics')
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = await res.text()
    expect(text).toContain('# TYPE shim_webhooks_received_total counter')
    expect(text).toContain('shim_webhooks_received_total{endpoint="mparticle"} 1')
    expect(text).toContain('shim_changes_applied_total{direction="mparticle_to_mixpanel"} 2')
    expect(text).toContain('shim_updates_queued_total{sink="mixpanel"} 1')
    expect(text).toContain('shim_skipped_without_identity_total{direction="mparticle_to_mixpanel"} 1')
    expect(text).toContain('# TYPE shim_updates_sent_total counter')
    expect(text).toContain('# TYPE shim_updates_retried_total counter')
    expect(text).toContain('# TYPE shim_updates_failed_total counter')
    expect(text).toContain('shim_outbox_depth{sink="mixpanel",state="pending"} 1')
    expect(text).toMatch(/shim_outbox_oldest_pending_age_seconds\{sink="mixpanel"\} (0\.\d*[1-9]|[1-9])/)
    expect(text).toContain('shim_outbox_oldest_pending_age_seconds{sink="mparticle"} 0')
  })

  it('answers unknown routes with 404', async () => {
    const s = await start()
    const res = await s.app.request('/nope')
    expect(res.status).toBe(404)
  })
})
