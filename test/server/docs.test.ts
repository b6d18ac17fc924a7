import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ENV_VARS } from '../../src/server/config.js'
import { MockUpstream, basic, post, startTestShim, testEnv, waitFor } from './helpers.js'

// The shim's operators' reference.
const doc = readFileSync(resolve(__dirname, '../../docs/shim.md'), 'utf8')

describe('docs/shim.md', () => {
  it('lists every environment variable with its default, as the code has them, and no other', () => {
    const rows = doc.split('\n').filter((l) => /^\| `[A-Z_]+` \|/.test(l))
    expect(rows).toEqual(ENV_VARS.map((v) => {
      const shown = v.default === '—' || v.default.startsWith('from ') ? v.default : `\`${v.default}\``
      return `| \`${v.name}\` | ${shown} | ${v.description} |`
    }))
  })

  it('documents every endpoint and metric family', () => {
    for (const s of ['POST /mparticle', 'POST /mixpanel/cohorts', 'POST /admin/requeue', 'GET /healthz', 'GET /metrics', 'shim_outbox_depth',
      'shim_outbox_oldest_pending_age_seconds', 'shim_updates_retried_total', 'shim_skipped_without_identity_total', 'shim_sink_paused',
      'shim_sink_consecutive_failures', 'requeue --sink']) {
      expect(doc).toContain(s)
    }
  })
})

describe('the examples in docs/shim.md', () => {
  /** The JSON block after `<!-- <marker>: <endpoint> -->`. */
  const block = (marker: string, endpoint: string): string => {
    const at = doc.indexOf(`<!-- ${marker}: ${endpoint} -->`)
    expect(at).toBeGreaterThanOrEqual(0)
    const m = /```json\n([\s\S]*?)\n```/.exec(doc.slice(at))
    return m![1]!
  }
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => { for (const c of cleanups.splice(0)) await c() })

  it('POST /mparticle: the example body is accepted and sends the documented engage update', async () => {
    const mixpanel = await MockUpstream.start()
    const s = await startTestShim(testEnv({ MIXPANEL_API_HOST: mixpanel.url, MIXPANEL_TOKEN: undefined, MPARTICLE_SHARED_SECRET: 'sec' }))
    cleanups.push(() => mixpanel.close(), () => s.stop(300))
    const res = await post(s, '/mparticle', block('example', 'POST /mparticle'), { 'x-shim-secret': 'sec' })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ type: 'audience_membership_change_response', firehose_version: '2.8.1' })
    await waitFor(() => mixpanel.requests.length === 1)
    expect(mixpanel.requests[0]!.url).toBe('/engage?verbose=1')
    expect(mixpanel.requests[0]!.body).toBe(block('sent', 'POST /mparticle'))
  })

  it('POST /mixpanel/cohorts: the example body is accepted and sends the documented batches', async () => {
    const mparticle = await MockUpstream.start({ status: 202 })
    const s = await startTestShim(testEnv({ MPARTICLE_API_HOST: mparticle.url, MIXPANEL_WEBHOOK_USER: 'u', MIXPANEL_WEBHOOK_PASSWORD: 'p' }))
    cleanups.push(() => mparticle.close(), () => s.stop(300))
    const res = await post(s, '/mixpanel/cohorts', block('example', 'POST /mixpanel/cohorts'), { authorization: basic('u', 'p') })
    expect(await res.json()).toEqual({ action: 'members', status: 'success' })
    await waitFor(() => mparticle.requests.length === 1)
    expect(mparticle.requests[0]!.url).toBe('/v2/bulkevents')
    expect(mparticle.requests[0]!.body).toBe(block('sent', 'POST /mixpanel/cohorts'))
  })
})
