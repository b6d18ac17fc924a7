/**
 * The HTTP surface, in the Hono way: body limit → authentication → schema
 * validation (400 naming the field) → handler → one error handler.
 */
import { createHash } from 'node:crypto'
import { Hono, type Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { checkBasic, endpointAuth, safeEqual, type EndpointAuth } from './auth.js'
import type { ShimConfig } from './config.js'
import type { Logger } from './logger.js'
import type { Metrics, Sink } from './metrics.js'
import { cohortActionOf, identityKey, parseCohortWebhook, resolveCohortIdentity } from './mixpanel-cohorts.js'
import {
  firehoseResponse, moduleRegistrationResponse, parseFirehoseMessage, resolveAudienceSettings, resolveDistinctId,
} from './mparticle-audience.js'
import type { AudienceProfileInput, CohortMemberInput, Store } from './store.js'
import { BadRequest } from './validate.js'

export interface AppDeps {
  config: ShimConfig
  store: Store
  metrics: Metrics
  logger: Logger
  /** Called after a commit that queued updates for `sink`. */
  notify: (sink: Sink) => void
  version: string
}

type Endpoint = 'mparticle' | 'mixpanel_cohorts'

export function createApp(deps: AppDeps): Hono {
  const { config, store, metrics, logger, notify, version } = deps
  const app = new Hono()

  const mparticleAuth = endpointAuth(config, config.mparticle.sharedSecret !== undefined, 'MPARTICLE_SHARED_SECRET')
  const cohortsAuth = endpointAuth(config, config.webhook.user !== undefined, 'MIXPANEL_WEBHOOK_USER/MIXPANEL_WEBHOOK_PASSWORD')

  // Each endpoint answers errors in its caller's format.
  const fail = (c: Context, endpoint: Endpoint, status: 400 | 401 | 413 | 415 | 500 | 503, message: string, action?: string | null): Response => {
    metrics.inc('shim_webhooks_rejected_total', { endpoint, status: String(status) })
    if (status >= 500) logger.error('webhook refused', { endpoint, status, reason: message })
    else logger.warn('webhook refused', { endpoint, status, reason: message })
    if (status === 401 && endpoint === 'mixpanel_cohorts') c.header('WWW-Authenticate', 'Basic realm="mixpanel-device-mode-shim"')
    if (endpoint === 'mixpanel_cohorts') {
      return c.json({ action: action ?? null, status: 'failure', error: { message, code: status } }, status)
    }
    return c.json({ error: { message, code: status } }, status)
  }

  const limit = (endpoint: Endpoint) => {
    const tooLarge = (c: Context): Response => fail(c, endpoint, 413, `request body is larger than ${config.maxBodyBytes} bytes (SHIM_MAX_BODY_BYTES)`)
    const streaming = bodyLimit({ maxSize: config.maxBodyBytes, onError: tooLarge })
    return async (c: Context, next: () => Promise<void>) => {
      // With a Content-Length the header decides, and the body is later read on the
      // Node adapter's fast path; chunked bodies are counted while streaming.
      const length = c.req.header('content-length')
      if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
        if (!/^\d+$/.test(length) || Number(length) > config.maxBodyBytes) return tooLarge(c)
        return next()
      }
      return streaming(c, next)
    }
  }

  const count = (endpoint: Endpoint) => async (_c: Context, next: () => Promise<void>) => {
    metrics.inc('shim_webhooks_received_total', { endpoint })
    await next()
  }

  const guard = (endpoint: Endpoint, auth: EndpointAuth, check: (c: Context) => boolean) =>
    async (c: Context, next: () => Promise<void>) => {
      if (auth.mode === 'disabled') return fail(c, endpoint, 503, auth.why)
      if (auth.mode === 'secret' && !check(c)) {
        return fail(c, endpoint, 401, endpoint === 'mparticle'
          ? 'missing or wrong X-Shim-Secret header'
          : 'missing or wrong HTTP Basic credentials')
      }
      await next()
    }

  /** Reads the body as JSON; `BadRequest` names what is wrong. */
  const readJson = async (c: Context): Promise<unknown> => {
    const type = c.req.header('content-type')
    if (type !== undefined && !/json/i.test(type)) throw new BadRequest(`Content-Type must be application/json (got "${type}")`, 415)
    const text = await c.req.text()
    if (text.trim() === '') throw new BadRequest('request body is empty: expected a JSON object')
    try {
      return JSON.parse(text)
    } catch (err) {
      throw new BadRequest(`malformed JSON: ${(err as Error).message}`)
    }
  }

  app.post('/mparticle',
    count('mparticle'),
    limit('mparticle'),
    guard('mparticle', mparticleAuth, (c) => {
      const given = c.req.header('x-shim-secret')
      return safeEqual(given ?? '', config.mparticle.sharedSecret ?? '') && given !== undefined
    }),
    async (c) => {
      let message
      try {
        message = parseFirehoseMessage(await readJson(c))
      } catch (err) {
        if (err instanceof BadRequest) return fail(c, 'mparticle', err.status, err.message)
        throw err
      }
      try {
        switch (message.type) {
          case 'module_registration_request':
            return c.json(moduleRegistrationResponse(version))

          case 'audience_subscription_request': {
            resolveAudienceSettings(config, message.accountSettings, false)
            const r = await store.applySubscription({
              messageId: message.id, timestampMs: message.timestampMs, audienceId: message.audienceId,
              audienceName: message.audienceName, action: message.action, now: Date.now(),
            })
            if (r.duplicate) metrics.inc('shim_webhooks_duplicate_total', { endpoint: 'mparticle' })
            if (r.stale) metrics.inc('shim_changes_stale_total', { direction: 'mparticle_to_mixpanel' })
            logger.info('audience subscription', { audienceId: message.audienceId, action: message.action, duplicate: r.duplicate, stale: r.stale })
            return c.json(firehoseResponse('audience_subscription_response'))
          }

          case 'audience_membership_change_request': {
            const withChanges = message.profiles.filter((p) => p.changes.length > 0)
            const settings = resolveAudienceSettings(config, message.accountSettings, withChanges.length > 0)
            if (withChanges.length === 0) return c.json(firehoseResponse('audience_membership_change_response'))
            const profiles: AudienceProfileInput[] = []
            let withoutIdentity = 0
            for (const p of withChanges) {
              const distinctId = resolveDistinctId(p.identities, config.identityOrder)
              if (distinctId === undefined) withoutIdentity++
              // State is kept per MPID when there is one, so it survives a later change of distinct id.
              const userKey = p.mpid !== undefined ? `mpid:${p.mpid}` : distinctId !== undefined ? `did:${distinctId}` : undefined
              if (userKey === undefined) continue
              profiles.push({ userKey, distinctId, changes: p.changes })
            }
            const r = await store.applyAudienceMessage({
              messageId: message.id, timestampMs: message.timestampMs, profiles, settings, now: Date.now(),
            })
            if (r.duplicate) {
              metrics.inc('shim_webhooks_duplicate_total', { endpoint: 'mparticle' })
            } else {
              metrics.inc('shim_changes_applied_total', { direction: 'mparticle_to_mixpanel' }, r.applied)
              metrics.inc('shim_changes_stale_total', { direction: 'mparticle_to_mixpanel' }, r.stale)
              metrics.inc('shim_skipped_without_identity_total', { direction: 'mparticle_to_mixpanel' }, withoutIdentity)
              metrics.inc('shim_updates_queued_total', { sink: 'mixpanel' }, r.queued)
              if (r.queued > 0) notify('mixpanel')
            }
            logger.debug('audience membership', { profiles: message.profiles.length, applied: r.applied, queued: r.queued, duplicate: r.duplicate })
            return c.json(firehoseResponse('audience_membership_change_response'))
          }
        }
      } catch (err) {
        if (err instanceof BadRequest) return fail(c, 'mparticle', err.status, err.message)
        throw err
      }
    })

  app.post('/mixpanel/cohorts',
    count('mixpanel_cohorts'),
    limit('mixpanel_cohorts'),
    guard('mixpanel_cohorts', cohortsAuth, (c) =>
      checkBasic(c.req.header('authorization'), config.webhook.user ?? '', config.webhook.password ?? '')),
    async (c) => {
      let body: unknown
      let action: string | null = null
      try {
        body = await readJson(c)
        action = cohortActionOf(body)
        const apiKey = config.mparticle.apiKey
        if (apiKey === undefined || config.mparticle.apiSecret === undefined) {
          return fail(c, 'mixpanel_cohorts', 503, 'MPARTICLE_API_KEY and MPARTICLE_API_SECRET are not set: the shim cannot deliver cohorts to mParticle', action)
        }
        const msg = parseCohortWebhook(body)
        const members: CohortMemberInput[] = []
        let skipped = 0
        for (const m of msg.members) {
          const identity = resolveCohortIdentity(m, config.cohortIdentityOrder)
          if (identity === undefined) { skipped++; continue }
          members.push({ key: identityKey(identity), identity })
        }
        // Without a session id two identical diffs from different syncs look alike, so only
        // deliveries that carry one are recognised as replays; the state change is idempotent anyway.
        const dedupeKey = msg.sessionId === undefined
          ? undefined
          : createHash('sha256').update(JSON.stringify(body)).digest('hex')
        const r = await store.applyCohortMessage({
          action: msg.action, cohortId: msg.cohortId, cohortName: msg.cohortName, sessionId: msg.sessionId, page: msg.page,
          members, dedupeKey, dest: config.mparticle.apiHost, environment: config.mparticle.environment, now: Date.now(),
        })
        if (r.duplicate) {
          metrics.inc('shim_webhooks_duplicate_total', { endpoint: 'mixpanel_cohorts' })
        } else {
          metrics.inc('shim_changes_applied_total', { direction: 'mixpanel_to_mparticle' }, r.entered + r.left)
          metrics.inc('shim_skipped_without_identity_total', { direction: 'mixpanel_to_mparticle' }, skipped)
          metrics.inc('shim_updates_queued_total', { sink: 'mparticle' }, r.queued)
          if (r.queued > 0) notify('mparticle')
        }
        logger.debug('cohort webhook', {
          action: msg.action, cohortId: msg.cohortId, members: msg.members.length, entered: r.entered, left: r.left,
          snapshotComplete: r.snapshotComplete, duplicate: r.duplicate,
        })
        return c.json({ action: msg.action, status: 'success' })
      } catch (err) {
        if (err instanceof BadRequest) return fail(c, 'mixpanel_cohorts', err.status, err.message, action)
        throw err
      }
    })

  app.get('/healthz', async (c) => {
    try {
      await store.ping()
      return c.json({ status: 'ok', version })
    } catch (err) {
      logger.error('health check failed', { error: (err as Error).message })
      return c.json({ status: 'error', error: 'storage unavailable' }, 503)
    }
  })

  app.get('/metrics', async (c) => {
    const text = metrics.render(await store.outboxGauges(Date.now()))
    return c.body(text, 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
  })

  app.get('/', (c) => c.json({
    name: 'mixpanel-device-mode-shim',
    version,
    endpoints: ['POST /mparticle', 'POST /mixpanel/cohorts', 'GET /healthz', 'GET /metrics'],
  }))

  app.notFound((c) => c.json({ error: { message: `no route for ${c.req.method} ${c.req.path}`, code: 404 } }, 404))

  app.onError((err, c) => {
    logger.error('request failed', { path: c.req.path, error: err.message })
    const endpoint: Endpoint | undefined = c.req.path === '/mparticle' ? 'mparticle' : c.req.path === '/mixpanel/cohorts' ? 'mixpanel_cohorts' : undefined
    if (endpoint !== undefined) return fail(c, endpoint, 500, 'internal error: nothing was stored, please retry')
    return c.json({ error: { message: 'internal error', code: 500 } }, 500)
  })

  return app
}

export function describeAuth(config: ShimConfig): Record<string, string> {
  const m = endpointAuth(config, config.mparticle.sharedSecret !== undefined, 'MPARTICLE_SHARED_SECRET')
  const w = endpointAuth(config, config.webhook.user !== undefined, 'MIXPANEL_WEBHOOK_USER/MIXPANEL_WEBHOOK_PASSWORD')
  const show = (a: EndpointAuth): string => (a.mode === 'secret' ? 'secret required' : `${a.mode}: ${a.why}`)
  return { '/mparticle': show(m), '/mixpanel/cohorts': show(w) }
}
