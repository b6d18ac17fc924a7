/**
 * The data-loss holes found under faults, one test each (docs/shim.md,
 * "Failure handling" and "Security"). Each went wrong in the first shim.
 */
import { rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { startShim, type RunningShim } from '../../src/server/index.js'
import type { Shim } from '../../src/server/shim.js'
import {
  MockUpstream, captureLogger, cohort, engageUpdates, membership, post, profile, sleep, startTestShim, tempDir, testEnv, waitFor,
} from './helpers.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const mock = async (fallback?: Parameters<typeof MockUpstream.start>[0]): Promise<MockUpstream> => {
  const m = await MockUpstream.start(fallback)
  cleanups.push(() => m.close())
  return m
}
const start = async (over: Record<string, string | undefined>, logger?: Parameters<typeof startTestShim>[1]): Promise<Shim> => {
  const s = await startTestShim(testEnv(over), logger)
  cleanups.push(() => s.stop(300))
  return s
}
const serve = async (env: Record<string, string | undefined>, logger?: Parameters<typeof startTestShim>[1]): Promise<RunningShim> => {
  const s = await startShim({ port: 0, env: testEnv(env), ...(logger !== undefined ? { logger } : {}) })
  cleanups.push(() => s.close())
  return s
}

const oneChange = (customer = 'c', audience: [number, string] = [1, 'A']) =>
  membership([profile({ customer, audiences: [[audience[0], audience[1], 'add']] })])
const sentOf = (s: Shim, sink = 'mixpanel'): number => s.metrics.get('shim_updates_sent_total', { sink })
const failedOf = (s: Shim, sink = 'mixpanel'): number => s.metrics.get('shim_updates_failed_total', { sink })

describe('a destination that redirects', () => {
  for (const status of [301, 302, 303]) {
    it(`does not count a ${status} as delivered, never follows it, and sends the update again`, async () => {
      const mixpanel = await mock()
      // Back to the same URL: a client that follows sends a GET, which the mock answers 200.
      mixpanel.respond({ status, headers: { location: '/engage?verbose=1' } }, { status, headers: { location: '/engage?verbose=1' } })
      const s = await start({ MIXPANEL_API_HOST: mixpanel.url })
      await post(s, '/mparticle', oneChange())
      await waitFor(() => sentOf(s) === 1)
      // Two redirects answered, no GET followed them, the third POST delivered the same update.
      expect(mixpanel.requests.map((r) => r.method)).toEqual(['POST', 'POST', 'POST'])
      expect(new Set(mixpanel.requests.map((r) => r.body)).size).toBe(1)
      expect(s.metrics.get('shim_updates_retried_total', { sink: 'mixpanel' })).toBe(2)
    })
  }
})

describe('a destination that refuses the credential or the URL', () => {
  for (const status of [401, 403, 404]) {
    it(`pauses the sink on ${status}, keeps every update, shows the pause, and delivers once the destination accepts`, async () => {
      const mixpanel = await mock()
      mixpanel.respond({ status, body: '{"error":"Invalid token"}' }, { status, body: '{"error":"Invalid token"}' })
      // Pauses of 0.75–1.5 s: long enough to look at them.
      const s = await start({ MIXPANEL_API_HOST: mixpanel.url, SHIM_RETRY_BASE_MS: '1500', SHIM_RETRY_MAX_MS: '1500' })
      await post(s, '/mparticle', membership(['a', 'b', 'c'].map((customer) => profile({ customer, audiences: [[1, 'A', 'add']] }))))
      await waitFor(() => mixpanel.requests.length === 1)
      await waitFor(() => s.metrics.get('shim_requests_sent_total', { sink: 'mixpanel', outcome: 'paused' }) === 1)
      const health = await (await s.app.request('/healthz')).json() as { status: string; sinks: Record<string, { paused: boolean; reason?: string }> }
      expect(health.status).toBe('degraded')
      expect(health.sinks.mixpanel).toMatchObject({ paused: true, reason: 'auth' })
      expect(health.sinks.mparticle).toEqual({ paused: false })
      expect(await (await s.app.request('/metrics')).text()).toContain('shim_sink_paused{reason="auth",sink="mixpanel"} 1')
      expect((await s.store.sinkState('mixpanel')).failures).toBeGreaterThanOrEqual(1)

      // The "credential is fixed": the third request is accepted and carries all three updates.
      await waitFor(() => sentOf(s) === 3, 10_000)
      expect(failedOf(s)).toBe(0)
      expect(mixpanel.requests).toHaveLength(3)
      expect(engageUpdates(mixpanel).slice(6).map((u) => u.$distinct_id)).toEqual(['a', 'b', 'c'])
      expect(await (await s.app.request('/metrics')).text()).toContain('shim_sink_paused{reason="auth",sink="mixpanel"} 0')
      expect(await (await s.app.request('/healthz')).json()).toMatchObject({ status: 'ok' })
    })
  }

  it('pauses the mParticle sink the same way', async () => {
    const mparticle = await mock({ status: 202 })
    mparticle.respond({ status: 401, body: '{"errors":[{"code":"UNAUTHORIZED"}]}' })
    const s = await start({ MPARTICLE_API_HOST: mparticle.url })
    await post(s, '/mixpanel/cohorts', cohort('add_members', [{ mixpanel_distinct_id: 'd1' }]))
    await waitFor(() => sentOf(s, 'mparticle') === 1)
    expect(failedOf(s, 'mparticle')).toBe(0)
    expect(mparticle.requests).toHaveLength(2)
  })
})

describe('answers that mean "later"', () => {
  for (const status of [408, 425]) {
    it(`retries ${status} instead of failing the update`, async () => {
      const mixpanel = await mock()
      mixpanel.respond({ status })
      const s = await start({ MIXPANEL_API_HOST: mixpanel.url })
      await post(s, '/mparticle', oneChange())
      await waitFor(() => sentOf(s) === 1)
      expect(failedOf(s)).toBe(0)
      expect(mixpanel.requests).toHaveLength(2)
    })
  }

  it('waits at least 1 s after Retry-After: 0 instead of looping', async () => {
    const mixpanel = await mock()
    mixpanel.respond({ status: 429, headers: { 'retry-after': '0' } })
    const s = await start({ MIXPANEL_API_HOST: mixpanel.url })
    await post(s, '/mparticle', oneChange())
    await waitFor(() => sentOf(s) === 1, 5000)
    expect(mixpanel.requests).toHaveLength(2)
    expect(mixpanel.requests[1]!.at - mixpanel.requests[0]!.at).toBeGreaterThanOrEqual(990)
  })

  it('caps a long Retry-After at SHIM_RETRY_AFTER_MAX_MS', async () => {
    const mixpanel = await mock()
    mixpanel.respond({ status: 503, headers: { 'retry-after': '86400' } })
    const s = await start({ MIXPANEL_API_HOST: mixpanel.url, SHIM_RETRY_AFTER_MAX_MS: '1000' })
    await post(s, '/mparticle', oneChange())
    await waitFor(() => sentOf(s) === 1, 5000)
    expect(mixpanel.requests).toHaveLength(2)
  })
})

describe('updates kept as failed', () => {
  it('names the users in the log and are sent again after POST /admin/requeue', async () => {
    const mixpanel = await mock()
    mixpanel.respond({ status: 400, body: '{"error":"bad"}' })
    const { logger, lines } = captureLogger()
    const s = await start({ MIXPANEL_API_HOST: mixpanel.url, SHIM_ADMIN_TOKEN: 'admin-secret' }, logger)
    await post(s, '/mparticle', oneChange('user-77'))
    await waitFor(() => failedOf(s) === 1)
    const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'updates kept as failed (requeue them once fixed)')
    expect(line).toMatchObject({ level: 'warn', sink: 'mixpanel', users: ['user-77'], reason: 'HTTP 400: {"error":"bad"}' })

    const refused = await s.app.request('/admin/requeue', { method: 'POST', headers: { authorization: 'Bearer wrong' } })
    expect(refused.status).toBe(401)
    const res = await s.app.request('/admin/requeue', {
      method: 'POST', headers: { authorization: 'Bearer admin-secret', 'content-type': 'application/json' }, body: '{"sink":"mixpanel"}',
    })
    expect(await res.json()).toEqual({ requeued: 1 })
    await waitFor(() => sentOf(s) === 1)
    expect(mixpanel.requests).toHaveLength(2)
    expect((await s.store.gauges(Date.now())).find((g) => g.sink === 'mixpanel')).toMatchObject({ failed: 0, pending: 0, inflight: 0 })
  })
})

describe('/healthz checks that the store can write', () => {
  it('answers 503 once the database file was deleted under the running shim', async () => {
    const { dir, cleanup } = tempDir()
    cleanups.push(cleanup)
    const path = join(dir, 'shim.sqlite')
    const s = await start({ SHIM_DB: path })
    expect((await s.app.request('/healthz')).status).toBe(200)
    rmSync(path)
    const res = await s.app.request('/healthz')
    expect(res.status).toBe(503)
    expect(await res.json()).toEqual({ status: 'error', error: 'the store cannot write (see the log)' })
  })
})

describe('unauthenticated requests', () => {
  it('are answered 401 before their body is read: a chunked upload that never ends gets its answer and its connection closed', async () => {
    const s = await serve({ MPARTICLE_SHARED_SECRET: 'right' })
    const { port } = new URL(s.url)
    const outcome = await new Promise<{ status: number | undefined; closed: boolean }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/mparticle',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'x-shim-secret': 'wrong' } })
      req.on('error', reject)
      req.on('response', (res) => {
        res.resume()
        res.on('end', () => {
          req.socket?.once('close', () => resolve({ status: res.statusCode, closed: true }))
          if (req.socket?.destroyed === true) resolve({ status: res.statusCode, closed: true })
        })
      })
      // 64 kB now; the rest never comes.
      req.write('x'.repeat(65_536))
      req.flushHeaders()
    })
    expect(outcome).toEqual({ status: 401, closed: true })
  })
})

describe('bodies over SHIM_MAX_BODY_BYTES over HTTP', () => {
  it('stops reading a chunked upload at the limit and answers 413 (the body is read from Node\'s request stream there)', async () => {
    const s = await serve({ MPARTICLE_SHARED_SECRET: 'right', SHIM_MAX_BODY_BYTES: '100000' })
    const { port } = new URL(s.url)
    const outcome = await new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/mparticle',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'x-shim-secret': 'right' } })
      req.on('error', (err) => resolve(`error ${(err as NodeJS.ErrnoException).code}`))
      req.on('response', (res) => {
        let body = ''
        res.on('data', (d: Buffer) => { body += d.toString() })
        res.on('end', () => resolve(`${res.statusCode} ${body}`))
      })
      // 64 kB at a time, past the limit; the end never comes.
      const chunk = `{"type":"audience_membership_change_request","x":"${'x'.repeat(65_536)}`
      req.write(chunk)
      req.write('x'.repeat(65_536))
      req.flushHeaders()
    })
    expect(outcome).toBe('413 {"error":{"message":"request body is larger than 100000 bytes (SHIM_MAX_BODY_BYTES)","code":413}}')
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200)
  })
})

describe('bad requests', () => {
  it('refuses a deeply nested cohort body with 400 naming the problem', async () => {
    const s = await start({})
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
    // Valid otherwise, with a session id (so the first shim hashed it for dedupe, recursing until the stack overflowed).
    const res = await post(s, '/mixpanel/cohorts', `{"action":"members","parameters":{"mixpanel_cohort_id":"1","mixpanel_cohort_name":"C",`
      + `"mixpanel_session_id":"s","members":[],"x":${deep}}}`)
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ status: 'failure', error: { message: 'the JSON body is nested more than 64 levels deep', code: 400 } })
  })

  it('refuses a Content-Type that only contains "json"', async () => {
    const s = await start({})
    const res = await post(s, '/mparticle', oneChange(), { 'content-type': 'text/x-not-json' })
    expect(res.status).toBe(415)
  })

  it('logs one line for a client that goes away mid-body', async () => {
    const { logger, lines } = captureLogger()
    const s = await serve({}, logger)
    const { port } = new URL(s.url)
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/mparticle', headers: { 'content-type': 'application/json', 'content-length': '1000' } })
      req.on('error', () => resolve())
      req.write('{"type":')
      setTimeout(() => req.destroy(), 50)
    })
    await waitFor(() => lines.some((l) => l.includes('"level":"warn"') || l.includes('"level":"error"')))
    await sleep(200)
    const problems = lines.filter((l) => l.includes('"level":"warn"') || l.includes('"level":"error"'))
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain('the request body could not be read')
  })

  it('names SHIM_DB and the file when the database is not a database', async () => {
    const { dir, cleanup } = tempDir()
    cleanups.push(cleanup)
    const path = join(dir, 'corrupt.sqlite')
    writeFileSync(path, 'this is not a SQLite database, just text long enough to look like a header'.repeat(100))
    await expect(startShim({ port: 0, env: testEnv({ SHIM_DB: path }) })).rejects.toThrow(`the SQLite database "${path}" (SHIM_DB)`)
  })
})

describe('identities', () => {
  it('treats MPID "007" and 7 as one user', async () => {
    const mixpanel = await mock()
    const s = await start({ MIXPANEL_API_HOST: mixpanel.url })
    await post(s, '/mparticle', membership([{ ...profile({ audiences: [[1, 'A', 'add']] }), mpid: '007' }], { ts: 1 }))
    await post(s, '/mparticle', membership([{ ...profile({ customer: 'c7', audiences: [[2, 'B', 'add']] }), mpid: 7 }], { ts: 2 }))
    await waitFor(() => sentOf(s) === 1)
    expect(engageUpdates(mixpanel).map((u) => u.$set)).toEqual([{ SegmentMembership: "'1','2'" }])
  })

  it('keeps SegmentMembership and every In <Audience> in agreement in each request', async () => {
    const mixpanel = await mock()
    // Two mParticle users with the same customer id: one Mixpanel profile, two membership states.
    const s = await start({ MIXPANEL_API_HOST: mixpanel.url, MIXPANEL_ONE_ATTRIBUTE_PER_AUDIENCE: 'true', SHIM_BATCH_LINGER_MS: '1000' })
    await post(s, '/mparticle', membership([{ ...profile({ customer: 'x', audiences: [[11036, 'Aspiring Athenians', 'add']] }), mpid: '1' }], { ts: 1 }))
    await post(s, '/mparticle', membership([{ ...profile({ customer: 'x', audiences: [[11034, 'Ibiza Dreamers', 'add']] }), mpid: '2' }], { ts: 2 }))
    await waitFor(() => engageUpdates(mixpanel).at(-1)?.$set !== undefined && sentOf(s) >= 1 && mixpanel.requests.length >= 1)
    await sleep(100)
    const ids: Record<string, number> = { 'Aspiring Athenians': 11036, 'Ibiza Dreamers': 11034 }
    for (const u of engageUpdates(mixpanel)) {
      const set = u.$set as Record<string, unknown>
      for (const [k, v] of Object.entries(set)) {
        if (!k.startsWith('In ')) continue
        expect([k, v]).toEqual([k, String(set.SegmentMembership).includes(`'${ids[k.slice(3)]}'`)])
      }
    }
    expect(engageUpdates(mixpanel).at(-1)?.$set).toMatchObject({ SegmentMembership: "'11034'", 'In Ibiza Dreamers': true })
  })
})

describe('cohort members', () => {
  const mparticleSent = (m: MockUpstream): string[][] => m.requests.map((r) => (JSON.parse(r.body) as { mpid?: unknown; user_identities?: Record<string, string>; user_attributes: unknown }[])
    .map((b) => `${b.mpid !== undefined ? `mpid=${String(b.mpid)}` : `customer_id=${b.user_identities?.customer_id}`} ${JSON.stringify(b.user_attributes)}`))

  it('are one person when they later carry $mparticle_user_id: true under the MPID, never false under the customer id', async () => {
    const mparticle = await mock({ status: 202 })
    const s = await start({ MPARTICLE_API_HOST: mparticle.url })
    await post(s, '/mixpanel/cohorts', cohort('members', [{ mixpanel_distinct_id: 'd1' }, { mixpanel_distinct_id: 'd2' }], { session: 's1' }))
    await waitFor(() => sentOf(s, 'mparticle') === 2)
    await post(s, '/mixpanel/cohorts', cohort('members', [{ mixpanel_distinct_id: 'd1', $mparticle_user_id: '123' }, { mixpanel_distinct_id: 'd2' }], { session: 's2' }))
    await waitFor(() => sentOf(s, 'mparticle') === 3)
    await sleep(100)
    expect(mparticleSent(mparticle)).toEqual([
      ['customer_id=d1 {"Power Users":true}', 'customer_id=d2 {"Power Users":true}'],
      ['mpid=123 {"Power Users":true}'],
    ])
  })

  it('move to the new attribute when the cohort is renamed', async () => {
    const mparticle = await mock({ status: 202 })
    const s = await start({ MPARTICLE_API_HOST: mparticle.url })
    await post(s, '/mixpanel/cohorts', cohort('members', [{ mixpanel_distinct_id: 'd1' }, { mixpanel_distinct_id: 'd2' }], { name: 'Old Name', session: 's1' }))
    await waitFor(() => sentOf(s, 'mparticle') === 2)
    await post(s, '/mixpanel/cohorts', cohort('members', [{ mixpanel_distinct_id: 'd1' }], { name: 'New Name', session: 's2' }))
    await waitFor(() => sentOf(s, 'mparticle') === 4)
    expect(mparticleSent(mparticle).slice(1).map((r) => r.sort())).toEqual([
      ['customer_id=d1 {"Old Name":false,"New Name":true}', 'customer_id=d2 {"New Name":false,"Old Name":false}'],
    ])
  })

  it('fall back to $distinct_id, and an MPID exported as a number above 2^53 is kept digit for digit', async () => {
    const mparticle = await mock({ status: 202 })
    const s = await start({ MPARTICLE_API_HOST: mparticle.url })
    const body = '{"action":"add_members","parameters":{"mixpanel_cohort_id":"9","mixpanel_cohort_name":"Big","members":['
      + '{"mixpanel_distinct_id":"a","$mparticle_user_id":9007199254740993},{"$distinct_id":"b"}]}}'
    expect((await post(s, '/mixpanel/cohorts', body)).status).toBe(200)
    await waitFor(() => sentOf(s, 'mparticle') === 2)
    expect(mparticle.requests[0]!.body).toBe('[{"environment":"production","mpid":9007199254740993,"user_attributes":{"Big":true},"schema_version":2},'
      + '{"environment":"production","user_identities":{"customer_id":"b"},"user_attributes":{"Big":true},"schema_version":2}]')
    expect(s.metrics.get('shim_skipped_without_identity_total', { direction: 'mixpanel_to_mparticle' })).toBe(0)
  })
})
